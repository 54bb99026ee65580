"""eventfold's JSON API (/api/v1) as a browser app or a script calls it
with `requests`: appends with expected revisions and idempotent ids, reads
as NDJSON with paging, live feeds as Server-Sent Events resumed with
Last-Event-ID, metadata, deletes, listings, and 4xx JSON errors for bad
input. They need no client package, so both client runs check the same."""

from __future__ import annotations

import json
import uuid

import requests

from support import unique

TIMEOUT_S = 10.0


def url(server, path: str) -> str:
    return f"http://{server.address}/api/v1{path}"


def append(server, stream: str, events: list[dict], expected=None) -> requests.Response:
    body: dict = {"events": events}
    if expected is not None:
        body["expectedRevision"] = expected
    return requests.post(url(server, f"/streams/{stream}"), json=body, timeout=TIMEOUT_S)


def read(server, path: str) -> list[dict]:
    response = requests.get(url(server, path), timeout=TIMEOUT_S)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in response.text.splitlines()]


def assert_error(response: requests.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code, body
    assert body["error"], body


def test_append_then_read_back_json_and_binary_events(server):
    stream = unique("api-order")
    written = append(server, stream, [
        {"type": "Placed", "data": {"total": 12}, "metadata": {"user": "ann"}},
        {"type": "Blob", "dataEncoding": "base64", "data": "AAEC"},
    ], expected="noStream")
    assert written.status_code == 200, written.text
    assert written.json()["revision"] == 1
    placed, blob = read(server, f"/streams/{stream}")
    assert (placed["type"], placed["data"], placed["metadata"]) == ("Placed", {"total": 12}, {"user": "ann"})
    assert (blob["dataEncoding"], blob["data"]) == ("base64", "AAEC")
    assert blob["position"] == written.json()["position"]
    assert isinstance(blob["position"], str) and int(blob["position"]) > int(placed["position"])


def test_conflicts_and_idempotent_retries(server):
    stream = unique("api-cart")
    event = {"id": str(uuid.uuid4()), "type": "Added", "data": {}}
    first = append(server, stream, [event], expected="noStream")
    retry = append(server, stream, [event], expected="noStream")
    assert first.status_code == retry.status_code == 200
    assert first.json() == retry.json()
    assert len(read(server, f"/streams/{stream}")) == 1
    conflict = append(server, stream, [{"type": "Added", "data": {}}], expected=5)
    assert_error(conflict, 409, "wrong-expected-revision")
    assert conflict.json()["currentRevision"] == 0


def test_paging_through_a_stream_and_all(server):
    stream = unique("api-page")
    append(server, stream, [{"type": "T", "data": {"n": n}} for n in range(7)])
    seen, start = [], "start"
    while True:
        page = read(server, f"/streams/{stream}?from={start}&limit=3")
        seen += [event["data"]["n"] for event in page]
        if len(page) < 3:
            break
        start = page[-1]["revision"] + 1
    assert seen == list(range(7))
    mine = read(server, f"/all?streamPrefix={stream}&limit=100")
    assert [event["data"]["n"] for event in mine] == list(range(7))
    newest = read(server, f"/all?direction=backwards&limit=1&streamPrefix={stream}")
    assert newest[0]["data"]["n"] == 6


def test_live_feed_resumes_with_last_event_id(server):
    stream = unique("api-live")
    append(server, stream, [{"type": "T", "data": {"n": n}} for n in range(3)])

    def events(response, count):
        got, fields = [], {}
        for line in response.iter_lines(decode_unicode=True):
            if line == "":
                if fields.get("event") == "event":
                    got.append(fields)
                fields = {}
                if len(got) == count:
                    return got
            elif not line.startswith(":"):
                name, _, value = line.partition(":")
                fields[name] = value.lstrip(" ")
        return got

    with requests.get(url(server, f"/streams/{stream}/live?from=start"), stream=True, timeout=TIMEOUT_S) as feed:
        assert feed.headers["content-type"].startswith("text/event-stream")
        first = events(feed, 2)
    append(server, stream, [{"type": "T", "data": {"n": 3}}])
    headers = {"Last-Event-ID": first[-1]["id"]}
    with requests.get(url(server, f"/streams/{stream}/live"), headers=headers, stream=True, timeout=TIMEOUT_S) as feed:
        rest = events(feed, 2)
    assert [json.loads(event["data"])["data"]["n"] for event in first + rest] == [0, 1, 2, 3]


def test_metadata_delete_and_listing(server):
    stream = unique("api-meta")
    append(server, stream, [{"type": "T", "data": {}} for _ in range(3)])
    put = requests.put(url(server, f"/streams/{stream}/metadata"), json={"metadata": {"$maxCount": 1}}, timeout=TIMEOUT_S)
    assert put.status_code == 200, put.text
    assert requests.get(url(server, f"/streams/{stream}/metadata"), timeout=TIMEOUT_S).json()["metadata"] == {"$maxCount": 1}
    assert [event["revision"] for event in read(server, f"/streams/{stream}")] == [2]
    listed = requests.get(url(server, "/streams?order=changed&limit=5"), timeout=TIMEOUT_S).json()["streams"]
    assert listed[0]["stream"] == stream
    deleted = requests.delete(url(server, f"/streams/{stream}?tombstone=true"), timeout=TIMEOUT_S)
    assert deleted.status_code == 200, deleted.text
    assert_error(requests.get(url(server, f"/streams/{stream}"), timeout=TIMEOUT_S), 410, "stream-deleted")


def test_bad_input_is_a_4xx_json_error_and_writes_nothing(server):
    stream = unique("api-bad")
    target = url(server, f"/streams/{stream}")
    assert_error(requests.post(target, data="{oops", headers={"content-type": "application/json"}, timeout=TIMEOUT_S), 400, "invalid-json")
    assert_error(requests.post(target, data='{"events": []}', headers={"content-type": "text/plain"}, timeout=TIMEOUT_S), 415, "unsupported-media-type")
    assert_error(requests.post(target, json={"events": [{"type": "T"}]}, timeout=TIMEOUT_S), 400, "invalid-json")
    assert_error(requests.post(target, json={"events": [], "expectedRevision": "sometimes"}, timeout=TIMEOUT_S), 400, "invalid-json")
    oversized = '{"events": [{"type": "T", "data": "' + "x" * (3 * 1024 * 1024) + '"}]}'
    assert_error(requests.post(target, data=oversized, headers={"content-type": "application/json"}, timeout=TIMEOUT_S), 413, "body-too-large")
    assert_error(requests.get(url(server, f"/streams/{stream}?from=yesterday"), timeout=TIMEOUT_S), 400, "bad-request")
    assert_error(requests.get(url(server, "/all?limit=-1"), timeout=TIMEOUT_S), 400, "invalid-query")
    feed = requests.get(url(server, "/all/live"), headers={"Last-Event-ID": "later"}, timeout=TIMEOUT_S)
    assert_error(feed, 400, "bad-request")
    assert_error(requests.get(target, timeout=TIMEOUT_S), 404, "stream-not-found")


def test_openapi_document_and_reference_page(server):
    document = requests.get(url(server, "/openapi.json"), timeout=TIMEOUT_S).json()
    assert document["openapi"].startswith("3.1")
    assert "/api/v1/streams/{stream}" in document["paths"]
    page = requests.get(url(server, "/docs"), timeout=TIMEOUT_S)
    assert page.status_code == 200 and "openapi.json" in page.text
