"""Appends with every kind of expected revision, through both append RPCs:
`Streams.Append` (what the clients use for one event, or `client.streams.append`
for several) and `Streams.BatchAppend` (what they use for a list)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from support import ClientApi, ids, json_event, json_events, unique

PATHS = ["append", "batch_append"]


def append(client: Any, stream: str, version: Any, events: list, path: str) -> int:
    """Appends `events` through the named RPC; returns the commit position."""
    if path == "batch_append":
        return client.append_to_stream(stream, current_version=version, events=list(events), timeout=10)
    if len(events) == 1:
        return client.append_to_stream(stream, current_version=version, events=events[0], timeout=10)
    return client.streams.append(stream_name=stream, current_version=version, events=events, timeout=10)


def check_actual(error: BaseException, api: ClientApi, actual: Any) -> None:
    """kurrentdbclient reports the stream's actual version on the exception."""
    if hasattr(error, "actual_version"):
        assert error.actual_version == actual, f"actual_version {error.actual_version!r}, expected {actual!r}"


def stream_ids(client: Any, stream: str) -> list:
    return ids(client.get_stream(stream, timeout=10))


@pytest.mark.parametrize("path", PATHS)
def test_no_stream_creates_the_stream_once(api: ClientApi, client: Any, path: str) -> None:
    stream = unique("append-nostream")
    first = json_events(api, 2)
    append(client, stream, api.StreamState.NO_STREAM, first, path)
    assert client.get_current_version(stream) == 1

    with pytest.raises(api.WrongCurrentVersion) as raised:
        append(client, stream, api.StreamState.NO_STREAM, [json_event(api)], path)
    check_actual(raised.value, api, 1)
    assert stream_ids(client, stream) == ids(first)


@pytest.mark.parametrize("path", PATHS)
def test_exact_revision(api: ClientApi, client: Any, path: str) -> None:
    stream = unique("append-exact")
    missing = json_event(api)
    # An exact revision on a stream that does not exist.
    with pytest.raises(api.WrongCurrentVersion) as raised:
        append(client, stream, 0, [missing], path)
    check_actual(raised.value, api, api.StreamState.NO_STREAM)
    with pytest.raises(api.NotFound):
        client.get_stream(stream, timeout=10)

    e0, e1, e2 = json_events(api, 3)
    append(client, stream, api.StreamState.NO_STREAM, [e0], path)
    append(client, stream, 0, [e1, e2], path)
    assert client.get_current_version(stream) == 2

    for stale in (0, 1, 3, 1000):
        with pytest.raises(api.WrongCurrentVersion) as raised:
            append(client, stream, stale, [json_event(api)], path)
        check_actual(raised.value, api, 2)

    e3 = json_event(api)
    append(client, stream, 2, [e3], path)
    assert stream_ids(client, stream) == ids([e0, e1, e2, e3])
    assert [event.stream_position for event in client.get_stream(stream)] == [0, 1, 2, 3]


@pytest.mark.parametrize("path", PATHS)
def test_stream_exists(api: ClientApi, client: Any, path: str) -> None:
    stream = unique("append-exists")
    with pytest.raises(api.WrongCurrentVersion) as raised:
        append(client, stream, api.StreamState.EXISTS, [json_event(api)], path)
    check_actual(raised.value, api, api.StreamState.NO_STREAM)
    assert client.get_current_version(stream) == api.StreamState.NO_STREAM

    events = json_events(api, 3)
    append(client, stream, api.StreamState.NO_STREAM, events[:1], path)
    append(client, stream, api.StreamState.EXISTS, events[1:2], path)
    append(client, stream, api.StreamState.EXISTS, events[2:], path)
    assert stream_ids(client, stream) == ids(events)


@pytest.mark.parametrize("path", PATHS)
def test_any(api: ClientApi, client: Any, path: str) -> None:
    stream = unique("append-any")
    events = json_events(api, 4)
    append(client, stream, api.StreamState.ANY, events[:1], path)  # creates the stream
    assert client.get_current_version(stream) == 0
    append(client, stream, api.StreamState.ANY, events[1:], path)
    assert client.get_current_version(stream) == 3
    assert stream_ids(client, stream) == ids(events)


@pytest.mark.parametrize("path", PATHS)
def test_commit_positions_increase_and_name_the_last_event(api: ClientApi, client: Any, path: str) -> None:
    stream = unique("append-positions")
    first = json_events(api, 1)
    rest = json_events(api, 3)
    position1 = append(client, stream, api.StreamState.NO_STREAM, first, path)
    position2 = append(client, stream, 0, rest, path)
    assert isinstance(position1, int) and isinstance(position2, int)
    assert position2 > position1

    recorded = client.get_stream(stream, timeout=10)
    positions = [event.commit_position for event in recorded]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert recorded[0].commit_position == position1
    # The position an append returns is its last event's.
    assert recorded[-1].commit_position == position2
    for event in recorded:
        assert event.prepare_position == event.commit_position

    # Reading $all forwards from the returned position starts at that event.
    from_position = list(client.read_all(commit_position=position1, limit=4, timeout=10))
    assert ids(from_position) == ids(first + rest)


