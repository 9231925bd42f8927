// A small Phoenix Channels client for SketchyChat, written from the protocol description.
//
// Socket  - one WebSocket, V2 JSON arrays, heartbeat with timeout, reconnect with backoff.
// Channel - join / leave / push with receive("ok" | "error" | "timeout"), push buffering
//           before the join completes, rejoin with backoff, stale join_ref filtering.
// Presence - presence_state / presence_diff sync with diff buffering per join.
//
// Refs and join_refs are opaque strings everywhere: they are compared with ===, never parsed.

export const VSN = "2.0.0";
export const DEFAULT_TIMEOUT = 10000;
export const HEARTBEAT_INTERVAL = 30000;

const RECONNECT_STEPS = [10, 50, 100, 150, 200, 250, 500, 1000, 2000];
const REJOIN_STEPS = [1000, 2000, 5000];

/** Delay before reconnect attempt number `tries` (1-based). */
export function reconnectAfterMs(tries) {
  return RECONNECT_STEPS[tries - 1] ?? 5000;
}

/** Delay before rejoin attempt number `tries` (1-based). */
export function rejoinAfterMs(tries) {
  return REJOIN_STEPS[tries - 1] ?? 10000;
}

export const ChannelState = Object.freeze({
  closed: "closed",
  errored: "errored",
  joined: "joined",
  joining: "joining",
  leaving: "leaving",
});

const EV = Object.freeze({
  join: "phx_join",
  leave: "phx_leave",
  reply: "phx_reply",
  error: "phx_error",
  close: "phx_close",
  heartbeat: "heartbeat",
});

const LIFECYCLE = new Set([EV.join, EV.leave, EV.reply, EV.error, EV.close]);

const WS_OPEN = 1;

/** V2 serializer: [join_ref, ref, topic, event, payload]. */
export const V2 = Object.freeze({
  encode({ joinRef = null, ref = null, topic, event, payload }) {
    return JSON.stringify([joinRef, ref, topic, event, payload ?? {}]);
  },
  decode(text) {
    const frame = JSON.parse(text);
    if (!Array.isArray(frame) || frame.length < 5) throw new Error("not a V2 frame");
    const [joinRef, ref, topic, event, payload] = frame;
    return { joinRef, ref, topic, event, payload };
  },
});

/** Serialize connect params Plug-style: a[b]=c, list[0]=x; vsn goes last. */
export function encodeParams(params, prefix = "") {
  const out = [];
  for (const [key, value] of Object.entries(params ?? {})) {
    const name = prefix ? `${prefix}[${key}]` : key;
    if (value !== null && typeof value === "object") {
      const nested = encodeParams(value, name);
      if (nested) out.push(nested);
    } else if (value !== null && value !== undefined) {
      out.push(`${encodeURIComponent(name)}=${encodeURIComponent(String(value))}`);
    }
  }
  return out.join("&");
}

/** setTimeout with a growing delay; `reset()` forgets the tries. */
class RetryTimer {
  constructor(callback, delayFor) {
    this.callback = callback;
    this.delayFor = delayFor;
    this.tries = 0;
    this.handle = null;
  }

  reset() {
    this.tries = 0;
    this.cancel();
  }

  cancel() {
    if (this.handle !== null) clearTimeout(this.handle);
    this.handle = null;
  }

  get pending() {
    return this.handle !== null;
  }

  schedule() {
    this.cancel();
    this.tries += 1;
    this.handle = setTimeout(() => {
      this.handle = null;
      this.callback();
    }, this.delayFor(this.tries));
  }
}

/** One message a channel sends, waiting for its reply. */
export class Push {
  constructor(channel, event, payload, timeout) {
    this.channel = channel;
    this.event = event;
    this.payload = typeof payload === "function" ? payload : () => payload ?? {};
    this.timeout = timeout;
    this.ref = null;
    this.replyEvent = null;
    this.received = null; // {status, response}
    this.hooks = [];
    this.timer = null;
    this.sent = false;
  }

  /** Register `callback(response)` for a reply status ("ok", "error", ...) or "timeout". */
  receive(status, callback) {
    if (this.received && this.received.status === status) callback(this.received.response);
    this.hooks.push({ status, callback });
    return this;
  }

