/*
 * loadgen.c - the SketchyChat benchmark load generator.
 *
 * One thread, one epoll set, non-blocking sockets. It plays every client of a chat workload:
 * it asks the server under test for rooms and session tokens over HTTP/1.1 (keep-alive pool),
 * opens WebSockets, joins rooms, publishes timestamped chat messages and measures how long each
 * delivery took. It is written in C so that, pinned to its own core, it out-runs the server.
 *
 * Wire protocols (selected with --proto):
 *   phx : Phoenix Channels V2 JSON over /socket/websocket?vsn=2.0.0&token=T, phx_join on
 *         room:<code>, new_msg {"body": ...} pushes, heartbeats every 25 s.
 *   sio : Engine.IO v4 / Socket.IO v4 over /socket.io/?EIO=4&transport=websocket: open packet,
 *         CONNECT "40{token}", "42" events with acks, ping "2" answered with pong "3".
 *   ws  : plain JSON text frames over /ws?token=T ({"type":"join"} / {"type":"new_msg"}).
 * Every stack exposes POST /api/session and POST /api/rooms (the peers implement a minimal
 * version of the product's API so that all stacks do the same work).
 *
 * A chat body is "~B<20 digits CLOCK_MONOTONIC ns>.<6 digits publisher>.<10 digits seq>." padded
 * with letters to --body bytes. A receiver finds `"~B` in any delivered text frame, and
 * latency = receive time - send time (same clock, same machine).
 *
 * Setup comes from argv; then the generator prints {"event":"ready",...} and obeys commands read
 * from stdin, one per line, answering each with one JSON line:
 *   closed <window per publisher> <warm s> <window s>   closed-loop probe
 *   open <offered deliveries/s> <warm s> <window s>       open-loop step (paced publishes)
 *   hold <s>                                              keep the connections, report stats
 *   cut                                                   drop every member's connection (reset)
 *   rejoin <target seq> <timeout s>                       reconnect every member, joining with the
 *                                                         last position it saw; report when each
 *                                                         holds every message up to <target seq>
 *   quit
 * With --track 1, members track the position of every new_msg they get ("seq", "epoch":
 * SketchyChat's contract.md §5) and count duplicates and gaps against it (off by default: it
 * costs the generator time per delivery, which the fan-out workloads cannot spare).
 * Bounded everywhere: only 127.0.0.1, every wait has a timeout, alarm(--deadline) ends the run.
 *
 * Build: gcc -O2 -o loadgen loadgen.c -lm
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ configuration */
enum { P_PHX, P_SIO, P_WS };
static int PROTO = P_PHX;
static int PORT = 0;
static int MEMBERS = 1000;      /* total member connections */
static int ROOM_SIZE = 1000;    /* members per room (last room may be smaller) */
static int PUBS_PER_ROOM = 4;   /* the first K members of each room also publish */
static int BODY = 64;           /* chat body bytes */
static int CONC = 200;          /* members in flight while connecting */
static const char *ROOM_BODY = "{}"; /* POST /api/rooms body (a retention, for SketchyChat) */
static int HTTP_POOL = 32;      /* keep-alive HTTP connections for tokens / rooms */
static int STORM = 0;           /* 1: token + connect + join is the timed work */
static int SERVER_PID = 0;
static int DEADLINE = 900;      /* seconds, hard cap for the whole process */
static int HB_SECS = 25;        /* Phoenix heartbeat period */
static int TRACK = 0;           /* 1: members track positions (rejoin); costs per delivery */

/* ------------------------------------------------------------------ state */
enum { M_NEW, M_TOKEN_WAIT, M_HAVE_TOKEN, M_CONNECTING, M_HS_SENT, M_OPENING, M_READY, M_CLOSED, M_FAILED };
enum { SIO_WAIT_OPEN, SIO_WAIT_CONNECT, SIO_WAIT_JOIN };
enum { K_MEMBER = 1, K_HTTP = 2, K_STDIN = 3 };
enum { J_ROOM = 1, J_SESSION = 2 };

typedef struct Conn {
  int kind, fd, state, sub, idx, room, pub;   /* pub: publisher index or -1 */
  char *in; int in_len, in_cap;               /* unparsed input */
  char *out; int out_len, out_cap;            /* unsent output */
  char *token;
  double t0;                                  /* storm: when this member entered flight */
  long got;                                   /* chat deliveries received */
  int job_kind, job_idx;                      /* http: current request */
  long long last_seq;                         /* the last position seen (0: none yet) */
  double reached;                             /* rejoin: when it first held the target */
} Conn;

typedef struct Pub {
  int member;                 /* index into members */
  uint64_t seq;
  long outstanding;           /* closed loop: messages not yet seen by the whole room */
  uint16_t *ring;             /* deliveries seen per seq slot */
  char *tmpl; int tmpl_len;
  int off_ts, off_pub, off_seq, off_ref;      /* digit fields inside tmpl; off_ref < 0: none */
  int room_n;                 /* members in its room */
} Pub;

#define RING 16384
#define RING_MASK (RING - 1)

static int ep;
static Conn *members; static int nmembers;
static Pub *pubs; static int npubs;
static Conn *http; static int nhttp;
static char **room_codes; static int nrooms;
static int *room_count;
static Conn stdin_conn;

/* job queue for the http pool */
static int *jobq_kind, *jobq_idx; static int jobq_head, jobq_tail, jobq_cap;

/* counters */
static long n_ready, n_failed, n_inflight, n_closed_by_server, n_tokens, n_rooms_made, n_http_errors;
static long total_deliveries, expected_deliveries, bad_frames, sent_msgs, duplicates;
/* positions (contract.md §5): one room's epoch, duplicates and gaps seen, rejoin replies */
static char epoch[64]; static long pos_dups, pos_gaps, pos_epoch_changes;
static long rejoin_target = -1; static long n_recovered_true, n_recovered_false;
static long window_deliveries; static int recording;
static char errs[1024];

/* latency histogram: 10 us buckets below 100 ms, 1 ms buckets up to 60 s */
#define HB_FINE 10000
#define HB_COARSE 60000
static uint32_t hist[HB_FINE + HB_COARSE + 1];
static uint32_t shist[HB_FINE + HB_COARSE + 1]; /* storm: per-member setup time */

static char rbuf[1 << 18];
static uint32_t rng_state = 0x2545F491u;

