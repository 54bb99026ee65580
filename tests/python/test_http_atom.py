"""KurrentDB's HTTP stream API as a curl user drives it: off unless the
server is started with --enable-atom-pub-over-http; then events are posted
(batches, or one with ES-EventType and ES-EventId, redirected without an id),
read as Atom JSON feeds whose links lead through the stream, revalidated by
ETag, long-polled, given metadata and deleted. Bad input is a 4xx with a
JSON reason and writes nothing. No client package is needed."""

from __future__ import annotations

import threading
import time
import uuid

import requests

TIMEOUT_S = 15.0
EVENTS_JSON = "application/vnd.eventstore.events+json"
ATOM_JSON = {"Accept": "application/vnd.eventstore.atom+json"}


def url(server, path: str) -> str:
    return f"http://{server.address}{path}"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def post_events(server, stream: str, events: list[dict], headers: dict | None = None) -> requests.Response:
    return requests.post(
        url(server, f"/streams/{stream}"),
        json=events,
        headers={"Content-Type": EVENTS_JSON, **(headers or {})},
        timeout=TIMEOUT_S,
        allow_redirects=False,
    )


def event(event_type: str = "Placed", **data) -> dict:
    return {"eventId": str(uuid.uuid4()), "eventType": event_type, "data": data}


def link(feed: dict, relation: str) -> str | None:
    return next((item["uri"] for item in feed["links"] if item["relation"] == relation), None)


def read(server, path: str, headers: dict | None = None) -> requests.Response:
    return requests.get(url(server, path), headers={**ATOM_JSON, **(headers or {})}, timeout=TIMEOUT_S)


def test_the_api_is_off_by_default(server):
    assert requests.get(url(server, "/streams/anything"), timeout=TIMEOUT_S).status_code == 404
    assert post_events(server, "anything", [event()]).status_code == 404
    assert requests.get(url(server, "/info"), timeout=TIMEOUT_S).json()["features"]["atomPub"] is False


def test_posts_reads_and_reposts(atom_server):
    assert requests.get(url(atom_server, "/info"), timeout=TIMEOUT_S).json()["features"]["atomPub"] is True
    stream = unique("order")
    batch = [event(n=0), event(n=1)]
    created = post_events(atom_server, stream, batch)
    assert created.status_code == 201, created.text
    assert created.headers["Location"].endswith(f"/streams/{stream}/0")
    assert post_events(atom_server, stream, batch).status_code == 201  # idempotent

    single = {"Content-Type": "application/json", "ES-EventType": "Paid"}
    redirected = requests.post(
        url(atom_server, f"/streams/{stream}"), data=b'{"amount":1}', headers=single,
        timeout=TIMEOUT_S, allow_redirects=False,
    )
    assert redirected.status_code == 307
    assert "/incoming/" in redirected.headers["Location"]
    # requests follows a 307 with the same method and body, as curl -L does.
    followed = requests.post(
        url(atom_server, f"/streams/{stream}"), data=b'{"amount":1}', headers=single, timeout=TIMEOUT_S
    )
    assert followed.status_code == 201, followed.text
    with_id = {**single, "ES-EventId": str(uuid.uuid4())}
    assert requests.post(
        url(atom_server, f"/streams/{stream}"), data=b'{"amount":2}', headers=with_id, timeout=TIMEOUT_S
    ).status_code == 201

    feed = read(atom_server, f"/streams/{stream}?embed=body").json()
    assert [entry["eventNumber"] for entry in feed["entries"]] == [3, 2, 1, 0]
    assert feed["entries"][0]["data"] == '{"amount":2}'
    assert feed["headOfStream"] is True
    event_data = requests.get(
        url(atom_server, f"/streams/{stream}/0"), headers={"Accept": "application/json"}, timeout=TIMEOUT_S
    )
    assert event_data.json() == {"n": 0}


