"""The connect step every transport runs (protocol.md §1): vsn, then the token."""

from __future__ import annotations

import pytest

from sketchychat.auth.tokens import TokenSigner
from sketchychat.protocol.v1_json import V1_JSON
from sketchychat.protocol.v2_json import V2_JSON
from sketchychat.sockets.connect import Accepted, Connector, ConnectRequest, Refused

NOW = 1_800_000_000.0
signer = TokenSigner("s" * 32, 3600)
connector = Connector(signer)
TOKEN = signer.issue("u_1", "alice", now=NOW)


def test_a_token_in_the_query_opens_a_v2_socket() -> None:
    result = connector.connect(ConnectRequest({"token": TOKEN, "vsn": "2.0.0"}), now=NOW)
    assert isinstance(result, Accepted)
    assert result.serializer is V2_JSON and result.identity.user_id == "u_1"


def test_no_vsn_is_v1() -> None:
    result = connector.connect(ConnectRequest({"token": TOKEN}), now=NOW)
    assert isinstance(result, Accepted) and result.serializer is V1_JSON


def test_a_token_carried_by_the_transport_wins_over_the_query() -> None:
    result = connector.connect(
        ConnectRequest({"token": "junk", "vsn": "2.0.0"}, token=TOKEN), now=NOW
    )
    assert isinstance(result, Accepted)


@pytest.mark.parametrize(
    ("params", "token", "error"),
    [
        ({"vsn": "3.0.0", "token": TOKEN}, None, "unsupported_vsn"),
        ({"vsn": "2.0.0"}, None, "forbidden"),
        ({"vsn": "2.0.0", "token": ""}, None, "forbidden"),
        ({"vsn": "2.0.0", "token": TOKEN + "x"}, None, "forbidden"),
        ({"vsn": "2.0.0"}, "nonsense", "forbidden"),
    ],
)
def test_refusals_are_403_with_a_reason(
    params: dict[str, str], token: str | None, error: str
) -> None:
    result = connector.connect(ConnectRequest(params, token=token), now=NOW)
    assert isinstance(result, Refused)
    assert (result.status, result.error) == (403, error) and result.message


def test_an_expired_token_is_refused() -> None:
    result = connector.connect(ConnectRequest({"vsn": "2.0.0", "token": TOKEN}), now=NOW + 3600)
    assert isinstance(result, Refused) and result.status == 403
