//! Loading the node's certificate: PEM files read and checked before the
//! server serves with them, so that a bad file stops the start (or a reload)
//! with a message instead of failing every client's handshake.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};

use super::TlsError;

/// Where the node's certificate comes from, as configured.
#[derive(Clone, Debug)]
pub struct CertificateFiles {
    /// PEM: the node's certificate first, then any intermediates.
    pub certificate: PathBuf,
    /// PEM: the certificate's private key.
    pub private_key: PathBuf,
    /// PEM CA certificates (a file, or a directory of files); when given,
    /// the node's certificate must chain to one of them.
    pub trusted_roots: Option<PathBuf>,
}

/// A certificate and key that loaded and passed the checks, with what the
/// log says about it.
#[derive(Clone, Debug)]
pub struct ServerIdentity {
    certified: Arc<CertifiedKey>,
    /// The certificate's subject, as `CN=...`.
    pub subject: String,
    /// Its serial number, hexadecimal.
    pub serial: String,
    /// The end of its validity, RFC 3339 in UTC.
    pub not_after: String,
}

impl ServerIdentity {
    /// Reads and checks `files`: PEM that parses, a key that matches the
    /// certificate, a certificate valid now and, where roots are given,
    /// issued by one of them.
    pub fn load(files: &CertificateFiles) -> Result<Self, TlsError> {
        let chain = read_certificates(&files.certificate)?;
        let Some(leaf) = chain.first() else {
            return Err(TlsError::NoCertificate { path: files.certificate.clone() });
        };
        let facts = CertificateFacts::read(leaf, &files.certificate)?;
        facts.check_valid_now(&files.certificate)?;
        if let Some(roots) = &files.trusted_roots {
            check_issued_by(&chain, &files.certificate, roots)?;
        }
        let key = read_private_key(&files.private_key)?;
        let signing_key = super::crypto_provider()
            .key_provider
            .load_private_key(key)
            .map_err(|error| TlsError::UnusableKey { path: files.private_key.clone(), detail: error.to_string() })?;
        let certified = CertifiedKey::new(chain, signing_key);
        match certified.keys_match() {
            // A key type whose public half rustls cannot derive cannot be
            // compared; the handshake is then the check.
            Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
            Err(_) => {
                return Err(TlsError::KeyMismatch {
                    certificate: files.certificate.clone(),
                    key: files.private_key.clone(),
                });
            }
        }
        Ok(Self {
            certified: Arc::new(certified),
            subject: facts.subject,
            serial: facts.serial,
            not_after: facts.not_after_text,
        })
    }

    pub(crate) fn certified_key(&self) -> Arc<CertifiedKey> {
        Arc::clone(&self.certified)
    }
}

/// What the checks and the log need from a certificate.
struct CertificateFacts {
    subject: String,
    serial: String,
    not_before: i64,
    not_before_text: String,
    not_after: i64,
    not_after_text: String,
}

impl CertificateFacts {
    fn read(certificate: &CertificateDer<'_>, path: &Path) -> Result<Self, TlsError> {
        let (_rest, parsed) = x509_parser::parse_x509_certificate(certificate.as_ref())
            .map_err(|error| TlsError::BadCertificate { path: path.to_owned(), detail: error.to_string() })?;
        let validity = parsed.validity();
        Ok(Self {
            subject: parsed.subject().to_string(),
            serial: parsed.tbs_certificate.serial.to_str_radix(16),
            not_before: validity.not_before.timestamp(),
            not_before_text: rfc3339(validity.not_before.timestamp()),
            not_after: validity.not_after.timestamp(),
            not_after_text: rfc3339(validity.not_after.timestamp()),
        })
    }

    fn check_valid_now(&self, path: &Path) -> Result<(), TlsError> {
        let now = i64::try_from(UnixTime::now().as_secs()).unwrap_or(i64::MAX);
        if now > self.not_after {
            return Err(TlsError::Expired { path: path.to_owned(), not_after: self.not_after_text.clone() });
        }
        if now < self.not_before {
            return Err(TlsError::NotYetValid { path: path.to_owned(), not_before: self.not_before_text.clone() });
        }
        Ok(())
    }
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
fn rfc3339(unix_seconds: i64) -> String {
    let days = unix_seconds.div_euclid(86_400);
    let second_of_day = unix_seconds.rem_euclid(86_400);
    let (year, month, day) = eventfold_store::civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

fn read_file(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { path: path.to_owned(), source })
}

/// Every certificate in the PEM file at `path`, in order.
fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let text = read_file(path)?;
    CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| TlsError::BadPem { path: path.to_owned(), detail: error.to_string() })
}

fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let text = read_file(path)?;
    PrivateKeyDer::from_pem_slice(&text).map_err(|error| match error {
        pem::Error::NoItemsFound => TlsError::NoPrivateKey { path: path.to_owned() },
        other => TlsError::BadPem { path: path.to_owned(), detail: other.to_string() },
    })
}

/// The CA certificates at `path`: a PEM file, or every file of a directory
/// (files without a certificate, such as a CA's key beside it, add none).
fn read_trusted_roots(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let metadata = std::fs::metadata(path).map_err(|source| TlsError::Read { path: path.to_owned(), source })?;
    let mut roots = Vec::new();
    if metadata.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|source| TlsError::Read { path: path.to_owned(), source })?;
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| TlsError::Read { path: path.to_owned(), source })?;
            if entry.file_type().is_ok_and(|kind| kind.is_file()) {
                files.push(entry.path());
            }
        }
        files.sort();
        for file in files {
            roots.extend(read_certificates(&file)?);
        }
    } else {
        roots = read_certificates(path)?;
    }
    if roots.is_empty() {
        return Err(TlsError::NoTrustedRoots { path: path.to_owned() });
    }
    Ok(roots)
}

/// Checks that `chain` (leaf first, then intermediates) leads to one of the
/// roots at `roots_path`, as a client trusting them would.
fn check_issued_by(chain: &[CertificateDer<'static>], path: &Path, roots_path: &Path) -> Result<(), TlsError> {
    let roots = read_trusted_roots(roots_path)?;
    let untrusted =
        |detail: String| TlsError::Untrusted { path: path.to_owned(), roots: roots_path.to_owned(), detail };
    let mut anchors = Vec::with_capacity(roots.len());
    for (index, root) in roots.iter().enumerate() {
        let anchor = webpki::anchor_from_trusted_cert(root).map_err(|error| TlsError::BadCertificate {
            path: roots_path.to_owned(),
            detail: format!("CA certificate {}: {error}", index + 1),
        })?;
        anchors.push(anchor.to_owned());
    }
    let (leaf, intermediates) = match chain.split_first() {
        Some(split) => split,
        None => return Err(TlsError::NoCertificate { path: path.to_owned() }),
    };
    let leaf = webpki::EndEntityCert::try_from(leaf).map_err(|error| untrusted(error.to_string()))?;
    leaf.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        intermediates,
        UnixTime::now(),
        webpki::KeyUsage::server_auth(),
        None,
        None,
    )
    .map_err(|error| untrusted(error.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn unix_seconds_print_as_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_796_474_096), "2026-12-05T12:34:56Z");
    }
}
