"""Privacy is a feature: message bodies and tokens never reach the logs."""

from __future__ import annotations

from sketchychat.rooms.codes import RoomCodes
from tests.support.phx import PhxClient, new_room, new_session
from tests.support.server import DEFAULT_SECRET, ServerProcess


async def test_bodies_and_tokens_never_reach_the_log_even_at_debug_level() -> None:
    marker = "s3cret-body-7f3a"
    with ServerProcess(env={"SKETCHYCHAT_LOG_LEVEL": "debug"}) as srv:
        code = await new_room(srv.url)
        session = await new_session(srv.url, "alice")
        client = await PhxClient.connect(srv.ws_url, session["token"])
        join_ref, _ = await client.join(f"room:{code}")
        for payload in ({"body": marker}, {"body": marker * 2000}, {"body": 7, "x": marker}):
            ref = await client.push(f"room:{code}", "new_msg", payload, join_ref=join_ref)
            await client.reply(ref)
        await client.ws.send(marker + " not json")
        # A code this secret issued but the node never saw is revived, and that is logged.
        revived = RoomCodes(DEFAULT_SECRET).mint()
        _, reply = await client.join(f"room:{revived}")
        assert reply[4]["status"] == "ok"
        await client.event("phoenix", "error")
        await client.close()
        srv.stop()
        log = "\n".join(srv.lines)
        assert marker not in log
        assert session["token"] not in log
        assert session["token"].split(".")[1] not in log
        # A room code is a capability: logs keep only its first three characters.
        assert code not in log and revived not in log
        assert f"reviving room {revived[:3]}…" in log
