"""Templates, static files and the browser modules, without a browser.

The JavaScript parts that need no DOM (the Phoenix client, presence sync, link and room-code
parsing) run under ``node`` with fake timers and a fake WebSocket.
"""

# The embedded JavaScript test scripts have long lines; everything else keeps to 100.
# ruff: noqa: E501

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

import pytest

from sketchychat.web import pages

STATIC = Path(str(resources.files("sketchychat.web").joinpath("static")))
TEMPLATES = ("index.html", "room.html", "gone.html")
ROOM_CODE = "k7m2p9qrstvw"
REQUIRE_ALL = os.environ.get("SKETCHYCHAT_TEST_REQUIRE_ALL") == "1"
#: What the routes pass: the room page its code, the gone page (expired room, or 404) its words.
VALUES = {"room_code": ROOM_CODE, "title": "Room expired", "heading": "This room has expired",
          "text": "It may never have existed."}


# ---- render ------------------------------------------------------------------------------------


def test_csp_is_the_contract_policy() -> None:
    assert pages.CSP == (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    )


def test_template_names_lists_the_three_pages() -> None:
    assert set(TEMPLATES) <= set(pages.template_names())


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_template_renders(name: str) -> None:
    html = pages.render(name, **VALUES).decode("utf-8")
    assert html.startswith("<!doctype html>")
    assert "{{" not in html
    assert "}}" not in html


def test_render_fills_the_room_code() -> None:
    html = pages.render("room.html", room_code=ROOM_CODE).decode()
    assert f'data-room-code="{ROOM_CODE}"' in html
    assert f">{ROOM_CODE}</code>" in html


def test_render_escapes_values_in_text_and_attributes() -> None:
    evil = "\"><script>alert('x')</script>&"
    html = pages.render("room.html", room_code=evil).decode()
    assert "<script>alert" not in html
    assert "&quot;&gt;&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&amp;" in html


def test_render_raises_key_error_for_a_missing_value() -> None:
    with pytest.raises(KeyError, match="room_code"):
        pages.render("room.html")


def test_render_ignores_unused_values() -> None:
    assert pages.render("index.html", room_code="x") == pages.render("index.html")


def test_render_of_unknown_template_fails() -> None:
    with pytest.raises(FileNotFoundError):
        pages.render("nope.html")
    with pytest.raises(FileNotFoundError):
        pages.render("../pages.py")


def test_templates_are_compiled_once() -> None:
    pages.render("index.html")
    first = pages._templates["index.html"]
    pages.render("index.html")
    assert pages._templates["index.html"] is first


def test_placeholder_syntax_allows_spaces() -> None:
    compiled = pages._compile("a{{x}}b{{  y }}c{{ z}}")
    assert compiled == ("a", "x", "b", "y", "c", "z", "")


# ---- static files ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("js/phoenix.js", "text/javascript; charset=utf-8"),
        ("js/room.js", "text/javascript; charset=utf-8"),
        ("css/app.css", "text/css; charset=utf-8"),
        ("favicon.svg", "image/svg+xml; charset=utf-8"),
    ],
)
def test_static_asset_serves_shipped_files(path: str, content_type: str) -> None:
    asset = pages.static_asset(path)
    assert asset is not None
    ctype, body, etag = asset
    assert ctype == content_type
    assert body == (STATIC / path).read_bytes()
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)


def test_static_asset_is_cached_and_etag_is_stable() -> None:
    first = pages.static_asset("js/session.js")
    second = pages.static_asset("js/session.js")
    assert first is not None
    assert first is second
    assert pages.static_asset("js/ui.js") is not None
    assert first[2] != pages.static_asset("js/ui.js")[2]  # type: ignore[index]


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/etc/passwd",
        "\\js\\room.js",
        "../pages.py",
        "js/../../pages.py",
        "js/../js/room.js",
        "js//room.js",
        "js/",
        ".hidden",
        "js/.room.js",
        "js/room.js/",
        "js\\room.js",
        "js/room.js\x00",
        "js",
        "nope.js",
        "js/nope.js",
        "./js/room.js",
        "a" * 300,
    ],
)
def test_static_asset_refuses_unsafe_or_missing_paths(path: str) -> None:
    assert pages.static_asset(path) is None


def test_unknown_extension_is_octet_stream() -> None:
    assert pages._content_type("data.bin") == "application/octet-stream"
    assert pages._content_type("README") == "application/octet-stream"
    assert pages._content_type("x.PNG") == "image/png"


def test_no_hidden_or_junk_files_ship_in_static() -> None:
    for path in STATIC.rglob("*"):
        assert not path.name.startswith("."), path
        assert path.suffix not in {".map", ".orig", ".bak"}, path


