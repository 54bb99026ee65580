//! The persistent crate's integration tests, one binary (one link): each module is
//! a scenario file of its own.

mod support;

mod bounded;
mod chaos;
mod damaged_state;
mod delivery;
mod leadership;
mod lifecycle;
mod polled;
mod restart;
mod strategies;
mod throughput;
