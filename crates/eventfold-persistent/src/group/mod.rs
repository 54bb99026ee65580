//! One task per group owns all of the group's state: its reader, buffers,
//! in-flight events, consumers, checkpoint and parked stream. Everything
//! else talks to it through a bounded command queue (acks, nacks, info,
//! replay, shutdown) and an unbounded disconnect queue (one message per
//! consumer at most, so that leaving never waits).

mod delivery;
mod failed;
mod info;
mod metrics;
mod reading;
mod saving;
mod state;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventfold_store::{EventId, EventStore, StorageError};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};

use crate::consumer::{Consumer, ConsumerControl, ConsumerEvent, ConsumerOptions, DropReason, NackAction};
use crate::definition::SharedDefinition;
use crate::error::{ConnectError, GroupError};
use crate::in_flight::ConsumerId;
use crate::info::GroupInfo;
use crate::reader::ReadItem;
use crate::replay::ReplayItem;
use state::GroupState;

pub use metrics::names as metric_names;

/// Commands waiting for a group's task before senders wait.
const COMMAND_QUEUE: usize = 1024;
/// Commands handled in one wake before the group dispatches.
const COMMANDS_PER_WAKE: usize = 256;

pub(crate) enum Command {
    Connect {
        options: ConsumerOptions,
        reply: oneshot::Sender<Result<Connected, ConnectError>>,
    },
    /// Acks count whoever sends them: a late ack of an event that timed
    /// out and went to another consumer still finishes it.
    Ack {
        ids: Vec<EventId>,
    },
    Nack {
        ids: Vec<EventId>,
        action: NackAction,
        reason: String,
    },
    StopConsumer {
        consumer: ConsumerId,
    },
    ReplayParked {
        stop_at: Option<u64>,
        reply: oneshot::Sender<Result<(), StorageError>>,
    },
    TruncateParked {
        stop_at: Option<u64>,
        reply: oneshot::Sender<Result<(), StorageError>>,
    },
    Info {
        reply: oneshot::Sender<GroupInfo>,
    },
    Shutdown {
        reason: DropReason,
        reply: oneshot::Sender<()>,
    },
}

pub(crate) struct Connected {
    id: ConsumerId,
    receiver: mpsc::Receiver<ConsumerEvent>,
}

/// The manager's handle on a running group.
pub(crate) struct GroupHandle {
    pub definition: SharedDefinition,
    commands: mpsc::Sender<Command>,
    disconnects: mpsc::UnboundedSender<ConsumerId>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl GroupHandle {
    pub fn spawn(definition: SharedDefinition, store: Arc<dyn EventStore>, timeout_tick: Duration) -> GroupHandle {
        let (commands, command_receiver) = mpsc::channel(COMMAND_QUEUE);
        let (disconnects, disconnect_receiver) = mpsc::unbounded_channel();
        let task =
            tokio::spawn(run(Arc::clone(&definition), store, command_receiver, disconnect_receiver, timeout_tick));
        GroupHandle { definition, commands, disconnects, task: Mutex::new(Some(task)) }
    }

    pub async fn connect(&self, options: ConsumerOptions) -> Result<Consumer, ConnectError> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(Command::Connect { options, reply }).await.map_err(|_| ConnectError::ShutDown)?;
        let connected = answer.await.map_err(|_| ConnectError::ShutDown)??;
        Ok(Consumer {
            receiver: connected.receiver,
            control: ConsumerControl {
                id: connected.id,
                commands: self.commands.clone(),
                disconnects: self.disconnects.clone(),
            },
            subscription_id: self.definition.key().subscription_id(),
        })
    }