/* ------------------------------------------------------------------ helpers */
static double now_s(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static uint64_t now_ns(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec; }
static uint32_t rnd(void) { uint32_t x = rng_state; x ^= x << 13; x ^= x >> 17; x ^= x << 5; return rng_state = x; }

static void note_err(const char *e) {
  if (strstr(errs, e)) return;
  size_t l = strlen(errs), n = strlen(e);
  if (l + n + 2 < sizeof errs) { memcpy(errs + l, e, n); errs[l + n] = ';'; errs[l + n + 1] = 0; }
}

static void emit(const char *fmt, ...) {
  static char line[16384];
  va_list ap; va_start(ap, fmt); vsnprintf(line, sizeof line, fmt, ap); va_end(ap);
  fputs(line, stdout); fputc('\n', stdout); fflush(stdout);
}

static void put_dec(char *p, int w, uint64_t v) { for (int i = w - 1; i >= 0; i--) { p[i] = (char)('0' + v % 10); v /= 10; } }
static int get_dec(const char *p, int w, uint64_t *v) {
  uint64_t x = 0;
  for (int i = 0; i < w; i++) { unsigned d = (unsigned char)p[i] - '0'; if (d > 9) return -1; x = x * 10 + d; }
  *v = x; return 0;
}

static void hist_add(uint32_t *h, uint64_t ns) {
  uint64_t us = ns / 1000; long b;
  if (us < 100000) b = (long)(us / 10); else { b = HB_FINE + (long)((us - 100000) / 1000); if (b > HB_FINE + HB_COARSE) b = HB_FINE + HB_COARSE; }
  h[b]++;
}
static double bucket_ms(long b) { return b < HB_FINE ? (b * 10 + 5) / 1000.0 : 100.0 + (b - HB_FINE) + 0.5; }
static int hist_json(uint32_t *h, char *o, int n) {
  long total = 0, top = -1;
  for (long b = 0; b <= HB_FINE + HB_COARSE; b++) if (h[b]) { total += h[b]; top = b; }
  const double q[5] = {0.5, 0.9, 0.99, 0.999, 1.0}; double r[5] = {0, 0, 0, 0, 0};
  long acc = 0; int qi = 0;
  for (long b = 0; b <= HB_FINE + HB_COARSE && qi < 5 && total; b++) {
    acc += h[b];
    while (qi < 5 && acc >= (long)ceil(q[qi] * (double)total) && h[b]) { r[qi] = bucket_ms(b); qi++; }
  }
  if (top < 0) return snprintf(o, n, "\"samples\":0,\"p50_ms\":null,\"p90_ms\":null,\"p99_ms\":null,\"p999_ms\":null,\"max_ms\":null");
  return snprintf(o, n, "\"samples\":%ld,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f",
                  total, r[0], r[1], r[2], r[3], r[4]);
}

/* ------------------------------------------------------------------ process / machine stats */
typedef struct { double t, gen_cpu, srv_cpu; long srv_rss; long long cpu_busy[2], cpu_total[2], cpu_steal[2], cpu_task[2]; } Stats;

static int read_file(const char *path, char *b, int n) {
  int fd = open(path, O_RDONLY); if (fd < 0) return -1;
  int r = (int)read(fd, b, n - 1); close(fd); if (r <= 0) return -1; b[r] = 0; return r;
}
static Stats stats_now(void) {
  Stats s; memset(&s, 0, sizeof s); s.t = now_s();
  struct rusage ru; getrusage(RUSAGE_SELF, &ru);
  s.gen_cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
  char b[4096], path[64];
  if (SERVER_PID) {
    snprintf(path, sizeof path, "/proc/%d/stat", SERVER_PID);
    if (read_file(path, b, sizeof b) > 0) {
      char *p = strrchr(b, ')');
      if (p) {
        /* after "pid (comm) ": state ppid ... utime(idx 11) stime(idx 12) ... rss(idx 21) */
        long v[22]; int k = 0; char *save = NULL;
        for (char *tok = strtok_r(p + 2, " ", &save); tok && k < 22; tok = strtok_r(NULL, " ", &save)) v[k++] = atol(tok);
        if (k == 22) {
          double tck = (double)sysconf(_SC_CLK_TCK);
          s.srv_cpu = (v[11] + v[12]) / tck;
          s.srv_rss = v[21] * sysconf(_SC_PAGESIZE);
        }
      }
    }
  }
  FILE *f = fopen("/proc/stat", "r");
  if (f) {
    char line[512];
    while (fgets(line, sizeof line, f)) {
      int c; long long u, ni, sy, id, io, irq, si, stl;
      if (sscanf(line, "cpu%d %lld %lld %lld %lld %lld %lld %lld %lld", &c, &u, &ni, &sy, &id, &io, &irq, &si, &stl) == 9 && c >= 0 && c < 2) {
        s.cpu_total[c] = u + ni + sy + id + io + irq + si + stl;
        s.cpu_busy[c] = u + ni + sy + irq + si + stl;
        s.cpu_steal[c] = stl;
        s.cpu_task[c] = u + ni + sy;
      }
    }
    fclose(f);
  }
  return s;
}
static int stats_json(Stats *a, Stats *b, char *o, int n) {
  double w = b->t - a->t; if (w <= 0) w = 1e-9;
  double pc[2], st[2], tk[2];
  for (int c = 0; c < 2; c++) {
    double tot = (double)(b->cpu_total[c] - a->cpu_total[c]); if (tot <= 0) tot = 1;
    pc[c] = 100.0 * (double)(b->cpu_busy[c] - a->cpu_busy[c]) / tot;
    st[c] = 100.0 * (double)(b->cpu_steal[c] - a->cpu_steal[c]) / tot;
    tk[c] = 100.0 * (double)(b->cpu_task[c] - a->cpu_task[c]) / tot;
  }
  double gen = 100.0 * (b->gen_cpu - a->gen_cpu) / w, srv = 100.0 * (b->srv_cpu - a->srv_cpu) / w;
  /* "other": task time (user+nice+system) on the core that is neither the server (core 0) nor the
     generator (core 1): other developers' processes competing for our cores */
  return snprintf(o, n, "\"gen_cpu_pct\":%.1f,\"server_cpu_pct\":%.1f,\"server_rss_mb\":%.2f,"
                  "\"cpu0_busy_pct\":%.1f,\"cpu1_busy_pct\":%.1f,\"cpu0_steal_pct\":%.1f,\"cpu1_steal_pct\":%.1f,"
                  "\"cpu0_other_pct\":%.1f,\"cpu1_other_pct\":%.1f",
                  gen, srv, b->srv_rss / 1048576.0, pc[0], pc[1], st[0], st[1],
                  fmax(0.0, tk[0] - srv), fmax(0.0, tk[1] - gen));
}

/* ------------------------------------------------------------------ socket plumbing */
static void ep_set(Conn *c, uint32_t ev, int op) {
  struct epoll_event e; e.events = ev; e.data.ptr = c; epoll_ctl(ep, op, c->fd, &e);
}
static void conn_drop(Conn *c) {
  if (c->fd >= 0) { epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL); close(c->fd); c->fd = -1; }
  c->in_len = 0; c->out_len = 0;
}
static void buf_append(char **b, int *len, int *cap, const char *d, int n) {
  if (*len + n > *cap) { int nc = (*len + n) * 2 + 256; *b = realloc(*b, nc); *cap = nc; }
  memcpy(*b + *len, d, n); *len += n;
}
static void conn_write(Conn *c, const char *d, int n) {
  if (c->fd < 0) return;
  if (c->out_len == 0) {
    ssize_t w = write(c->fd, d, n);
    if (w == n) return;
    if (w < 0) { if (errno != EAGAIN && errno != EWOULDBLOCK) return; w = 0; }
    d += w; n -= (int)w;
    ep_set(c, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
  }
  buf_append(&c->out, &c->out_len, &c->out_cap, d, n);
}
static int tcp_connect(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1; setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in a; memset(&a, 0, sizeof a);
  a.sin_family = AF_INET; a.sin_port = htons((uint16_t)PORT); a.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* 127.0.0.1 only */
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) { close(fd); return -1; }
  return fd;
}

