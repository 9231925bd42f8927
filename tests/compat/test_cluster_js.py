"""The official phoenix.js client across two nodes of one cluster (issue #4)."""

from __future__ import annotations

import json
import subprocess
from contextlib import ExitStack

import pytest

from tests.cluster.redis_support import namespace, purge, require_redis
from tests.compat.test_phoenix_js import SCRIPT
from tests.integration.test_cluster import cluster_env
from tests.support.server import ServerProcess

pytestmark = [pytest.mark.compat, pytest.mark.redis]


def test_phoenix_clients_on_two_nodes_chat_and_see_each_others_presence(node: str) -> None:
    url, ns = require_redis(), namespace()
    env = cluster_env(url, ns)
    with ExitStack() as stack:
        n1 = stack.enter_context(ServerProcess(env=env))
        n2 = stack.enter_context(ServerProcess(env=env))
        proc = subprocess.run(
            [node, str(SCRIPT), "cluster", n1.url, n2.url],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=SCRIPT.parent.parent,
        )
    purge(url, ns)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    result = json.loads(proc.stdout.strip().splitlines()[-1])["result"]
    assert result == {
        "aliceSaw": ["from node 1", "from node 2"],
        "bobSaw": ["from node 1", "from node 2"],
        "presenceOnBob": ["alice", "bob"],
        "presenceOnAliceAfterLeave": ["alice"],
    }
