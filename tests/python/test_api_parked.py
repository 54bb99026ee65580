"""Parked events of a persistent subscription group discarded through the
JSON API (`POST /api/v1/subscriptions/{stream}/{group}/truncate-parked`,
KurrentDB's TruncateParked): below a stop-at revision, then all; an
unknown group is a 404."""

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
    assert requests.post(f"{info_path}/truncate-parked?stopAt=2", timeout=TIMEOUT_S).status_code == 204
    assert requests.get(info_path, timeout=TIMEOUT_S).json()["parkedCount"] == 1
    assert requests.post(f"{info_path}/truncate-parked", timeout=TIMEOUT_S).status_code == 204
    assert requests.get(info_path, timeout=TIMEOUT_S).json()["parkedCount"] == 0
    missing = requests.post(api(server, f"/subscriptions/{stream}/nobody/truncate-parked"), timeout=TIMEOUT_S)
    assert missing.status_code == 404 and missing.json()["code"] == "group-not-found"
