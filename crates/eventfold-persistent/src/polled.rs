//! Consumers that poll, as KurrentDB's HTTP API has them: a read takes up to
//! N events the group has ready and answers, and no connection stays open
//! between reads. What a read took stays in flight until it is acked or
//! nacked by id (from any request) or the message timeout retries it, as for
//! a connected consumer.
//!
//! Each read joins the group as a consumer that may hold exactly the events
//! asked for, takes them, and then stops receiving; it stays in the group
//! (holding its events, so that they are not handed to others at once) until
//! the message timeout has passed or the group lets it go.

use std::time::Duration;

use eventfold_store::EventId;
use tokio::time::{Instant, timeout, timeout_at};

use crate::consumer::{Consumer, ConsumerEvent, ConsumerOptions, NackAction};
use crate::error::{ConnectError, GroupError};
use crate::key::GroupKey;
use crate::manager::PersistentSubscriptions;
use crate::message::Delivery;

/// One poll of a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolledRead {
    /// Events to take at most.
    pub count: usize,
    /// Where the request comes from, for statistics.
    pub from: String,
    /// How long to wait for a first event when none is ready: a group
    /// starts reading its source when a consumer joins, so even ready
    /// events take a moment to arrive.
    pub first_event_wait: Duration,
}

/// Once one event arrived, the next ones are those already on their way.
const NEXT_EVENT_WAIT: Duration = Duration::from_millis(20);

/// The name polling consumers show in the group's statistics.
const POLLING_CONSUMER_NAME: &str = "http";

impl PersistentSubscriptions {
    /// Takes up to `read.count` events from the group, without waiting for
    /// more than `read.first_event_wait` when none is ready.
    pub async fn read_polled(&self, key: &GroupKey, read: PolledRead) -> Result<Vec<Delivery>, ConnectError> {
        let count = read.count.max(1);
        let message_timeout = match self.existing(key) {
            Ok(handle) => handle.definition.spec.settings.message_timeout,
            Err(GroupError::NotFound(key)) => return Err(ConnectError::NotFound(key)),
            Err(GroupError::Unavailable(reason)) => return Err(ConnectError::Unavailable(reason)),
            Err(_) => return Err(ConnectError::ShutDown),
        };
        let options = ConsumerOptions { max_in_flight: count, from: read.from, name: POLLING_CONSUMER_NAME.to_owned() };
        let mut consumer = self.connect(key, options).await?;
        let first_deadline = Instant::now() + read.first_event_wait;
        let mut deliveries = Vec::with_capacity(count);
        while deliveries.len() < count {
            let next = if deliveries.is_empty() {
                timeout_at(first_deadline, consumer.next()).await
            } else {
                timeout(NEXT_EVENT_WAIT, consumer.next()).await
            };
            match next {
                Ok(Some(ConsumerEvent::Event(delivery))) => deliveries.push(delivery),
                // Dropped: what it held goes back to the group by itself.
                Ok(Some(ConsumerEvent::Dropped(_)) | None) => return Ok(deliveries),
                Err(_) => break,
            }
        }
        // Stopped, it receives nothing more but keeps what it took.
        if consumer.control().stop().await.is_err() {
            return Ok(deliveries);
        }
        tokio::spawn(hold(consumer, message_timeout));
        Ok(deliveries)
    }

    /// Acks events of the group by id, whoever read them.
    pub async fn ack(&self, key: &GroupKey, ids: Vec<EventId>) -> Result<(), GroupError> {
        self.existing(key)?.ack(ids).await
    }

    /// Nacks events of the group by id, whoever read them.
    pub async fn nack(
        &self,
        key: &GroupKey,
        ids: Vec<EventId>,
        action: NackAction,
        reason: String,
    ) -> Result<(), GroupError> {
        self.existing(key)?.nack(ids, action, reason).await
    }
}

/// Keeps a stopped polling consumer in its group until what it took has
/// timed out (or forever, for a group without timeout), or the group drops
/// it. An event sent to it before the stop arrived was never read: it goes
/// back to the group at once.
async fn hold(mut consumer: Consumer, message_timeout: Duration) {
    let control = consumer.control();
    let until = (!message_timeout.is_zero()).then(|| Instant::now() + message_timeout);
    loop {
        let next = match until {
            Some(until) => match timeout_at(until, consumer.next()).await {
                Ok(next) => next,
                Err(_) => return,
            },
            None => consumer.next().await,
        };
        match next {
            Some(ConsumerEvent::Event(unread)) => {
                let reason = "sent after the poll had answered".to_owned();
                if control.nack(vec![unread.ack_id()], NackAction::Retry, reason).await.is_err() {
                    return;
                }
            }
            Some(ConsumerEvent::Dropped(_)) | None => return,
        }
    }
}
