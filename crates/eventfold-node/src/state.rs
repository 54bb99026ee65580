//! Where a node is in its life, as probes (`/health/live`), `/info` and
//! Gossip report it.

use std::sync::atomic::{AtomicU8, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeState {
    /// Composed, not yet accepting connections.
    Starting,
    /// Serving clients.
    Ready,
    /// Shutting down: open requests finish, new work is turned away.
    Stopping,
}

impl NodeState {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Starting => "starting",
            NodeState::Ready => "ready",
            NodeState::Stopping => "stopping",
        }
    }

    fn from_u8(value: u8) -> Self {
        match value {
            STARTING => NodeState::Starting,
            READY => NodeState::Ready,
            _ => NodeState::Stopping,
        }
    }
}

const STARTING: u8 = 0;
const READY: u8 = 1;
const STOPPING: u8 = 2;

/// The state, read by every request and changed twice in a node's life.
#[derive(Debug, Default)]
pub(crate) struct SharedState(AtomicU8);

impl SharedState {
    pub(crate) fn get(&self) -> NodeState {
        NodeState::from_u8(self.0.load(Ordering::Acquire))
    }

    /// Starting → ready; a stopping node never becomes ready again.
    pub(crate) fn ready(&self) {
        let _ = self.0.compare_exchange(STARTING, READY, Ordering::AcqRel, Ordering::Acquire);
    }

    pub(crate) fn stopping(&self) {
        self.0.store(STOPPING, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_starts_becomes_ready_then_stops_for_good() {
        let state = SharedState::default();
        assert_eq!(state.get(), NodeState::Starting);
        state.ready();
        assert_eq!(state.get(), NodeState::Ready);
        state.stopping();
        assert_eq!(state.get(), NodeState::Stopping);
        state.ready();
        assert_eq!(state.get(), NodeState::Stopping, "a stopping node is not ready again");
    }
}
