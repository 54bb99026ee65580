"""Persistent subscriptions (server-side consumer groups) through the official
Python clients: create / list / get-info / update / delete for stream and
`$all` groups, reading with ack, nack (park, then replay; retry, with retry
counts), round robin across two consumers, the errors clients map
(exists, not found, too many consumers), and a server restart mid-way that
loses no acked progress and no event.

Every read has a gRPC deadline (READ_TIMEOUT_S), so an event that never
comes fails the test with a deadline error, not a hang."""

from __future__ import annotations

import importlib
import time
from typing import Any, Callable, Iterable

import pytest

from support import ClientApi, EventfoldServer, ids, json_events, unique

READ_TIMEOUT_S = 30
# How long the server may take to show the effect of a batched ack (the
# clients send acks at least every 0.2 s).
SETTLE_TIMEOUT_S = 10


def exceptions(api: ClientApi) -> Any:
    return importlib.import_module(f"{api.name}.exceptions")


def already_exists(api: ClientApi) -> type:
    errors = exceptions(api)
    return getattr(errors, "AlreadyExistsError", None) or getattr(errors, "AlreadyExists")


def maximum_subscriptions_reached(api: ClientApi) -> type:
    errors = exceptions(api)
    return getattr(errors, "MaximumSubscriptionsReachedError", None) or getattr(errors, "MaximumSubscriptionsReached")


def eventually(what: str, check: Callable[[], bool], timeout: float = SETTLE_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


def take_events(subscription: Any, count: int) -> list:
    events = []
    for event in subscription:
        events.append(event)
        if len(events) == count:
            return events
    raise AssertionError(f"the subscription ended after {len(events)} of {count} events")


def ack_all(subscription: Any, events: Iterable[Any]) -> None:
    for event in events:
        subscription.ack(event)


def new_stream(api: ClientApi, client: Any, prefix: str, count: int) -> tuple[str, list]:
    stream = unique(prefix)
    events = json_events(api, count)
    client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=events)
    return stream, events


def connections(info: Any) -> list | None:
    """The info's connections; esdbclient does not show them."""
    return getattr(info, "connections", None)


def info_of(client: Any, group: str, stream: str | None = None) -> Any:
    if stream is None:
        return client.get_subscription_info(group, timeout=10)
    return client.get_subscription_info(group, stream, timeout=10)


# --------------------------------------------------------------------------
# Management
# --------------------------------------------------------------------------


def test_stream_group_create_list_info_update_delete(api: ClientApi, client: Any) -> None:
    stream, _ = new_stream(api, client, "ps-manage", 2)
    group = unique("group")
    client.create_subscription_to_stream(
        group, stream, consumer_strategy="RoundRobin", message_timeout=7, max_retry_count=4, timeout=10
    )
    info = info_of(client, group, stream)
    assert (info.group_name, info.event_source, info.start_from) == (group, stream, "0")
    assert (info.consumer_strategy, info.message_timeout, info.max_retry_count) == ("RoundRobin", 7.0, 4)
    assert info.parked_message_count == 0 and connections(info) in ([], None)

    assert group in [listed.group_name for listed in client.list_subscriptions(timeout=10)]
    on_stream = client.list_subscriptions_to_stream(stream, timeout=10)
    assert [(listed.group_name, listed.event_source) for listed in on_stream] == [(group, stream)]
    assert client.list_subscriptions_to_stream(unique("ps-none"), timeout=10) == []

    with pytest.raises(already_exists(api)):
        client.create_subscription_to_stream(group, stream, timeout=10)

    client.update_subscription_to_stream(group, stream, stream_position=1, max_retry_count=9, timeout=10)
    updated = info_of(client, group, stream)
    assert (updated.start_from, updated.max_retry_count) == ("1", 9)

    client.delete_subscription(group, stream, timeout=10)
    with pytest.raises(api.NotFound):
        info_of(client, group, stream)
    with pytest.raises(api.NotFound):
        client.delete_subscription(group, stream, timeout=10)
    with pytest.raises(api.NotFound):
        client.update_subscription_to_stream(group, stream, timeout=10)


