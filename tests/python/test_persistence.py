"""Data survives the server: a graceful restart (SIGTERM) and a crash
(SIGKILL after the appends were acknowledged). Each test runs a server of its
own, so the session's server is not disturbed."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import pytest

from support import ClientApi, EventfoldServer, ids, is_caught_up, json_event, json_events, take, unique

pytestmark = pytest.mark.restart


def snapshot(client: Any) -> list[tuple]:
    """Everything in $all, system events included, as comparable tuples."""
    return [
        (
            event.id,
            event.stream_name,
            event.stream_position,
            event.commit_position,
            event.type,
            event.data,
            event.metadata,
            event.content_type,
            event.recorded_at,
        )
        for event in client.read_all(filter_exclude=(), timeout=30)
    ]


def test_data_survives_a_graceful_restart(api: ClientApi, server_factory: Callable[..., EventfoldServer]) -> None:
    server = server_factory()
    client = api.connect(server.address)
    try:
        stream1, stream2 = unique("persist-a"), unique("persist-b")
        first = json_events(api, 3)
        binary = api.NewEvent(
            type="Binary", data=bytes(range(256)), metadata=b"\x00\x01", content_type="application/octet-stream"
        )
        client.append_to_stream(stream1, current_version=api.StreamState.NO_STREAM, events=first)
        last_batch = [binary, json_event(api)]
        last_position = client.append_to_stream(stream2, current_version=api.StreamState.NO_STREAM, events=last_batch)
        before = snapshot(client)
        assert server.health()["last_position"] == last_position

        assert server.stop() == 0, f"SIGTERM did not end the server cleanly:\n{server.log_tail()}"
        server.start()

        # The client created before the restart reconnects by itself.
        assert snapshot(client) == before
        assert client.get_commit_position() == last_position
        assert server.health()["last_position"] == last_position
        assert ids(client.get_stream(stream1, timeout=10)) == ids(first)
        assert client.get_current_version(stream1) == 2

        # Expected revisions, idempotency and positions carry on.
        assert client.append_to_stream(stream2, current_version=api.StreamState.NO_STREAM, events=last_batch) == (
            last_position
        )
        new = json_event(api)
        with pytest.raises(api.WrongCurrentVersion):
            client.append_to_stream(stream1, current_version=1, events=new)
        new_position = client.append_to_stream(stream1, current_version=2, events=new)
        assert new_position > last_position
        assert client.get_stream(stream1, timeout=10)[-1].stream_position == 3

        # A subscription from the old head sees only what came after.
        with client.subscribe_to_all(commit_position=last_position, timeout=30) as subscription:
            assert ids(take(subscription, 1)) == ids([new])
    finally:
        client.close()


def test_several_restarts(api: ClientApi, server_factory: Callable[..., EventfoldServer]) -> None:
    server = server_factory()
    stream = unique("persist-many")
    written: list = []
    for round_number in range(3):
        client = api.connect(server.address)
        try:
            if written:
                assert ids(client.get_stream(stream, timeout=10)) == ids(written)
            batch = json_events(api, 5)
            expected = len(written) - 1 if written else api.StreamState.NO_STREAM
            client.append_to_stream(stream, current_version=expected, events=batch)
            written.extend(batch)
        finally:
            client.close()
        assert server.restart() == 0
    client = api.connect(server.address)
    try:
        recorded = client.get_stream(stream, timeout=10)
        assert ids(recorded) == ids(written)
        assert [event.stream_position for event in recorded] == list(range(15))
    finally:
        client.close()


def test_acknowledged_appends_survive_a_crash(api: ClientApi, server_factory: Callable[..., EventfoldServer]) -> None:
    """Every append the server acknowledged is there after kill -9."""
    server = server_factory()
    client = api.connect(server.address)
    streams = [unique("crash") for _ in range(6)]

    def write(stream: str) -> list:
        acknowledged = []
        for revision in range(12):
            event = json_event(api, "Durable", n=revision)
            expected = revision - 1 if revision else api.StreamState.NO_STREAM
            events = event if revision % 2 else [event]  # both append RPCs
            client.append_to_stream(stream, current_version=expected, events=events, timeout=10)
            acknowledged.append(event.id)
        return acknowledged

    try:
        with ThreadPoolExecutor(max_workers=len(streams)) as pool:
            acknowledged = dict(zip(streams, pool.map(write, streams)))
    finally:
        client.close()
    server.kill()
    server.start()

    client = api.connect(server.address)
    try:
        for stream in streams:
            assert ids(client.get_stream(stream, timeout=10)) == acknowledged[stream]
        # And the database takes new appends where the streams left off.
        client.append_to_stream(streams[0], current_version=11, events=json_event(api))
        assert client.get_current_version(streams[0]) == 12
    finally:
        client.close()


def test_sigterm_ends_open_subscriptions(api: ClientApi, server_factory: Callable[..., EventfoldServer]) -> None:
    """SIGTERM stops the server promptly even while catch-up subscriptions
    are open (applications keep them open forever), and the subscribers see
    an error, not a quiet end of their subscription."""
    server = server_factory()
    client = api.connect(server.address)
    subscriptions: list = []
    try:
        stream = unique("shutdown")
        client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=json_event(api))
        subscriptions = [
            client.subscribe_to_stream(stream, include_caught_up=True, timeout=60),
            client.subscribe_to_all(include_caught_up=True, timeout=60),
            client.subscribe_to_all(filter_exclude=(), include_caught_up=True, timeout=60),
        ]
        for subscription in subscriptions:
            take(subscription, 1, is_caught_up)

        started = time.monotonic()
        code = server.stop(timeout=10)
        elapsed = time.monotonic() - started
        assert code == 0 and elapsed < 10, (
            f"SIGTERM with 3 open subscriptions: exit code {code} after {elapsed:.1f} s "
            f"(-9: still running after 10 s, killed)\n{server.log_tail()}"
        )
        for subscription in subscriptions:
            with pytest.raises(api.BaseError):
                list(subscription)
    finally:
        for subscription in subscriptions:
            subscription.stop()
        client.close()
