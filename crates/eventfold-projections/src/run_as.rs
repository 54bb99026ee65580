//! A projection acts with the rights of the user who created it, as
//! KurrentDB's do (its `runAs`): it may read only sources that user may
//! read, and emit or link only to streams that user may write. Without a
//! user (authentication off, the standard projections) it acts as the node.
//!
//! The sources are checked when the projection starts; each target stream
//! of an emit or a link is checked once, before the first batch that writes
//! to it is committed. A refusal faults the projection, naming the user and
//! the stream, and nothing of that batch is written.

use std::collections::HashSet;
use std::sync::Arc;

use eventfold_store::{
    ALL_STREAM, AccessPolicy, AppendRequest, ClientAccess, EventStore, ExpectedRevision, Principal, Resource,
    StreamName,
};
use serde::{Deserialize, Serialize};

use crate::definition::QueryDefinition;
use crate::runtime::Effect;

/// The user a projection runs as, and the groups it had when it created it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunAs {
    pub name: String,
    pub roles: Vec<String>,
}

impl RunAs {
    /// Whom a projection created by `principal` runs as; `None` for the node
    /// itself (and while authentication is off).
    pub fn of(principal: &Principal) -> Option<Self> {
        match principal {
            Principal::User(user) => Some(Self { name: user.login.clone(), roles: user.groups.clone() }),
            Principal::System | Principal::Anonymous => None,
        }
    }
}

/// The rights checks of one running projection.
pub(crate) struct RunAsAccess {
    checked: Option<(RunAs, ClientAccess)>,
    writable: HashSet<String>,
}

impl RunAsAccess {
    pub fn new(store: &Arc<dyn EventStore>, run_as: Option<&RunAs>) -> Self {
        let checked = run_as.map(|run_as| {
            let principal = Principal::user(run_as.name.clone(), run_as.roles.clone());
            (run_as.clone(), ClientAccess::for_principal(Arc::clone(store), AccessPolicy, principal))
        });
        Self { checked, writable: HashSet::new() }
    }

    /// Whether the user may read every source the query declares.
    pub async fn check_sources(&self, definition: &QueryDefinition) -> Result<(), String> {
        let Some((run_as, access)) = &self.checked else { return Ok(()) };
        let mut sources: Vec<String> = definition.streams.clone();
        sources.extend(definition.categories.iter().map(|category| format!("$ce-{category}")));
        if definition.all_streams {
            access.authorize_read(Resource::All).await.map_err(|error| refused(run_as, ALL_STREAM, &error))?;
        }
        for source in sources {
            let stream = StreamName::new(&source).map_err(|error| format!("source `{source}`: {error}"))?;
            access.authorize_read(Resource::Stream(&stream)).await.map_err(|error| refused(run_as, &source, &error))?;
        }
        Ok(())
    }

    /// Whether the user may write every stream `effects` write to.
    pub async fn check_effects(&mut self, effects: &[Effect]) -> Result<(), String> {
        let Some((run_as, access)) = &self.checked else { return Ok(()) };
        for effect in effects {
            let stream = match effect {
                Effect::Emit { stream, .. } | Effect::Link { stream, .. } | Effect::LinkStream { stream, .. } => stream,
                Effect::Log(_) => continue,
            };
            if self.writable.contains(stream) {
                continue;
            }
            let name = StreamName::new(stream).map_err(|error| format!("stream `{stream}`: {error}"))?;
            let probe = AppendRequest::new(name, ExpectedRevision::Any, Vec::new());
            access.authorize_append(&probe).await.map_err(|error| refused(run_as, stream, &error))?;
            self.writable.insert(stream.clone());
        }
        Ok(())
    }
}

fn refused(run_as: &RunAs, stream: &str, error: &dyn std::fmt::Display) -> String {
    format!("the projection runs as `{}`, who may not use `{stream}`: {error}", run_as.name)
}
