"""Several eventfold nodes on one PostgreSQL database, through the official
clients: every node serves appends, reads and catch-up subscriptions of the
same log; one node (the holder of the leader lease) runs the persistent
subscription groups, the others answer their calls with where it is, and
when the leader dies another node takes its groups over from their
checkpoints with nothing lost.

Runs in the PostgreSQL pass of scripts/test-python only (the embedded
engine's directory belongs to one node)."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable

import pytest

from support import ClientApi, EventfoldServer, _PG_BASE, ids, json_events, unique
from test_persistent import ack_all, eventually, take_events

pytestmark = pytest.mark.skipif(not _PG_BASE, reason="several nodes share a PostgreSQL database only")

# Short enough that a test sees a takeover quickly.
LEASE_ARGS = ("--pg-leader-lease-ms", "1200")
TAKEOVER_TIMEOUT_S = 20.0
READ_TIMEOUT_S = 10.0


def gossip(server: EventfoldServer) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"http://{server.address}/gossip", timeout=5) as response:
        return json.loads(response.read().decode("utf-8"))["members"]


def leader_port(server: EventfoldServer) -> int | None:
    leaders = [m for m in gossip(server) if m["state"] == "Leader" and m["isAlive"]]
    return leaders[0]["httpEndPointPort"] if len(leaders) == 1 else None


@pytest.fixture
def two_nodes(
    server_factory: Callable[..., EventfoldServer], tmp_path: Path
) -> tuple[EventfoldServer, EventfoldServer]:
    # The same data dir names the same database for both.
    shared = tmp_path / "shared"
    first = server_factory(data_dir=shared, extra_args=LEASE_ARGS)
    second = server_factory(data_dir=shared, extra_args=LEASE_ARGS)
    return first, second


def cluster_uri(api: ClientApi, *servers: EventfoldServer) -> str:
    return f"{api.scheme}://{','.join(server.address for server in servers)}?tls=false"


def test_both_nodes_serve_one_log_and_one_of_them_leads(
    api: ClientApi, two_nodes: tuple[EventfoldServer, EventfoldServer]
) -> None:
    first, second = two_nodes
    both = sorted([first.port, second.port])
    for server in (first, second):
        # A node learns of the other at its next heartbeat.
        eventually("both nodes are listed", lambda: sorted(m["httpEndPointPort"] for m in gossip(server)) == both)
        members = gossip(server)
        assert all(m["isAlive"] for m in members)
        assert [m["state"] for m in members].count("Leader") == 1
    # The first to start took the lease; both say so.
    assert leader_port(first) == first.port
    assert leader_port(second) == first.port

    writer = api.connect(second.address)
    reader = api.connect(first.address)
    try:
        stream = unique("nodes")
        history = json_events(api, 3)
        writer.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=history)
        # Appended through the follower, read through the leader.
        assert ids(reader.get_stream(stream)) == ids(history)
        # Live: subscribed on one node, appended on the other.
        subscription = reader.subscribe_to_stream(stream, timeout=READ_TIMEOUT_S)
        try:
            live = json_events(api, 2)
            writer.append_to_stream(stream, current_version=2, events=live)
            received = []
            for event in subscription:
                received.append(event)
                if len(received) == 5:
                    break
            assert ids(received) == ids(history) + ids(live)
        finally:
            subscription.stop()
    finally:
        writer.close()
        reader.close()


def test_a_follower_tells_the_client_where_the_leader_is(
    api: ClientApi, two_nodes: tuple[EventfoldServer, EventfoldServer]
) -> None:
    leader, follower = two_nodes
    client = api.connect(follower.address)
    try:
        stream = unique("nodes-ps")
        client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=json_events(api, 1))
        with pytest.raises(api.NodeIsNotLeader) as raised:
            client.create_subscription_to_stream(unique("group"), stream, timeout=10)
        if api.name == "kurrentdbclient":
            assert (raised.value.host, raised.value.port) == ("127.0.0.1", leader.port)
        else:
            assert raised.value.leader_grpc_target == leader.address
    finally:
        client.close()


def test_killing_the_leader_moves_its_groups_to_another_node(
    api: ClientApi, two_nodes: tuple[EventfoldServer, EventfoldServer]
) -> None:
    first, second = two_nodes
    client = api.Client(uri=cluster_uri(api, first, second))
    try:
        stream = unique("nodes-takeover")
        events = json_events(api, 10)
        client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=events)
        group = unique("group")
        client.create_subscription_to_stream(group, stream, min_checkpoint_count=1, checkpoint_after=0.1, timeout=10)
        subscription = client.read_subscription_to_stream(group, stream, timeout=READ_TIMEOUT_S)
        received = take_events(subscription, 10)
        ack_all(subscription, received[:4])
        eventually(
            "the acks are checkpointed",
            lambda: client.get_subscription_info(group, stream).last_checkpointed_event_position == "3",
        )
        subscription.stop()

        first.kill()
        deadline = time.monotonic() + TAKEOVER_TIMEOUT_S
        while leader_port(second) != second.port:
            assert time.monotonic() < deadline, f"no takeover:\n{second.log_tail()}"
            time.sleep(0.1)

        # The client finds the new leader through gossip; its first calls may
        # fail while it does.
        after: list = []
        while True:
            try:
                subscription = client.read_subscription_to_stream(group, stream, timeout=READ_TIMEOUT_S)
                break
            except api.BaseError:
                assert time.monotonic() < deadline, "the group did not come back on the new leader"
                time.sleep(0.2)
        try:
            for event in subscription:
                after.append(event)
                subscription.ack(event)
                if set(ids(events[4:])) <= set(ids(after)):
                    break
        finally:
            subscription.stop()
        # Nothing acked and checkpointed comes again; nothing is missing.
        assert ids(after) == ids(events[4:])
        info = client.get_subscription_info(group, stream)
        assert info.group_name == group
    finally:
        client.close()
