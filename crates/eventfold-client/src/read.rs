//! Reads and catch-up subscriptions, of one stream or of `$all`: one
//! `Streams.Read` call each, whose messages are turned into events as they
//! arrive, so a read of any length holds one message at a time.

use eventfold_proto::event_store::client::streams::read_req::options::{
    self, AllOptions, ControlOption, CountOption, FilterOption, FilterOptions, ReadDirection, StreamOption,
    StreamOptions, SubscriptionOptions, UuidOption, all_options, filter_options, stream_options, uuid_option,
};
use eventfold_proto::event_store::client::streams::{ReadReq, read_req, read_resp};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};

use crate::convert::{empty, identifier, recorded};
use crate::{Client, ClientError, Direction, ReadFrom, RecordedEvent};

/// The name of the stream of every event.
const ALL: &str = "$all";

/// The events of a read, in order; a missing or deleted stream is an error
/// item (the first).
pub type EventStream = BoxStream<'static, Result<RecordedEvent, ClientError>>;

/// What a catch-up subscription delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionItem {
    Event(RecordedEvent),
    /// History is read; what follows is live.
    CaughtUp,
    /// The subscriber fell behind the live feed and reads history again.
    FellBehind,
    /// A filtered `$all` subscription scanned up to this position.
    Checkpoint(u64),
}

pub type SubscriptionStream = BoxStream<'static, Result<SubscriptionItem, ClientError>>;

/// A server-side filter of `$all`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// On stream names when true, on event types otherwise.
    pub on_stream_name: bool,
    /// Names starting with any of these pass (ignored when `regex` is set).
    pub prefixes: Vec<String>,
    /// Names this expression matches pass.
    pub regex: Option<String>,
}

impl Client {
    /// Reads at most `count` events of `stream` (`$all` included) from
    /// `from` in `direction`.
    pub async fn read(
        &self,
        stream: &str,
        from: ReadFrom,
        direction: Direction,
        count: u64,
        filter: Option<&Filter>,
    ) -> Result<EventStream, ClientError> {
        let request = request(stream, from, direction, CountOption::Count(count), filter);
        let name = stream.to_owned();
        let messages =
            self.streams.clone().read(request).await.map_err(|status| ClientError::from_status(status, stream))?;
        let events = messages
            .into_inner()
            .map_err(move |status| ClientError::from_status(status, &name))
            .try_filter_map(|message| async move {
                match message.content {
                    Some(read_resp::Content::Event(event)) => match event.event {
                        Some(event) => recorded(event).map(Some),
                        None => Err(ClientError::Protocol("a read event without its event".into())),
                    },
                    Some(read_resp::Content::StreamNotFound(missing)) => Err(ClientError::StreamNotFound {
                        stream: missing
                            .stream_identifier
                            .map(|id| String::from_utf8_lossy(&id.stream_name).into_owned())
                            .unwrap_or_default(),
                    }),
                    // Bounds and positions around the events, which a plain
                    // read does not need.
                    _ => Ok(None),
                }
            });
        Ok(events.boxed())
    }

    /// A catch-up subscription to `stream` (`$all` included): events after
    /// `from` (`ReadFrom::At(p)` starts after `p`), then live ones.
    pub async fn subscribe(
        &self,
        stream: &str,
        from: ReadFrom,
        filter: Option<&Filter>,
    ) -> Result<SubscriptionStream, ClientError> {
        let count = CountOption::Subscription(SubscriptionOptions {});
        let request = request(stream, from, Direction::Forwards, count, filter);
        let name = stream.to_owned();
        let messages =
            self.streams.clone().read(request).await.map_err(|status| ClientError::from_status(status, stream))?;
        let items = messages
            .into_inner()
            .map_err(move |status| ClientError::from_status(status, &name))
            .try_filter_map(|message| async move {
                Ok(match message.content {
                    Some(read_resp::Content::Event(event)) => match event.event {
                        Some(event) => Some(SubscriptionItem::Event(recorded(event)?)),
                        None => return Err(ClientError::Protocol("a subscription event without its event".into())),
                    },
                    Some(read_resp::Content::CaughtUp(_)) => Some(SubscriptionItem::CaughtUp),
                    Some(read_resp::Content::FellBehind(_)) => Some(SubscriptionItem::FellBehind),
                    Some(read_resp::Content::Checkpoint(checkpoint)) => {
                        Some(SubscriptionItem::Checkpoint(checkpoint.commit_position))
                    }
                    _ => None,
                })
            });
        Ok(items.boxed())
    }
}

fn request(stream: &str, from: ReadFrom, direction: Direction, count: CountOption, filter: Option<&Filter>) -> ReadReq {
    let stream_option = if stream == ALL {
        let all_option = match from {
            ReadFrom::Start => all_options::AllOption::Start(empty()),
            ReadFrom::End => all_options::AllOption::End(empty()),
            ReadFrom::At(position) => all_options::AllOption::Position(options::Position {
                commit_position: position,
                prepare_position: position,
            }),
        };
        StreamOption::All(AllOptions { all_option: Some(all_option) })
    } else {
        let revision_option = match from {
            ReadFrom::Start => stream_options::RevisionOption::Start(empty()),
            ReadFrom::End => stream_options::RevisionOption::End(empty()),
            ReadFrom::At(revision) => stream_options::RevisionOption::Revision(revision),
        };
        StreamOption::Stream(StreamOptions {
            stream_identifier: Some(identifier(stream)),
            revision_option: Some(revision_option),
        })
    };
    let filter_option = match filter {
        None => FilterOption::NoFilter(empty()),
        Some(filter) => {
            let expression = filter_options::Expression {
                regex: filter.regex.clone().unwrap_or_default(),
                prefix: if filter.regex.is_some() { Vec::new() } else { filter.prefixes.clone() },
            };
            FilterOption::Filter(FilterOptions {
                filter: Some(if filter.on_stream_name {
                    filter_options::Filter::StreamIdentifier(expression)
                } else {
                    filter_options::Filter::EventType(expression)
                }),
                window: Some(filter_options::Window::Count(empty())),
                checkpoint_interval_multiplier: 1,
            })
        }
    };
    let read_direction = match direction {
        Direction::Forwards => ReadDirection::Forwards,
        Direction::Backwards => ReadDirection::Backwards,
    };
    ReadReq {
        options: Some(read_req::Options {
            stream_option: Some(stream_option),
            read_direction: read_direction as i32,
            resolve_links: false,
            count_option: Some(count),
            filter_option: Some(filter_option),
            uuid_option: Some(UuidOption { content: Some(uuid_option::Content::String(empty())) }),
            control_option: Some(ControlOption { compatibility: 1 }),
        }),
    }
}
