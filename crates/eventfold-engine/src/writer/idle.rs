//! Waiting for the next command with a deadline, and what the writer does
//! when the deadline comes first: make the index durable once
//! `index_flush_interval` has passed since the last durable commit (so that
//! it is durable at least that often even when appends stop, and a restart
//! replays at most that much), and retry a refused step (`health.rs`).

use std::time::Instant;

use tokio::sync::mpsc;

use super::{Command, Writer};

pub(super) enum Next {
    Command(Command),
    /// Every sender is gone.
    Closed,
    /// The deadline passed with no command.
    Idle,
}

/// Waits for commands on the writer's thread. A timed wait needs a timer,
/// so the thread runs a current-thread runtime of its own for it.
pub(super) struct Waiter {
    runtime: Option<tokio::runtime::Runtime>,
}

impl Waiter {
    pub fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build();
        let runtime = runtime
            .inspect_err(|error| {
                tracing::error!(%error, "no timer for the writer: the index is made durable only while appends come");
            })
            .ok();
        Self { runtime }
    }

    pub fn next(&self, commands: &mut mpsc::Receiver<Command>, deadline: Option<Instant>) -> Next {
        let received = match (&self.runtime, deadline) {
            (Some(runtime), Some(deadline)) => {
                let deadline = tokio::time::Instant::from_std(deadline);
                // The timer is made inside `block_on`: it needs the runtime.
                match runtime.block_on(async { tokio::time::timeout_at(deadline, commands.recv()).await }) {
                    Ok(received) => received,
                    Err(_elapsed) => return Next::Idle,
                }
            }
            _ => commands.blocking_recv(),
        };
        received.map_or(Next::Closed, Next::Command)
    }
}

impl Writer {
    /// When the writer has something to do even if no command comes.
    pub(super) fn wake_at(&self) -> Option<Instant> {
        let flush = self.index_dirty.then(|| self.last_index_flush + self.config.index_flush_interval);
        let retry = self.health.retry_due().map(|(retry_at, _)| retry_at);
        flush.into_iter().chain(retry).min()
    }

    pub(super) fn on_idle(&mut self) {
        if self.index_dirty && self.last_index_flush.elapsed() >= self.config.index_flush_interval {
            self.flush_index();
        }
        self.retry_alone();
    }
}
