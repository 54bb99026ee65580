"""A stream's life: metadata (`$$<stream>`), retention (`$maxCount`, `$tb`,
`$maxAge`), soft delete and tombstone, the virtual streams `$ce-<category>`
and `$et-<type>` (read with and without resolving links, and subscribed to),
and the names clients cannot append to. Expectations follow
EventStoreDB/KurrentDB as the clients see it."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from support import (
    BackgroundAppender,
    ClientApi,
    ids,
    is_caught_up,
    json_event,
    json_events,
    take,
    take_until,
    unique,
)

READ_TIMEOUT_S = 10
SUBSCRIPTION_TIMEOUT_S = 10


def plain_name(prefix: str) -> str:
    """A name with no dash: a category (the part of a stream name before its
    first `-`) or an event type no other test uses."""
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def new_stream(api: ClientApi, client: Any, count: int, stream: str | None = None) -> tuple[str, list]:
    stream = stream or unique("life")
    events = json_events(api, count)
    client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=events)
    return stream, events


def read(client: Any, stream: str, **options: Any) -> tuple:
    return client.get_stream(stream, timeout=READ_TIMEOUT_S, **options)


def appending_raises(api: ClientApi, client: Any, stream: str, events: Any) -> BaseException:
    with pytest.raises(api.BaseError) as raised:
        client.append_to_stream(stream, current_version=api.StreamState.ANY, events=events, timeout=READ_TIMEOUT_S)
    return raised.value


# --------------------------------------------------------------------------
# Metadata
# --------------------------------------------------------------------------


def test_metadata_of_a_stream_without_any(api: ClientApi, client: Any) -> None:
    stream, _ = new_stream(api, client, 1)
    assert client.get_stream_metadata(stream, timeout=READ_TIMEOUT_S) == ({}, api.StreamState.NO_STREAM)
    # Nor for a stream that does not exist at all.
    assert client.get_stream_metadata(unique("life-none"), timeout=READ_TIMEOUT_S) == ({}, api.StreamState.NO_STREAM)


def test_metadata_round_trips_with_user_keys(api: ClientApi, client: Any) -> None:
    stream, events = new_stream(api, client, 3)
    document = {
        "owner": "ann",
        "tags": ["a", "b"],
        "limits": {"soft": 1.5, "hard": None},
        "unicode": "grüße ✓",
        "$cacheControl": 60,
    }
    client.set_stream_metadata(stream, metadata=document, current_version=api.StreamState.NO_STREAM)
    assert client.get_stream_metadata(stream, timeout=READ_TIMEOUT_S) == (document, 0)

    # The metadata stream is an ordinary stream of `$metadata` events.
    (recorded,) = read(client, "$$" + stream)
    assert recorded.type == "$metadata"
    assert recorded.stream_name == "$$" + stream
    assert json.loads(recorded.data) == document

    # The next document replaces the previous one whole.
    second = {"owner": "bob"}
    client.set_stream_metadata(stream, metadata=second, current_version=0)
    assert client.get_stream_metadata(stream, timeout=READ_TIMEOUT_S) == (second, 1)
    # Keys without a meaning to the store change nothing in the stream.
    assert ids(read(client, stream)) == ids(events)


def test_metadata_expected_revision(api: ClientApi, client: Any) -> None:
    stream, _ = new_stream(api, client, 1)
    client.set_stream_metadata(stream, metadata={"v": 1}, current_version=api.StreamState.NO_STREAM)
    with pytest.raises(api.WrongCurrentVersion):
        client.set_stream_metadata(stream, metadata={"v": 2}, current_version=api.StreamState.NO_STREAM)
    with pytest.raises(api.WrongCurrentVersion):
        client.set_stream_metadata(stream, metadata={"v": 2}, current_version=5)
    assert client.get_stream_metadata(stream, timeout=READ_TIMEOUT_S) == ({"v": 1}, 0)

    client.set_stream_metadata(stream, metadata={"v": 2}, current_version=0)
    with pytest.raises(api.WrongCurrentVersion):
        client.set_stream_metadata(stream, metadata={"v": 3}, current_version=0)
    client.set_stream_metadata(stream, metadata={"v": 3}, current_version=api.StreamState.EXISTS)
    client.set_stream_metadata(stream, metadata={"v": 4}, current_version=api.StreamState.ANY)
    assert client.get_stream_metadata(stream, timeout=READ_TIMEOUT_S) == ({"v": 4}, 3)


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"[1, 2]",
        b'{"$maxCount": "five"}',
        b'{"$maxCount": -1}',
        b'{"$maxCount": 2.5}',
        b'{"$maxAge": "1h"}',
        b'{"$tb": -3}',
        b'{"$acl": 7}',
    ],
    ids=["not-json", "array", "maxcount-string", "maxcount-negative", "maxcount-fraction", "maxage-string",
         "tb-negative", "acl-number"],
)
def test_invalid_metadata_is_refused_and_nothing_is_written(api: ClientApi, client: Any, data: bytes) -> None:
    stream, events = new_stream(api, client, 3)
    client.set_stream_metadata(stream, metadata={"$maxCount": 2, "owner": "ann"})
    before = client.get_stream_metadata(stream, timeout=READ_TIMEOUT_S)
    assert before == ({"$maxCount": 2, "owner": "ann"}, 0)

    bad = api.NewEvent(type="$metadata", data=data)
    # Both append paths: Append (one event) and BatchAppend (a list).
    for payload in (bad, [bad]):
        error = appending_raises(api, client, "$$" + stream, payload)
        assert not isinstance(error, (api.WrongCurrentVersion, api.StreamIsDeleted)), repr(error)
        assert "metadata" in str(error), str(error)

    assert client.get_stream_metadata(stream, timeout=READ_TIMEOUT_S) == before
    assert len(read(client, "$$" + stream)) == 1
    # The stream still has the old retention.
    assert ids(read(client, stream)) == ids(events[1:])


# --------------------------------------------------------------------------
# Retention
# --------------------------------------------------------------------------


def test_max_count_is_applied_at_once(api: ClientApi, client: Any) -> None:
    stream, events = new_stream(api, client, 5)
    client.set_stream_metadata(stream, metadata={"$maxCount": 2})
    recorded = read(client, stream)
    assert ids(recorded) == ids(events[3:])
    assert [event.stream_position for event in recorded] == [3, 4]
    assert ids(read(client, stream, backwards=True)) == ids(reversed(events[3:]))
    # Reading from an event that is gone starts at the first one kept.
    assert ids(read(client, stream, stream_position=1)) == ids(events[3:])

    # New events push older ones out; revisions go on.
    more = json_events(api, 2)
    client.append_to_stream(stream, current_version=4, events=more)
    recorded = read(client, stream)
    assert ids(recorded) == ids(more)
    assert [event.stream_position for event in recorded] == [5, 6]
    assert client.get_current_version(stream) == 6

    # Raising the count brings back what was only hidden.
    client.set_stream_metadata(stream, metadata={"$maxCount": 4})
    assert ids(read(client, stream)) == ids(events[3:] + more)
    # Without `$maxCount` every event is back.
    client.set_stream_metadata(stream, metadata={})
    assert ids(read(client, stream)) == ids(events + more)


def test_truncate_before(api: ClientApi, client: Any) -> None:
    stream, events = new_stream(api, client, 5)
    client.set_stream_metadata(stream, metadata={"$tb": 3, "owner": "ann"})
    recorded = read(client, stream)
    assert ids(recorded) == ids(events[3:])
    assert [event.stream_position for event in recorded] == [3, 4]
    assert ids(read(client, stream, backwards=True, limit=5)) == ids(reversed(events[3:]))
    assert client.get_current_version(stream) == 4

    # `$tb` past the end hides every event: the stream reads as not found
    # until new events reach `$tb`. (A soft delete is exactly this here;
    # EventStoreDB marks a soft delete with `$tb` = long.MaxValue instead and
    # answers an empty read for any other `$tb` past the end.)
    client.set_stream_metadata(stream, metadata={"$tb": 6})
    with pytest.raises(api.NotFound):
        read(client, stream)
    assert client.get_current_version(stream) == api.StreamState.NO_STREAM
    later = json_events(api, 2)
    client.append_to_stream(stream, current_version=4, events=later)
    recorded = read(client, stream)
    assert ids(recorded) == ids(later[1:])
    assert recorded[0].stream_position == 6


def test_zero_max_count_and_max_age_are_no_limit(api: ClientApi, client: Any) -> None:
    """EventStoreDB reads a limit of 0 as no limit at all."""
    stream, events = new_stream(api, client, 3)
    client.set_stream_metadata(stream, metadata={"$maxCount": 0, "$maxAge": 0})
    assert ids(read(client, stream)) == ids(events)
    assert client.get_stream_metadata(stream, timeout=READ_TIMEOUT_S) == ({"$maxCount": 0, "$maxAge": 0}, 0)
    client.set_stream_metadata(stream, metadata={"$maxCount": 1})
    assert ids(read(client, stream)) == ids(events[2:])


def test_max_count_and_truncate_before_together(api: ClientApi, client: Any) -> None:
    stream, events = new_stream(api, client, 6)
    # Whichever hides more wins.
    client.set_stream_metadata(stream, metadata={"$tb": 2, "$maxCount": 3})
    assert ids(read(client, stream)) == ids(events[3:])
    client.set_stream_metadata(stream, metadata={"$tb": 4, "$maxCount": 3})
    assert ids(read(client, stream)) == ids(events[4:])


def test_max_age_hides_old_events(api: ClientApi, client: Any) -> None:
    stream, old = new_stream(api, client, 2)
    client.set_stream_metadata(stream, metadata={"$maxAge": 1})
    # Just written: still young enough.
    assert ids(read(client, stream)) == ids(old)

    time.sleep(1.6)
    fresh = json_event(api)
    client.append_to_stream(stream, current_version=1, events=[fresh])
    recorded = read(client, stream)
    assert ids(recorded) == ids([fresh])
    assert recorded[0].stream_position == 2
    created = recorded[0].recorded_at
    assert created is not None
    assert abs(created.timestamp() - time.time()) < 5

    # A longer age brings the old events back.
    client.set_stream_metadata(stream, metadata={"$maxAge": 3600})
    assert ids(read(client, stream)) == ids(old + [fresh])


# --------------------------------------------------------------------------
# Delete and tombstone
# --------------------------------------------------------------------------


def test_delete_then_append_continues_revisions_and_keeps_metadata(api: ClientApi, client: Any) -> None:
    stream, _ = new_stream(api, client, 3)
    client.set_stream_metadata(stream, metadata={"owner": "ann", "$maxCount": 10})
    client.delete_stream(stream, current_version=2)
    with pytest.raises(api.NotFound):
        read(client, stream)
    # A soft delete is a `$tb` of long.MaxValue in the metadata, as
    # EventStoreDB writes it; the other keys stay.
    metadata, version = client.get_stream_metadata(stream, timeout=READ_TIMEOUT_S)
    assert metadata == {"owner": "ann", "$maxCount": 10, "$tb": 9223372036854775807}
    assert version == 1

    again = json_events(api, 2)
    client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=again)
    recorded = read(client, stream)
    assert ids(recorded) == ids(again)
    assert [event.stream_position for event in recorded] == [3, 4]
    assert client.get_current_version(stream) == 4
    # Recreating the stream set `$tb` to the revision it started again at.
    metadata, version = client.get_stream_metadata(stream, timeout=READ_TIMEOUT_S)
    assert metadata == {"owner": "ann", "$maxCount": 10, "$tb": 3}
    assert version == 2


def test_tombstone_refuses_appends_reads_and_metadata(api: ClientApi, client: Any) -> None:
    stream, _ = new_stream(api, client, 2)
    client.tombstone_stream(stream, current_version=1)
    with pytest.raises(api.StreamIsDeleted):
        client.append_to_stream(stream, current_version=api.StreamState.ANY, events=[json_event(api)])
    with pytest.raises(api.StreamIsDeleted):
        read(client, stream)
    with pytest.raises(api.StreamIsDeleted):
        read(client, stream, backwards=True, limit=1)
    with pytest.raises(api.StreamIsDeleted):
        client.get_current_version(stream)
    # One event, through Append: "is deleted" in a failed-precondition status.
    with pytest.raises(api.BaseError) as raised:
        client.append_to_stream(stream, current_version=api.StreamState.ANY, events=json_event(api))
    assert isinstance(raised.value, (api.StreamIsDeleted, api.FailedPrecondition)), repr(raised.value)
    assert isinstance(raised.value, api.StreamIsDeleted) or "is deleted" in str(raised.value)


def test_tombstone_deletes_the_metadata_stream_too(api: ClientApi, client: Any) -> None:
    """As in EventStoreDB, `$$<stream>` is deleted with its stream: reading
    the metadata fails with the stream-deleted error, and so does setting it."""
    stream, _ = new_stream(api, client, 1)
    client.set_stream_metadata(stream, metadata={"owner": "ann"})
    neighbour, _ = new_stream(api, client, 1)
    client.set_stream_metadata(neighbour, metadata={"owner": "bob"})
    client.tombstone_stream(stream, current_version=0)

    with pytest.raises(api.StreamIsDeleted):
        client.get_stream_metadata(stream, timeout=READ_TIMEOUT_S)
    with pytest.raises(api.StreamIsDeleted):
        read(client, "$$" + stream)
    with pytest.raises(api.BaseError) as raised:
        client.set_stream_metadata(stream, metadata={"owner": "carl"}, timeout=READ_TIMEOUT_S)
    assert isinstance(raised.value, (api.StreamIsDeleted, api.FailedPrecondition)), repr(raised.value)
    assert isinstance(raised.value, api.StreamIsDeleted) or "is deleted" in str(raised.value), str(raised.value)
    with pytest.raises(api.StreamIsDeleted):
        client.append_to_stream(
            "$$" + stream, current_version=api.StreamState.ANY, events=[api.NewEvent(type="$metadata", data=b"{}")]
        )
    # The neighbour's metadata is untouched.
    assert client.get_stream_metadata(neighbour, timeout=READ_TIMEOUT_S) == ({"owner": "bob"}, 0)


# --------------------------------------------------------------------------
# Virtual streams: $ce-<category> and $et-<type>
# --------------------------------------------------------------------------


def assert_links(links: tuple, virtual: str, targets: list[tuple[str, int]]) -> None:
    assert [link.type for link in links] == ["$>"] * len(targets)
    assert [link.data.decode() for link in links] == [f"{revision}@{stream}" for stream, revision in targets]
    assert [link.stream_name for link in links] == [virtual] * len(targets)
    assert [link.stream_position for link in links] == list(range(len(targets)))
    assert all(link.link is None for link in links)


def assert_resolved(resolved: tuple, virtual: str, expected: list[tuple[str, int, Any]]) -> None:
    """Each item is the linked event, with the link event in `.link`."""
    assert [(event.stream_name, event.stream_position) for event in resolved] == [
        (stream, revision) for stream, revision, _ in expected
    ]
    assert [event.id for event in resolved] == [event.id for _, _, event in expected]
    assert [event.type for event in resolved] == [event.type for _, _, event in expected]
    assert [event.data for event in resolved] == [event.data for _, _, event in expected]
    for position, event in enumerate(resolved):
        assert event.link is not None, "resolve_links sends the link with the event"
        assert event.link.type == "$>"
        assert event.link.stream_name == virtual
        assert event.link.stream_position == position
        assert event.link.data.decode() == f"{event.stream_position}@{event.stream_name}"


def test_category_stream_with_and_without_resolving_links(api: ClientApi, client: Any) -> None:
    category = plain_name("order")
    first, second = f"{category}-1", f"{category}-2"
    a = json_events(api, 2, event_type="OrderPlaced")
    b = json_events(api, 1, event_type="OrderShipped")
    c = json_events(api, 1, event_type="OrderPlaced")
    client.append_to_stream(first, current_version=api.StreamState.NO_STREAM, events=a)
    client.append_to_stream(second, current_version=api.StreamState.NO_STREAM, events=b)
    client.append_to_stream(first, current_version=1, events=c)
    # A stream whose name only starts like the category is not in it.
    client.append_to_stream(category + "x-1", current_version=api.StreamState.NO_STREAM, events=json_events(api, 1))
    virtual = f"$ce-{category}"
    expected = [(first, 0, a[0]), (first, 1, a[1]), (second, 0, b[0]), (first, 2, c[0])]

    assert_links(read(client, virtual), virtual, [(stream, revision) for stream, revision, _ in expected])
    assert_resolved(read(client, virtual, resolve_links=True), virtual, expected)

    backwards = read(client, virtual, backwards=True, resolve_links=True, limit=2)
    assert [event.id for event in backwards] == [c[0].id, b[0].id]
    assert [event.link.stream_position for event in backwards] == [3, 2]
    # From a revision of the virtual stream.
    assert [event.id for event in read(client, virtual, stream_position=2, resolve_links=True)] == [b[0].id, c[0].id]


def test_event_type_stream_with_and_without_resolving_links(api: ClientApi, client: Any) -> None:
    event_type = plain_name("OrderPlaced")
    stream_a, stream_b = unique("life-et"), unique("life-et")
    placed_a = json_events(api, 2, event_type=event_type)
    other = json_events(api, 1, event_type=plain_name("Other"))
    placed_b = json_events(api, 1, event_type=event_type)
    client.append_to_stream(stream_a, current_version=api.StreamState.NO_STREAM, events=placed_a)
    client.append_to_stream(stream_a, current_version=1, events=other)
    client.append_to_stream(stream_b, current_version=api.StreamState.NO_STREAM, events=placed_b)
    virtual = f"$et-{event_type}"
    expected = [(stream_a, 0, placed_a[0]), (stream_a, 1, placed_a[1]), (stream_b, 0, placed_b[0])]

    assert_links(read(client, virtual), virtual, [(stream, revision) for stream, revision, _ in expected])
    assert_resolved(read(client, virtual, resolve_links=True), virtual, expected)


def test_links_to_hidden_events_are_not_resolved(api: ClientApi, client: Any) -> None:
    """A link whose event is truncated away (`$maxCount`, a soft delete) or
    tombstoned is served as the link event itself, never as some other
    event of the stream."""
    category = plain_name("order")
    limited, deleted, tombstoned, kept = (f"{category}-{n}" for n in ("limited", "deleted", "tomb", "kept"))
    limited_events = json_events(api, 3)
    client.append_to_stream(limited, current_version=api.StreamState.NO_STREAM, events=limited_events)
    for stream in (deleted, tombstoned, kept):
        client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=json_events(api, 1))
    client.set_stream_metadata(limited, metadata={"$maxCount": 1})
    client.delete_stream(deleted, current_version=0)
    client.tombstone_stream(tombstoned, current_version=0)
    (kept_event,) = read(client, kept)
    virtual = f"$ce-{category}"

    def check(items: list) -> None:
        unresolved = [f"0@{limited}", f"1@{limited}", f"0@{deleted}", f"0@{tombstoned}"]
        assert [(item.type, item.data.decode(), item.link) for item in items[:2]] == [
            ("$>", text, None) for text in unresolved[:2]
        ]
        assert items[2].id == limited_events[2].id and items[2].stream_position == 2
        assert items[2].link is not None and items[2].link.data.decode() == f"2@{limited}"
        assert [(item.type, item.data.decode(), item.link) for item in items[3:5]] == [
            ("$>", text, None) for text in unresolved[2:]
        ]
        assert items[5].id == kept_event.id and items[5].link is not None

    resolved = read(client, virtual, resolve_links=True)
    # The tombstone itself is an event of its stream, linked like any other.
    assert [item.data.decode() for item in resolved[6:]] == [f"1@{tombstoned}"]
    check(list(resolved[:6]))
    with client.subscribe_to_stream(virtual, resolve_links=True, timeout=SUBSCRIPTION_TIMEOUT_S) as subscription:
        check(take(subscription, 6))


def test_virtual_stream_of_nothing_is_not_found(api: ClientApi, client: Any) -> None:
    with pytest.raises(api.NotFound):
        read(client, f"$ce-{plain_name('nothing')}")
    with pytest.raises(api.NotFound):
        read(client, f"$et-{plain_name('Nothing')}")


def test_subscribe_to_a_category_sees_history_then_live_events(api: ClientApi, client: Any) -> None:
    category = plain_name("order")
    history_stream = f"{category}-1"
    history = json_events(api, 3, event_type="OrderPlaced")
    client.append_to_stream(history_stream, current_version=api.StreamState.NO_STREAM, events=history)
    live_stream = f"{category}-2"
    live = json_events(api, 3, event_type="OrderShipped")
    virtual = f"$ce-{category}"

    appender = BackgroundAppender(api, client, live_stream, live, interval=0.05, first_delay=0.3)
    with client.subscribe_to_stream(virtual, resolve_links=True, timeout=SUBSCRIPTION_TIMEOUT_S) as subscription:
        seen = take(subscription, 3)
        appender.start()
        seen += take(subscription, 3)
    appender.finish(timeout=SUBSCRIPTION_TIMEOUT_S)

    assert ids(seen) == ids(history + live)
    assert [(event.stream_name, event.stream_position) for event in seen] == [
        (history_stream, 0), (history_stream, 1), (history_stream, 2), (live_stream, 0), (live_stream, 1),
        (live_stream, 2),
    ]
    assert [event.link.stream_position for event in seen] == list(range(6))
    assert all(event.link.stream_name == virtual for event in seen)


def test_subscribe_to_a_category_without_resolving_links(api: ClientApi, client: Any) -> None:
    category = plain_name("order")
    stream = f"{category}-1"
    history = json_events(api, 2)
    client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=history)
    virtual = f"$ce-{category}"
    live = json_event(api)

    with client.subscribe_to_stream(virtual, include_caught_up=True, timeout=SUBSCRIPTION_TIMEOUT_S) as subscription:
        items = take_until(subscription, is_caught_up)
        client.append_to_stream(stream, current_version=1, events=[live])
        (live_link,) = take(subscription, 1)
    links = [item for item in items if not is_caught_up(item)]
    assert [link.data.decode() for link in links] == [f"0@{stream}", f"1@{stream}"]
    assert [link.type for link in links] == ["$>", "$>"]
    assert [link.stream_position for link in links] == [0, 1]
    assert live_link.type == "$>"
    assert live_link.data.decode() == f"2@{stream}"
    assert live_link.stream_name == virtual and live_link.stream_position == 2


def test_subscribe_to_a_category_from_a_revision(api: ClientApi, client: Any) -> None:
    category = plain_name("order")
    stream = f"{category}-1"
    events = json_events(api, 4)
    client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=events)
    # After revision 1 of the virtual stream: its events 2 and 3.
    with client.subscribe_to_stream(
        f"$ce-{category}", stream_position=1, resolve_links=True, timeout=SUBSCRIPTION_TIMEOUT_S
    ) as subscription:
        seen = take(subscription, 2)
    assert ids(seen) == ids(events[2:])


# --------------------------------------------------------------------------
# Reserved names
# --------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["$ce-", "$et-"])
def test_virtual_streams_refuse_appends(api: ClientApi, client: Any, prefix: str) -> None:
    virtual = prefix + plain_name("x")
    for payload in (json_event(api), [json_event(api)]):
        error = appending_raises(api, client, virtual, payload)
        assert not isinstance(error, api.WrongCurrentVersion), repr(error)
        assert "cannot be appended to" in str(error), str(error)
    with pytest.raises(api.NotFound):
        read(client, virtual)


def test_appending_a_tombstone_event_is_refused(api: ClientApi, client: Any) -> None:
    stream, events = new_stream(api, client, 1)
    error = appending_raises(api, client, stream, [api.NewEvent(type="$streamDeleted", data=b"{}")])
    assert "reserved" in str(error), str(error)
    assert ids(read(client, stream)) == ids(events)
    client.append_to_stream(stream, current_version=0, events=[json_event(api)])
