// Room page: join room:<code>, show messages, presence, typing, connection state.

import { Presence, Socket } from "./phoenix.js";
import {
  ApiError,
  checkToken,
  createSession,
  ensureSession,
  roomPath,
  savedNickname,
  tokenIsFresh,
} from "./session.js";
import {
  NicknameDialog,
  avatarClass,
  bindCreateRoom,
  copyText,
  el,
  initial,
  linkify,
  showIdentity,
  timeElement,
} from "./ui.js";

const BODY_LIMIT = 4000;
const COUNTER_FROM = 3600;
const TYPING_SEND_EVERY_MS = 2000;
const TYPING_SHOW_MS = 3000;
const GROUP_WINDOW_MS = 3 * 60 * 1000;
const NEAR_BOTTOM_PX = 48;
const MAX_ITEMS = 1500;
// Someone dropped by a resync (we reconnected) who comes back within this window is not
// announced as "joined" again: they were only reconnecting too.
const REJOIN_GRACE_MS = 60 * 1000;
// Ask the server whether our token is still good after this many failed connects in a row.
const CHECK_TOKEN_AFTER = 3;

// How many older messages one scroll-back asks for.
const PAGE = 50;
// Scrolling this close to the top loads earlier messages.
const NEAR_TOP_PX = 80;
const EMPTY_TEXT = {
  ephemeral: "Share the room link to invite people. Messages are never stored: they vanish with the room.",
  memory: "Share the room link to invite people. Messages are kept in memory while the room lives.",
  persistent: "Share the room link to invite people. Messages are saved on the server.",
};

/** The last position seen in a room, kept for this tab (a reload can recover from it). */
function loadPosition(code) {
  try {
    const raw = globalThis.sessionStorage?.getItem(`sketchychat:position:${code}`);
    const position = raw ? JSON.parse(raw) : null;
    return position && typeof position.epoch === "string" && Number.isInteger(position.seq)
      ? position
      : null;
  } catch {
    return null;
  }
}

function savePosition(code, position) {
  try {
    globalThis.sessionStorage?.setItem(`sketchychat:position:${code}`, JSON.stringify(position));
  } catch {
    // storage full or disabled: recovery then works within this page's life only
  }
}

const ERROR_TEXT = {
  invalid_body: "Type something before sending.",
  body_too_long: `Messages can be at most ${BODY_LIMIT.toLocaleString("en")} characters.`,
};

/** Whether a message by `userId` at `at` continues the group of the `previous` node. */
function continues(previous, userId, at) {
  return (
    previous !== null &&
    previous !== undefined &&
    previous.classList.contains("msg") &&
    previous.dataset.userId === userId &&
    at - Number(previous.dataset.at) < GROUP_WINDOW_MS
  );
}

function codePoints(text) {
  let n = 0;
  for (const _ of text) n += 1;
  return n;
}

