"""Shared helpers for the Python client tests: the server process, the
client adapter (kurrentdbclient or esdbclient, one per pytest process: the
two packages register the same protobuf symbols and cannot be imported
together), and small event helpers."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

CLIENT_NAMES = ("kurrentdbclient", "esdbclient")

# Environment variables the server reads: a developer's shell must not change
# what the tests start.
_SERVER_ENV_VARS = (
    "EVENTFOLD_DB",
    "EVENTFOLD_LISTEN",
    "EVENTFOLD_MAX_APPEND_BYTES",
    "EVENTFOLD_ENABLE_ATOM_PUB_OVER_HTTP",
    "EVENTFOLD_STORE",
    "EVENTFOLD_CERTIFICATE_FILE",
    "EVENTFOLD_CERTIFICATE_PRIVATE_KEY_FILE",
    "EVENTFOLD_TRUSTED_ROOT_CERTIFICATES_PATH",
    "EVENTFOLD_INSECURE",
)

# Set by scripts/test-python when the suite runs on PostgreSQL: the URL of
# a throwaway cluster without the database, e.g. postgres://postgres@127.0.0.1:5433
_PG_BASE = os.environ.get("EVENTFOLD_PY_PG_BASE")
_PG_CREATEDB = os.environ.get("EVENTFOLD_PY_PG_CREATEDB", "createdb")


def store_args(data_dir: Path) -> list[str]:
    """`--store` for a server on PostgreSQL: one database per data dir, so a
    server that restarts finds its events and a new one starts empty."""
    if not _PG_BASE:
        return []
    import hashlib

    database = "ef_" + hashlib.sha1(str(data_dir).encode()).hexdigest()[:16]
    host_port = _PG_BASE.rsplit("@", 1)[-1]
    host, port = host_port.rsplit(":", 1)
    created = subprocess.run(
        [_PG_CREATEDB, "-h", host, "-p", port, "-U", "postgres", database], capture_output=True, text=True
    )
    if created.returncode != 0 and "already exists" not in created.stderr:
        raise ServerError(f"createdb {database} failed: {created.stderr.strip()}")
    return ["--store", f"{_PG_BASE}/{database}"]

MAX_APPEND_BYTES = 1024 * 1024  # the server's default
SERVER_START_TIMEOUT_S = 30.0
SERVER_STOP_TIMEOUT_S = 20.0


# --------------------------------------------------------------------------
# The server process
# --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerError(RuntimeError):
    pass


class EventfoldServer:
    """One `eventfold serve` process on a loopback port and a data dir.

    `restart()` stops it (SIGTERM) and starts it again on the same data dir
    and the same port, so clients that stay connected can reconnect.

    With `ca_file` the server serves TLS (its certificate among `extra_args`)
    and the health checks trust that CA."""

    def __init__(
        self,
        binary: str,
        data_dir: Path,
        log_path: Path,
        extra_args: Iterable[str] = (),
        ca_file: Path | None = None,
    ):
        self.binary = binary
        self.ca_file = ca_file
        self.data_dir = Path(data_dir)
        self.log_path = Path(log_path)
        self.extra_args = list(extra_args)
        self.port: int | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.last_exit_code: int | None = None

    # -- life cycle --------------------------------------------------------

    def start(self) -> None:
        """Starts the server and waits for /health. A restart keeps the port;
        a first start picks a free one (another if that one was taken)."""
        assert self.process is None, "server already running"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        keep_port = self.port is not None
        last_error: Exception | None = None
        for _ in range(3):
            port = self.port if keep_port else free_port()
            try:
                self._spawn(port)
                self._wait_healthy(port)
                self.port = port
                return
            except ServerError as error:
                last_error = error
                self._kill_quietly()
                time.sleep(0.5)  # e.g. the old listener is still going away
        raise ServerError(f"eventfold did not start: {last_error}\n--- server log ---\n{self.log_tail()}")

    def stop(self, timeout: float = SERVER_STOP_TIMEOUT_S) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited within `timeout` s.
        Returns the exit code (negative: killed by that signal)."""
        process = self.process
        if process is None:
            return self.last_exit_code
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self.last_exit_code = process.returncode
        self.process = None
        return self.last_exit_code

    def kill(self) -> int | None:
        """SIGKILL: a crash, as far as the server can tell."""
        process = self.process
        if process is None:
            return self.last_exit_code
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        self.last_exit_code = process.returncode
        self.process = None
        return self.last_exit_code

    def restart(self) -> int | None:
        code = self.stop()
        self.start()
        return code

    # -- facts ---------------------------------------------------------------

    @property
    def address(self) -> str:
        assert self.port is not None
        return f"127.0.0.1:{self.port}"

    def health(self, timeout: float = 2.0) -> dict[str, Any]:
        with self._open(f"{self.address}/health", timeout) as response:
            return json.loads(response.read().decode("utf-8"))

    def _open(self, address_and_path: str, timeout: float) -> Any:
        """An HTTP GET of `host:port/path`, over TLS trusting `ca_file` when set."""
        if self.ca_file is None:
            return urllib.request.urlopen(f"http://{address_and_path}", timeout=timeout)
        context = ssl.create_default_context(cafile=str(self.ca_file))
        return urllib.request.urlopen(f"https://{address_and_path}", timeout=timeout, context=context)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # -- internals -----------------------------------------------------------

    def _spawn(self, port: int) -> None:
        env = {key: value for key, value in os.environ.items() if key not in _SERVER_ENV_VARS}
        env.setdefault("EVENTFOLD_LOG", "info")
        command = [
            self.binary,
            "serve",
            "--db",
            str(self.data_dir),
            "--listen",
            f"127.0.0.1:{port}",
            *store_args(self.data_dir),
            *self.extra_args,
        ]
        log = open(self.log_path, "ab")
        try:
            log.write(f"\n=== {' '.join(command)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        finally:
            log.close()

    def _wait_healthy(self, port: int) -> None:
        assert self.process is not None
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        last: Exception | None = None
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                raise ServerError(f"the server exited with code {code} while starting")
            try:
                with self._open(f"127.0.0.1:{port}/health", 1.0) as response:
                    body = json.loads(response.read().decode("utf-8"))
                if body.get("status") == "ok":
                    return
                last = ServerError(f"/health answered {body!r}")
            except (urllib.error.URLError, ConnectionError, OSError, ValueError) as error:
                last = error
            time.sleep(0.05)
        raise ServerError(f"/health did not answer within {SERVER_START_TIMEOUT_S} s: {last}")

    def _kill_quietly(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            self.process = None


def find_server_binary() -> str:
    explicit = os.environ.get("EVENTFOLD_BIN")
    if explicit:
        if not (os.path.isfile(explicit) and os.access(explicit, os.X_OK)):
            raise FileNotFoundError(f"EVENTFOLD_BIN={explicit} is not an executable file")
        return explicit
    repo = Path(__file__).resolve().parents[2]
    target = os.environ.get("CARGO_TARGET_DIR", str(Path.home() / ".cache" / "eventfold-target"))
    for candidate in (Path(target) / "debug" / "eventfold", repo / "target" / "debug" / "eventfold"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise FileNotFoundError(
        "no eventfold binary: set EVENTFOLD_BIN or run `cargo build -p eventfold-cli` "
        "(scripts/test-python does both)"
    )


# --------------------------------------------------------------------------
# The client under test
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientApi:
    """What the tests need from one client package, under common names."""

    name: str
    Client: type
    scheme: str
    NewEvent: type
    StreamState: Any
    RecordedEvent: type
    Checkpoint: type
    CaughtUp: type
    DEFAULT_EXCLUDE_FILTER: tuple
    # Exceptions.
    BaseError: type
    GrpcError: type
    WrongCurrentVersion: type
    NotFound: type
    StreamIsDeleted: type
    MaximumAppendSizeExceeded: type
    FailedPrecondition: type
    DeadlineExceeded: type
    # What a follower answers a call only the leader serves.
    NodeIsNotLeader: type
    # What a refused request raises (for `pytest.raises`).
    AccessDenied: tuple
    # What a request without valid credentials raises where they are needed.
    Unauthenticated: tuple
    # Features.
    supports_prefix_filters: bool

    def uri(self, address: str) -> str:
        return f"{self.scheme}://{address}?tls=false"

    def connect(self, address: str) -> Any:
        return self.Client(uri=self.uri(address))


def load_client_api(name: str) -> ClientApi:
    if name == "kurrentdbclient":
        import kurrentdbclient
        from kurrentdbclient import exceptions as errors
        from kurrentdbclient.client import DEFAULT_EXCLUDE_FILTER
        from kurrentdbclient.events import CaughtUp, Checkpoint

        return ClientApi(
            name=name,
            Client=kurrentdbclient.KurrentDBClient,
            scheme="kurrentdb",
            NewEvent=kurrentdbclient.NewEvent,
            StreamState=kurrentdbclient.StreamState,
            RecordedEvent=kurrentdbclient.RecordedEvent,
            Checkpoint=Checkpoint,
            CaughtUp=CaughtUp,
            DEFAULT_EXCLUDE_FILTER=tuple(DEFAULT_EXCLUDE_FILTER),
            BaseError=errors.KurrentDBClientError,
            GrpcError=errors.GrpcError,
            WrongCurrentVersion=errors.WrongCurrentVersionError,
            NotFound=errors.NotFoundError,
            StreamIsDeleted=errors.StreamIsDeletedError,
            MaximumAppendSizeExceeded=errors.MaximumAppendSizeExceededError,
            FailedPrecondition=errors.FailedPreconditionError,
            DeadlineExceeded=errors.DeadlineExceededError,
            NodeIsNotLeader=errors.NodeIsNotLeaderError,
            AccessDenied=(errors.AccessDeniedError,),
            Unauthenticated=(errors.UnauthenticatedError,),
            supports_prefix_filters=True,
        )
    if name == "esdbclient":
        import esdbclient
        from esdbclient import exceptions as errors
        from esdbclient.client import DEFAULT_EXCLUDE_FILTER
        from esdbclient.events import CaughtUp, Checkpoint

        return ClientApi(
            name=name,
            Client=esdbclient.EventStoreDBClient,
            scheme="esdb",
            NewEvent=esdbclient.NewEvent,
            StreamState=esdbclient.StreamState,
            RecordedEvent=esdbclient.RecordedEvent,
            Checkpoint=Checkpoint,
            CaughtUp=CaughtUp,
            DEFAULT_EXCLUDE_FILTER=tuple(DEFAULT_EXCLUDE_FILTER),
            BaseError=errors.EventStoreDBClientException,
            GrpcError=errors.GrpcError,
            WrongCurrentVersion=errors.WrongCurrentVersion,
            NotFound=errors.NotFound,
            StreamIsDeleted=errors.StreamIsDeleted,
            MaximumAppendSizeExceeded=errors.MaximumAppendSizeExceededError,
            FailedPrecondition=errors.FailedPrecondition,
            DeadlineExceeded=errors.DeadlineExceeded,
            NodeIsNotLeader=errors.NodeIsNotLeader,
            # esdbclient raises AccessDeniedError only for BatchAppend's
            # detail; a PERMISSION_DENIED status is its generic GrpcError.
            AccessDenied=(errors.AccessDeniedError, errors.GrpcError),
            # No class of its own: UNAUTHENTICATED is its generic GrpcError.
            Unauthenticated=(errors.GrpcError,),
            supports_prefix_filters=False,
        )
    raise ValueError(f"unknown client {name!r}: one of {CLIENT_NAMES}")


def default_client_name() -> str:
    """The client to test when none is named: the first importable one
    (importing both in one process fails, so only the first is imported)."""
    import importlib.util

    for name in CLIENT_NAMES:
        if importlib.util.find_spec(name) is not None:
            return name
    raise RuntimeError(f"neither of {CLIENT_NAMES} is installed")


# --------------------------------------------------------------------------
# Event helpers
# --------------------------------------------------------------------------


def unique(prefix: str = "test") -> str:
    """A name no other test uses: streams and event types are shared by the
    whole session's database."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def json_event(api: ClientApi, event_type: str = "Happened", **fields: Any) -> Any:
    return api.NewEvent(type=event_type, data=json.dumps(fields or {"n": 0}).encode())


def json_events(api: ClientApi, count: int, event_type: str = "Happened") -> list:
    return [json_event(api, event_type, n=index) for index in range(count)]


def ids(events: Iterable[Any]) -> list:
    return [event.id for event in events]


def is_checkpoint(item: Any) -> bool:
    return bool(getattr(item, "is_checkpoint", False))


def is_caught_up(item: Any) -> bool:
    return bool(getattr(item, "is_caught_up", False))


def is_event(item: Any) -> bool:
    return not is_checkpoint(item) and not is_caught_up(item) and not getattr(item, "is_fell_behind", False)


def take(subscription: Any, count: int, want: Callable[[Any], bool] = is_event, limit: int = 100_000) -> list:
    """The next `count` items of `subscription` that `want` accepts.
    Bounded by the subscription's own gRPC timeout (tests always give one)
    and by `limit` items looked at."""
    found = []
    looked = 0
    for item in subscription:
        looked += 1
        if want(item):
            found.append(item)
            if len(found) == count:
                return found
        if looked >= limit:
            break
    raise AssertionError(f"subscription ended after {looked} items with {len(found)} of {count} wanted")


def take_until(subscription: Any, stop: Callable[[Any], bool], limit: int = 100_000) -> list:
    """All items up to and including the first that `stop` accepts."""
    items = []
    for item in subscription:
        items.append(item)
        if stop(item) or len(items) >= limit:
            return items
    raise AssertionError(f"subscription ended after {len(items)} items without the awaited one")


class BackgroundAppender(threading.Thread):
    """Appends events one at a time, `interval` s apart, to a new stream from
    another thread while the test blocks on a subscription."""

    def __init__(self, api: ClientApi, client: Any, stream: str, events: list, interval: float = 0.05,
                 first_delay: float = 0.2):
        super().__init__(daemon=True)
        self.api = api
        self.client = client
        self.stream = stream
        self.events = events
        self.interval = interval
        self.first_delay = first_delay
        self.positions: list[int] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            time.sleep(self.first_delay)
            for revision, event in enumerate(self.events):
                expected = revision - 1 if revision else self.api.StreamState.NO_STREAM
                position = self.client.append_to_stream(
                    self.stream, current_version=expected, events=event, timeout=10
                )
                self.positions.append(position)
                time.sleep(self.interval)
        except BaseException as error:  # reported by the test through finish()
            self.error = error

    def finish(self, timeout: float = 20.0) -> None:
        self.join(timeout)
        assert not self.is_alive(), "the background appender did not finish"
        if self.error is not None:
            raise self.error
