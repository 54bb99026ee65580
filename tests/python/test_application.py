"""The clients used the way an application uses them: a client made from a
URI, an event-sourced aggregate saved with optimistic concurrency
(get_current_version → append_to_stream → retry on conflict), rebuilt with
get_stream, and a read model kept up to date by subscribe_to_all."""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from support import ClientApi, EventfoldServer, is_event, take, unique


class Account:
    """A bank account as an event-sourced aggregate."""

    def __init__(self, account_id: str) -> None:
        self.id = account_id
        self.balance = 0
        self.version: Any = None  # None: never saved

    def apply(self, event_type: str, data: dict) -> None:
        if event_type == "AccountOpened":
            self.balance = data["initial"]
        elif event_type == "MoneyDeposited":
            self.balance += data["amount"]
        elif event_type == "MoneyWithdrawn":
            self.balance -= data["amount"]


class AccountRepository:
    def __init__(self, api: ClientApi, client: Any, category: str) -> None:
        self.api = api
        self.client = client
        self.category = category

    def stream(self, account_id: str) -> str:
        return f"{self.category}-{account_id}"

    def load(self, account_id: str) -> Account:
        account = Account(account_id)
        try:
            events = self.client.get_stream(self.stream(account_id), timeout=10)
        except self.api.NotFound:
            return account
        for event in events:
            account.apply(event.type, json.loads(event.data))
            account.version = event.stream_position
        return account

    def save(self, account: Account, changes: list[tuple[str, dict]]) -> int:
        events = [
            self.api.NewEvent(type=event_type, data=json.dumps(data).encode(), metadata=b'{"app": "test"}')
            for event_type, data in changes
        ]
        expected = self.api.StreamState.NO_STREAM if account.version is None else account.version
        position = self.client.append_to_stream(
            self.stream(account.id), current_version=expected, events=events, timeout=10
        )
        for event_type, data in changes:
            account.apply(event_type, data)
        account.version = (account.version if account.version is not None else -1) + len(changes)
        return position

    def deposit_with_retries(self, account_id: str, amount: int) -> int:
        """Read, decide, write; on a conflict, read again. Returns the tries."""
        for attempt in range(1, 50):
            account = self.load(account_id)
            try:
                self.save(account, [("MoneyDeposited", {"amount": amount})])
                return attempt
            except self.api.WrongCurrentVersion:
                continue
        raise AssertionError("no deposit got through in 50 tries")


def test_application_style_usage(api: ClientApi, server: EventfoldServer) -> None:
    client = api.Client(uri=api.uri(server.address))  # e.g. EventStoreDBClient(uri="esdb://...?tls=false")
    try:
        category = unique("account").replace("-", "")
        repository = AccountRepository(api, client, category)
        start = client.get_commit_position()

        # Open three accounts.
        account_ids = [unique("acc") for _ in range(3)]
        for index, account_id in enumerate(account_ids):
            account = repository.load(account_id)
            assert account.version is None
            repository.save(account, [("AccountOpened", {"initial": 100 * index})])

        # A stale writer is refused.
        stale = repository.load(account_ids[0])
        fresh = repository.load(account_ids[0])
        repository.save(fresh, [("MoneyDeposited", {"amount": 5})])
        try:
            repository.save(stale, [("MoneyWithdrawn", {"amount": 50})])
        except api.WrongCurrentVersion:
            pass
        else:
            raise AssertionError("a save from a stale version went through")

        # Concurrent deposits all land, through retries.
        with ThreadPoolExecutor(max_workers=4) as pool:
            attempts = list(pool.map(lambda n: repository.deposit_with_retries(account_ids[1], 1), range(20)))
        assert len(attempts) == 20
        assert repository.load(account_ids[1]).balance == 100 + 20
        assert repository.load(account_ids[1]).version == 20

        # A read model fed by a catch-up subscription agrees with the aggregates.
        balances: dict[str, int] = defaultdict(int)
        subscription = client.subscribe_to_all(
            commit_position=start,
            filter_by_stream_name=True,
            filter_include=[f"{category}-.*"],
            timeout=30,
        )
        try:
            total_events = 3 + 1 + 20
            for event in take(subscription, total_events):
                account_id = event.stream_name.split("-", 1)[1]
                data = json.loads(event.data)
                if event.type == "AccountOpened":
                    balances[account_id] = data["initial"]
                elif event.type == "MoneyDeposited":
                    balances[account_id] += data["amount"]
                assert event.metadata == b'{"app": "test"}'
            # A live change reaches the read model too.
            account = repository.load(account_ids[2])
            repository.save(account, [("MoneyDeposited", {"amount": 7})])
            (live,) = take(subscription, 1, is_event)
            assert live.stream_name == repository.stream(account_ids[2])
            balances[account_ids[2]] += json.loads(live.data)["amount"]
        finally:
            subscription.stop()
        for account_id in account_ids:
            assert balances[account_id] == repository.load(account_id).balance
    finally:
        client.close()


def test_two_clients_see_each_others_writes(api: ClientApi, server: EventfoldServer) -> None:
    writer = api.Client(uri=api.uri(server.address))
    reader = api.Client(uri=api.uri(server.address))
    try:
        stream = unique("two-clients")
        received: list = []
        ready = threading.Event()

        subscription = reader.subscribe_to_stream(stream, timeout=30)

        def consume() -> None:
            ready.set()
            received.extend(take(subscription, 3))

        consumer = threading.Thread(target=consume, daemon=True)
        consumer.start()
        ready.wait(5)
        events = [api.NewEvent(type="Ping", data=b"{}") for _ in range(3)]
        writer.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=events)
        consumer.join(30)
        subscription.stop()
        assert not consumer.is_alive()
        assert [event.id for event in received] == [event.id for event in events]
        assert reader.get_current_version(stream) == 2
    finally:
        writer.close()
        reader.close()
