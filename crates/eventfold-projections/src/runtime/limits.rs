use std::time::Duration;

/// What one projection's JavaScript may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuntimeLimits {
    /// The JS heap of this projection, in bytes.
    pub memory_bytes: usize,
    /// The longest one event's handlers may run (KurrentDB's
    /// `ProjectionExecutionTimeout`).
    pub event_deadline: Duration,
    /// The largest serialized state of one partition (KurrentDB's
    /// `MaxProjectionStateSize`).
    pub max_state_bytes: usize,
}

impl Default for RuntimeLimits {
    fn default() -> Self {
        Self {
            memory_bytes: 256 * 1024 * 1024,
            event_deadline: Duration::from_millis(250),
            max_state_bytes: 16 * 1024 * 1024,
        }
    }
}
