"""Templates, static files and the browser modules, without a browser.

The JavaScript parts that need no DOM (the Phoenix client, presence sync, link and room-code
parsing) run under ``node`` with fake timers and a fake WebSocket.
"""

# The embedded JavaScript test scripts have long lines; everything else keeps to 100.

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

import pytest

from sketchychat.web import pages
from tests.support.needs import missing

STATIC = Path(str(resources.files("sketchychat.web").joinpath("static")))
TEMPLATES = ("index.html", "room.html", "gone.html")
ROOM_CODE = "k7m2p9qrstvw"
#: What the routes pass: the room page its code, the gone page (expired room, or 404) its words.
RETENTION = {"retention_kind": "memory", "retention_summary": "Kept while this room lives"}
VALUES = {
    "room_code": ROOM_CODE,
    "title": "Room expired",
    "heading": "This room has expired",
    "text": "It may never have existed.",
    "retentions": "ephemeral,memory,persistent",
    "persistent_summary": "Saved for 30 days",
    **RETENTION,
}


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
    html = pages.render("room.html", room_code=ROOM_CODE, **RETENTION).decode()
    assert f'data-room-code="{ROOM_CODE}"' in html
    assert f">{ROOM_CODE}</code>" in html


def test_render_escapes_values_in_text_and_attributes() -> None:
    evil = "\"><script>alert('x')</script>&"
    html = pages.render("room.html", room_code=evil, **RETENTION).decode()
    assert "<script>alert" not in html
    assert "&quot;&gt;&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&amp;" in html


def test_render_raises_key_error_for_a_missing_value() -> None:
    with pytest.raises(KeyError, match="room_code"):
        pages.render("room.html")


def test_render_ignores_unused_values() -> None:
    gone = {"title": "t", "heading": "h", "text": "x"}
    assert pages.render("gone.html", room_code="x", **gone) == pages.render("gone.html", **gone)


def test_render_of_unknown_template_fails() -> None:
    with pytest.raises(FileNotFoundError):
        pages.render("nope.html")
    with pytest.raises(FileNotFoundError):
        pages.render("../pages.py")


def test_templates_are_compiled_once() -> None:
    pages.render("index.html", **VALUES)
    first = pages._templates["index.html"]
    pages.render("index.html", **VALUES)
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


@pytest.mark.parametrize("name", sorted(p.name for p in (STATIC / "js").glob("*.js")))
def test_js_module_parses(name: str) -> None:
    if _NODE is None:
        missing("node is not installed")
    proc = subprocess.run(
        [_NODE, "--check", str(STATIC / "js" / name)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_js_imports_resolve() -> None:
    for path in (STATIC / "js").glob("*.js"):
        for target in re.findall(r'from\s+"(\.[^"]+)"', path.read_text()):
            assert (path.parent / target).resolve().is_file(), (path.name, target)


JS_TESTS = Path(__file__).parent / "js"


def test_the_browser_modules_pass_their_node_tests() -> None:
    """``tests/web/js/*.test.mjs`` under ``node --test`` (also ``make js``)."""
    if _NODE is None:
        missing("node is not installed")
    proc = subprocess.run(
        [_NODE, "--test", *sorted(str(p) for p in JS_TESTS.glob("*.test.mjs"))],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert "# fail 0" in proc.stdout and "# pass 0" not in proc.stdout