# ---- template structure: CSP safety and accessibility ------------------------------------------


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text_by_id: dict[str, str] = {}
        self.label_text: dict[str, str] = {}
        self.button_texts: list[str] = []
        self.inline_script = False
        self._stack: list[tuple[str, dict[str, str]]] = []
        self._texts: list[list[str]] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.append((tag, a))
        if tag == "script":
            self._in_script = True
            self._script_has_src = "src" in a
        if tag not in {"img", "input", "meta", "link", "br", "path", "rect", "circle", "stop"}:
            self._stack.append((tag, a))
            self._texts.append([])

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False
        if not self._stack or self._stack[-1][0] != tag:
            return
        _, a = self._stack.pop()
        text = " ".join("".join(self._texts.pop()).split())
        if self._texts:
            self._texts[-1].append(" " + text + " ")
        if "id" in a:
            self.text_by_id[a["id"]] = text
        if tag == "label" and "for" in a:
            self.label_text[a["for"]] = text
        if tag == "button":
            self.button_texts.append(text)

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_script = True
        if self._texts:
            self._texts[-1].append(data)


def _parse(name: str) -> _Page:
    parser = _Page()
    parser.feed(pages.render(name, **VALUES).decode())
    return parser


@pytest.mark.parametrize("name", TEMPLATES)
def test_templates_obey_the_csp(name: str) -> None:
    page = _parse(name)
    assert not page.inline_script
    scripts = [a for tag, a in page.tags if tag == "script"]
    assert scripts, "every page has its module"
    for attrs in scripts:
        assert attrs.get("type") == "module"
        assert attrs["src"].startswith("/static/js/")
    for tag, attrs in page.tags:
        assert tag != "style", "no <style> element"
        assert "style" not in attrs, f"inline style on <{tag}>"
        assert not any(k.startswith("on") for k in attrs), f"inline handler on <{tag}>"
        for key in ("src", "href", "action", "srcset"):
            value = attrs.get(key, "")
            assert not re.match(r"^(?:[a-z]+:)?//", value, re.I), f"external {key}={value!r}"
            assert not value.lower().startswith("javascript:")


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_static_references_exist(name: str) -> None:
    page = _parse(name)
    for _, attrs in page.tags:
        for key in ("src", "href"):
            value = attrs.get(key, "")
            if value.startswith("/static/"):
                assert pages.static_asset(value.removeprefix("/static/")) is not None, value


@pytest.mark.parametrize("name", TEMPLATES)
def test_templates_are_basic_accessible_documents(name: str) -> None:
    page = _parse(name)
    html_attrs = next(a for tag, a in page.tags if tag == "html")
    assert html_attrs.get("lang") == "en"
    metas = [a for tag, a in page.tags if tag == "meta"]
    assert any(a.get("name") == "viewport" for a in metas)
    assert any(tag == "title" for tag, _ in page.tags)
    assert any(tag == "main" for tag, _ in page.tags)
    assert sum(1 for tag, _ in page.tags if tag == "h1") <= 1 or name == "room.html"
    for tag, attrs in page.tags:
        if tag == "img":
            assert "alt" in attrs
        if tag == "button":
            assert attrs.get("type") in {"button", "submit"}


def test_home_page_labels() -> None:
    page = _parse("index.html")
    assert "Create room" in page.button_texts
    assert page.label_text["nickname"] == "Nickname"
    assert page.label_text["room-input"] == "Room code or link"
    assert "nothing" in page.text_by_id["main"].lower() or "never stored" in page.text_by_id["main"]


def test_room_page_labels() -> None:
    page = _parse("room.html")
    assert page.label_text["message"] == "Message"
    assert page.label_text["nickname"] == "Nickname"
    assert "Send" in page.button_texts
    assert "Copy link" in page.button_texts
    assert "Create a new room" in page.button_texts
    by_id = {a["id"]: (tag, a) for tag, a in page.tags if "id" in a}
    _, log = by_id["log"]
    assert log.get("role") == "log"
    online_tag, online = by_id["online"]
    assert online_tag == "ul"
    assert page.text_by_id[online["aria-labelledby"]] == "Online"
    assert by_id["message"][0] == "textarea"
    assert page.text_by_id["conn-banner"] == "Reconnecting…"


def test_gone_page_offers_a_new_room() -> None:
    page = _parse("gone.html")
    assert "Create a new room" in page.button_texts
    assert "expired" in page.text_by_id["main"]


# ---- the browser modules under node ------------------------------------------------------------

_NODE = shutil.which("node")


