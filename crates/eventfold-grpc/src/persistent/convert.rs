//! Persistent-subscription protocol messages → the subsystem's types. Every
//! client-controlled value is checked here and refused with
//! `INVALID_ARGUMENT` and a clear message.

use std::time::Duration;

use eventfold_persistent::{
    ConsumerStrategy, FilterExpression, FilterSpec, FilterTarget, GroupKey, GroupSettings, Source, StartFrom,
};
use eventfold_proto::event_store::client::StreamIdentifier;
use eventfold_proto::event_store::client::persistent_subscriptions::{create_req, update_req};
use eventfold_store::Position;
use tonic::Status;

use super::errors;
use crate::convert::stream_name;

/// `$all` by name: old clients send it as a stream identifier.
const ALL: &[u8] = eventfold_store::ALL_STREAM.as_bytes();

pub fn source(identifier: &StreamIdentifier) -> Result<Source, Status> {
    if identifier.stream_name.as_ref() == ALL {
        return Ok(Source::All);
    }
    Ok(Source::Stream(stream_name(Some(identifier))?))
}

pub fn key(source: Source, group: &str) -> Result<GroupKey, Status> {
    GroupKey::new(source, group).map_err(|error| Status::invalid_argument(format!("invalid group name: {error}")))
}

/// The group a request names by a `stream_identifier` / `all` choice.
pub fn key_of(stream: Option<&StreamIdentifier>, all: bool, group: &str) -> Result<GroupKey, Status> {
    let source = match (stream, all) {
        (Some(identifier), _) => source(identifier)?,
        (None, true) => Source::All,
        (None, false) => return Err(Status::invalid_argument("the request names neither a stream nor $all")),
    };
    key(source, group)
}

/// What Create and Update settings have in common; each request type has
/// its own generated struct.
pub struct RawSettings<'a> {
    pub resolve_links: bool,
    pub extra_statistics: bool,
    /// (.NET ticks, milliseconds): whichever the client sent.
    pub message_timeout: Option<Timeout>,
    pub max_retry_count: i32,
    pub checkpoint_after: Option<Timeout>,
    pub min_checkpoint_count: i32,
    pub max_checkpoint_count: i32,
    pub max_subscriber_count: i32,
    pub live_buffer_size: i32,
    pub read_batch_size: i32,
    pub history_buffer_size: i32,
    /// Newer clients name the strategy; older ones send a number.
    pub strategy_name: Option<&'a str>,
    pub strategy_number: i32,
}

#[derive(Clone, Copy)]
pub enum Timeout {
    Ticks(i64),
    Millis(i32),
}

impl<'a> From<&'a create_req::Settings> for RawSettings<'a> {
    fn from(settings: &'a create_req::Settings) -> Self {
        use create_req::settings::{CheckpointAfter, MessageTimeout};
        #[allow(deprecated, reason = "old clients still send the numeric strategy")]
        let strategy_number = settings.named_consumer_strategy;
        RawSettings {
            resolve_links: settings.resolve_links,
            extra_statistics: settings.extra_statistics,
            message_timeout: settings.message_timeout.map(|timeout| match timeout {
                MessageTimeout::MessageTimeoutTicks(ticks) => Timeout::Ticks(ticks),
                MessageTimeout::MessageTimeoutMs(millis) => Timeout::Millis(millis),
            }),
            max_retry_count: settings.max_retry_count,
            checkpoint_after: settings.checkpoint_after.map(|after| match after {
                CheckpointAfter::CheckpointAfterTicks(ticks) => Timeout::Ticks(ticks),
                CheckpointAfter::CheckpointAfterMs(millis) => Timeout::Millis(millis),
            }),
            min_checkpoint_count: settings.min_checkpoint_count,
            max_checkpoint_count: settings.max_checkpoint_count,
            max_subscriber_count: settings.max_subscriber_count,
            live_buffer_size: settings.live_buffer_size,
            read_batch_size: settings.read_batch_size,
            history_buffer_size: settings.history_buffer_size,
            strategy_name: Some(settings.consumer_strategy.as_str()).filter(|name| !name.is_empty()),
            strategy_number,
        }
    }
}

