//! EventStoreDB deletes the metadata stream `$$X` together with a tombstoned
//! `X`: reading or subscribing to it answers "stream deleted" (which the
//! clients' `get_stream_metadata` raises as their stream-deleted error).
//! Any other state of `X` lets the read go on.

use crate::{EventStore, ReadError, StreamName, metadata_target};

/// `StreamDeleted` for `stream` when it is the metadata stream of a
/// tombstoned stream; `Ok` otherwise. A failure to look the target up is
/// left to the read itself, which meets the same storage.
pub async fn refuse_metadata_of_tombstoned(store: &dyn EventStore, stream: &StreamName) -> Result<(), ReadError> {
    let Some(target) = metadata_target(stream.as_str()).and_then(|target| StreamName::new(target).ok()) else {
        return Ok(());
    };
    match store.stream_revision(&target).await {
        Err(ReadError::StreamDeleted { .. }) => Err(ReadError::StreamDeleted { stream: stream.clone() }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::testing::{MemoryStore, recorded};

    fn name(text: &str) -> StreamName {
        StreamName::new(text).expect("valid stream name")
    }

    #[test]
    fn only_the_metadata_of_a_tombstoned_stream_reads_as_deleted() {
        let store = MemoryStore::default();
        for stream in ["cart-1", "cart-2"] {
            store.push(recorded(stream, 0, "Added", "{}"));
            store.push(recorded(&format!("$${stream}"), 0, "$metadata", "{}"));
        }
        store.tombstone("cart-1");

        let refused = block_on(refuse_metadata_of_tombstoned(&store, &name("$$cart-1")));
        assert_eq!(refused, Err(ReadError::StreamDeleted { stream: name("$$cart-1") }), "the metadata stream is named");
        for readable in ["$$cart-2", "$$cart-3", "$$", "cart-2", "cart-1"] {
            assert_eq!(block_on(refuse_metadata_of_tombstoned(&store, &name(readable))), Ok(()), "{readable}");
        }
    }

    #[test]
    fn a_failing_lookup_is_left_to_the_read() {
        let store = MemoryStore::default();
        store.fail_reads();
        assert_eq!(block_on(refuse_metadata_of_tombstoned(&store, &name("$$cart-1"))), Ok(()));
    }
}
