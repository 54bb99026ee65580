//! Goal: `eventfold serve` with certificates made by `eventfold certs`
//! serves gRPC over TLS to a client that trusts the CA, and is refused by
//! one that does not or that connects by a name the certificate lacks; a
//! certificate that cannot be used stops the start with a message naming
//! the file; without certificates it serves only on loopback; a plaintext
//! client, garbage or a handshake never finished ends only that connection;
//! SIGHUP puts a new certificate in place for new connections while open
//! ones keep working.

mod cli_support;
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cli_support::{fails, ok};
use eventfold_client::{Client, Direction, Expected, ProposedEvent, ReadFrom};
use futures::TryStreamExt;
use support::{Server, start_with_env};

/// A CA in `dir/name/` (`ca.crt`, `ca.key`).
fn create_ca(dir: &Path, name: &str) -> PathBuf {
    let out = dir.join(name);
    ok(&["certs", "create-ca", "--out", path(&out)]);
    out
}

/// A node certificate in `out/` (`node.crt`, `node.key`) signed by the CA in `ca/`.
fn create_node(ca: &Path, out: &Path, extra: &[&str]) {
    let (certificate, key) = (ca.join("ca.crt"), ca.join("ca.key"));
    let mut args = vec!["certs", "create-node", "--ca-certificate", path(&certificate), "--ca-key", path(&key)];
    args.extend(["--out", path(out)]);
    args.extend(extra);
    ok(&args);
}

fn path(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temporary path")
}

/// The server on `db` presenting the certificate in `node/`.
fn start_secure(db: &Path, node: &Path, extra_env: &[(&str, &str)]) -> Server {
    let certificate = node.join("node.crt");
    let key = node.join("node.key");
    let mut env = vec![
        ("EVENTFOLD_CERTIFICATE_FILE", path(&certificate)),
        ("EVENTFOLD_CERTIFICATE_PRIVATE_KEY_FILE", path(&key)),
    ];
    env.extend(extra_env);
    start_with_env(db, &env)
}

fn connection_string(host: &str, address: SocketAddr, ca: &Path) -> String {
    format!("esdb://admin:changeit@{host}:{}?tls=true&tlsCaFile={}", address.port(), ca.join("ca.crt").display())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime")
}

async fn append_and_read_back(client: &Client, stream: &str) {
    let event = ProposedEvent::json("Placed", r#"{"order":1}"#);
    client.append(stream, Expected::Any, vec![event]).await.expect("append over TLS");
    let events: Vec<_> = client
        .read(stream, ReadFrom::Start, Direction::Forwards, 100, None)
        .await
        .expect("read over TLS")
        .try_collect()
        .await
        .expect("the events");
    assert!(events.iter().all(|event| event.event_type == "Placed") && !events.is_empty(), "{events:?}");
}

/// The log lines the server wrote so far, waiting up to 10 s for one that
/// contains `wanted`.
fn wait_for_log(server: &Server, wanted: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        if let Ok(line) = server.log.recv_timeout(Duration::from_millis(100)) {
            let found = line.contains(wanted);
            seen.push(line);
            if found {
                return seen;
            }
        }
    }
    panic!("no log line with `{wanted}` within 10 s: {seen:?}");
}

