//! The lean gRPC client the bench drives a server with: `eventfold-client`
//! (the generated tonic clients and a thin layer over them, what the
//! `eventfold` command uses too) behind the bench's own vocabulary, so the
//! figures measure the server and not a client library.

use anyhow::Context;
use bytes::Bytes;
use eventfold_client::{Client, ClientError, Direction, Expected, ProposedEvent, ReadFrom, SubscriptionItem};
use eventfold_store::{CurrentRevision, ExpectedRevision};
use futures::StreamExt;

use crate::target::{AppendResult, Delivery, DeliveryStream};

const ALL: &str = "$all";

#[derive(Clone)]
pub struct GrpcClient {
    // Behind an `Arc`: the client holds a few channel handles, and the
    // bench's enums of clients stay small.
    client: std::sync::Arc<Client>,
}

impl GrpcClient {
    /// One HTTP/2 connection, shared by every task of the bench, as the
    /// EventStoreDB clients share theirs.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let client = Client::connect(url).await.with_context(|| format!("connecting to {url}"))?;
        Ok(Self { client: std::sync::Arc::new(client) })
    }

    pub async fn append(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        bodies: Vec<Vec<u8>>,
    ) -> anyhow::Result<AppendResult> {
        let expected = match expected {
            ExpectedRevision::Any => Expected::Any,
            ExpectedRevision::NoStream => Expected::NoStream,
            ExpectedRevision::StreamExists => Expected::StreamExists,
            ExpectedRevision::Exact(revision) => Expected::Revision(revision),
        };
        let events = bodies.into_iter().map(|body| ProposedEvent::json("OrderPlaced", Bytes::from(body))).collect();
        match self.client.append(stream, expected, events).await {
            Ok(_) => Ok(AppendResult::Written),
            Err(ClientError::WrongExpectedVersion { actual, .. }) => Ok(AppendResult::Conflict {
                actual: match actual {
                    Expected::Revision(revision) => CurrentRevision::Current(revision),
                    _ => CurrentRevision::NoStream,
                },
            }),
            Err(error) => Err(anyhow::Error::new(error).context("Streams.Append")),
        }
    }

    /// Reads a stream (or `$all` when `stream` is None) to its end; returns
    /// the number of events.
    pub async fn read_to_end(&self, stream: Option<&str>) -> anyhow::Result<u64> {
        let mut events = self
            .client
            .read(stream.unwrap_or(ALL), ReadFrom::Start, Direction::Forwards, u64::MAX, None)
            .await
            .context("Streams.Read")?;
        let mut count = 0;
        while let Some(event) = events.next().await {
            event.context("reading")?;
            count += 1;
        }
        Ok(count)
    }

    /// A catch-up subscription from the start of a stream (or of `$all`).
    pub async fn subscribe(&self, stream: Option<&str>) -> anyhow::Result<DeliveryStream> {
        let items = self.client.subscribe(stream.unwrap_or(ALL), ReadFrom::Start, None).await.context("subscribing")?;
        Ok(items
            .filter_map(|item| async move {
                match item {
                    Err(error) => Some(Err(anyhow::Error::new(error).context("subscription"))),
                    Ok(SubscriptionItem::Event(event)) => Some(Ok(Delivery::Event { revision: event.revision })),
                    Ok(SubscriptionItem::CaughtUp) => Some(Ok(Delivery::CaughtUp)),
                    Ok(_) => None,
                }
            })
            .boxed())
    }
}
