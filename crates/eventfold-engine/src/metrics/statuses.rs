//! KurrentDB's `kurrentdb_statuses{name, status}`: for each process (the
//! index, the scavenge) and each status it has had, the Unix time in seconds
//! at which it last entered that status. The current status is the one with
//! the latest time, which is how the dashboards read it (`topk by (name)`).

use std::sync::Mutex;

use metrics::gauge;

use super::names;

/// The index's statuses, in KurrentDB's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IndexStatus {
    /// Replaying the log into the index on open.
    Rebuilding,
    Idle,
}

/// A scavenge's statuses, in KurrentDB's words: rewriting segments is its
/// "chunk execution", deleting the index entries of removed events its
/// "index execution".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ScavengePhase {
    ChunkExecution,
    IndexExecution,
    Idle,
}

impl IndexStatus {
    fn label(self) -> &'static str {
        match self {
            IndexStatus::Rebuilding => "Rebuilding",
            IndexStatus::Idle => "Idle",
        }
    }
}

impl ScavengePhase {
    fn label(self) -> &'static str {
        match self {
            ScavengePhase::ChunkExecution => "Chunk Execution",
            ScavengePhase::IndexExecution => "Index Execution",
            ScavengePhase::Idle => "Idle",
        }
    }
}

#[derive(Default)]
pub(crate) struct StatusBoard {
    /// (name, status, Unix milliseconds it was last entered): milliseconds,
    /// so that two statuses entered within one second still have an order.
    entered: Mutex<Vec<(&'static str, &'static str, i64)>>,
}

impl StatusBoard {
    pub fn index(&self, status: IndexStatus) {
        self.enter("Index", status.label());
    }

    pub fn scavenge(&self, status: ScavengePhase) {
        self.enter("Scavenge", status.label());
    }

    fn enter(&self, name: &'static str, status: &'static str) {
        let now = eventfold_store::Timestamp::now().unix_millis();
        let mut entered = self.entered.lock().unwrap_or_else(|poison| poison.into_inner());
        match entered.iter_mut().find(|(n, s, _)| *n == name && *s == status) {
            Some(entry) => entry.2 = now,
            None => entered.push((name, status, now)),
        }
    }

    pub fn record(&self) {
        let entered = self.entered.lock().unwrap_or_else(|poison| poison.into_inner());
        for (name, status, millis) in entered.iter() {
            gauge!(names::STATUSES, "name" => *name, "status" => *status).set(*millis as f64 / 1000.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use metrics_exporter_prometheus::PrometheusBuilder;

    use super::{IndexStatus, ScavengePhase, StatusBoard};

    #[test]
    fn the_current_status_is_the_one_entered_last() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let board = StatusBoard::default();
        board.index(IndexStatus::Rebuilding);
        std::thread::sleep(std::time::Duration::from_millis(5));
        board.index(IndexStatus::Idle);
        board.scavenge(ScavengePhase::Idle);
        metrics::with_local_recorder(&recorder, || board.record());
        let text = handle.render();
        let seconds = |series: &str| -> f64 {
            let line =
                text.lines().find(|line| line.starts_with(series)).unwrap_or_else(|| panic!("{series} in {text}"));
            line.rsplit_once(' ').and_then(|(_, value)| value.parse().ok()).unwrap_or_else(|| panic!("{line}"))
        };
        let rebuilding = seconds(r#"kurrentdb_statuses{name="Index",status="Rebuilding"}"#);
        let idle = seconds(r#"kurrentdb_statuses{name="Index",status="Idle"}"#);
        assert!(idle > rebuilding, "Idle ({idle}) was entered after Rebuilding ({rebuilding})");
        assert!(seconds(r#"kurrentdb_statuses{name="Scavenge",status="Idle"}"#) > 1.0e9, "Unix seconds");
    }
}
