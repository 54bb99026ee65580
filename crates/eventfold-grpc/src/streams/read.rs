//! `Streams.Read`: reads of a stream or `$all` (with `count`), and catch-up
//! subscriptions (with `subscription`). Responses are produced as the client
//! consumes them: HTTP/2 flow control stops the storage reads of a slow
//! reader, so memory stays bounded whatever the read's size.

use std::sync::Arc;
use std::time::SystemTime;

use eventfold_proto::event_store::client::streams::read_req::options::{
    self, AllOptions, CountOption, FilterOptions, ReadDirection, StreamOption, StreamOptions, all_options,
    filter_options, stream_options, uuid_option,
};
use eventfold_proto::event_store::client::streams::read_resp::{
    self, CaughtUp, Checkpoint, ReadEvent, StreamNotFound, SubscriptionConfirmation, read_event,
};
use eventfold_proto::event_store::client::streams::{ReadReq, ReadResp};
use eventfold_store::{
    AllFrom, Direction, EventFilter, EventStore, Position, ReadAllRequest, ReadError, ReadStreamRequest, RecordedEvent,
    ResolvedEvent, RevisionFrom, StreamReadItem, StreamReadItems, SubscribeFrom, SubscribeToAllRequest,
    SubscribeToStreamRequest, SubscriptionItem, read_stream_with_bounds, refuse_metadata_of_tombstoned,
};
use futures::StreamExt;
use tonic::Status;

use super::ResponseStream;
use crate::convert::{recorded_metadata, stream_identifier, stream_name, uuid_to_proto};
use crate::errors;

pub async fn read(store: Arc<dyn EventStore>, request: ReadReq) -> Result<ResponseStream<ReadResp>, Status> {
    let options = request.options.ok_or_else(|| Status::invalid_argument("read without options"))?;
    let structured = matches!(
        options.uuid_option.as_ref().and_then(|option| option.content.as_ref()),
        Some(uuid_option::Content::Structured(_))
    );
    let render = Render { structured, resolver: options.resolve_links.then(|| Arc::clone(&store)) };
    let direction = match ReadDirection::try_from(options.read_direction) {
        Ok(ReadDirection::Forwards) => Direction::Forwards,
        Ok(ReadDirection::Backwards) => Direction::Backwards,
        Err(_) => return Err(Status::invalid_argument(format!("unknown read direction {}", options.read_direction))),
    };
    let filter = match options.filter_option {
        Some(options::FilterOption::Filter(filter)) => Some(parse_filter(&filter)?),
        Some(options::FilterOption::NoFilter(_)) | None => None,
    };
    let count = options.count_option.ok_or_else(|| Status::invalid_argument("read without count or subscription"))?;
    let stream_option = options.stream_option.ok_or_else(|| Status::invalid_argument("read without stream or all"))?;
    match (stream_option, count) {
        (StreamOption::Stream(stream), CountOption::Count(max_count)) => {
            // Clients at compatibility level 1 and above expect a read's
            // bounds; older ones do not know those messages.
            let bounds = options.control_option.is_some_and(|control| control.compatibility >= 1);
            read_stream(store, stream, direction, max_count, bounds, render).await
        }
        (StreamOption::Stream(stream), CountOption::Subscription(_)) => {
            subscribe_to_stream(store.as_ref(), stream, render).await
        }
        (StreamOption::All(all), CountOption::Count(max_count)) => {
            let from = match all.all_option {
                Some(all_options::AllOption::Start(_)) => AllFrom::Start,
                Some(all_options::AllOption::End(_)) => AllFrom::End,
                Some(all_options::AllOption::Position(position)) => {
                    AllFrom::Position(Position(position.commit_position))
                }
                None => return Err(Status::invalid_argument("read of $all without a start")),
            };
            let request = ReadAllRequest { from, direction, max_count, filter: filter.map(|(filter, _)| filter) };
            let events = store.read_all(request).await.map_err(|error| errors::read(&error))?;
            Ok(events_response(events, render))
        }
        (StreamOption::All(all), CountOption::Subscription(_)) => {
            subscribe_to_all(store.as_ref(), all, filter, render).await
        }
    }
}

