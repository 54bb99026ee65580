"""Fixtures: the real `eventfold serve` process and a connected client.

One pytest process tests one client package, named by `--client` (or the
environment variable EVENTFOLD_PY_CLIENT); kurrentdbclient and esdbclient
cannot be imported into the same process (both register the
`event_store.client` protobuf symbols), and they pin incompatible grpcio
versions, so scripts/test-python runs pytest once per client, each in its own
virtualenv."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import (  # noqa: E402
    CLIENT_NAMES,
    ClientApi,
    EventfoldServer,
    default_client_name,
    find_server_binary,
    load_client_api,
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--client",
        choices=CLIENT_NAMES,
        default=os.environ.get("EVENTFOLD_PY_CLIENT") or None,
        help="the Python client package to test (default: the first one installed)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "delete: Streams.Delete / Streams.Tombstone behaviour (select with -m delete)"
    )
    config.addinivalue_line("markers", "restart: starts its own server and restarts it")


def _client_name(config: pytest.Config) -> str:
    return config.getoption("--client") or default_client_name()


def pytest_report_header(config: pytest.Config) -> str:
    name = _client_name(config)
    try:
        from importlib.metadata import version

        client_version = version(name)
        grpc_version = version("grpcio")
    except Exception:  # noqa: BLE001 - only a header
        client_version = grpc_version = "?"
    return f"eventfold client under test: {name} {client_version} (grpcio {grpc_version})"


# Servers whose log tail a failing test's report shows.
_servers_for_reports: list[EventfoldServer] = []


@pytest.fixture(scope="session")
def api(pytestconfig: pytest.Config) -> ClientApi:
    return load_client_api(_client_name(pytestconfig))


@pytest.fixture(scope="session")
def server_binary() -> str:
    try:
        return find_server_binary()
    except FileNotFoundError as error:
        pytest.exit(str(error), returncode=4)
        raise


@pytest.fixture(scope="session")
def server(server_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EventfoldServer]:
    """The session's server: one database that every test shares, so tests
    use stream names and event types of their own (support.unique)."""
    root = tmp_path_factory.mktemp("eventfold-session")
    instance = EventfoldServer(server_binary, root / "db", root / "server.log")
    instance.start()
    _servers_for_reports.append(instance)
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture(scope="session")
def atom_server(server_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EventfoldServer]:
    """A server with KurrentDB's HTTP stream API on (it is off by default),
    shared by the tests of that API."""
    root = tmp_path_factory.mktemp("eventfold-atom")
    instance = EventfoldServer(
        server_binary, root / "db", root / "server.log", ("--enable-atom-pub-over-http",)
    )
    instance.start()
    _servers_for_reports.append(instance)
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture(scope="session")
def client(api: ClientApi, server: EventfoldServer) -> Iterator[Any]:
    connected = api.connect(server.address)
    try:
        yield connected
    finally:
        connected.close()


@pytest.fixture
def server_factory(
    server_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., EventfoldServer]]:
    """Starts servers of the test's own (for restarts and crashes), each on a
    new data dir unless one is given; stops them all at the end."""
    started: list[EventfoldServer] = []

    def start(data_dir: Path | None = None, extra_args: tuple[str, ...] = ()) -> EventfoldServer:
        root = tmp_path_factory.mktemp("eventfold-own")
        instance = EventfoldServer(server_binary, data_dir or root / "db", root / "server.log", extra_args)
        started.append(instance)
        _servers_for_reports.append(instance)
        instance.start()
        return instance

    try:
        yield start
    finally:
        for instance in started:
            instance.stop()
            _servers_for_reports.remove(instance)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """On failure, attach the tail of the servers' logs."""
    outcome = yield
    report = outcome.get_result()
    if report.when in ("setup", "call") and report.failed:
        for instance in _servers_for_reports:
            report.sections.append((f"eventfold server log, {instance.log_path} (tail)", instance.log_tail(25)))


@pytest.fixture
def projections_stopped_afterwards(server: EventfoldServer) -> Iterator[None]:
    """Continuous projections a test leaves running on the shared server keep
    writing their checkpoints while later tests read `$all`; they are
    disabled (kept, as the test left them) once the test is over."""
    yield
    import json
    import urllib.request

    base = f"http://{server.address}"
    try:
        with urllib.request.urlopen(f"{base}/projections/continuous", timeout=10) as response:
            listed = json.loads(response.read().decode("utf-8")).get("projections", [])
    except OSError:
        return
    for projection in listed:
        name = projection.get("name", "")
        if name.startswith("$") or not str(projection.get("status", "")).startswith("Running"):
            continue
        request = urllib.request.Request(f"{base}/projection/{name}/command/disable", method="POST", data=b"")
        try:
            urllib.request.urlopen(request, timeout=10).close()
        except OSError:
            pass