impl<'a> From<&'a update_req::Settings> for RawSettings<'a> {
    fn from(settings: &'a update_req::Settings) -> Self {
        use update_req::settings::{CheckpointAfter, MessageTimeout};
        RawSettings {
            resolve_links: settings.resolve_links,
            extra_statistics: settings.extra_statistics,
            message_timeout: settings.message_timeout.map(|timeout| match timeout {
                MessageTimeout::MessageTimeoutTicks(ticks) => Timeout::Ticks(ticks),
                MessageTimeout::MessageTimeoutMs(millis) => Timeout::Millis(millis),
            }),
            max_retry_count: settings.max_retry_count,
            checkpoint_after: settings.checkpoint_after.map(|after| match after {
                CheckpointAfter::CheckpointAfterTicks(ticks) => Timeout::Ticks(ticks),
                CheckpointAfter::CheckpointAfterMs(millis) => Timeout::Millis(millis),
            }),
            min_checkpoint_count: settings.min_checkpoint_count,
            max_checkpoint_count: settings.max_checkpoint_count,
            max_subscriber_count: settings.max_subscriber_count,
            live_buffer_size: settings.live_buffer_size,
            read_batch_size: settings.read_batch_size,
            history_buffer_size: settings.history_buffer_size,
            strategy_name: None,
            strategy_number: settings.named_consumer_strategy,
        }
    }
}

pub fn settings(raw: &RawSettings<'_>) -> Result<GroupSettings, Status> {
    let defaults = GroupSettings::default();
    let consumer_strategy = match raw.strategy_name {
        Some(name) => ConsumerStrategy::parse(name),
        None => ConsumerStrategy::from_number(raw.strategy_number),
    }
    .map_err(|invalid| errors::invalid_settings(&invalid))?;
    Ok(GroupSettings {
        resolve_links: raw.resolve_links,
        extra_statistics: raw.extra_statistics,
        message_timeout: duration(raw.message_timeout, "message timeout")?.unwrap_or(defaults.message_timeout),
        max_retry_count: count(raw.max_retry_count, "max retry count")?,
        live_buffer_size: count(raw.live_buffer_size, "live buffer size")?,
        read_batch_size: count(raw.read_batch_size, "read batch size")?,
        history_buffer_size: count(raw.history_buffer_size, "history buffer size")?,
        checkpoint_after: duration(raw.checkpoint_after, "checkpoint after")?.unwrap_or(defaults.checkpoint_after),
        min_checkpoint_count: count(raw.min_checkpoint_count, "min checkpoint count")?,
        max_checkpoint_count: count(raw.max_checkpoint_count, "max checkpoint count")?,
        max_subscriber_count: count(raw.max_subscriber_count, "max subscriber count")?,
        consumer_strategy,
    })
}

fn count(value: i32, name: &str) -> Result<u32, Status> {
    u32::try_from(value).map_err(|_| Status::invalid_argument(format!("the {name} must not be negative (got {value})")))
}

fn duration(timeout: Option<Timeout>, name: &str) -> Result<Option<Duration>, Status> {
    let negative = || Status::invalid_argument(format!("the {name} must not be negative"));
    match timeout {
        None => Ok(None),
        // .NET ticks are 100 ns.
        Some(Timeout::Ticks(ticks)) => {
            let ticks = u64::try_from(ticks).map_err(|_| negative())?;
            Ok(Some(Duration::from_nanos(ticks.saturating_mul(100))))
        }
        Some(Timeout::Millis(millis)) => {
            Ok(Some(Duration::from_millis(u64::try_from(millis).map_err(|_| negative())?)))
        }
    }
}

pub fn stream_start(option: Option<&create_req::stream_options::RevisionOption>) -> StartFrom {
    use create_req::stream_options::RevisionOption;
    match option {
        Some(RevisionOption::Revision(revision)) => StartFrom::Revision(*revision),
        Some(RevisionOption::End(_)) => StartFrom::End,
        Some(RevisionOption::Start(_)) | None => StartFrom::Start,
    }
}

