"""The registry with a shared directory: claims, gated joins, counts, outages."""

from __future__ import annotations

import asyncio

import pytest

from sketchychat.pubsub.base import PubSub
from sketchychat.pubsub.memory import MemoryAdapter
from sketchychat.rooms.codes import RoomCodes
from sketchychat.rooms.registry import DirectoryUnavailable, RoomRegistry, Status
from tests.support.peers import RecordingPeer, who

SECRET = "s" * 32


class FakeDirectory:
    def __init__(self) -> None:
        self.rooms: dict[str, Status] = {}
        self.people: dict[str, int] = {}
        self.down = False
        self.revived: list[str] = []

    def _check(self) -> None:
        if self.down:
            raise DirectoryUnavailable("down")

    async def create(self, code: str, lifetime: float) -> bool:
        self._check()
        if code in self.rooms:
            return False
        self.rooms[code] = "live"
        return True

    async def status(self, code: str) -> Status:
        self._check()
        return self.rooms.get(code, "unknown")

    async def revive(self, code: str, lifetime: float) -> None:
        self._check()
        self.revived.append(code)
        self.rooms[code] = "live"

    async def online(self, code: str) -> int:
        self._check()
        return self.people.get(code, 0)


@pytest.fixture
async def setup() -> tuple[RoomRegistry, FakeDirectory, RoomCodes]:
    pubsub = PubSub("n1", MemoryAdapter())
    await pubsub.start()
    codes = RoomCodes(SECRET)
    directory = FakeDirectory()
    return RoomRegistry(codes, pubsub, idle_timeout=60, directory=directory), directory, codes


async def join(registry: RoomRegistry, code: str) -> RecordingPeer:
    peer = RecordingPeer()
    room = registry.find_for_join(code)
    assert room is not None
    room.join(peer, "1", "1", who("u1", "alice"), {})
    await asyncio.sleep(0.02)
    return peer


async def test_created_codes_are_claimed_and_a_taken_code_is_skipped(
    setup: tuple[RoomRegistry, FakeDirectory, RoomCodes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry, directory, codes = setup
    taken = codes.mint()
    directory.rooms[taken] = "live"
    minted = iter([taken, codes.mint()])
    monkeypatch.setattr(RoomCodes, "mint", lambda self, retention=None: next(minted))
    room = await registry.create_room()
    assert room.code != taken and directory.rooms[room.code] == "live"
    await registry.stop()


async def test_a_room_created_elsewhere_is_joined_here(
    setup: tuple[RoomRegistry, FakeDirectory, RoomCodes],
) -> None:
    registry, directory, codes = setup
    code = codes.mint()
    directory.rooms[code] = "live"
    directory.people[code] = 4
    assert await registry.online(code) == 4  # counted from the directory, not hosted
    peer = await join(registry, code)
    assert peer.resolved[-1][2] is True
    assert await registry.online(code) == 1  # hosted now: the room's own presence
    await registry.stop()


async def test_an_expired_code_is_not_found_and_not_kept(
    setup: tuple[RoomRegistry, FakeDirectory, RoomCodes],
) -> None:
    registry, directory, codes = setup
    code = codes.mint()
    directory.rooms[code] = "expired"
    peer = await join(registry, code)
    assert peer.resolved[-1][2] is False
    assert registry.get(code) is None and await registry.online(code) is None
    await registry.stop()


async def test_a_forgotten_code_of_ours_is_revived(
    setup: tuple[RoomRegistry, FakeDirectory, RoomCodes],
) -> None:
    registry, directory, codes = setup
    code = codes.mint()  # Redis lost it (or its tombstone aged out): rejoin works
    peer = await join(registry, code)
    assert peer.resolved[-1][2] is True and directory.revived == [code]
    assert registry.find_for_join("aaaaaaaaaaaa") is None  # not ours: refused at once
    await registry.stop()


async def test_without_the_directory_the_codes_check_decides(
    setup: tuple[RoomRegistry, FakeDirectory, RoomCodes],
) -> None:
    registry, directory, codes = setup
    directory.down = True
    room = await registry.create_room()  # still works during an outage
    assert room.code not in directory.rooms
    peer = await join(registry, codes.mint())
    assert peer.resolved[-1][2] is True
    await registry.stop()


async def test_local_expiry_leaves_no_tombstone_when_clustered(
    setup: tuple[RoomRegistry, FakeDirectory, RoomCodes],
) -> None:
    registry, _, _ = setup
    room = await registry.create_room()
    await registry.sweep(room.empty_since + 61)  # type: ignore[operator]
    assert registry.get(room.code) is None
    assert registry.revivable(room.code)  # only the directory knows about expiry
    await registry.stop()
