//! `Streams.Append`: options, then proposed events, then the client closes
//! its side. Nothing is written unless the whole request arrived: a client
//! that disconnects mid-append writes nothing.

use eventfold_proto::event_store::client::Empty;
use eventfold_proto::event_store::client::streams::append_req::options::ExpectedStreamRevision;
use eventfold_proto::event_store::client::streams::append_req::{self, Content};
use eventfold_proto::event_store::client::streams::append_resp::wrong_expected_version::{
    CurrentRevisionOption, CurrentRevisionOption2060, ExpectedRevisionOption, ExpectedRevisionOption2060,
};
use eventfold_proto::event_store::client::streams::append_resp::{self, Success, WrongExpectedVersion, success};
use eventfold_proto::event_store::client::streams::{AppendReq, AppendResp};
use eventfold_store::{AppendError, AppendRequest, AppendSizeBudget, CurrentRevision, EventStore, ExpectedRevision};
use tonic::{Status, Streaming};

use crate::convert::{ExpectedKind, expected_revision, proposed_event, stream_name};
use crate::errors;

pub async fn append(
    store: &dyn EventStore,
    max_append_bytes: usize,
    mut messages: Streaming<AppendReq>,
) -> Result<AppendResp, Status> {
    let first = messages.message().await?.ok_or_else(|| Status::invalid_argument("append without options"))?;
    let Some(Content::Options(options)) = first.content else {
        return Err(Status::invalid_argument("the first append message must carry the options"));
    };
    let stream = stream_name(options.stream_identifier.as_ref())?;
    let expected = expected_revision(options.expected_stream_revision, |option| match option {
        ExpectedStreamRevision::Revision(revision) => ExpectedKind::Exact(revision),
        ExpectedStreamRevision::NoStream(_) => ExpectedKind::NoStream,
        ExpectedStreamRevision::Any(_) => ExpectedKind::Any,
        ExpectedStreamRevision::StreamExists(_) => ExpectedKind::StreamExists,
    })?;
    let mut events = Vec::new();
    let mut budget = AppendSizeBudget::new(max_append_bytes);
    while let Some(message) = messages.message().await? {
        let Some(Content::ProposedMessage(append_req::ProposedMessage { id, metadata, custom_metadata, data })) =
            message.content
        else {
            return Err(Status::invalid_argument("options may only be sent once, first"));
        };
        let event = proposed_event(id.as_ref(), &metadata, custom_metadata, data)?;
        // Refused before more of an append that cannot succeed is buffered.
        budget.add(&event).map_err(|error| errors::append(&error))?;
        events.push(event);
    }
    match store.append(AppendRequest::new(stream, expected, events)).await {
        Ok(outcome) => Ok(AppendResp {
            result: Some(append_resp::Result::Success(Success {
                current_revision_option: Some(match outcome.current_revision {
                    CurrentRevision::Current(revision) => success::CurrentRevisionOption::CurrentRevision(revision),
                    CurrentRevision::NoStream => success::CurrentRevisionOption::NoStream(Empty {}),
                }),
                position_option: Some(match outcome.position {
                    Some(position) => success::PositionOption::Position(append_resp::Position {
                        commit_position: position.0,
                        prepare_position: position.0,
                    }),
                    None => success::PositionOption::NoPosition(Empty {}),
                }),
            })),
        }),
        Err(AppendError::WrongExpectedVersion { expected, actual, .. }) => Ok(AppendResp {
            result: Some(append_resp::Result::WrongExpectedVersion(wrong_expected_version(expected, actual))),
        }),
        Err(error) => Err(errors::append(&error)),
    }
}

/// Both the current fields and the ones clients before 20.6 read.
fn wrong_expected_version(expected: ExpectedRevision, actual: CurrentRevision) -> WrongExpectedVersion {
    let (current_old, current) = match actual {
        CurrentRevision::Current(revision) => {
            (CurrentRevisionOption2060::CurrentRevision2060(revision), CurrentRevisionOption::CurrentRevision(revision))
        }
        CurrentRevision::NoStream => {
            (CurrentRevisionOption2060::NoStream2060(Empty {}), CurrentRevisionOption::CurrentNoStream(Empty {}))
        }
    };
    let (expected_old, expected_new) = match expected {
        ExpectedRevision::Exact(revision) => (
            Some(ExpectedRevisionOption2060::ExpectedRevision2060(revision)),
            ExpectedRevisionOption::ExpectedRevision(revision),
        ),
        ExpectedRevision::Any => {
            (Some(ExpectedRevisionOption2060::Any2060(Empty {})), ExpectedRevisionOption::ExpectedAny(Empty {}))
        }
        ExpectedRevision::StreamExists => (
            Some(ExpectedRevisionOption2060::StreamExists2060(Empty {})),
            ExpectedRevisionOption::ExpectedStreamExists(Empty {}),
        ),
        ExpectedRevision::NoStream => (None, ExpectedRevisionOption::ExpectedNoStream(Empty {})),
    };
    WrongExpectedVersion {
        current_revision_option_20_6_0: Some(current_old),
        expected_revision_option_20_6_0: expected_old,
        current_revision_option: Some(current),
        expected_revision_option: Some(expected_new),
    }
}