def test_all_group_create_list_info_update_delete(api: ClientApi, client: Any) -> None:
    group = unique("group-all")
    client.create_subscription_to_all(group, from_end=True, timeout=10)
    info = info_of(client, group)
    assert (info.event_source, info.start_from) == ("$all", "C:-1/P:-1")
    assert group in [listed.group_name for listed in client.list_subscriptions(timeout=10)]

    position = client.get_commit_position()
    client.update_subscription_to_all(group, commit_position=position, history_buffer_size=300, timeout=10)
    updated = info_of(client, group)
    assert (updated.start_from, updated.history_buffer_size) == (f"C:{position}/P:{position}", 300)

    with pytest.raises(already_exists(api)):
        client.create_subscription_to_all(group, timeout=10)
    client.delete_subscription(group, timeout=10)
    with pytest.raises(api.NotFound):
        info_of(client, group)
    assert group not in [listed.group_name for listed in client.list_subscriptions(timeout=10)]


def test_settings_a_group_cannot_run_with_are_internal_errors(api: ClientApi, client: Any) -> None:
    """KurrentDB refuses an unknown consumer strategy and a read batch not
    smaller than the history buffer as a failed operation (INTERNAL), which
    the clients raise as their InternalError."""
    internal_error = getattr(exceptions(api), "InternalError", None)
    if internal_error is None:
        pytest.skip(f"{api.name} has no InternalError")
    stream = unique("ps-bad")
    with pytest.raises(internal_error):
        client.create_subscription_to_stream(unique("g"), stream, consumer_strategy="Random", timeout=10)
    with pytest.raises(internal_error):
        client.create_subscription_to_stream(
            unique("g"), stream, read_batch_size=500, history_buffer_size=500, timeout=10
        )


def test_reading_an_unknown_group_is_not_found(api: ClientApi, client: Any) -> None:
    with pytest.raises(api.NotFound):
        subscription = client.read_subscription_to_stream(unique("nope"), unique("ps-nope"), timeout=10)
        next(iter(subscription))


# --------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------


def test_read_with_ack_then_live_events(api: ClientApi, client: Any) -> None:
    stream, events = new_stream(api, client, "ps-read", 3)
    group = unique("group")
    client.create_subscription_to_stream(group, stream, min_checkpoint_count=1, checkpoint_after=0.1, timeout=10)
    subscription = client.read_subscription_to_stream(group, stream, timeout=READ_TIMEOUT_S)
    try:
        received = take_events(subscription, 3)
        assert ids(received) == ids(events)
        assert [event.retry_count for event in received] == [0, 0, 0]
        ack_all(subscription, received)
        live = json_events(api, 2)
        client.append_to_stream(stream, current_version=2, events=live)
        more = take_events(subscription, 2)
        assert ids(more) == ids(live)
        ack_all(subscription, more)
        eventually("the checkpoint reaches the last event", lambda: info_of(client, group, stream).last_checkpointed_event_position == "4")
        info = info_of(client, group, stream)
        assert info.total_in_flight_messages == 0
        assert connections(info) is None or len(connections(info)) == 1
    finally:
        subscription.stop()


def test_all_group_from_a_position_includes_it_and_filters(api: ClientApi, client: Any) -> None:
    prefix = unique("psall")
    wanted, unwanted = f"{prefix}-a", f"{prefix}x-b"
    first = json_events(api, 2)
    position = client.append_to_stream(wanted, current_version=api.StreamState.NO_STREAM, events=first[:1])
    client.append_to_stream(unwanted, current_version=api.StreamState.NO_STREAM, events=json_events(api, 2))
    client.append_to_stream(wanted, current_version=0, events=first[1:])
    group = unique("group-all")
    client.create_subscription_to_all(
        group,
        commit_position=position,
        filter_include=(f"{prefix}-.*",),
        filter_by_stream_name=True,
        timeout=10,
    )
    subscription = client.read_subscription_to_all(group, timeout=READ_TIMEOUT_S)
    try:
        received = take_events(subscription, 2)
        # A persistent subscription from a position includes the event there.
        assert ids(received) == ids(first)
        assert received[0].commit_position == position
        ack_all(subscription, received)
    finally:
        subscription.stop()
    client.delete_subscription(group, timeout=10)