pub fn update_stream_start(option: Option<&update_req::stream_options::RevisionOption>) -> StartFrom {
    use update_req::stream_options::RevisionOption;
    match option {
        Some(RevisionOption::Revision(revision)) => StartFrom::Revision(*revision),
        Some(RevisionOption::End(_)) => StartFrom::End,
        Some(RevisionOption::Start(_)) | None => StartFrom::Start,
    }
}

pub fn all_start(option: Option<&create_req::all_options::AllOption>) -> StartFrom {
    use create_req::all_options::AllOption;
    match option {
        Some(AllOption::Position(position)) => StartFrom::Position(Position(position.commit_position)),
        Some(AllOption::End(_)) => StartFrom::End,
        Some(AllOption::Start(_)) | None => StartFrom::Start,
    }
}

pub fn update_all_start(option: Option<&update_req::all_options::AllOption>) -> StartFrom {
    use update_req::all_options::AllOption;
    match option {
        Some(AllOption::Position(position)) => StartFrom::Position(Position(position.commit_position)),
        Some(AllOption::End(_)) => StartFrom::End,
        Some(AllOption::Start(_)) | None => StartFrom::Start,
    }
}

/// A start given the old way, as the deprecated `settings.revision`.
pub fn legacy_start(revision: u64) -> StartFrom {
    match revision {
        0 => StartFrom::Start,
        u64::MAX => StartFrom::End,
        revision => StartFrom::Revision(revision),
    }
}

pub fn filter(options: &create_req::all_options::FilterOptions) -> Result<FilterSpec, Status> {
    use create_req::all_options::filter_options::Filter;
    let (target, expression) = match &options.filter {
        Some(Filter::StreamIdentifier(expression)) => (FilterTarget::StreamName, expression),
        Some(Filter::EventType(expression)) => (FilterTarget::EventType, expression),
        None => return Err(Status::invalid_argument("filter without a stream or event type expression")),
    };
    let expression = if !expression.prefix.is_empty() {
        FilterExpression::Prefixes(expression.prefix.clone())
    } else if !expression.regex.is_empty() {
        FilterExpression::Regex(expression.regex.clone())
    } else {
        return Err(Status::invalid_argument("filter has neither a prefix nor a regex"));
    };
    Ok(FilterSpec { target, expression })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawSettings<'static> {
        RawSettings {
            resolve_links: false,
            extra_statistics: false,
            message_timeout: Some(Timeout::Millis(30_000)),
            max_retry_count: 10,
            checkpoint_after: Some(Timeout::Ticks(20_000_000)),
            min_checkpoint_count: 10,
            max_checkpoint_count: 1000,
            max_subscriber_count: 0,
            live_buffer_size: 500,
            read_batch_size: 20,
            history_buffer_size: 500,
            strategy_name: None,
            strategy_number: 1,
        }
    }

    #[test]
    fn ticks_and_milliseconds_mean_the_same_durations() {
        let settings = settings(&raw()).expect("valid settings");
        assert_eq!(settings, GroupSettings::default());
    }

    #[test]
    fn negative_numbers_are_invalid_arguments_and_unknown_strategies_internal_errors() {
        let negative = RawSettings { max_retry_count: -1, ..raw() };
        assert!(settings(&negative).is_err_and(|status| status.message().contains("max retry count")));
        let ticks = RawSettings { message_timeout: Some(Timeout::Ticks(-5)), ..raw() };
        assert!(settings(&ticks).is_err_and(|status| status.code() == tonic::Code::InvalidArgument));
        // KurrentDB answers INTERNAL here; the clients raise their InternalError.
        let unknown = RawSettings { strategy_name: Some("Random"), ..raw() };
        assert!(settings(&unknown).is_err_and(|status| status.message().contains("Random")));
        assert!(settings(&unknown).is_err_and(|status| status.code() == tonic::Code::Internal));
        let unknown_number = RawSettings { strategy_number: 9, ..raw() };
        assert!(settings(&unknown_number).is_err_and(|status| status.code() == tonic::Code::Internal));
        let by_name = RawSettings { strategy_name: Some("PinnedByCorrelation"), ..raw() };
        assert_eq!(
            settings(&by_name).map(|settings| settings.consumer_strategy).ok(),
            Some(ConsumerStrategy::PinnedByCorrelation)
        );
    }
}
