//! Which group a request names, and the streams that hold its state.

use std::fmt;

use eventfold_store::{InvalidStreamName, StreamName};

/// What a group reads: one stream, or the whole log.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    Stream(StreamName),
    All,
}

impl Source {
    /// The name clients use for it: the stream's name, or `$all`.
    pub fn label(&self) -> &str {
        match self {
            Source::Stream(stream) => stream.as_str(),
            Source::All => eventfold_store::ALL_STREAM,
        }
    }

    /// What the access policy checks a read of it as.
    pub fn resource(&self) -> eventfold_store::Resource<'_> {
        match self {
            Source::Stream(stream) => eventfold_store::Resource::Stream(stream),
            Source::All => eventfold_store::Resource::All,
        }
    }
}

/// A group: its source and its name, unique together.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupKey {
    source: Source,
    group: String,
}

/// Why a group name cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidGroupName {
    #[error("the group name is empty")]
    Empty,
    /// The group's checkpoint and parked streams are named after it; a name
    /// that makes them invalid stream names is refused up front.
    #[error("the group name cannot name its state streams: {0}")]
    StateStream(InvalidStreamName),
}

impl GroupKey {
    pub fn new(source: Source, group: impl Into<String>) -> Result<Self, InvalidGroupName> {
        let key = Self { source, group: group.into() };
        if key.group.is_empty() {
            return Err(InvalidGroupName::Empty);
        }
        // The longest of the state stream names decides.
        key.state_stream("checkpoint").map_err(InvalidGroupName::StateStream)?;
        Ok(key)
    }

    pub fn source(&self) -> &Source {
        &self.source
    }

    pub fn group(&self) -> &str {
        &self.group
    }

    /// `<stream>::<group>`: what the subscription confirmation carries
    /// (clients check it) and the middle of every state stream's name.
    pub fn subscription_id(&self) -> String {
        format!("{}::{}", self.source.label(), self.group)
    }

    /// `$persistentsubscription-<stream>::<group>-checkpoint`.
    pub(crate) fn checkpoint_stream(&self) -> StreamName {
        self.checked_state_stream("checkpoint")
    }

    /// `$persistentsubscription-<stream>::<group>-parked`.
    pub fn parked_stream(&self) -> StreamName {
        self.checked_state_stream("parked")
    }

    fn state_stream(&self, suffix: &str) -> Result<StreamName, InvalidStreamName> {
        let prefix = eventfold_store::PERSISTENT_SUBSCRIPTION_STREAM_PREFIX;
        StreamName::new(format!("{prefix}{}-{suffix}", self.subscription_id()))
    }

    fn checked_state_stream(&self, suffix: &str) -> StreamName {
        match self.state_stream(suffix) {
            Ok(stream) => stream,
            // `new` checked the longest suffix, so this cannot fail.
            Err(error) => unreachable!("state stream of a checked group key: {error}"),
        }
    }
}

impl fmt::Display for GroupKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.subscription_id())
    }
}

#[cfg(test)]
mod tests {
    use eventfold_store::STREAM_NAME_MAX_BYTES;

    use super::*;

    fn stream(name: &str) -> Source {
        Source::Stream(StreamName::new(name).expect("valid stream name"))
    }

    #[test]
    fn state_streams_are_named_as_eventstoredb_names_them() {
        let key = GroupKey::new(stream("orders"), "billing").expect("valid key");
        assert_eq!(key.subscription_id(), "orders::billing");
        assert_eq!(key.checkpoint_stream().as_str(), "$persistentsubscription-orders::billing-checkpoint");
        assert_eq!(key.parked_stream().as_str(), "$persistentsubscription-orders::billing-parked");
        let all = GroupKey::new(Source::All, "g").expect("valid key");
        assert_eq!(all.parked_stream().as_str(), "$persistentsubscription-$all::g-parked");
    }

    #[test]
    fn every_state_stream_is_one_clients_may_not_write() {
        // The access policy keeps clients off these streams by their prefix:
        // a state stream named otherwise could be deleted by any client.
        let key = GroupKey::new(stream("orders"), "billing").expect("valid key");
        let config = StreamName::new(crate::CONFIG_STREAM).expect("valid name");
        for state in [config, key.checkpoint_stream(), key.parked_stream()] {
            assert!(eventfold_store::holds_server_state(&state), "{state}");
        }
    }

    #[test]
    fn names_that_cannot_name_state_streams_are_refused() {
        assert_eq!(GroupKey::new(Source::All, ""), Err(InvalidGroupName::Empty));
        assert!(matches!(GroupKey::new(Source::All, "a\nb"), Err(InvalidGroupName::StateStream(_))));
        let long = "g".repeat(STREAM_NAME_MAX_BYTES);
        assert!(matches!(GroupKey::new(Source::All, long), Err(InvalidGroupName::StateStream(_))));
    }
}