  send() {
    if (this.received && this.received.status === "timeout") return;
    this.startTimeout();
    this.sent = true;
    this.channel.socket.push({
      topic: this.channel.topic,
      event: this.event,
      payload: this.payload(),
      ref: this.ref,
      joinRef: this.channel.joinRef(),
    });
  }

  resend(timeout) {
    this.timeout = timeout;
    this.reset();
    this.send();
  }

  reset() {
    this.stopListening();
    this.ref = null;
    this.replyEvent = null;
    this.received = null;
    this.sent = false;
  }

  startTimeout() {
    this.stopListening();
    this.ref = this.channel.socket.makeRef();
    this.replyEvent = `chan_reply_${this.ref}`;
    const replyEvent = this.replyEvent;
    this.channel.on(replyEvent, (reply) => {
      this.stopListening();
      this.received = reply;
      for (const hook of this.hooks) {
        if (hook.status === reply.status) hook.callback(reply.response);
      }
    });
    this.timer = setTimeout(() => this.fire("timeout", {}), this.timeout);
  }

  stopListening() {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.replyEvent) this.channel.off(this.replyEvent);
  }

  cancelTimeout() {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Deliver a reply (or a local "timeout") to this push's hooks. */
  fire(status, response) {
    if (this.replyEvent) this.channel.trigger(this.replyEvent, { status, response });
  }
}

export class Channel {
  constructor(topic, params, socket) {
    this.topic = topic;
    this.params = typeof params === "function" ? params : () => params ?? {};
    this.socket = socket;
    this.state = ChannelState.closed;
    this.bindings = [];
    this.bindingRef = 0;
    this.timeout = socket.timeout;
    this.joinedOnce = false;
    this.left = false;
    this.pushBuffer = [];
    this.joinPush = new Push(this, EV.join, () => this.params(), this.timeout);
    this.rejoinTimer = new RetryTimer(() => {
      if (this.socket.isConnected()) this.rejoin();
    }, socket.rejoinAfterMs);

    this.joinPush.receive("ok", () => {
      this.state = ChannelState.joined;
      this.rejoinTimer.reset();
      const buffered = this.pushBuffer;
      this.pushBuffer = [];
      for (const push of buffered) push.send();
    });
    this.joinPush.receive("error", () => {
      this.state = ChannelState.errored;
      if (this.socket.isConnected()) this.rejoinTimer.schedule();
    });
    this.joinPush.receive("timeout", () => {
      // Tell the server to drop the join we gave up on, then try again later.
      const leave = new Push(this, EV.leave, {}, this.timeout);
      leave.send();
      this.state = ChannelState.errored;
      this.joinPush.reset();
      if (this.socket.isConnected()) this.rejoinTimer.schedule();
    });

    this.on(EV.reply, (payload, ref) => {
      this.trigger(`chan_reply_${ref}`, payload);
    });
    this.on(EV.error, (reason) => {
      if (this.state === ChannelState.leaving || this.state === ChannelState.closed) return;
      if (this.state === ChannelState.joining) this.joinPush.reset();
      this.state = ChannelState.errored;
      this.errorReason = reason;
      if (this.socket.isConnected()) this.rejoinTimer.schedule();
    });
    this.on(EV.close, () => {
      this.rejoinTimer.reset();
      this.joinPush.cancelTimeout();
      this.state = ChannelState.closed;
      this.socket.remove(this);
    });
  }

  joinRef() {
    return this.joinPush.ref;
  }

  isJoined() {
    return this.state === ChannelState.joined;
  }

  isJoining() {
    return this.state === ChannelState.joining;
  }

  isErrored() {
    return this.state === ChannelState.errored;
  }

  canPush() {
    return this.socket.isConnected() && this.isJoined();
  }

  /** Join once; the returned push's "ok" hooks run again after every successful rejoin. */
  join(timeout = this.timeout) {
    if (this.joinedOnce) throw new Error(`tried to join ${this.topic} more than once`);
    this.timeout = timeout;
    this.joinedOnce = true;
    this.rejoin();
    return this.joinPush;
  }

