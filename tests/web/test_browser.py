"""The web app in a real browser: Playwright (sync API) driving Debian's Chromium, headless.

Each simulated person is a separate browser context (own localStorage, own socket). Locators
are by role and label, so the accessible names the issue asks for are tested too. Every page
is also checked for dialogs, uncaught errors, console errors (CSP violations show up there)
and requests to anything but our own server.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.proxy import TcpProxy
from tests.support.server import ServerProcess, free_port
from tests.web.conftest import Browsing

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

pytestmark = pytest.mark.browser

ROOM_PATH = re.compile(r"/r/([a-z0-9]+)$")


def _expect() -> Any:
    from playwright.sync_api import expect

    return expect


# ---- helpers -----------------------------------------------------------------------------------


def api(base: str, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        base + path,
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def new_room(base: str) -> str:
    status, body = api(base, "POST", "/api/rooms", {})
    assert status == 201, body
    return str(body["code"])


def online(page: Page) -> Locator:
    return page.get_by_role("list", name="Online")


def log(page: Page) -> Locator:
    return page.get_by_role("log")


def enter_nickname(page: Page, nickname: str) -> None:
    """Answer the nickname prompt of a room page and wait until we are in the room."""
    dialog = page.get_by_role("dialog")
    _expect()(dialog).to_be_visible()
    page.get_by_label("Nickname").fill(nickname)
    dialog.get_by_role("button", name="Join").click()
    _expect()(online(page).get_by_text(nickname, exact=True)).to_be_visible()


def send(page: Page, text: str) -> None:
    box = page.get_by_label("Message")
    box.fill(text)
    box.press("Enter")


def message(page: Page, text: str) -> Locator:
    return log(page).locator("article").filter(has_text=text)


def watch_frames(page: Page) -> list[list[Any]]:
    """Every V2 frame the page sends over its WebSockets, decoded."""
    frames: list[list[Any]] = []

    def on_socket(ws: Any) -> None:
        ws.on("framesent", lambda payload: frames.append(json.loads(payload)))

    page.on("websocket", on_socket)
    return frames


# ---- the main scenario -------------------------------------------------------------------------


def test_two_people_chat_live(web_server: ServerProcess, browsing: Browsing) -> None:
    expect = _expect()
    base = web_server.url
    alice = browsing.page(base)
    alice_frames = watch_frames(alice)

    # Alice creates a room in one click and lands on it.
    alice.goto("/")
    expect(alice.get_by_text("never stored")).to_be_visible()
    alice.get_by_role("button", name="Create room").click()
    alice.wait_for_url(ROOM_PATH)
    match = ROOM_PATH.search(alice.url)
    assert match is not None
    code = match.group(1)
    expect(alice.get_by_text(code, exact=True).first).to_be_visible()  # room code shown
    enter_nickname(alice, "Alice")
    expect(online(alice).get_by_role("listitem")).to_have_count(1)

    # Bob joins by pasting the full link on the home page.
    bob_context = browsing.person(base)
    bob = bob_context.new_page()
    bob.goto("/")
    bob.get_by_label("Room code or link").fill(alice.url)
    bob.get_by_role("button", name="Join", exact=True).click()
    bob.wait_for_url(f"**/r/{code}")
    enter_nickname(bob, "Bob")

    # Both see both; Alice sees a join notice; Bob sees none for people already there.
    for page in (alice, bob):
        expect(online(page).get_by_role("listitem")).to_have_count(2)
        expect(online(page)).to_contain_text("Alice")
        expect(online(page)).to_contain_text("Bob")
    expect(log(alice).get_by_text("Bob joined")).to_be_visible()
    expect(log(bob).get_by_text("Alice joined")).to_have_count(0)

    # Typing: Bob sees it while Alice types; Alice's client throttles what it sends.
    before = len(alice_frames)
    alice.get_by_label("Message").press_sequentially("Hello Bob, how are you?", delay=40)
    expect(bob.get_by_text("Alice is typing…")).to_be_visible()
    typing = [f for f in alice_frames[before:] if f[3] == "typing"]
    assert 1 <= len(typing) <= 2, typing
    alice.get_by_label("Message").press("Enter")

    # The message reaches both, sender included; own messages are set apart.
    expect(message(bob, "Hello Bob, how are you?")).to_be_visible()
    own = message(alice, "Hello Bob, how are you?")
    expect(own).to_have_class(re.compile(r"\bmsg--own\b"))
    expect(message(bob, "Hello Bob")).not_to_have_class(re.compile(r"\bmsg--own\b"))
    expect(message(bob, "Hello Bob").locator("time")).to_have_count(1)
    expect(message(bob, "Hello Bob")).to_contain_text("Alice")
    expect(bob.get_by_label("Message")).to_have_value("")

    # Sending a message stops the typing indicator at once.
    expect(bob.locator("#typing")).not_to_have_class(re.compile("typing--on"))

    # Shift+Enter is a new line, Enter sends (Bob's turn, the other way round).
    box = bob.get_by_label("Message")
    box.press_sequentially("Fine thanks")
    box.press("Shift+Enter")
    box.press_sequentially("and you?")
    expect(box).to_have_value("Fine thanks\nand you?")
    box.press("Enter")
    reply = message(alice, "Fine thanks")
    expect(reply).to_be_visible()
    assert reply.locator(".msg__body").inner_text() == "Fine thanks\nand you?"

    # Typing that stops without sending fades a few seconds after the last keystroke.
    alice.get_by_label("Message").press_sequentially("Good", delay=20)
    expect(bob.get_by_text("Alice is typing…")).to_be_visible()
    started = time.monotonic()
    expect(bob.locator("#typing")).to_have_text("", timeout=6000)
    assert 2.0 < time.monotonic() - started < 5.5
    alice.get_by_label("Message").fill("")

    # HTML is shown as text: no element, no script, no dialog (checked by the fixture).
    send(bob, "<img src=x onerror=alert(1)>")
    xss = message(alice, "<img src=x onerror=alert(1)>")
    expect(xss).to_be_visible()
    expect(log(alice).locator("img")).to_have_count(0)
    send(alice, '<b>bold</b> "quotes" & <script>alert(2)</script>')
    expect(message(bob, "<b>bold</b>")).to_contain_text("<script>alert(2)</script>")
    expect(log(bob).locator("b, script")).to_have_count(0)

    # Links become safe links; other schemes stay text.
    send(alice, "Docs: https://example.com/a?b=1&c=2. Not this: javascript:alert(3)")
    link = message(bob, "Docs:").get_by_role("link")
    expect(link).to_have_count(1)
    expect(link).to_have_attribute("href", "https://example.com/a?b=1&c=2")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_text("https://example.com/a?b=1&c=2")

    # A second tab of Bob is the same person: one entry, no notices.
    bob_tab2 = bob_context.new_page()
    bob_tab2.goto(f"/r/{code}")
    expect(online(bob_tab2).get_by_role("listitem")).to_have_count(2)
    expect(bob_tab2.get_by_role("dialog")).to_be_hidden()  # nickname remembered
    expect(online(alice).get_by_role("listitem")).to_have_count(2)
    bob_tab2.close()
    alice.wait_for_timeout(700)
    expect(online(alice).get_by_role("listitem")).to_have_count(2)
    expect(log(alice).get_by_text("Bob joined")).to_have_count(1)
    expect(log(alice).get_by_text("Bob left")).to_have_count(0)

    # Bob closes his tab: Alice sees him leave.
    bob.close()
    expect(log(alice).get_by_text("Bob left")).to_be_visible()
    expect(online(alice).get_by_role("listitem")).to_have_count(1)
    expect(online(alice)).not_to_contain_text("Bob")

    # Refs on the wire are strings; joins carry join_ref == ref.
    for frame in alice_frames:
        assert frame[1] is None or isinstance(frame[1], str), frame
        assert frame[0] is None or isinstance(frame[0], str), frame
        if frame[3] == "phx_join":
            assert frame[0] == frame[1]


def test_long_messages_and_send_errors(web_server: ServerProcess, browsing: Browsing) -> None:
    expect = _expect()
    code = new_room(web_server.url)
    page = browsing.page(web_server.url)
    page.goto(f"/r/{code}")
    enter_nickname(page, "Dana")
    box = page.get_by_label("Message")

    # Whitespace only: nothing is sent.
    box.fill("   \n  ")
    page.get_by_role("button", name="Send").click()
    expect(log(page).locator("article")).to_have_count(0)

    # Over the limit: refused in the browser, text kept, the reason shown.
    box.fill("x" * 4001)
    box.press("Enter")
    expect(page.get_by_text("Messages can be at most 4,000 characters.")).to_be_visible()
    expect(box).to_have_value("x" * 4001)

    # Exactly at the limit: sent.
    box.fill("y" * 4000)
    page.get_by_role("button", name="Send").click()
    expect(log(page).locator("article")).to_have_count(1)
    assert len(log(page).locator(".msg__body").inner_text()) == 4000


# ---- nickname ----------------------------------------------------------------------------------


def test_nickname_prompt_validation_and_memory(
    web_server: ServerProcess,
    browsing: Browsing,
) -> None:
    expect = _expect()
    base = web_server.url
    code = new_room(base)
    page = browsing.page(base)
    page.goto(f"/r/{code}")

    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(page.get_by_label("Nickname")).to_be_focused()
    # The prompt cannot be dismissed while no nickname is known.
    expect(dialog.get_by_role("button", name="Cancel")).to_be_hidden()
    page.keyboard.press("Escape")
    expect(dialog).to_be_visible()

    # Invalid nicknames: the server's own sentence, inline.
    for bad in ("   ", "x" * 33):
        status, body = api(base, "POST", "/api/session", {"nickname": bad})
        assert status == 422
        assert body["error"] == "invalid_nickname"
        page.get_by_label("Nickname").fill(bad)
        dialog.get_by_role("button", name="Join").click()
        expect(dialog.get_by_role("alert")).to_have_text(body["message"])
        expect(page.get_by_label("Nickname")).to_have_attribute("aria-invalid", "true")

    page.get_by_label("Nickname").fill("Carol")
    page.get_by_label("Nickname").press("Enter")
    expect(online(page).get_by_text("Carol")).to_be_visible()
    expect(page.get_by_label("Message")).to_be_focused()

    # Remembered: a reload goes straight in.
    page.reload()
    expect(online(page).get_by_text("Carol")).to_be_visible()
    expect(page.get_by_role("dialog")).to_be_hidden()

    # Changeable from the room: the online list follows.
    page.get_by_role("button", name="Change nickname").click()
    expect(page.get_by_label("Nickname")).to_have_value("Carol")
    page.get_by_label("Nickname").fill("Caroline")
    page.get_by_role("dialog").get_by_role("button", name="Save").click()
    expect(online(page).get_by_text("Caroline")).to_be_visible()
    expect(online(page).get_by_role("listitem")).to_have_count(1)
    expect(page.locator("#me-name")).to_have_text("Caroline")
    send(page, "new name, same me")
    expect(message(page, "new name, same me")).to_have_class(re.compile(r"\bmsg--own\b"))
    expect(log(page).get_by_text("Reconnected.")).to_have_count(0)
    expect(page.get_by_text("Reconnecting…")).to_be_hidden()

    # ... and from the home page, which shows it.
    page.goto("/")
    expect(page.get_by_text("Chatting as")).to_be_visible()
    expect(page.locator("#me-name")).to_have_text("Caroline")
    page.get_by_role("button", name="Change nickname").click()
    page.get_by_label("Nickname").fill("Caro")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#me-name")).to_have_text("Caro")
    expect(page.get_by_role("dialog")).to_be_hidden()


# ---- joining by code, unknown rooms ------------------------------------------------------------


def test_join_by_code_and_unknown_rooms(web_server: ServerProcess, browsing: Browsing) -> None:
    expect = _expect()
    base = web_server.url
    code = new_room(base)
    page = browsing.page(base)
    page.goto("/")
    field = page.get_by_label("Room code or link")

    field.fill("!!!")
    page.get_by_role("button", name="Join", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("room link or type its code")
    expect(field).to_have_attribute("aria-invalid", "true")

    field.fill("zzzzzzzzzzzz")
    page.get_by_role("button", name="Join", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("no room with that code")

    field.fill(f"  {code.upper()}  ")
    page.get_by_role("button", name="Join", exact=True).click()
    page.wait_for_url(f"**/r/{code}")

    # An unknown room's page: 404 with a clear message and a way forward.
    response = page.goto("/r/zzzzzzzzzzzz")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("heading", name="This room has expired")).to_be_visible()
    page.get_by_role("button", name="Create a new room").click()
    page.wait_for_url(ROOM_PATH)
    expect(page.get_by_role("dialog")).to_be_visible()


def test_pages_carry_the_csp(web_server: ServerProcess) -> None:
    code = new_room(web_server.url)
    for path in ("/", f"/r/{code}", "/r/zzzzzzzzzzzz"):
        try:
            with urllib.request.urlopen(web_server.url + path, timeout=5) as response:
                headers = response.headers
        except urllib.error.HTTPError as exc:
            headers = exc.headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert headers["content-type"].startswith("text/html")


# ---- reading older lines -----------------------------------------------------------------------


def test_auto_scroll_does_not_yank_a_reader(web_server: ServerProcess, browsing: Browsing) -> None:
    expect = _expect()
    code = new_room(web_server.url)
    reader = browsing.page(web_server.url, viewport={"width": 900, "height": 600})
    reader.goto(f"/r/{code}")
    enter_nickname(reader, "Reader")
    writer = browsing.page(web_server.url)
    writer.goto(f"/r/{code}")
    enter_nickname(writer, "Writer")

    for n in range(25):
        send(writer, f"line {n}")
    expect(message(reader, "line 24")).to_be_visible()
    at_bottom = "(el) => el.scrollHeight - el.scrollTop - el.clientHeight < 2"
    assert log(reader).evaluate(at_bottom), "follows new lines while at the bottom"

    log(reader).evaluate("(el) => { el.scrollTop = 0; }")
    reader.wait_for_timeout(100)
    send(writer, "line 25")
    expect(message(reader, "line 25")).to_have_count(1)
    assert log(reader).evaluate("(el) => el.scrollTop") == 0, "a reader is not yanked down"
    jump = reader.get_by_role("button", name="New messages")
    expect(jump).to_be_visible()
    jump.click()
    expect(jump).to_be_hidden()
    assert log(reader).evaluate(at_bottom)

    # Own messages always scroll into view.
    log(reader).evaluate("(el) => { el.scrollTop = 0; }")
    send(reader, "my own line")
    expect(message(reader, "my own line")).to_be_in_viewport()


# ---- connection state --------------------------------------------------------------------------


def _restartable(port: int, secret: str) -> ServerProcess:
    return ServerProcess(env={"SKETCHYCHAT_SECRET": secret}, port=port)


def test_reconnects_and_resyncs_after_server_restart(browsing: Browsing) -> None:
    expect = _expect()
    port = free_port()
    secret = "restart-secret-" + "r" * 24
    server = _restartable(port, secret).start()
    try:
        base = server.url
        code = new_room(base)
        alice = browsing.page(base)
        alice.goto(f"/r/{code}")
        enter_nickname(alice, "Alice")
        bob = browsing.page(base)
        bob.goto(f"/r/{code}")
        enter_nickname(bob, "Bob")
        expect(online(alice).get_by_role("listitem")).to_have_count(2)
        send(alice, "before the restart")
        expect(message(bob, "before the restart")).to_be_visible()

        server.stop()
        for page in (alice, bob):
            expect(page.get_by_text("Reconnecting…")).to_be_visible()
        # A message written while offline waits in the client and goes out after the rejoin.
        send(alice, "written while offline")
        expect(alice.get_by_text("will be sent when the connection is back")).to_be_visible()
        server = _restartable(port, secret).start()

        for page in (alice, bob):
            expect(page.get_by_text("Reconnecting…")).to_be_hidden(timeout=15_000)
            expect(online(page).get_by_role("listitem")).to_have_count(2)
            expect(log(page).get_by_text("Reconnected.")).to_be_visible()
        expect(message(alice, "written while offline")).to_be_visible()
        expect(alice.get_by_text("will be sent when the connection is back")).to_be_hidden()
        send(bob, "after the restart")
        expect(message(alice, "after the restart")).to_be_visible()
        send(alice, "still here")
        expect(message(bob, "still here")).to_be_visible()
        # Everyone reconnecting is not announced as leaving and joining again.
        for page, other in ((alice, "Bob"), (bob, "Alice")):
            expect(log(page).get_by_text(f"{other} left")).to_have_count(0)
        expect(log(alice).get_by_text("Bob joined")).to_have_count(1)
    finally:
        server.stop()


def test_new_secret_means_new_session_and_expired_room(browsing: Browsing) -> None:
    expect = _expect()
    port = free_port()
    server = _restartable(port, "first-secret-" + "a" * 24).start()
    try:
        code = new_room(server.url)
        page = browsing.page(server.url)
        page.goto(f"/r/{code}")
        enter_nickname(page, "Eve")
        old_token = page.evaluate("JSON.parse(localStorage['sketchychat:session']).token")

        server.stop()
        expect(page.get_by_text("Reconnecting…")).to_be_visible()
        server = _restartable(port, "second-secret-" + "b" * 24).start()

        # The old token is refused (403 on upgrade, invisible to the page): the page asks
        # GET /api/session, gets 401, takes a new session for the same nickname, rejoins;
        # the room code does not check out under the new secret, so the room is gone.
        expect(page.get_by_role("heading", name="This room has expired")).to_be_visible(
            timeout=20_000,
        )
        expect(page.get_by_text("Reconnecting…")).to_be_hidden()
        new_token = page.evaluate("JSON.parse(localStorage['sketchychat:session']).token")
        assert new_token != old_token
        status, _ = api(server.url, "GET", "/api/rooms/" + code)
        assert status == 404
        page.get_by_role("button", name="Create a new room").click()
        page.wait_for_url(ROOM_PATH)
        expect(online(page).get_by_text("Eve")).to_be_visible()
    finally:
        server.stop()


# ---- phone width and keyboard ------------------------------------------------------------------


def test_phone_width_keyboard_only(web_server: ServerProcess, browsing: Browsing) -> None:
    expect = _expect()
    page = browsing.page(web_server.url, viewport={"width": 375, "height": 740}, has_touch=True)
    page.goto("/")
    no_overflow = "() => document.documentElement.scrollWidth <= window.innerWidth"
    assert page.evaluate(no_overflow)

    # Keyboard only: Tab to "Create room", Enter; type a nickname, Enter; type, Enter.
    create = page.get_by_role("button", name="Create room")
    for _ in range(8):
        page.keyboard.press("Tab")
        if create.evaluate("(el) => el === document.activeElement"):
            break
    expect(create).to_be_focused()
    outline = create.evaluate("(el) => getComputedStyle(el).outlineStyle")
    assert outline != "none", "a visible focus ring"
    page.keyboard.press("Enter")
    page.wait_for_url(ROOM_PATH)
    expect(page.get_by_label("Nickname")).to_be_focused()
    page.keyboard.type("Phone")
    page.keyboard.press("Enter")
    expect(page.get_by_label("Message")).to_be_focused()
    page.keyboard.type("typed on a small screen")
    page.keyboard.press("Enter")
    expect(message(page, "typed on a small screen")).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Send")).to_be_focused()

    assert page.evaluate(no_overflow)
    for locator in (
        page.get_by_label("Message"),
        page.get_by_role("button", name="Send"),
        online(page),
        page.get_by_role("button", name="Copy link"),
    ):
        expect(locator).to_be_in_viewport()

    # Copy link (clipboard, with a fallback) gives feedback.
    page.get_by_role("button", name="Copy link").click()
    expect(page.get_by_role("button", name="Copied!")).to_be_visible()


def test_copy_link_puts_the_room_url_on_the_clipboard(
    web_server: ServerProcess,
    browsing: Browsing,
) -> None:
    expect = _expect()
    code = new_room(web_server.url)
    context = browsing.person(web_server.url, permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.goto(f"/r/{code}")
    enter_nickname(page, "Finn")
    page.get_by_role("button", name="Copy link").click()
    expect(page.get_by_role("button", name="Copied!")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == f"{web_server.url}/r/{code}"


# ---- history and recovery (contract.md §5) ---------------------------------------------------


def test_the_creator_picks_what_a_room_keeps(web_server: ServerProcess, browsing: Browsing) -> None:
    expect = _expect()
    page = browsing.page(web_server.url)
    page.goto("/")
    choice = page.get_by_role("group", name="What the room keeps")
    expect(choice.get_by_role("radio")).to_have_count(3)
    expect(choice.get_by_role("radio", name=re.compile("^Nothing"))).to_be_checked()
    newcomers = choice.get_by_label("People who join later see only what is said after they arrive")
    expect(newcomers).to_be_hidden()  # an ephemeral room has nothing to hide from newcomers
    choice.get_by_role("radio", name=re.compile("^While the room lives")).check()
    expect(newcomers).to_be_visible()
    newcomers.check()
    page.get_by_role("button", name="Create room").click()
    page.wait_for_url(ROOM_PATH)
    match = ROOM_PATH.search(page.url)
    assert match is not None
    expect(page.get_by_text("Kept while this room lives")).to_be_visible()
    status, room = api(web_server.url, "GET", f"/api/rooms/{match.group(1)}")
    assert status == 200
    assert (room["retention"]["kind"], room["retention"]["history"]) == ("memory", "joined")
    enter_nickname(page, "Ada")
    expect(page.get_by_text("Messages are kept in memory while the room lives.")).to_be_visible()


def _memory_room(base: str) -> str:
    status, body = api(base, "POST", "/api/rooms", {"retention": "memory"})
    assert status == 201, body
    return str(body["code"])


def test_a_reload_shows_the_conversation_and_older_messages_scroll_in(
    web_server: ServerProcess, browsing: Browsing, screenshot_dir: Path
) -> None:
    expect = _expect()
    base = web_server.url
    code = _memory_room(base)
    alice = browsing.page(base)
    alice.goto(f"/r/{code}")
    enter_nickname(alice, "Alice")
    expect(alice.get_by_text("Kept while this room lives")).to_be_visible()
    for i in range(60):
        send(alice, f"note {i:02d}")
    expect(message(alice, "note 59")).to_be_visible()

    # A reload shows the conversation again, each message once.
    alice.reload()
    expect(message(alice, "note 59")).to_be_visible()
    expect(message(alice, "note 10")).to_have_count(1)
    expect(message(alice, "note 09")).to_have_count(0)  # older ones are a scroll away
    alice_earlier = log(alice).get_by_role("button", name="Load earlier messages")
    alice_earlier.dispatch_event("click")  # the button works without scrolling too
    expect(message(alice, "note 00")).to_be_attached()
    expect(message(alice, "note 09")).to_have_count(1)

    # A newcomer sees the recent conversation and pages back to the start, in order.
    bob = browsing.page(base)
    bob.goto(f"/r/{code}")
    enter_nickname(bob, "Bob")
    expect(message(bob, "note 59")).to_be_visible()
    earlier = log(bob).get_by_role("button", name="Load earlier messages")
    expect(earlier).to_be_attached()
    bob.screenshot(path=str(screenshot_dir / "room-history.png"))
    log(bob).evaluate("node => { node.scrollTop = 0; }")  # scrolling up pages back by itself
    expect(message(bob, "note 00")).to_be_attached()
    expect(earlier).to_be_hidden()  # nothing older
    bodies = log(bob).locator("article .msg__body").all_inner_texts()
    assert bodies == [f"note {i:02d}" for i in range(60)]


def _alice_behind_a_proxy(
    browsing: Browsing, server: ServerProcess, proxy: TcpProxy
) -> tuple[Page, Page]:
    """One ephemeral room: Alice reaches it through ``proxy`` (a network to cut), Bob directly."""
    code = new_room(server.url)
    alice = browsing.page(proxy.url)
    alice.goto(f"/r/{code}")
    enter_nickname(alice, "Alice")
    bob = browsing.page(server.url)
    bob.goto(f"/r/{code}")
    enter_nickname(bob, "Bob")
    return alice, bob


def test_a_dropped_connection_comes_back_with_what_it_missed(browsing: Browsing) -> None:
    """The network goes (a proxy resets it), Bob talks on, the network comes back."""
    expect = _expect()
    with ServerProcess() as server, TcpProxy(server.port) as proxy:
        alice, bob = _alice_behind_a_proxy(browsing, server, proxy)
        send(bob, "before the tunnel")
        expect(message(alice, "before the tunnel")).to_be_visible()

        proxy.down()
        expect(alice.get_by_text("Reconnecting…")).to_be_visible()
        for text in ("said in the tunnel", "and this too"):
            send(bob, text)
            expect(message(bob, text)).to_be_visible()
        proxy.up()

        expect(alice.get_by_text("Reconnecting…")).to_be_hidden(timeout=15_000)
        expect(log(alice).get_by_text("Reconnected.", exact=True)).to_be_visible()
        expect(message(alice, "and this too")).to_be_visible()
        bodies = log(alice).locator("article .msg__body").all_inner_texts()
        assert bodies == ["before the tunnel", "said in the tunnel", "and this too"]
        expect(log(alice).get_by_text("may be missing")).to_have_count(0)
        send(bob, "live again")
        expect(message(alice, "live again")).to_have_count(1)


def test_a_marker_shows_where_messages_could_not_be_recovered(
    browsing: Browsing, screenshot_dir: Path
) -> None:
    expect = _expect()
    env = {"SKETCHYCHAT_RECOVERY_MESSAGES": "2"}
    with ServerProcess(env=env) as server, TcpProxy(server.port) as proxy:
        alice, bob = _alice_behind_a_proxy(browsing, server, proxy)
        send(bob, "first")
        expect(message(alice, "first")).to_be_visible()
        proxy.down()
        expect(alice.get_by_text("Reconnecting…")).to_be_visible()
        for i in range(5):
            send(bob, f"away {i}")
        expect(message(bob, "away 4")).to_be_visible()
        proxy.up()
        marker = log(alice).get_by_text("Some messages from while you were away may be missing.")
        expect(marker).to_be_visible(timeout=15_000)
        expect(message(alice, "away 4")).to_be_visible()
        bodies = log(alice).locator("article .msg__body").all_inner_texts()
        assert bodies == ["first", "away 3", "away 4"]  # the window held the last two
        alice.screenshot(path=str(screenshot_dir / "room-gap.png"))


# ---- screenshots -------------------------------------------------------------------------------


def test_screenshots(web_server: ServerProcess, browsing: Browsing, screenshot_dir: Path) -> None:
    """The main screens, for the README (set SKETCHYCHAT_TEST_SCREENSHOTS_DIR=docs/screenshots)."""
    expect = _expect()
    base = web_server.url
    desktop = {"width": 1200, "height": 760}

    home = browsing.page(base, viewport=desktop)
    home.goto("/")
    expect(home.get_by_role("button", name="Create room")).to_be_visible()
    home.screenshot(path=str(screenshot_dir / "home.png"))

    code = new_room(base)
    prompt = browsing.page(base, viewport=desktop)
    prompt.goto(f"/r/{code}")
    expect(prompt.get_by_role("dialog")).to_be_visible()
    prompt.get_by_label("Nickname").fill("Maya")
    prompt.screenshot(path=str(screenshot_dir / "nickname-prompt.png"))
    prompt.get_by_role("dialog").get_by_role("button", name="Join").click()
    expect(online(prompt).get_by_text("Maya")).to_be_visible()

    light = prompt
    dark = browsing.page(base, viewport=desktop, color_scheme="dark")
    dark.goto(f"/r/{code}")
    enter_nickname(dark, "Noah")
    phone = browsing.page(base, viewport={"width": 390, "height": 780}, has_touch=True)
    phone.goto(f"/r/{code}")
    enter_nickname(phone, "Sam")

    conversation = [
        (light, "Hey! Is everyone here for the planning call?"),
        (dark, "Yes, just joined. Did you see the draft at https://example.com/draft?"),
        (dark, "I left a few comments on section 2."),
        (phone, "On my phone, but here. Dates first?"),
        (light, "Great. Let's keep it short:\n1. budget\n2. dates\n3. who books the venue"),
    ]
    for page, text in conversation:
        send(page, text)
        for viewer in (light, dark, phone):
            expect(message(viewer, text.splitlines()[0])).to_be_visible()
    light.get_by_label("Message").press_sequentially("I can take the ven", delay=20)
    for viewer in (dark, phone):
        expect(viewer.get_by_text("Maya is typing…")).to_be_visible()
    light.mouse.move(0, 0)
    light.screenshot(path=str(screenshot_dir / "room-light.png"))
    dark.screenshot(path=str(screenshot_dir / "room-dark.png"))
    phone.screenshot(path=str(screenshot_dir / "room-phone.png"))

    phone_home = browsing.page(base, viewport={"width": 390, "height": 780}, has_touch=True)
    phone_home.goto("/")
    phone_home.screenshot(path=str(screenshot_dir / "home-phone.png"), full_page=True)

    gone = browsing.page(base, viewport=desktop)
    gone.goto("/r/zzzzzzzzzzzz")
    expect(gone.get_by_role("heading", name="This room has expired")).to_be_visible()
    gone.screenshot(path=str(screenshot_dir / "room-expired.png"))

    gone_dark = browsing.page(base, viewport=desktop, color_scheme="dark")
    gone_dark.goto("/r/zzzzzzzzzzzz")
    gone_dark.screenshot(path=str(screenshot_dir / "room-expired-dark.png"))

    for name in (
        "home",
        "nickname-prompt",
        "room-light",
        "room-dark",
        "room-phone",
        "home-phone",
        "room-expired",
        "room-expired-dark",
    ):
        assert (screenshot_dir / f"{name}.png").stat().st_size > 5_000, name


def test_reconnecting_banner_screenshot(browsing: Browsing, screenshot_dir: Path) -> None:
    """The "Reconnecting…" state, while the server is down."""
    expect = _expect()
    server = ServerProcess().start()
    try:
        code = new_room(server.url)
        page = browsing.page(server.url, viewport={"width": 1200, "height": 760})
        page.goto(f"/r/{code}")
        enter_nickname(page, "Iris")
        send(page, "Is the server restarting?")
        expect(message(page, "Is the server restarting?")).to_be_visible()
        server.stop()
        expect(page.get_by_text("Reconnecting…")).to_be_visible()
        time.sleep(0.2)
        page.screenshot(path=str(screenshot_dir / "room-reconnecting.png"))
    finally:
        server.stop()
