"""One Phoenix socket, whatever carries it: messages in, commands run, frames out.

The pure :class:`~sketchychat.protocol.session.Session` decides what each
message means; this class carries it out — it decodes, joins rooms, routes
events to them, and is the :class:`~sketchychat.rooms.peer.Peer` they answer
and broadcast to. Bytes on a connection are its
:class:`~sketchychat.sockets.transport.Transport`'s business: the same socket
runs over a WebSocket today and over long-poll tomorrow (Phoenix keeps
``Phoenix.Socket`` apart from its transports the same way).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sketchychat.auth.tokens import Identity
from sketchychat.protocol.commands import Command, Join, Leave, Reply, Route, Send
from sketchychat.protocol.message import PHOENIX_TOPIC, Frame
from sketchychat.protocol.serializer import DecodeError, Serializer
from sketchychat.protocol.session import Session
from sketchychat.rooms.codes import ROOM_TOPIC_PREFIX, topic_code
from sketchychat.rooms.registry import RoomRegistry
from sketchychat.rooms.room import Room
from sketchychat.sockets.transport import Transport

__all__ = ["PhoenixSocket", "SocketContext"]


def _is_room_topic(topic: str) -> bool:
    """contract.md §4: every ``room:<anything>`` is a room topic; a code that names no
    live room answers ``not_found`` on join, never ``unmatched topic``."""
    return topic.startswith(ROOM_TOPIC_PREFIX)


@dataclass(slots=True)
class SocketContext:
    """What every Phoenix socket of a node shares."""

    registry: RoomRegistry
    max_channels: int = 100
    #: Every open socket, whatever its transport: the idle sweep and the drain walk it.
    sockets: set[PhoenixSocket] = field(default_factory=set)


class PhoenixSocket:
    __slots__ = ("_ctx", "_session", "_transport", "identity", "last_seen", "serializer")

    def __init__(
        self,
        ctx: SocketContext,
        transport: Transport,
        serializer: Serializer,
        identity: Identity,
        *,
        now: float,
    ) -> None:
        self._ctx = ctx
        self._transport = transport
        #: A plain attribute, not a property: rooms read it at every join.
        self.serializer = serializer
        self.identity = identity
        self._session = Session(topic_allowed=_is_room_topic, max_channels=ctx.max_channels)
        self.last_seen = now
        ctx.sockets.add(self)

    @property
    def outlet(self) -> Transport:
        """Rooms deliver broadcasts straight to the transport: no hop through here."""
        return self._transport

    def send(self, frame: Frame) -> None:
        self._transport.send(frame)

    # -- from the transport (sockets.transport.Receiver) ---------------------

    def receive(self, data: bytes, *, binary: bool) -> None:
        try:
            msg = self.serializer.decode(data, binary=binary)
        except DecodeError as err:
            self._bad_frame(err)
            return
        self._run(self._session.handle(msg))

    def ended(self) -> None:
        """No more messages: leave every channel now (idempotent)."""
        self._run(self._session.close())

    def lost(self) -> None:
        self.ended()
        self._ctx.sockets.discard(self)

    # -- from the node --------------------------------------------------------

    def close(self, code: int, reason: str = "") -> None:
        """Server-initiated end. Never 1000: clients ≤ 1.8.15 would not reconnect."""
        self._transport.close(code, reason)

    @property
    def settled(self) -> bool:
        return self._transport.settled

    # -- rooms call these (rooms.peer.Peer) -----------------------------------

    def join_resolved(self, topic: str, join_ref: str | None, ok: bool) -> None:
        if ok:
            self._run(self._session.join_succeeded(topic, join_ref))
        else:
            self._run(self._session.join_failed(topic, join_ref))

    def channel_ended(self, topic: str, join_ref: str | None, crashed: bool) -> None:
        self._run(self._session.channel_ended(topic, join_ref, crashed=crashed))

    # -- running the session's commands ----------------------------------------

    def _bad_frame(self, err: DecodeError) -> None:
        """Answer what can be answered; the socket goes on either way."""
        text = _DECODE_MESSAGES.get(err.reason, "The server could not read that message.")
        response = {"reason": err.reason, "message": text}
        if err.ref is not None:
            self.send(
                self.serializer.encode_reply(
                    err.join_ref, err.ref, err.topic or PHOENIX_TOPIC, "error", response
                )
            )
        else:
            self.send(self.serializer.encode_push(None, None, PHOENIX_TOPIC, "error", response))

    def _run(self, commands: list[Command]) -> None:
        ser = self.serializer
        for cmd in commands:
            if isinstance(cmd, Route):
                self._route(cmd)
            elif isinstance(cmd, Reply):
                self.send(
                    ser.encode_reply(cmd.join_ref, cmd.ref, cmd.topic, cmd.status, cmd.response)
                )
            elif isinstance(cmd, Send):
                self.send(ser.encode_push(cmd.join_ref, cmd.ref, cmd.topic, cmd.event, cmd.payload))
            elif isinstance(cmd, Join):
                self._join(cmd)
            elif isinstance(cmd, Leave):
                room = self._room(cmd.topic)
                if room is not None:
                    room.leave(self, cmd.join_ref)

    def _room(self, topic: str) -> Room | None:
        code = topic_code(topic)
        return None if code is None else self._ctx.registry.get(code)

    def _join(self, cmd: Join) -> None:
        code = topic_code(cmd.topic)
        room = None if code is None else self._ctx.registry.find_for_join(code)
        if room is None or not isinstance(cmd.payload, dict):
            reason = "not_found" if room is None else "invalid_payload"
            message = (
                "This room does not exist or has expired."
                if room is None
                else "Join with a JSON object."
            )
            self.send(
                self.serializer.encode_reply(
                    cmd.join_ref,
                    cmd.ref,
                    cmd.topic,
                    "error",
                    {"reason": reason, "message": message},
                )
            )
            self._run(self._session.join_failed(cmd.topic, cmd.join_ref))
            return
        room.join(self, cmd.join_ref, cmd.ref, self.identity, cmd.payload)

    def _route(self, cmd: Route) -> None:
        room = self._room(cmd.topic)
        if room is None:
            self.send(
                self.serializer.encode_reply(
                    None, cmd.ref, cmd.topic, "error", {"reason": "unmatched topic"}
                )
            )
            return
        room.push(self, cmd.join_ref, cmd.ref, cmd.event, cmd.payload)


_DECODE_MESSAGES = {
    "malformed_json": "That frame is not valid JSON text.",
    "invalid_message": "Messages are [join_ref, ref, topic, event, payload] with a JSON object "
    "payload.",
}
