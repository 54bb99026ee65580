//! The streams and event types KurrentDB keeps projections in, so that
//! tools reading them keep working.

pub const REGISTRY_STREAM: &str = "$projections-$all";
pub const INITIALIZED: &str = "$ProjectionsInitialized";
pub const CREATED: &str = "$ProjectionCreated";
pub const DELETED: &str = "$ProjectionDeleted";
pub const UPDATED: &str = "$ProjectionUpdated";
pub const CHECKPOINT: &str = "$ProjectionCheckpoint";
pub const PARTITION_CHECKPOINT: &str = "$Checkpoint";
pub const PARTITION: &str = "$partition";
pub const RESULT: &str = "Result";
pub const RESULT_REMOVED: &str = "ResultRemoved";
pub const STREAM_TRACKED: &str = "$StreamTracked";
pub const STREAM_LINK: &str = "$@";

/// The names of one projection's streams.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectionStreams {
    name: String,
}

impl ProjectionStreams {
    pub fn new(name: &str) -> Self {
        Self { name: name.to_owned() }
    }

    pub fn definition(&self) -> String {
        format!("$projections-{}", self.name)
    }

    pub fn checkpoint(&self) -> String {
        format!("$projections-{}-checkpoint", self.name)
    }

    pub fn partition_checkpoint(&self, partition: &str) -> String {
        format!("$projections-{}-{partition}-checkpoint", self.name)
    }

    pub fn partitions(&self) -> String {
        format!("$projections-{}-partitions", self.name)
    }

    /// The result stream; `result_stream_name` overrides it.
    pub fn result(&self, result_stream_name: Option<&str>) -> String {
        result_stream_name.map_or_else(|| format!("$projections-{}-result", self.name), str::to_owned)
    }

    pub fn partition_result(&self, partition: &str) -> String {
        format!("$projections-{}-{partition}-result", self.name)
    }

    pub fn emitted_streams(&self) -> String {
        format!("$projections-{}-emittedstreams", self.name)
    }

    pub fn order(&self) -> String {
        format!("$projections-{}-order", self.name)
    }
}
