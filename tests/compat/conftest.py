"""The compat suite needs Node and the pinned npm packages (installed on first use)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.needs import missing

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def node() -> str:
    exe = shutil.which("node")
    npm = shutil.which("npm")
    if exe is None or npm is None:
        missing("node/npm not installed: the phoenix.js compatibility suite cannot run")
    if not (HERE / "node_modules" / "phoenix" / "package.json").exists():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=HERE,
            check=True,
            capture_output=True,
            timeout=300,
        )
    return exe
