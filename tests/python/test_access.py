"""The streams that hold eventfold's own state (persistent subscription
definitions, checkpoints, parked events) are read-only to clients: deleting,
tombstoning, truncating or writing them raises the client's access-denied
error, as KurrentDB answers for streams a user may not touch. Before, a
tombstone of `$persistentsubscription-config` stopped the server from ever
starting again."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from support import ClientApi, json_event, unique

CONFIG_STREAM = "$persistentsubscription-config"


def assert_access_denied(api: ClientApi, call: Callable[[], Any]) -> None:
    with pytest.raises(api.AccessDenied) as raised:
        call()
    # A detail-less AccessDeniedError (BatchAppend) says nothing more.
    if str(raised.value):
        assert "Access denied" in str(raised.value), str(raised.value)


def test_tombstoning_the_persistent_subscription_config_is_access_denied(api: ClientApi, client: Any) -> None:
    any_version = api.StreamState.ANY
    assert_access_denied(api, lambda: client.tombstone_stream(CONFIG_STREAM, current_version=any_version))
    assert_access_denied(api, lambda: client.delete_stream(CONFIG_STREAM, current_version=any_version))
    truncate = {"$tb": 1000}
    assert_access_denied(
        api, lambda: client.set_stream_metadata(CONFIG_STREAM, metadata=truncate, current_version=any_version)
    )
    event = json_event(api)
    assert_access_denied(
        api, lambda: client.append_to_stream(CONFIG_STREAM, current_version=any_version, events=[event])
    )


def test_a_groups_checkpoint_stream_is_access_denied_and_the_group_goes_on(api: ClientApi, client: Any) -> None:
    group = unique("group")
    client.create_subscription_to_all(group, timeout=10)
    checkpoint_stream = f"$persistentsubscription-$all::{group}-checkpoint"
    assert_access_denied(
        api, lambda: client.tombstone_stream(checkpoint_stream, current_version=api.StreamState.ANY)
    )
    assert group in [listed.group_name for listed in client.list_subscriptions(timeout=10)]
    client.delete_subscription(group, timeout=10)
