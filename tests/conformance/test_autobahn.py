"""RFC 6455 conformance: the Autobahn TestSuite fuzzing client against the real endpoint.

Cases 1-7 and 10 run against the default settings; category 9 (messages up to
16 MiB, and 4 MiB messages in up to 65,536 fragments) with the message limit
raised to 16 MiB, since its big messages are above our default on purpose.
Only the application step is replaced, by an echo (``echo_node.py``).

``wstest`` is Python 2.7 only. It is installed once, from pinned versions
(``autobahn-requirements.txt``), into ``~/.cache/sketchychat/autobahn``
(``SKETCHYCHAT_TEST_AUTOBAHN_HOME`` moves it). A machine without Python 2.7 skips
this suite, unless ``SKETCHYCHAT_TEST_REQUIRE_ALL=1``.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.support.needs import missing
from tests.support.server import free_port

pytestmark = pytest.mark.conformance

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
REQUIREMENTS = HERE / "autobahn-requirements.txt"
HOME = Path(
    os.environ.get(
        "SKETCHYCHAT_TEST_AUTOBAHN_HOME", Path.home() / ".cache" / "sketchychat" / "autobahn"
    )
)

#: What a case may report. NON-STRICT is how Autobahn marks a correct answer that
#: came later than it could have (e.g. 1007 once a frame is whole, not mid-frame).
PASSING = {"OK", "NON-STRICT", "INFORMATIONAL"}
PASSING_CLOSE = {"OK", "INFORMATIONAL"}


def _python2() -> str | None:
    """A real Python 2.7 binary (pyenv's shims pick a version by context: not those)."""
    roots = {Path.home() / ".pyenv", Path(os.environ.get("PYENV_ROOT", "/root/.pyenv"))}
    for root in sorted(roots):
        found = sorted(glob.glob(str(root / "versions" / "2.7*" / "bin" / "python2.7")))
        if found:
            return found[-1]
    on_path = shutil.which("python2.7")
    return on_path if on_path and "/shims/" not in on_path else None


def _run(*argv: str | Path, cwd: Path | None = None) -> None:
    subprocess.run([str(a) for a in argv], check=True, capture_output=True, timeout=600, cwd=cwd)


@pytest.fixture(scope="session")
def wstest() -> Path:
    venv = HOME / "py27"
    exe = venv / "bin" / "wstest"
    stamp = venv / "requirements.txt"
    wanted = REQUIREMENTS.read_text()
    if exe.exists() and stamp.exists() and stamp.read_text() == wanted:
        return exe
    python2 = _python2()
    if python2 is None:
        missing("Python 2.7 is not installed: the Autobahn TestSuite (wstest) needs it")
    # virtualenv < 20.22 is the last that builds Python 2.7 environments.
    tool = HOME / "tool"
    if not (tool / "bin" / "virtualenv").exists():
        _run(sys.executable, "-m", "venv", tool)
        _run(tool / "bin" / "pip", "install", "-q", "virtualenv<20.22")
    shutil.rmtree(venv, ignore_errors=True)
    _run(tool / "bin" / "virtualenv", "-q", "-p", python2, venv)
    _run(venv / "bin" / "pip", "install", "-q", "--disable-pip-version-check", "-r", REQUIREMENTS)
    stamp.write_text(wanted)
    return exe


def fuzz(wstest: Path, workdir: Path, cases: list[str], max_frame_size: int) -> dict[str, Any]:
    """Run the fuzzing client on ``cases`` against a fresh echo node; the per-case index."""
    port = free_port()
    node = subprocess.Popen(
        [sys.executable, "-m", "tests.conformance.echo_node", str(port), str(max_frame_size)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert node.stdout is not None
        url = node.stdout.readline().strip()
        assert url.startswith("ws://"), url
        spec = {
            "outdir": str(workdir / "reports"),
            "servers": [{"agent": "sketchychat", "url": url}],
            "cases": cases,
            "exclude-cases": [],
            "exclude-agent-cases": {},
        }
        (workdir / "spec.json").write_text(json.dumps(spec))
        # wstest always exits 0; the verdicts are in index.json.
        subprocess.run(
            [str(wstest), "-m", "fuzzingclient", "-s", "spec.json"],
            cwd=workdir,
            check=True,
            capture_output=True,
            timeout=1800,
        )
    finally:
        node.terminate()
        node.communicate(timeout=10)
    index = json.loads((workdir / "reports" / "index.json").read_text())
    result: dict[str, Any] = index.get("sketchychat", {})
    return result


def verdict(index: dict[str, Any]) -> tuple[str, list[str]]:
    """A one-paragraph summary (recorded in docs/conformance.md) and the failing cases."""
    behavior = Counter(v["behavior"] for v in index.values())
    close = Counter(v["behaviorClose"] for v in index.values())
    failing = sorted(
        (
            cid
            for cid, v in index.items()
            if v["behavior"] not in PASSING or v["behaviorClose"] not in PASSING_CLOSE
        ),
        key=lambda cid: [int(p) for p in cid.split(".")],
    )
    lenient = sorted(
        (cid for cid, v in index.items() if v["behavior"] == "NON-STRICT"),
        key=lambda cid: [int(p) for p in cid.split(".")],
    )
    summary = (
        f"{len(index)} cases; behavior {dict(sorted(behavior.items()))}; "
        f"close {dict(sorted(close.items()))}; NON-STRICT: {', '.join(lenient) or '-'}"
    )
    return summary, [
        f"{cid}: {index[cid]['behavior']}/{index[cid]['behaviorClose']}" for cid in failing
    ]


@pytest.mark.parametrize(
    ("cases", "max_frame_size"),
    [
        (["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "10.*"], 1024 * 1024),
        (["9.*"], 16 * 1024 * 1024),
    ],
    ids=["cases-1-7-10-default-limits", "cases-9-16MiB"],
)
def test_autobahn_fuzzing_client_reports_no_failed_case(
    wstest: Path, tmp_path: Path, cases: list[str], max_frame_size: int
) -> None:
    index = fuzz(wstest, tmp_path, cases, max_frame_size)
    assert index, "no case ran: the endpoint refused the fuzzing client"
    summary, failing = verdict(index)
    print(f"\nAutobahn {' '.join(cases)} (max_frame_size={max_frame_size}): {summary}")
    assert not failing, failing