class RoomApp {
  constructor(code) {
    this.code = code;
    this.topic = `room:${code}`;
    this.session = null;
    this.socket = null;
    this.channel = null;
    this.presence = null;
    this.myIds = new Set();
    this.seenIds = new Set();
    // Where we are in the room's stream ({epoch, seq}); sent back on every (re)join. After a
    // reload, an ephemeral room replays what was said meanwhile from the position this tab
    // kept; a room that keeps history shows the recent conversation instead (no position).
    const kind = document.querySelector("#retention")?.dataset.kind;
    this.position = kind === "ephemeral" ? loadPosition(code) : null;
    this.retention = null;
    // The oldest message shown, and whether the room has older ones to page back to.
    this.oldestSeq = null;
    this.hasMore = false;
    this.loadingEarlier = false;
    // The newest message shown ({epoch, seq}): replays never show one twice.
    this.lastShown = null;
    this.typers = new Map();
    this.recentlyGone = new Map();
    this.lastTypingSent = 0;
    this.hasJoined = false;
    this.wasDown = false;
    this.failures = 0;
    this.checkingToken = false;
    this.switching = false;
    this.expired = false;
    this.refreshing = null;
    this.unread = 0;
    this.baseTitle = document.title;

    this.dom = {
      chat: document.querySelector("#chat"),
      log: document.querySelector("#log"),
      empty: document.querySelector("#log-empty"),
      jump: document.querySelector("#jump"),
      typing: document.querySelector("#typing"),
      form: document.querySelector("#composer"),
      input: document.querySelector("#message"),
      send: document.querySelector("#send"),
      status: document.querySelector("#composer-status"),
      banner: document.querySelector("#conn-banner"),
      earlier: document.querySelector("#earlier"),
      emptyText: document.querySelector("#log-empty-text"),
      retention: document.querySelector("#retention"),
      retentionText: document.querySelector("#retention-text"),
      closedBanner: document.querySelector("#closed-banner"),
      online: document.querySelector("#online"),
      onlineCount: document.querySelector("#online-count"),
      copy: document.querySelector("#copy-link"),
      copyStatus: document.querySelector("#copy-status"),
      expired: document.querySelector("#expired"),
      roomBar: document.querySelector("#room-bar"),
    };
    this.dialog = new NicknameDialog();
  }

  // ---- start-up ------------------------------------------------------------------------------

  async start() {
    this.bindUi();
    let session = null;
    if (savedNickname()) {
      try {
        session = await ensureSession();
      } catch (error) {
        // The remembered nickname is no longer accepted, or the server is unreachable.
        if (!(error instanceof ApiError) || error.status !== 422) {
          this.setConnection("down");
          session = await this.retrySession();
        }
      }
    }
    if (!session) {
      session = await this.dialog.open({ required: true, title: "Join the room" });
    }
    this.useSession(session);
    this.connect();
    this.dom.input.focus();
  }

