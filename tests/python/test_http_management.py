"""The HTTP management endpoints as an operator's scripts call them (curl,
requests, a probe): liveness with KurrentDB's codes, /ping, /info, /gossip,
/stats, scavenges by id, and JSON errors for bad input. They need no client
package, so both client runs check the same thing."""

from __future__ import annotations

import time

import requests

TIMEOUT_S = 10.0


def url(server, path: str) -> str:
    return f"http://{server.address}{path}"


def get(server, path: str) -> requests.Response:
    return requests.get(url(server, path), timeout=TIMEOUT_S)


def assert_json_error(response: requests.Response, code: int) -> None:
    assert response.status_code == code, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    assert isinstance(response.json()["error"], str) and response.json()["error"]


def test_live_is_204_for_get_and_head_and_answers_the_asked_code(server):
    for method in (requests.get, requests.head):
        live = method(url(server, "/health/live"), timeout=TIMEOUT_S)
        assert live.status_code == 204, live.text
        assert live.content == b""
    assert get(server, "/health/live?liveCode=200").status_code == 200
    assert requests.head(url(server, "/health/live?liveCode=200"), timeout=TIMEOUT_S).status_code == 200
    for bad in ("liveCode=abc", "liveCode=42", "liveCode=700", "unknown=1"):
        assert_json_error(get(server, f"/health/live?{bad}"), 400)


def test_ping_and_info_say_what_the_node_is(server):
    ping = get(server, "/ping")
    assert ping.status_code == 200
    assert ping.json() == {"text": "Ping request successfully handled"}

    info = get(server, "/info")
    assert info.status_code == 200
    body = info.json()
    assert body["state"] == "leader"
    assert body["esVersion"].count(".") == 2, body
    assert body["version"], body
    # The session server runs with the default `--run-projections All`.
    assert body["features"] == {"projections": True, "userManagement": False, "atomPub": False}
    assert body["authentication"]["type"] == "insecure"


def test_gossip_names_this_node_the_leader_at_its_address(server):
    first = get(server, "/gossip").json()
    second = get(server, "/gossip").json()
    assert first["serverPort"] == server.port
    [member] = first["members"]
    assert member["state"] == "Leader" and member["isAlive"] is True
    assert (member["httpEndPointIp"], member["httpEndPointPort"]) == ("127.0.0.1", server.port)
    assert second["members"][0]["instanceId"] == member["instanceId"], "one instance id per run"


def test_stats_report_the_process_and_the_store(server):
    stats = get(server, "/stats").json()
    process = stats["proc"]
    assert process["id"] == server.process.pid
    assert process["uptimeSeconds"] >= 0
    assert process["startTime"].endswith("Z")
    assert process["connections"] >= 1
    assert process["mem"] > 0 and process["threadsCount"] >= 1
    assert stats["store"]["health"] == "ok"


def wait_until_ended(server, scavenge_id: str) -> dict:
    deadline = time.monotonic() + 30
    while True:
        status = get(server, f"/admin/scavenge/{scavenge_id}")
        assert status.status_code == 200, status.text
        body = status.json()
        if body["scavengeResult"] != "InProgress":
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


def test_a_scavenge_is_started_followed_and_stopped_by_id(server_factory):
    # A server of its own: the shared one's data stays as the other tests left it.
    own = server_factory()
    started = requests.post(url(own, "/admin/scavenge?threads=1"), timeout=TIMEOUT_S)
    assert started.status_code == 202, started.text
    scavenge_id = started.json()["scavengeId"]
    assert started.json()["scavengeLink"] == f"/admin/scavenge/{scavenge_id}"

    ended = wait_until_ended(own, scavenge_id)
    assert ended["scavengeResult"] == "Success", ended
    assert get(own, "/admin/scavenge/last").json()["scavengeId"] == scavenge_id
    assert_json_error(get(own, "/admin/scavenge/current"), 404)
    assert_json_error(get(own, "/admin/scavenge/not-a-scavenge"), 404)
    # Only a running scavenge can be stopped (as in KurrentDB).
    assert_json_error(requests.delete(url(own, f"/admin/scavenge/{scavenge_id}"), timeout=TIMEOUT_S), 404)
    assert_json_error(requests.delete(url(own, "/admin/scavenge/not-a-scavenge"), timeout=TIMEOUT_S), 404)

    for bad in ("?threads=many", "?nonsense=1"):
        assert_json_error(requests.post(url(own, f"/admin/scavenge{bad}"), timeout=TIMEOUT_S), 400)
    refused = requests.post(url(own, "/admin/scavenge"), data="{not json", timeout=TIMEOUT_S)
    assert_json_error(refused, 400)


def test_bad_paths_and_methods_are_json_errors(server):
    assert_json_error(get(server, "/no/such/endpoint"), 404)
    assert_json_error(requests.put(url(server, "/info"), timeout=TIMEOUT_S), 405)
    assert_json_error(requests.post(url(server, "/gossip"), timeout=TIMEOUT_S), 405)