/* client -> server WebSocket frame (masked) */
static void ws_send(Conn *c, int opcode, const char *p, int n) {
  static char f[65536 + 16];
  if (n > 65536) return;
  int h = 0; f[h++] = (char)(0x80 | opcode);
  if (n < 126) f[h++] = (char)(0x80 | n);
  else { f[h++] = (char)(0x80 | 126); f[h++] = (char)(n >> 8); f[h++] = (char)(n & 0xff); }
  uint32_t m = rnd(); unsigned char k[4] = {(unsigned char)(m >> 24), (unsigned char)(m >> 16), (unsigned char)(m >> 8), (unsigned char)m};
  memcpy(f + h, k, 4); h += 4;
  for (int i = 0; i < n; i++) f[h + i] = (char)(p[i] ^ k[i & 3]);
  conn_write(c, f, h + n);
}
static void ws_text(Conn *c, const char *s) { ws_send(c, 1, s, (int)strlen(s)); }

/* ------------------------------------------------------------------ http pool */
static void job_push(int kind, int idx) {
  if (jobq_tail == jobq_cap) {
    jobq_cap = jobq_cap ? jobq_cap * 2 : 1024;
    jobq_kind = realloc(jobq_kind, jobq_cap * sizeof(int)); jobq_idx = realloc(jobq_idx, jobq_cap * sizeof(int));
  }
  jobq_kind[jobq_tail] = kind; jobq_idx[jobq_tail] = idx; jobq_tail++;
}
static void http_start(Conn *h);
static void http_issue(Conn *h) {
  if (h->fd < 0 || h->state != M_READY || h->job_kind) return;
  if (jobq_head >= jobq_tail) return;
  h->job_kind = jobq_kind[jobq_head]; h->job_idx = jobq_idx[jobq_head]; jobq_head++;
  char req[512], body[128]; int bl;
  if (h->job_kind == J_ROOM) { bl = snprintf(body, sizeof body, "%s", ROOM_BODY);
    snprintf(req, sizeof req, "POST /api/rooms HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", PORT, bl, body);
  } else { bl = snprintf(body, sizeof body, "{\"nickname\":\"bench%d\"}", h->job_idx);
    snprintf(req, sizeof req, "POST /api/session HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", PORT, bl, body);
  }
  conn_write(h, req, (int)strlen(req));
}
static void http_start(Conn *h) {
  h->fd = tcp_connect(); h->in_len = 0; h->out_len = 0; h->job_kind = 0;
  if (h->fd < 0) { note_err("http socket/connect"); h->state = M_FAILED; n_http_errors++; return; }
  h->state = M_CONNECTING; ep_set(h, EPOLLOUT, EPOLL_CTL_ADD);
}
static int json_str(const char *b, int n, const char *key, char *out, int outn) {
  char pat[64]; int pl = snprintf(pat, sizeof pat, "\"%s\"", key);
  const char *p = memmem(b, n, pat, pl); if (!p) return -1;
  const char *e = b + n; p += pl;
  while (p < e && (*p == ' ' || *p == ':')) p++;
  if (p >= e || *p != '"') return -1;
  p++;
  int k = 0; while (p < e && *p != '"' && k < outn - 1) out[k++] = *p++;
  if (p >= e) return -1;
  out[k] = 0; return k;
}
static void member_got_token(int i);
static void http_job_failed(Conn *h, const char *why) {
  note_err(why); n_http_errors++;
  if (h->job_kind == J_SESSION) { Conn *m = &members[h->job_idx]; if (m->state == M_TOKEN_WAIT) { m->state = M_FAILED; n_failed++; n_inflight--; } }
  h->job_kind = 0;
}
static void http_on_read(Conn *h) {
  for (int rounds = 0; rounds < 8; rounds++) {
    ssize_t r = read(h->fd, rbuf, sizeof rbuf);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
      if (h->job_kind) http_job_failed(h, "http eof mid-request");
      conn_drop(h); http_start(h); return;
    }
    if (r < 0) break;
    buf_append(&h->in, &h->in_len, &h->in_cap, rbuf, (int)r);
    if (r < (ssize_t)sizeof rbuf) break;
  }
  while (h->in_len > 0) {
    char *he = memmem(h->in, h->in_len, "\r\n\r\n", 4);
    if (!he) return;
    int hl = (int)(he - h->in) + 4;
    int status = 0; sscanf(h->in, "HTTP/1.%*d %d", &status);
    long clen = -1; int chunked = 0, close_after = 0;
    for (char *p = h->in; p < he; ) {
      char *eol = memmem(p, he + 2 - p, "\r\n", 2); if (!eol) break;
      if (!strncasecmp(p, "content-length:", 15)) clen = strtol(p + 15, NULL, 10);
      else if (!strncasecmp(p, "transfer-encoding:", 18) && memmem(p, eol - p, "chunked", 7)) chunked = 1;
      else if (!strncasecmp(p, "connection:", 11) && memmem(p, eol - p, "close", 5)) close_after = 1;
      p = eol + 2;
    }
    int total;
    if (chunked) { char *z = memmem(h->in + hl, h->in_len - hl, "0\r\n\r\n", 5); if (!z) return; total = (int)(z - h->in) + 5; }
    else { if (clen < 0) clen = 0; if (h->in_len < hl + clen) return; total = hl + (int)clen; }
    char *body = h->in + hl; int bl = total - hl;
    if (h->job_kind == J_ROOM) {
      char code[128];
      if (status / 100 == 2 && json_str(body, bl, "code", code, sizeof code) > 0) {
        room_codes[h->job_idx] = strdup(code); n_rooms_made++;
      } else { char e[64]; snprintf(e, sizeof e, "POST /api/rooms -> %d", status); note_err(e); n_http_errors++; }
    } else if (h->job_kind == J_SESSION) {
      char tok[1024];
      if (status / 100 == 2 && json_str(body, bl, "token", tok, sizeof tok) > 0) {
        members[h->job_idx].token = strdup(tok); n_tokens++; member_got_token(h->job_idx);
      } else { char e[64]; snprintf(e, sizeof e, "POST /api/session -> %d", status); http_job_failed(h, e); }
    }
    h->job_kind = 0;
    memmove(h->in, h->in + total, h->in_len - total); h->in_len -= total;
    if (close_after) { conn_drop(h); http_start(h); return; }
  }
  http_issue(h);
}

