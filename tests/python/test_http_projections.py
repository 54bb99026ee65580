"""Projections over KurrentDB's HTTP API, as a curl user or an exporter
calls it: a projection created with its query as the body is read over HTTP
and through the official client's gRPC calls alike, commanded (disable,
enable, reset, reset to a position) and deleted; refusals are JSON with the
right status. Sources are categories of the test's own: the session's
database is shared with every other test."""

from __future__ import annotations

import importlib
import time
import uuid
from typing import Any, Callable

import pytest
import requests

from support import ClientApi, json_event

# Projections left running would write checkpoints under later tests.
pytestmark = pytest.mark.usefixtures("projections_stopped_afterwards")

TIMEOUT_S = 15.0
SETTLE_TIMEOUT_S = 20.0


def url(server: Any, path: str) -> str:
    return f"http://{server.address}{path}"


def category() -> str:
    # A category is the stream name up to its first dash: none in here.
    return "h" + uuid.uuid4().hex[:12]


def counter(source: str) -> str:
    return (
        f"fromCategory('{source}').when({{"
        " $init: function () { return { count: 0 }; },"
        " Added: function (s, e) { s.count += e.data.n; } })"
    )


def eventually(check: Callable[[], Any], timeout: float = SETTLE_TIMEOUT_S) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"not reached in {timeout}s; last: {last!r}")


def append(api: ClientApi, client: Any, stream: str, *numbers: int) -> int:
    """Appends `Added` events; answers the commit position of the last."""
    events = [json_event(api, "Added", n=number) for number in numbers]
    return client.append_to_stream(stream, current_version=api.StreamState.ANY, events=events)


def http_state(server: Any, name: str) -> Any:
    return requests.get(url(server, f"/projection/{name}/state"), timeout=TIMEOUT_S).json()


def http_status(server: Any, name: str) -> str:
    return requests.get(url(server, f"/projection/{name}"), timeout=TIMEOUT_S).json()["status"]


def command(server: Any, name: str, verb: str, query: str = "") -> requests.Response:
    return requests.post(url(server, f"/projection/{name}/command/{verb}{query}"), timeout=TIMEOUT_S)


def test_created_over_http_read_over_http_and_grpc(server: Any, api: ClientApi, client: Any) -> None:
    source = category()
    name = f"count-{source}"
    append(api, client, f"{source}-1", 1, 2)
    created = requests.post(
        url(server, f"/projections/continuous?name={name}&emit=no"), data=counter(source), timeout=TIMEOUT_S
    )
    assert created.status_code == 201, created.text
    assert created.headers["Location"].endswith(f"/projection/{name}")

    eventually(lambda: http_state(server, name) == {"count": 3})
    assert client.get_projection_state(name=name).value == {"count": 3}
    result = requests.get(url(server, f"/projection/{name}/result"), timeout=TIMEOUT_S)
    assert result.status_code == 200 and result.json() == {"count": 3}
    assert client.get_projection_statistics(name=name).status == "Running"

    listed = requests.get(url(server, "/projections/all-non-transient"), timeout=TIMEOUT_S).json()
    [mine] = [projection for projection in listed["projections"] if projection["name"] == name]
    assert mine["mode"] == "Continuous" and mine["status"] == "Running", mine
    assert requests.get(url(server, f"/projection/{name}/query"), timeout=TIMEOUT_S).text == counter(source)


def test_commands_over_http(server: Any, api: ClientApi, client: Any) -> None:
    source = category()
    name = f"cmd-{source}"
    append(api, client, f"{source}-1", 1, 2)
    assert requests.post(
        url(server, f"/projections/continuous?name={name}"), data=counter(source), timeout=TIMEOUT_S
    ).status_code == 201
    eventually(lambda: http_state(server, name) == {"count": 3})

    assert command(server, name, "disable").status_code == 200
    eventually(lambda: http_status(server, name) == "Stopped")
    assert client.get_projection_statistics(name=name).status == "Stopped"
    checkpoint = append(api, client, f"{source}-1", 4)
    time.sleep(0.3)
    assert http_state(server, name) == {"count": 3}
    assert command(server, name, "enable").status_code == 200
    eventually(lambda: http_state(server, name) == {"count": 7})

    # Reset to a position: empty state, then only the events after it.
    assert command(server, name, "reset", f"?position={checkpoint}").status_code == 200
    append(api, client, f"{source}-1", 10)
    eventually(lambda: http_state(server, name) == {"count": 10})
    assert client.get_projection_state(name=name).value == {"count": 10}
    # A plain reset starts from the first event.
    assert command(server, name, "reset").status_code == 200
    eventually(lambda: http_state(server, name) == {"count": 17})

    refused = requests.delete(url(server, f"/projection/{name}"), timeout=TIMEOUT_S)
    assert refused.status_code == 409 and "stopped" in refused.json()["error"]
    assert command(server, name, "disable").status_code == 200
    deleted = requests.delete(
        url(server, f"/projection/{name}?deleteCheckpointStream=yes&deleteStateStream=yes"), timeout=TIMEOUT_S
    )
    assert deleted.status_code == 200, deleted.text
    assert requests.get(url(server, f"/projection/{name}"), timeout=TIMEOUT_S).status_code == 404
    errors = importlib.import_module(f"{api.name}.exceptions")
    not_found = getattr(errors, "NotFoundError", None) or errors.NotFound
    with pytest.raises(not_found):
        client.get_projection_statistics(name=name)


def test_refusals_are_json_with_their_status(server: Any) -> None:
    name = f"bad-{category()}"
    broken = requests.post(
        url(server, f"/projections/continuous?name={name}"),
        data="fromAll()\n  .when({ $any: function (s, e) { s.x = ; } })",
        timeout=TIMEOUT_S,
    )
    assert broken.status_code == 400
    body = broken.json()
    assert body["line"] == 2 and body["column"] > 0, body
    assert requests.get(url(server, f"/projection/{name}"), timeout=TIMEOUT_S).status_code == 404

    missing = requests.get(url(server, "/projection/no-such-projection/state"), timeout=TIMEOUT_S)
    assert missing.status_code == 404 and "no-such-projection" in missing.json()["error"]
    good = counter(category())
    assert requests.post(url(server, f"/projections/continuous?name={name}"), data=good, timeout=TIMEOUT_S).ok
    again = requests.post(url(server, f"/projections/continuous?name={name}"), data=good, timeout=TIMEOUT_S)
    assert again.status_code == 409 and "already exists" in again.json()["error"]
    assert command(server, name, "reset", "?position=soon").status_code == 400
