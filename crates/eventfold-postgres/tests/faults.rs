//! Goal: a database that cannot be reached at start is retried with backoff
//! for the configured time, then refused with an error that says so; a URL
//! that is not one is refused at once.

use std::time::{Duration, Instant};

use eventfold_postgres::{OpenError, PostgresConfig, PostgresStore};

#[tokio::test]
async fn an_unreachable_database_is_retried_then_refused_clearly() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let mut config = PostgresConfig::new(format!("postgres://postgres@127.0.0.1:{port}/events"));
    config.connect_timeout = Duration::from_millis(700);
    let started = Instant::now();
    let error = PostgresStore::open(config).await.err().expect("nothing to connect to");
    let waited = started.elapsed();
    assert!(matches!(error, OpenError::Unreachable { .. }), "{error}");
    assert!(error.to_string().contains("could not reach PostgreSQL"), "{error}");
    assert!(waited >= Duration::from_millis(700), "it retried until the timeout: {waited:?}");
    assert!(waited < Duration::from_secs(10), "and then gave up: {waited:?}");
}

#[tokio::test]
async fn a_malformed_url_is_refused_at_once() {
    let error = PostgresStore::open(PostgresConfig::new("postgres://host:notaport/db")).await.err().expect("bad url");
    assert!(matches!(error, OpenError::Url(_)), "{error}");
}