#[expect(deprecated, reason = "the ring provider, as the server uses")]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The subject of the certificate the server presents to a new connection.
async fn served_subject(address: SocketAddr, ca: &Path) -> String {
    let mut roots = rustls::RootCertStore::empty();
    let text = std::fs::read(ca.join("ca.crt")).expect("the CA certificate");
    use rustls::pki_types::pem::PemObject;
    for root in rustls::pki_types::CertificateDer::pem_slice_iter(&text) {
        roots.add(root.expect("PEM")).expect("a root");
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(address).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("a name");
    let tls = tokio::time::timeout(Duration::from_secs(10), connector.connect(name, tcp))
        .await
        .expect("handshake in time")
        .expect("handshake");
    let certificate = tls.get_ref().1.peer_certificates().and_then(|chain| chain.first()).expect("a certificate");
    let (_, parsed) = x509_parser::parse_x509_certificate(certificate.as_ref()).expect("X.509");
    parsed.subject().to_string()
}

#[test]
fn a_client_trusting_the_ca_appends_and_reads_over_tls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = create_ca(dir.path(), "ca");
    let node = dir.path().join("node");
    create_node(&ca, &node, &["--ip-addresses", "127.0.0.1", "--dns-names", "localhost"]);
    let server = start_secure(&dir.path().join("db"), &node, &[]);
    let log = wait_for_log(&server, "TLS on 127.0.0.1:");
    assert!(log.iter().any(|line| line.contains("CN=eventfold-node") && line.contains("expires")), "{log:?}");
    runtime().block_on(async {
        for host in ["localhost", "127.0.0.1"] {
            let client = Client::connect(&connection_string(host, server.address, &ca)).await.expect("connect");
            append_and_read_back(&client, &format!("order-{host}")).await;
        }
    });
    // The stream commands take the same connection string.
    let url = connection_string("localhost", server.address, &ca);
    ok(&["append", "cli-1", "--type", "Placed", "--data", "{}", "--server", &url]);
    assert!(ok(&["read", "cli-1", "--server", &url]).contains("Placed"));
    // So do the projection commands (the standard projections are listed).
    assert!(ok(&["projection", "list", "--server", &url]).contains("$by_category"));
    // And the admin commands, over HTTPS.
    let https = format!(
        "https://admin:changeit@localhost:{}/?tlsCaFile={}",
        server.address.port(),
        ca.join("ca.crt").display()
    );
    let status: serde_json::Value =
        serde_json::from_str(&ok(&["admin", "scavenge", "--server", &https])).expect("one JSON status");
    assert_eq!(status["state"], "completed", "{status}");
    // Secure mode authenticates: without credentials an operation is refused.
    let anonymous = format!("https://localhost:{}/?tlsCaFile={}", server.address.port(), ca.join("ca.crt").display());
    let refused = fails(&["admin", "scavenge", "--server", &anonymous]);
    assert!(refused.contains("401"), "{refused}");
    let message = fails(&["admin", "scavenge", "--server", &format!("https://localhost:{}", server.address.port())]);
    assert!(message.contains("tlsCaFile"), "{message}");
}

#[test]
fn clients_refuse_a_certificate_from_another_ca_or_for_another_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = create_ca(dir.path(), "ca");
    let other_ca = create_ca(dir.path(), "other-ca");
    let node = dir.path().join("node");
    // A name, no address: connecting to 127.0.0.1 is connecting by another name.
    create_node(&ca, &node, &["--dns-names", "localhost"]);
    let server = start_secure(&dir.path().join("db"), &node, &[]);
    runtime().block_on(async {
        let Err(wrong_ca) = Client::connect(&connection_string("localhost", server.address, &other_ca)).await else {
            panic!("a certificate from another CA was accepted");
        };
        let message = wrong_ca.to_string();
        assert!(message.contains("invalid peer certificate: UnknownIssuer"), "{message}");
        let Err(wrong_name) = Client::connect(&connection_string("127.0.0.1", server.address, &ca)).await else {
            panic!("a certificate for localhost was accepted for 127.0.0.1");
        };
        let message = wrong_name.to_string();
        assert!(message.contains("invalid peer certificate: certificate not valid for name"), "{message}");
    });
}

#[test]
fn a_plaintext_client_and_garbage_end_only_their_own_connection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = create_ca(dir.path(), "ca");
    let node = dir.path().join("node");
    create_node(&ca, &node, &[]);
    let server = start_secure(&dir.path().join("db"), &node, &[]);
    runtime().block_on(async {
        let plaintext = format!("esdb://localhost:{}?tls=false", server.address.port());
        let refused = match Client::connect(&plaintext).await {
            Err(error) => error.to_string(),
            Ok(client) => client
                .append("h2c", Expected::Any, vec![ProposedEvent::json("X", "{}")])
                .await
                .expect_err("an h2c call to the TLS port fails")
                .to_string(),
        };
        assert!(!refused.is_empty());
    });
    for garbage in
        [&b"GET /health HTTP/1.1\r\nhost: localhost\r\n\r\n"[..], &[0x16, 0x03, 0x01, 0xff, 0xff, 0, 1, 2][..]]
    {
        let mut socket = TcpStream::connect(server.address).expect("connect");
        socket.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        socket.write_all(garbage).expect("send");
        let mut answer = Vec::new();
        // The server answers with a TLS alert at most, then closes.
        let _ = socket.read_to_end(&mut answer);
        assert!(!answer.starts_with(b"HTTP/"), "plaintext HTTP was answered on the TLS port");
    }
    runtime().block_on(async {
        let client = Client::connect(&connection_string("localhost", server.address, &ca)).await.expect("connect");
        append_and_read_back(&client, "after-garbage").await;
    });
}