    pub async fn info(&self) -> Result<GroupInfo, GroupError> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(Command::Info { reply }).await.map_err(|_| GroupError::ShutDown)?;
        answer.await.map_err(|_| GroupError::ShutDown)
    }

    /// Acks by id, from no consumer in particular (a client that polls).
    pub async fn ack(&self, ids: Vec<EventId>) -> Result<(), GroupError> {
        self.commands.send(Command::Ack { ids }).await.map_err(|_| GroupError::ShutDown)
    }

    pub async fn nack(&self, ids: Vec<EventId>, action: NackAction, reason: String) -> Result<(), GroupError> {
        self.commands.send(Command::Nack { ids, action, reason }).await.map_err(|_| GroupError::ShutDown)
    }

    pub async fn replay_parked(&self, stop_at: Option<u64>) -> Result<(), GroupError> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(Command::ReplayParked { stop_at, reply }).await.map_err(|_| GroupError::ShutDown)?;
        answer.await.map_err(|_| GroupError::ShutDown)?.map_err(GroupError::Storage)
    }

    pub async fn truncate_parked(&self, stop_at: Option<u64>) -> Result<(), GroupError> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(Command::TruncateParked { stop_at, reply }).await.map_err(|_| GroupError::ShutDown)?;
        answer.await.map_err(|_| GroupError::ShutDown)?.map_err(GroupError::Storage)
    }

    /// Stops the task: a last checkpoint, then every consumer is dropped
    /// with `reason`. Returns once the task has ended.
    pub async fn stop(&self, reason: DropReason) {
        let (reply, answer) = oneshot::channel();
        if self.commands.send(Command::Shutdown { reason, reply }).await.is_ok() {
            let _ = answer.await;
        }
        let task = self.task.lock().unwrap_or_else(|poison| poison.into_inner()).take();
        if let Some(task) = task
            && let Err(error) = task.await
        {
            tracing::error!(group = %self.definition.key(), %error, "persistent subscription task failed");
        }
    }
}

/// What woke the task.
enum Wake {
    Command(Command),
    Disconnect(ConsumerId),
    Read(Option<Result<ReadItem, StorageError>>),
    Replay(Option<Result<ReplayItem, StorageError>>),
    Timer,
    /// The manager dropped the handle.
    Orphaned,
}

/// Whether the task goes on after a command.
enum Flow {
    Continue,
    Stop,
}

async fn run(
    definition: SharedDefinition,
    store: Arc<dyn EventStore>,
    mut commands: mpsc::Receiver<Command>,
    mut disconnects: mpsc::UnboundedReceiver<ConsumerId>,
    timeout_tick: Duration,
) {
    let mut state = match GroupState::load(Arc::clone(&definition), Arc::clone(&store), timeout_tick).await {
        Ok(state) => state,
        Err(error) => match failed::serve_until_loaded(&definition, &store, &mut commands, error, timeout_tick).await {
            Some(state) => state,
            None => return,
        },
    };
    // A new group shows in the metrics at once, not at its first wake.
    state.record_metrics(Instant::now()).await;
    loop {
        let pull = state.wants_pull();
        let replay = state.wants_replay();
        let wake_at = state.next_wake();
        let wake = tokio::select! {
            biased;
            Some(consumer) = disconnects.recv() => Wake::Disconnect(consumer),
            command = commands.recv() => command.map_or(Wake::Orphaned, Wake::Command),
            item = reading::next_read(&mut state.reader), if pull => Wake::Read(item),
            item = reading::next_replay(&mut state.replay), if replay => Wake::Replay(item),
            () = sleep_until(wake_at) => Wake::Timer,
        };
        let flow = match wake {
            Wake::Command(command) => state.handle(command).await,
            Wake::Disconnect(consumer) => {
                state.disconnect(consumer);
                Flow::Continue
            }
            Wake::Read(item) => {
                state.on_read(item).await;
                Flow::Continue
            }
            Wake::Replay(item) => {
                state.on_replay(item).await;
                Flow::Continue
            }
            Wake::Timer => Flow::Continue,
            Wake::Orphaned => {
                state.stop(DropReason::ShuttingDown).await;
                Flow::Stop
            }
        };
        if let Flow::Stop = flow {
            return;
        }
        // Take whatever else is ready before dispatching, so that a burst
        // of acks costs one dispatch and one checkpoint decision.
        while let Ok(consumer) = disconnects.try_recv() {
            state.disconnect(consumer);
        }
        for _ in 0..COMMANDS_PER_WAKE {
            let Ok(command) = commands.try_recv() else {
                break;
            };
            if let Flow::Stop = state.handle(command).await {
                return;
            }
        }
        state.settle(Instant::now()).await;
        state.record_metrics(Instant::now()).await;
    }
}
