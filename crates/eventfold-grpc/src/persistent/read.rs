//! Read: a consumer's bidirectional call. The client sends its options,
//! then acks and nacks; the server answers with a confirmation (the first
//! message, `<stream>::<group>`, which clients check), then events with
//! their retry counts. Acks are read by a task of their own, so a client
//! that stops reading events can still ack, and one that stops acking
//! still gets what it has room for.

use eventfold_persistent::{
    ConsumerControl, ConsumerEvent, ConsumerOptions, Delivery, NackAction, PersistentSubscriptions,
};
use eventfold_proto::event_store::client::Uuid as ProtoUuid;
use eventfold_proto::event_store::client::persistent_subscriptions::read_req::options::{StreamOption, uuid_option};
use eventfold_proto::event_store::client::persistent_subscriptions::read_req::{self, nack};
use eventfold_proto::event_store::client::persistent_subscriptions::read_resp::{
    self, ReadEvent, SubscriptionConfirmation, read_event,
};
use eventfold_proto::event_store::client::persistent_subscriptions::{ReadReq, ReadResp};
use eventfold_store::{EventId, RecordedEvent};
use futures::StreamExt;
use tonic::{Request, Status, Streaming};

use super::convert;
use super::errors;
use crate::convert::{recorded_metadata, stream_identifier, uuid_from_proto, uuid_to_proto};
use crate::streams::ResponseStream;

pub async fn read(
    caller: eventfold_node::Node,
    subscriptions: PersistentSubscriptions,
    request: Request<Streaming<ReadReq>>,
) -> Result<ResponseStream<ReadResp>, Status> {
    let from = request.remote_addr().map(|address| address.to_string()).unwrap_or_default();
    let name =
        request.metadata().get("connection-name").and_then(|value| value.to_str().ok()).unwrap_or_default().to_owned();
    let mut requests = request.into_inner();
    let first = requests.message().await?.ok_or_else(|| Status::invalid_argument("read without options"))?;
    let Some(read_req::Content::Options(options)) = first.content else {
        return Err(Status::invalid_argument("the first message of a read must carry its options"));
    };
    let key = match &options.stream_option {
        Some(StreamOption::StreamIdentifier(identifier)) => {
            convert::key_of(Some(identifier), false, &options.group_name)?
        }
        Some(StreamOption::All(_)) => convert::key_of(None, true, &options.group_name)?,
        None => convert::key_of(None, false, &options.group_name)?,
    };
    let structured = matches!(
        options.uuid_option.as_ref().and_then(|option| option.content.as_ref()),
        Some(uuid_option::Content::Structured(_))
    );
    let max_in_flight = usize::try_from(options.buffer_size).ok().filter(|size| *size > 0).ok_or_else(|| {
        Status::invalid_argument(format!("buffer size must be positive (got {})", options.buffer_size))
    })?;
    // A consumer reads the group's source: it needs the right to read it.
    caller.authorize_read(key.source().resource()).await.map_err(|error| crate::errors::read(&error))?;
    let consumer = subscriptions
        .connect(&key, ConsumerOptions { max_in_flight, from, name })
        .await
        .map_err(|error| errors::connect(&error))?;
    tokio::spawn(take_acks(requests, consumer.control()));
    let confirmation = ReadResp {
        content: Some(read_resp::Content::SubscriptionConfirmation(SubscriptionConfirmation {
            subscription_id: consumer.subscription_id().to_owned(),
        })),
    };
    let events = futures::stream::unfold(Some((consumer, key)), move |state| async move {
        let (mut consumer, key) = state?;
        match consumer.next().await {
            Some(ConsumerEvent::Event(delivery)) => {
                Some((Ok(event_message(&delivery, structured)), Some((consumer, key))))
            }
            Some(ConsumerEvent::Dropped(reason)) => Some((Err(errors::dropped(&key, &reason)), None)),
            // The group let go of the consumer without a reason: it left.
            None => None,
        }
    });
    Ok(futures::stream::once(async { Ok(confirmation) }).chain(events).boxed())
}

/// Forwards acks, nacks and stops until the client stops sending; then the
/// consumer leaves the group and what it held goes to others.
async fn take_acks(mut requests: Streaming<ReadReq>, control: ConsumerControl) {
    loop {
        let sent = match requests.message().await {
            Ok(Some(ReadReq { content: Some(read_req::Content::Ack(ack)) })) => control.ack(ids(&ack.ids)).await,
            Ok(Some(ReadReq { content: Some(read_req::Content::Nack(nack)) })) => {
                let action = match nack::Action::try_from(nack.action) {
                    Ok(nack::Action::Park) => NackAction::Park,
                    Ok(nack::Action::Retry) => NackAction::Retry,
                    Ok(nack::Action::Skip) => NackAction::Skip,
                    Ok(nack::Action::Stop) => NackAction::Stop,
                    Ok(nack::Action::Unknown) | Err(_) => NackAction::Unknown,
                };
                control.nack(ids(&nack.ids), action, nack.reason).await
            }
            Ok(Some(ReadReq { content: Some(read_req::Content::Stop(_)) })) => control.stop().await,
            // A second options message means nothing.
            Ok(Some(_)) => Ok(()),
            Ok(None) | Err(_) => break,
        };
        if sent.is_err() {
            break;
        }
    }
    control.disconnect();
}

/// Ack ids; one that is not a UUID names no event and is skipped.
fn ids(ids: &[ProtoUuid]) -> Vec<EventId> {
    ids.iter()
        .filter_map(|id| match uuid_from_proto(Some(id)) {
            Ok(uuid) => Some(EventId(uuid)),
            Err(status) => {
                tracing::debug!(reason = status.message(), "ignoring an ack id that is not a UUID");
                None
            }
        })
        .collect()
}

fn event_message(delivery: &Delivery, structured: bool) -> ReadResp {
    let read_event = ReadEvent {
        event: Some(recorded(&delivery.event, structured)),
        link: delivery.link.as_ref().map(|link| recorded(link, structured)),
        position: Some(read_event::Position::CommitPosition(delivery.original().position.0)),
        count: Some(read_event::Count::RetryCount(i32::try_from(delivery.retry_count).unwrap_or(i32::MAX))),
    };
    ReadResp { content: Some(read_resp::Content::Event(read_event)) }
}

fn recorded(event: &RecordedEvent, structured: bool) -> read_event::RecordedEvent {
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
