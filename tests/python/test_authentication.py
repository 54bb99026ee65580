"""With authentication on (`eventfold serve --authentication`), the official
clients meet KurrentDB's access rules: a client without credentials is asked
for them (UNAUTHENTICATED; an append through BatchAppend is refused as access
denied) where a stream's ACL does not open it to `$all`, and writes nothing; where the ACL names `$all`, it reads and writes.

Both Python clients attach call credentials (`esdb://admin:changeit@...`)
only over TLS (grpc cannot put them on a plaintext channel), so here the
clients run without credentials and the admin's part goes through the HTTP
API with Basic credentials; appends and reads with credentials through the
clients come with TLS."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Any, Callable

import pytest

from support import ClientApi, EventfoldServer, json_event, unique

ADMIN = ("admin", "changeit")


@pytest.fixture
def secure_server(server_factory: Callable[..., EventfoldServer]) -> EventfoldServer:
    return server_factory(extra_args=("--authentication",))


def http(
    server: EventfoldServer, method: str, path: str, credentials: tuple[str, str] | None, body: Any = None
) -> tuple[int, Any]:
    headers = {"content-type": "application/json"}
    if credentials is not None:
        token = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
        headers["authorization"] = f"Basic {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://{server.address}{path}", data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read().decode()
            return response.status, text
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def admin_appends(server: EventfoldServer, stream: str, acl: dict[str, Any] | None = None) -> None:
    event = {"events": [{"type": "Happened", "data": {"by": "admin"}}]}
    assert http(server, "POST", f"/api/v1/streams/{stream}", ADMIN, event)[0] == 200
    if acl is not None:
        metadata = {"metadata": {"$acl": acl}}
        assert http(server, "PUT", f"/api/v1/streams/{stream}/metadata", ADMIN, metadata)[0] == 200


def test_a_client_without_credentials_is_asked_for_them_and_writes_nothing(
    api: ClientApi, secure_server: EventfoldServer
) -> None:
    client = api.connect(secure_server.address)
    try:
        stream = unique("secured")
        # The clients append through BatchAppend, whose refusals are
        # per-batch `AccessDenied` details rather than a status.
        with pytest.raises(api.Unauthenticated + api.AccessDenied):
            client.append_to_stream(stream, current_version=api.StreamState.ANY, events=[json_event(api)])
        admin_appends(secure_server, stream)
        with pytest.raises(api.Unauthenticated):
            client.get_stream(stream)
        status, body = http(secure_server, "GET", f"/api/v1/streams/{stream}", ADMIN)
        assert status == 200
        assert len(body.strip().splitlines()) == 1, "only the admin's event"
    finally:
        client.close()


def test_an_acl_for_all_opens_a_stream_to_clients_without_credentials(
    api: ClientApi, secure_server: EventfoldServer
) -> None:
    stream = unique("open")
    admin_appends(secure_server, stream, {"$r": "$all", "$w": "$all", "$d": "$admins"})
    client = api.connect(secure_server.address)
    try:
        assert len(client.get_stream(stream)) == 1
        client.append_to_stream(stream, current_version=api.StreamState.ANY, events=[json_event(api)])
        assert len(client.get_stream(stream)) == 2
        with pytest.raises(api.Unauthenticated):
            client.delete_stream(stream, current_version=api.StreamState.ANY)
        assert len(client.get_stream(stream)) == 2
    finally:
        client.close()


def test_the_built_in_users_and_the_users_endpoints(secure_server: EventfoldServer) -> None:
    status, body = http(secure_server, "GET", "/users", ADMIN)
    assert status == 200, body
    assert [user["loginName"] for user in json.loads(body)["data"]] == ["admin", "ops"]
    assert http(secure_server, "GET", "/users", ("admin", "wrong"))[0] == 401
    assert http(secure_server, "GET", "/users", ("ops", "changeit"))[0] == 403
    assert http(secure_server, "GET", "/ping", None)[0] == 200
