import assert from "node:assert/strict";
import { test } from "node:test";

import { STATIC } from "./harness.mjs";

const { parseRoomInput, tokenExpiry, tokenIsFresh } = await import(STATIC + "/js/session.js");
const ui = await import(STATIC + "/js/ui.js");
const { linkTokens } = ui;
const { encodeParams, reconnectAfterMs, rejoinAfterMs, V2 } = await import(STATIC + "/js/phoenix.js");

test("room input: bare code, path, full link, junk", () => {
  assert.equal(parseRoomInput("  K7M2P9QRSTVW "), "k7m2p9qrstvw");
  assert.equal(parseRoomInput("/r/k7m2p9qrstvw"), "k7m2p9qrstvw");
  assert.equal(parseRoomInput("r/k7m2p9qrstvw/"), "k7m2p9qrstvw");
  assert.equal(parseRoomInput("http://chat.example:4000/r/k7m2p9qrstvw?x=1#y"), "k7m2p9qrstvw");
  assert.equal(parseRoomInput("HTTPS://Chat.Example/r/K7M2P9QRSTVW"), "k7m2p9qrstvw");
  assert.equal(parseRoomInput(""), null);
  assert.equal(parseRoomInput("https://example.com/"), null);
  assert.equal(parseRoomInput("ab cd"), null);
  assert.equal(parseRoomInput("/etc/passwd"), null);
  assert.equal(parseRoomInput("javascript:alert(1)"), null);
});

test("token expiry is read from the base64url JSON payload", () => {
  const b64u = (s) => Buffer.from(s).toString("base64url");
  const token = `${b64u(JSON.stringify({ u: "x", n: "ø", exp: 2000000000 }))}.${b64u("sig")}`;
  assert.equal(tokenExpiry(token), 2000000000);
  assert.equal(tokenIsFresh(token, 1000 * 1000), true);
  assert.equal(tokenIsFresh(token, 2000000000 * 1000), false);
  // A short-lived token (60 s) is renewed 6 s before it expires, not 2 minutes before.
  const short = `${b64u(JSON.stringify({ iat: 1000, exp: 1060 }))}.${b64u("sig")}`;
  assert.equal(tokenIsFresh(short, 1050 * 1000), true);
  assert.equal(tokenIsFresh(short, 1055 * 1000), false);
  assert.equal(tokenExpiry("garbage"), null);
  assert.equal(tokenIsFresh("garbage"), true, "unknown expiry is left to the server");
});

test("links: only http(s), trailing punctuation stays outside", () => {
  const t = linkTokens("see https://example.com/a_(b), and http://x.io. not ftp://y javascript:alert(1)");
  assert.deepEqual(t.filter((x) => x.href).map((x) => [x.text, x.href]),
    [["https://example.com/a_(b)", "https://example.com/a_(b)"], ["http://x.io", "http://x.io/"]]);
  assert.equal(t.map((x) => x.text).join(""), "see https://example.com/a_(b), and http://x.io. not ftp://y javascript:alert(1)");
  assert.deepEqual(linkTokens("(https://a.b/c)").map((x) => x.text), ["(", "https://a.b/c", ")"]);
  assert.deepEqual(linkTokens("<img src=x onerror=alert(1)>"), [{ text: "<img src=x onerror=alert(1)>" }]);
  assert.deepEqual(linkTokens('https://a.b/"><b>').filter((x) => x.href).map((x) => x.href), ["https://a.b/"]);
});

test("avatar colours: always one of the 8 classes, and spread out", () => {
  const { avatarClass } = ui;
  const seen = new Set();
  for (let i = 0; i < 400; i++) {
    const cls = avatarClass(`u_${i.toString(36)}x${i * 7919}`);
    assert.match(cls, /^avatar avatar--[0-7]$/);
    seen.add(cls);
  }
  assert.equal(seen.size, 8);
});

test("backoff schedules", () => {
  assert.deepEqual([1,2,3,4,5,6,7,8,9,10,11].map(reconnectAfterMs), [10,50,100,150,200,250,500,1000,2000,5000,5000]);
  assert.deepEqual([1,2,3,4,5].map(rejoinAfterMs), [1000,2000,5000,10000,10000]);
});

test("params and the V2 serializer", () => {
  assert.equal(encodeParams({ token: "a b&c", o: { x: 1 }, n: null }), "token=a%20b%26c&o%5Bx%5D=1");
  assert.equal(V2.encode({ joinRef: "3", ref: "4", topic: "t", event: "e", payload: { a: 1 } }), '["3","4","t","e",{"a":1}]');
  assert.deepEqual(V2.decode('[null,"9","phoenix","phx_reply",{"status":"ok","response":{}}]'),
    { joinRef: null, ref: "9", topic: "phoenix", event: "phx_reply", payload: { status: "ok", response: {} } });
});
