import assert from "node:assert/strict";
import { test } from "node:test";

import { STATIC } from "./harness.mjs";

const { Presence } = await import(STATIC + "/js/phoenix.js");

const m = (ref, extra = {}) => ({ phx_ref: ref, nickname: "n" + ref, online_at: 1, ...extra });

test("syncState from empty reports joins for every key", () => {
  const joins = [];
  const s = Presence.syncState(new Map(), { u1: { metas: [m("a")] }, u2: { metas: [m("b"), m("c")] } },
    (k, before, p) => joins.push([k, before, p.metas.length]));
  assert.deepEqual(joins, [["u1", undefined, 1], ["u2", undefined, 2]]);
  assert.deepEqual([...s.keys()], ["u1", "u2"]);
});

test("resync: the traced example (AAAA vs CCCC, u2 gone)", () => {
  const old = Presence.syncState(new Map(), { u1: { metas: [m("CCCC")] }, u2: { metas: [m("BBBB")] } });
  const events = [];
  const s = Presence.syncState(old, { u1: { metas: [m("AAAA")] } },
    (k, before, p) => events.push(["join", k, p.metas.map((x) => x.phx_ref)]),
    (k, after, left) => events.push(["leave", k, left.metas.map((x) => x.phx_ref), after.metas.length]));
  assert.deepEqual(events, [["join", "u1", ["AAAA"]], ["leave", "u2", ["BBBB"], 0], ["leave", "u1", ["CCCC"], 1]]);
  assert.deepEqual(Presence.list(s, (k, p) => [k, p.metas.map((x) => x.phx_ref)]), [["u1", ["AAAA"]]]);
});

test("syncDiff: joins first, then leaves; second tab keeps the key", () => {
  let s = Presence.syncState(new Map(), { u1: { metas: [m("a")] } });
  const ev = [];
  s = Presence.syncDiff(s, { joins: { u1: { metas: [m("b")] } }, leaves: {} },
    (k, before) => ev.push(["join", k, Boolean(before)]));
  assert.deepEqual(s.get("u1").metas.map((x) => x.phx_ref), ["a", "b"]);
  s = Presence.syncDiff(s, { joins: {}, leaves: { u1: { metas: [m("a")] } } }, undefined,
    (k, after) => ev.push(["leave", k, after.metas.length]));
  assert.deepEqual(ev, [["join", "u1", true], ["leave", "u1", 1]]);
  s = Presence.syncDiff(s, { joins: {}, leaves: { u1: { metas: [m("b")] } } }, undefined,
    (k, after) => ev.push(["leave", k, after.metas.length]));
  assert.equal(s.size, 0);
  assert.deepEqual(ev.at(-1), ["leave", "u1", 0]);
});

test("update = leave old meta + join new one with phx_ref_prev", () => {
  let s = Presence.syncState(new Map(), { u1: { metas: [m("A")] } });
  s = Presence.syncDiff(s, { joins: { u1: { metas: [m("C", { phx_ref_prev: "A", nickname: "new" })] } },
                            leaves: { u1: { metas: [m("A")] } } });
  assert.deepEqual(s.get("u1").metas.map((x) => [x.phx_ref, x.nickname]), [["C", "new"]]);
});

test("leave of an unknown key is ignored; __proto__ is a normal key", () => {
  let s = Presence.syncDiff(new Map(), { joins: {}, leaves: { ghost: { metas: [m("z")] } } });
  assert.equal(s.size, 0);
  s = Presence.syncState(new Map(), JSON.parse('{"__proto__": {"metas": [{"phx_ref": "p"}]}}'));
  assert.deepEqual([...s.keys()], ["__proto__"]);
  assert.equal(({}).metas, undefined);
});

test("Presence buffers diffs until the state of the current join", () => {
  // A minimal channel: joinRef() and on(event, cb).
  const handlers = {};
  const channel = { ref: "7", joinRef() { return this.ref; }, on(e, cb) { handlers[e] = cb; } };
  const p = new Presence(channel);
  let syncs = 0; const joins = [];
  p.onSync(() => syncs++);
  p.onJoin((k, before) => joins.push([k, Boolean(before), p.inStateSync]));
  handlers.presence_diff({ joins: { u2: { metas: [m("b")] } }, leaves: {} });
  assert.equal(syncs, 0, "no sync before state");
  handlers.presence_state({ u1: { metas: [m("a")] } });
  assert.equal(syncs, 1);
  assert.deepEqual(p.list((k) => k), ["u1", "u2"]);
  assert.deepEqual(joins, [["u1", false, true], ["u2", false, true]]);
  handlers.presence_diff({ joins: { u3: { metas: [m("c")] } }, leaves: {} });
  assert.equal(syncs, 2);
  assert.deepEqual(joins.at(-1), ["u3", false, false]);
  // rejoin: new join_ref, diffs buffer again until the fresh state
  channel.ref = "12";
  handlers.presence_diff({ joins: {}, leaves: { u3: { metas: [m("c")] } } });
  assert.equal(syncs, 2);
  assert.ok(p.inPendingSyncState());
  handlers.presence_state({ u1: { metas: [m("a")] }, u3: { metas: [m("c")] } });
  assert.deepEqual(p.list((k) => k), ["u1"], "buffered leave applied after the state (u2 gone)");
  assert.equal(syncs, 3);
});