/// A filter and its checkpoint interval: `max` window × multiplier.
fn parse_filter(options: &FilterOptions) -> Result<(EventFilter, u32), Status> {
    let (expression, by_stream) = match &options.filter {
        Some(filter_options::Filter::StreamIdentifier(expression)) => (expression, true),
        Some(filter_options::Filter::EventType(expression)) => (expression, false),
        None => return Err(Status::invalid_argument("filter without a stream or event type expression")),
    };
    let filter = if !expression.prefix.is_empty() {
        if by_stream {
            EventFilter::StreamNamePrefix(expression.prefix.clone())
        } else {
            EventFilter::EventTypePrefix(expression.prefix.clone())
        }
    } else if !expression.regex.is_empty() {
        let compiled = if by_stream {
            EventFilter::stream_name_regex(&expression.regex)
        } else {
            EventFilter::event_type_regex(&expression.regex)
        };
        compiled.map_err(|error| Status::invalid_argument(error.to_string()))?
    } else {
        return Err(Status::invalid_argument("filter has neither a prefix nor a regex"));
    };
    let window = match options.window {
        Some(filter_options::Window::Max(max)) => max.max(1),
        Some(filter_options::Window::Count(_)) | None => 1,
    };
    let interval = window.saturating_mul(options.checkpoint_interval_multiplier.max(1));
    Ok((filter, interval))
}

async fn read_stream(
    store: Arc<dyn EventStore>,
    options: StreamOptions,
    direction: Direction,
    max_count: u64,
    bounds: bool,
    render: Render,
) -> Result<ResponseStream<ReadResp>, Status> {
    let stream = stream_name(options.stream_identifier.as_ref())?;
    let from = match options.revision_option {
        Some(stream_options::RevisionOption::Start(_)) => RevisionFrom::Start,
        Some(stream_options::RevisionOption::End(_)) => RevisionFrom::End,
        Some(stream_options::RevisionOption::Revision(revision)) => RevisionFrom::Revision(revision),
        None => return Err(Status::invalid_argument("stream read without a start")),
    };
    // The store's read refuses the metadata stream of a tombstoned stream.
    let request = ReadStreamRequest { stream, from, direction, max_count };
    match read_stream_with_bounds(store, request).await {
        Ok(items) => Ok(stream_items_response(items, bounds, render)),
        Err(ReadError::StreamNotFound { stream }) => {
            let not_found = ReadResp {
                content: Some(read_resp::Content::StreamNotFound(StreamNotFound {
                    stream_identifier: Some(stream_identifier(&stream)),
                })),
            };
            Ok(futures::stream::once(async { Ok(not_found) }).boxed())
        }
        Err(error) => Err(errors::read(&error)),
    }
}

fn stream_items_response(items: StreamReadItems, bounds: bool, render: Render) -> ResponseStream<ReadResp> {
    items
        .filter(move |item| futures::future::ready(bounds || matches!(item, Ok(StreamReadItem::Event(_)) | Err(_))))
        .then(move |item| {
            let render = render.clone();
            async move {
                let content = match item.map_err(|error| errors::read(&error))? {
                    StreamReadItem::Event(event) => return Ok(render.message(event).await),
                    StreamReadItem::FirstStreamPosition(revision) => read_resp::Content::FirstStreamPosition(revision),
                    StreamReadItem::LastStreamPosition(revision) => read_resp::Content::LastStreamPosition(revision),
                };
                Ok(ReadResp { content: Some(content) })
            }
        })
        .boxed()
}