def test_nack_park_then_replay_parked(api: ClientApi, client: Any) -> None:
    stream, events = new_stream(api, client, "ps-park", 3)
    group = unique("group")
    client.create_subscription_to_stream(group, stream, timeout=10)
    subscription = client.read_subscription_to_stream(group, stream, timeout=READ_TIMEOUT_S)
    try:
        received = take_events(subscription, 3)
        subscription.nack(received[0], "park")
        subscription.nack(received[2], "park")
        subscription.ack(received[1])
        eventually("two events are parked", lambda: info_of(client, group, stream).parked_message_count == 2)

        client.replay_parked_events(group, stream, timeout=10)
        replayed = take_events(subscription, 2)
        assert ids(replayed) == [events[0].id, events[2].id]
        assert [event.retry_count for event in replayed] == [0, 0]
        ack_all(subscription, replayed)
        eventually("nothing is parked", lambda: info_of(client, group, stream).parked_message_count == 0)
    finally:
        subscription.stop()


def test_nack_retry_redelivers_with_growing_retry_counts_then_parks(api: ClientApi, client: Any) -> None:
    stream, events = new_stream(api, client, "ps-retry", 1)
    group = unique("group")
    client.create_subscription_to_stream(group, stream, max_retry_count=2, timeout=10)
    subscription = client.read_subscription_to_stream(group, stream, timeout=READ_TIMEOUT_S)
    try:
        counts = []
        for _ in range(3):
            event = take_events(subscription, 1)[0]
            assert event.id == events[0].id
            counts.append(event.retry_count)
            subscription.nack(event, "retry")
        assert counts == [0, 1, 2]
        # Past the retry limit, the next retry parks it.
        eventually("the event is parked", lambda: info_of(client, group, stream).parked_message_count == 1)
    finally:
        subscription.stop()


def test_unacked_events_time_out_and_come_back(api: ClientApi, client: Any) -> None:
    stream, events = new_stream(api, client, "ps-timeout", 1)
    group = unique("group")
    client.create_subscription_to_stream(group, stream, message_timeout=1, timeout=10)
    subscription = client.read_subscription_to_stream(group, stream, timeout=READ_TIMEOUT_S)
    try:
        first = take_events(subscription, 1)[0]
        again = take_events(subscription, 1)[0]
        assert (first.id, first.retry_count) == (events[0].id, 0)
        assert (again.id, again.retry_count) == (events[0].id, 1)
        subscription.ack(again)
    finally:
        subscription.stop()


def test_buffer_of_one_retries_then_parks_before_the_next_event(api: ClientApi, client: Any) -> None:
    """The clients' own suites: with room for one event and a 0.1 s message
    timeout, an event never acked comes back up to the retry limit and is
    parked before the next is sent; the events acked at once (the clients
    send acks in batches up to 0.2 s apart) are not retried, since KurrentDB
    looks at message timeouts once a second."""
    stream, events = new_stream(api, client, "ps-one", 3)
    group = unique("group")
    client.create_subscription_to_stream(group, stream, message_timeout=0.1, max_retry_count=3, timeout=10)
    subscription = client.read_subscription_to_stream(group, stream, event_buffer_size=1, timeout=READ_TIMEOUT_S)
    try:
        received = []
        for event in subscription:
            received.append((event.id, event.retry_count))
            if event.id != events[0].id:
                subscription.ack(event)
            if len(received) == 6:
                break
        first, second, third = (event.id for event in events)
        assert received == [(first, 0), (first, 1), (first, 2), (first, 3), (second, 0), (third, 0)]
    finally:
        subscription.stop()


