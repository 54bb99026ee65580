//! A group's tunables, where it starts and, on `$all`, which events it
//! wants. Checked here once; every later step trusts them.

use std::time::Duration;

use eventfold_store::{EventFilter, FilterError, Position};

/// How a group hands events to its consumers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConsumerStrategy {
    /// Fill the first consumer's buffer, then the next one's.
    DispatchToSingle,
    /// Each event to the next consumer with room.
    RoundRobin,
    /// Events of one stream always to the same consumer while it stays.
    Pinned,
    /// Events of one correlation id (`$correlationId` in the event's
    /// metadata, else its stream) always to the same consumer.
    PinnedByCorrelation,
}

impl ConsumerStrategy {
    /// The name clients send and show.
    pub fn name(self) -> &'static str {
        match self {
            ConsumerStrategy::DispatchToSingle => "DispatchToSingle",
            ConsumerStrategy::RoundRobin => "RoundRobin",
            ConsumerStrategy::Pinned => "Pinned",
            ConsumerStrategy::PinnedByCorrelation => "PinnedByCorrelation",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [Self::DispatchToSingle, Self::RoundRobin, Self::Pinned, Self::PinnedByCorrelation]
            .into_iter()
            .find(|strategy| strategy.name() == name)
    }

    /// The strategy a client names; an unknown name is a setting the group
    /// cannot run with, as in EventStoreDB.
    pub fn parse(name: &str) -> Result<Self, InvalidSettings> {
        Self::from_name(name).ok_or_else(|| InvalidSettings::new(format!("Consumer strategy {name} does not exist.")))
    }

    /// The strategy old clients send as a number (the protocol's deprecated
    /// enum, which has no `PinnedByCorrelation`).
    pub fn from_number(number: i32) -> Result<Self, InvalidSettings> {
        match number {
            0 => Ok(Self::DispatchToSingle),
            1 => Ok(Self::RoundRobin),
            2 => Ok(Self::Pinned),
            other => Err(InvalidSettings::new(format!("Consumer strategy number {other} does not exist."))),
        }
    }
}

/// The tunables of a group, as clients set them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupSettings {
    /// Deliver the target of a link event (`$>`) with the link, rather than
    /// the link alone.
    pub resolve_links: bool,
    /// Clients may ask for more statistics; reported back as set.
    pub extra_statistics: bool,
    /// How long a delivered event may stay unacknowledged before it is
    /// retried. Zero: never.
    pub message_timeout: Duration,
    /// Retries after which an event is parked instead.
    pub max_retry_count: u32,
    /// Events buffered ahead of the consumers once the group is live.
    pub live_buffer_size: u32,
    /// Events read from the store in one step.
    pub read_batch_size: u32,
    /// Events buffered ahead of the consumers while catching up.
    pub history_buffer_size: u32,
    /// A checkpoint is written this often once `min_checkpoint_count` events
    /// are done (zero: never by time) ...
    pub checkpoint_after: Duration,
    pub min_checkpoint_count: u32,
    /// ... and at once when this many are.
    pub max_checkpoint_count: u32,
    /// Consumers allowed at once. Zero: no limit.
    pub max_subscriber_count: u32,
    pub consumer_strategy: ConsumerStrategy,
}

impl Default for GroupSettings {
    /// EventStoreDB's defaults.
    fn default() -> Self {
        Self {
            resolve_links: false,
            extra_statistics: false,
            message_timeout: Duration::from_secs(30),
            max_retry_count: 10,
            live_buffer_size: 500,
            read_batch_size: 20,
            history_buffer_size: 500,
            checkpoint_after: Duration::from_secs(2),
            min_checkpoint_count: 10,
            max_checkpoint_count: 1000,
            max_subscriber_count: 0,
            consumer_strategy: ConsumerStrategy::RoundRobin,
        }
    }
}

/// Settings a group cannot run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct InvalidSettings {
    pub reason: String,
}

impl InvalidSettings {
    pub fn new(reason: impl Into<String>) -> Self {
        Self { reason: reason.into() }
    }
}

