//! TLS to PostgreSQL with libpq's `sslmode` and `sslrootcert`: a throwaway
//! server offering TLS with a certificate from a test CA; each mode connects
//! or refuses as libpq's does, and the store works over a verified session.

use std::sync::Arc;

use eventfold_postgres::{PostgresConfig, PostgresStore};
use eventfold_store::{AppendRequest, EventStore, ExpectedRevision, ProposedEvent, ReadAllRequest, StreamName};
use eventfold_testkit::pg_server::{PgServer, ServerTls, find_binaries};
use futures::TryStreamExt;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};

struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn new_ca() -> Ca {
    let key = KeyPair::generate().expect("CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let certificate = params.self_signed(&key).expect("CA certificate");
    Ca { pem: certificate.pem(), issuer: Issuer::new(params, key) }
}

/// A server certificate from `ca` naming `dns_name` (and no address).
fn server_certificate(ca: &Ca, dns_name: &str) -> (String, String) {
    let key = KeyPair::generate().expect("server key");
    let mut params = CertificateParams::new(vec![dns_name.to_owned()]).expect("server params");
    params.subject_alt_names.retain(|name| !matches!(name, SanType::IpAddress(_)));
    let certificate = params.signed_by(&key, &ca.issuer).expect("server certificate");
    (certificate.pem(), key.serialize_pem())
}

/// Whether a session made with `url` is encrypted, or why it failed.
async fn encrypted(url: &str) -> Result<bool, String> {
    let (config, tls) = eventfold_postgres::connection(url)?;
    let (client, connection) = config.connect(tls).await.map_err(|error| format!("{error:?}"))?;
    let driver = tokio::spawn(connection);
    let row = client
        .query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])
        .await
        .map_err(|error| error.to_string())?;
    drop(client);
    let _ = driver.await;
    Ok(row.get(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_sslmode_connects_or_refuses_as_libpq_does() {
    let Some(bin) = find_binaries() else {
        eprintln!("SKIPPED: PostgreSQL is not installed; no TLS test ran");
        return;
    };
    let ca = new_ca();
    // Named `localhost` while the URLs connect to `127.0.0.1`: only
    // verify-full looks at the name, and it must refuse this one.
    let (certificate_pem, key_pem) = server_certificate(&ca, "localhost");
    let server = PgServer::start_with_tls(bin, &ServerTls { certificate_pem: &certificate_pem, key_pem: &key_pem })
        .expect("PostgreSQL with TLS");
    let scratch = tempfile::tempdir().expect("tempdir");
    let ca_file = scratch.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).expect("write CA");
    let other_ca_file = scratch.path().join("other-ca.pem");
    std::fs::write(&other_ca_file, new_ca().pem).expect("write the other CA");
    let base = server.url("postgres");
    let with = |query: &str| format!("{base}?{query}");
    let root = |file: &std::path::Path| file.to_str().expect("UTF-8 path").to_owned();

    assert_eq!(encrypted(&with("sslmode=disable")).await, Ok(false), "disable stays plain");
    assert_eq!(encrypted(&base).await, Ok(true), "prefer (the default) encrypts where the server offers it");
    assert_eq!(encrypted(&with("sslmode=require")).await, Ok(true), "require encrypts without a root to check");
    let verify_ca = with(&format!("sslmode=verify-ca&sslrootcert={}", root(&ca_file)));
    assert_eq!(encrypted(&verify_ca).await, Ok(true), "verify-ca: the chain is the CA's; the name is not checked");
    let wrong_ca = with(&format!("sslmode=verify-ca&sslrootcert={}", root(&other_ca_file)));
    let refused = encrypted(&wrong_ca).await.expect_err("a certificate from another CA is refused");
    assert!(refused.contains("InvalidCertificate"), "{refused}");
    let require_with_root = with(&format!("sslmode=require&sslrootcert={}", root(&other_ca_file)));
    assert!(encrypted(&require_with_root).await.is_err(), "require with a root file checks the chain, as libpq");
    let verify_full = with(&format!("sslmode=verify-full&sslrootcert={}", root(&ca_file)));
    let refused = encrypted(&verify_full).await.expect_err("verify-full checks the name, and 127.0.0.1 is not it");
    assert!(refused.contains("NotValidForName") || refused.contains("name"), "{refused}");
    let by_name = format!(
        "postgres://postgres@localhost:{}/postgres?sslmode=verify-full&sslrootcert={}",
        server.port,
        root(&ca_file)
    );
    assert_eq!(encrypted(&by_name).await, Ok(true), "verify-full connects to the name on the certificate");

    // The store itself over a verified session: opened, written and read.
    let store = PostgresStore::open(PostgresConfig::new(verify_ca)).await.expect("open over TLS");
    let store: Arc<dyn EventStore> = Arc::new(store);
    let stream = StreamName::new("tls-1").expect("name");
    store
        .append(AppendRequest::new(stream, ExpectedRevision::NoStream, vec![ProposedEvent::json("Sealed", "{}")]))
        .await
        .expect("append over TLS");
    let events: Vec<_> =
        store.read_all(ReadAllRequest::forwards()).await.expect("read").try_collect().await.expect("events");
    assert_eq!(events.len(), 1);
}

#[test]
fn a_root_file_that_is_missing_or_holds_no_certificate_is_refused_at_once() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let empty = scratch.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").expect("write");
    let url = format!("postgres://h/db?sslmode=verify-ca&sslrootcert={}", empty.display());
    let error = eventfold_postgres::connection(&url).expect_err("refused");
    assert!(error.contains("no certificate"), "{error}");
}
