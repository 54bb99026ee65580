//! A projection's commits, written beside its engine: while one batch's
//! transaction is written and made durable, the engine handles the next
//! events, instead of waiting for the disk every few thousand events.
//!
//! One commit is in flight at a time and they are written in order: the
//! next waits for the one before, and a failed one faults the projection.
//! Every way out of the runner settles the commit in flight first, so a
//! projection that says it stopped has nothing left writing.

use std::sync::Arc;

use eventfold_store::EventStore;
use tokio::task::JoinHandle;

use crate::commit::{self, Committed, Pending, Settings};
use crate::definition::QueryDefinition;
use crate::names::ProjectionStreams;
use crate::run_as::RunAsAccess;
use crate::status::StatusCell;

/// What a commit needs, owned, so that it can run as a task of its own.
pub struct Committer {
    pub store: Arc<dyn EventStore>,
    pub status: StatusCell,
    pub streams: ProjectionStreams,
    pub definition: QueryDefinition,
    pub epoch: i64,
    pub version: i64,
    pub track_emitted_streams: bool,
    pub committed: Committed,
    pub access: RunAsAccess,
}

impl Committer {
    /// Writes `pending` with its checkpoint, once the user the projection
    /// runs as may write every stream it emits or links to.
    async fn commit(mut self, pending: Pending) -> (Self, Result<(), String>) {
        let outcome = self.write(pending).await;
        (self, outcome)
    }

    async fn write(&mut self, pending: Pending) -> Result<(), String> {
        self.access.check_effects(&pending.effects).await?;
        let position = pending.position;
        let settings = Settings {
            streams: &self.streams,
            definition: &self.definition,
            epoch: self.epoch,
            version: self.version,
            track_emitted_streams: self.track_emitted_streams,
        };
        commit::commit(self.store.as_ref(), &settings, &mut self.committed, pending)
            .await
            .map_err(|error| error.to_string())?;
        self.status.update(|live| {
            live.last_checkpoint = position.or(live.last_checkpoint);
            live.buffered = 0;
        });
        Ok(())
    }
}

/// The committer, idle or writing.
pub struct Commits {
    idle: Option<Committer>,
    in_flight: Option<JoinHandle<(Committer, Result<(), String>)>>,
}

impl Commits {
    pub fn new(committer: Committer) -> Self {
        Self { idle: Some(committer), in_flight: None }
    }

    /// Starts writing `pending` once the commit before it is written.
    pub async fn start(&mut self, pending: Pending) -> Result<(), String> {
        self.settle().await?;
        let committer = self.idle.take().ok_or("the projection lost its checkpoint writer")?;
        self.in_flight = Some(tokio::spawn(committer.commit(pending)));
        Ok(())
    }

    /// Writes `pending` and waits until it is written.
    pub async fn write(&mut self, pending: Pending) -> Result<(), String> {
        self.start(pending).await?;
        self.settle().await
    }

    /// Waits for the commit in flight, if any; answers how it went.
    pub async fn settle(&mut self) -> Result<(), String> {
        if self.in_flight.is_none() {
            return Ok(());
        }
        self.finished().await
    }

    /// Answers how the commit in flight went once it is written; never,
    /// while none is. Dropped before then (a `select!` branch that lost),
    /// it leaves the commit in flight, to be waited for again.
    pub async fn finished(&mut self) -> Result<(), String> {
        let Some(in_flight) = self.in_flight.as_mut() else {
            return std::future::pending().await;
        };
        let joined = in_flight.await;
        self.in_flight = None;
        let (committer, outcome) =
            joined.map_err(|error| format!("the projection's checkpoint writer stopped: {error}"))?;
        self.idle = Some(committer);
        outcome
    }
}
