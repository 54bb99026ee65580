//! TLS to PostgreSQL, with libpq's `sslmode` and `sslrootcert` in the
//! connection string (a URL's query, or `key=value` pairs), over rustls (no
//! OpenSSL), for the PostgreSQL backend and the connectors' PostgreSQL sink.
//! tokio-postgres parses only `disable`, `prefer` and `require`, and knows no
//! `sslrootcert`: [`connection`] takes those options out of the string, hands
//! the rest to tokio-postgres and builds the verifier they ask for.
//!
//! | `sslmode` | TLS | the server's certificate |
//! |-----------|-----|--------------------------|
//! | `disable` | never | — |
//! | `prefer` (the default) | when the server offers it | not checked (as libpq), unless `sslrootcert` is given: then as `verify-ca` |
//! | `require` | always | as `prefer` |
//! | `verify-ca` | always | chains to `sslrootcert` (the system's roots when absent or `system`) |
//! | `verify-full` | always | as `verify-ca`, and names the host |
//!
//! SCRAM channel binding is not offered (`ChannelBinding::none`): the
//! password exchange is still SCRAM, inside the TLS session.

use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientConfig, WebPkiServerVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use tokio_rustls::TlsConnector;

/// What the URL asks of the server's certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Check {
    Nothing,
    Chain,
    ChainAndName,
}

/// A URL's connection settings and the TLS connector they ask for.
pub fn connection(url: &str) -> Result<(tokio_postgres::Config, PgTls), String> {
    let (url, mode, root_file) = take_tls_options(url)?;
    let config: tokio_postgres::Config = url.parse().map_err(|error: tokio_postgres::Error| error.to_string())?;
    let check = match (mode.as_deref(), root_file.is_some()) {
        (Some("verify-full"), _) => Check::ChainAndName,
        (Some("verify-ca"), _) | (_, true) => Check::Chain,
        _ => Check::Nothing,
    };
    let tls = PgTls::new(check, root_file.as_deref())?;
    Ok((config, tls))
}

/// The TLS options found in a connection string.
#[derive(Default)]
struct TlsOptions {
    mode: Option<String>,
    root_file: Option<String>,
}

impl TlsOptions {
    /// Takes `key=value` if it is a TLS option; answers what tokio-postgres
    /// gets in its place (`verify-ca` and `verify-full` become `require`).
    fn take(&mut self, key: &str, value: String) -> Result<Option<(String, String)>, String> {
        match key {
            "sslmode" => {
                let passed = match value.as_str() {
                    "disable" | "prefer" | "require" => value.clone(),
                    "verify-ca" | "verify-full" => "require".to_owned(),
                    other => {
                        return Err(format!(
                            "sslmode `{other}` is not one of disable, prefer, require, verify-ca, verify-full"
                        ));
                    }
                };
                self.mode = Some(value);
                Ok(Some(("sslmode".to_owned(), passed)))
            }
            "sslrootcert" => {
                self.root_file = Some(value);
                Ok(None)
            }
            _ => Ok(Some((key.to_owned(), value))),
        }
    }
}

/// Takes `sslmode` (when it is one tokio-postgres does not know) and
/// `sslrootcert` out of a connection string, a URL or `key=value` pairs.
fn take_tls_options(text: &str) -> Result<(String, Option<String>, Option<String>), String> {
    let mut options = TlsOptions::default();
    let kept = if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        let Some((base, query)) = text.split_once('?') else {
            return Ok((text.to_owned(), None, None));
        };
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = if key == "sslrootcert" { percent_decoded(value)? } else { value.to_owned() };
            if let Some((key, value)) = options.take(key, value)? {
                kept.push(format!("{key}={value}"));
            }
        }
        if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) }
    } else {
        let mut kept = Vec::new();
        for (key, value) in key_values(text)? {
            if let Some((key, value)) = options.take(&key, value)? {
                kept.push(format!("{key}='{}'", value.replace('\\', "\\\\").replace('\'', "\\'")));
            }
        }
        kept.join(" ")
    };
    if options.mode.as_deref() == Some("disable") && options.root_file.is_some() {
        return Err("sslrootcert needs TLS, and sslmode is disable".to_owned());
    }
    Ok((kept, options.mode, options.root_file))
}

/// libpq's `key = value` pairs: spaces around `=` allowed, a value in single
/// quotes may hold spaces, `\'` and `\\` escape within it.
fn key_values(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(format!("`{key}` in the connection string has no `=`"));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\'') => break,
                    Some('\\') => value.push(chars.next().ok_or("a `\\` ends the connection string")?),
                    Some(c) => value.push(c),
                    None => return Err(format!("the quoted value of `{key}` is not closed")),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                value.push(c);
            }
        }
        pairs.push((key, value));
    }
}

fn percent_decoded(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        if byte == b'%' {
            let hex = text.get(index + 1..index + 3).ok_or_else(|| format!("bad escape in `{text}`"))?;
            decoded.push(u8::from_str_radix(hex, 16).map_err(|_| format!("bad escape in `{text}`"))?);
            index += 3;
        } else {
            decoded.push(byte);
            index += 1;
        }
    }
    String::from_utf8(decoded).map_err(|_| format!("`{text}` is not UTF-8 once decoded"))
}

/// Makes TLS sessions to PostgreSQL servers.
#[derive(Clone)]
pub struct PgTls {
    connector: TlsConnector,
}

impl std::fmt::Debug for PgTls {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("PgTls")
    }
}

