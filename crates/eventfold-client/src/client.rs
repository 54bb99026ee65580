use std::time::Duration;

use eventfold_proto::event_store::client::operations::operations_client::OperationsClient;
use eventfold_proto::event_store::client::streams::streams_client::StreamsClient;
use tonic::transport::{Channel, Endpoint};

use crate::{ClientError, ServerUrl};

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection to one server. Cheap to clone; clones share the connection,
/// as the official clients share theirs.
#[derive(Clone)]
pub struct Client {
    pub(crate) streams: StreamsClient<Channel>,
    pub(crate) operations: OperationsClient<Channel>,
}

impl Client {
    /// Connects to `address` (see [`ServerUrl`]).
    pub async fn connect(address: &str) -> Result<Self, ClientError> {
        let channel = connect_channel(address, |endpoint| endpoint).await?;
        Ok(Self { streams: StreamsClient::new(channel.clone()), operations: OperationsClient::new(channel) })
    }

    /// The generated `Streams` client on this connection, for calls this
    /// crate does not wrap.
    pub fn streams(&self) -> StreamsClient<Channel> {
        self.streams.clone()
    }
}

/// An HTTP/2 channel to `address` (see [`ServerUrl`]; plaintext or TLS), for
/// the generated clients of services this crate does not wrap. `configure`
/// adds settings of its own (a call timeout) to the endpoint.
pub async fn connect_channel(
    address: &str,
    configure: impl FnOnce(Endpoint) -> Endpoint,
) -> Result<Channel, ClientError> {
    let url = ServerUrl::parse(address)?;
    let endpoint = url.endpoint();
    let channel = Endpoint::from_shared(endpoint.clone())
        .map_err(|error| ClientError::InvalidUrl { url: address.to_owned(), reason: error.to_string() })?
        .tcp_nodelay(true)
        .connect_timeout(CONNECT_TIMEOUT);
    let channel = configure(channel);
    let channel = match &url.tls {
        None => channel.connect().await,
        Some(settings) => {
            let connector = crate::tls::TlsConnect::new(settings, url.host(), &url.authority)?;
            channel.connect_with_connector(connector).await
        }
    };
    channel.map_err(|source| ClientError::Connect { url: endpoint, source })
}
