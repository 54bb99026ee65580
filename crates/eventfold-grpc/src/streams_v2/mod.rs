//! `kurrentdb.protocol.v2.streams.StreamsService`: KurrentDB's second
//! streams protocol, whose `AppendSession` appends to several streams in
//! one atomic transaction (the clients' `multiStreamAppend` /
//! `multi_append_to_stream`).

mod append_session;
mod errors;
mod records;

use eventfold_node::Node;
use eventfold_proto::kurrentdb::protocol::v2::streams::streams_service_server::StreamsService;
use eventfold_proto::kurrentdb::protocol::v2::streams::{
    AppendRecordsRequest, AppendRecordsResponse, AppendRequest, AppendSessionResponse,
};
use tonic::{Request, Response, Status, Streaming};

use crate::caller::caller;

pub struct StreamsV2Service {
    /// Each call reaches the store as its caller ([`crate::caller::caller`]).
    node: Node,
    /// A session past this many bytes is refused while it arrives.
    max_append_bytes: usize,
}

impl StreamsV2Service {
    pub fn new(node: Node, max_append_bytes: usize) -> Self {
        Self { node, max_append_bytes }
    }
}

#[tonic::async_trait]
impl StreamsService for StreamsV2Service {
    async fn append_session(
        &self,
        request: Request<Streaming<AppendRequest>>,
    ) -> Result<Response<AppendSessionResponse>, Status> {
        append_session::append_session(
            caller(&self.node, &request).client_store().as_ref(),
            self.max_append_bytes,
            request.into_inner(),
        )
        .await
        .map(Response::new)
    }

    // Records interleaved across streams, with checks on streams not
    // written, need a transaction that appends to a stream more than once;
    // not served (and not listed in ServerFeatures, so clients say so).
    async fn append_records(
        &self,
        _request: Request<AppendRecordsRequest>,
    ) -> Result<Response<AppendRecordsResponse>, Status> {
        Err(Status::unimplemented("AppendRecords is not served; AppendSession appends to several streams atomically"))
    }
}
