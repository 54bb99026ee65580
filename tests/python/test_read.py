"""Reads of one stream and of `$all`: directions, limits, start positions,
server-side filters, stream-not-found and the helpers built on reads."""

from __future__ import annotations

from typing import Any

import pytest

from support import ClientApi, ids, json_event, json_events, take, unique


@pytest.fixture
def ten_event_stream(api: ClientApi, client: Any) -> tuple[str, list]:
    stream = unique("read")
    events = json_events(api, 10)
    client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=events, timeout=10)
    return stream, events


def revisions(events: Any) -> list[int]:
    return [event.stream_position for event in events]


def test_read_stream_forwards(client: Any, ten_event_stream: tuple[str, list]) -> None:
    stream, events = ten_event_stream
    recorded = client.get_stream(stream, timeout=10)
    assert ids(recorded) == ids(events)
    assert revisions(recorded) == list(range(10))
    assert all(event.stream_name == stream for event in recorded)

    assert revisions(client.get_stream(stream, limit=3)) == [0, 1, 2]
    assert revisions(client.get_stream(stream, stream_position=4)) == [4, 5, 6, 7, 8, 9]
    assert revisions(client.get_stream(stream, stream_position=4, limit=2)) == [4, 5]
    assert revisions(client.get_stream(stream, stream_position=9)) == [9]
    # Past the end: nothing, and no error.
    assert client.get_stream(stream, stream_position=10) == ()
    assert client.get_stream(stream, stream_position=1000, limit=5) == ()


def test_read_stream_backwards(client: Any, ten_event_stream: tuple[str, list]) -> None:
    stream, events = ten_event_stream
    recorded = client.get_stream(stream, backwards=True, timeout=10)
    assert ids(recorded) == ids(reversed(events))
    assert revisions(client.get_stream(stream, backwards=True, limit=2)) == [9, 8]
    assert revisions(client.get_stream(stream, backwards=True, stream_position=4)) == [4, 3, 2, 1, 0]
    assert revisions(client.get_stream(stream, backwards=True, stream_position=4, limit=2)) == [4, 3]
    assert revisions(client.get_stream(stream, backwards=True, stream_position=0)) == [0]


def test_read_stream_as_an_iterator(client: Any, ten_event_stream: tuple[str, list]) -> None:
    stream, events = ten_event_stream
    with client.read_stream(stream, timeout=10) as response:
        first = next(response)
        rest = list(response)
    assert ids([first, *rest]) == ids(events)

    # Stopping early is fine.
    response = client.read_stream(stream, timeout=10)
    assert next(response).stream_position == 0
    response.stop()


def test_stream_not_found(api: ClientApi, client: Any) -> None:
    stream = unique("missing")
    for kwargs in (
        {},
        {"backwards": True},
        {"stream_position": 1},
        {"stream_position": 1, "backwards": True},
        {"limit": 10},
    ):
        with pytest.raises(api.NotFound):
            client.get_stream(stream, timeout=10, **kwargs)
    with pytest.raises(api.NotFound):
        list(client.read_stream(stream, timeout=10))
    assert client.get_current_version(stream) == api.StreamState.NO_STREAM


def test_get_current_version(api: ClientApi, client: Any) -> None:
    stream = unique("version")
    assert client.get_current_version(stream) == api.StreamState.NO_STREAM
    client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=json_event(api))
    assert client.get_current_version(stream) == 0
    client.append_to_stream(stream, current_version=0, events=json_events(api, 5))
    assert client.get_current_version(stream) == 5


def test_stream_names_and_types_are_text(api: ClientApi, client: Any) -> None:
    stream = unique("Bestellung ünïcödé/流 with spaces")
    event = api.NewEvent(type="Größe geändert ✓", data=b'{"x": "\\u00fc"}')
    client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=event)
    (recorded,) = client.get_stream(stream, timeout=10)
    assert recorded.stream_name == stream
    assert recorded.type == "Größe geändert ✓"
    assert recorded.id == event.id


# --------------------------------------------------------------------------
# $all
# --------------------------------------------------------------------------


@pytest.fixture
def two_streams(api: ClientApi, client: Any) -> dict[str, Any]:
    """Three events in one stream, then three in another, with the returned
    positions: position1 is event 3's, position2 event 6's."""
    stream1, stream2 = unique("all-a"), unique("all-b")
    first, second = json_events(api, 3, "AllTest"), json_events(api, 3, "AllTest")
    position1 = client.append_to_stream(stream1, current_version=api.StreamState.NO_STREAM, events=first)
    position2 = client.append_to_stream(stream2, current_version=api.StreamState.NO_STREAM, events=second)
    return {"events": first + second, "position1": position1, "position2": position2}


def test_read_all_forwards(client: Any, two_streams: dict[str, Any]) -> None:
    events = two_streams["events"]
    everything = list(client.read_all(timeout=30))
    assert ids(everything[-6:]) == ids(events)
    positions = [event.commit_position for event in everything]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)

    # From a position: the event at that position comes first.
    assert ids(client.read_all(commit_position=two_streams["position1"], timeout=10)) == ids(events[2:])
    assert ids(client.read_all(commit_position=two_streams["position2"], timeout=10)) == ids(events[5:])
    assert ids(client.read_all(commit_position=two_streams["position1"], limit=2, timeout=10)) == ids(events[2:4])

    # From the start, with a limit.
    limited = list(client.read_all(limit=3, timeout=10))
    assert ids(limited) == ids(everything[:3])


