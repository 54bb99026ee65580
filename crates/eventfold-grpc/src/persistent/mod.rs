//! `event_store.client.persistent_subscriptions.PersistentSubscriptions`:
//! server-side consumer groups. Each method translates protocol messages to
//! calls on [`PersistentSubscriptions`] (the `eventfold-persistent` crate,
//! which owns every group) and its errors to statuses, once, here.

mod admin;
mod convert;
mod errors;
mod info;
mod manage;
mod read;

use eventfold_node::Node;
use eventfold_persistent::PersistentSubscriptions;
use eventfold_proto::event_store::client::Empty;
use eventfold_proto::event_store::client::persistent_subscriptions::persistent_subscriptions_server::PersistentSubscriptions as Service;
use eventfold_proto::event_store::client::persistent_subscriptions::{
    CreateReq, CreateResp, DeleteReq, DeleteResp, GetInfoReq, GetInfoResp, ListReq, ListResp, ReadReq, ReadResp,
    ReplayParkedReq, ReplayParkedResp, TruncateParkedReq, TruncateParkedResp, UpdateReq, UpdateResp,
};
use eventfold_store::Operation;
use tonic::{Request, Response, Status, Streaming};

use crate::caller::{authorize, caller};

use crate::streams::ResponseStream;

pub struct PersistentSubscriptionsService {
    /// To decide who may manage groups (`$ops` and `$admins`).
    node: Node,
    subscriptions: PersistentSubscriptions,
}

impl PersistentSubscriptionsService {
    pub fn new(node: Node, subscriptions: PersistentSubscriptions) -> Self {
        Self { node, subscriptions }
    }

    fn may_manage<T>(&self, request: &Request<T>) -> Result<(), Status> {
        authorize(&self.node, request, Operation::ManagePersistentSubscriptions)
    }
}

#[tonic::async_trait]
impl Service for PersistentSubscriptionsService {
    type ReadStream = ResponseStream<ReadResp>;

    async fn create(&self, request: Request<CreateReq>) -> Result<Response<CreateResp>, Status> {
        self.may_manage(&request)?;
        manage::create(&self.subscriptions, request.into_inner()).await.map(Response::new)
    }

    async fn update(&self, request: Request<UpdateReq>) -> Result<Response<UpdateResp>, Status> {
        self.may_manage(&request)?;
        manage::update(&self.subscriptions, request.into_inner()).await.map(Response::new)
    }

    async fn delete(&self, request: Request<DeleteReq>) -> Result<Response<DeleteResp>, Status> {
        self.may_manage(&request)?;
        manage::delete(&self.subscriptions, request.into_inner()).await.map(Response::new)
    }

    async fn read(&self, request: Request<Streaming<ReadReq>>) -> Result<Response<Self::ReadStream>, Status> {
        read::read(caller(&self.node, &request), self.subscriptions.clone(), request).await.map(Response::new)
    }

    async fn get_info(&self, request: Request<GetInfoReq>) -> Result<Response<GetInfoResp>, Status> {
        info::get_info(&self.subscriptions, request.into_inner()).await.map(Response::new)
    }

    async fn replay_parked(&self, request: Request<ReplayParkedReq>) -> Result<Response<ReplayParkedResp>, Status> {
        self.may_manage(&request)?;
        admin::replay_parked(&self.subscriptions, request.into_inner()).await.map(Response::new)
    }

    async fn truncate_parked(
        &self,
        request: Request<TruncateParkedReq>,
    ) -> Result<Response<TruncateParkedResp>, Status> {
        self.may_manage(&request)?;
        admin::truncate_parked(&self.subscriptions, request.into_inner()).await.map(Response::new)
    }

    async fn list(&self, request: Request<ListReq>) -> Result<Response<ListResp>, Status> {
        info::list(&self.subscriptions, request.into_inner()).await.map(Response::new)
    }

    async fn restart_subsystem(&self, request: Request<Empty>) -> Result<Response<Empty>, Status> {
        authorize(&self.node, &request, Operation::RestartSubsystems)?;
        admin::restart_subsystem(&self.subscriptions).await.map(|()| Response::new(Empty {}))
    }
}