/* ------------------------------------------------------------------ members */
static void member_connect(Conn *m) {
  m->fd = tcp_connect();
  if (m->fd < 0) { note_err("socket/connect (fds or ports exhausted?)"); m->state = M_FAILED; n_failed++; n_inflight--; return; }
  m->state = M_CONNECTING; ep_set(m, EPOLLOUT, EPOLL_CTL_ADD);
}
static void member_got_token(int i) {
  Conn *m = &members[i];
  if (STORM) member_connect(m);
  else { m->state = M_HAVE_TOKEN; n_inflight--; }
}
static void member_fail(Conn *m, const char *why) {
  if (m->state == M_READY) { n_closed_by_server++; n_ready--; m->state = M_CLOSED; conn_drop(m); note_err(why); return; }
  if (m->state == M_CLOSED || m->state == M_FAILED) return;
  note_err(why); n_failed++; n_inflight--; m->state = M_FAILED; conn_drop(m);
}
static void member_ready(Conn *m) {
  m->state = M_READY; n_ready++; n_inflight--;
  if (STORM) hist_add(shist, (uint64_t)((now_s() - m->t0) * 1e9));
}
static void send_handshake(Conn *m) {
  char req[2048], path[1400], key[25];
  static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (int i = 0; i < 22; i++) key[i] = al[rnd() & 63];
  key[22] = '='; key[23] = '='; key[24] = 0;
  if (PROTO == P_PHX) snprintf(path, sizeof path, "/socket/websocket?vsn=2.0.0&token=%s", m->token);
  else if (PROTO == P_SIO) snprintf(path, sizeof path, "/socket.io/?EIO=4&transport=websocket");
  else snprintf(path, sizeof path, "/ws?token=%s", m->token);
  int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", path, PORT, key);
  m->state = M_HS_SENT; ep_set(m, EPOLLIN, EPOLL_CTL_MOD);
  conn_write(m, req, n);
}
static void send_join(Conn *m) {
  char b[512];
  const char *code = room_codes[m->room];
  if (PROTO == P_PHX && epoch[0] && m->last_seq > 0)
    snprintf(b, sizeof b, "[\"1\",\"1\",\"room:%s\",\"phx_join\",{\"position\":{\"epoch\":\"%s\",\"seq\":%lld}}]",
             code, epoch, m->last_seq);
  else if (PROTO == P_PHX) snprintf(b, sizeof b, "[\"1\",\"1\",\"room:%s\",\"phx_join\",{}]", code);
  else if (PROTO == P_SIO) snprintf(b, sizeof b, "420[\"join\",{\"room\":\"%s\"}]", code);
  else snprintf(b, sizeof b, "{\"type\":\"join\",\"room\":\"%s\"}", code);
  ws_text(m, b);
}

static void on_delivery(const char *p, const char *end, uint64_t trecv);

/* A new_msg's position: "seq":N and "epoch":"E" in its payload. */
static void track_position(Conn *m, const char *b, int n) {
  const char *sq = memmem(b, n, "\"seq\":", 6);
  if (!sq) return;
  long long seq = strtoll(sq + 6, NULL, 10);
  const char *ep0 = memmem(b, n, "\"epoch\":\"", 9);
  if (ep0) {
    const char *e0 = ep0 + 9, *e1 = memchr(e0, '"', (size_t)(b + n - e0));
    int el = e1 ? (int)(e1 - e0) : 0;
    if (el > 0 && el < (int)sizeof epoch && (strncmp(epoch, e0, el) || epoch[el])) {
      if (epoch[0]) pos_epoch_changes++;
      memcpy(epoch, e0, el); epoch[el] = 0;
      m->last_seq = seq - 1;  /* a new stream: what came before it is the epoch change's */
    }
  }
  if (m->last_seq && seq <= m->last_seq) { pos_dups++; return; }
  if (m->last_seq && seq > m->last_seq + 1) pos_gaps += seq - m->last_seq - 1;
  m->last_seq = seq;
  if (rejoin_target > 0 && m->reached == 0 && seq >= rejoin_target) m->reached = now_s();
}

static void on_text(Conn *m, const char *b, int n, uint64_t trecv) {
  if (TRACK && PROTO == P_PHX && n > 20 && memmem(b, n, "\"new_msg\"", 9)) track_position(m, b, n);
  /* chat delivery: the body marker is enough, whichever envelope carries it */
  const char *mk = (n > 40) ? memmem(b, n, "\"~B", 3) : NULL;
  if (mk) { m->got++; on_delivery(mk + 3, b + n, trecv); return; }
  if (PROTO == P_SIO) {
    if (n == 1 && b[0] == '2') { ws_text(m, "3"); return; }              /* engine.io ping */
    if (m->state == M_OPENING) {
      if (m->sub == SIO_WAIT_OPEN && n >= 1 && b[0] == '0') {
        char pkt[1200]; snprintf(pkt, sizeof pkt, "40{\"token\":\"%s\"}", m->token); ws_text(m, pkt); m->sub = SIO_WAIT_CONNECT;
      } else if (m->sub == SIO_WAIT_CONNECT && n >= 2 && b[0] == '4' && b[1] == '0') {
        send_join(m); m->sub = SIO_WAIT_JOIN;
      } else if (n >= 2 && b[0] == '4' && b[1] == '4') member_fail(m, "sio connect_error");
      else if (m->sub == SIO_WAIT_JOIN && n >= 3 && b[0] == '4' && b[1] == '3' && b[2] == '0') {
        if (memmem(b, n, "\"ok\"", 4) && memmem(b, n, "true", 4)) member_ready(m); else member_fail(m, "sio join refused");
      }
    }
    return;
  }
  if (m->state == M_OPENING) {
    if (PROTO == P_PHX) {
      if (memmem(b, n, "\"phx_reply\"", 11) && memmem(b, n, "\"phx_join\"", 10) == NULL) {
        if (memmem(b, n, "\"recovered\":true", 16)) n_recovered_true++;
        else if (memmem(b, n, "\"recovered\":false", 17)) n_recovered_false++;
        if (memmem(b, n, "\"status\"", 8) && memmem(b, n, "\"ok\"", 4)) member_ready(m);
        else {
          char e[200]; snprintf(e, sizeof e, "join refused: %.*s", n > 120 ? 120 : n, b);
          for (char *q = e; *q; q++) if (*q == '"' || *q == '\\' || *q == ';') *q = '\'';
          member_fail(m, e);
        }
      }
    } else {
      if (memmem(b, n, "\"joined\"", 8)) member_ready(m);
      else if (memmem(b, n, "\"error\"", 7)) member_fail(m, "ws join refused");
    }
  }
}

