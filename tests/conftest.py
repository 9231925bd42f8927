"""Fixtures shared by every suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.server import ServerProcess


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