  rejoin() {
    if (this.left || this.state === ChannelState.leaving) return;
    this.socket.leaveOpenTopic(this.topic, this);
    this.state = ChannelState.joining;
    this.joinPush.resend(this.timeout);
  }

  /** Leave the topic; the channel is closed when the server answers or the leave times out. */
  leave(timeout = this.timeout) {
    this.rejoinTimer.reset();
    this.joinPush.cancelTimeout();
    this.left = true;
    this.state = ChannelState.leaving;
    const done = () => this.trigger(EV.close, "leave");
    const leavePush = new Push(this, EV.leave, {}, timeout);
    leavePush.receive("ok", done).receive("timeout", done);
    if (this.socket.isConnected()) {
      leavePush.send();
    } else {
      leavePush.startTimeout();
      leavePush.fire("ok", {});
    }
    return leavePush;
  }

  push(event, payload, timeout = this.timeout) {
    if (!this.joinedOnce) throw new Error(`push to ${this.topic} before join()`);
    const push = new Push(this, event, payload, timeout);
    if (this.canPush()) {
      push.send();
    } else {
      push.startTimeout();
      this.pushBuffer.push(push);
    }
    return push;
  }

  /** Listen to an event; returns a ref for off(). */
  on(event, callback) {
    this.bindingRef += 1;
    const ref = this.bindingRef;
    this.bindings.push({ event, ref, callback });
    return ref;
  }

  off(event, ref) {
    this.bindings = this.bindings.filter(
      (b) => !(b.event === event && (ref === undefined || ref === b.ref)),
    );
  }

  onError(callback) {
    return this.on(EV.error, (reason) => callback(reason));
  }

  onClose(callback) {
    return this.on(EV.close, (reason) => callback(reason));
  }

  /** Does an incoming frame belong to this channel object (and to its current join)? */
  isMember(topic, joinRef) {
    if (topic !== this.topic) return false;
    if (joinRef !== null && joinRef !== undefined && joinRef !== "" && joinRef !== this.joinRef()) {
      this.socket.log("channel", `dropping outdated message for ${topic} (join_ref ${joinRef})`);
      return false;
    }
    return true;
  }

  trigger(event, payload, ref, joinRef) {
    for (const binding of this.bindings.slice()) {
      if (binding.event === event) binding.callback(payload, ref, joinRef ?? this.joinRef());
    }
  }
}

export class Socket {
  /**
   * @param {string} endPoint  "/socket", "//host/socket" or "ws(s)://host/socket"
   * @param {object} opts  params (object or function, evaluated on every connect), timeout,
   *   heartbeatIntervalMs, reconnectAfterMs, rejoinAfterMs, transport, logger
   */
  constructor(endPoint, opts = {}) {
    this.endPoint = `${endPoint}/websocket`;
    this.params = typeof opts.params === "function" ? opts.params : () => opts.params ?? {};
    this.timeout = opts.timeout ?? DEFAULT_TIMEOUT;
    this.heartbeatIntervalMs = opts.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL;
    this.reconnectAfterMs = opts.reconnectAfterMs ?? reconnectAfterMs;
    this.rejoinAfterMs = opts.rejoinAfterMs ?? rejoinAfterMs;
    this.transport = opts.transport ?? globalThis.WebSocket;
    this.logger = opts.logger ?? null;
    this.channels = [];
    this.sendBuffer = [];
    this.refCounter = 0;
    this.conn = null;
    this.callbacks = { open: [], close: [], error: [], message: [] };
    this.closedByUs = false;
    this.heartbeatTimer = null;
    this.heartbeatTimeoutTimer = null;
    this.pendingHeartbeatRef = null;
    this.reconnectTimer = new RetryTimer(() => this.connect(), this.reconnectAfterMs);
  }

  log(kind, message, data) {
    if (this.logger) this.logger(kind, message, data);
  }

  makeRef() {
    this.refCounter = this.refCounter >= Number.MAX_SAFE_INTEGER ? 1 : this.refCounter + 1;
    return String(this.refCounter);
  }

