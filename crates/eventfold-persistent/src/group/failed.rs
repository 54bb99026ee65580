//! A group whose state could not be loaded (its checkpoint or parked stream
//! unreadable): it answers every command, drops every consumer with the
//! reason, and tries loading again whenever a consumer connects.

use std::sync::Arc;
use std::time::Duration;

use eventfold_store::{EventStore, StorageError};
use tokio::sync::mpsc;

use super::Command;
use super::state::GroupState;
use crate::consumer::DropReason;
use crate::consumers::Consumers;
use crate::definition::SharedDefinition;
use crate::info::{GroupInfo, GroupStatus};

/// Serves commands until the state loads (returned) or the group is
/// stopped (`None`).
pub(super) async fn serve_until_loaded(
    definition: &SharedDefinition,
    store: &Arc<dyn EventStore>,
    commands: &mut mpsc::Receiver<Command>,
    error: StorageError,
    timeout_tick: Duration,
) -> Option<GroupState> {
    let key = definition.key();
    tracing::error!(group = %key, %error, "cannot load the persistent subscription's state");
    let mut failure = error.to_string();
    while let Some(command) = commands.recv().await {
        match command {
            Command::Connect { options, reply } => {
                match GroupState::load(Arc::clone(definition), Arc::clone(store), timeout_tick).await {
                    Ok(mut state) => {
                        state.handle(Command::Connect { options, reply }).await;
                        return Some(state);
                    }
                    Err(error) => {
                        failure = error.to_string();
                        let mut consumers = Consumers::default();
                        let (id, receiver) = consumers.add(options, false);
                        let _ = reply.send(Ok(super::Connected { id, receiver }));
                        consumers.drop_all(&DropReason::Failed(failure.clone()));
                    }
                }
            }
            Command::Info { reply } => {
                let _ = reply.send(GroupInfo {
                    spec: definition.spec.clone(),
                    status: GroupStatus { live: false, replaying_parked: false, failure: Some(failure.clone()) },
                    connections: Vec::new(),
                    average_per_second: 0.0,
                    total_items: 0,
                    count_since_last_measurement: 0,
                    last_checkpointed: None,
                    last_known: None,
                    read_buffer_count: 0,
                    live_buffer_count: 0,
                    retry_buffer_count: 0,
                    in_flight: 0,
                    parked_count: 0,
                });
            }
            Command::ReplayParked { reply, .. } | Command::TruncateParked { reply, .. } => {
                let _ = reply.send(Err(StorageError::new(eventfold_store::StorageErrorKind::Io, failure.clone())));
            }
            Command::Shutdown { reply, .. } => {
                let _ = reply.send(());
                return None;
            }
            Command::Ack { .. } | Command::Nack { .. } | Command::StopConsumer { .. } => {}
        }
    }
    None
}