def test_read_all_backwards(client: Any, two_streams: dict[str, Any]) -> None:
    events = two_streams["events"]
    backwards = list(client.read_all(backwards=True, timeout=30))
    assert ids(backwards[:6]) == ids(reversed(events))
    forwards = list(client.read_all(timeout=30))
    assert ids(backwards) == ids(reversed(forwards))
    assert ids(client.read_all(backwards=True, limit=3, timeout=10)) == ids(reversed(events[3:]))


def test_read_all_backwards_from_a_position_excludes_that_event(client: Any, two_streams: dict[str, Any]) -> None:
    """EventStoreDB reads `$all` backwards from position P starting with the
    event before P (forwards from P includes P). kurrentdbclient's own tests
    state this: "NB backwards here doesn't include event at commit position"."""
    events = two_streams["events"]
    got = list(client.read_all(commit_position=two_streams["position2"], backwards=True, limit=5, timeout=10))
    assert ids(got) == ids(reversed(events[:5]))
    got = list(client.read_all(commit_position=two_streams["position1"], backwards=True, limit=2, timeout=10))
    assert ids(got) == ids(reversed(events[:2]))


def test_read_all_and_subscribe_from_a_position_inside_an_event(client: Any, two_streams: dict[str, Any]) -> None:
    """KurrentDB accepts any position: forwards from P reads the first event
    at or after P, backwards the events before P, a catch-up subscription
    the events after P. The `eventsourcing` library relies on it: it reads
    from its last notification id (an event's position) plus one."""
    events = two_streams["events"]
    last_seen = two_streams["position1"]  # event 3's
    assert ids(client.read_all(commit_position=last_seen + 1, limit=2, timeout=10)) == ids(events[3:5])
    got = list(client.read_all(commit_position=last_seen + 1, backwards=True, limit=3, timeout=10))
    assert ids(got) == ids(reversed(events[:3]))
    with client.subscribe_to_all(commit_position=last_seen + 1, timeout=30) as subscription:
        assert ids(take(subscription, 3)) == ids(events[3:])


def test_get_commit_position(api: ClientApi, client: Any) -> None:
    before = client.get_commit_position()
    position = client.append_to_stream(unique("cp"), current_version=api.StreamState.NO_STREAM, events=json_event(api))
    assert position > before
    assert client.get_commit_position() == position
    # Nothing matches: position 0, as the clients define it.
    assert client.get_commit_position(filter_exclude=[".*"]) == 0


# --------------------------------------------------------------------------
# Filtered reads of $all
# --------------------------------------------------------------------------


@pytest.fixture
def typed_events(api: ClientApi, client: Any) -> dict[str, Any]:
    """Seven events of distinct types (unique to this test) in one stream."""
    tag = unique("T").replace("-", "")
    names = ["OrderCreated", "OrderUpdated", "OrderDeleted", "InvoiceCreated", "InvoiceUpdated", "InvoiceDeleted"]
    types = [f"{tag}{name}" for name in names] + [f"{tag}SomethingElse"]
    stream = unique("filter-types")
    events = [api.NewEvent(type=event_type, data=b"{}") for event_type in types]
    position = client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=events[:1])
    client.append_to_stream(stream, current_version=0, events=events[1:])
    return {"tag": tag, "position": position, "types": types}


def read_types(client: Any, position: int, **kwargs: Any) -> set[str]:
    return {event.type for event in client.read_all(commit_position=position, timeout=10, **kwargs)}


def test_read_all_event_type_regex_include(client: Any, typed_events: dict[str, Any]) -> None:
    tag, position = typed_events["tag"], typed_events["position"]
    assert read_types(client, position, filter_include=[f"{tag}OrderCreated"]) == {f"{tag}OrderCreated"}
    assert read_types(client, position, filter_include=[f"{tag}OrderCreated", f"{tag}OrderDeleted"]) == {
        f"{tag}OrderCreated",
        f"{tag}OrderDeleted",
    }
    # The clients anchor the regex: a bare prefix matches nothing.
    assert read_types(client, position, filter_include=[f"{tag}Order"]) == set()
    assert read_types(client, position, filter_include=[f"{tag}Order.*"]) == {
        f"{tag}OrderCreated",
        f"{tag}OrderUpdated",
        f"{tag}OrderDeleted",
    }
    assert read_types(client, position, filter_include=[f"{tag}.*Created"]) == {
        f"{tag}OrderCreated",
        f"{tag}InvoiceCreated",
    }


