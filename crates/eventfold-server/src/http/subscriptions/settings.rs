//! A group's settings as KurrentDB's HTTP API takes them (`PUT` and `POST`
//! bodies) and shows them (`config` in `/info`). A field left out takes
//! EventStoreDB's default; an update replaces every setting, as there.

use std::time::Duration;

use eventfold_persistent::{ConsumerStrategy, GroupSettings, StartFrom};
use serde::{Deserialize, Serialize};

use crate::http::atom::AtomError;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SettingsBody {
    #[serde(alias = "resolveLinkTos")]
    resolve_linktos: Option<bool>,
    /// 0 or a revision: from there; -1: from the end.
    start_from: Option<i64>,
    extra_statistics: Option<bool>,
    check_point_after_milliseconds: Option<u64>,
    live_buffer_size: Option<u32>,
    read_batch_size: Option<u32>,
    buffer_size: Option<u32>,
    max_check_point_count: Option<u32>,
    max_retry_count: Option<u32>,
    max_subscriber_count: Option<u32>,
    message_timeout_milliseconds: Option<u64>,
    min_check_point_count: Option<u32>,
    named_consumer_strategy: Option<String>,
}

/// The settings and start a body asks for; an empty body asks for the
/// defaults.
pub fn parse(body: &[u8]) -> Result<(StartFrom, GroupSettings), AtomError> {
    let body: SettingsBody = if body.iter().all(u8::is_ascii_whitespace) {
        SettingsBody::default()
    } else {
        serde_json::from_slice(body)
            .map_err(|error| AtomError::BadRequest(format!("the body is not a subscription's settings: {error}")))?
    };
    let defaults = GroupSettings::default();
    let start_from = match body.start_from {
        None | Some(0) => StartFrom::Start,
        Some(-1) => StartFrom::End,
        Some(revision) => StartFrom::Revision(u64::try_from(revision).map_err(|_| {
            AtomError::BadRequest(format!("startFrom {revision} is neither -1 (the end) nor a revision"))
        })?),
    };
    let consumer_strategy = match body.named_consumer_strategy {
        None => defaults.consumer_strategy,
        Some(name) => ConsumerStrategy::parse(&name).map_err(|error| AtomError::BadRequest(error.to_string()))?,
    };
    let settings = GroupSettings {
        resolve_links: body.resolve_linktos.unwrap_or(defaults.resolve_links),
        extra_statistics: body.extra_statistics.unwrap_or(defaults.extra_statistics),
        message_timeout: body.message_timeout_milliseconds.map_or(defaults.message_timeout, Duration::from_millis),
        max_retry_count: body.max_retry_count.unwrap_or(defaults.max_retry_count),
        live_buffer_size: body.live_buffer_size.unwrap_or(defaults.live_buffer_size),
        read_batch_size: body.read_batch_size.unwrap_or(defaults.read_batch_size),
        history_buffer_size: body.buffer_size.unwrap_or(defaults.history_buffer_size),
        checkpoint_after: body.check_point_after_milliseconds.map_or(defaults.checkpoint_after, Duration::from_millis),
        min_checkpoint_count: body.min_check_point_count.unwrap_or(defaults.min_checkpoint_count),
        max_checkpoint_count: body.max_check_point_count.unwrap_or(defaults.max_checkpoint_count),
        max_subscriber_count: body.max_subscriber_count.unwrap_or(defaults.max_subscriber_count),
        consumer_strategy,
    };
    settings.validate().map_err(|error| AtomError::BadRequest(error.to_string()))?;
    Ok((start_from, settings))
}

/// `config` of a group's `/info`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    resolve_linktos: bool,
    start_from: i64,
    message_timeout_milliseconds: u64,
    extra_statistics: bool,
    max_retry_count: u32,
    live_buffer_size: u32,
    buffer_size: u32,
    read_batch_size: u32,
    prefer_round_robin: bool,
    check_point_after_milliseconds: u64,
    min_check_point_count: u32,
    max_check_point_count: u32,
    max_subscriber_count: u32,
    named_consumer_strategy: &'static str,
}

pub fn config(start_from: StartFrom, settings: &GroupSettings) -> Config {
    let millis = |duration: Duration| u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    Config {
        resolve_linktos: settings.resolve_links,
        start_from: match start_from {
            StartFrom::Start => 0,
            StartFrom::End => -1,
            StartFrom::Revision(revision) => i64::try_from(revision).unwrap_or(i64::MAX),
            StartFrom::Position(position) => i64::try_from(position.0).unwrap_or(i64::MAX),
        },
        message_timeout_milliseconds: millis(settings.message_timeout),
        extra_statistics: settings.extra_statistics,
        max_retry_count: settings.max_retry_count,
        live_buffer_size: settings.live_buffer_size,
        buffer_size: settings.history_buffer_size,
        read_batch_size: settings.read_batch_size,
        prefer_round_robin: settings.consumer_strategy == ConsumerStrategy::RoundRobin,
        check_point_after_milliseconds: millis(settings.checkpoint_after),
        min_check_point_count: settings.min_checkpoint_count,
        max_check_point_count: settings.max_checkpoint_count,
        max_subscriber_count: settings.max_subscriber_count,
        named_consumer_strategy: settings.consumer_strategy.name(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_take_defaults_and_bad_settings_are_refused() {
        let (start, settings) = parse(b"").expect("defaults");
        assert_eq!((start, settings), (StartFrom::Start, GroupSettings::default()));
        let (start, settings) =
            parse(br#"{"startFrom":-1,"resolveLinktos":true,"namedConsumerStrategy":"Pinned"}"#).expect("parsed");
        assert_eq!(start, StartFrom::End);
        assert!(settings.resolve_links);
        assert_eq!(settings.consumer_strategy, ConsumerStrategy::Pinned);
        for bad in
            [&br#"{"startFrom":-2}"#[..], br#"{"namedConsumerStrategy":"Random"}"#, b"{", br#"{"readBatchSize":600}"#]
        {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