@pytest.mark.parametrize("path", PATHS)
def test_idempotent_repeat_of_the_last_append(api: ClientApi, client: Any, path: str) -> None:
    stream = unique("append-idem")
    batch1 = json_events(api, 2)
    position1 = append(client, stream, api.StreamState.NO_STREAM, batch1, path)
    assert append(client, stream, api.StreamState.NO_STREAM, batch1, path) == position1
    assert stream_ids(client, stream) == ids(batch1)

    batch2 = json_events(api, 1)
    position2 = append(client, stream, 1, batch2, path)
    assert append(client, stream, 1, batch2, path) == position2
    # With `any` the ids alone identify the repeat.
    assert append(client, stream, api.StreamState.ANY, batch2, path) == position2
    assert stream_ids(client, stream) == ids(batch1 + batch2)
    assert client.get_current_version(stream) == 2


@pytest.mark.parametrize("path", PATHS)
def test_idempotent_repeat_of_an_earlier_append(api: ClientApi, client: Any, path: str) -> None:
    """EventStoreDB compares the ids with the events at the revisions the
    repeat expects, not only with the last write."""
    stream = unique("append-idem-old")
    batch1 = json_events(api, 2)
    batch2 = json_events(api, 2)
    position1 = append(client, stream, api.StreamState.NO_STREAM, batch1, path)
    append(client, stream, 1, batch2, path)

    assert append(client, stream, api.StreamState.NO_STREAM, batch1, path) == position1
    assert stream_ids(client, stream) == ids(batch1 + batch2)
    assert client.get_current_version(stream) == 3


@pytest.mark.parametrize("path", PATHS)
def test_partial_repeat_is_refused(api: ClientApi, client: Any, path: str) -> None:
    stream = unique("append-partial")
    batch = json_events(api, 2)
    append(client, stream, api.StreamState.NO_STREAM, batch, path)
    # The first id repeats revision 0's event, the second is new.
    with pytest.raises(api.WrongCurrentVersion):
        append(client, stream, api.StreamState.NO_STREAM, [batch[0], json_event(api)], path)
    assert stream_ids(client, stream) == ids(batch)


@pytest.mark.parametrize("path", PATHS)
def test_empty_append(api: ClientApi, client: Any, path: str) -> None:
    stream = unique("append-empty")
    if path == "append":
        client.streams.append(stream_name=stream, current_version=api.StreamState.NO_STREAM, events=[], timeout=10)
    else:
        client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=[], timeout=10)
    assert client.get_current_version(stream) == api.StreamState.NO_STREAM
    with pytest.raises(api.WrongCurrentVersion):
        if path == "append":
            client.streams.append(stream_name=stream, current_version=5, events=[], timeout=10)
        else:
            client.append_to_stream(stream, current_version=5, events=[], timeout=10)


def test_wrong_version_reports_expected_and_actual(api: ClientApi, client: Any) -> None:
    if api.name != "kurrentdbclient":
        pytest.skip("only kurrentdbclient exposes expected/actual versions on the exception")
    stream = unique("append-details")
    client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=json_events(api, 3))
    for events in (json_event(api), [json_event(api)]):  # Append and BatchAppend
        with pytest.raises(api.WrongCurrentVersion) as raised:
            client.append_to_stream(stream, current_version=0, events=events)
        assert raised.value.actual_version == 2
        assert raised.value.expected_version == 0
        assert raised.value.stream_name == stream


def test_concurrent_appends_at_the_same_revision(api: ClientApi, client: Any) -> None:
    """Optimistic concurrency: of 8 writers that all expect revision 0, one wins."""
    stream = unique("append-race")
    client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=json_event(api))
    barrier = threading.Barrier(8)

    def attempt(index: int) -> str:
        event = json_event(api, "Raced", writer=index)
        barrier.wait(timeout=10)
        try:
            client.append_to_stream(stream, current_version=0, events=[event], timeout=10)
            return "won"
        except api.WrongCurrentVersion:
            return "lost"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(attempt, range(8)))
    assert outcomes.count("won") == 1, outcomes
    assert client.get_current_version(stream) == 1


def test_concurrent_appends_to_many_streams(api: ClientApi, client: Any) -> None:
    streams = [unique("append-many") for _ in range(8)]

    def write(stream: str) -> list:
        written = []
        for revision in range(15):
            event = json_event(api, "Counted", n=revision)
            expected = revision - 1 if revision else api.StreamState.NO_STREAM
            client.append_to_stream(stream, current_version=expected, events=event, timeout=10)
            written.append(event.id)
        return written

    with ThreadPoolExecutor(max_workers=8) as pool:
        written = dict(zip(streams, pool.map(write, streams)))
    positions = []
    for stream in streams:
        recorded = client.get_stream(stream, timeout=10)
        assert ids(recorded) == written[stream]
        positions.extend(event.commit_position for event in recorded)
    assert len(set(positions)) == len(positions)
