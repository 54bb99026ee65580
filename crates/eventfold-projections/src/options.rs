use std::str::FromStr;

use crate::runner::CheckpointPolicy;
use crate::runtime::RuntimeLimits;

/// Which projections a node runs (`--run-projections`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RunProjections {
    /// None: every projection call answers that projections do not run.
    None,
    /// The standard projections only; user projections cannot be created.
    System,
    #[default]
    All,
}

impl FromStr for RunProjections {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "none" => Ok(RunProjections::None),
            "system" => Ok(RunProjections::System),
            "all" => Ok(RunProjections::All),
            _ => Err(format!("`{text}` is not one of None, System, All")),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProjectionsOptions {
    pub run: RunProjections,
    /// Enables the standard projections at start (`--start-standard-projections`).
    pub start_standard_projections: bool,
    pub limits: RuntimeLimits,
    pub checkpoints: CheckpointPolicy,
}
