//! `event_store.client.streams.Streams`.

mod append;
mod batch_append;
mod delete;
mod read;

use std::pin::Pin;
use std::sync::Arc;

use eventfold_node::Node;
use eventfold_proto::event_store::client::streams::streams_server::Streams;
use eventfold_proto::event_store::client::streams::{
    AppendReq, AppendResp, BatchAppendReq, BatchAppendResp, DeleteReq, DeleteResp, ReadReq, ReadResp, TombstoneReq,
    TombstoneResp,
};
use futures::Stream;
use tonic::{Request, Response, Status, Streaming};

use crate::caller::caller;

pub type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

pub struct StreamsService {
    /// Each call reaches the store as its caller ([`crate::caller::caller`]).
    node: Node,
    /// Appends past this are refused while they arrive.
    max_append_bytes: usize,
}

impl StreamsService {
    pub fn new(node: Node, max_append_bytes: usize) -> Self {
        Self { node, max_append_bytes }
    }
}

#[tonic::async_trait]
impl Streams for StreamsService {
    type ReadStream = ResponseStream<ReadResp>;
    type BatchAppendStream = ResponseStream<BatchAppendResp>;

    async fn read(&self, request: Request<ReadReq>) -> Result<Response<Self::ReadStream>, Status> {
        read::read(Arc::clone(caller(&self.node, &request).client_store()), request.into_inner())
            .await
            .map(Response::new)
    }

    async fn append(&self, request: Request<Streaming<AppendReq>>) -> Result<Response<AppendResp>, Status> {
        append::append(
            caller(&self.node, &request).client_store().as_ref(),
            self.max_append_bytes,
            request.into_inner(),
        )
        .await
        .map(Response::new)
    }

    async fn delete(&self, request: Request<DeleteReq>) -> Result<Response<DeleteResp>, Status> {
        delete::delete(caller(&self.node, &request).client_store().as_ref(), request.into_inner())
            .await
            .map(Response::new)
    }

    async fn tombstone(&self, request: Request<TombstoneReq>) -> Result<Response<TombstoneResp>, Status> {
        delete::tombstone(caller(&self.node, &request).client_store().as_ref(), request.into_inner())
            .await
            .map(Response::new)
    }

    async fn batch_append(
        &self,
        request: Request<Streaming<BatchAppendReq>>,
    ) -> Result<Response<Self::BatchAppendStream>, Status> {
        Ok(Response::new(batch_append::batch_append(
            Arc::clone(caller(&self.node, &request).client_store()),
            self.max_append_bytes,
            request.into_inner(),
        )))
    }
}
