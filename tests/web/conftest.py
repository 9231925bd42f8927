"""Browser fixtures: Playwright (sync API) driving Debian's Chromium, headless.

Never downloads a browser: Chromium comes from the system package (``apt-get install
chromium``). Without it, or without the ``playwright`` package, browser tests are skipped
with the reason, unless ``SKETCHYCHAT_TEST_REQUIRE_ALL=1`` turns the skip into a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from tests.support.needs import missing
from tests.support.server import ServerProcess

if TYPE_CHECKING:
    from playwright.sync_api import (
        Browser,
        BrowserContext,
        ConsoleMessage,
        Dialog,
        Page,
        ViewportSize,
    )

CHROMIUM_CANDIDATES = (
    os.environ.get("SKETCHYCHAT_TEST_CHROMIUM", ""),
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    for candidate in CHROMIUM_CANDIDATES:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("chromium")
    return found


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright is not installed (pip install playwright; no browser download)")
        raise  # unreachable: missing() always raises
    executable = chromium_path()
    if executable is None:
        missing("Chromium is not installed (apt-get install chromium)")
        raise AssertionError("unreachable")
    with sync_playwright() as pw:
        instance = pw.chromium.launch(
            executable_path=executable,
            headless=True,
            args=CHROMIUM_ARGS,
        )
        try:
            yield instance
        finally:
            instance.close()


@dataclass
class PageProblems:
    """What a page did that no page of ours should do."""

    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert not self.dialogs, f"a dialog fired: {self.dialogs}"
        assert not self.errors, f"uncaught page errors: {self.errors}"
        bad = [m for m in self.console_errors if _is_real_console_error(m)]
        assert not bad, f"console errors: {bad}"


def _is_real_console_error(text: str) -> bool:
    # The browser logs refused WebSocket upgrades and failed fetches while a server restarts;
    # those are the scenario, not a bug. CSP violations and script errors are bugs.
    expected = (
        "WebSocket connection to",
        "Failed to load resource",
        "net::ERR_CONNECTION_REFUSED",
    )
    return not any(part in text for part in expected)


class Browsing:
    """Opens browser contexts (one per simulated person) and checks them at the end."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.contexts: list[BrowserContext] = []
        self.problems: dict[int, PageProblems] = {}

    def person(
        self,
        base_url: str,
        *,
        color_scheme: str = "light",
        viewport: dict[str, int] | None = None,
        **options: Any,
    ) -> BrowserContext:
        context = self.browser.new_context(
            base_url=base_url,
            color_scheme=color_scheme,  # type: ignore[arg-type]
            viewport=cast("ViewportSize", viewport or {"width": 1200, "height": 800}),
            reduced_motion="reduce",
            **options,
        )
        context.set_default_timeout(10_000)
        context.on("page", self.watch)
        self.contexts.append(context)
        return context

    def page(self, base_url: str, **options: Any) -> Page:
        return self.person(base_url, **options).new_page()

    def watch(self, page: Page) -> None:
        problems = self.problems.setdefault(id(page), PageProblems())

        def on_dialog(dialog: Dialog) -> None:
            problems.dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                problems.console_errors.append(message.text)

        page.on("dialog", on_dialog)
        page.on("pageerror", lambda exc: problems.errors.append(str(exc)))
        page.on("console", on_console)

    def close(self) -> None:
        for context in self.contexts:
            context.close()
        self.contexts.clear()

    def assert_clean(self) -> None:
        for problems in self.problems.values():
            problems.assert_clean()


@pytest.fixture
def browsing(browser: Browser) -> Iterator[Browsing]:
    session = Browsing(browser)
    try:
        yield session
        session.assert_clean()
    finally:
        session.close()


@pytest.fixture(scope="module")
def web_server() -> Iterator[ServerProcess]:
    """One server for the module; tests are isolated by room."""
    with ServerProcess() as proc:
        yield proc


@pytest.fixture
def screenshot_dir(tmp_path: Path) -> Path:
    """Where screenshots go: ``SKETCHYCHAT_TEST_SCREENSHOTS_DIR`` (e.g. docs/screenshots) or tmp."""
    target = os.environ.get("SKETCHYCHAT_TEST_SCREENSHOTS_DIR")
    path = Path(target) if target else tmp_path / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


ServerFactory = Callable[..., ServerProcess]