#[test]
fn a_handshake_never_finished_is_dropped_after_the_first_request_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = create_ca(dir.path(), "ca");
    let node = dir.path().join("node");
    create_node(&ca, &node, &[]);
    let server = start_secure(&dir.path().join("db"), &node, &[("EVENTFOLD_REQUEST_HEADER_TIMEOUT_MS", "300")]);
    for opening in [&b""[..], &[0x16, 0x03, 0x01, 0x02, 0x00][..]] {
        let mut socket = TcpStream::connect(server.address).expect("connect");
        socket.write_all(opening).expect("send");
        socket.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
        let mut rest = Vec::new();
        let closed = socket.read_to_end(&mut rest);
        assert!(closed.is_ok(), "the server closed the connection rather than wait: {closed:?}");
    }
}

#[test]
fn sighup_puts_a_new_certificate_in_place_and_open_connections_keep_working() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = create_ca(dir.path(), "ca");
    let node = dir.path().join("node");
    create_node(&ca, &node, &["--common-name", "first-node"]);
    let server = start_secure(&dir.path().join("db"), &node, &[]);
    let runtime = runtime();
    let open = runtime.block_on(async {
        assert_eq!(served_subject(server.address, &ca).await, "CN=first-node");
        let open = Client::connect(&connection_string("localhost", server.address, &ca)).await.expect("connect");
        append_and_read_back(&open, "before-reload").await;
        open
    });
    let hangup = |server: &Server| {
        let status = std::process::Command::new("kill")
            .args(["-HUP", &server.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    };

    create_node(&ca, &node, &["--common-name", "second-node", "--force"]);
    hangup(&server);
    wait_for_log(&server, "certificate reloaded");
    runtime.block_on(async {
        assert_eq!(served_subject(server.address, &ca).await, "CN=second-node");
        append_and_read_back(&open, "after-reload").await;
    });

    // A reload that fails keeps the certificate in place.
    std::fs::write(node.join("node.crt"), "not a certificate").expect("spoil the certificate");
    hangup(&server);
    wait_for_log(&server, "keeping the current certificate");
    runtime.block_on(async {
        assert_eq!(served_subject(server.address, &ca).await, "CN=second-node");
        append_and_read_back(&open, "after-failed-reload").await;
    });
}

/// `eventfold serve` with `args`, expected to refuse to start; its stderr.
fn refused(db: &Path, args: &[&str]) -> String {
    let mut all = vec!["serve", "--db", path(db)];
    all.extend(args);
    fails(&all)
}

#[test]
fn certificates_that_cannot_be_used_stop_the_start_with_the_file_and_the_cause() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    let ca = create_ca(dir.path(), "ca");
    let other_ca = create_ca(dir.path(), "other-ca");
    let node = dir.path().join("node");
    create_node(&ca, &node, &[]);
    let other = dir.path().join("other");
    create_node(&ca, &other, &[]);
    let certificate = node.join("node.crt");
    let key = node.join("node.key");
    let listen = ["--listen", "127.0.0.1:0"];
    let with = |certificate: &Path, key: &Path, extra: &[&str]| {
        let mut args = listen.to_vec();
        args.extend(["--certificate-file", path(certificate), "--certificate-private-key-file", path(key)]);
        args.extend(extra);
        refused(&db, &args)
    };

    let missing = dir.path().join("missing.crt");
    let message = with(&missing, &key, &[]);
    assert!(message.contains("missing.crt") && message.contains("cannot read"), "{message}");

    let garbage = dir.path().join("garbage.crt");
    std::fs::write(&garbage, "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n").expect("write");
    let message = with(&garbage, &key, &[]);
    assert!(message.contains("garbage.crt") && message.contains("not valid PEM"), "{message}");

    let message = with(&certificate, &other.join("node.key"), &[]);
    assert!(message.contains("does not belong") && message.contains("node.crt"), "{message}");

    let message = with(&certificate, &key, &["--trusted-root-certificates-path", path(&other_ca)]);
    assert!(message.contains("not issued by a root in") && message.contains("other-ca"), "{message}");

    let expired = dir.path().join("expired");
    write_expired_certificate(&ca, &expired);
    let message = with(&expired.join("node.crt"), &expired.join("node.key"), &[]);
    assert!(message.contains("expired") && message.contains("node.crt"), "{message}");

    let message = with(&certificate, &key, &["--insecure"]);
    assert!(message.contains("--insecure") && message.contains("choose one"), "{message}");

    // The roots as a directory (the CA's key beside its certificate) pass.
    let server = start_secure(&db, &node, &[("EVENTFOLD_TRUSTED_ROOT_CERTIFICATES_PATH", path(&ca))]);
    wait_for_log(&server, "TLS on");
}