impl GroupSettings {
    pub fn validate(&self) -> Result<(), InvalidSettings> {
        for (value, name) in [
            (self.live_buffer_size, "live buffer size"),
            (self.read_batch_size, "read batch size"),
            (self.history_buffer_size, "history buffer size"),
        ] {
            if value == 0 {
                return Err(InvalidSettings::new(format!("the {name} must be at least 1")));
            }
        }
        // EventStoreDB's rule: a read must fit in the buffer it fills.
        if self.read_batch_size >= self.history_buffer_size {
            return Err(InvalidSettings::new(format!(
                "the read batch size ({}) must be smaller than the history buffer size ({})",
                self.read_batch_size, self.history_buffer_size
            )));
        }
        if self.min_checkpoint_count > self.max_checkpoint_count {
            return Err(InvalidSettings::new(format!(
                "the minimum checkpoint count ({}) must not exceed the maximum checkpoint count ({})",
                self.min_checkpoint_count, self.max_checkpoint_count
            )));
        }
        Ok(())
    }
}

/// Where a new group starts. Applies until the group's first checkpoint;
/// after that the checkpoint decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartFrom {
    Start,
    /// Only events written after the group was created (or updated).
    End,
    /// A stream group: from this revision, included.
    Revision(u64),
    /// A `$all` group: from this position, included.
    Position(Position),
}

/// Which events of `$all` a group wants, kept as the client gave it so that
/// it can be stored and shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterSpec {
    pub target: FilterTarget,
    pub expression: FilterExpression,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterTarget {
    StreamName,
    EventType,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FilterExpression {
    Prefixes(Vec<String>),
    Regex(String),
}

impl FilterSpec {
    pub fn compile(&self) -> Result<EventFilter, FilterError> {
        Ok(match (&self.target, &self.expression) {
            (FilterTarget::StreamName, FilterExpression::Prefixes(prefixes)) => {
                EventFilter::StreamNamePrefix(prefixes.clone())
            }
            (FilterTarget::EventType, FilterExpression::Prefixes(prefixes)) => {
                EventFilter::EventTypePrefix(prefixes.clone())
            }
            (FilterTarget::StreamName, FilterExpression::Regex(pattern)) => EventFilter::stream_name_regex(pattern)?,
            (FilterTarget::EventType, FilterExpression::Regex(pattern)) => EventFilter::event_type_regex(pattern)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_combinations_are_refused_with_a_reason() {
        assert_eq!(GroupSettings::default().validate(), Ok(()));
        let batch_too_big = GroupSettings { read_batch_size: 500, ..GroupSettings::default() };
        assert!(batch_too_big.validate().is_err_and(|error| error.reason.contains("read batch size")));
        let no_live_buffer = GroupSettings { live_buffer_size: 0, ..GroupSettings::default() };
        assert!(no_live_buffer.validate().is_err_and(|error| error.reason.contains("live buffer size")));
        let inverted = GroupSettings { min_checkpoint_count: 5, max_checkpoint_count: 4, ..GroupSettings::default() };
        assert!(inverted.validate().is_err_and(|error| error.reason.contains("checkpoint count")));
    }

    #[test]
    fn strategies_round_trip_by_name() {
        for strategy in [
            ConsumerStrategy::DispatchToSingle,
            ConsumerStrategy::RoundRobin,
            ConsumerStrategy::Pinned,
            ConsumerStrategy::PinnedByCorrelation,
        ] {
            assert_eq!(ConsumerStrategy::from_name(strategy.name()), Some(strategy));
        }
        assert_eq!(ConsumerStrategy::from_name("Random"), None);
        assert!(ConsumerStrategy::parse("Random").is_err_and(|error| error.reason.contains("Random")));
        assert_eq!(ConsumerStrategy::from_number(2), Ok(ConsumerStrategy::Pinned));
        assert!(ConsumerStrategy::from_number(7).is_err());
    }

    #[test]
    fn filters_compile_or_explain() {
        let prefix = FilterSpec {
            target: FilterTarget::StreamName,
            expression: FilterExpression::Prefixes(vec!["order-".into()]),
        };
        assert!(prefix.compile().is_ok());
        let broken = FilterSpec { target: FilterTarget::EventType, expression: FilterExpression::Regex("(".into()) };
        assert!(broken.compile().is_err());
    }
}
