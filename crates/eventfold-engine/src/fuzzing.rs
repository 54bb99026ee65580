//! Entry points for the fuzz targets in `fuzz/`: the `$metadata` document
//! rules, which are otherwise private to this crate. Not part of the
//! crate's API.

pub use crate::effects::{Retention, check_metadata, retention_of, with_truncate_before};
