"""Projections through the official Python clients: create (continuous,
with and without emit), statistics, state, update, disable, enable, abort,
reset, delete with its options, restart of the subsystem, emitted streams,
faulted projections and the errors the clients map (already exists, not
found, operation failed, exception thrown by handler).

Sources are categories of the test's own, because the session's database is
shared with every other test."""

from __future__ import annotations

import importlib
import time
import uuid
from typing import Any, Callable

import pytest

from support import ClientApi, json_event

# Projections left running would write checkpoints under later tests.
pytestmark = pytest.mark.usefixtures("projections_stopped_afterwards")

SETTLE_TIMEOUT_S = 20


def error(api: ClientApi, name: str) -> type:
    errors = importlib.import_module(f"{api.name}.exceptions")
    return getattr(errors, f"{name}Error", None) or getattr(errors, name)


def category() -> str:
    # A category is the stream name up to its first dash: none in here.
    return "p" + uuid.uuid4().hex[:12]


def eventually(check: Callable[[], Any], timeout: float = SETTLE_TIMEOUT_S) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except Exception as caught:  # noqa: BLE001 - retried until the deadline
            last = caught
        time.sleep(0.05)
    raise AssertionError(f"not reached in {timeout}s; last: {last!r}")


def counter(source: str) -> str:
    return (
        f"fromCategory('{source}').when({{"
        " $init: function () { return { count: 0 }; },"
        " Added: function (s, e) { s.count += e.data.n; } })"
    )


def append(api: ClientApi, client: Any, stream: str, *numbers: int, event_type: str = "Added") -> None:
    events = [json_event(api, event_type, n=number) for number in numbers]
    client.append_to_stream(stream, current_version=api.StreamState.ANY, events=events)


def state(client: Any, name: str) -> Any:
    return client.get_projection_state(name=name).value


def status(client: Any, name: str) -> str:
    return client.get_projection_statistics(name=name).status


def test_full_lifecycle(api: ClientApi, client: Any) -> None:
    source = category()
    name = f"count-{source}"
    append(api, client, f"{source}-1", 1, 2)
    client.create_projection(name=name, query=counter(source))
    eventually(lambda: state(client, name) == {"count": 3})
    statistics = client.get_projection_statistics(name=name)
    assert statistics.status == "Running"
    assert statistics.mode == "Continuous"
    assert statistics.name == name
    eventually(lambda: client.get_projection_statistics(name=name).events_processed_after_restart == 2)

    # Update without emit: the new query runs from the checkpoint on.
    doubled = counter(source).replace("s.count += e.data.n", "s.count += 2 * e.data.n")
    client.update_projection(name=name, query=doubled)
    append(api, client, f"{source}-2", 5)
    eventually(lambda: state(client, name) == {"count": 13})

    client.disable_projection(name=name)
    eventually(lambda: status(client, name) == "Stopped")
    append(api, client, f"{source}-2", 1)
    time.sleep(0.3)
    assert state(client, name) == {"count": 13}
    client.enable_projection(name=name)
    eventually(lambda: state(client, name) == {"count": 15})
    assert status(client, name) == "Running"

    # Reset: the state starts over from the first event with the new query.
    client.reset_projection(name=name)
    eventually(lambda: state(client, name) == {"count": 18})

    with pytest.raises(error(api, "OperationFailed")):
        client.delete_projection(name=name)
    client.disable_projection(name=name)
    eventually(lambda: status(client, name) == "Stopped")
    client.delete_projection(name=name, delete_checkpoint_stream=True, delete_state_stream=True)
    with pytest.raises(error(api, "NotFound")):
        client.get_projection_statistics(name=name)
    with pytest.raises(error(api, "NotFound")):
        client.get_projection_state(name=name)


def test_create_twice_is_already_exists(api: ClientApi, client: Any) -> None:
    source = category()
    name = f"twice-{source}"
    client.create_projection(name=name, query=counter(source))
    with pytest.raises(error(api, "AlreadyExists")):
        client.create_projection(name=name, query=counter(source))


def test_unknown_projection_is_not_found(api: ClientApi, client: Any) -> None:
    missing = f"missing-{category()}"
    for call in (
        lambda: client.get_projection_statistics(name=missing),
        lambda: client.get_projection_state(name=missing),
        lambda: client.enable_projection(name=missing),
        lambda: client.disable_projection(name=missing),
        lambda: client.reset_projection(name=missing),
        lambda: client.update_projection(name=missing, query=counter("x")),
        lambda: client.delete_projection(name=missing),
    ):
        with pytest.raises(error(api, "NotFound")):
            call()


def test_a_syntax_error_is_refused(api: ClientApi, client: Any) -> None:
    name = f"broken-{category()}"
    with pytest.raises(error(api, "ExceptionThrownByHandler")) as refused:
        client.create_projection(name=name, query="fromAll().when({\n  Added: function (s, e) { s.n = ; }\n})")
    assert "line 2" in str(refused.value)
    with pytest.raises(error(api, "NotFound")):
        client.get_projection_statistics(name=name)


