//! `event_store.client.operations.Operations`: node administration. Scavenges
//! go to the store's scavenge methods, the persistent-subscription restart
//! to the subsystem; the cluster and process controls are not offered.
//!
//! Answers follow EventStoreDB's `Operations` service: a start while one
//! runs is not an error but `InProgress` with the running scavenge's id, and
//! stopping an id that is not the running scavenge is `NOT_FOUND` with the
//! message `Scavenge id was invalid.` and the `scavenge-not-found` trailer.

use eventfold_node::Node;
use eventfold_persistent::PersistentSubscriptions;
use eventfold_proto::event_store::client::Empty;
use eventfold_proto::event_store::client::operations::operations_server::Operations;
use eventfold_proto::event_store::client::operations::scavenge_resp::ScavengeResult;
use eventfold_proto::event_store::client::operations::{
    ScavengeResp, SetNodePriorityReq, StartScavengeReq, StopScavengeReq,
};
use eventfold_store::{Operation, ScavengeError, ScavengeOptions, ScavengeState};
use tonic::{Request, Response, Status};

use crate::caller::{authorize, caller};
use crate::errors;

pub struct OperationsService {
    node: Node,
    persistent: PersistentSubscriptions,
}

impl OperationsService {
    pub fn new(node: Node, persistent: PersistentSubscriptions) -> Self {
        Self { node, persistent }
    }
}

fn scavenge_response(scavenge_id: String, result: ScavengeResult) -> Response<ScavengeResp> {
    Response::new(ScavengeResp { scavenge_id, scavenge_result: result.into() })
}

#[tonic::async_trait]
impl Operations for OperationsService {
    /// `thread_count` and `start_from_chunk` are accepted and ignored: the
    /// store scavenges its sealed segments one at a time, from the first,
    /// and the protocol has no field for the rate limit the store does take.
    async fn start_scavenge(&self, request: Request<StartScavengeReq>) -> Result<Response<ScavengeResp>, Status> {
        match caller(&self.node, &request).client_store().start_scavenge(ScavengeOptions::default()).await {
            Ok(status) => Ok(scavenge_response(status.id, ScavengeResult::Started)),
            Err(ScavengeError::InProgress(running)) => Ok(scavenge_response(running.id, ScavengeResult::InProgress)),
            Err(error) => Err(errors::scavenge(&error)),
        }
    }

    /// Only the running scavenge can be stopped: an id the store does not
    /// know, or one that had already finished, is `NOT_FOUND`, as
    /// EventStoreDB answers once its scavenge is over. The answer comes as
    /// soon as the stop is asked for; the scavenge ends after its segment.
    async fn stop_scavenge(&self, request: Request<StopScavengeReq>) -> Result<Response<ScavengeResp>, Status> {
        let node = caller(&self.node, &request);
        let scavenge_id = request.into_inner().options.map(|options| options.scavenge_id).unwrap_or_default();
        match node.client_store().stop_scavenge(&scavenge_id).await {
            Ok(status) if matches!(status.state, ScavengeState::Completed | ScavengeState::Failed) => {
                Err(errors::scavenge_not_found(&scavenge_id))
            }
            Ok(status) => Ok(scavenge_response(status.id, ScavengeResult::Stopped)),
            Err(error) => Err(errors::scavenge(&error)),
        }
    }

    /// Stopping the process belongs to whoever runs it (a signal); a client
    /// of the protocol cannot stop this server.
    async fn shutdown(&self, request: Request<Empty>) -> Result<Response<Empty>, Status> {
        authorize(&self.node, &request, Operation::Shutdown)?;
        Err(Status::unimplemented("Shutdown is not supported"))
    }

    /// Succeeds at once: EventStoreDB merges its index tables on request,
    /// but the stream index here is one B-tree that every commit updates in
    /// place, so there is never anything to merge.
    async fn merge_indexes(&self, _request: Request<Empty>) -> Result<Response<Empty>, Status> {
        Ok(Response::new(Empty {}))
    }

    /// A single node is always the leader; there is no cluster to hand over to.
    async fn resign_node(&self, _request: Request<Empty>) -> Result<Response<Empty>, Status> {
        Err(Status::unimplemented("ResignNode is not supported"))
    }

    async fn set_node_priority(&self, _request: Request<SetNodePriorityReq>) -> Result<Response<Empty>, Status> {
        Err(Status::unimplemented("SetNodePriority is not supported"))
    }

    /// The same restart as `PersistentSubscriptions.RestartSubsystem`.
    async fn restart_persistent_subscriptions(&self, request: Request<Empty>) -> Result<Response<Empty>, Status> {
        authorize(&self.node, &request, Operation::RestartSubsystems)?;
        self.persistent.restart().await.map_err(|error| errors::storage(&error))?;
        Ok(Response::new(Empty {}))
    }
}
