"""Streams.Delete (soft delete: the stream reads as not found, can be written
again and its revisions continue) and Streams.Tombstone (deleted for good:
reads and appends fail with "is deleted"). The expectations follow
EventStoreDB/KurrentDB as the clients' own test suites record it."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from support import ClientApi, EventfoldServer, ids, json_event, json_events, take, unique

pytestmark = pytest.mark.delete


def two_event_stream(api: ClientApi, client: Any) -> tuple[str, list]:
    stream = unique("del")
    events = json_events(api, 2)
    client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=events)
    return stream, events


def assert_deleted_error(api: ClientApi, error: BaseException) -> None:
    """Append (one event) gets FAILED_PRECONDITION "... is deleted." as a
    status, which the clients raise as a generic failed-precondition error;
    BatchAppend carries a StreamDeleted detail, raised as StreamIsDeleted."""
    assert isinstance(error, (api.StreamIsDeleted, api.FailedPrecondition)), repr(error)
    if not isinstance(error, api.StreamIsDeleted):
        assert "is deleted" in str(error), str(error)


def test_delete_with_expected_revision(api: ClientApi, client: Any) -> None:
    stream, _ = two_event_stream(api, client)
    with pytest.raises(api.WrongCurrentVersion):
        client.delete_stream(stream, current_version=0)
    client.delete_stream(stream, current_version=1)
    # Deleting again with the right revision is fine, with a wrong one not.
    with pytest.raises(api.WrongCurrentVersion):
        client.delete_stream(stream, current_version=0)
    client.delete_stream(stream, current_version=1)

    with pytest.raises(api.NotFound):
        client.get_stream(stream, timeout=10)
    with pytest.raises(api.NotFound):
        client.get_stream(stream, backwards=True, limit=1, timeout=10)
    assert client.get_current_version(stream) == api.StreamState.NO_STREAM


def test_deleted_stream_can_be_written_again_and_revisions_continue(api: ClientApi, client: Any) -> None:
    stream, _ = two_event_stream(api, client)
    client.delete_stream(stream, current_version=1)

    event3, event4 = json_event(api), json_event(api)
    client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=[event3])
    assert client.get_current_version(stream) == 2
    client.append_to_stream(stream, current_version=2, events=[event4])
    recorded = client.get_stream(stream, timeout=10)
    # Only the events written after the delete, at revisions 2 and 3.
    assert ids(recorded) == ids([event3, event4])
    assert [event.stream_position for event in recorded] == [2, 3]

    with pytest.raises(api.WrongCurrentVersion):
        client.delete_stream(stream, current_version=0)
    client.delete_stream(stream, current_version=3)
    with pytest.raises(api.NotFound):
        client.get_stream(stream, timeout=10)
    assert client.get_current_version(stream) == api.StreamState.NO_STREAM
    with pytest.raises(api.WrongCurrentVersion):
        client.delete_stream(stream, current_version=2)
    client.delete_stream(stream, current_version=3)


def test_deleting_a_missing_stream_is_not_found(api: ClientApi, client: Any) -> None:
    """EventStoreDB answers WrongExpectedVersion with "Actual version: -1",
    which the clients raise as NotFound, whatever the expectation."""
    accepted = []
    for version in (api.StreamState.ANY, api.StreamState.NO_STREAM, api.StreamState.EXISTS, 0):
        try:
            client.delete_stream(unique("del-missing"), current_version=version)
        except api.NotFound:
            continue
        accepted.append(version)
    assert not accepted, f"deleting a stream that never existed succeeded with expected {accepted}"


def test_delete_with_any_then_revisions_continue(api: ClientApi, client: Any) -> None:
    stream, _ = two_event_stream(api, client)
    client.delete_stream(stream, current_version=api.StreamState.ANY)
    client.delete_stream(stream, current_version=api.StreamState.ANY)
    with pytest.raises(api.NotFound):
        client.get_stream(stream, timeout=10)

    # The stream's revision is still 1: appending expects it (or no stream).
    event3 = json_event(api)
    with pytest.raises(api.WrongCurrentVersion):
        client.append_to_stream(stream, current_version=0, events=[event3])
    client.append_to_stream(stream, current_version=1, events=[event3])
    recorded = client.get_stream(stream, timeout=10)
    assert ids(recorded) == ids([event3])
    assert recorded[0].stream_position == 2


def test_delete_expecting_the_stream_exists(api: ClientApi, client: Any) -> None:
    stream, _ = two_event_stream(api, client)
    client.delete_stream(stream, current_version=api.StreamState.EXISTS)
    with pytest.raises(api.NotFound):
        client.get_stream(stream, timeout=10)
    # A deleted stream does not exist any more.
    with pytest.raises(api.StreamIsDeleted):
        client.delete_stream(stream, current_version=api.StreamState.EXISTS)

    event3 = json_event(api)
    client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=[event3])
    assert ids(client.get_stream(stream, timeout=10)) == ids([event3])
    client.delete_stream(stream, current_version=api.StreamState.EXISTS)
    with pytest.raises(api.NotFound):
        client.get_stream(stream, timeout=10)


def test_subscription_to_a_deleted_stream_sees_new_events(api: ClientApi, client: Any) -> None:
    """A catch-up subscription reads history as a read does: the events before
    the delete are gone."""
    stream, _ = two_event_stream(api, client)
    client.delete_stream(stream, current_version=1)
    new = json_event(api)
    client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=[new])
    with client.subscribe_to_stream(stream, timeout=30) as subscription:
        (received,) = take(subscription, 1)
    assert received.id == new.id and received.stream_position == 2


def test_tombstone(api: ClientApi, client: Any) -> None:
    stream, _ = two_event_stream(api, client)
    with pytest.raises(api.WrongCurrentVersion):
        client.tombstone_stream(stream, current_version=0)
    client.tombstone_stream(stream, current_version=1)

    for version in (1, 2, api.StreamState.ANY):
        with pytest.raises(api.StreamIsDeleted):
            client.tombstone_stream(stream, current_version=version)
    with pytest.raises(api.StreamIsDeleted):
        client.get_stream(stream, timeout=10)
    with pytest.raises(api.StreamIsDeleted):
        client.get_current_version(stream)
    with pytest.raises(api.StreamIsDeleted):
        client.delete_stream(stream, current_version=api.StreamState.ANY)


def test_tombstoned_stream_refuses_appends(api: ClientApi, client: Any) -> None:
    stream, _ = two_event_stream(api, client)
    client.tombstone_stream(stream, current_version=api.StreamState.ANY)
    for version in (1, api.StreamState.ANY, api.StreamState.NO_STREAM, api.StreamState.EXISTS):
        with pytest.raises(api.StreamIsDeleted):
            client.append_to_stream(stream, current_version=version, events=[json_event(api)])
        with pytest.raises(api.BaseError) as raised:
            client.append_to_stream(stream, current_version=version, events=json_event(api))
        assert_deleted_error(api, raised.value)


def test_tombstone_a_stream_that_never_existed(api: ClientApi, client: Any) -> None:
    stream = unique("tomb-missing")
    with pytest.raises(api.NotFound):
        client.tombstone_stream(stream, current_version=api.StreamState.EXISTS)
    # With `any` a stream that never existed can be tombstoned.
    client.tombstone_stream(stream, current_version=api.StreamState.ANY)
    with pytest.raises(api.StreamIsDeleted):
        client.append_to_stream(stream, current_version=api.StreamState.NO_STREAM, events=[json_event(api)])
    with pytest.raises(api.StreamIsDeleted):
        client.get_stream(stream, timeout=10)


def test_subscribing_to_a_tombstoned_stream_fails(api: ClientApi, client: Any) -> None:
    """The subscription ends with FAILED_PRECONDITION "... is deleted.", which
    the clients raise as StreamIsDeleted (not a silent, endless wait)."""
    stream, _ = two_event_stream(api, client)
    client.tombstone_stream(stream, current_version=1)
    with pytest.raises(api.StreamIsDeleted):
        subscription = client.subscribe_to_stream(stream, timeout=10)
        try:
            list(subscription)
        finally:
            subscription.stop()


def test_tombstone_does_not_touch_other_streams(api: ClientApi, client: Any) -> None:
    stream, _ = two_event_stream(api, client)
    neighbour = stream + "-neighbour"
    kept = json_events(api, 2)
    client.append_to_stream(neighbour, current_version=api.StreamState.NO_STREAM, events=kept)
    client.tombstone_stream(stream, current_version=1)
    assert ids(client.get_stream(neighbour, timeout=10)) == ids(kept)


@pytest.mark.restart
def test_deletes_survive_a_restart(api: ClientApi, server_factory: Callable[..., EventfoldServer]) -> None:
    server = server_factory()
    client = api.connect(server.address)
    try:
        deleted, _ = two_event_stream(api, client)
        tombstoned, _ = two_event_stream(api, client)
        client.delete_stream(deleted, current_version=1)
        client.tombstone_stream(tombstoned, current_version=1)
        assert server.restart() == 0

        with pytest.raises(api.NotFound):
            client.get_stream(deleted, timeout=10)
        with pytest.raises(api.StreamIsDeleted):
            client.get_stream(tombstoned, timeout=10)
        client.append_to_stream(deleted, current_version=1, events=[json_event(api)])
        assert client.get_current_version(deleted) == 2
        with pytest.raises(api.StreamIsDeleted):
            client.append_to_stream(tombstoned, current_version=api.StreamState.ANY, events=[json_event(api)])
    finally:
        client.close()
