//! The lean gRPC client the bench drives a server with: the generated tonic
//! `Streams` client and the few messages a benchmark needs, nothing more,
//! so the figures measure the server and not a client library.

use std::collections::HashMap;

use anyhow::{Context, bail};
use eventfold_proto::event_store::client::streams::append_req::options::ExpectedStreamRevision;
use eventfold_proto::event_store::client::streams::append_resp::wrong_expected_version::CurrentRevisionOption;
use eventfold_proto::event_store::client::streams::read_req::options::{
    AllOptions, ControlOption, CountOption, FilterOption, ReadDirection, StreamOption, StreamOptions,
    SubscriptionOptions, UuidOption, all_options, stream_options, uuid_option,
};
use eventfold_proto::event_store::client::streams::streams_client::StreamsClient;
use eventfold_proto::event_store::client::streams::{AppendReq, ReadReq, append_req, append_resp, read_req, read_resp};
use eventfold_proto::event_store::client::{Empty, StreamIdentifier, Uuid, uuid as proto_uuid};
use eventfold_store::{CurrentRevision, ExpectedRevision};
use futures::StreamExt;
use tonic::transport::{Channel, Endpoint};

use crate::target::{AppendResult, Delivery, DeliveryStream};

#[derive(Clone)]
pub struct GrpcClient {
    streams: StreamsClient<Channel>,
}

impl GrpcClient {
    /// One HTTP/2 connection, shared by every task of the bench, as the
    /// EventStoreDB clients share theirs.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let channel = Endpoint::from_shared(url.to_owned())
            .with_context(|| format!("the server URL {url:?}"))?
            .tcp_nodelay(true)
            .connect()
            .await
            .with_context(|| format!("connecting to {url}"))?;
        Ok(Self { streams: StreamsClient::new(channel) })
    }

    pub async fn append(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        bodies: Vec<Vec<u8>>,
    ) -> anyhow::Result<AppendResult> {
        let expected = match expected {
            ExpectedRevision::Any => ExpectedStreamRevision::Any(Empty {}),
            ExpectedRevision::NoStream => ExpectedStreamRevision::NoStream(Empty {}),
            ExpectedRevision::StreamExists => ExpectedStreamRevision::StreamExists(Empty {}),
            ExpectedRevision::Exact(revision) => ExpectedStreamRevision::Revision(revision),
        };
        let mut messages = Vec::with_capacity(bodies.len() + 1);
        messages.push(AppendReq {
            content: Some(append_req::Content::Options(append_req::Options {
                stream_identifier: Some(identifier(stream)),
                expected_stream_revision: Some(expected),
            })),
        });
        for body in bodies {
            let metadata = HashMap::from([
                ("type".to_owned(), "OrderPlaced".to_owned()),
                ("content-type".to_owned(), "application/json".to_owned()),
            ]);
            messages.push(AppendReq {
                content: Some(append_req::Content::ProposedMessage(append_req::ProposedMessage {
                    id: Some(Uuid {
                        value: Some(proto_uuid::Value::String(uuid::Uuid::new_v4().hyphenated().to_string())),
                    }),
                    metadata,
                    custom_metadata: Vec::new().into(),
                    data: body.into(),
                })),
            });
        }
        let response =
            self.streams.clone().append(futures::stream::iter(messages)).await.context("Streams.Append")?.into_inner();
        match response.result {
            Some(append_resp::Result::Success(_)) => Ok(AppendResult::Written),
            Some(append_resp::Result::WrongExpectedVersion(conflict)) => Ok(AppendResult::Conflict {
                actual: match conflict.current_revision_option {
                    Some(CurrentRevisionOption::CurrentRevision(revision)) => CurrentRevision::Current(revision),
                    _ => CurrentRevision::NoStream,
                },
            }),
            None => bail!("Streams.Append answered without a result"),
        }
    }

    /// Reads a stream (or `$all` when `stream` is None) to its end; returns
    /// the number of events.
    pub async fn read_to_end(&self, stream: Option<&str>) -> anyhow::Result<u64> {
        let request = read_request(stream, CountOption::Count(u64::MAX));
        let mut messages = self.streams.clone().read(request).await.context("Streams.Read")?.into_inner();
        let mut events = 0;
        while let Some(message) = messages.message().await.context("reading")? {
            if matches!(message.content, Some(read_resp::Content::Event(_))) {
                events += 1;
            }
        }
        Ok(events)
    }

    /// A catch-up subscription from the start of a stream (or of `$all`).
    pub async fn subscribe(&self, stream: Option<&str>) -> anyhow::Result<DeliveryStream> {
        let request = read_request(stream, CountOption::Subscription(SubscriptionOptions {}));
        let messages = self.streams.clone().read(request).await.context("subscribing")?.into_inner();
        Ok(messages
            .filter_map(|message| async move {
                match message {
                    Err(status) => Some(Err(anyhow::Error::new(status).context("subscription"))),
                    Ok(message) => match message.content {
                        Some(read_resp::Content::Event(event)) => {
                            let revision = event.event.map_or(0, |recorded| recorded.stream_revision);
                            Some(Ok(Delivery::Event { revision }))
                        }
                        Some(read_resp::Content::CaughtUp(_)) => Some(Ok(Delivery::CaughtUp)),
                        _ => None,
                    },
                }
            })
            .boxed())
    }
}

fn identifier(stream: &str) -> StreamIdentifier {
    StreamIdentifier { stream_name: stream.as_bytes().to_vec().into() }
}

fn read_request(stream: Option<&str>, count: CountOption) -> ReadReq {
    let stream_option = match stream {
        Some(stream) => StreamOption::Stream(StreamOptions {
            stream_identifier: Some(identifier(stream)),
            revision_option: Some(stream_options::RevisionOption::Start(Empty {})),
        }),
        None => StreamOption::All(AllOptions { all_option: Some(all_options::AllOption::Start(Empty {})) }),
    };
    ReadReq {
        options: Some(read_req::Options {
            stream_option: Some(stream_option),
            read_direction: ReadDirection::Forwards as i32,
            resolve_links: false,
            count_option: Some(count),
            filter_option: Some(FilterOption::NoFilter(Empty {})),
            uuid_option: Some(UuidOption { content: Some(uuid_option::Content::String(Empty {})) }),
            control_option: Some(ControlOption { compatibility: 1 }),
        }),
    }
}
