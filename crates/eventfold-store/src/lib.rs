//! The vocabulary of eventfold: streams, events, revisions, positions, the
//! requests a store accepts and the errors it answers with, and the
//! [`EventStore`] trait that every storage backend implements.
//!
//! This crate does no I/O. Adapters (gRPC, HTTP, CLI) and backends (the
//! embedded engine, PostgreSQL) both depend on it and on nothing of each other.

mod access;
mod acl;
mod append_checks;
mod append_size;
mod backup;
mod calendar;
mod client_access;
mod cluster;
mod error;
mod event;
mod event_number;
mod filter;
mod health;
mod links;
mod metadata_stream;
mod name;
mod position;
mod principal;
mod request;
mod scavenge;
mod store;
mod stream_metadata;
mod stream_read;
mod stream_state;
mod system_names;
#[cfg(test)]
mod testing;
mod verify;
mod virtual_streams;

pub use access::{
    AccessDenied, AccessPolicy, AclRules, NODE_RESOURCE, Operation, Resource, USER_STREAM_PREFIX, USERS_STREAM,
    holds_server_state,
};
pub use acl::{AclRight, DefaultAcls, SETTINGS_EVENT_TYPE, SETTINGS_STREAM, StreamAcl};
pub use append_checks::{EVENT_TYPE_MAX_BYTES, check_append};
pub use append_size::AppendSizeBudget;
pub use backup::{BackupError, BackupReport, BackupRequest};
pub use calendar::civil_from_days;
pub use client_access::ClientAccess;
pub use cluster::{ClusterView, Coordination, NodeAnnouncement, NodeEndpoint, PeerNode};
pub use error::{AppendError, ReadError, StorageError, StorageErrorKind, SubscriptionError};
pub use event::{ContentType, EventId, ProposedEvent, RecordedEvent, Timestamp};
pub use event_number::{EXPECTED_ANY, EXPECTED_NO_STREAM, EXPECTED_STREAM_EXISTS, InvalidExpectedVersion};
pub use filter::{EventFilter, FilterError};
pub use health::StoreHealth;
pub use links::{ResolvedEvent, link_target, link_to, resolve_link};
pub use metadata_stream::refuse_metadata_of_tombstoned;
pub use name::{InvalidStreamName, STREAM_NAME_MAX_BYTES, StreamName};
pub use position::{CurrentRevision, ExpectedRevision, Position};
pub use principal::{ADMINS_GROUP, EVERYONE_ROLE, OPS_GROUP, Principal, UserIdentity};
pub use request::{
    AllFrom, AppendOutcome, AppendRequest, DeleteMode, DeleteOutcome, Direction, ReadAllRequest, ReadStreamRequest,
    RevisionFrom, SubscribeFrom, SubscribeToAllRequest, SubscribeToStreamRequest,
};
pub use scavenge::{ScavengeError, ScavengeOptions, ScavengeState, ScavengeStatus};
pub use store::{EventStore, EventStream, SubscriptionItem, SubscriptionStream};
pub use stream_metadata::{
    Effect, Retention, SOFT_DELETED_TRUNCATE_BEFORE, check_metadata, effect_of, metadata_event, recreation_metadata,
    retention_of, system_event, with_truncate_before,
};
pub use stream_read::{StreamReadItem, StreamReadItems, read_stream_with_bounds};
pub use stream_state::{StreamState, expectation_met, oldest_visible};
pub use system_names::{
    ALL_STREAM, CATEGORY_STREAM_PREFIX, EVENT_TYPE_STREAM_PREFIX, LINK_EVENT_TYPE, METADATA_EVENT_TYPE,
    METADATA_STREAM_PREFIX, PERSISTENT_SUBSCRIPTION_STREAM_PREFIX, STREAMS_STREAM, TOMBSTONE_EVENT_TYPE,
    metadata_stream_of, metadata_target,
};
pub use verify::{DamagedRange, IndexMismatch, IndexReport, LostEvent, SegmentReport, VerifyError, VerifyReport};
pub use virtual_streams::{
    category_and_type_links, is_virtual_stream, link_event, links_first_event, links_into, virtual_streams_of,
};

/// Default largest total size of one append (the sum of its events' data,
/// metadata and type bytes), as EventStoreDB's default `MaxAppendSize`.
pub const DEFAULT_MAX_APPEND_BYTES: usize = 1024 * 1024;