  endPointURL() {
    let base = this.endPoint;
    if (!/^wss?:\/\//.test(base)) {
      const loc = globalThis.location;
      const scheme = loc && loc.protocol === "https:" ? "wss:" : "ws:";
      base = base.startsWith("//") ? `${scheme}${base}` : `${scheme}//${loc.host}${base}`;
    }
    const query = encodeParams(this.params());
    return `${base}?${query ? `${query}&` : ""}vsn=${VSN}`;
  }

  isConnected() {
    return this.conn !== null && this.conn.readyState === WS_OPEN;
  }

  connectionState() {
    if (this.conn === null) return "closed";
    return ["connecting", "open", "closing", "closed"][this.conn.readyState] ?? "closed";
  }

  onOpen(callback) {
    this.callbacks.open.push(callback);
  }

  onClose(callback) {
    this.callbacks.close.push(callback);
  }

  onError(callback) {
    this.callbacks.error.push(callback);
  }

  onMessage(callback) {
    this.callbacks.message.push(callback);
  }

  connect() {
    if (this.conn !== null) return;
    this.closedByUs = false;
    this.reconnectTimer.cancel();
    let conn;
    try {
      conn = new this.transport(this.endPointURL());
    } catch (error) {
      this.log("transport", "could not open the socket", error);
      for (const cb of this.callbacks.error) cb(error);
      this.reconnectTimer.schedule();
      return;
    }
    this.conn = conn;
    conn.onopen = () => {
      if (this.conn === conn) this.handleOpen();
    };
    conn.onerror = (error) => {
      if (this.conn === conn) this.handleError(error);
    };
    conn.onmessage = (event) => {
      if (this.conn === conn) this.handleMessage(event.data);
    };
    conn.onclose = (event) => {
      if (this.conn === conn) this.handleClose(event, "connection_closed");
    };
  }

  /** Close on purpose: no reconnect until connect() is called again. */
  disconnect(code = 1000, reason = "") {
    this.closedByUs = true;
    this.reconnectTimer.reset();
    const conn = this.conn;
    if (conn === null) return;
    this.detach(conn);
    try {
      conn.close(code, reason);
    } catch (error) {
      this.log("transport", "close failed", error);
    }
    this.handleClose({ code, reason, wasClean: true }, "connection_closed");
  }

  /** Reconnect now instead of waiting for the backoff (e.g. the page became visible). */
  reconnectNow() {
    if (this.closedByUs || this.isConnected()) return;
    if (this.conn !== null && this.connectionState() === "connecting") return;
    this.reconnectTimer.cancel();
    if (this.conn !== null) this.dropConnection("connection_closed");
    this.reconnectTimer.cancel();
    this.connect();
  }

  detach(conn) {
    conn.onopen = null;
    conn.onerror = null;
    conn.onmessage = null;
    conn.onclose = null;
  }

  /** Abandon the current connection at once (heartbeat timeout) and schedule a reconnect. */
  dropConnection(reason) {
    const conn = this.conn;
    if (conn === null) return;
    this.detach(conn);
    try {
      conn.close(1000, reason === "heartbeat_timeout" ? "heartbeat timeout" : "");
    } catch (error) {
      this.log("transport", "close failed", error);
    }
    this.handleClose({ code: 1000, reason, wasClean: false }, reason);
  }

  handleOpen() {
    this.log("transport", `connected to ${this.endPoint}`);
    this.reconnectTimer.reset();
    this.closedByUs = false;
    const buffered = this.sendBuffer;
    this.sendBuffer = [];
    for (const send of buffered) send();
    this.startHeartbeat();
    for (const channel of this.channels.slice()) {
      if (channel.isErrored()) {
        channel.rejoinTimer.reset();
        channel.rejoin();
      }
    }
    for (const cb of this.callbacks.open) cb();
  }

  handleError(error) {
    this.log("transport", "socket error", error);
    for (const cb of this.callbacks.error) cb(error);
  }

