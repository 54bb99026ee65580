"""Parked events of a persistent subscription group through the JSON API:
listed (`GET /api/v1/subscriptions/{stream}/{group}/parked`: oldest first,
each resolved, an empty list once none is left, never a 404 for a group
that exists) and discarded (`POST …/truncate-parked`, KurrentDB's
TruncateParked): below a stop-at revision, then all; an unknown group is a
404 on both."""

from __future__ import annotations

import time
from typing import Any

import requests

from support import is_event, unique

TIMEOUT_S = 10.0


def api(server: Any, path: str) -> str:
    return f"http://{server.address}/api/v1{path}"


def append(server: Any, stream: str, *types: str) -> None:
    events = [{"type": event_type, "data": {"n": index}} for index, event_type in enumerate(types)]
    response = requests.post(api(server, f"/streams/{stream}"), json={"events": events}, timeout=TIMEOUT_S)
    assert response.status_code == 200, response.text


def test_parked_events_are_discarded_up_to_a_stop_at_revision(server, client):
    stream = unique("ui-truncate")
    append(server, stream, "A", "B", "C")
    group = unique("ui-truncated")
    client.create_subscription_to_stream(group, stream, timeout=10)
    # Nothing parked yet (no parked stream): an empty list.
    nothing = requests.get(api(server, f"/subscriptions/{stream}/{group}/parked"), timeout=TIMEOUT_S)
    assert nothing.status_code == 200 and nothing.json() == {"events": []}, nothing.text
    subscription = client.read_subscription_to_stream(group, stream, timeout=10)
    try:
        for _ in range(3):
            subscription.nack(next(item for item in subscription if is_event(item)), "park")
    finally:
        subscription.stop()
    info_path = api(server, f"/subscriptions/{stream}/{group}")
    deadline = time.monotonic() + TIMEOUT_S
    while requests.get(info_path, timeout=TIMEOUT_S).json()["parkedCount"] != 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    parked = requests.get(f"{info_path}/parked", timeout=TIMEOUT_S).json()["events"]
    assert [event["type"] for event in parked] == ["A", "B", "C"], parked
    assert [event["link"]["revision"] for event in parked] == [0, 1, 2], parked
    assert [event["type"] for event in requests.get(f"{info_path}/parked?limit=1", timeout=TIMEOUT_S).json()["events"]] == ["A"]

    assert requests.post(f"{info_path}/truncate-parked?stopAt=2", timeout=TIMEOUT_S).status_code == 204
    assert requests.get(info_path, timeout=TIMEOUT_S).json()["parkedCount"] == 1
    assert [event["type"] for event in requests.get(f"{info_path}/parked", timeout=TIMEOUT_S).json()["events"]] == ["C"]
    assert requests.post(f"{info_path}/truncate-parked", timeout=TIMEOUT_S).status_code == 204
    assert requests.get(info_path, timeout=TIMEOUT_S).json()["parkedCount"] == 0
    # The parked stream is truncated to its end: still a list, empty.
    emptied = requests.get(f"{info_path}/parked", timeout=TIMEOUT_S)
    assert emptied.status_code == 200 and emptied.json() == {"events": []}, emptied.text
    for verb, route in (("post", "truncate-parked"), ("get", "parked")):
        missing = requests.request(verb, api(server, f"/subscriptions/{stream}/nobody/{route}"), timeout=TIMEOUT_S)
        assert missing.status_code == 404 and missing.json()["code"] == "group-not-found", (route, missing.text)
    assert requests.get(f"{info_path}/parked?limit=0", timeout=TIMEOUT_S).status_code == 400
