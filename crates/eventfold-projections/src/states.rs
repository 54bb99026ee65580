//! The latest state and result of every partition, published by the
//! projection's task after each batch so that `State` and `Result` never
//! wait for the JavaScript engine.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartitionState {
    pub state: Option<String>,
    pub result: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct StateCache(Arc<Mutex<BTreeMap<String, PartitionState>>>);

impl StateCache {
    pub fn publish(&self, partition: String, state: PartitionState) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).insert(partition, state);
    }

    pub fn get(&self, partition: &str) -> Option<PartitionState> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).get(partition).cloned()
    }

    /// Every partition held, in name order, with its state and result.
    pub fn all(&self) -> Vec<(String, PartitionState)> {
        let held = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        held.iter().map(|(partition, state)| (partition.clone(), state.clone())).collect()
    }

    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}