def _run_node(tmp_path: Path, script: str) -> None:
    if _NODE is None:
        if REQUIRE_ALL:
            pytest.fail("node is not installed (SKETCHYCHAT_TEST_REQUIRE_ALL=1)")
        pytest.skip("node is not installed")
    prelude = f'const STATIC = {str(STATIC.as_uri())!r};\n'
    path = tmp_path / "test.mjs"
    path.write_text(prelude + _JS_HARNESS + script, encoding="utf-8")
    proc = subprocess.run(
        [_NODE, str(path)], capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ALL OK" in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.parametrize("name", sorted(p.name for p in (STATIC / "js").glob("*.js")))
def test_js_module_parses(name: str) -> None:
    if _NODE is None:
        if REQUIRE_ALL:
            pytest.fail("node is not installed (SKETCHYCHAT_TEST_REQUIRE_ALL=1)")
        pytest.skip("node is not installed")
    proc = subprocess.run(
        [_NODE, "--check", str(STATIC / "js" / name)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_js_imports_resolve() -> None:
    for path in (STATIC / "js").glob("*.js"):
        for target in re.findall(r'from\s+"(\.[^"]+)"', path.read_text()):
            assert (path.parent / target).resolve().is_file(), (path.name, target)


_JS_HARNESS = r"""
import assert from "node:assert/strict";

// Fake clock: setTimeout/clearTimeout under the test's control.
const clock = {
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
class FakeWS {
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

const results = [];
async function test(name, fn) {
  try { await fn(); results.push(`ok - ${name}`); }
  catch (e) { results.push(`FAIL - ${name}\n${e && e.stack}`); }
}
async function done() {
  console.log(results.join("\n"));
  if (results.some((r) => r.startsWith("FAIL"))) process.exit(1);
  console.log("ALL OK");
}
"""


def test_js_presence_sync(tmp_path: Path) -> None:
    _run_node(tmp_path, r"""
const { Presence } = await import(STATIC + "/js/phoenix.js");

const m = (ref, extra = {}) => ({ phx_ref: ref, nickname: "n" + ref, online_at: 1, ...extra });

await test("syncState from empty reports joins for every key", () => {
  const joins = [];
  const s = Presence.syncState(new Map(), { u1: { metas: [m("a")] }, u2: { metas: [m("b"), m("c")] } },
    (k, before, p) => joins.push([k, before, p.metas.length]));
  assert.deepEqual(joins, [["u1", undefined, 1], ["u2", undefined, 2]]);
  assert.deepEqual([...s.keys()], ["u1", "u2"]);
});

await test("resync: the traced example (AAAA vs CCCC, u2 gone)", () => {
  const old = Presence.syncState(new Map(), { u1: { metas: [m("CCCC")] }, u2: { metas: [m("BBBB")] } });
  const events = [];
  const s = Presence.syncState(old, { u1: { metas: [m("AAAA")] } },
    (k, before, p) => events.push(["join", k, p.metas.map((x) => x.phx_ref)]),
    (k, after, left) => events.push(["leave", k, left.metas.map((x) => x.phx_ref), after.metas.length]));
  assert.deepEqual(events, [["join", "u1", ["AAAA"]], ["leave", "u2", ["BBBB"], 0], ["leave", "u1", ["CCCC"], 1]]);
  assert.deepEqual(Presence.list(s, (k, p) => [k, p.metas.map((x) => x.phx_ref)]), [["u1", ["AAAA"]]]);
});

await test("syncDiff: joins first, then leaves; second tab keeps the key", () => {
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

await test("update = leave old meta + join new one with phx_ref_prev", () => {
  let s = Presence.syncState(new Map(), { u1: { metas: [m("A")] } });
  s = Presence.syncDiff(s, { joins: { u1: { metas: [m("C", { phx_ref_prev: "A", nickname: "new" })] } },
                            leaves: { u1: { metas: [m("A")] } } });
  assert.deepEqual(s.get("u1").metas.map((x) => [x.phx_ref, x.nickname]), [["C", "new"]]);
});

await test("leave of an unknown key is ignored; __proto__ is a normal key", () => {
  let s = Presence.syncDiff(new Map(), { joins: {}, leaves: { ghost: { metas: [m("z")] } } });
  assert.equal(s.size, 0);
  s = Presence.syncState(new Map(), JSON.parse('{"__proto__": {"metas": [{"phx_ref": "p"}]}}'));
  assert.deepEqual([...s.keys()], ["__proto__"]);
  assert.equal(({}).metas, undefined);
});

await test("Presence buffers diffs until the state of the current join", () => {
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

await done();
""")


def test_js_helpers(tmp_path: Path) -> None:
    _run_node(tmp_path, r"""
const { parseRoomInput, tokenExpiry, tokenIsFresh } = await import(STATIC + "/js/session.js");
const ui = await import(STATIC + "/js/ui.js");
const { linkTokens } = ui;
const { encodeParams, reconnectAfterMs, rejoinAfterMs, V2 } = await import(STATIC + "/js/phoenix.js");

await test("room input: bare code, path, full link, junk", () => {
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

await test("token expiry is read from the base64url JSON payload", () => {
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

await test("links: only http(s), trailing punctuation stays outside", () => {
  const t = linkTokens("see https://example.com/a_(b), and http://x.io. not ftp://y javascript:alert(1)");
  assert.deepEqual(t.filter((x) => x.href).map((x) => [x.text, x.href]),
    [["https://example.com/a_(b)", "https://example.com/a_(b)"], ["http://x.io", "http://x.io/"]]);
  assert.equal(t.map((x) => x.text).join(""), "see https://example.com/a_(b), and http://x.io. not ftp://y javascript:alert(1)");
  assert.deepEqual(linkTokens("(https://a.b/c)").map((x) => x.text), ["(", "https://a.b/c", ")"]);
  assert.deepEqual(linkTokens("<img src=x onerror=alert(1)>"), [{ text: "<img src=x onerror=alert(1)>" }]);
  assert.deepEqual(linkTokens('https://a.b/"><b>').filter((x) => x.href).map((x) => x.href), ["https://a.b/"]);
});

await test("avatar colours: always one of the 8 classes, and spread out", () => {
  const { avatarClass } = ui;
  const seen = new Set();
  for (let i = 0; i < 400; i++) {
    const cls = avatarClass(`u_${i.toString(36)}x${i * 7919}`);
    assert.match(cls, /^avatar avatar--[0-7]$/);
    seen.add(cls);
  }
  assert.equal(seen.size, 8);
});

await test("backoff schedules", () => {
  assert.deepEqual([1,2,3,4,5,6,7,8,9,10,11].map(reconnectAfterMs), [10,50,100,150,200,250,500,1000,2000,5000,5000]);
  assert.deepEqual([1,2,3,4,5].map(rejoinAfterMs), [1000,2000,5000,10000,10000]);
});

await test("params and the V2 serializer", () => {
  assert.equal(encodeParams({ token: "a b&c", o: { x: 1 }, n: null }), "token=a%20b%26c&o%5Bx%5D=1");
  assert.equal(V2.encode({ joinRef: "3", ref: "4", topic: "t", event: "e", payload: { a: 1 } }), '["3","4","t","e",{"a":1}]');
  assert.deepEqual(V2.decode('[null,"9","phoenix","phx_reply",{"status":"ok","response":{}}]'),
    { joinRef: null, ref: "9", topic: "phoenix", event: "phx_reply", payload: { status: "ok", response: {} } });
});

await done();
""")


def test_js_socket_and_channel(tmp_path: Path) -> None:
    _run_node(tmp_path, r"""
const { Socket } = await import(STATIC + "/js/phoenix.js");

function setup(opts = {}) {
  FakeWS.all = [];
  clock.timers.clear(); // timers of the previous test's sockets
  const socket = new Socket("/socket", { transport: FakeWS, params: () => ({ token: "tok" }), ...opts });
  return socket;
}
const reply = (ws, msg, status, response = {}) => ws.recv([msg[0], msg[1], msg[2], "phx_reply", { status, response }]);

await test("URL carries params then vsn", () => {
  const socket = setup();
  socket.connect();
  assert.equal(FakeWS.all[0].url, "ws://127.0.0.1:4000/socket/websocket?token=tok&vsn=2.0.0");
});

await test("join: refs are strings, join_ref == ref, pushes buffer until joined", () => {
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

await test("push error and timeout replies reach receive hooks", () => {
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

await test("heartbeat every 30 s; a missing reply drops and reconnects", () => {
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

await test("reconnect backoff 10,50,...,2000 then 5000; reset after open; rejoin on open", () => {
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

await test("a server close of any code is not final", () => {
  const socket = setup();
  socket.connect();
  FakeWS.all[0].open();
  FakeWS.all[0].drop(1000);
  clock.advance(10);
  assert.equal(FakeWS.all.length, 2);
});

await test("join error: rejoin after 1, 2, 5, 10 s; leave() stops it", () => {
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

await test("phx_error from the server: rejoin after 1 s with a new join_ref", () => {
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

await test("join timeout sends a leave for that join and retries", () => {
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

await test("disconnect() is final until connect()", () => {
  const socket = setup();
  socket.connect();
  FakeWS.all[0].open();
  socket.disconnect();
  clock.advance(60000);
  assert.equal(FakeWS.all.length, 1);
  socket.connect();
  assert.equal(FakeWS.all.length, 2);
});

await done();
""")