/* parse server frames in d[0..n); returns bytes consumed */
static int parse_frames(Conn *m, const char *d, int n, uint64_t trecv) {
  int off = 0;
  while (n - off >= 2) {
    unsigned b0 = (unsigned char)d[off], b1 = (unsigned char)d[off + 1];
    uint64_t len = b1 & 0x7f; int h = off + 2;
    if (len == 126) { if (n - off < 4) break; len = ((unsigned)(unsigned char)d[h] << 8) | (unsigned char)d[h + 1]; h += 2; }
    else if (len == 127) { if (n - off < 10) break; len = 0; for (int k = 0; k < 8; k++) len = (len << 8) | (unsigned char)d[h + k]; h += 8; }
    if (b1 & 0x80) { member_fail(m, "server sent a masked frame"); return n; }
    if ((uint64_t)(n - h) < len) break;
    int op = b0 & 0x0f;
    if (!(b0 & 0x80) || op == 0) { bad_frames++; } /* fragmented messages are not expected here */
    else if (op == 1 || op == 2) on_text(m, d + h, (int)len, trecv);
    else if (op == 9) ws_send(m, 10, d + h, (int)len);
    else if (op == 8) { member_fail(m, "server closed the websocket"); return n; }
    off = h + (int)len;
  }
  return off;
}
static void member_on_read(Conn *m) {
  for (int rounds = 0; rounds < 4 && m->fd >= 0; rounds++) {
    ssize_t r = read(m->fd, rbuf, sizeof rbuf);
    if (r == 0) { member_fail(m, m->state == M_HS_SENT ? "eof during handshake" : "server closed the connection"); return; }
    if (r < 0) { if (errno == EAGAIN || errno == EWOULDBLOCK) return; member_fail(m, "read error"); return; }
    uint64_t t = now_ns();
    const char *d = rbuf; int n = (int)r;
    if (m->state == M_HS_SENT) {
      buf_append(&m->in, &m->in_len, &m->in_cap, d, n);
      char *e = memmem(m->in, m->in_len, "\r\n\r\n", 4);
      if (!e) { if (m->in_len > 8192) member_fail(m, "handshake too long"); return; }
      if (m->in_len < 12 || memcmp(m->in + 9, "101", 3) != 0) {
        char er[64]; snprintf(er, sizeof er, "upgrade refused: %.12s", m->in); member_fail(m, er); return;
      }
      int hl = (int)(e - m->in) + 4;
      m->in_len -= hl; memmove(m->in, m->in + hl, m->in_len);
      m->state = M_OPENING; m->sub = SIO_WAIT_OPEN;
      if (PROTO != P_SIO) send_join(m);
      if (m->in_len) { int u = parse_frames(m, m->in, m->in_len, t); if (m->fd >= 0) { m->in_len -= u; memmove(m->in, m->in + u, m->in_len); } }
    } else if (m->in_len) {
      buf_append(&m->in, &m->in_len, &m->in_cap, d, n);
      int u = parse_frames(m, m->in, m->in_len, t);
      if (m->fd >= 0) { m->in_len -= u; memmove(m->in, m->in + u, m->in_len); }
    } else {
      int u = parse_frames(m, d, n, t);
      if (m->fd >= 0 && u < n) buf_append(&m->in, &m->in_len, &m->in_cap, d + u, n - u);
    }
    if (r < (ssize_t)sizeof rbuf) return;
  }
}

/* ------------------------------------------------------------------ publishing */
static int closed_window = 0, sending = 0;
static long step_sent = 0;
static void pub_send(Pub *p) {
  Conn *m = &members[p->member];
  if (m->state != M_READY) return;
  put_dec(p->tmpl + p->off_ts, 20, now_ns());
  put_dec(p->tmpl + p->off_seq, 10, p->seq);
  if (p->off_ref >= 0) put_dec(p->tmpl + p->off_ref, 10, 1000000000ull + (p->seq % 1000000000ull));
  p->ring[p->seq & RING_MASK] = 0;
  p->seq++; p->outstanding++; sent_msgs++; step_sent++;
  expected_deliveries += p->room_n;
  ws_send(m, 1, p->tmpl, p->tmpl_len);
}
static void on_delivery(const char *p, const char *end, uint64_t trecv) {
  uint64_t ts, pub, seq;
  if (end - p < 38 || get_dec(p, 20, &ts) || p[20] != '.' || get_dec(p + 21, 6, &pub) || p[27] != '.' || get_dec(p + 28, 10, &seq)) { bad_frames++; return; }
  total_deliveries++;
  if (recording) { window_deliveries++; hist_add(hist, trecv > ts ? trecv - ts : 0); }
  if (pub < (uint64_t)npubs) {
    Pub *q = &pubs[pub];
    uint16_t c = ++q->ring[seq & RING_MASK];
    if (c == (uint16_t)q->room_n) {
      q->outstanding--;
      if (closed_window && sending) while (q->outstanding < closed_window) pub_send(q);
    } else if (c > (uint16_t)q->room_n && seq + RING > q->seq) {
      duplicates++; /* more deliveries of one message than its room has members */
    }
  }
}
static void make_template(Pub *p, int gid) {
  const char *code = room_codes[members[p->member].room];
  char body[4200]; int bl = 0;
  /* ~B<ts20>.<pub6>.<seq10>. + padding */
  bl = snprintf(body, sizeof body, "~B%020d.%06d.%010d.", 0, gid, 0);
  static const char pad[] = "the quick brown fox jumps over the lazy dog ";
  int padn = 0;
  while (bl < BODY && bl < 4000) { body[bl++] = pad[padn % (int)(sizeof pad - 1)]; padn++; }
  body[bl] = 0;
  char t[4600]; int pre;
  if (PROTO == P_PHX) {
    pre = snprintf(t, sizeof t, "[\"1\",\"1000000000\",\"room:%s\",\"new_msg\",{\"body\":\"", code);
    p->off_ref = 6;
  } else if (PROTO == P_SIO) {
    pre = snprintf(t, sizeof t, "421000000000[\"new_msg\",{\"body\":\"");
    p->off_ref = 2;
  } else {
    pre = snprintf(t, sizeof t, "{\"type\":\"new_msg\",\"ref\":\"1000000000\",\"body\":\"");
    p->off_ref = 25;
  }
  int tl = pre + snprintf(t + pre, sizeof t - pre, "%s\"}%s", body, PROTO == P_PHX ? "]" : (PROTO == P_SIO ? "]" : ""));
  p->tmpl = malloc(tl + 1); memcpy(p->tmpl, t, tl + 1); p->tmpl_len = tl;
  p->off_ts = pre + 2; p->off_pub = pre + 23; p->off_seq = pre + 30;
}

/* ------------------------------------------------------------------ event loop */
static int pacing = 0; static double pace_t0, pace_rate; static long paced;
static int hb_cursor = 0; static double hb_round = 0; static long hb_ref = 0;
static volatile sig_atomic_t want_quit = 0;
static char cmdbuf[4096]; static int cmd_len = 0; static int cmd_ready = 0; static int stdin_eof = 0;

