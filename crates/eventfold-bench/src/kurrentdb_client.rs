//! The official KurrentDB Rust client (`kurrentdb`) driving the server the
//! way an application does: one `Client` from an `esdb://` connection
//! string, `append_to_stream` with an expected stream state, reads and
//! catch-up subscriptions iterated with `next()`. Where the lean client
//! (`grpc_client.rs`) measures the server, this measures what users get,
//! the client's own costs and socket settings included.

use anyhow::Context;
use bytes::Bytes;
use eventfold_store::{CurrentRevision, ExpectedRevision};
use futures::StreamExt;
use kurrentdb::{
    AppendToStreamOptions, Client, ClientSettings, EventData, ReadAllOptions, ReadStreamOptions, StreamState,
    SubscribeToAllOptions, SubscribeToStreamOptions, Subscription, SubscriptionEvent,
};

use crate::target::{AppendResult, Delivery, DeliveryStream};

/// The event type every bench event carries.
const EVENT_TYPE: &str = "OrderPlaced";

#[derive(Clone)]
pub struct KurrentdbClient {
    client: Client,
}

impl KurrentdbClient {
    /// A client of the server at `url` (`http://HOST:PORT`, as the bench
    /// names servers, or a connection string of the client's own), with its
    /// connection open: the first measured call must not pay for the
    /// handshake and the client's feature discovery.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let connection_string = connection_string(url);
        let settings: ClientSettings =
            connection_string.parse().with_context(|| format!("the connection string {connection_string:?}"))?;
        // `Client::new` reports with eyre, which does not convert to anyhow.
        let client = Client::new(settings).map_err(|error| anyhow::anyhow!("creating a kurrentdb client: {error}"))?;
        client.server_info().await.with_context(|| format!("connecting to {connection_string}"))?;
        Ok(Self { client })
    }

    pub async fn append(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        bodies: Vec<Vec<u8>>,
    ) -> anyhow::Result<AppendResult> {
        let state = match expected {
            ExpectedRevision::Any => StreamState::Any,
            ExpectedRevision::NoStream => StreamState::NoStream,
            ExpectedRevision::StreamExists => StreamState::StreamExists,
            ExpectedRevision::Exact(revision) => StreamState::StreamRevision(revision),
        };
        let options = AppendToStreamOptions::default().stream_state(state);
        // The bodies are JSON already encoded; `EventData::json` would take
        // them through serde once more, a cost of the load generator (on the
        // server's cores) rather than of the server or the client library.
        let events: Vec<EventData> =
            bodies.into_iter().map(|body| EventData::binary(EVENT_TYPE, Bytes::from(body))).collect();
        match self.client.append_to_stream(stream, &options, events).await {
            Ok(_) => Ok(AppendResult::Written),
            Err(kurrentdb::Error::WrongExpectedVersion { current, .. }) => Ok(AppendResult::Conflict {
                actual: match current {
                    kurrentdb::CurrentRevision::Current(revision) => CurrentRevision::Current(revision),
                    kurrentdb::CurrentRevision::NoStream => CurrentRevision::NoStream,
                },
            }),
            Err(error) => Err(anyhow::Error::new(error).context("append_to_stream")),
        }
    }

    /// Reads a stream (or `$all` when `stream` is None) to its end; returns
    /// the number of events.
    pub async fn read_to_end(&self, stream: Option<&str>) -> anyhow::Result<u64> {
        let mut events = match stream {
            Some(stream) => self.client.read_stream(stream, &ReadStreamOptions::default()).await,
            None => self.client.read_all(&ReadAllOptions::default()).await,
        }
        .context("starting the read")?;
        let mut count = 0;
        while events.next().await.context("reading")?.is_some() {
            count += 1;
        }
        Ok(count)
    }

    /// A catch-up subscription from the start of a stream (or of `$all`).
    pub async fn subscribe(&self, stream: Option<&str>) -> anyhow::Result<DeliveryStream> {
        let subscription = match stream {
            Some(stream) => self.client.subscribe_to_stream(stream, &SubscribeToStreamOptions::default()).await,
            None => self.client.subscribe_to_all(&SubscribeToAllOptions::default()).await,
        };
        // The client's `Subscription` is not a `Stream`: unfold it into one,
        // ending at the first error (read again, it would resubscribe).
        Ok(futures::stream::unfold(Some(subscription), |subscription| async move {
            let mut subscription = subscription?;
            let delivery = next_delivery(&mut subscription).await;
            let keep = delivery.is_ok().then_some(subscription);
            Some((delivery, keep))
        })
        .boxed())
    }
}

/// The next event or caught-up notice; confirmations, checkpoints and the
/// rest are the client's business.
async fn next_delivery(subscription: &mut Subscription) -> anyhow::Result<Delivery> {
    loop {
        match subscription.next_subscription_event().await.context("subscription")? {
            SubscriptionEvent::EventAppeared(event) => {
                return Ok(Delivery::Event { revision: event.get_original_event().revision });
            }
            SubscriptionEvent::CaughtUp(_) => return Ok(Delivery::CaughtUp),
            _ => {}
        }
    }
}

/// `esdb://HOST:PORT?tls=false` for `http://HOST:PORT`; anything else is a
/// connection string for the client to parse (`esdb://`, `kurrentdb://`…).
fn connection_string(url: &str) -> String {
    match url.strip_prefix("http://") {
        Some(authority) => format!("esdb://{}?tls=false", authority.trim_end_matches('/')),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::connection_string;

    #[test]
    fn bench_urls_become_plaintext_connection_strings() {
        assert_eq!(connection_string("http://127.0.0.1:2113"), "esdb://127.0.0.1:2113?tls=false");
        assert_eq!(connection_string("http://127.0.0.1:2113/"), "esdb://127.0.0.1:2113?tls=false");
        assert_eq!(connection_string("esdb://node:2113?tls=true"), "esdb://node:2113?tls=true");
    }
}
