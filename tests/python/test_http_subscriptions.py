"""Persistent subscriptions over KurrentDB's HTTP API, as an exporter or a
curl user calls it: /subscriptions and a group's /info always; creating,
reading, acking, nacking and replaying parked events with the HTTP stream
API on."""

from __future__ import annotations

import time
import uuid

import requests

TIMEOUT_S = 15.0


def url(server, path: str) -> str:
    return f"http://{server.address}{path}"


def test_listing_is_always_served(server):
    listed = requests.get(url(server, "/subscriptions"), timeout=TIMEOUT_S)
    assert listed.status_code == 200 and isinstance(listed.json(), list)
    missing = requests.get(url(server, "/subscriptions/nothing/none/info"), timeout=TIMEOUT_S)
    assert missing.status_code == 404 and missing.json()["error"]
    assert requests.put(url(server, "/subscriptions/nothing/none"), json={}, timeout=TIMEOUT_S).status_code == 404


def test_a_group_is_created_read_acked_and_nacked(atom_server):
    stream = f"jobs-{uuid.uuid4().hex[:12]}"
    events = [{"eventId": str(uuid.uuid4()), "eventType": "Job", "data": {"n": n}} for n in range(2)]
    posted = requests.post(
        url(atom_server, f"/streams/{stream}"), json=events,
        headers={"Content-Type": "application/vnd.eventstore.events+json"}, timeout=TIMEOUT_S,
    )
    assert posted.status_code == 201
    group = url(atom_server, f"/subscriptions/{stream}/workers")
    assert requests.put(group, json={"startFrom": 0}, timeout=TIMEOUT_S).status_code == 201
    assert requests.put(group, json={}, timeout=TIMEOUT_S).status_code == 409

    feed = requests.get(f"{group}/2?embed=body", timeout=TIMEOUT_S).json()
    entries = feed["entries"]
    assert [entry["eventNumber"] for entry in entries] == [1, 0]
    ack = next(item["uri"] for item in entries[1]["links"] if item["relation"] == "ack")
    nack = next(item["uri"] for item in entries[0]["links"] if item["relation"] == "nack")
    assert requests.post(ack, timeout=TIMEOUT_S).status_code == 202
    assert requests.post(f"{nack}?action=Park", timeout=TIMEOUT_S).status_code == 202

    deadline = time.monotonic() + 5
    info = {}
    while time.monotonic() < deadline:
        info = requests.get(f"{group}/info", timeout=TIMEOUT_S).json()
        if info["parkedMessageCount"] == 1:
            break
        time.sleep(0.05)
    assert info["parkedMessageCount"] == 1, info
    assert any(item["groupName"] == "workers" for item in requests.get(url(atom_server, "/subscriptions"), timeout=TIMEOUT_S).json())

    assert requests.post(f"{group}/replayParked", timeout=TIMEOUT_S).status_code == 200
    replayed = []
    while time.monotonic() < deadline + 5 and not replayed:
        replayed = requests.get(f"{group}?embed=rich", timeout=TIMEOUT_S).json()["entries"]
    assert [entry["eventNumber"] for entry in replayed] == [1]
    assert requests.delete(group, timeout=TIMEOUT_S).status_code == 200