  handleClose(event, reason) {
    this.log("transport", `socket closed (${event && event.code})`);
    this.conn = null;
    this.stopHeartbeat();
    // Anything queued for that connection is moot: joins are redone on the next open.
    this.sendBuffer = [];
    for (const channel of this.channels.slice()) {
      if (channel.isJoined() || channel.isJoining()) {
        channel.trigger(EV.error, { source: "transport", reason });
      }
    }
    if (!this.closedByUs) this.reconnectTimer.schedule();
    for (const cb of this.callbacks.close) cb(event);
  }

  handleMessage(data) {
    if (typeof data !== "string") {
      this.log("transport", "ignoring a binary frame");
      return;
    }
    let msg;
    try {
      msg = V2.decode(data);
    } catch (error) {
      this.log("transport", "undecodable frame", error);
      return;
    }
    if (msg.ref !== null && msg.ref === this.pendingHeartbeatRef) {
      this.heartbeatAcked();
    }
    for (const channel of this.channels.slice()) {
      if (channel.isMember(msg.topic, msg.joinRef)) {
        channel.trigger(msg.event, msg.payload, msg.ref, msg.joinRef);
      }
    }
    for (const cb of this.callbacks.message) cb(msg);
  }

  startHeartbeat() {
    this.stopHeartbeat();
    if (this.heartbeatIntervalMs > 0) {
      this.heartbeatTimer = setTimeout(() => this.sendHeartbeat(), this.heartbeatIntervalMs);
    }
  }

  stopHeartbeat() {
    if (this.heartbeatTimer !== null) clearTimeout(this.heartbeatTimer);
    if (this.heartbeatTimeoutTimer !== null) clearTimeout(this.heartbeatTimeoutTimer);
    this.heartbeatTimer = null;
    this.heartbeatTimeoutTimer = null;
    this.pendingHeartbeatRef = null;
  }

  sendHeartbeat() {
    this.heartbeatTimer = null;
    if (!this.isConnected()) return;
    this.pendingHeartbeatRef = this.makeRef();
    this.push({ topic: "phoenix", event: EV.heartbeat, payload: {}, ref: this.pendingHeartbeatRef });
    this.heartbeatTimeoutTimer = setTimeout(() => {
      this.heartbeatTimeoutTimer = null;
      this.log("transport", "heartbeat timeout");
      this.dropConnection("heartbeat_timeout");
    }, this.heartbeatIntervalMs);
  }

  heartbeatAcked() {
    if (this.heartbeatTimeoutTimer !== null) clearTimeout(this.heartbeatTimeoutTimer);
    this.heartbeatTimeoutTimer = null;
    this.pendingHeartbeatRef = null;
    this.heartbeatTimer = setTimeout(() => this.sendHeartbeat(), this.heartbeatIntervalMs);
  }

  push(msg) {
    const send = () => this.conn.send(V2.encode(msg));
    if (this.isConnected()) {
      send();
    } else {
      this.sendBuffer.push(() => {
        if (this.isConnected()) send();
      });
    }
  }

  channel(topic, params = {}) {
    const channel = new Channel(topic, params, this);
    this.channels.push(channel);
    return channel;
  }

  remove(channel) {
    this.channels = this.channels.filter((c) => c !== channel);
  }

