use serde::{Deserialize, Serialize};

/// How long a projection runs and what it keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Mode {
    /// Runs up to the head once and completes; its state is kept in memory.
    OneTime,
    /// Like `OneTime`, and not stored: gone after a restart.
    Transient,
    /// Runs for ever, checkpointed; the only mode that may emit.
    Continuous,
}

impl Mode {
    /// The name statistics report.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::OneTime => "OneTime",
            Mode::Transient => "Transient",
            Mode::Continuous => "Continuous",
        }
    }

    pub fn checkpoints(self) -> bool {
        self == Mode::Continuous
    }
}
