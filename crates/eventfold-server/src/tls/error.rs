use std::path::PathBuf;

/// Why a certificate, its key or the trusted roots cannot be used. Each
/// names the file at fault, so that the message tells the operator what to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{} is not valid PEM: {detail}", path.display())]
    BadPem { path: PathBuf, detail: String },
    #[error("{} holds no PEM certificate", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{} is not a certificate eventfold can read: {detail}", path.display())]
    BadCertificate { path: PathBuf, detail: String },
    #[error("{} holds no private key (PKCS#8, PKCS#1 or SEC1 PEM)", path.display())]
    NoPrivateKey { path: PathBuf },
    #[error("{} holds a private key that cannot be used: {detail}", path.display())]
    UnusableKey { path: PathBuf, detail: String },
    #[error("the private key in {} does not belong to the certificate in {}", key.display(), certificate.display())]
    KeyMismatch { certificate: PathBuf, key: PathBuf },
    #[error("the certificate in {} expired on {not_after}", path.display())]
    Expired { path: PathBuf, not_after: String },
    #[error("the certificate in {} is not valid before {not_before}", path.display())]
    NotYetValid { path: PathBuf, not_before: String },
    #[error("the certificate in {} is not issued by a root in {}: {detail}", path.display(), roots.display())]
    Untrusted { path: PathBuf, roots: PathBuf, detail: String },
    #[error("no PEM certificate found in {}", path.display())]
    NoTrustedRoots { path: PathBuf },
    #[error("the TLS configuration cannot be built: {detail}")]
    Configuration { detail: String },
}
