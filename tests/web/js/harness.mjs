// Fakes the browser modules are tested with under `node --test`: a clock the test advances
// by hand, a WebSocket whose server side the test plays, and the page's location.

/** The shipped static files, as the browser would load them. */
export const STATIC = new URL("../../../src/sketchychat/web/static", import.meta.url).href;


// Fake clock: setTimeout/clearTimeout under the test's control.
export const clock = {
  now: 0, seq: 0, timers: new Map(),
  advance(ms) {
    const end = this.now + ms;
    for (;;) {
      let next = null;
      for (const [id, t] of this.timers) if (t.at <= end && (!next || t.at < next[1].at)) next = [id, t];
      if (!next) break;
      this.timers.delete(next[0]);
      this.now = next[1].at;
      next[1].fn();
    }
    this.now = end;
  },
  pending() { return [...this.timers.values()].map((t) => t.at - this.now).sort((a, b) => a - b); },
};
globalThis.setTimeout = (fn, ms = 0) => { const id = ++clock.seq; clock.timers.set(id, { fn, at: clock.now + ms }); return id; };
globalThis.clearTimeout = (id) => { clock.timers.delete(id); };

// Fake WebSocket that records frames and lets the test play the server.
export class FakeWS {
  static all = [];
  constructor(url) { this.url = url; this.readyState = 0; this.sent = []; FakeWS.all.push(this); }
  send(data) { if (this.readyState !== 1) throw new Error("send on a closed socket"); this.sent.push(JSON.parse(data)); }
  close(code, reason) { this.readyState = 3; this.closedWith = [code, reason]; }
  // server side
  open() { this.readyState = 1; this.onopen && this.onopen(); }
  recv(frame) { this.onmessage && this.onmessage({ data: JSON.stringify(frame) }); }
  drop(code = 1006) { this.readyState = 3; this.onerror && this.onerror(new Error("x")); this.onclose && this.onclose({ code }); }
  last() { return this.sent[this.sent.length - 1]; }
  take() { const s = this.sent; this.sent = []; return s; }
}
globalThis.location = { protocol: "http:", host: "127.0.0.1:4000", href: "http://127.0.0.1:4000/r/x" };
