use std::time::Duration;

use eventfold_proto::event_store::client::operations::operations_client::OperationsClient;
use eventfold_proto::event_store::client::streams::streams_client::StreamsClient;
use tonic::transport::Endpoint;

use crate::{ClientError, Credentials, ServerUrl, Transport};

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection to one server. Cheap to clone; clones share the connection,
/// as the official clients share theirs.
#[derive(Clone)]
pub struct Client {
    pub(crate) streams: StreamsClient<Transport>,
    pub(crate) operations: OperationsClient<Transport>,
}

impl Client {
    /// Connects to `address` (see [`ServerUrl`]).
    pub async fn connect(address: &str) -> Result<Self, ClientError> {
        let channel = connect_channel(address, |endpoint| endpoint).await?;
        Ok(Self { streams: StreamsClient::new(channel.clone()), operations: OperationsClient::new(channel) })
    }

    /// The generated `Streams` client on this connection, for calls this
    /// crate does not wrap.
    pub fn streams(&self) -> StreamsClient<Transport> {
        self.streams.clone()
    }
}

/// An HTTP/2 channel to `address` (see [`ServerUrl`]; plaintext or TLS,
/// with the connection string's credentials over TLS), for the generated
/// clients of services this crate does not wrap. `configure` adds settings
/// of its own (a call timeout) to the endpoint.
pub async fn connect_channel(
    address: &str,
    configure: impl FnOnce(Endpoint) -> Endpoint,
) -> Result<Transport, ClientError> {
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
    let channel = channel.map_err(|source| ClientError::Connect { url: endpoint, source })?;
    let credentials = match (&url.tls, &url.credentials) {
        (Some(_), Some((login, password))) => Credentials::basic(login, password),
        _ => Credentials::none(),
    };
    Ok(tonic::service::interceptor::InterceptedService::new(channel, credentials))
}