impl PgTls {
    fn new(check: Check, root_file: Option<&str>) -> Result<Self, String> {
        let provider = Arc::new(crypto_provider());
        let chain = match check {
            Check::Nothing => None,
            Check::Chain | Check::ChainAndName => Some(
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots(root_file)?), Arc::clone(&provider))
                    .build()
                    .map_err(|error| error.to_string())?,
            ),
        };
        let verifier = Arc::new(CertificateCheck {
            chain,
            check_name: check == Check::ChainAndName,
            algorithms: provider.signature_verification_algorithms,
        });
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| error.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(Self { connector: TlsConnector::from(Arc::new(config)) })
    }
}

/// rustls' ring provider, named rather than taken from the process default
/// (a build linking two providers has no default).
#[expect(
    deprecated,
    reason = "ring lacks post-quantum key exchange; aws-lc-rs has it but needs cmake and a long C build"
)]
fn crypto_provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// The roots in `root_file` (PEM), or the system's.
fn roots(root_file: Option<&str>) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    match root_file {
        Some(path) if path != "system" => {
            let certificates = CertificateDer::pem_file_iter(Path::new(path))
                .map_err(|error| format!("sslrootcert {path}: {error}"))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| format!("sslrootcert {path}: {error}"))?;
            if certificates.is_empty() {
                return Err(format!("sslrootcert {path}: no certificate in the file"));
            }
            for certificate in certificates {
                store.add(certificate).map_err(|error| format!("sslrootcert {path}: {error}"))?;
            }
        }
        _ => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err("no system root certificates found: give sslrootcert".to_owned());
            }
        }
    }
    Ok(store)
}

/// The check of the server's certificate: none for libpq's `prefer` and
/// `require` (the session is still encrypted), the chain to the roots for
/// `verify-ca`, and the host name too for `verify-full`. Handshake
/// signatures are always checked.
#[derive(Debug)]
struct CertificateCheck {
    chain: Option<Arc<WebPkiServerVerifier>>,
    check_name: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for CertificateCheck {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else { return Ok(ServerCertVerified::assertion()) };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, certificate, signature, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, certificate, signature, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

impl<S> MakeTlsConnect<S> for PgTls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = PgTlsStream<S>;
    type TlsConnect = PgTlsConnect;
    type Error = rustls::pki_types::InvalidDnsNameError;

    fn make_tls_connect(&mut self, domain: &str) -> Result<PgTlsConnect, Self::Error> {
        let server_name = ServerName::try_from(domain.to_owned())?;
        Ok(PgTlsConnect { connector: self.connector.clone(), server_name })
    }
}

/// One handshake with the server named `server_name`.
pub struct PgTlsConnect {
    connector: TlsConnector,
    server_name: ServerName<'static>,
}

impl<S> TlsConnect<S> for PgTlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = PgTlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<PgTlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let session = self.connector.connect(self.server_name, stream).await?;
            Ok(PgTlsStream(Box::new(session)))
        })
    }
}

/// A TLS session to PostgreSQL.
pub struct PgTlsStream<S>(Box<tokio_rustls::client::TlsStream<S>>);

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for PgTlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for PgTlsStream<S> {
    fn poll_read(self: Pin<&mut Self>, context: &mut Context<'_>, buffer: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().0).poll_read(context, buffer)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for PgTlsStream<S> {
    fn poll_write(self: Pin<&mut Self>, context: &mut Context<'_>, buffer: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.get_mut().0).poll_write(context, buffer)
    }

    fn poll_flush(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().0).poll_flush(context)
    }

    fn poll_shutdown(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().0).poll_shutdown(context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_options_tokio_postgres_lacks_are_taken_out() {
        let (url, mode, root) =
            take_tls_options("postgres://u@h/db?sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem&application_name=x")
                .expect("parsed");
        assert_eq!(url, "postgres://u@h/db?sslmode=require&application_name=x");
        assert_eq!(mode.as_deref(), Some("verify-full"));
        assert_eq!(root.as_deref(), Some("/tmp/ca.pem"));
        let (url, mode, root) = take_tls_options("postgres://u@h/db").expect("parsed");
        assert_eq!((url.as_str(), mode, root), ("postgres://u@h/db", None, None));
    }

    #[test]
    fn key_value_strings_keep_their_other_options_and_lose_the_tls_ones() {
        let (text, mode, root) = take_tls_options(
            "host=db.internal  port = 5433 sslmode=verify-ca sslrootcert='/etc/my ca.pem' application_name='it\\'s'",
        )
        .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(mode.as_deref(), Some("verify-ca"));
        assert_eq!(root.as_deref(), Some("/etc/my ca.pem"));
        assert!(text.starts_with("host='db.internal' port='5433' sslmode='require'"), "{text}");
        let config: tokio_postgres::Config = text.parse().expect("tokio-postgres reads what is kept");
        assert_eq!(config.get_ports(), [5433]);
        assert!(take_tls_options("host=h port").is_err(), "a key without a value");
        assert!(take_tls_options("host='h").is_err(), "an unclosed quote");
    }

    #[test]
    fn unknown_modes_and_contradictions_are_refused() {
        assert!(take_tls_options("postgres://h/db?sslmode=allowish").is_err());
        assert!(take_tls_options("postgres://h/db?sslmode=disable&sslrootcert=/x").is_err());
        assert!(connection("postgres://h/db?sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem").is_err());
    }
}