  /** The server could not be reached at start: keep trying quietly. */
  async retrySession() {
    for (let attempt = 1; ; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 500 * attempt)));
      try {
        return await ensureSession();
      } catch (error) {
        if (error instanceof ApiError && error.status === 422) return null;
      }
    }
  }

  useSession(session) {
    this.session = session;
    this.myIds.add(session.user_id);
    showIdentity(session.nickname);
  }

  connect() {
    this.socket = new Socket("/socket", { params: () => ({ token: this.session.token }) });
    this.socket.onOpen(() => {
      this.failures = 0;
    });
    this.socket.onClose(() => this.onSocketDown());

    // Join params are evaluated on every (re)join: the position goes back each time, so the
    // room replays exactly what we missed (contract.md §5).
    this.channel = this.socket.channel(this.topic, () =>
      this.position ? { position: this.position } : {},
    );
    this.presence = new Presence(this.channel);
    this.presence.onJoin((key, before, joined) => this.onPresenceJoin(key, before, joined));
    this.presence.onLeave((key, after, left) => this.onPresenceLeave(key, after, left));
    this.presence.onSync(() => this.renderOnline());

    this.channel.on("new_msg", (payload) => this.onMessage(payload));
    this.channel.on("typing", (payload) => this.onTyping(payload));
    this.channel.onError(() => {
      if (!this.expired && !this.switching) this.setConnection("down");
    });
    this.channel.onClose(() => {
      // The server ended our membership for good (not a crash, not our own leave).
      if (!this.expired && !this.channel.left) this.showClosed();
    });

    this.channel
      .join()
      .receive("ok", (response) => this.onJoined(response ?? {}))
      .receive("error", (response) => this.onJoinError(response ?? {}))
      .receive("timeout", () => this.setConnection("down"));
    this.socket.connect();
  }

  onJoined(response) {
    if (typeof response.user_id === "string") this.myIds.add(response.user_id);
    this.setConnection("up");
    this.showRetention(response.retention);
    const replay = response.replay ?? {};
    const missing = replay.recovered === false;
    if (this.wasDown && this.hasJoined) {
      this.addNotice(
        missing ? "Reconnected. Some messages from while you were away may be missing." : "Reconnected.",
        missing ? "gap" : "info",
      );
    } else if (missing) {
      this.addNotice("Some earlier messages may be missing here.", "gap");
    }
    if (!this.hasJoined && this.retention && this.retention.kind !== "ephemeral") {
      // Older messages than the replay may exist: scrolling up asks for them.
      this.hasMore = Number(replay.after) > 0;
      if (this.oldestSeq === null && Number(replay.count) === 0 && response.position) {
        this.oldestSeq = Number(response.position.seq) + 1;
      }
      this.updateEarlier();
    }
    if (response.position && typeof response.position.epoch === "string") {
      const epoch = response.position.epoch;
      if (this.lastShown && this.lastShown.epoch !== epoch) {
        // A new stream: the reply said what is missing; its messages start after `after`.
        this.lastShown = { epoch, seq: Number(replay.after) || 0 };
      }
      // With a replay to come, each replayed message moves the position; without one,
      // we are at the room's top now.
      if (!(Number(replay.count) > 0)) this.remember(epoch, Number(response.position.seq));
    }
    this.wasDown = false;
    this.hasJoined = true;
  }

  /** The room's retention badge and the empty-room text say what is kept. */
  showRetention(retention) {
    if (!retention || typeof retention.kind !== "string") return;
    this.retention = retention;
    if (this.dom.retention) {
      this.dom.retention.dataset.kind = retention.kind;
      this.dom.retentionText.textContent = String(retention.summary ?? "");
    }
    if (this.dom.emptyText) {
      this.dom.emptyText.textContent = EMPTY_TEXT[retention.kind] ?? EMPTY_TEXT.ephemeral;
    }
  }

  /** Keep the last position seen (for rejoins, and for a reload of this tab). */
  remember(epoch, seq) {
    if (!Number.isInteger(seq)) return;
    if (this.position && this.position.epoch === epoch && this.position.seq >= seq) return;
    this.position = { epoch, seq };
    savePosition(this.code, this.position);
  }

  onJoinError(response) {
    if (response.reason === "not_found") {
      this.showExpired();
      return;
    }
    if (response.reason === "invalid_position") {
      // Our position is not one of this room's stream (its store was restored from an older
      // copy, say): forget it, and the next rejoin asks for the recent conversation instead.
      this.position = null;
      this.lastShown = null;
      savePosition(this.code, null);
    }
    // Anything else: the channel retries by itself (1 s, 2 s, 5 s, then every 10 s).
    this.setConnection("down");
  }

  onSocketDown() {
    if (this.expired || !this.socket || this.switching) return;
    this.setConnection("down");
    this.failures += 1;
    if (!tokenIsFresh(this.session.token)) {
      this.refreshSession();
    } else if (this.failures >= CHECK_TOKEN_AFTER && this.failures % CHECK_TOKEN_AFTER === 0) {
      this.verifyToken();
    }
  }

  /** The socket keeps failing: the browser cannot see a 403, so ask the API about the token. */
  async verifyToken() {
    if (this.checkingToken) return;
    this.checkingToken = true;
    try {
      if ((await checkToken(this.session.token)) === "invalid") await this.refreshSession();
    } finally {
      this.checkingToken = false;
    }
  }

  refreshSession() {
    // One renewal at a time, however many connects fail meanwhile.
    this.refreshing ??= this.renewSession().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  async renewSession() {
    try {
      const session = await createSession(this.session.nickname);
      this.useSession(session);
      this.socket.reconnectNow();
    } catch (error) {
      if (error instanceof ApiError && error.status === 422) {
        const session = await this.dialog.open({ required: true, title: "Join the room" });
        this.useSession(session);
        this.socket.reconnectNow();
      }
      // Otherwise the server is unreachable: the socket's own backoff will bring us back.
    }
  }

  async changeNickname() {
    const session = await this.dialog.open({ title: "Change how you appear", submitLabel: "Save" });
    this.dom.input.focus();
    if (!session || !this.socket || session.token === this.session.token) return;
    this.useSession(session);
    // A new token means a new identity: reconnect so the room sees the new name. The close
    // this causes is ours, not an outage (its callbacks run synchronously inside disconnect).
    this.switching = true;
    try {
      this.socket.disconnect();
    } finally {
      this.switching = false;
    }
    this.socket.connect();
  }

  // ---- connection state ----------------------------------------------------------------------

  setConnection(state) {
    const down = state === "down";
    if (down) this.wasDown = true;
    this.dom.banner.hidden = !down;
    document.body.dataset.connection = state;
  }

  showClosed() {
    this.dom.banner.hidden = true;
    this.dom.closedBanner.hidden = false;
    document.body.dataset.connection = "down";
  }

  showExpired() {
    this.expired = true;
    if (this.channel) this.channel.leave();
    if (this.socket) this.socket.disconnect();
    this.dom.banner.hidden = true;
    this.dom.chat.hidden = true;
    if (this.dom.roomBar) this.dom.roomBar.hidden = true;
    this.dom.expired.hidden = false;
    document.body.dataset.connection = "expired";
    document.title = "Room expired · SketchyChat";
    const heading = this.dom.expired.querySelector("h1, h2");
    if (heading) heading.focus();
  }

  // ---- messages ------------------------------------------------------------------------------

  isNearBottom() {
    const log = this.dom.log;
    return log.scrollHeight - log.scrollTop - log.clientHeight <= NEAR_BOTTOM_PX;
  }

  scrollToBottom() {
    this.dom.log.scrollTop = this.dom.log.scrollHeight;
    this.dom.jump.hidden = true;
  }

  /** Append an item to the log, keeping the view pinned only if it already was. */
  appendItem(node, { forceScroll = false, counts = false } = {}) {
    const stick = this.isNearBottom();
    this.dom.log.append(node);
    this.dom.empty.hidden = true;
    // The oldest items go past MAX_ITEMS (the "earlier" button stays first): they can be
    // paged back in.
    while (this.dom.log.childElementCount > MAX_ITEMS + 1) {
      const oldest = this.dom.earlier.nextElementSibling;
      if (oldest.classList.contains("msg")) {
        this.seenIds.delete(oldest.dataset.id);
        this.oldestSeq = Number(oldest.nextElementSibling?.dataset.seq) || this.oldestSeq;
        this.hasMore = Boolean(this.retention && this.retention.kind !== "ephemeral");
      }
      oldest.remove();
    }
    this.updateEarlier();
    if (stick || forceScroll) {
      this.scrollToBottom();
    } else if (counts) {
      this.dom.jump.hidden = false;
    }
  }

  onMessage(payload) {
    if (!payload || typeof payload.body !== "string") return;
    const id = String(payload.id ?? "");
    if (id && this.seenIds.has(id)) return;
    const seq = Number.isInteger(payload.seq) ? payload.seq : null;
    const epoch = typeof payload.epoch === "string" ? payload.epoch : null;
    if (seq !== null && epoch !== null) {
      const last = this.lastShown;
      if (last && last.epoch === epoch && seq <= last.seq) return; // shown already
      if (last && last.epoch !== epoch) {
        // The room's stream was lost and restarted while we stayed connected.
        this.addNotice("Some messages may be missing here.", "gap");
      }
      this.lastShown = { epoch, seq };
      if (this.oldestSeq === null) this.oldestSeq = seq;
      this.remember(epoch, seq);
    }
    if (id) this.seenIds.add(id);
    const userId = String(payload.user_id ?? "");
    const own = this.myIds.has(userId);
    if (this.typers.has(userId)) {
      clearTimeout(this.typers.get(userId).timer);
      this.typers.delete(userId);
      this.renderTyping();
    }
    this.appendItem(this.renderMessage(payload, this.dom.log.lastElementChild), {
      forceScroll: own,
      counts: true,
    });
    if (document.hidden && !own) {
      this.unread += 1;
      document.title = `(${this.unread}) ${this.baseTitle}`;
    }
  }

  /** One message, grouped with `previous` when the same person wrote it just before. */
  renderMessage(payload, previous) {
    const id = String(payload.id ?? "");
    const userId = String(payload.user_id ?? "");
    const nickname = String(payload.nickname ?? "someone");
    const at = typeof payload.at === "number" ? payload.at : Date.now();
    const own = this.myIds.has(userId);
    const classes = ["msg"];
    if (own) classes.push("msg--own");
    if (continues(previous, userId, at)) classes.push("msg--cont");
    const body = el("p", { class: "msg__body" });
    body.append(linkify(payload.body));
    const attrs = { class: classes.join(" "), "data-user-id": userId, "data-at": at, "data-id": id };
    if (Number.isInteger(payload.seq)) attrs["data-seq"] = payload.seq;
    return el(
      "article",
      attrs,
      own ? null : el("span", { class: avatarClass(userId), "aria-hidden": "true", text: initial(nickname) }),
      el(
        "div",
        { class: "msg__bubble" },
        el(
          "p",
          { class: "msg__meta" },
          el("span", { class: "msg__author", text: own ? "You" : nickname, title: nickname }),
          " ",
          timeElement(at),
        ),
        body,
      ),
    );
  }

  // ---- scroll-back ---------------------------------------------------------------------------

  updateEarlier() {
    if (this.dom.earlier) {
      this.dom.earlier.hidden = !this.hasMore;
      this.dom.earlier.disabled = this.loadingEarlier;
    }
  }

  /** Page back: the messages before the oldest one shown, put in place above it. */
  loadEarlier() {
    if (!this.hasMore || this.loadingEarlier || !this.channel || !this.channel.canPush()) return;
    this.loadingEarlier = true;
    this.updateEarlier();
    const before = this.oldestSeq ?? (this.position ? this.position.seq + 1 : undefined);
    const done = () => {
      this.loadingEarlier = false;
      this.updateEarlier();
    };
    this.channel
      .push("history", before ? { before, limit: PAGE } : { limit: PAGE })
      .receive("ok", (response) => {
        this.prependMessages(Array.isArray(response?.messages) ? response.messages : []);
        this.hasMore = Boolean(response?.more);
        done();
      })
      .receive("error", () => {
        this.hasMore = false;
        done();
      })
      .receive("timeout", done);
  }

  prependMessages(messages) {
    const log = this.dom.log;
    const fresh = messages.filter((m) => m && typeof m.body === "string" && !this.seenIds.has(String(m.id ?? "")));
    if (fresh.length === 0) return;
    const anchor = this.dom.earlier.nextElementSibling;
    const fromBottom = log.scrollHeight - log.scrollTop;
    let previous = null;
    for (const message of fresh) {
      const node = this.renderMessage(message, previous);
      log.insertBefore(node, anchor);
      this.seenIds.add(String(message.id ?? ""));
      previous = node;
    }
    if (anchor && anchor.classList.contains("msg")) {
      anchor.classList.toggle(
        "msg--cont",
        continues(previous, anchor.dataset.userId, Number(anchor.dataset.at)),
      );
    }
    this.oldestSeq = Number.isInteger(fresh[0].seq) ? fresh[0].seq : this.oldestSeq;
    this.dom.empty.hidden = true;
    log.scrollTop = log.scrollHeight - fromBottom; // the reader stays where they were
  }

  addNotice(text, kind = "presence") {
    const notice = el("p", { class: `notice notice--${kind}` }, el("span", { text }));
    this.appendItem(notice);
  }

  sendMessage() {
    const body = this.dom.input.value;
    if (!body.trim()) {
      this.dom.input.focus();
      return;
    }
    if (codePoints(body) > BODY_LIMIT) {
      this.setComposerStatus(ERROR_TEXT.body_too_long, true);
      return;
    }
    this.dom.input.value = "";
    this.updateCounter();
    this.lastTypingSent = 0;
    const restore = (message) => {
      if (!this.dom.input.value) {
        this.dom.input.value = body;
        this.updateCounter();
      }
      this.setComposerStatus(message, true);
    };
    const queued = !this.channel.canPush();
    if (queued) {
      this.setComposerStatus("Not connected: your message will be sent when the connection is back.");
    }
    this.channel
      .push("new_msg", { body })
      .receive("ok", () => {
        if (queued && !this.dom.status.classList.contains("composer__status--error")) {
          this.setComposerStatus("");
        }
      })
      .receive("error", (response) => {
        const reason = response && response.reason;
        restore((response && response.message) || ERROR_TEXT[reason] || "Your message was not sent.");
      })
      .receive("timeout", () => restore("Not sent: the connection was lost. Try again."));
  }

  setComposerStatus(message, isError = false) {
    this.dom.status.textContent = message;
    this.dom.status.classList.toggle("composer__status--error", isError);
    this.dom.status.hidden = !message;
  }

  updateCounter() {
    const length = codePoints(this.dom.input.value);
    if (length >= COUNTER_FROM) {
      const left = BODY_LIMIT - length;
      this.setComposerStatus(
        left >= 0
          ? `${left.toLocaleString("en")} characters left`
          : `Too long by ${(-left).toLocaleString("en")} characters`,
        left < 0,
      );
    } else {
      this.setComposerStatus("");
    }
  }

  // ---- typing --------------------------------------------------------------------------------

  onInput() {
    this.updateCounter();
    const now = Date.now();
    if (
      this.dom.input.value.trim() &&
      now - this.lastTypingSent >= TYPING_SEND_EVERY_MS &&
      this.channel &&
      this.channel.canPush()
    ) {
      this.lastTypingSent = now;
      this.channel.push("typing", {});
    }
  }

  onTyping(payload) {
    if (!payload) return;
    const userId = String(payload.user_id ?? "");
    if (!userId || this.myIds.has(userId)) return;
    const previous = this.typers.get(userId);
    if (previous) clearTimeout(previous.timer);
    const timer = setTimeout(() => {
      this.typers.delete(userId);
      this.renderTyping();
    }, TYPING_SHOW_MS);
    this.typers.set(userId, { nickname: String(payload.nickname ?? "Someone"), timer });
    this.renderTyping();
  }

  renderTyping() {
    const names = [...this.typers.values()].map((t) => t.nickname);
    const node = this.dom.typing;
    clearTimeout(this.typingClearTimer);
    if (names.length === 0) {
      // Fade out, keeping the old text while it does, then clear it.
      node.classList.remove("typing--on");
      this.typingClearTimer = setTimeout(() => {
        if (this.typers.size === 0) node.textContent = "";
      }, 450);
      return;
    }
    let text;
    if (names.length === 1) text = `${names[0]} is typing…`;
    else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
    else if (names.length === 3) text = `${names[0]}, ${names[1]} and ${names[2]} are typing…`;
    else text = "Several people are typing…";
    node.textContent = text;
    node.classList.add("typing--on");
  }

  // ---- presence ------------------------------------------------------------------------------

  onPresenceJoin(key, before, joined) {
    if (before) return; // another tab of someone already here
    if (this.presence.inStateSync) {
      this.recentlyGone.delete(key);
      return;
    }
    const goneAt = this.recentlyGone.get(key);
    this.recentlyGone.delete(key);
    if (this.myIds.has(key) || (goneAt !== undefined && Date.now() - goneAt < REJOIN_GRACE_MS)) {
      return;
    }
    const meta = joined.metas[joined.metas.length - 1];
    this.addNotice(`${meta ? meta.nickname : "Someone"} joined`);
  }

  onPresenceLeave(key, after, left) {
    if (after.metas.length > 0) return; // they still have another tab open
    if (this.typers.has(key)) {
      clearTimeout(this.typers.get(key).timer);
      this.typers.delete(key);
      this.renderTyping();
    }
    if (this.presence.inStateSync) {
      this.recentlyGone.set(key, Date.now());
      return;
    }
    if (this.myIds.has(key)) return;
    const meta = left.metas[left.metas.length - 1];
    this.addNotice(`${meta ? meta.nickname : "Someone"} left`);
  }

  renderOnline() {
    const people = this.presence.list((key, presence) => {
      const metas = presence.metas;
      const latest = metas[metas.length - 1] ?? {};
      const since = Math.min(...metas.map((m) => (typeof m.online_at === "number" ? m.online_at : Infinity)));
      return { key, nickname: String(latest.nickname ?? "Someone"), since, me: this.myIds.has(key) };
    });
    people.sort((a, b) => Number(b.me) - Number(a.me) || a.since - b.since || a.nickname.localeCompare(b.nickname));
    const items = people.map((person) =>
      el(
        "li",
        { class: person.me ? "person person--me" : "person", "data-user-id": person.key },
        el("span", { class: avatarClass(person.key), "aria-hidden": "true", text: initial(person.nickname) }),
        el("span", { class: "person__name", text: person.nickname }),
        person.me ? el("span", { class: "person__you", text: "(you)" }) : null,
      ),
    );
    this.dom.online.replaceChildren(...items);
    this.dom.onlineCount.textContent = String(people.length);
  }

  // ---- UI wiring -----------------------------------------------------------------------------

  bindUi() {
    const { form, input, log, jump, copy } = this.dom;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.sendMessage();
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && !event.altKey) {
        event.preventDefault();
        this.sendMessage();
      }
    });
    input.addEventListener("input", () => this.onInput());
    log.addEventListener("scroll", () => {
      if (this.isNearBottom()) jump.hidden = true;
      if (log.scrollTop < NEAR_TOP_PX) this.loadEarlier();
    });
    this.dom.earlier.addEventListener("click", () => this.loadEarlier());
    jump.addEventListener("click", () => {
      this.scrollToBottom();
      input.focus();
    });
    copy.addEventListener("click", () => this.copyLink());
    document.querySelector("#rejoin").addEventListener("click", () => window.location.reload());
    bindCreateRoom(document.querySelector("#create-error"));
    for (const button of document.querySelectorAll("[data-action=change-nickname]")) {
      button.addEventListener("click", () => this.changeNickname());
    }
    document.addEventListener("visibilitychange", () => {
      if (document.hidden) return;
      this.unread = 0;
      document.title = this.baseTitle;
      if (this.socket && !this.expired) this.socket.reconnectNow();
    });
    window.addEventListener("online", () => {
      if (this.socket && !this.expired) this.socket.reconnectNow();
    });
    window.addEventListener("pagehide", (event) => {
      if (this.socket && event.persisted) this.socket.disconnect();
    });
    window.addEventListener("pageshow", (event) => {
      if (this.socket && event.persisted && !this.expired) this.socket.connect();
    });
  }

  async copyLink() {
    const url = new URL(roomPath(this.code), window.location.origin).href;
    const ok = await copyText(url);
    const button = this.dom.copy;
    const label = button.querySelector(".btn__label") ?? button;
    label.textContent = ok ? "Copied!" : "Copy failed";
    this.dom.copyStatus.textContent = ok ? "Room link copied to the clipboard." : `Copy this link: ${url}`;
    clearTimeout(this.copyTimer);
    this.copyTimer = setTimeout(() => {
      label.textContent = "Copy link";
      this.dom.copyStatus.textContent = "";
    }, 2000);
  }
}

const code = document.body.dataset.roomCode;
if (code) {
  const app = new RoomApp(code);
  window.sketchychat = app; // handy when debugging from the console
  app.start();
}
