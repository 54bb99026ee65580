"""`GET /metrics` after load from the official client, parsed with the
Prometheus client's own text parser: every metric the KurrentDB Grafana
dashboards query that applies to eventfold (fixtures/grafana_metrics.txt)
exists with the labels the dashboards use, and the values follow the load
(events written at least what was appended, a parked event counted and
aged, the group's cursors the stream's revisions)."""

from __future__ import annotations

import os
import shlex
import time
from pathlib import Path
from typing import Any, Callable

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from support import ClientApi, EventfoldServer, json_event, json_events, unique

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "grafana_metrics.txt"
# The group's gauges are set at most once a second (and every few seconds
# when nothing happens).
SETTLE_TIMEOUT_S = 15


class Sample:
    def __init__(self, name: str, labels: dict[str, str], value: float):
        self.name, self.labels, self.value = name, labels, value

    def __repr__(self) -> str:
        return f"{self.name}{self.labels} {self.value}"


def scrape(server: EventfoldServer) -> list[Sample]:
    response = requests.get(f"http://{server.address}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return [
        Sample(sample.name, dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    ]


def requirements() -> list[tuple[str, dict[str, str | None], str]]:
    """(sample name, {label: value or None for any}, the fixture line)."""
    wanted = []
    for line in FIXTURE.read_text().splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        labels: dict[str, str | None] = {}
        for word in words[1:]:
            key, _, value = word.partition("=")
            labels[key] = value if "=" in word else None
        wanted.append((words[0], labels, line))
    return wanted


def matches(sample: Sample, name: str, labels: dict[str, str | None]) -> bool:
    return sample.name == name and all(
        key in sample.labels and (value is None or sample.labels[key] == value) for key, value in labels.items()
    )


def find(samples: list[Sample], name: str, /, **labels: str) -> list[Sample]:
    return [sample for sample in samples if matches(sample, name, dict(labels))]


def eventually(server: EventfoldServer, what: str, check: Callable[[list[Sample]], bool]) -> list[Sample]:
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        samples = scrape(server)
        if check(samples):
            return samples
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.2)


def parked(samples: list[Sample], labels: dict[str, str]) -> float | None:
    found = find(samples, "kurrentdb_persistent_sub_parked_messages", **labels)
    return found[0].value if found else None


def unimplemented(server: EventfoldServer) -> None:
    """Calls a gRPC method no eventfold service has, as a client of a newer
    protocol would, and checks that it is answered UNIMPLEMENTED."""
    import grpc

    with grpc.insecure_channel(server.address) as channel:
        call = channel.unary_unary("/event_store.client.users.Users/Details")
        try:
            call(b"", timeout=5)
            raise AssertionError("an unserved method answered")
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.UNIMPLEMENTED, error


def load(api: ClientApi, client: Any, server: EventfoldServer) -> tuple[str, str]:
    """What the dashboards' panels show: appends and reads that succeed and
    fail, a call to an unimplemented service, a call past its deadline, and
    a persistent subscription with an ack, a parked event and a replay.
    Returns the group's stream and name."""
    stream = unique("metrics")
    client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=json_events(api, 3))
    for index in range(2):
        client.append_to_stream(stream, current_version=api.StreamState.ANY, events=json_event(api, n=index))
    assert len(list(client.get_stream(stream))) == 5

    gone = unique("metrics-gone")
    client.append_to_stream(gone, current_version=api.StreamState.NO_STREAM, events=json_event(api))
    client.tombstone_stream(gone, current_version=api.StreamState.ANY)
    try:
        client.get_stream(gone)
        raise AssertionError("reading a tombstoned stream succeeded")
    except api.StreamIsDeleted:
        pass
    try:
        client.append_to_stream(gone, current_version=api.StreamState.ANY, events=json_event(api))
        raise AssertionError("appending to a tombstoned stream succeeded")
    except api.BaseError:  # which error depends on the client
        pass
    # A service eventfold does not serve (user management): UNIMPLEMENTED.
    unimplemented(server)
    # A subscription that outlives its deadline: the client gives up.
    subscription = client.subscribe_to_all(from_end=True, timeout=0.5)
    try:
        for _ in subscription:
            pass
        raise AssertionError("the subscription ended before its deadline")
    except api.DeadlineExceeded:
        pass
    finally:
        subscription.stop()

    group = unique("metrics-group")
    client.create_subscription_to_stream(group, stream, timeout=10)
    reading = client.read_subscription_to_stream(group, stream, timeout=30)
    try:
        received = []
        for event in reading:
            received.append(event)
            if len(received) == 5:
                break
        reading.nack(received[0], "park")
        for event in received[1:]:
            reading.ack(event)
        # Replayed once it is parked: the client sends nacks in batches.
        labels = {"event_stream_id": stream, "group_name": group}
        eventually(server, "the event is parked", lambda samples: parked(samples, labels) == 1)
        client.replay_parked_events(group, stream, timeout=10)
        # The replayed event is parked again, so one stays parked.
        replayed = next(iter(reading))
        assert replayed.id == received[0].id
        reading.nack(replayed, "park")
    finally:
        reading.stop()
    return stream, group