def test_read_all_event_type_regex_exclude(api: ClientApi, client: Any, typed_events: dict[str, Any]) -> None:
    """Exclusion is a negative lookahead regex (`^(?!(...))`)."""
    tag, position, types = typed_events["tag"], typed_events["position"], set(typed_events["types"])
    default = api.DEFAULT_EXCLUDE_FILTER
    assert read_types(client, position, filter_exclude=(*default, f"{tag}OrderCreated")) == types - {
        f"{tag}OrderCreated"
    }
    assert read_types(client, position, filter_exclude=(*default, f"{tag}Order.*")) == types - {
        f"{tag}OrderCreated",
        f"{tag}OrderUpdated",
        f"{tag}OrderDeleted",
    }
    assert read_types(client, position, filter_exclude=(*default, f"{tag}Order")) == types
    assert read_types(client, position, filter_exclude=(*default, ".*thing.*")) == types - {f"{tag}SomethingElse"}


def test_read_all_event_type_filter_with_limit(client: Any, typed_events: dict[str, Any]) -> None:
    """`limit` counts the events returned, not the events scanned."""
    tag = typed_events["tag"]
    got = list(client.read_all(filter_include=[f"{tag}Invoice.*"], limit=2, timeout=10))
    assert [event.type for event in got] == [f"{tag}InvoiceCreated", f"{tag}InvoiceUpdated"]
    got = list(client.read_all(filter_include=[f"{tag}Invoice.*"], backwards=True, limit=2, timeout=10))
    assert [event.type for event in got] == [f"{tag}InvoiceDeleted", f"{tag}InvoiceUpdated"]


def test_read_all_stream_name_regex(api: ClientApi, client: Any) -> None:
    prefix1, prefix2 = unique("sn1"), unique("sn2")
    streams = [f"{prefix1}-a", f"{prefix1}-b", f"{prefix2}-a"]
    position = None
    for stream in streams:
        at = client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=json_event(api))
        position = at if position is None else position

    def names(**kwargs: Any) -> set[str]:
        return {
            event.stream_name
            for event in client.read_all(commit_position=position, filter_by_stream_name=True, timeout=10, **kwargs)
        }

    assert names(filter_include=[f"{prefix1}-.*"]) == set(streams[:2])
    assert names(filter_include=[f"{prefix2}-.*"]) == {streams[2]}
    assert names(filter_include=[f"{prefix1}-a", f"{prefix2}-a"]) == {streams[0], streams[2]}
    # Excluding lets every other stream through, the server's own included
    # (a running projection's checkpoints): only this test's streams count.
    assert names(filter_exclude=[f"{prefix1}-.*"]) & set(streams) == {streams[2]}


def test_default_filter_hides_system_event_types(api: ClientApi, client: Any) -> None:
    stream = unique("sys")
    system = api.NewEvent(type=f"${unique('sysevent')}", data=b"{}")
    normal = json_event(api, "Normal")
    client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=[system, normal])
    first = client.get_stream(stream, timeout=10)[0].commit_position
    # The default filter is a regex with a negative lookahead. Only this
    # stream's events are compared: the server's own subsystems (a running
    # projection's checkpoints) may write `$` events meanwhile.
    def own(events: Any) -> list:
        return [event for event in events if event.stream_name == stream]

    assert ids(own(client.read_all(commit_position=first, timeout=10))) == ids([normal])
    assert ids(own(client.read_all(commit_position=first, filter_exclude=(), timeout=10))) == ids([system, normal])
    everything = own(client.read_all(filter_exclude=(), backwards=True, limit=50, timeout=10))
    assert ids(everything) == ids([normal, system])
    defaulted = own(client.read_all(backwards=True, limit=50, timeout=10))
    assert ids(defaulted) == ids([normal])
    recorded = client.get_stream(stream, timeout=10)
    assert [event.type for event in recorded] == [system.type, "Normal"]


def test_read_all_prefix_filters(api: ClientApi, client: Any) -> None:
    if not api.supports_prefix_filters:
        pytest.skip(f"{api.name} sends regex filters only")
    tag = unique("P").replace("-", "")
    stream_a, stream_b = f"{tag}-alpha-1", f"{tag}-beta-1"
    events_a = [api.NewEvent(type=f"{tag}Alpha{index}", data=b"{}") for index in range(3)]
    events_b = [api.NewEvent(type=f"{tag}Beta{index}", data=b"{}") for index in range(2)]
    client.append_to_stream(stream_a, current_version=api.StreamState.NO_STREAM, events=events_a)
    client.append_to_stream(stream_b, current_version=api.StreamState.NO_STREAM, events=events_b)
    start = client.get_stream(stream_a, timeout=10)[0].commit_position

    def read(**kwargs: Any) -> list:
        return list(client.read_all(commit_position=start, filter_by_prefix=True, timeout=10, **kwargs))

    assert ids(read(filter_include=[f"{tag}Alpha"])) == ids(events_a)
    assert ids(read(filter_include=[f"{tag}Beta", f"{tag}Alpha2"])) == ids([events_a[2], *events_b])
    assert ids(read(filter_include=[f"{tag}-beta"], filter_by_stream_name=True)) == ids(events_b)
    assert ids(read(filter_include=[f"{tag}-"], filter_by_stream_name=True, limit=4)) == ids(events_a + events_b[:1])
    assert ids(
        client.read_all(filter_include=[f"{tag}"], filter_by_prefix=True, backwards=True, limit=2, timeout=10)
    ) == ids(reversed(events_b))
