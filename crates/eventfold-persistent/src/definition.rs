//! A group as it is stored: what the client asked for, plus where "start"
//! resolved to when the group was created or updated.

use std::sync::Arc;

use eventfold_store::{CurrentRevision, EventStore, ReadError};
use uuid::Uuid;

use crate::key::{GroupKey, Source};
use crate::settings::{FilterSpec, GroupSettings, StartFrom};

/// What a client asks for when it creates a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupSpec {
    pub key: GroupKey,
    pub start_from: StartFrom,
    /// Only for `$all` groups.
    pub filter: Option<FilterSpec>,
    pub settings: GroupSettings,
}

/// A stored group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupDefinition {
    pub spec: GroupSpec,
    /// Where the group starts while it has no checkpoint: `start_from` with
    /// `End` fixed to the end at creation time, so that a restart before the
    /// first checkpoint does not skip what was written meanwhile.
    pub(crate) origin: Origin,
    /// A new id for every creation: checkpoints carry it, so a group created
    /// again under an old name ignores the old group's checkpoints.
    pub(crate) incarnation: Uuid,
}

/// A cursor is a stream revision for stream groups and a `$all` position for
/// `$all` groups: both grow along the order events are delivered in.
pub type Cursor = u64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    Start,
    /// After this cursor, excluded.
    After(Cursor),
    /// A `$all` position, included.
    AtOrAfter(Cursor),
}

impl GroupDefinition {
    pub fn key(&self) -> &GroupKey {
        &self.spec.key
    }

    /// Fixes where the group starts. `End` reads the store's end now.
    pub(crate) async fn resolve(
        spec: GroupSpec,
        store: &dyn EventStore,
        incarnation: Uuid,
    ) -> Result<GroupDefinition, ReadError> {
        let origin = match (spec.key.source(), spec.start_from) {
            (_, StartFrom::Start) => Origin::Start,
            (Source::Stream(_), StartFrom::Revision(0)) => Origin::Start,
            (Source::Stream(_), StartFrom::Revision(revision)) => Origin::After(revision - 1),
            (Source::All, StartFrom::Position(position)) if position.0 == 0 => Origin::Start,
            (Source::All, StartFrom::Position(position)) => Origin::AtOrAfter(position.0),
            // A revision on $all, or a position on a stream, has no meaning;
            // the protocol layer never produces one, so it means the start.
            (Source::All, StartFrom::Revision(_)) | (Source::Stream(_), StartFrom::Position(_)) => Origin::Start,
            (Source::Stream(stream), StartFrom::End) => match store.stream_revision(stream).await {
                Ok(CurrentRevision::Current(revision)) => Origin::After(revision),
                Ok(CurrentRevision::NoStream) => Origin::Start,
                // A tombstoned stream has no future events; the reader
                // reports it when a consumer connects.
                Err(ReadError::StreamDeleted { .. }) => Origin::Start,
                Err(error) => return Err(error),
            },
            (Source::All, StartFrom::End) => match store.head_position() {
                Some(head) => Origin::After(head.0),
                None => Origin::Start,
            },
        };
        Ok(GroupDefinition { spec, origin, incarnation })
    }
}

/// A group definition shared by the manager and the group's task.
pub(crate) type SharedDefinition = Arc<GroupDefinition>;
