//! `AppendSession`: one request per stream, then the client closes its
//! side; every stream is appended to in one transaction, or none. Nothing
//! is written unless the whole session arrived: a client that disconnects
//! midway writes nothing.

use std::collections::HashSet;

use eventfold_proto::kurrentdb::protocol::v2::streams::{AppendRequest, AppendResponse, AppendSessionResponse};
use eventfold_store::{AppendSizeBudget, EventStore, StreamName};
use tonic::{Status, Streaming};

use super::errors;
use super::records::{expected_revision, proposed_event};

pub async fn append_session(
    store: &dyn EventStore,
    max_append_bytes: usize,
    mut messages: Streaming<AppendRequest>,
) -> Result<AppendSessionResponse, Status> {
    let mut requests = Vec::new();
    let mut named = HashSet::new();
    // One budget for the whole session: it is one transaction.
    let mut budget = AppendSizeBudget::new(max_append_bytes);
    while let Some(message) = messages.message().await? {
        let stream = StreamName::new(&message.stream)
            .map_err(|error| Status::invalid_argument(format!("invalid stream name `{}`: {error}", message.stream)))?;
        if !named.insert(stream.clone()) {
            return Err(errors::stream_already_in_session(&stream));
        }
        let expected = expected_revision(message.expected_revision)?;
        let mut events = Vec::with_capacity(message.records.len());
        for record in message.records {
            let event = proposed_event(record)?;
            // Refused before more of a session that cannot succeed is buffered.
            budget.add(&event).map_err(|error| errors::append(&error))?;
            events.push(event);
        }
        requests.push(eventfold_store::AppendRequest::new(stream, expected, events));
    }
    if requests.is_empty() {
        return Err(Status::invalid_argument("an append session needs at least one request"));
    }
    let streams: Vec<StreamName> = requests.iter().map(|request| request.stream.clone()).collect();
    let outcomes = store.append_transaction(requests).await.map_err(|error| errors::append(&error))?;
    let output: Vec<AppendResponse> = streams
        .iter()
        .zip(&outcomes)
        .map(|(stream, outcome)| AppendResponse {
            stream: stream.to_string(),
            stream_revision: outcome.current_revision.event_number(),
            position: outcome.position.map(|position| position.0 as i64),
        })
        .collect();
    // The position of the last record written; -1 when the session wrote
    // none (its requests only checked their streams' revisions).
    let position =
        outcomes.iter().filter_map(|outcome| outcome.position).max().map_or(-1, |position| position.0 as i64);
    Ok(AppendSessionResponse { output, position })
}
