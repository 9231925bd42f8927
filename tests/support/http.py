"""Minimal HTTP calls for tests (stdlib only, run in a thread)."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any

__all__ = ["get_json", "post_json", "request"]


def _request_sync(
    method: str, url: str, body: bytes | None, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers.items()), err.read()


async def request(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    return await asyncio.to_thread(_request_sync, method, url, body, headers or {})


async def post_json(url: str, obj: Any) -> tuple[int, Any]:
    status, _, raw = await request(
        "POST", url, json.dumps(obj).encode(), {"content-type": "application/json"}
    )
    return status, json.loads(raw) if raw else None


async def get_json(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    status, _, raw = await request("GET", url, None, headers)
    return status, json.loads(raw) if raw else None