static void on_writable(Conn *c) {
  if (c->state == M_CONNECTING) {
    int err = 0; socklen_t sl = sizeof err; getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl);
    if (err) {
      if (c->kind == K_HTTP) { note_err("http connect failed"); n_http_errors++; conn_drop(c); c->state = M_FAILED; return; }
      char e[96]; snprintf(e, sizeof e, "connect: %s", strerror(err)); member_fail(c, e); return;
    }
    if (c->kind == K_HTTP) { c->state = M_READY; ep_set(c, EPOLLIN, EPOLL_CTL_MOD); http_issue(c); return; }
    send_handshake(c); return;
  }
  if (c->out_len) {
    ssize_t w = write(c->fd, c->out, c->out_len);
    if (w > 0) { c->out_len -= (int)w; memmove(c->out, c->out + w, c->out_len); }
    else if (w < 0 && errno != EAGAIN) { if (c->kind == K_MEMBER) member_fail(c, "write error"); return; }
  }
  if (c->out_len == 0) ep_set(c, EPOLLIN, EPOLL_CTL_MOD);
}
static void on_stdin(void) {
  ssize_t r = read(0, cmdbuf + cmd_len, sizeof cmdbuf - 1 - cmd_len);
  if (r <= 0) { stdin_eof = 1; epoll_ctl(ep, EPOLL_CTL_DEL, 0, NULL); return; }
  cmd_len += (int)r; cmdbuf[cmd_len] = 0;
  if (strchr(cmdbuf, '\n')) cmd_ready = 1;
}
static void heartbeat_tick(double t) {
  if (PROTO != P_PHX) return;
  if (t - hb_round >= HB_SECS) { hb_round = t; hb_cursor = 0; }
  int budget = 256; char b[96];
  while (hb_cursor < nmembers && budget > 0) {
    Conn *m = &members[hb_cursor++];
    if (m->state != M_READY) continue;
    snprintf(b, sizeof b, "[null,\"hb%ld\",\"phoenix\",\"heartbeat\",{}]", ++hb_ref);
    ws_text(m, b); budget--;
  }
}
static void loop_once(int timeout_ms) {
  static struct epoll_event evs[1024];
  int n = epoll_wait(ep, evs, 1024, timeout_ms);
  for (int i = 0; i < n; i++) {
    Conn *c = evs[i].data.ptr;
    if (c->kind == K_STDIN) { on_stdin(); continue; }
    if (c->fd < 0) continue;
    uint32_t e = evs[i].events;
    if (e & EPOLLOUT) on_writable(c);
    if (c->fd < 0) continue;
    if (e & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
      if (c->state == M_CONNECTING) {
        if (c->kind == K_HTTP) { note_err("http connect refused"); n_http_errors++; conn_drop(c); c->state = M_FAILED; }
        else member_fail(c, "connect refused");
        continue;
      }
      if (c->kind == K_HTTP) http_on_read(c); else member_on_read(c);
    }
  }
  double t = now_s();
  if (pacing && npubs) {
    long target = (long)((t - pace_t0) * pace_rate);
    static int rr = 0; int guard = 0;
    while (paced < target && guard++ < 100000) { pub_send(&pubs[rr]); rr = (rr + 1) % npubs; paced++; }
  }
  heartbeat_tick(t);
}
static void run_for(double secs, int (*done)(void)) {
  double end = now_s() + secs;
  for (;;) {
    double t = now_s();
    if (t >= end || want_quit) return;
    if (done && done()) return;
    int to = pacing ? 1 : (int)fmin(20.0, (end - t) * 1000.0 + 1);
    loop_once(to);
  }
}

/* ------------------------------------------------------------------ setup phases */
static int http_all_dead(void) { for (int i = 0; i < nhttp; i++) if (http[i].state != M_FAILED) return 0; return 1; }
static int jobs_done(void) {
  if (http_all_dead()) return 1;
  if (jobq_head < jobq_tail) return 0;
  for (int i = 0; i < nhttp; i++) if (http[i].job_kind) return 0;
  return 1;
}
static void http_kick(void) {
  for (int i = 0; i < nhttp; i++) {
    if (http[i].state == M_FAILED && jobq_head < jobq_tail) http_start(&http[i]);
    else http_issue(&http[i]);
  }
}
static int launch_next = 0; static int launch_mode = 0; /* 1: tokens only, 2: connect with token, 3: storm */
static int launch_done(void) {
  while (launch_next < nmembers && n_inflight < CONC) {
    Conn *m = &members[launch_next++];
    if (m->state == M_FAILED) continue;
    n_inflight++; m->t0 = now_s();
    if (launch_mode == 2) member_connect(m);
    else { m->state = M_TOKEN_WAIT; job_push(J_SESSION, m->idx); }
  }
  if (launch_mode != 2) http_kick();
  if (launch_mode != 2 && http_all_dead()) return 1;
  return launch_next >= nmembers && n_inflight == 0;
}
static int all_got_barrier(void) {
  for (int i = 0; i < nmembers; i++) if (members[i].state == M_READY && members[i].got == 0) return 0;
  return 1;
}
static int drained(void) { return total_deliveries >= expected_deliveries; }

/* ------------------------------------------------------------------ commands */
static void cmd_step(int closed, double param, double warm, double win) {
  memset(hist, 0, sizeof hist);
  for (int i = 0; i < npubs; i++) { pubs[i].outstanding = 0; memset(pubs[i].ring, 0, RING * sizeof(uint16_t)); }
  long exp0 = expected_deliveries, tot0 = total_deliveries, closed0 = n_closed_by_server, dup0 = duplicates;
  step_sent = 0; sending = 1; double t0 = now_s();
  long rate = 0;
  if (closed) {
    closed_window = (int)param < 1 ? 1 : (int)param;
    for (int i = 0; i < npubs; i++) while (pubs[i].outstanding < closed_window) pub_send(&pubs[i]);
  } else {
    closed_window = 0;
    /* offered deliveries/s -> publishes/s: each publish is delivered to its whole room */
    double avg_room = 0; for (int i = 0; i < npubs; i++) avg_room += pubs[i].room_n; avg_room = npubs ? avg_room / npubs : 1;
    rate = (long)param; pace_rate = param / avg_room; pace_t0 = t0; paced = 0; pacing = 1;
  }
  run_for(warm, NULL);
  Stats a = stats_now(); long sent_a = step_sent; window_deliveries = 0; recording = 1;
  run_for(win, NULL);
  recording = 0; Stats b = stats_now(); long sent_b = step_sent;
  sending = 0; pacing = 0; closed_window = 0;
  double td = now_s();
  run_for(20.0, drained);
  double drain_s = now_s() - td;
  long undelivered = (expected_deliveries - exp0) - (total_deliveries - tot0);
  if (undelivered > 0) { expected_deliveries = total_deliveries; } /* do not carry losses into the next step */
  double w = b.t - a.t;
  char hj[512], sj[512];
  hist_json(hist, hj, sizeof hj); stats_json(&a, &b, sj, sizeof sj);
  char off[32]; if (closed) snprintf(off, sizeof off, "null"); else snprintf(off, sizeof off, "%ld", rate);
  emit("{\"event\":\"step\",\"mode\":\"%s\",\"window\":%d,\"offered_per_s\":%s,\"publishes_per_s\":%.1f,"
       "\"delivered_per_s\":%.1f,\"window_s\":%.3f,%s,%s,\"drain_s\":%.3f,\"undelivered\":%ld,"
       "\"closed_by_server\":%ld,\"bad_frames\":%ld,\"duplicates\":%ld,\"members_ready\":%ld}",
       closed ? "closed" : "open", closed ? (int)param : 0, off, (sent_b - sent_a) / w, window_deliveries / w, w, hj, sj,
       drain_s, undelivered > 0 ? undelivered : 0, n_closed_by_server - closed0, bad_frames, duplicates - dup0, n_ready);
}
static void cmd_hold(double secs) {
  Stats a = stats_now();
  run_for(secs, NULL);
  Stats b = stats_now(); char sj[512]; stats_json(&a, &b, sj, sizeof sj);
  emit("{\"event\":\"hold\",\"secs\":%.1f,\"members_ready\":%ld,\"closed_by_server\":%ld,%s}", secs, n_ready, n_closed_by_server, sj);
}

