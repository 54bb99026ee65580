//! The official Rust client (`kurrentdb`) over TLS: a server in secure mode
//! with a certificate from `eventfold certs`, reached with the connection
//! string the client documents (`tls=true&tlsCaFile=...`), appends and
//! reads back. The credentials are sent as secure mode expects.

use eventfold_rust_client_tests::{Server, numbered_events, unique_stream, within};
use kurrentdb::{AppendToStreamOptions, Client, ClientSettings, ReadStreamOptions, StreamState};

#[tokio::test]
async fn appends_and_reads_over_tls() {
    let server = Server::start_secure().await;
    let settings: ClientSettings = server.secure_connection_string().parse().expect("a connection string");
    let client = Client::new(settings).expect("a client");
    let stream = unique_stream("tls");
    let options = AppendToStreamOptions::default().stream_state(StreamState::NoStream);
    let written =
        within(15, "append over TLS", client.append_to_stream(stream.as_str(), &options, numbered_events("Placed", 3)))
            .await
            .unwrap_or_else(|error| panic!("append over TLS: {error}; log:\n{}", server.log()));
    assert_eq!(written.next_expected_version, 2);
    let events = within(15, "read over TLS", async {
        let mut reader = client.read_stream(stream.as_str(), &ReadStreamOptions::default()).await.expect("read");
        let mut events = Vec::new();
        while let Some(event) = reader.next().await.expect("an event") {
            events.push(event.get_original_event().revision);
        }
        events
    })
    .await;
    assert_eq!(events, vec![0, 1, 2]);
    server.stop().await;
}
