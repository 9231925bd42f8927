import assert from "node:assert/strict";
import { test } from "node:test";

import { STATIC, clock, FakeWS } from "./harness.mjs";

const { Socket } = await import(STATIC + "/js/phoenix.js");

function setup(opts = {}) {
  FakeWS.all = [];
  clock.timers.clear(); // timers of the previous test's sockets
  const socket = new Socket("/socket", { transport: FakeWS, params: () => ({ token: "tok" }), ...opts });
  return socket;
}
const reply = (ws, msg, status, response = {}) => ws.recv([msg[0], msg[1], msg[2], "phx_reply", { status, response }]);

test("URL carries params then vsn", () => {
  const socket = setup();
  socket.connect();
  assert.equal(FakeWS.all[0].url, "ws://127.0.0.1:4000/socket/websocket?token=tok&vsn=2.0.0");
});

test("join: refs are strings, join_ref == ref, pushes buffer until joined", () => {
  const socket = setup();
  socket.refCounter = 41; // refs never start at 1 in real life either
  const ch = socket.channel("room:abc", {});
  let joined = 0, got = [];
  ch.join().receive("ok", () => joined++);
  const early = ch.push("new_msg", { body: "early" });
  let earlyReply = null;
  early.receive("ok", (r) => { earlyReply = r; });
  ch.on("new_msg", (p) => got.push(p.body));
  socket.connect();
  const ws = FakeWS.all[0];
  ws.open();
  const [join] = ws.take();
  assert.equal(join[3], "phx_join");
  assert.equal(typeof join[0], "string");
  assert.equal(join[0], join[1]);
  assert.equal(join[2], "room:abc");
  reply(ws, join, "ok", { user_id: "u" });
  assert.equal(joined, 1);
  const [push] = ws.take();
  assert.deepEqual(push.slice(2), ["room:abc", "new_msg", { body: "early" }]);
  assert.equal(push[0], join[0], "push carries the current join_ref");
  reply(ws, push, "ok", { id: "m1" });
  assert.deepEqual(earlyReply, { id: "m1" });
  ws.recv([null, null, "room:abc", "new_msg", { body: "broadcast" }]);
  ws.recv(["999", null, "room:abc", "new_msg", { body: "stale" }]);
  ws.recv([join[0], null, "room:other", "new_msg", { body: "other topic" }]);
  assert.deepEqual(got, ["broadcast"]);
});

test("push error and timeout replies reach receive hooks", () => {
  const socket = setup();
  const ch = socket.channel("room:abc", {});
  ch.join();
  socket.connect();
  const ws = FakeWS.all[0]; ws.open();
  reply(ws, ws.take()[0], "ok");
  let err = null, timedOut = false;
  const p = ch.push("new_msg", { body: "" }).receive("error", (r) => { err = r; });
  reply(ws, ws.take()[0], "error", { reason: "invalid_body" });
  assert.deepEqual(err, { reason: "invalid_body" });
  ch.push("new_msg", { body: "x" }, 500).receive("timeout", () => { timedOut = true; });
  clock.advance(499); assert.equal(timedOut, false);
  clock.advance(1); assert.equal(timedOut, true);
});

test("heartbeat every 30 s; a missing reply drops and reconnects", () => {
  const socket = setup();
  socket.connect();
  const ws = FakeWS.all[0]; ws.open();
  clock.advance(29999); assert.equal(ws.sent.length, 0);
  clock.advance(1);
  const hb = ws.take()[0];
  assert.deepEqual([hb[0], hb[2], hb[3], hb[4]], [null, "phoenix", "heartbeat", {}]);
  ws.recv([null, hb[1], "phoenix", "phx_reply", { status: "ok", response: {} }]);
  clock.advance(30000);
  const hb2 = ws.take()[0];
  assert.equal(hb2[3], "heartbeat");
  assert.notEqual(hb2[1], hb[1]);
  clock.advance(30000); // no reply
  assert.deepEqual(ws.closedWith, [1000, "heartbeat timeout"]);
  assert.equal(socket.isConnected(), false);
  clock.advance(10);
  assert.equal(FakeWS.all.length, 2, "reconnected after 10 ms");
});

