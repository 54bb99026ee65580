//! The client a server target is driven through: the bench's lean gRPC
//! client, the official `kurrentdb` one, or the JSON API over HTTP. All
//! face the same server (a child process or `--server-url`), so the gap
//! between their figures is what the client and the protocol cost.

use eventfold_store::ExpectedRevision;

use anyhow::bail;

use crate::grpc_client::GrpcClient;
use crate::http_client::HttpClient;
use crate::kurrentdb_client::KurrentdbClient;
use crate::target::{AppendResult, DeliveryStream};

#[derive(Clone)]
pub enum ServerClient {
    Lean(GrpcClient),
    // Boxed: the official client is a few hundred bytes, the lean one a
    // handle to a channel.
    Official(Box<KurrentdbClient>),
    Http(HttpClient),
}

/// Which of the two clients to connect.
#[derive(Clone, Copy)]
pub enum ClientKind {
    Lean,
    Official,
    Http,
}

impl ServerClient {
    /// A new client with a connection of its own.
    pub async fn connect(kind: ClientKind, url: &str) -> anyhow::Result<Self> {
        Ok(match kind {
            ClientKind::Lean => ServerClient::Lean(GrpcClient::connect(url).await?),
            ClientKind::Official => ServerClient::Official(Box::new(KurrentdbClient::connect(url).await?)),
            ClientKind::Http => ServerClient::Http(HttpClient::connect(url).await?),
        })
    }

    pub fn kind(&self) -> ClientKind {
        match self {
            ServerClient::Lean(_) => ClientKind::Lean,
            ServerClient::Official(_) => ClientKind::Official,
            ServerClient::Http(_) => ClientKind::Http,
        }
    }

    pub async fn append(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        bodies: Vec<Vec<u8>>,
    ) -> anyhow::Result<AppendResult> {
        match self {
            ServerClient::Lean(client) => client.append(stream, expected, bodies).await,
            ServerClient::Official(client) => client.append(stream, expected, bodies).await,
            ServerClient::Http(client) => client.append(stream, expected, bodies).await,
        }
    }

    pub async fn read_to_end(&self, stream: Option<&str>) -> anyhow::Result<u64> {
        match self {
            ServerClient::Lean(client) => client.read_to_end(stream).await,
            ServerClient::Official(client) => client.read_to_end(stream).await,
            ServerClient::Http(client) => client.read_to_end(stream).await,
        }
    }

    pub async fn subscribe(&self, stream: Option<&str>) -> anyhow::Result<DeliveryStream> {
        match self {
            ServerClient::Lean(client) => client.subscribe(stream).await,
            ServerClient::Official(client) => client.subscribe(stream).await,
            ServerClient::Http(_) => bail!("subscriptions over HTTP are not measured"),
        }
    }
}