def test_tracking_without_emit_is_refused(api: ClientApi, client: Any) -> None:
    source = category()
    with pytest.raises(error(api, "ExceptionThrownByHandler")):
        client.create_projection(
            name=f"track-{source}", query=counter(source), emit_enabled=False, track_emitted_streams=True
        )


def test_emitted_and_linked_streams_are_readable_and_deleted_with_the_projection(
    api: ClientApi, client: Any
) -> None:
    source = category()
    name = f"emit-{source}"
    query = (
        f"fromCategory('{source}').foreachStream().when({{"
        " $init: function () { return { total: 0 }; },"
        " Added: function (s, e) { s.total += e.data.n;"
        f"   emit('{source}out-' + e.streamId, 'Total', {{ total: s.total }});"
        f"   linkTo('{source}links', e); }} }})"
    )
    append(api, client, f"{source}-a", 1, 2)
    append(api, client, f"{source}-b", 10)
    client.create_projection(name=name, query=query, emit_enabled=True, track_emitted_streams=True)

    def totals() -> list:
        return [event.data for event in client.get_stream(f"{source}out-{source}-a")]

    eventually(lambda: len(totals()) == 2)
    assert [event.type for event in client.get_stream(f"{source}out-{source}-a")] == ["Total", "Total"]
    eventually(lambda: len(list(client.get_stream(f"{source}links", resolve_links=True))) == 3)
    linked = list(client.get_stream(f"{source}links", resolve_links=True))
    assert sorted(event.stream_name for event in linked) == [f"{source}-a", f"{source}-a", f"{source}-b"]
    if "partition" in client.get_projection_state.__code__.co_varnames:
        partition = client.get_projection_state(name=name, partition=f"{source}-b").value
        assert partition == {"total": 10}

    client.disable_projection(name=name)
    client.delete_projection(name=name, delete_emitted_streams=True, delete_checkpoint_stream=True)
    with pytest.raises(error(api, "NotFound")):
        list(client.get_stream(f"{source}out-{source}-a"))


def test_emit_without_emit_enabled_faults(api: ClientApi, client: Any) -> None:
    source = category()
    name = f"noemit-{source}"
    append(api, client, f"{source}-1", 1)
    client.create_projection(
        name=name, query=f"fromCategory('{source}').when({{ Added: function (s, e) {{ emit('x', 'T', {{}}); }} }})"
    )
    statistics = eventually(
        lambda: (found := client.get_projection_statistics(name=name)).status.startswith("Faulted") and found
    )
    assert "'emit' is not allowed by the projection/configuration/mode" in statistics.state_reason
    # An update that allows emitting, and the projection runs again.
    client.update_projection(
        name=name,
        query=f"fromCategory('{source}').when({{ Added: function (s, e) {{ emit('{source}out', 'T', {{}}); }} }})",
        emit_enabled=True,
    )
    client.enable_projection(name=name)
    eventually(lambda: len(list(client.get_stream(f"{source}out"))) == 1)


def test_a_throwing_or_looping_handler_faults_with_its_reason(api: ClientApi, client: Any) -> None:
    source = category()
    append(api, client, f"{source}-1", 1)
    thrower = f"throw-{source}"
    client.create_projection(
        name=thrower,
        query=f"fromCategory('{source}').when({{ Added: function () {{ throw new Error('refused ' + 42); }} }})",
    )
    looper = f"loop-{source}"
    client.create_projection(
        name=looper, query=f"fromCategory('{source}').when({{ Added: function () {{ for (;;) {{}} }} }})"
    )
    for name, reason in ((thrower, "refused 42"), (looper, "ms allowed for one event")):
        statistics = eventually(
            lambda: (found := client.get_projection_statistics(name=name)).status.startswith("Faulted") and found
        )
        assert reason in statistics.state_reason
    # A faulted projection may be deleted.
    client.delete_projection(name=thrower)


def test_abort_and_list(api: ClientApi, client: Any) -> None:
    if not hasattr(client, "abort_projection"):
        pytest.skip(f"{api.name} has no abort_projection")
    source = category()
    name = f"abort-{source}"
    client.create_projection(name=name, query=counter(source))
    client.abort_projection(name=name)
    eventually(lambda: status(client, name) == "Aborted")
    listed = client.list_all_projection_statistics()
    names = [statistics.name for statistics in listed]
    assert name in names
    for system in ("$by_category", "$by_event_type", "$stream_by_category", "$streams", "$by_correlation_id"):
        assert system in names
    continuous = [statistics.name for statistics in client.list_continuous_projection_statistics()]
    assert name in continuous


def test_restart_subsystem_keeps_projections(api: ClientApi, client: Any) -> None:
    source = category()
    name = f"restart-{source}"
    append(api, client, f"{source}-1", 4)
    client.create_projection(name=name, query=counter(source))
    eventually(lambda: state(client, name) == {"count": 4})
    client.restart_projections_subsystem()
    append(api, client, f"{source}-1", 1)
    eventually(lambda: state(client, name) == {"count": 5})