/// A node certificate signed by the CA in `ca/` whose validity ended
/// yesterday (`eventfold certs` makes none such).
fn write_expired_certificate(ca: &Path, out: &Path) {
    let ca_key = rcgen::KeyPair::from_pem(&std::fs::read_to_string(ca.join("ca.key")).expect("CA key")).expect("key");
    let issuer =
        rcgen::Issuer::from_ca_cert_pem(&std::fs::read_to_string(ca.join("ca.crt")).expect("CA"), ca_key).expect("CA");
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(30);
    params.not_after = now - time::Duration::days(1);
    let key = rcgen::KeyPair::generate().expect("a key");
    let certificate = params.signed_by(&key, &issuer).expect("signed");
    std::fs::create_dir_all(out).expect("mkdir");
    std::fs::write(out.join("node.crt"), certificate.pem()).expect("write");
    std::fs::write(out.join("node.key"), key.serialize_pem()).expect("write");
}

#[test]
fn without_certificates_only_loopback_is_served_unless_insecure_is_given() {
    let dir = tempfile::tempdir().expect("tempdir");
    let message = refused(dir.path(), &["--listen", "0.0.0.0:0"]);
    assert!(message.contains("refusing to listen on 0.0.0.0:0 without TLS"), "{message}");
    assert!(message.contains("--insecure") && message.contains("eventfold certs"), "{message}");
    assert!(!dir.path().join("log").exists(), "the data directory was not opened");

    let server = start_with_env(dir.path(), &[]);
    wait_for_log(&server, "insecure: no TLS, no authentication, listening on loopback only");
}

#[test]
fn certs_keeps_keys_private_and_existing_files_unless_forced() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = create_ca(dir.path(), "ca");
    let mode = |file: &Path| std::fs::metadata(file).expect("metadata").permissions().mode() & 0o777;
    assert_eq!(mode(&ca.join("ca.key")), 0o600);
    let before = std::fs::read(ca.join("ca.key")).expect("key");
    let message = fails(&["certs", "create-ca", "--out", path(&ca)]);
    assert!(message.contains("already exists") && message.contains("--force"), "{message}");
    assert_eq!(std::fs::read(ca.join("ca.key")).expect("key"), before, "nothing overwritten");
    ok(&["certs", "create-ca", "--out", path(&ca), "--force"]);
    assert_ne!(std::fs::read(ca.join("ca.key")).expect("key"), before);
    assert_eq!(mode(&ca.join("ca.key")), 0o600);

    let node = dir.path().join("node");
    create_node(&ca, &node, &[]);
    assert_eq!(mode(&node.join("node.key")), 0o600);
    let other_ca = create_ca(dir.path(), "other-ca");
    let (ca_certificate, wrong_key, out) = (ca.join("ca.crt"), other_ca.join("ca.key"), dir.path().join("x"));
    let message = fails(&[
        "certs",
        "create-node",
        "--ca-certificate",
        path(&ca_certificate),
        "--ca-key",
        path(&wrong_key),
        "--out",
        path(&out),
    ]);
    assert!(message.contains("does not belong to the CA certificate"), "{message}");
    assert!(!dir.path().join("x").exists(), "nothing written");
}
