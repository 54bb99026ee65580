//! A small client of the EventStoreDB/KurrentDB gRPC protocol, built on the
//! tonic clients `eventfold-proto` generates. It speaks only the protocol,
//! so it talks to eventfold and to any server compatible with it: the
//! `eventfold` command's stream tools, export and import use it, and so
//! does the bench.
//!
//! One [`Client`] holds one HTTP/2 connection; clones share it.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::indexing_slicing))]

mod append;
mod client;
mod convert;
mod credentials;
mod delete;
mod error;
mod event;
mod metadata;
mod operations;
mod read;
mod tls;
mod url;

pub use client::{Client, connect_channel};
pub use credentials::{Credentials, Transport, basic_authorization};
pub use error::ClientError;
pub use event::{AllPosition, AppendSuccess, Direction, Expected, ProposedEvent, ReadFrom, RecordedEvent};
pub use read::{EventStream, Filter, SubscriptionItem, SubscriptionStream};
pub use tls::{TlsSettings, tls_connector};
pub use url::{DEFAULT_SERVER, ServerUrl};