def test_round_robin_across_two_consumers(api: ClientApi, client: Any) -> None:
    stream = unique("ps-rr")
    group = unique("group")
    client.create_subscription_to_stream(group, stream, consumer_strategy="RoundRobin", timeout=10)
    first = client.read_subscription_to_stream(group, stream, timeout=READ_TIMEOUT_S)
    second = client.read_subscription_to_stream(group, stream, timeout=READ_TIMEOUT_S)
    try:
        # Both are members once read_subscription_* returned: the clients
        # wait for the confirmation, which follows the join.
        events = json_events(api, 10)
        client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=events)
        to_first = take_events(first, 5)
        to_second = take_events(second, 5)
        ack_all(first, to_first)
        ack_all(second, to_second)
        positions = sorted([{event.stream_position for event in to_first}, {event.stream_position for event in to_second}])
        assert positions == sorted([{0, 2, 4, 6, 8}, {1, 3, 5, 7, 9}]), "round robin alternates"
        assert set(ids(to_first)) | set(ids(to_second)) == set(ids(events))
    finally:
        first.stop()
        second.stop()


def test_a_full_group_refuses_another_consumer(api: ClientApi, client: Any) -> None:
    stream = unique("ps-max")
    group = unique("group")
    client.create_subscription_to_stream(group, stream, max_subscriber_count=1, timeout=10)
    first = client.read_subscription_to_stream(group, stream, timeout=READ_TIMEOUT_S)
    try:
        with pytest.raises(maximum_subscriptions_reached(api)):
            second = client.read_subscription_to_stream(group, stream, timeout=10)
            next(iter(second))
    finally:
        first.stop()


# --------------------------------------------------------------------------
# Restarts
# --------------------------------------------------------------------------


@pytest.mark.restart
def test_a_restart_mid_way_loses_no_acked_progress_and_no_event(
    api: ClientApi, server_factory: Callable[..., EventfoldServer]
) -> None:
    server = server_factory()
    client = api.connect(server.address)
    try:
        stream, events = new_stream(api, client, "ps-restart", 10)
        group = unique("group")
        client.create_subscription_to_stream(group, stream, min_checkpoint_count=1, checkpoint_after=0.1, timeout=10)
        subscription = client.read_subscription_to_stream(group, stream, timeout=READ_TIMEOUT_S)
        received = take_events(subscription, 10)
        ack_all(subscription, received[:6])
        eventually("the acks are checkpointed", lambda: info_of(client, group, stream).last_checkpointed_event_position == "5")
        subscription.stop()

        assert server.stop() == 0, f"SIGTERM did not end the server cleanly:\n{server.log_tail()}"
        server.start()

        info = info_of(client, group, stream)
        assert info.last_checkpointed_event_position == "5", "acked progress survived"
        later = json_events(api, 2)
        client.append_to_stream(stream, current_version=9, events=later)
        subscription = client.read_subscription_to_stream(group, stream, timeout=READ_TIMEOUT_S)
        try:
            after = take_events(subscription, 6)
            # The four unacked events come back, then the new ones: nothing
            # acked is repeated and nothing is missing.
            assert ids(after) == ids(events[6:]) + ids(later)
            ack_all(subscription, after)
        finally:
            subscription.stop()
    finally:
        client.close()


@pytest.mark.restart
def test_a_crash_mid_way_redelivers_but_loses_nothing(
    api: ClientApi, server_factory: Callable[..., EventfoldServer]
) -> None:
    server = server_factory()
    client = api.connect(server.address)
    try:
        stream, events = new_stream(api, client, "ps-crash", 10)
        group = unique("group")
        client.create_subscription_to_stream(group, stream, timeout=10)
        subscription = client.read_subscription_to_stream(group, stream, timeout=READ_TIMEOUT_S)
        received = take_events(subscription, 10)
        ack_all(subscription, received[:4])
        time.sleep(0.5)
        server.kill()
        subscription.stop()
        server.start()

        subscription = client.read_subscription_to_stream(group, stream, timeout=READ_TIMEOUT_S)
        try:
            after = []
            unacked = set(ids(events[4:]))
            for event in subscription:
                after.append(event)
                subscription.ack(event)
                if unacked <= set(ids(after)):
                    break
            # At least once: acked events may come again (they were not
            # checkpointed before the crash), in order, and none is missing.
            assert ids(after) == ids(events[len(events) - len(after) :])
        finally:
            subscription.stop()
    finally:
        client.close()