async fn subscribe_to_stream(
    store: &dyn EventStore,
    options: StreamOptions,
    render: Render,
) -> Result<ResponseStream<ReadResp>, Status> {
    let stream = stream_name(options.stream_identifier.as_ref())?;
    let from = match options.revision_option {
        Some(stream_options::RevisionOption::Start(_)) => SubscribeFrom::Start,
        Some(stream_options::RevisionOption::End(_)) => SubscribeFrom::End,
        Some(stream_options::RevisionOption::Revision(revision)) => SubscribeFrom::After(revision),
        None => return Err(Status::invalid_argument("subscription without a start")),
    };
    refuse_metadata_of_tombstoned(store, &stream).await.map_err(|error| errors::read(&error))?;
    let items = store
        .subscribe_to_stream(SubscribeToStreamRequest { stream, from })
        .await
        .map_err(|error| errors::subscription(&error))?;
    Ok(subscription_response(items, render, Progress::Stream { last_revision: None }))
}

async fn subscribe_to_all(
    store: &dyn EventStore,
    options: AllOptions,
    filter: Option<(EventFilter, u32)>,
    render: Render,
) -> Result<ResponseStream<ReadResp>, Status> {
    let from = match options.all_option {
        Some(all_options::AllOption::Start(_)) => SubscribeFrom::Start,
        Some(all_options::AllOption::End(_)) => SubscribeFrom::End,
        Some(all_options::AllOption::Position(position)) => SubscribeFrom::After(Position(position.commit_position)),
        None => return Err(Status::invalid_argument("subscription without a start")),
    };
    let (filter, checkpoint_interval) = match filter {
        Some((filter, interval)) => (Some(filter), Some(interval)),
        None => (None, None),
    };
    let start = match from {
        SubscribeFrom::After(position) => Some(position.0),
        SubscribeFrom::Start | SubscribeFrom::End => None,
    };
    let items = store
        .subscribe_to_all(SubscribeToAllRequest { from, filter, checkpoint_interval })
        .await
        .map_err(|error| errors::subscription(&error))?;
    Ok(subscription_response(items, render, Progress::All { last_position: start }))
}

fn events_response(events: eventfold_store::EventStream, render: Render) -> ResponseStream<ReadResp> {
    events
        .then(move |event| {
            let render = render.clone();
            async move {
                match event {
                    Ok(event) => Ok(render.message(event).await),
                    Err(error) => Err(errors::read(&error)),
                }
            }
        })
        .boxed()
}

/// How far a subscription got, for its `caught_up` message: the position
/// (for `$all`: last event or checkpoint, else where it started) or the
/// last revision (for a stream).
#[derive(Clone, Copy)]
enum Progress {
    All { last_position: Option<u64> },
    Stream { last_revision: Option<u64> },
}

impl Progress {
    fn observe(&mut self, item: &SubscriptionItem) {
        match (self, item) {
            (Progress::All { last_position }, SubscriptionItem::Event(event)) => {
                *last_position = Some(event.position.0)
            }
            (Progress::Stream { last_revision }, SubscriptionItem::Event(event)) => {
                *last_revision = Some(event.revision)
            }
            _ => {}
        }
    }

    fn caught_up(self) -> CaughtUp {
        let (stream_revision, position) = match self {
            Progress::All { last_position } => (
                None,
                last_position
                    .map(|position| read_resp::Position { commit_position: position, prepare_position: position }),
            ),
            Progress::Stream { last_revision } => {
                (last_revision.and_then(|revision| i64::try_from(revision).ok()), None)
            }
        };
        CaughtUp { timestamp: Some(now()), stream_revision, position }
    }
}

fn subscription_response(
    items: eventfold_store::SubscriptionStream,
    render: Render,
    mut progress: Progress,
) -> ResponseStream<ReadResp> {
    let confirmation = ReadResp {
        content: Some(read_resp::Content::Confirmation(SubscriptionConfirmation {
            subscription_id: uuid::Uuid::new_v4().to_string(),
        })),
    };
    let items = items
        .map(move |item| {
            if let Ok(item) = &item {
                progress.observe(item);
            }
            (item, progress)
        })
        .then(move |(item, progress)| {
            let render = render.clone();
            async move { subscription_message(item, progress, &render).await }
        });
    futures::stream::once(async { Ok(confirmation) }).chain(items).boxed()
}

