//! `Streams.Delete` (soft) and `Streams.Tombstone` (for good).

use eventfold_proto::event_store::client::Empty;
use eventfold_proto::event_store::client::streams::{DeleteReq, DeleteResp, TombstoneReq, TombstoneResp};
use eventfold_proto::event_store::client::streams::{delete_req, delete_resp, tombstone_req, tombstone_resp};
use eventfold_store::{DeleteMode, EventStore, Position};
use tonic::Status;

use crate::convert::{ExpectedKind, expected_revision, stream_name};
use crate::errors;

pub async fn delete(store: &dyn EventStore, request: DeleteReq) -> Result<DeleteResp, Status> {
    let options = request.options.ok_or_else(|| Status::invalid_argument("delete without options"))?;
    let stream = stream_name(options.stream_identifier.as_ref())?;
    let expected = expected_revision(options.expected_stream_revision, |option| match option {
        delete_req::options::ExpectedStreamRevision::Revision(revision) => ExpectedKind::Exact(revision),
        delete_req::options::ExpectedStreamRevision::NoStream(_) => ExpectedKind::NoStream,
        delete_req::options::ExpectedStreamRevision::Any(_) => ExpectedKind::Any,
        delete_req::options::ExpectedStreamRevision::StreamExists(_) => ExpectedKind::StreamExists,
    })?;
    let outcome =
        store.delete_stream(stream, expected, DeleteMode::Soft).await.map_err(|error| errors::append(&error))?;
    Ok(DeleteResp {
        position_option: Some(match outcome.position {
            Some(Position(position)) => delete_resp::PositionOption::Position(delete_resp::Position {
                commit_position: position,
                prepare_position: position,
            }),
            None => delete_resp::PositionOption::NoPosition(Empty {}),
        }),
    })
}

pub async fn tombstone(store: &dyn EventStore, request: TombstoneReq) -> Result<TombstoneResp, Status> {
    let options = request.options.ok_or_else(|| Status::invalid_argument("tombstone without options"))?;
    let stream = stream_name(options.stream_identifier.as_ref())?;
    let expected = expected_revision(options.expected_stream_revision, |option| match option {
        tombstone_req::options::ExpectedStreamRevision::Revision(revision) => ExpectedKind::Exact(revision),
        tombstone_req::options::ExpectedStreamRevision::NoStream(_) => ExpectedKind::NoStream,
        tombstone_req::options::ExpectedStreamRevision::Any(_) => ExpectedKind::Any,
        tombstone_req::options::ExpectedStreamRevision::StreamExists(_) => ExpectedKind::StreamExists,
    })?;
    let outcome =
        store.delete_stream(stream, expected, DeleteMode::Tombstone).await.map_err(|error| errors::append(&error))?;
    Ok(TombstoneResp {
        position_option: Some(match outcome.position {
            Some(Position(position)) => tombstone_resp::PositionOption::Position(tombstone_resp::Position {
                commit_position: position,
                prepare_position: position,
            }),
            None => tombstone_resp::PositionOption::NoPosition(Empty {}),
        }),
    })
}
