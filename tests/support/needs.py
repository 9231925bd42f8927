"""One rule for tools a suite needs: skip locally, fail in CI.

``SKETCHYCHAT_TEST_REQUIRE_ALL=1`` (set by ``.ci/run``) turns "this machine lacks X,
skipping" into a failure, so a missing install step can never pass as green.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

__all__ = ["REQUIRE_ALL", "missing"]

REQUIRE_ALL = os.environ.get("SKETCHYCHAT_TEST_REQUIRE_ALL") == "1"


def missing(reason: str) -> NoReturn:
    """Skip the test for ``reason``, or fail it when everything is required."""
    if REQUIRE_ALL:
        pytest.fail(f"{reason} (SKETCHYCHAT_TEST_REQUIRE_ALL=1)")
    pytest.skip(reason)
