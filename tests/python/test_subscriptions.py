"""Catch-up subscriptions to `$all` and to one stream: history, the switch to
live events, start positions, filters, checkpoints and caught-up.

Every subscription gets a gRPC deadline (SUBSCRIPTION_TIMEOUT_S), so an
event that never comes fails the test with a deadline error, not a hang."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from support import (
    BackgroundAppender,
    ClientApi,
    ids,
    is_caught_up,
    is_checkpoint,
    is_event,
    json_event,
    json_events,
    take,
    take_until,
    unique,
)

SUBSCRIPTION_TIMEOUT_S = 30


def position_before_next_append(client: Any) -> int | None:
    """A start for subscribe_to_all whose history is exactly what this test
    appends next: the current last position (None: the database is empty,
    subscribe from the start)."""
    everything_last = list(client.read_all(backwards=True, limit=1, filter_exclude=(), timeout=10))
    return everything_last[0].commit_position if everything_last else None


# --------------------------------------------------------------------------
# $all
# --------------------------------------------------------------------------


def test_subscribe_to_all_from_the_start(api: ClientApi, client: Any) -> None:
    stream = unique("suball-start")
    events = json_events(api, 3)
    client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=events)
    first_in_database = list(client.read_all(limit=1, timeout=10))[0]

    with client.subscribe_to_all(timeout=SUBSCRIPTION_TIMEOUT_S) as subscription:
        items = take_until(subscription, lambda item: is_event(item) and item.id == events[-1].id)
    received = [item for item in items if is_event(item)]
    assert received[0].id == first_in_database.id
    assert ids(item for item in received if item.stream_name == stream) == ids(events)
    positions = [item.commit_position for item in received]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)


def test_subscribe_to_all_from_a_position_then_live(api: ClientApi, client: Any) -> None:
    stream = unique("suball-pos")
    first = json_event(api)
    rest = json_events(api, 2)
    position = client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=first)
    client.append_to_stream(stream, current_version=0, events=rest)

    subscription = client.subscribe_to_all(commit_position=position, timeout=SUBSCRIPTION_TIMEOUT_S)
    try:
        # Catch-up subscriptions start after the given position.
        assert ids(take(subscription, 2)) == ids(rest)
        live = json_events(api, 2)
        client.append_to_stream(stream, current_version=2, events=live[0])
        assert ids(take(subscription, 1)) == ids(live[:1])
        client.append_to_stream(stream, current_version=3, events=live[1:])
        assert ids(take(subscription, 1)) == ids(live[1:])
    finally:
        subscription.stop()


def test_subscribe_to_all_receives_events_appended_while_it_waits(api: ClientApi, client: Any) -> None:
    stream = unique("suball-live")
    events = json_events(api, 6)
    subscription = client.subscribe_to_all(from_end=True, timeout=SUBSCRIPTION_TIMEOUT_S)
    appender = BackgroundAppender(api, client, stream, events, interval=0.05)
    try:
        appender.start()
        received = take(subscription, len(events), lambda item: is_event(item) and item.stream_name == stream)
    finally:
        subscription.stop()
        appender.finish()
    assert ids(received) == ids(events)
    assert [item.commit_position for item in received] == appender.positions


def test_subscribe_to_all_caught_up(api: ClientApi, client: Any) -> None:
    stream = unique("suball-caughtup")
    start = position_before_next_append(client)
    history = json_events(api, 3)
    client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=history)

    subscription = client.subscribe_to_all(
        commit_position=start, include_caught_up=True, timeout=SUBSCRIPTION_TIMEOUT_S
    )
    try:
        items = take_until(subscription, is_caught_up)
        assert ids(item for item in items if is_event(item)) == ids(history)
        assert isinstance(items[-1], api.CaughtUp)
        live = json_event(api)
        client.append_to_stream(stream, current_version=2, events=live)
        assert ids(take(subscription, 1)) == ids([live])
    finally:
        subscription.stop()


def test_many_subscribers_see_the_same_events(api: ClientApi, client: Any) -> None:
    stream = unique("suball-fanout")
    subscriptions = [client.subscribe_to_all(from_end=True, timeout=SUBSCRIPTION_TIMEOUT_S) for _ in range(10)]
    try:
        events = json_events(api, 3)
        client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=events)
        for subscription in subscriptions:
            assert ids(take(subscription, 3, lambda item: is_event(item) and item.stream_name == stream)) == ids(events)
    finally:
        for subscription in subscriptions:
            subscription.stop()


def test_default_filter_skips_system_event_types(api: ClientApi, client: Any) -> None:
    stream = unique("suball-sys")
    start = position_before_next_append(client)
    system = api.NewEvent(type=f"${unique('sysevent')}", data=b"{}")
    normal = json_event(api, "Normal")
    client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=[system, normal])
    # Only this stream's events count: the server's own subsystems (a
    # running projection's checkpoints) may write `$` events meanwhile.
    def own(item: Any) -> bool:
        return is_event(item) and item.stream_name == stream

    with client.subscribe_to_all(commit_position=start, timeout=SUBSCRIPTION_TIMEOUT_S) as subscription:
        assert ids(take(subscription, 1, own)) == ids([normal])
    with client.subscribe_to_all(
        commit_position=start, filter_exclude=(), timeout=SUBSCRIPTION_TIMEOUT_S
    ) as subscription:
        assert ids(take(subscription, 2, own)) == ids([system, normal])


def test_caught_up_reports_time_and_position(api: ClientApi, client: Any) -> None:
    """Servers after 23.10 fill CaughtUp with the time and the position the
    subscription has reached; kurrentdbclient's own suite checks both (here
    every event is filtered out, so the position is still the start)."""
    if api.name != "kurrentdbclient":
        pytest.skip("esdbclient's CaughtUp carries no details")
    start = client.get_commit_position()
    before = datetime.datetime.now(tz=datetime.timezone.utc)
    client.append_to_stream(unique("caughtup"), current_version=api.StreamState.NO_STREAM, events=json_event(api))
    with client.subscribe_to_all(
        commit_position=start, filter_exclude=[".*"], include_caught_up=True, timeout=SUBSCRIPTION_TIMEOUT_S
    ) as subscription:
        (caught_up,) = take(subscription, 1, is_caught_up)
    after = datetime.datetime.now(tz=datetime.timezone.utc)
    assert caught_up.recorded_at is not None and before <= caught_up.recorded_at <= after
    assert caught_up.commit_position == start
    assert caught_up.prepare_position == start


# --------------------------------------------------------------------------
# Filters and checkpoints
# --------------------------------------------------------------------------


def test_filtered_subscription_checkpoints(api: ClientApi, client: Any) -> None:
    """A filter that matches rarely still reports progress: checkpoints while
    it scans history, one when it goes live, and more while it scans live
    events; resuming from a checkpoint neither repeats nor skips events."""
    tag = unique("Match").replace("-", "")
    stream = unique("ckpt")
    start = position_before_next_append(client)
    match1 = api.NewEvent(type=tag, data=b"{}")
    noise = [api.NewEvent(type=f"{tag}Noise", data=b"{}") for _ in range(40)]
    match2 = api.NewEvent(type=tag, data=b"{}")
    client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=[match1])
    client.append_to_stream(stream, current_version=0, events=noise)
    position2 = client.append_to_stream(stream, current_version=40, events=[match2])
    position1 = client.get_stream(stream, limit=1, timeout=10)[0].commit_position

    options = dict(filter_include=[tag], window_size=5, checkpoint_interval_multiplier=2)
    subscription = client.subscribe_to_all(
        commit_position=start,
        include_checkpoints=True,
        include_caught_up=True,
        timeout=SUBSCRIPTION_TIMEOUT_S,
        **options,
    )
    try:
        items = take_until(subscription, is_caught_up)
        assert ids(item for item in items if is_event(item)) == ids([match1, match2])
        assert all(isinstance(item, api.Checkpoint) for item in items if is_checkpoint(item))
        checkpoints = [item.commit_position for item in items if is_checkpoint(item)]
        assert checkpoints == sorted(checkpoints), "checkpoints went backwards"
        index1 = next(i for i, item in enumerate(items) if is_event(item) and item.id == match1.id)
        index2 = next(i for i, item in enumerate(items) if is_event(item) and item.id == match2.id)
        between = [item.commit_position for item in items[index1:index2] if is_checkpoint(item)]
        assert between, "no checkpoint while 40 filtered-out events were scanned (interval 10)"
        assert all(position1 <= checkpoint < position2 for checkpoint in between), (between, position1, position2)
        # A checkpoint when the subscription goes live, at or past the last event.
        going_live = [item.commit_position for item in items[index2:] if is_checkpoint(item)]
        assert going_live and going_live[-1] >= position2, "no checkpoint when the subscription caught up"

        # Live: 25 more filtered-out events, then a match.
        live_noise = [api.NewEvent(type=f"{tag}Noise", data=b"{}") for _ in range(25)]
        match3 = api.NewEvent(type=tag, data=b"{}")
        client.append_to_stream(stream, current_version=41, events=live_noise)
        position3 = client.append_to_stream(stream, current_version=66, events=[match3])
        live_items = take_until(subscription, lambda item: is_event(item) and item.id == match3.id)
        assert ids(item for item in live_items if is_event(item)) == ids([match3])
        live_checkpoints = [item.commit_position for item in live_items if is_checkpoint(item)]
        assert live_checkpoints, "no checkpoint while 25 filtered-out live events were scanned (interval 10)"
        assert all(position2 <= checkpoint < position3 for checkpoint in live_checkpoints)
    finally:
        subscription.stop()

    # Resuming from a checkpoint between the matches gives match2 first.
    for checkpoint in (between[0], between[-1]):
        with client.subscribe_to_all(
            commit_position=checkpoint, timeout=SUBSCRIPTION_TIMEOUT_S, **options
        ) as resumed:
            assert ids(take(resumed, 2)) == ids([match2, match3])


def test_filtered_subscription_by_stream_name_regex(api: ClientApi, client: Any) -> None:
    prefix = unique("subfilter")
    start = position_before_next_append(client)
    wanted = [f"{prefix}-a", f"{prefix}-b"]
    other = unique("subfilter-other")
    client.append_to_stream(wanted[0], current_version=api.StreamState.NO_STREAM, events=json_event(api))
    client.append_to_stream(other, current_version=api.StreamState.NO_STREAM, events=json_event(api))
    client.append_to_stream(wanted[1], current_version=api.StreamState.NO_STREAM, events=json_event(api))
    subscription = client.subscribe_to_all(
        commit_position=start,
        filter_by_stream_name=True,
        filter_include=[f"{prefix}-.*"],
        timeout=SUBSCRIPTION_TIMEOUT_S,
    )
    try:
        assert [item.stream_name for item in take(subscription, 2)] == wanted
        client.append_to_stream(other, current_version=0, events=json_event(api))
        live = json_event(api)
        client.append_to_stream(wanted[0], current_version=0, events=live)
        assert ids(take(subscription, 1)) == ids([live])
    finally:
        subscription.stop()


def test_filtered_subscription_by_event_type_regex(api: ClientApi, client: Any) -> None:
    tag = unique("Sub").replace("-", "")
    stream = unique("subtype")
    start = position_before_next_append(client)
    events = [api.NewEvent(type=f"{tag}{name}", data=b"{}") for name in ("Created", "Updated", "Created", "Deleted")]
    client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=events)
    with client.subscribe_to_all(
        commit_position=start, filter_include=[f"{tag}Created"], timeout=SUBSCRIPTION_TIMEOUT_S
    ) as subscription:
        assert ids(take(subscription, 2)) == ids([events[0], events[2]])


def test_filtered_subscription_by_prefix(api: ClientApi, client: Any) -> None:
    if not api.supports_prefix_filters:
        pytest.skip(f"{api.name} sends regex filters only")
    tag = unique("Pre").replace("-", "")
    start = position_before_next_append(client)
    stream1, stream2 = f"{tag}-one", f"{tag}x-two"
    events1 = [api.NewEvent(type=f"{tag}A", data=b"{}"), api.NewEvent(type="Other", data=b"{}")]
    events2 = [api.NewEvent(type=f"{tag}B", data=b"{}")]
    client.append_to_stream(stream1, current_version=api.StreamState.NO_STREAM, events=events1)
    client.append_to_stream(stream2, current_version=api.StreamState.NO_STREAM, events=events2)
    with client.subscribe_to_all(
        commit_position=start, filter_include=[tag], filter_by_prefix=True, timeout=SUBSCRIPTION_TIMEOUT_S
    ) as subscription:
        assert ids(take(subscription, 2)) == ids([events1[0], events2[0]])
    with client.subscribe_to_all(
        commit_position=start,
        filter_include=[f"{tag}-"],
        filter_by_prefix=True,
        filter_by_stream_name=True,
        timeout=SUBSCRIPTION_TIMEOUT_S,
    ) as subscription:
        assert ids(take(subscription, 2)) == ids(events1)


# --------------------------------------------------------------------------
# One stream
# --------------------------------------------------------------------------


def test_subscribe_to_stream_from_the_start_then_live(api: ClientApi, client: Any) -> None:
    stream = unique("substream")
    other = unique("substream-other")
    history = json_events(api, 3)
    client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=history)
    subscription = client.subscribe_to_stream(stream, timeout=SUBSCRIPTION_TIMEOUT_S)
    try:
        received = take(subscription, 3)
        assert ids(received) == ids(history)
        assert [item.stream_position for item in received] == [0, 1, 2]
        client.append_to_stream(other, current_version=api.StreamState.NO_STREAM, events=json_event(api))
        live = json_events(api, 2)
        client.append_to_stream(stream, current_version=2, events=live)
        received = take(subscription, 2)
        assert ids(received) == ids(live)
        assert [item.stream_position for item in received] == [3, 4]
    finally:
        subscription.stop()


def test_subscribe_to_stream_from_a_revision(api: ClientApi, client: Any) -> None:
    stream = unique("substream-rev")
    history = json_events(api, 5)
    client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=history)
    with client.subscribe_to_stream(stream, stream_position=1, timeout=SUBSCRIPTION_TIMEOUT_S) as subscription:
        # After revision 1: revisions 2, 3, 4.
        assert [item.stream_position for item in take(subscription, 3)] == [2, 3, 4]


def test_subscribe_to_stream_from_the_end(api: ClientApi, client: Any) -> None:
    stream = unique("substream-end")
    client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=json_events(api, 3))
    subscription = client.subscribe_to_stream(stream, from_end=True, timeout=SUBSCRIPTION_TIMEOUT_S)
    try:
        live = json_event(api)
        client.append_to_stream(stream, current_version=2, events=live)
        (received,) = take(subscription, 1)
        assert received.id == live.id and received.stream_position == 3
    finally:
        subscription.stop()


def test_subscribe_to_a_stream_before_it_exists(api: ClientApi, client: Any) -> None:
    stream = unique("substream-new")
    events = json_events(api, 4)
    subscription = client.subscribe_to_stream(stream, timeout=SUBSCRIPTION_TIMEOUT_S)
    appender = BackgroundAppender(api, client, stream, events, interval=0.05)
    try:
        appender.start()
        received = take(subscription, 4)
    finally:
        subscription.stop()
        appender.finish()
    assert ids(received) == ids(events)
    assert [item.stream_position for item in received] == [0, 1, 2, 3]


def test_subscribe_to_stream_caught_up(api: ClientApi, client: Any) -> None:
    stream = unique("substream-caughtup")
    history = json_events(api, 2)
    client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=history)
    subscription = client.subscribe_to_stream(stream, include_caught_up=True, timeout=SUBSCRIPTION_TIMEOUT_S)
    try:
        items = take_until(subscription, is_caught_up)
        assert ids(item for item in items if is_event(item)) == ids(history)
        live = json_event(api)
        client.append_to_stream(stream, current_version=1, events=live)
        assert ids(take(subscription, 1)) == ids([live])
    finally:
        subscription.stop()


def test_subscription_stopped_by_the_client(api: ClientApi, client: Any) -> None:
    stream = unique("substream-stop")
    client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=json_events(api, 2))
    subscription = client.subscribe_to_stream(stream, timeout=SUBSCRIPTION_TIMEOUT_S)
    assert len(take(subscription, 1)) == 1
    subscription.stop()
    # The server goes on serving after the client went away.
    client.append_to_stream(stream, current_version=1, events=json_event(api))
    assert client.get_current_version(stream) == 2
