//! Entry points for the fuzz targets in `fuzz/`: the `$metadata` document
//! rules (the store's, applied here). Not part of the crate's API.

pub use eventfold_store::{Retention, check_metadata, retention_of, with_truncate_before};
