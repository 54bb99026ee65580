//! A consumer's end of a group: deliveries come in through [`Consumer`],
//! acks and nacks go out through [`ConsumerControl`]. Dropping the consumer
//! leaves the group, and its unacked events go to the others.

use eventfold_store::EventId;
use tokio::sync::mpsc;

use crate::error::GroupStopped;
use crate::group::Command;
use crate::in_flight::ConsumerId;
use crate::message::Delivery;

/// How a consumer joins a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerOptions {
    /// Events it may hold unacked at once.
    pub max_in_flight: usize,
    /// Where it connects from, for statistics.
    pub from: String,
    /// Its name, for statistics.
    pub name: String,
}

/// What a consumer receives.
#[derive(Clone, Debug, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "nearly every item is an event: boxing it would cost an allocation per event and save nothing"
)]
pub enum ConsumerEvent {
    Event(Delivery),
    /// The group let the consumer go; nothing follows.
    Dropped(DropReason),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DropReason {
    Deleted,
    /// Its settings changed; the group restarted with the new ones.
    Updated,
    /// The subsystem restarted.
    Restarted,
    ShuttingDown,
    /// Reading the group's source failed.
    Failed(String),
    /// Another node of a shared store leads now (`None`: none is known
    /// yet); the group runs there.
    NotLeader(Option<eventfold_store::NodeEndpoint>),
}

/// What to do with an event a consumer could not handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NackAction {
    /// The server decides: retried, as EventStoreDB does.
    Unknown,
    /// Put it in the parked stream; it comes back only on replay.
    Park,
    Retry,
    /// Count it as handled.
    Skip,
    /// KurrentDB accepts it and does nothing: the event stays in flight
    /// until it times out.
    Stop,
}

pub struct Consumer {
    pub(crate) receiver: mpsc::Receiver<ConsumerEvent>,
    pub(crate) control: ConsumerControl,
    pub(crate) subscription_id: String,
}

impl Consumer {
    /// `<stream>::<group>`.
    pub fn subscription_id(&self) -> &str {
        &self.subscription_id
    }

    /// The next delivery. `None` means the group went away without saying
    /// why (treat it as dropped).
    pub async fn next(&mut self) -> Option<ConsumerEvent> {
        self.receiver.recv().await
    }

    /// A handle to ack and nack with, from another task.
    pub fn control(&self) -> ConsumerControl {
        self.control.clone()
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        self.control.disconnect();
    }
}

#[derive(Clone)]
pub struct ConsumerControl {
    pub(crate) id: ConsumerId,
    pub(crate) commands: mpsc::Sender<Command>,
    /// Unbounded so that leaving never waits or fails for a full queue;
    /// at most one message per consumer.
    pub(crate) disconnects: mpsc::UnboundedSender<ConsumerId>,
}

impl ConsumerControl {
    pub async fn ack(&self, ids: Vec<EventId>) -> Result<(), GroupStopped> {
        self.send(Command::Ack { ids }).await
    }

    pub async fn nack(&self, ids: Vec<EventId>, action: NackAction, reason: String) -> Result<(), GroupStopped> {
        self.send(Command::Nack { ids, action, reason }).await
    }

    /// Leaves the pool but may still ack or nack what it holds.
    pub async fn stop(&self) -> Result<(), GroupStopped> {
        self.send(Command::StopConsumer { consumer: self.id }).await
    }

    /// Leaves the group; what it holds is delivered to others.
    pub fn disconnect(&self) {
        // The group may be gone already: nothing left to tell.
        let _ = self.disconnects.send(self.id);
    }

    async fn send(&self, command: Command) -> Result<(), GroupStopped> {
        self.commands.send(command).await.map_err(|_| GroupStopped)
    }
}
