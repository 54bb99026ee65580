"""Secure mode through the official Python clients: a server started with a
node certificate made by `eventfold certs`, reached with the connection
string the clients document for TLS
(`esdb://admin:changeit@localhost:PORT?tls=true&tlsCaFile=PATH`): append,
read, a catch-up subscription and a persistent subscription, all over TLS.

The credentials are in the string because secure mode is where clients
authenticate: the server checks them on every call."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest

from support import ClientApi, EventfoldServer, ids, json_events, take, unique

TIMEOUT_S = 30


def certs(binary: str, *args: str) -> None:
    subprocess.run([binary, "certs", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def tls_server(server_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EventfoldServer]:
    root = tmp_path_factory.mktemp("eventfold-tls")
    certs(server_binary, "create-ca", "--out", str(root / "ca"))
    certs(
        server_binary,
        "create-node",
        "--ca-certificate", str(root / "ca" / "ca.crt"),
        "--ca-key", str(root / "ca" / "ca.key"),
        "--out", str(root / "node"),
        "--ip-addresses", "127.0.0.1",
        "--dns-names", "localhost",
    )
    instance = EventfoldServer(
        server_binary,
        root / "db",
        root / "server.log",
        (
            "--certificate-file", str(root / "node" / "node.crt"),
            "--certificate-private-key-file", str(root / "node" / "node.key"),
        ),
        ca_file=root / "ca" / "ca.crt",
    )
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture(scope="module")
def tls_client(api: ClientApi, tls_server: EventfoldServer) -> Iterator[Any]:
    uri = (
        f"{api.scheme}://admin:changeit@localhost:{tls_server.port}"
        f"?tls=true&tlsCaFile={tls_server.ca_file}"
    )
    connected = api.Client(uri=uri)
    try:
        yield connected
    finally:
        connected.close()


def test_the_health_check_itself_went_over_tls(tls_server: EventfoldServer) -> None:
    assert tls_server.health()["status"] == "ok"
    with tls_server._open(f"{tls_server.address}/info", 5.0) as response:
        assert b'"type":"internal"' in response.read()


def test_append_and_read_over_tls(api: ClientApi, tls_client: Any) -> None:
    stream = unique("tls-order")
    events = json_events(api, 3)
    tls_client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=events, timeout=TIMEOUT_S)
    recorded = tls_client.get_stream(stream, timeout=TIMEOUT_S)
    assert ids(recorded) == ids(events)


def test_catch_up_subscription_over_tls(api: ClientApi, tls_client: Any) -> None:
    stream = unique("tls-sub")
    history = json_events(api, 2)
    tls_client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=history, timeout=TIMEOUT_S)
    with tls_client.subscribe_to_stream(stream, timeout=TIMEOUT_S) as subscription:
        assert ids(take(subscription, 2)) == ids(history)
        live = json_events(api, 1)
        tls_client.append_to_stream(stream, current_version=1, events=live, timeout=TIMEOUT_S)
        assert ids(take(subscription, 1)) == ids(live)


def test_persistent_subscription_over_tls(api: ClientApi, tls_client: Any) -> None:
    stream = unique("tls-ps")
    events = json_events(api, 3)
    tls_client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=events, timeout=TIMEOUT_S)
    group = unique("tls-group")
    tls_client.create_subscription_to_stream(group, stream, timeout=TIMEOUT_S)
    subscription = tls_client.read_subscription_to_stream(group, stream, timeout=TIMEOUT_S)
    try:
        received = []
        for event in subscription:
            received.append(event)
            subscription.ack(event)
            if len(received) == len(events):
                break
        assert ids(received) == ids(events)
    finally:
        subscription.stop()
    tls_client.delete_subscription(group, stream, timeout=TIMEOUT_S)


def _users_request(server: EventfoldServer, method: str, path: str, body: dict) -> int:
    import base64
    import json
    import ssl
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        f"https://{server.address}{path}", data=json.dumps(body).encode(), method=method
    )
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", "Basic " + base64.b64encode(b"admin:changeit").decode())
    context = ssl.create_default_context(cafile=str(server.ca_file))
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S, context=context) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_credentials_decide_over_tls(api: ClientApi, tls_server: EventfoldServer, tls_client: Any) -> None:
    """Secure mode authenticates every call: a wrong password is refused and
    writes nothing; a user of the clients' own is held to the stream's ACL."""
    def connect(user: str, password: str) -> Any:
        return api.Client(
            uri=f"{api.scheme}://{user}:{password}@localhost:{tls_server.port}?tls=true&tlsCaFile={tls_server.ca_file}"
        )

    stream = unique("tls-acl")
    wrong = connect("admin", "not-the-password")
    try:
        with pytest.raises(api.BaseError):
            wrong.append_to_stream(stream, current_version=api.StreamState.ANY, events=json_events(api, 1), timeout=TIMEOUT_S)
    finally:
        wrong.close()
    with pytest.raises(api.NotFound):
        tls_client.get_stream(stream, timeout=TIMEOUT_S)

    login = unique("reader").replace("-", "")
    assert _users_request(
        tls_server, "POST", "/users", {"loginName": login, "fullName": "Reader", "password": "pw", "groups": []}
    ) in (200, 201)
    tls_client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=json_events(api, 2), timeout=TIMEOUT_S)
    tls_client.set_stream_metadata(
        stream, metadata={"$acl": {"$r": [login], "$w": "$admins"}}, current_version=api.StreamState.NO_STREAM, timeout=TIMEOUT_S
    )
    reader = connect(login, "pw")
    try:
        assert len(reader.get_stream(stream, timeout=TIMEOUT_S)) == 2
        with pytest.raises(api.AccessDenied):
            reader.append_to_stream(stream, current_version=1, events=json_events(api, 1), timeout=TIMEOUT_S)
    finally:
        reader.close()
    assert len(tls_client.get_stream(stream, timeout=TIMEOUT_S)) == 2, "the refused append wrote nothing"