async fn subscription_message(
    item: Result<SubscriptionItem, eventfold_store::SubscriptionError>,
    progress: Progress,
    render: &Render,
) -> Result<ReadResp, Status> {
    match item {
        Ok(SubscriptionItem::Event(event)) => Ok(render.message(event).await),
        Ok(SubscriptionItem::CaughtUp) => {
            Ok(ReadResp { content: Some(read_resp::Content::CaughtUp(progress.caught_up())) })
        }
        Ok(SubscriptionItem::Checkpoint(position)) => Ok(ReadResp {
            content: Some(read_resp::Content::Checkpoint(Checkpoint {
                commit_position: position.0,
                prepare_position: position.0,
                timestamp: Some(now()),
            })),
        }),
        Err(error) => Err(errors::subscription(&error)),
    }
}

/// How events are written out for one read: the UUID form the client asked
/// for, and whether link events are resolved to the events they point at.
#[derive(Clone)]
struct Render {
    structured: bool,
    resolver: Option<Arc<dyn EventStore>>,
}

impl Render {
    async fn message(&self, event: RecordedEvent) -> ReadResp {
        let position = event.position.0;
        let ResolvedEvent { event, link } = match &self.resolver {
            Some(store) => ResolvedEvent::resolve(store.as_ref(), event).await,
            None => ResolvedEvent::unresolved(event),
        };
        ReadResp {
            content: Some(read_resp::Content::Event(ReadEvent {
                event: Some(recorded_event(&event, self.structured)),
                link: link.as_ref().map(|link| recorded_event(link, self.structured)),
                position: Some(read_event::Position::CommitPosition(position)),
            })),
        }
    }
}

fn recorded_event(event: &RecordedEvent, structured: bool) -> read_event::RecordedEvent {
    read_event::RecordedEvent {
        id: Some(uuid_to_proto(event.id.0, structured)),
        stream_identifier: Some(stream_identifier(&event.stream)),
        stream_revision: event.revision,
        prepare_position: event.position.0,
        commit_position: event.position.0,
        metadata: recorded_metadata(event),
        custom_metadata: event.metadata.clone(),
        data: event.data.clone(),
    }
}

