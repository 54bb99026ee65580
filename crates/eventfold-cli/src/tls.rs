//! `eventfold serve`'s TLS options (KurrentDB's names) and the rule that
//! picks secure or insecure mode, plus reloading the certificate on SIGHUP.
//!
//! Certificates given: TLS. None: the node runs insecure (no TLS, and in
//! KurrentDB's sense no authentication), which is only safe where nobody
//! else can connect: on a loopback address, or anywhere when the operator
//! says so with `--insecure`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use eventfold_server::tls::{CertificateFiles, ServerIdentity, ServerTls};

#[derive(clap::Args)]
pub struct TlsArgs {
    /// PEM file with the node's certificate (then any intermediates):
    /// serve TLS (secure mode).
    #[arg(long, env = "EVENTFOLD_CERTIFICATE_FILE")]
    certificate_file: Option<PathBuf>,
    /// PEM file with the certificate's private key.
    #[arg(long, env = "EVENTFOLD_CERTIFICATE_PRIVATE_KEY_FILE")]
    certificate_private_key_file: Option<PathBuf>,
    /// PEM CA certificates (a file, or a directory of files): the node's
    /// certificate must be issued by one of them.
    #[arg(long, env = "EVENTFOLD_TRUSTED_ROOT_CERTIFICATES_PATH")]
    trusted_root_certificates_path: Option<PathBuf>,
    /// Serve without TLS (and without authentication) on any address, not
    /// only on loopback.
    #[arg(long, env = "EVENTFOLD_INSECURE")]
    insecure: bool,
}

/// How the node serves its port.
pub enum Mode {
    Secure { files: CertificateFiles, tls: ServerTls, identity: ServerIdentity },
    Insecure { on_request: bool },
}

impl Mode {
    pub fn is_secure(&self) -> bool {
        matches!(self, Mode::Secure { .. })
    }

    pub fn server_tls(&self) -> Option<ServerTls> {
        match self {
            Mode::Secure { tls, .. } => Some(tls.clone()),
            Mode::Insecure { .. } => None,
        }
    }

    /// The start's log line about security, once the port is bound.
    pub fn log(&self, address: SocketAddr) {
        match self {
            Mode::Secure { identity, .. } => tracing::info!(
                "TLS on {address}, certificate {}, serial {}, expires {}",
                identity.subject,
                identity.serial,
                identity.not_after
            ),
            Mode::Insecure { on_request: false } => {
                tracing::info!("insecure: no TLS, no authentication, listening on loopback only ({address})");
            }
            Mode::Insecure { on_request: true } => {
                tracing::warn!("insecure (--insecure): no TLS, no authentication, listening on {address}");
            }
        }
    }
}

impl TlsArgs {
    /// Decides the mode for a server that will listen on `listen` (every
    /// address the name resolves to), loading and checking the certificate.
    pub async fn mode(&self, listen: &str) -> anyhow::Result<Mode> {
        let certificate = self.certificate_file.as_ref();
        let key = self.certificate_private_key_file.as_ref();
        if self.insecure && (certificate.is_some() || key.is_some()) {
            anyhow::bail!(
                "--insecure serves without TLS, but a certificate was given \
                 (--certificate-file/--certificate-private-key-file): choose one"
            );
        }
        match (certificate, key) {
            (Some(certificate), Some(key)) => {
                let files = CertificateFiles {
                    certificate: certificate.clone(),
                    private_key: key.clone(),
                    trusted_roots: self.trusted_root_certificates_path.clone(),
                };
                let identity = ServerIdentity::load(&files).context("loading the node's certificate")?;
                let tls = ServerTls::new(&identity)?;
                Ok(Mode::Secure { files, tls, identity })
            }
            (Some(_), None) => anyhow::bail!("--certificate-file needs --certificate-private-key-file"),
            (None, Some(_)) => anyhow::bail!("--certificate-private-key-file needs --certificate-file"),
            (None, None) if self.insecure => Ok(Mode::Insecure { on_request: true }),
            (None, None) => {
                let addresses: Vec<SocketAddr> = tokio::net::lookup_host(listen)
                    .await
                    .with_context(|| format!("resolving the listen address {listen}"))?
                    .collect();
                let loopback_only = !addresses.is_empty() && addresses.iter().all(|address| address.ip().is_loopback());
                if !loopback_only {
                    anyhow::bail!(
                        "refusing to listen on {listen} without TLS: anyone who can reach it could read and write \
                         every stream. Give --certificate-file and --certificate-private-key-file (`eventfold certs` \
                         makes development ones), listen on a loopback address, or pass --insecure to serve without \
                         TLS and authentication anyway"
                    );
                }
                Ok(Mode::Insecure { on_request: false })
            }
        }
    }
}

/// Reloads the certificate each time the process gets SIGHUP: new
/// handshakes present the new one, open connections keep theirs. A reload
/// that fails keeps the current certificate. Listening starts at once, so
/// that a SIGHUP never falls to its default action (ending the process).
pub fn reload_on_hangup(mode: &Mode) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(hangups) => hangups,
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGHUP; the certificate cannot be reloaded");
            return;
        }
    };
    let reload = match mode {
        Mode::Secure { files, tls, .. } => Some((files.clone(), tls.clone())),
        Mode::Insecure { .. } => None,
    };
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            let Some((files, tls)) = &reload else {
                tracing::info!("SIGHUP: no certificate to reload (insecure mode)");
                continue;
            };
            let files = files.clone();
            match tokio::task::spawn_blocking(move || ServerIdentity::load(&files)).await {
                Ok(Ok(identity)) => {
                    tls.replace(&identity);
                    tracing::info!(
                        "SIGHUP: certificate reloaded: {}, serial {}, expires {}",
                        identity.subject,
                        identity.serial,
                        identity.not_after
                    );
                }
                Ok(Err(error)) => tracing::warn!("SIGHUP: keeping the current certificate: {error}"),
                Err(error) => tracing::warn!(%error, "SIGHUP: keeping the current certificate: the reload failed"),
            }
        }
    });
}
