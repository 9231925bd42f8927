"""Fixtures shared by every suite, and the markers that sort the slow ones out.

Every test under a folder that starts real processes, sockets, browsers or Redis is
marked ``integration`` here, so the fast loop is ``pytest -m "not integration"``
(``make fast``): the pure cores and the in-process units, in seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import ServerProcess

_HERE = Path(__file__).parent
#: Suites that start real server processes, browsers, Node, Redis or wstest.
_INTEGRATION = {"integration", "compat", "web", "conformance", "benchmarks"}
#: Marks that need a real outside service or client, whatever folder they are in.
_OUTSIDE = {"redis", "postgres", "compat", "browser", "conformance"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        folder = Path(str(item.fspath)).relative_to(_HERE).parts[0]
        if folder in _INTEGRATION or _OUTSIDE & {m.name for m in item.iter_markers()}:
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def server() -> Iterator[ServerProcess]:
    """A fresh ``sketchychat serve`` process on a free port (in memory, fixed secret)."""
    with ServerProcess() as proc:
        yield proc


@pytest.fixture(scope="module")
def shared_server() -> Iterator[ServerProcess]:
    """One server for a whole test module, for suites that only need isolation by room."""
    with ServerProcess() as proc:
        yield proc
