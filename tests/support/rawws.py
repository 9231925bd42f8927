"""A raw WebSocket client for tests that must send what no well-behaved library sends.

It writes client frames byte by byte (any opcode, FIN bit, fragment size, or
invalid UTF-8), reads server frames, and reports the close code — the shape of
an attacker or of an old, odd client, over a real TCP socket.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import struct
from dataclasses import dataclass

__all__ = ["RawWebSocket", "ServerFrame", "mask_frame"]

TEXT, BINARY, CONT, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


def mask_frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """One masked client frame (RFC 6455 §5.2, §5.3)."""
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    key = os.urandom(4)
    body = (
        (
            int.from_bytes(payload, "little") ^ int.from_bytes((key * (n // 4 + 1))[:n], "little")
        ).to_bytes(n, "little")
        if n
        else b""
    )
    return head + key + body


@dataclass
class ServerFrame:
    opcode: int
    payload: bytes

    @property
    def close_code(self) -> int | None:
        if self.opcode != CLOSE or len(self.payload) < 2:
            return None
        return int.from_bytes(self.payload[:2], "big")


class RawWebSocket:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(
        cls,
        port: int,
        query: str,
        *,
        path: str = "/socket/websocket",
        headers: dict[str, str] | None = None,
    ) -> RawWebSocket:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path}?{query} HTTP/1.1",
            f"Host: 127.0.0.1:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        status = int(head.split(b" ", 2)[1])
        if status != 101:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            raise ConnectionRefusedError(f"HTTP {status}: {head!r}")
        return cls(reader, writer)

    def send(self, opcode: int, payload: bytes, *, fin: bool = True) -> None:
        self.writer.write(mask_frame(opcode, payload, fin=fin))

    def send_raw(self, data: bytes) -> None:
        self.writer.write(data)

    async def drain(self) -> None:
        await self.writer.drain()

    async def recv(self, timeout: float = 5.0) -> ServerFrame:
        """The next server frame (servers never mask nor fragment here)."""
        async with asyncio.timeout(timeout):
            b0, b1 = await self.reader.readexactly(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", await self.reader.readexactly(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", await self.reader.readexactly(8))[0]
            return ServerFrame(b0 & 0x0F, await self.reader.readexactly(n))

    async def close_code(self, timeout: float = 5.0) -> int | None:
        """Read until the server's Close frame; its code (None if TCP just ended)."""
        try:
            while True:
                frame = await self.recv(timeout)
                if frame.opcode == CLOSE:
                    return frame.close_code
        except asyncio.IncompleteReadError:
            return None

    async def closed_by_server(self, timeout: float = 5.0) -> bool:
        """True once the server has closed the TCP connection."""
        try:
            async with asyncio.timeout(timeout):
                while await self.reader.read(65536):
                    pass
            return True
        except TimeoutError:
            return False

    async def aclose(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()
