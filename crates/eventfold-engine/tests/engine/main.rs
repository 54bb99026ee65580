//! The engine crate's integration tests, one binary (one link): each module is
//! a scenario file of its own.

mod backup;
mod basics;
mod format_fixtures;
mod lifecycle;
mod lifecycle_model;
mod model;
mod positions;
mod scavenge;
mod storage_faults;
mod stream_bounds;
mod subscriptions;
mod verify_repair;
