use std::collections::HashMap;

use eventfold_proto::event_store::client::streams::append_req::options::ExpectedStreamRevision;
use eventfold_proto::event_store::client::streams::append_resp::success::{CurrentRevisionOption, PositionOption};
use eventfold_proto::event_store::client::streams::append_resp::wrong_expected_version as conflict;
use eventfold_proto::event_store::client::streams::{AppendReq, append_req, append_resp};

use crate::convert::{empty, identifier, uuid_to_proto};
use crate::{AppendSuccess, Client, ClientError, Expected, ProposedEvent};

impl Client {
    /// Appends `events` to `stream` in one transaction. A stream at another
    /// revision than `expected` is [`ClientError::WrongExpectedVersion`].
    pub async fn append(
        &self,
        stream: &str,
        expected: Expected,
        events: Vec<ProposedEvent>,
    ) -> Result<AppendSuccess, ClientError> {
        let expected_option = match expected {
            Expected::Any => ExpectedStreamRevision::Any(empty()),
            Expected::NoStream => ExpectedStreamRevision::NoStream(empty()),
            Expected::StreamExists => ExpectedStreamRevision::StreamExists(empty()),
            Expected::Revision(revision) => ExpectedStreamRevision::Revision(revision),
        };
        let mut messages = Vec::with_capacity(events.len() + 1);
        messages.push(AppendReq {
            content: Some(append_req::Content::Options(append_req::Options {
                stream_identifier: Some(identifier(stream)),
                expected_stream_revision: Some(expected_option),
            })),
        });
        for event in events {
            let content_type = if event.is_json { "application/json" } else { "application/octet-stream" };
            let metadata = HashMap::from([
                ("type".to_owned(), event.event_type),
                ("content-type".to_owned(), content_type.to_owned()),
            ]);
            messages.push(AppendReq {
                content: Some(append_req::Content::ProposedMessage(append_req::ProposedMessage {
                    id: Some(uuid_to_proto(event.id)),
                    metadata,
                    custom_metadata: event.metadata,
                    data: event.data,
                })),
            });
        }
        let response = self
            .streams
            .clone()
            .append(futures::stream::iter(messages))
            .await
            .map_err(|status| ClientError::from_status(status, stream))?
            .into_inner();
        match response.result {
            Some(append_resp::Result::Success(success)) => Ok(AppendSuccess {
                next_expected: match success.current_revision_option {
                    Some(CurrentRevisionOption::CurrentRevision(revision)) => Some(revision),
                    _ => None,
                },
                position: match success.position_option {
                    Some(PositionOption::Position(position)) => Some(position.commit_position),
                    _ => None,
                },
            }),
            Some(append_resp::Result::WrongExpectedVersion(wrong)) => {
                let actual = match (wrong.current_revision_option, wrong.current_revision_option_20_6_0) {
                    (Some(conflict::CurrentRevisionOption::CurrentRevision(revision)), _)
                    | (_, Some(conflict::CurrentRevisionOption2060::CurrentRevision2060(revision))) => {
                        Expected::Revision(revision)
                    }
                    _ => Expected::NoStream,
                };
                Err(ClientError::WrongExpectedVersion { stream: stream.to_owned(), expected, actual })
            }
            None => Err(ClientError::Protocol("Streams.Append answered without a result".into())),
        }
    }
}
