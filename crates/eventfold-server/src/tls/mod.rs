//! TLS on the server's one port: the certificate the node presents, loaded
//! and checked once at start (a node that would present a certificate no
//! client accepts refuses to start), and replaced in place on reload.
//!
//! The certificate is handed to rustls through a resolver that reads the
//! current one at each handshake: a reload changes what new connections
//! see, and open connections keep the session they made.

mod error;
mod identity;

use std::sync::{Arc, RwLock};

use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

pub use error::TlsError;
pub use identity::{CertificateFiles, ServerIdentity};

/// What the transport needs to accept TLS: the rustls configuration, whose
/// certificate [`ServerTls::replace`] swaps.
#[derive(Clone)]
pub struct ServerTls {
    config: Arc<ServerConfig>,
    current: Arc<CurrentCertificate>,
}

impl ServerTls {
    /// A configuration presenting `identity`, offering HTTP/2 (gRPC) and
    /// HTTP/1.1 by ALPN.
    pub fn new(identity: &ServerIdentity) -> Result<Self, TlsError> {
        let current = Arc::new(CurrentCertificate { key: RwLock::new(identity.certified_key()) });
        let mut config = ServerConfig::builder_with_provider(Arc::new(crypto_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|error| TlsError::Configuration { detail: error.to_string() })?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&current) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self { config: Arc::new(config), current })
    }

    /// New handshakes present `identity` from now on; open connections are
    /// not touched.
    pub fn replace(&self, identity: &ServerIdentity) {
        let mut key = match self.current.key.write() {
            Ok(key) => key,
            Err(poisoned) => poisoned.into_inner(),
        };
        *key = identity.certified_key();
    }

    pub(crate) fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(Arc::clone(&self.config))
    }
}

/// The cryptography behind every handshake and key: rustls' ring provider.
/// It is named here rather than taken from the process default, because a
/// build may link a second provider, and then rustls has no default.
#[expect(
    deprecated,
    reason = "ring lacks post-quantum key exchange; aws-lc-rs has it but needs cmake and a long C build"
)]
pub(crate) fn crypto_provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// Makes [`crypto_provider`] the process's default, for the clients that
/// take rustls's default rather than naming one (the NATS and Redis
/// connector sinks' clients): with a second provider linked, rustls cannot
/// pick one by itself and those clients would panic. A default already
/// installed stays.
pub fn install_process_default() {
    let _ = crypto_provider().install_default();
}

/// The certificate every handshake presents, whatever name the client asks
/// for (a node has one identity).
#[derive(Debug)]
struct CurrentCertificate {
    key: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for CurrentCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let key = match self.key.read() {
            Ok(key) => key,
            Err(poisoned) => poisoned.into_inner(),
        };
        Some(Arc::clone(&key))
    }
}
