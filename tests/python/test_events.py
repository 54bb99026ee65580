"""What an event carries (data, custom metadata, content type, id, created
time), large appends, and the maximum append size."""

from __future__ import annotations

import datetime
import os
import uuid
from typing import Any

import pytest

from support import MAX_APPEND_BYTES, ClientApi, ids, json_event, take, unique

UTC = datetime.timezone.utc


def proposed_events(api: ClientApi) -> list:
    return [
        api.NewEvent(
            type="JsonThing",
            data=b'{"a": 1, "b": [true, null, "\\u00e9"]}',
            metadata=b'{"$correlationId": "c-1", "user": "u"}',
            content_type="application/json",
            id=uuid.uuid4(),
        ),
        api.NewEvent(
            type="BinaryThing",
            data=bytes(range(256)) * 4,
            metadata=bytes([0, 255, 16, 0, 7]),
            content_type="application/octet-stream",
        ),
        api.NewEvent(type="EmptyThing", data=b"", metadata=b""),
        api.NewEvent(type="NoMetadata", data=b"{}"),
        api.NewEvent(type="BinaryNoMetadata", data=b"\x00", content_type="application/octet-stream"),
    ]


def assert_same(recorded: Any, proposed: Any, stream: str) -> None:
    assert recorded.id == proposed.id
    assert recorded.type == proposed.type
    assert recorded.data == proposed.data
    assert recorded.metadata == proposed.metadata
    assert recorded.content_type == proposed.content_type
    assert recorded.stream_name == stream


@pytest.mark.parametrize("path", ["append", "batch_append"])
def test_event_fields_round_trip(api: ClientApi, client: Any, path: str) -> None:
    stream = unique("roundtrip")
    events = proposed_events(api)
    if path == "batch_append":
        client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=events, timeout=10)
    else:
        for revision, event in enumerate(events):
            expected = revision - 1 if revision else api.StreamState.NO_STREAM
            client.append_to_stream(stream, current_version=expected, events=event, timeout=10)

    # Read of the stream.
    recorded = client.get_stream(stream, timeout=10)
    assert len(recorded) == len(events)
    for revision, (got, proposed) in enumerate(zip(recorded, events)):
        assert_same(got, proposed, stream)
        assert got.stream_position == revision

    # Read of $all (no filter, so nothing is dropped), forwards and backwards.
    first = recorded[0].commit_position
    from_all = list(client.read_all(commit_position=first, filter_exclude=(), limit=len(events), timeout=10))
    for got, proposed in zip(from_all, events):
        assert_same(got, proposed, stream)
    backwards = list(client.read_all(backwards=True, filter_exclude=(), limit=len(events), timeout=10))
    for got, proposed in zip(backwards, reversed(events)):
        assert_same(got, proposed, stream)

    # Subscription.
    with client.subscribe_to_stream(stream, timeout=30) as subscription:
        for got, proposed in zip(take(subscription, len(events)), events):
            assert_same(got, proposed, stream)


def test_created_timestamps(api: ClientApi, client: Any) -> None:
    """`created` goes out as 100 ns ticks since the Unix epoch; the clients
    turn it into an aware UTC datetime."""
    stream = unique("created")
    before = datetime.datetime.now(tz=UTC)
    client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=json_event(api))
    client.append_to_stream(stream, current_version=0, events=[json_event(api), json_event(api)])
    after = datetime.datetime.now(tz=UTC)

    recorded = client.get_stream(stream, timeout=10)
    slack = datetime.timedelta(seconds=2)
    for event in recorded:
        assert event.recorded_at is not None, "no `created` in the event's metadata map"
        assert event.recorded_at.tzinfo is not None
        assert before - slack <= event.recorded_at <= after + slack, (before, event.recorded_at, after)
    assert recorded[0].recorded_at <= recorded[1].recorded_at <= recorded[2].recorded_at

    # The same time through $all and a subscription.
    (from_all,) = client.read_all(commit_position=recorded[0].commit_position, limit=1, timeout=10)
    assert from_all.recorded_at == recorded[0].recorded_at
    with client.subscribe_to_stream(stream, timeout=30) as subscription:
        assert take(subscription, 1)[0].recorded_at == recorded[0].recorded_at