def test_pages_follow_links_and_the_head_is_revalidated(atom_server):
    stream = unique("paged")
    assert post_events(atom_server, stream, [event(n=n) for n in range(5)]).status_code == 201
    titles = []
    path = f"/streams/{stream}/head/backward/2"
    while path:
        page = read(atom_server, path).json()
        titles += [entry["title"] for entry in page["entries"]]
        path = link(page, "next")
        path = path and path.split(atom_server.address, 1)[1]
    assert titles == [f"{n}@{stream}" for n in (4, 3, 2, 1, 0)]

    head = read(atom_server, f"/streams/{stream}")
    etag = head.headers["ETag"]
    assert read(atom_server, f"/streams/{stream}", {"If-None-Match": etag}).status_code == 304
    post_events(atom_server, stream, [event(n=5)])
    assert read(atom_server, f"/streams/{stream}", {"If-None-Match": etag}).status_code == 200


def test_a_long_poll_returns_when_an_event_arrives(atom_server):
    stream = unique("polled")
    post_events(atom_server, stream, [event(n=0)])
    head = read(atom_server, f"/streams/{stream}").json()
    previous = link(head, "previous")
    writer = threading.Timer(0.3, lambda: post_events(atom_server, stream, [event(n=1)]))
    writer.start()
    started = time.monotonic()
    polled = requests.get(previous, headers={**ATOM_JSON, "ES-LongPoll": "10"}, timeout=TIMEOUT_S)
    writer.join()
    assert time.monotonic() - started < 5
    assert [entry["title"] for entry in polled.json()["entries"]] == [f"1@{stream}"]


def test_expected_versions_metadata_and_deletes(atom_server):
    stream = unique("cart")
    wrong = post_events(atom_server, stream, [event()], {"ES-ExpectedVersion": "3"})
    assert wrong.status_code == 400 and wrong.reason == "Wrong expected EventNumber"
    assert wrong.headers["ES-CurrentVersion"] == "-1"
    assert post_events(atom_server, stream, [event()], {"Kurrent-ExpectedVersion": "-1"}).status_code == 201

    metadata_url = url(atom_server, f"/streams/{stream}/metadata")
    assert requests.get(metadata_url, timeout=TIMEOUT_S).json() == {}
    assert requests.post(metadata_url, json={"$maxCount": 10}, timeout=TIMEOUT_S).status_code == 201
    assert requests.get(metadata_url, timeout=TIMEOUT_S).json() == {"$maxCount": 10}

    assert requests.delete(url(atom_server, f"/streams/{stream}"), timeout=TIMEOUT_S).status_code == 204
    assert read(atom_server, f"/streams/{stream}").status_code == 404
    assert post_events(atom_server, stream, [event()]).status_code == 201
    hard = requests.delete(url(atom_server, f"/streams/{stream}"), headers={"ES-HardDelete": "true"}, timeout=TIMEOUT_S)
    assert hard.status_code == 204
    assert read(atom_server, f"/streams/{stream}").status_code == 410
    assert post_events(atom_server, stream, [event()]).status_code == 410


def test_bad_input_is_refused_and_writes_nothing(atom_server):
    stream = unique("bad")
    def refused(response: requests.Response, status: int) -> None:
        assert response.status_code == status, response.text
        assert response.json()["error"]

    posting = url(atom_server, f"/streams/{stream}")
    refused(requests.post(posting, data=b"[{", headers={"Content-Type": EVENTS_JSON}, timeout=TIMEOUT_S), 400)
    refused(requests.post(posting, data=b"<x/>", headers={"Content-Type": "text/xml"}, timeout=TIMEOUT_S), 415)
    refused(post_events(atom_server, stream, [{"eventType": "T", "data": {}}]), 400)
    refused(post_events(atom_server, stream, [event()], {"ES-ExpectedVersion": "many"}), 400)
    refused(read(atom_server, f"/streams/{stream}", {"Accept": "application/atom+xml"}), 406)
    refused(read(atom_server, f"/streams/{stream}?embed=all"), 400)
    refused(read(atom_server, f"/streams/{stream}/0/forward/0"), 400)
    refused(read(atom_server, f"/streams/{stream}"), 404)