test("reconnect backoff 10,50,...,2000 then 5000; reset after open; rejoin on open", () => {
  const socket = setup();
  const ch = socket.channel("room:abc", {});
  let oks = 0;
  ch.join().receive("ok", () => oks++);
  socket.connect();
  let ws = FakeWS.all[0]; ws.open();
  const join1 = ws.take()[0];
  reply(ws, join1, "ok");
  ws.drop(1012);
  assert.equal(ch.state, "errored");
  const delays = [];
  for (let i = 0; i < 11; i++) {
    const before = FakeWS.all.length;
    const wait = clock.pending()[0];
    delays.push(wait);
    clock.advance(wait);
    assert.equal(FakeWS.all.length, before + 1);
    FakeWS.all.at(-1).drop();
  }
  assert.deepEqual(delays, [10, 50, 100, 150, 200, 250, 500, 1000, 2000, 5000, 5000]);
  clock.advance(clock.pending()[0]);
  ws = FakeWS.all.at(-1); ws.open();
  const join2 = ws.take()[0];
  assert.equal(join2[3], "phx_join");
  assert.notEqual(join2[0], join1[0], "a rejoin has a new join_ref");
  reply(ws, join2, "ok");
  assert.equal(oks, 2, "ok hooks run again on rejoin");
  ws.drop();
  assert.equal(clock.pending()[0], 10, "tries reset after a successful open");
});

test("a server close of any code is not final", () => {
  const socket = setup();
  socket.connect();
  FakeWS.all[0].open();
  FakeWS.all[0].drop(1000);
  clock.advance(10);
  assert.equal(FakeWS.all.length, 2);
});

test("join error: rejoin after 1, 2, 5, 10 s; leave() stops it", () => {
  const socket = setup();
  const ch = socket.channel("room:gone", {});
  const errors = [];
  ch.join().receive("error", (r) => errors.push(r.reason));
  socket.connect();
  const ws = FakeWS.all[0]; ws.open();
  const waits = [];
  for (let i = 0; i < 5; i++) {
    reply(ws, ws.take()[0], "error", { reason: "not_found" });
    waits.push(clock.pending()[0]);
    clock.advance(waits.at(-1));
  }
  assert.deepEqual(waits, [1000, 2000, 5000, 10000, 10000]);
  assert.equal(errors.length, 5);
  ch.leave();
  const leave = ws.take().find((f) => f[3] === "phx_leave");
  assert.ok(leave);
  reply(ws, leave, "ok");
  assert.equal(ch.state, "closed");
  assert.equal(socket.channels.length, 0);
});

test("phx_error from the server: rejoin after 1 s with a new join_ref", () => {
  const socket = setup();
  const ch = socket.channel("room:abc", {});
  ch.join();
  socket.connect();
  const ws = FakeWS.all[0]; ws.open();
  const join = ws.take()[0];
  reply(ws, join, "ok");
  ws.recv([join[0], join[0], "room:abc", "phx_error", { reason: "channel_crash" }]);
  assert.equal(ch.state, "errored");
  clock.advance(999); assert.equal(ws.sent.length, 0);
  clock.advance(1);
  const again = ws.take()[0];
  assert.equal(again[3], "phx_join");
  assert.notEqual(again[0], join[0]);
  // a phx_close for the old join_ref is stale and ignored
  ws.recv([join[0], join[0], "room:abc", "phx_close", {}]);
  assert.equal(ch.state, "joining");
});

test("join timeout sends a leave for that join and retries", () => {
  const socket = setup();
  const ch = socket.channel("room:abc", {});
  ch.join(1000);
  socket.connect();
  const ws = FakeWS.all[0]; ws.open();
  const join = ws.take()[0];
  clock.advance(1000);
  const leave = ws.take()[0];
  assert.deepEqual([leave[0], leave[3]], [join[0], "phx_leave"]);
  assert.equal(ch.state, "errored");
  clock.advance(1000);
  assert.equal(ws.take()[0][3], "phx_join");
});

test("disconnect() is final until connect()", () => {
  const socket = setup();
  socket.connect();
  FakeWS.all[0].open();
  socket.disconnect();
  clock.advance(60000);
  assert.equal(FakeWS.all.length, 1);
  socket.connect();
  assert.equal(FakeWS.all.length, 2);
});