/* cut: every member's connection goes, with a reset (a network that drops) */
static void cmd_cut(void) {
  long cut = 0;
  for (int i = 0; i < nmembers; i++) {
    Conn *m = &members[i];
    if (m->fd >= 0) {
      struct linger lg = {1, 0}; setsockopt(m->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      conn_drop(m); cut++;
    }
    if (m->state == M_READY) n_ready--;
    if (m->state != M_FAILED) m->state = M_CLOSED;
  }
  emit("{\"event\":\"cut\",\"cut\":%ld,\"epoch_known\":%s}", cut, epoch[0] ? "true" : "false");
}
static int rejoin_next = 0; static long rejoin_failed0;
static int rejoin_done(void) {
  while (rejoin_next < nmembers && n_inflight < CONC) {
    Conn *m = &members[rejoin_next++];
    if (m->state == M_FAILED || !m->token) continue;
    if (m->fd >= 0) conn_drop(m);
    n_inflight++; m->t0 = now_s(); member_connect(m);
  }
  if (rejoin_next < nmembers || n_inflight) return 0;
  for (int i = 0; i < nmembers; i++)
    if (members[i].state != M_FAILED && members[i].token && members[i].reached == 0) return 0;
  return 1;
}
/* rejoin: reconnect everyone (CONC at a time), each joining with its position */
static void cmd_rejoin(long target, double timeout) {
  long dups0 = pos_dups, gaps0 = pos_gaps, rt0 = n_recovered_true, rf0 = n_recovered_false;
  rejoin_failed0 = n_failed;
  for (int i = 0; i < nmembers; i++) {
    Conn *m = &members[i]; m->reached = 0;
    if (m->state == M_READY) { n_ready--; }
    if (m->state != M_FAILED) m->state = M_CLOSED;
  }
  rejoin_target = target; rejoin_next = 0; n_inflight = 0;
  double t0 = now_s();
  run_for(timeout, rejoin_done);
  double all = now_s() - t0;
  long complete = 0, short_of = 0;
  static uint32_t rh[HB_FINE + HB_COARSE + 1];
  memset(rh, 0, sizeof rh);
  for (int i = 0; i < nmembers; i++) {
    Conn *m = &members[i];
    if (m->state == M_FAILED || !m->token) continue;
    if (m->reached > 0) { complete++; hist_add(rh, (uint64_t)((m->reached - t0) * 1e9)); }
    else short_of++;
  }
  rejoin_target = -1;
  char hj[512]; hist_json(rh, hj, sizeof hj);
  for (char *q = errs; *q; q++) if (*q == '"' || *q == '\\') *q = '\'';
  emit("{\"event\":\"rejoin\",\"target\":%ld,\"all_s\":%.3f,\"complete\":%ld,\"short\":%ld,"
       "\"failed\":%ld,\"recovered_true\":%ld,\"recovered_false\":%ld,\"duplicates\":%ld,\"gaps\":%ld,"
       "\"epoch_changes\":%ld,\"members_ready\":%ld,\"errors\":\"%s\",\"per_member\":{%s}}",
       target, all, complete, short_of, n_failed - rejoin_failed0, n_recovered_true - rt0,
       n_recovered_false - rf0, pos_dups - dups0, pos_gaps - gaps0, pos_epoch_changes, n_ready, errs, hj);
}

static void on_alarm(int s) { (void)s; static const char m[] = "{\"event\":\"deadline\"}\n"; (void)!write(1, m, sizeof m - 1); _exit(3); }
static void on_term(int s) { (void)s; want_quit = 1; }

static void usage(void) {
  fprintf(stderr, "usage: loadgen --port P [--proto phx|sio|ws] [--members N] [--room-size R] [--pubs-per-room K]\n"
                  "               [--body BYTES] [--conc C] [--http-pool H] [--storm 0|1] [--server-pid PID] [--deadline S]\n"
                  "               [--room-body JSON] [--track 0|1]\n");
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i += 2) {
    const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) { usage(); return 2; }
    if (!strcmp(k, "--port")) PORT = atoi(v);
    else if (!strcmp(k, "--proto")) PROTO = !strcmp(v, "phx") ? P_PHX : !strcmp(v, "sio") ? P_SIO : !strcmp(v, "ws") ? P_WS : -1;
    else if (!strcmp(k, "--members")) MEMBERS = atoi(v);
    else if (!strcmp(k, "--room-size")) ROOM_SIZE = atoi(v);
    else if (!strcmp(k, "--pubs-per-room")) PUBS_PER_ROOM = atoi(v);
    else if (!strcmp(k, "--body")) BODY = atoi(v);
    else if (!strcmp(k, "--conc")) CONC = atoi(v);
    else if (!strcmp(k, "--http-pool")) HTTP_POOL = atoi(v);
    else if (!strcmp(k, "--storm")) STORM = atoi(v);
    else if (!strcmp(k, "--server-pid")) SERVER_PID = atoi(v);
    else if (!strcmp(k, "--deadline")) DEADLINE = atoi(v);
    else if (!strcmp(k, "--hb")) HB_SECS = atoi(v);
    else if (!strcmp(k, "--room-body")) ROOM_BODY = v;
    else if (!strcmp(k, "--track")) TRACK = atoi(v);
    else { usage(); return 2; }
  }
  if (strlen(ROOM_BODY) > 100) { fprintf(stderr, "--room-body: at most 100 bytes\n"); return 2; }
  if (!PORT || PROTO < 0 || MEMBERS < 1 || ROOM_SIZE < 1 || ROOM_SIZE > 60000 || BODY < 40 || BODY > 4000 || CONC < 1) { usage(); return 2; }
  if (PUBS_PER_ROOM > ROOM_SIZE) PUBS_PER_ROOM = ROOM_SIZE;
  signal(SIGPIPE, SIG_IGN); signal(SIGALRM, on_alarm); signal(SIGTERM, on_term); signal(SIGINT, on_term);
  alarm((unsigned)DEADLINE);
  ep = epoll_create1(EPOLL_CLOEXEC);

  nmembers = MEMBERS; nrooms = (MEMBERS + ROOM_SIZE - 1) / ROOM_SIZE;
  members = calloc(nmembers, sizeof(Conn)); room_codes = calloc(nrooms, sizeof(char *)); room_count = calloc(nrooms, sizeof(int));
  for (int i = 0; i < nmembers; i++) { Conn *m = &members[i]; m->kind = K_MEMBER; m->fd = -1; m->idx = i; m->room = i / ROOM_SIZE; m->pub = -1; room_count[m->room]++; }
  nhttp = HTTP_POOL < 1 ? 1 : HTTP_POOL; http = calloc(nhttp, sizeof(Conn));
  for (int i = 0; i < nhttp; i++) { http[i].kind = K_HTTP; http[i].fd = -1; http[i].state = M_FAILED; }
  stdin_conn.kind = K_STDIN; stdin_conn.fd = 0;
  { int fl = fcntl(0, F_GETFL); fcntl(0, F_SETFL, fl | O_NONBLOCK); struct epoll_event e; e.events = EPOLLIN; e.data.ptr = &stdin_conn; epoll_ctl(ep, EPOLL_CTL_ADD, 0, &e); }

  /* 1. rooms (never timed) */
  double t_rooms = now_s();
  for (int r = 0; r < nrooms; r++) job_push(J_ROOM, r);
  for (int i = 0; i < nhttp && i < nrooms; i++) http_start(&http[i]);
  run_for(120.0, jobs_done);
  t_rooms = now_s() - t_rooms;
  if (n_rooms_made < nrooms) {
    emit("{\"event\":\"abort\",\"phase\":\"rooms\",\"rooms_made\":%ld,\"rooms\":%d,\"errors\":\"%s\"}", n_rooms_made, nrooms, errs);
    return 2;
  }
  /* publishers: the first K members of each room */
  for (int i = 0; i < nmembers; i++) if (i % ROOM_SIZE < PUBS_PER_ROOM) npubs++;
  pubs = calloc(npubs ? npubs : 1, sizeof(Pub));
  for (int i = 0, k = 0; i < nmembers; i++) if (i % ROOM_SIZE < PUBS_PER_ROOM) {
    if (k > 999999) break;
    Pub *p = &pubs[k]; p->member = i; p->ring = calloc(RING, sizeof(uint16_t)); p->room_n = room_count[members[i].room];
    members[i].pub = k; make_template(p, k); k++;
  }

  double t_tokens = 0, t_connect = 0, t_storm = 0;
  Stats sa = stats_now();
  if (!STORM) {
    /* 2. tokens over the keep-alive pool (not timed as connect work) */
    double t = now_s(); launch_mode = 1; launch_next = 0; n_inflight = 0;
    run_for(600.0, launch_done); t_tokens = now_s() - t;
    /* 3. websocket + join */
    t = now_s(); launch_mode = 2; launch_next = 0; n_inflight = 0;
    run_for(600.0, launch_done); t_connect = now_s() - t;
  } else {
    /* storm: token + websocket + join per member, CONC members in flight */
    memset(shist, 0, sizeof shist);
    double t = now_s(); launch_mode = 3; launch_next = 0; n_inflight = 0;
    run_for(600.0, launch_done); t_storm = now_s() - t;
  }
  Stats sb = stats_now();
  /* settle: let the join storm (presence diffs) drain */
  run_for(0.5, NULL);
  /* barrier: every publisher sends one message; every ready member must see at least one */
  long barrier_missing = 0; double t_barrier = now_s();
  if (npubs && n_ready) {
    for (int i = 0; i < npubs; i++) pub_send(&pubs[i]);
    run_for(30.0, all_got_barrier);
    run_for(10.0, drained);
    for (int i = 0; i < nmembers; i++) if (members[i].state == M_READY && members[i].got == 0) barrier_missing++;
    expected_deliveries = total_deliveries; /* start the steps from a clean slate */
  }
  t_barrier = now_s() - t_barrier;
  char sj[512], shj[512]; stats_json(&sa, &sb, sj, sizeof sj); hist_json(shist, shj, sizeof shj);
  for (char *q = errs; *q; q++) if (*q == '"' || *q == '\\') *q = '\'';
  emit("{\"event\":\"ready\",\"proto\":\"%s\",\"members\":%d,\"rooms\":%d,\"room_size\":%d,\"publishers\":%d,\"body_bytes\":%d,"
       "\"ready\":%ld,\"failed\":%ld,\"http_errors\":%ld,\"errors\":\"%s\",\"rooms_s\":%.3f,\"tokens_s\":%.3f,\"connect_s\":%.3f,"
       "\"storm\":%d,\"storm_s\":%.3f,\"storm_conn_per_s\":%.1f,\"storm_setup\":{%s},\"barrier_s\":%.3f,\"barrier_missing\":%ld,"
       "\"template_bytes\":%d,\"first_room\":\"%s\",\"setup\":{%s}}",
       PROTO == P_PHX ? "phx" : PROTO == P_SIO ? "sio" : "ws", nmembers, nrooms, ROOM_SIZE, npubs, BODY,
       n_ready, n_failed, n_http_errors, errs, t_rooms, t_tokens, t_connect, STORM, t_storm,
       STORM && t_storm > 0 ? n_ready / t_storm : 0.0, shj, t_barrier, barrier_missing, npubs ? pubs[0].tmpl_len : 0,
       room_codes[0] ? room_codes[0] : "", sj);
  /* the HTTP pool is not needed any more */
  for (int i = 0; i < nhttp; i++) if (http[i].fd >= 0) { conn_drop(&http[i]); http[i].state = M_FAILED; }

  /* command loop */
  for (;;) {
    while (!cmd_ready && !stdin_eof && !want_quit) run_for(0.05, NULL);
    if (want_quit || (stdin_eof && !cmd_ready)) break;
    char *nl = strchr(cmdbuf, '\n'); *nl = 0;
    char line[512]; snprintf(line, sizeof line, "%.500s", cmdbuf);
    int rest = cmd_len - (int)(nl + 1 - cmdbuf); memmove(cmdbuf, nl + 1, rest); cmd_len = rest; cmdbuf[cmd_len] = 0;
    cmd_ready = strchr(cmdbuf, '\n') != NULL;
    char verb[32] = ""; double a1 = 0, a2 = 0, a3 = 0;
    int nf = sscanf(line, "%31s %lf %lf %lf", verb, &a1, &a2, &a3);
    if (nf < 1) continue;
    if (!strcmp(verb, "quit")) break;
    else if (!strcmp(verb, "closed") && nf == 4) cmd_step(1, a1, a2, a3);
    else if (!strcmp(verb, "open") && nf == 4) cmd_step(0, a1, a2, a3);
    else if (!strcmp(verb, "hold") && nf == 2) cmd_hold(a1);
    else if (!strcmp(verb, "cut") && nf == 1) cmd_cut();
    else if (!strcmp(verb, "rejoin") && nf == 3) cmd_rejoin((long)a1, a2);
    else emit("{\"event\":\"error\",\"message\":\"bad command\"}");
  }
  emit("{\"event\":\"bye\",\"members_ready\":%ld}", n_ready);
  return 0;
}