@pytest.mark.skipif(
    bool(os.environ.get("EVENTFOLD_PY_PG_BASE")),
    reason="the storage metrics the dashboards query (I/O, checkpoints, index and scavenge statuses) "
    "are the embedded engine's; the PostgreSQL backend records its own (eventfold_postgres_*)",
)
def test_every_dashboard_metric_exists_with_its_labels_after_load(
    api: ClientApi, client: Any, server: EventfoldServer
) -> None:
    scrape(server)  # so that a scrape is among the requests measured
    stream, group = load(api, client, server)
    labels = {"event_stream_id": stream, "group_name": group}

    def settled(samples: list[Sample]) -> bool:
        requests = find(samples, "kurrentdb_persistent_sub_park_message_requests", reason="client-nak", **labels)
        # The server learns of a call the client gave up on when the
        # cancellation arrives, which may be after the client went on.
        gave_up = find(samples, "kurrentdb_incoming_grpc_calls_total", kind="deadline-exceeded")
        return (
            bool(requests)
            and requests[0].value == 2
            and parked(samples, labels) == 1
            and bool(gave_up)
            and gave_up[0].value >= 1
        )

    samples = eventually(server, "the event parked again shows", settled)
    missing = [line for name, wanted, line in requirements() if not any(matches(s, name, wanted) for s in samples)]
    assert not missing, "dashboard metrics missing from /metrics:\n" + "\n".join(missing)

    def one(name: str, /, **wanted: str) -> float:
        found = find(samples, name, **wanted)
        assert found, f"{name} {wanted} missing"
        return found[0].value

    assert one("kurrentdb_io_events_total", activity="written") >= 7
    assert one("kurrentdb_io_events_total", activity="read") >= 5
    assert one("kurrentdb_incoming_grpc_calls_total", kind="failed") >= 2
    assert one("kurrentdb_incoming_grpc_calls_total", kind="unimplemented") >= 1
    assert one("kurrentdb_incoming_grpc_calls_total", kind="deadline-exceeded") >= 1
    assert one("kurrentdb_grpc_method_duration_seconds_count", activity="append", status="failed") >= 1
    assert one("kurrentdb_checkpoints", name="writer") > 0
    assert one("kurrentdb_persistent_sub_items_processed_total", **labels) >= 6
    assert one("kurrentdb_persistent_sub_last_known_event_number", **labels) == 4
    assert one("kurrentdb_persistent_sub_park_message_requests", reason="client-nak", **labels) == 2
    assert one("kurrentdb_persistent_sub_parked_message_replays", **labels) == 1
    assert one("kurrentdb_persistent_sub_oldest_parked_message_seconds", **labels) >= 0
    assert one("kurrentdb_proc_up_time_seconds_total") >= 0
    # eventfold's own, beside KurrentDB's.
    assert one("eventfold_writer_fsync_duration_seconds_count") >= 1
    assert one("eventfold_http_request_duration_seconds_count", method="GET", route="/metrics") >= 1
    assert one("eventfold_data_directory_bytes") > 0


@pytest.mark.skipif(
    not os.environ.get("EVENTFOLD_PY_PG_BASE"),
    reason="the PostgreSQL backend's metrics: this suite runs on the embedded engine",
)
def test_the_postgresql_backend_records_its_ordering_cost_and_pool(
    api: ClientApi, client: Any, server: EventfoldServer
) -> None:
    stream = unique("pg-metrics")
    for _ in range(3):
        client.append_to_stream(stream, current_version=api.StreamState.ANY, events=json_events(api, 2), timeout=10)

    def one(samples: list[Sample], name: str, **labels: str) -> float:
        found = find(samples, name, **labels)
        assert found, f"{name} {labels} missing"
        return found[0].value

    samples = eventually(
        server,
        "the appends' sequencing is recorded",
        lambda samples: bool(find(samples, "eventfold_postgres_sequencing_lag_seconds_count")),
    )
    assert one(samples, "eventfold_postgres_sequencing_lag_seconds_count") >= 3
    assert one(samples, "eventfold_postgres_sequencer_batch_events_count") >= 1
    assert one(samples, "eventfold_postgres_sequencer_batch_events_sum") >= 6
    assert one(samples, "eventfold_postgres_sequencer_step_duration_seconds_count") >= 1
    assert one(samples, "eventfold_postgres_pool_max_connections") >= 2
    assert one(samples, "eventfold_postgres_pool_connections", state="busy") >= 0
    assert one(samples, "eventfold_postgres_pool_connections", state="idle") >= 0
    assert one(samples, "eventfold_postgres_pool_waiting") >= 0
