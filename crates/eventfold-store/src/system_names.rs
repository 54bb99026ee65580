//! The `$` vocabulary of EventStoreDB that eventfold speaks: the names of
//! system streams and event types that clients, the engine and every face
//! must spell the same way. Names starting with `$` belong to the server.

/// The whole log, read and subscribed to as if it were a stream.
pub const ALL_STREAM: &str = "$all";

/// Prefix of a metadata stream: `$$order-1` holds `order-1`'s metadata.
pub const METADATA_STREAM_PREFIX: &str = "$$";

/// Prefix of a category stream: `$ce-order` has every event of `order-*`.
pub const CATEGORY_STREAM_PREFIX: &str = "$ce-";

/// Prefix of an event type stream: `$et-Placed` has every `Placed` event.
pub const EVENT_TYPE_STREAM_PREFIX: &str = "$et-";

/// The stream with the first event of every stream.
pub const STREAMS_STREAM: &str = "$streams";

/// Prefix of the streams that hold persistent subscriptions' state:
/// `$persistentsubscription-config` (the group definitions) and each group's
/// `$persistentsubscription-<stream>::<group>-checkpoint` and `-parked`.
pub const PERSISTENT_SUBSCRIPTION_STREAM_PREFIX: &str = "$persistentsubscription-";

/// A link event: its data is `<revision>@<stream>`, the event it stands for.
pub const LINK_EVENT_TYPE: &str = "$>";

/// Stream metadata, a JSON document written to `$$<stream>`.
pub const METADATA_EVENT_TYPE: &str = "$metadata";

/// The event a tombstone writes: the stream is deleted for good.
pub const TOMBSTONE_EVENT_TYPE: &str = "$streamDeleted";

/// The stream whose metadata `stream` holds: `X` for `$$X`; `None` for any
/// other stream, and for `$$` itself (a stream of its own, not metadata).
pub fn metadata_target(stream: &str) -> Option<&str> {
    stream.strip_prefix(METADATA_STREAM_PREFIX).filter(|target| !target.is_empty())
}

/// The name of the stream that holds `stream`'s metadata.
pub fn metadata_stream_of(stream: &str) -> String {
    format!("{METADATA_STREAM_PREFIX}{stream}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_streams_name_their_target_and_back() {
        assert_eq!(metadata_target("$$order-1"), Some("order-1"));
        assert_eq!(metadata_target("$$$$order-1"), Some("$$order-1"));
        assert_eq!(metadata_target("$$"), None, "`$$` alone is a stream, not metadata");
        assert_eq!(metadata_target("order-1"), None);
        assert_eq!(metadata_target("$ce-order"), None);
        assert_eq!(metadata_stream_of("order-1"), "$$order-1");
        assert_eq!(metadata_target(&metadata_stream_of("order-1")), Some("order-1"));
    }
}