def test_many_events_in_one_append(api: ClientApi, client: Any) -> None:
    stream = unique("large-batch")
    events = [api.NewEvent(type="Bulk", data=os.urandom(450).hex().encode()) for _ in range(1000)]
    position = client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=events, timeout=30)
    assert client.get_current_version(stream) == 999
    recorded = client.get_stream(stream, timeout=30)
    assert ids(recorded) == ids(events)
    assert [event.data for event in recorded] == [event.data for event in events]
    assert recorded[-1].commit_position == position
    assert ids(client.get_stream(stream, stream_position=500, limit=10, timeout=10)) == ids(events[500:510])
    assert ids(client.get_stream(stream, backwards=True, limit=3, timeout=10)) == ids(reversed(events[-3:]))
    from_all = list(client.read_all(commit_position=recorded[0].commit_position, limit=1000, timeout=30))
    assert ids(from_all) == ids(events)


def test_many_small_appends(api: ClientApi, client: Any) -> None:
    stream = unique("many-appends")
    events = [json_event(api, "Small", n=index) for index in range(150)]
    positions = []
    for revision, event in enumerate(events):
        expected = revision - 1 if revision else api.StreamState.NO_STREAM
        positions.append(client.append_to_stream(stream, current_version=expected, events=event, timeout=10))
    assert positions == sorted(positions)
    assert ids(client.get_stream(stream, timeout=10)) == ids(events)


def test_an_event_just_under_the_maximum_append_size(api: ClientApi, client: Any) -> None:
    stream = unique("large-event")
    data = os.urandom(MAX_APPEND_BYTES - 4096)
    event = api.NewEvent(type="Large", data=data, content_type="application/octet-stream")
    client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=event, timeout=30)
    (recorded,) = client.get_stream(stream, timeout=30)
    assert recorded.data == data
    (from_all,) = client.read_all(commit_position=recorded.commit_position, limit=1, timeout=30)
    assert from_all.data == data
    with client.subscribe_to_stream(stream, timeout=30) as subscription:
        assert take(subscription, 1)[0].data == data


def test_maximum_append_size_batch_append(api: ClientApi, client: Any) -> None:
    """Over 1 MiB in one BatchAppend: the clients' MaximumAppendSizeExceeded
    error, and nothing written."""
    stream = unique("too-large")
    events = [api.NewEvent(type="Half", data=os.urandom(600 * 1024)) for _ in range(2)]
    with pytest.raises(api.MaximumAppendSizeExceeded):
        client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=events, timeout=30)
    assert client.get_current_version(stream) == api.StreamState.NO_STREAM
    # The stream can still be written within the limit.
    client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=events[:1], timeout=30)
    assert client.get_current_version(stream) == 0


def test_maximum_append_size_append(api: ClientApi, client: Any) -> None:
    """Over 1 MiB in one Append (single event, and many small events): the
    server answers INVALID_ARGUMENT "Maximum Append Size of 1048576
    Exceeded.", which the clients raise as a plain gRPC error."""
    stream = unique("too-large-append")
    big = api.NewEvent(type="Big", data=os.urandom(MAX_APPEND_BYTES + 1))
    with pytest.raises(api.BaseError) as raised:
        client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=big, timeout=30)
    assert "Maximum Append Size" in str(raised.value)

    small = [api.NewEvent(type="Small", data=os.urandom(64 * 1024)) for _ in range(20)]
    with pytest.raises(api.BaseError) as raised:
        client.streams.append(stream_name=stream, current_version=api.StreamState.NO_STREAM, events=small, timeout=30)
    assert "Maximum Append Size" in str(raised.value)
    assert client.get_current_version(stream) == api.StreamState.NO_STREAM


def test_maximum_append_size_batch_of_several_megabytes(api: ClientApi, client: Any) -> None:
    """A 5 MiB BatchAppend is still refused as too large for an append
    (EventStoreDB accepts gRPC messages up to its 16 MiB record limit and then
    checks the append size), and the server keeps serving."""
    stream = unique("too-large-5mib")
    events = [api.NewEvent(type="Chunk", data=os.urandom(MAX_APPEND_BYTES)) for _ in range(5)]
    with pytest.raises(api.MaximumAppendSizeExceeded):
        client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=events, timeout=30)
    assert client.get_current_version(stream) == api.StreamState.NO_STREAM
    client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=json_event(api), timeout=10)
    assert client.get_current_version(stream) == 0


def test_maximum_append_size_append_of_several_megabytes(api: ClientApi, client: Any) -> None:
    """One 5 MiB event through Append: refused with the maximum append size
    message, like the 1 MiB + 1 byte one, and the server keeps serving."""
    stream = unique("too-large-append-5mib")
    big = api.NewEvent(type="Big", data=os.urandom(5 * MAX_APPEND_BYTES))
    with pytest.raises(api.BaseError) as raised:
        client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=big, timeout=30)
    assert "Maximum Append Size" in str(raised.value)
    assert client.get_current_version(stream) == api.StreamState.NO_STREAM
