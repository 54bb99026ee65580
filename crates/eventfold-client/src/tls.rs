//! TLS to the server, as the official clients do it with `tls=true`: the
//! server's certificate must chain to the CA in `tlsCaFile` and name the
//! host connected to. tonic is given a connector that makes the TCP
//! connection and the handshake itself (HTTP/2 by ALPN), so that tonic's own
//! TLS stack is not linked.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tonic::codegen::http::Uri;

use crate::ClientError;

/// The TLS settings of a connection string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM CA certificates the server's certificate must chain to
    /// (`tlsCaFile`).
    pub ca_file: PathBuf,
}

/// Makes TLS connections to one server: `authority` is `host:port`, and the
/// certificate must name `host`.
#[derive(Clone)]
pub(crate) struct TlsConnect {
    connector: TlsConnector,
    server_name: ServerName<'static>,
    authority: String,
}

impl TlsConnect {
    pub fn new(settings: &TlsSettings, host: &str, authority: &str) -> Result<Self, ClientError> {
        let (connector, server_name) = tls_connector(&settings.ca_file, host, b"h2")?;
        Ok(Self { connector, server_name, authority: authority.to_owned() })
    }
}

/// A TLS connector trusting the CA certificates in `ca_file` (PEM), offering
/// `alpn`, and the name a server's certificate must carry to be `host`.
pub fn tls_connector(
    ca_file: &Path,
    host: &str,
    alpn: &[u8],
) -> Result<(TlsConnector, ServerName<'static>), ClientError> {
    let invalid = |reason: String| ClientError::Tls { reason };
    let roots = read_roots(ca_file).map_err(invalid)?;
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store.add(root).map_err(|error| invalid(format!("{}: {error}", ca_file.display())))?;
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(crypto_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|error| invalid(error.to_string()))?
        .with_root_certificates(store)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let server_name = ServerName::try_from(host.to_owned())
        .map_err(|error| invalid(format!("`{host}` cannot be checked against a certificate: {error}")))?;
    Ok((TlsConnector::from(Arc::new(config)), server_name))
}

/// rustls' ring provider, named rather than taken from the process default
/// (a build linking two providers has no default).
#[expect(
    deprecated,
    reason = "ring lacks post-quantum key exchange; aws-lc-rs has it but needs cmake and a long C build"
)]
fn crypto_provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

fn read_roots(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let text = std::fs::read(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    let roots = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("{} is not valid PEM: {error}", path.display()))?;
    if roots.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(roots)
}

type Connecting = Pin<Box<dyn Future<Output = std::io::Result<TokioIo<TlsStream<TcpStream>>>> + Send>>;

impl tonic::codegen::Service<Uri> for TlsConnect {
    type Response = TokioIo<TlsStream<TcpStream>>;
    type Error = std::io::Error;
    type Future = Connecting;

    fn poll_ready(&mut self, _context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let stream = TcpStream::connect(&this.authority).await?;
            // Small calls leave at once rather than wait for the server's
            // delayed ACK (the server acknowledges quickly anyway).
            stream.set_nodelay(true)?;
            let secured = this.connector.connect(this.server_name.clone(), stream).await?;
            Ok(TokioIo::new(secured))
        })
    }
}
