//! The JavaScript side of a projection, behind a small trait so that the
//! processor does not know which engine runs queries. [`quickjs`] is the
//! engine eventfold ships.

pub mod ceiling;
mod error;
mod events;
mod limits;
mod quickjs;

pub use error::{QueryError, RuntimeError};
pub use limits::RuntimeLimits;
pub use quickjs::compile;

use std::borrow::Cow;
use std::sync::Arc;

use crate::definition::QueryDefinition;

/// One source event, as the query's handlers see it. It borrows what it
/// can from the log event it comes from: a batch makes no copy of a body
/// before the engine's own.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceEvent<'a> {
    pub stream: Cow<'a, str>,
    pub revision: u64,
    pub event_type: Cow<'a, str>,
    pub event_id: Cow<'a, str>,
    pub data: Cow<'a, str>,
    pub metadata: Cow<'a, str>,
    pub link_metadata: Option<Cow<'a, str>>,
    pub is_json: bool,
    /// ISO 8601, UTC; shared by the events of one append.
    pub created: Arc<str>,
}

impl SourceEvent<'_> {
    /// The category of the event's stream: the part before the first `-`.
    pub fn category(&self) -> &str {
        self.stream.split_once('-').map_or(self.stream.as_ref(), |(category, _)| category)
    }
}

/// What a query asked for while handling events, in the order it asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    Emit {
        stream: String,
        event_type: String,
        data: String,
        metadata: Option<String>,
        caused_by: Option<String>,
    },
    /// A `$>` link: `target` is `revision@stream`.
    Link {
        stream: String,
        target: String,
        metadata: Option<String>,
        caused_by: Option<String>,
    },
    /// A `$@` stream link: `target` is the linked stream's name.
    LinkStream {
        stream: String,
        target: String,
        metadata: Option<String>,
        caused_by: Option<String>,
    },
    Log(String),
}

/// A partition whose state changed: its state and its result (after
/// `transformBy`/`filterBy`), as JSON; `None` is `null`/`undefined`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionChange {
    pub partition: String,
    pub state: Option<String>,
    pub result: Option<String>,
}

/// What one call of [`QueryRuntime::handle_batch`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HandledBatch {
    /// Events that reached the handlers (the others had no partition).
    pub handled: usize,
    /// The partitions the handled events fell in, each once, in the order
    /// they were first met (`""` for an unpartitioned projection).
    pub partitions: Vec<String>,
}

/// A batch stopped by the event at `index`: the handlers of the events
/// before it ran, those after it did not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchFault {
    pub index: usize,
    pub error: RuntimeError,
}

/// Everything that changed since the last [`QueryRuntime::take_changes`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub partitions: Vec<PartitionChange>,
    /// The shared state of a `biState` projection, when it changed.
    pub shared: Option<String>,
    pub effects: Vec<Effect>,
}

/// A compiled query with its states. Runs on one thread at a time; every
/// call is bounded by the limits it was compiled with.
pub trait QueryRuntime: Send {
    fn definition(&self) -> &QueryDefinition;

    /// Whether `emit`, `linkTo` and `linkStreamTo` are allowed; when not,
    /// calling them throws KurrentDB's reason.
    fn set_emit_enabled(&mut self, enabled: bool) -> Result<(), RuntimeError>;

    /// Restores a partition's state from a checkpoint.
    fn load_state(&mut self, partition: &str, state: &str) -> Result<(), RuntimeError>;

    /// Restores a `biState` projection's shared state.
    fn load_shared(&mut self, state: &str) -> Result<(), RuntimeError>;

    /// Runs the handlers for each event in order, in one call into the
    /// engine; each event still gets the whole per-event deadline.
    fn handle_batch(&mut self, events: &[SourceEvent<'_>]) -> Result<HandledBatch, BatchFault>;

    /// Runs the handlers for one event. Answers the event's partition (`""`
    /// for an unpartitioned projection), or `None` when it was skipped.
    fn handle(&mut self, event: &SourceEvent<'_>) -> Result<Option<String>, RuntimeError> {
        let handled = self.handle_batch(std::slice::from_ref(event)).map_err(|fault| fault.error)?;
        Ok(if handled.handled == 0 { None } else { handled.partitions.into_iter().next() })
    }

    /// Runs `$deleted` for a deleted stream's partition.
    fn handle_deleted(&mut self, partition: &str, soft: bool) -> Result<(), RuntimeError>;

    /// The changed partitions and the effects since the last call. A state
    /// over the size limit is an error here.
    fn take_changes(&mut self) -> Result<Changes, RuntimeError>;

    /// A partition's state as JSON, `None` when the partition is unknown.
    fn state(&mut self, partition: &str) -> Result<Option<String>, RuntimeError>;

    /// A partition's result (its state through `transformBy`/`filterBy`).
    fn result(&mut self, partition: &str) -> Result<Option<String>, RuntimeError>;
}

#[cfg(test)]
mod tests;
