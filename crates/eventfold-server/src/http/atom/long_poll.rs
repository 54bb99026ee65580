//! `ES-LongPoll: N`: a forward read that finds nothing waits up to N
//! seconds for the next event, then reads again. The wait is a catch-up
//! subscription from where the read ended, so an event written between the
//! read and the wait is not missed.

use std::sync::Arc;
use std::time::Duration;

use eventfold_store::{
    EventStore, Position, StreamName, SubscribeFrom, SubscribeToAllRequest, SubscribeToStreamRequest, SubscriptionItem,
    SubscriptionStream,
};
use futures::StreamExt;

use super::errors::AtomError;

/// Returns once `stream` has an event numbered `from` or later, or `wait`
/// has passed.
pub async fn wait_for_stream(
    store: &Arc<dyn EventStore>,
    stream: &StreamName,
    from: u64,
    wait: Duration,
) -> Result<(), AtomError> {
    let start = if from == 0 { SubscribeFrom::Start } else { SubscribeFrom::After(from - 1) };
    let request = SubscribeToStreamRequest { stream: stream.clone(), from: start };
    let events = store.subscribe_to_stream(request).await?;
    first_event(events, wait).await
}

/// Returns once the log has an event at `from` or later, or `wait` has
/// passed.
pub async fn wait_for_all(store: &Arc<dyn EventStore>, from: Position, wait: Duration) -> Result<(), AtomError> {
    let start = if from.0 == 0 { SubscribeFrom::Start } else { SubscribeFrom::After(Position(from.0 - 1)) };
    let request = SubscribeToAllRequest { from: start, filter: None, checkpoint_interval: None };
    let events = store.subscribe_to_all(request).await?;
    first_event(events, wait).await
}

async fn first_event(mut events: SubscriptionStream, wait: Duration) -> Result<(), AtomError> {
    let arrived = async {
        while let Some(item) = events.next().await {
            match item {
                Ok(SubscriptionItem::Event(_)) => return Ok(()),
                Ok(SubscriptionItem::CaughtUp | SubscriptionItem::Checkpoint(_)) => {}
                Err(error) => return Err(AtomError::from(error)),
            }
        }
        Ok(())
    };
    tokio::time::timeout(wait, arrived).await.unwrap_or(Ok(()))
}