fn now() -> prost_types::Timestamp {
    prost_types::Timestamp::from(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use eventfold_engine::{Engine, EngineConfig};
    use eventfold_proto::event_store::client::{Empty, StreamIdentifier};
    use eventfold_store::{AppendRequest, DeleteMode, ExpectedRevision, ProposedEvent, StreamName};
    use tonic::Code;

    use super::*;

    fn name(text: &str) -> StreamName {
        StreamName::new(text).expect("valid stream name")
    }

    fn stream_read(stream: &str, subscribe: bool) -> ReadReq {
        let count =
            if subscribe { CountOption::Subscription(options::SubscriptionOptions {}) } else { CountOption::Count(10) };
        ReadReq {
            options: Some(eventfold_proto::event_store::client::streams::read_req::Options {
                stream_option: Some(StreamOption::Stream(StreamOptions {
                    stream_identifier: Some(StreamIdentifier { stream_name: stream.as_bytes().to_vec().into() }),
                    revision_option: Some(stream_options::RevisionOption::Start(Empty {})),
                })),
                read_direction: ReadDirection::Forwards as i32,
                resolve_links: false,
                count_option: Some(count),
                filter_option: Some(options::FilterOption::NoFilter(Empty {})),
                ..Default::default()
            }),
        }
    }

    async fn first_message(store: &Arc<dyn EventStore>, stream: &str, subscribe: bool) -> Result<ReadResp, Status> {
        let mut responses = read(Arc::clone(store), stream_read(stream, subscribe)).await?;
        responses.next().await.unwrap_or_else(|| Err(Status::internal("no message")))
    }

    fn read_event(message: ReadResp) -> ReadEvent {
        match message.content {
            Some(read_resp::Content::Event(event)) => event,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn links_to_truncated_events_are_not_resolved_to_other_events() {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = Engine::open(EngineConfig::new(dir.path())).expect("open");
        let events = (0..3).map(|index| ProposedEvent::json("Added", format!("{{\"n\":{index}}}"))).collect();
        engine.append(AppendRequest::new(name("cart-1"), ExpectedRevision::Any, events)).await.expect("append");
        let metadata = vec![ProposedEvent::json("$metadata", r#"{"$maxCount":1}"#.to_owned())];
        engine.append(AppendRequest::new(name("$$cart-1"), ExpectedRevision::Any, metadata)).await.expect("metadata");
        let store: Arc<dyn EventStore> = Arc::new(engine);

        let mut request = stream_read("$ce-cart", false);
        if let Some(options) = request.options.as_mut() {
            options.resolve_links = true;
        }
        let messages: Vec<ReadResp> = read(Arc::clone(&store), request)
            .await
            .expect("read")
            .map(|message| message.expect("message"))
            .collect()
            .await;
        let events: Vec<ReadEvent> = messages.into_iter().map(read_event).collect();
        assert_eq!(events.len(), 3);
        // Revisions 0 and 1 are hidden by `$maxCount`: their links come as
        // they are, with no link beside them.
        for (index, event) in events[..2].iter().enumerate() {
            let served = event.event.as_ref().expect("event");
            assert_eq!(served.metadata.get("type").map(String::as_str), Some("$>"));
            assert_eq!(served.data.as_ref(), format!("{index}@cart-1").as_bytes());
            assert!(event.link.is_none());
        }
        let resolved = events[2].event.as_ref().expect("event");
        assert_eq!(resolved.stream_revision, 2);
        assert_eq!(resolved.metadata.get("type").map(String::as_str), Some("Added"));
        let link = events[2].link.as_ref().expect("link beside the resolved event");
        assert_eq!(link.data.as_ref(), b"2@cart-1");
        assert_eq!(link.stream_revision, 2);
    }

    #[tokio::test]
    async fn the_metadata_stream_of_a_tombstoned_stream_reads_as_deleted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = Engine::open(EngineConfig::new(dir.path())).expect("open");
        let metadata = || vec![ProposedEvent::json("$metadata", r#"{"owner":"ann"}"#.to_owned())];
        for stream in ["cart-1", "cart-2"] {
            let events = vec![ProposedEvent::json("Added", "{}".to_owned())];
            engine.append(AppendRequest::new(name(stream), ExpectedRevision::Any, events)).await.expect("append");
            let meta = name(&format!("$${stream}"));
            engine.append(AppendRequest::new(meta, ExpectedRevision::Any, metadata())).await.expect("metadata");
        }
        engine.delete_stream(name("cart-1"), ExpectedRevision::Any, DeleteMode::Tombstone).await.expect("tombstone");
        let store: Arc<dyn EventStore> = Arc::new(engine);

        for subscribe in [false, true] {
            let refused = first_message(&store, "$$cart-1", subscribe).await.expect_err("deleted");
            assert_eq!(refused.code(), Code::FailedPrecondition);
            assert!(refused.message().contains("is deleted"), "{}", refused.message());
            assert_eq!(
                refused.metadata().get("exception").and_then(|value| value.to_str().ok()),
                Some("stream-deleted")
            );

            // The metadata of a stream that is not tombstoned reads as usual.
            let message = first_message(&store, "$$cart-2", subscribe).await.expect("metadata read");
            assert!(matches!(
                message.content,
                Some(read_resp::Content::Event(_) | read_resp::Content::Confirmation(_))
            ));
        }
        // So do a stream named `$$` and the metadata of a stream never written.
        let message = first_message(&store, "$$cart-3", false).await.expect("missing");
        assert!(matches!(message.content, Some(read_resp::Content::StreamNotFound(_))));
        let message = first_message(&store, "$$", false).await.expect("plain `$$`");
        assert!(matches!(message.content, Some(read_resp::Content::StreamNotFound(_))));
    }
}