  /** Before a join: another channel object on the same topic leaves first. */
  leaveOpenTopic(topic, except) {
    for (const channel of this.channels) {
      if (channel !== except && channel.topic === topic && (channel.isJoined() || channel.isJoining())) {
        this.log("channel", `leaving duplicate topic ${topic}`);
        channel.leave();
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Presence

function refsOf(presence) {
  return new Set(presence.metas.map((meta) => meta.phx_ref));
}

function clonePresence(presence) {
  return { ...presence, metas: presence.metas.map((meta) => ({ ...meta })) };
}

function entriesOf(stateLike) {
  if (stateLike instanceof Map) return [...stateLike.entries()];
  return Object.entries(stateLike ?? {});
}

/**
 * Presence state for one channel: a Map of key -> {metas: [...]}.
 *
 * onJoin(key, before | undefined, joined), onLeave(key, after, left) and onSync() work as in
 * the Phoenix client. `inStateSync` is true while a full presence_state (and the diffs that
 * were buffered before it) is being applied, so callers can tell a resync from live changes.
 */
export class Presence {
  constructor(channel, opts = {}) {
    const events = opts.events ?? { state: "presence_state", diff: "presence_diff" };
    this.channel = channel;
    this.state = new Map();
    this.pendingDiffs = [];
    this.joinRef = null;
    this.inStateSync = false;
    this.caller = { onJoin: () => {}, onLeave: () => {}, onSync: () => {} };

    channel.on(events.state, (newState) => {
      const { onJoin, onLeave, onSync } = this.caller;
      this.joinRef = this.channel.joinRef();
      this.inStateSync = true;
      try {
        this.state = Presence.syncState(this.state, newState, onJoin, onLeave);
        for (const diff of this.pendingDiffs) {
          this.state = Presence.syncDiff(this.state, diff, onJoin, onLeave);
        }
        this.pendingDiffs = [];
      } finally {
        this.inStateSync = false;
      }
      onSync();
    });

    channel.on(events.diff, (diff) => {
      const { onJoin, onLeave, onSync } = this.caller;
      if (this.inPendingSyncState()) {
        this.pendingDiffs.push(diff);
      } else {
        this.state = Presence.syncDiff(this.state, diff, onJoin, onLeave);
        onSync();
      }
    });
  }

  onJoin(callback) {
    this.caller.onJoin = callback;
  }

  onLeave(callback) {
    this.caller.onLeave = callback;
  }

  onSync(callback) {
    this.caller.onSync = callback;
  }

  /** [chooser(key, presence)] for every key, in insertion order. */
  list(chooser = (key, presence) => presence) {
    return Presence.list(this.state, chooser);
  }

  inPendingSyncState() {
    return this.joinRef === null || this.joinRef !== this.channel.joinRef();
  }

  static list(state, chooser = (key, presence) => presence) {
    return entriesOf(state).map(([key, presence]) => chooser(key, presence));
  }

  /** Apply a full state: work out the joins and leaves against `current`, then sync them. */
  static syncState(current, newState, onJoin = () => {}, onLeave = () => {}) {
    const state = current instanceof Map ? current : new Map(entriesOf(current));
    const incoming = new Map(entriesOf(newState));
    const joins = new Map();
    const leaves = new Map();

    for (const [key, presence] of state) {
      if (!incoming.has(key)) leaves.set(key, presence);
    }
    for (const [key, newPresence] of incoming) {
      const existing = state.get(key);
      if (!existing) {
        joins.set(key, newPresence);
        continue;
      }
      const newRefs = refsOf(newPresence);
      const oldRefs = refsOf(existing);
      const joinedMetas = newPresence.metas.filter((meta) => !oldRefs.has(meta.phx_ref));
      const leftMetas = existing.metas.filter((meta) => !newRefs.has(meta.phx_ref));
      if (joinedMetas.length > 0) joins.set(key, { ...newPresence, metas: joinedMetas });
      if (leftMetas.length > 0) leaves.set(key, { ...clonePresence(existing), metas: leftMetas });
    }
    return Presence.syncDiff(state, { joins, leaves }, onJoin, onLeave);
  }

  /** Apply one diff: joins first, then leaves. Returns a new Map. */
  static syncDiff(current, diff, onJoin = () => {}, onLeave = () => {}) {
    const state = new Map();
    for (const [key, presence] of entriesOf(current)) state.set(key, clonePresence(presence));

    for (const [key, joined] of entriesOf(diff.joins)) {
      const before = state.get(key);
      const next = clonePresence(joined);
      if (before) {
        const joinedRefs = refsOf(next);
        const kept = before.metas.filter((meta) => !joinedRefs.has(meta.phx_ref));
        next.metas = [...kept, ...next.metas];
      }
      state.set(key, next);
      onJoin(key, before, joined);
    }
    for (const [key, left] of entriesOf(diff.leaves)) {
      const existing = state.get(key);
      if (!existing) continue;
      const goneRefs = refsOf(left);
      existing.metas = existing.metas.filter((meta) => !goneRefs.has(meta.phx_ref));
      onLeave(key, existing, left);
      if (existing.metas.length === 0) state.delete(key);
    }
    return state;
  }
}
