//! A projection's definition as stored in `$projections-{name}`
//! (`$ProjectionUpdated`): every version of the query and its settings.

use serde::{Deserialize, Serialize};

use crate::mode::Mode;

/// `handlerType` of the projections eventfold runs natively (the system
/// projections served from the index).
pub const NATIVE_HANDLER: &str = "native";
pub const JS_HANDLER: &str = "JS";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectionRecord {
    pub handler_type: String,
    pub query: String,
    pub mode: Mode,
    pub enabled: bool,
    pub emit_enabled: bool,
    pub track_emitted_streams: bool,
    pub checkpoints_disabled: bool,
    /// Bumped by every reset: checkpoints of older epochs are ignored.
    pub epoch: i64,
    /// Bumped by every update.
    pub version: i64,
    #[serde(default)]
    pub engine_version: i32,
    /// Set by a reset to a position: with no checkpoint of this epoch yet,
    /// processing starts after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_position: Option<u64>,
    /// The user whose rights it acts with (KurrentDB's `runAs`); none: the
    /// node's own.
    #[serde(default, rename = "runAs", skip_serializing_if = "Option::is_none")]
    pub run_as: Option<crate::run_as::RunAs>,
}

impl ProjectionRecord {
    pub fn is_native(&self) -> bool {
        self.handler_type == NATIVE_HANDLER
    }
}
