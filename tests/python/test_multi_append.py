"""KurrentDB's multi-stream append (`multi_append_to_stream`, the second
streams protocol's AppendSession): every stream is appended to, or none.
Only kurrentdbclient has it; under esdbclient these tests skip."""

from __future__ import annotations

import json
from typing import Any

import pytest

from support import MAX_APPEND_BYTES, ClientApi, ids, json_events, unique


@pytest.fixture(autouse=True)
def _multi_append(client: Any) -> None:
    if not hasattr(client, "multi_append_to_stream"):
        pytest.skip("this client has no multi-stream append (KurrentDB 25.1's protocol)")


def new_events(stream: str, version: Any, events: list) -> Any:
    from kurrentdbclient import NewEvents

    return NewEvents(stream_name=stream, events=events, current_version=version)


def stream_ids(client: Any, stream: str) -> list:
    return ids(client.get_stream(stream, timeout=10))


def test_two_streams_are_appended_to_in_one_transaction(api: ClientApi, client: Any) -> None:
    orders, payments = unique("multi-order"), unique("multi-payment")
    client.append_to_stream(payments, current_version=api.StreamState.NO_STREAM, events=json_events(api, 1), timeout=10)
    placed = [
        api.NewEvent(type="Placed", data=b'{"n": 1}', metadata=b'{"source": "web", "trace": "t-1"}'),
        api.NewEvent(type="Priced", data=b'{"n": 2}'),
    ]
    paid = [api.NewEvent(type="Paid", data=b"\x00\x01", content_type="application/octet-stream")]
    position = client.multi_append_to_stream(
        [
            new_events(orders, api.StreamState.NO_STREAM, placed),
            new_events(payments, 0, paid),
        ],
        timeout=10,
    )

    recorded = client.get_stream(orders, timeout=10)
    assert ids(recorded) == ids(placed)
    assert [event.type for event in recorded] == ["Placed", "Priced"]
    assert json.loads(recorded[0].metadata) == {"source": "web", "trace": "t-1"}
    assert recorded[1].metadata == b""
    assert recorded[0].content_type == "application/json"
    paid_recorded = client.get_stream(payments, timeout=10)
    assert [event.id for event in paid_recorded][1:] == ids(paid)
    assert paid_recorded[1].data == b"\x00\x01"
    assert paid_recorded[1].content_type == "application/octet-stream"
    # The answer is the position of the last event written, and both
    # streams' events sit together in the log.
    last = max(event.commit_position for event in [*recorded, *paid_recorded])
    assert position == last
    assert client.get_current_version(orders) == 1
    assert client.get_current_version(payments) == 1


def test_a_revision_conflict_on_one_stream_writes_nothing(api: ClientApi, client: Any) -> None:
    fresh, existing = unique("multi-fresh"), unique("multi-existing")
    client.append_to_stream(existing, current_version=api.StreamState.NO_STREAM, events=json_events(api, 2), timeout=10)
    with pytest.raises(api.WrongCurrentVersion) as raised:
        client.multi_append_to_stream(
            [
                new_events(fresh, api.StreamState.NO_STREAM, json_events(api, 1)),
                new_events(existing, 0, json_events(api, 1)),
            ],
            timeout=10,
        )
    assert getattr(raised.value, "stream_name", existing) == existing
    assert getattr(raised.value, "actual_version", 1) == 1
    with pytest.raises(api.NotFound):
        client.get_stream(fresh, timeout=10)
    assert client.get_current_version(existing) == 1


def test_a_retried_session_is_idempotent(api: ClientApi, client: Any) -> None:
    first, second = unique("multi-retry-a"), unique("multi-retry-b")
    events_a, events_b = json_events(api, 2), json_events(api, 1)
    session = [
        new_events(first, api.StreamState.NO_STREAM, events_a),
        new_events(second, api.StreamState.ANY, events_b),
    ]
    position = client.multi_append_to_stream(session, timeout=10)
    again = client.multi_append_to_stream(session, timeout=10)
    assert stream_ids(client, first) == ids(events_a)
    assert stream_ids(client, second) == ids(events_b)
    assert again <= position


def test_a_stream_named_twice_a_tombstoned_stream_and_an_oversized_session_are_refused(
    api: ClientApi, client: Any
) -> None:
    from kurrentdbclient.exceptions import (
        MultiAppendToSameStreamError,
        StreamTombstonedError,
        TransactionMaxSizeExceededError,
    )

    twice, bystander = unique("multi-twice"), unique("multi-bystander")
    with pytest.raises(MultiAppendToSameStreamError):
        client.multi_append_to_stream(
            [
                new_events(bystander, api.StreamState.ANY, json_events(api, 1)),
                new_events(twice, api.StreamState.ANY, json_events(api, 1)),
                new_events(twice, api.StreamState.ANY, json_events(api, 1)),
            ],
            timeout=10,
        )

    gone = unique("multi-gone")
    client.append_to_stream(gone, current_version=api.StreamState.NO_STREAM, events=json_events(api, 1), timeout=10)
    client.tombstone_stream(gone, current_version=api.StreamState.ANY, timeout=10)
    with pytest.raises(StreamTombstonedError):
        client.multi_append_to_stream(
            [
                new_events(bystander, api.StreamState.ANY, json_events(api, 1)),
                new_events(gone, api.StreamState.ANY, json_events(api, 1)),
            ],
            timeout=10,
        )

    half = b'"' + b"x" * (MAX_APPEND_BYTES // 2 + 16) + b'"'
    big = unique("multi-big")
    with pytest.raises(TransactionMaxSizeExceededError):
        client.multi_append_to_stream(
            [
                new_events(bystander, api.StreamState.ANY, [api.NewEvent(type="Big", data=half)]),
                new_events(big, api.StreamState.ANY, [api.NewEvent(type="Big", data=half)]),
            ],
            timeout=10,
        )
    # None of the refused sessions wrote anything.
    for stream in (twice, bystander, big):
        with pytest.raises(api.NotFound):
            client.get_stream(stream, timeout=10)


def test_a_stream_the_caller_may_not_write_refuses_the_whole_session(api: ClientApi, client: Any) -> None:
    # eventfold's own state streams are read-only to clients (test_access.py).
    allowed = unique("multi-allowed")
    with pytest.raises(api.AccessDenied):
        client.multi_append_to_stream(
            [
                new_events(allowed, api.StreamState.ANY, json_events(api, 1)),
                new_events("$persistentsubscription-config", api.StreamState.ANY, json_events(api, 1)),
            ],
            timeout=10,
        )
    with pytest.raises(api.NotFound):
        client.get_stream(allowed, timeout=10)
