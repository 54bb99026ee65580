//! Goal: KurrentDB's HTTP stream API writes and deletes as curl users rely
//! on: batches and single events are appended (201 with Location), a single
//! event without an id is redirected (307) to an id of its own, re-posting
//! the same ids writes nothing twice, a wrong expected version is 400 with
//! `ES-CurrentVersion`, metadata is read and set, a soft-deleted stream is
//! 404 until written again and a tombstoned one 410 for good. The API is
//! off unless asked for, Atom XML is 406, and bad input is a 4xx that
//! writes nothing.

use crate::support;

use std::net::SocketAddr;

use eventfold_store::{EventStore, ReadStreamRequest, StreamName};
use futures::StreamExt;
use support::http::{HttpResponse, get, request};
use support::{open_engine, serve, serve_with_atom_pub};

/// A post with bad input: path, headers, body, the status expected.
type BadPost = (&'static str, Vec<(&'static str, &'static str)>, String, u16);

const EVENTS_JSON: &str = "application/vnd.eventstore.events+json";
const ATOM_JSON: (&str, &str) = ("accept", "application/vnd.eventstore.atom+json");

fn batch(ids: &[&str]) -> String {
    let events: Vec<String> = ids
        .iter()
        .enumerate()
        .map(|(index, id)| format!(r#"{{"eventId":"{id}","eventType":"Placed","data":{{"n":{index}}}}}"#))
        .collect();
    format!("[{}]", events.join(","))
}

async fn post(address: SocketAddr, path: &str, headers: &[(&str, &str)], body: &str) -> HttpResponse {
    request(address, "POST", path, headers, body.as_bytes()).await
}

async fn event_count(store: &dyn EventStore, stream: &str) -> usize {
    let request = ReadStreamRequest::forwards(StreamName::new(stream).expect("name"));
    match store.read_stream(request).await {
        Ok(events) => events.count().await,
        Err(_) => 0,
    }
}

#[tokio::test]
async fn the_stream_api_is_off_unless_asked_for() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = serve(open_engine(&dir)).await;
    let address = running.address;
    assert_eq!(get(address, "/streams/orders", &[ATOM_JSON]).await.status, 404);
    let posted = post(address, "/streams/orders", &[("content-type", EVENTS_JSON)], &batch(&[UUID_1])).await;
    assert_eq!(posted.status, 404, "{posted:?}");
    assert_eq!(event_count(&running.engine, "orders").await, 0);
    assert_eq!(get(address, "/info", &[]).await.json()["features"]["atomPub"], false);
    running.finish().await;
}

const UUID_1: &str = "fbf4a1a1-b4a3-4dfe-a01f-ec52c34e16e4";
const UUID_2: &str = "fbf4a1a1-b4a3-4dfe-a01f-ec52c34e16e5";
const UUID_3: &str = "fbf4a1a1-b4a3-4dfe-a01f-ec52c34e16e6";

#[tokio::test]
async fn events_are_appended_in_batches_and_singly_and_reposts_write_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = serve_with_atom_pub(open_engine(&dir)).await;
    let address = running.address;
    assert_eq!(get(address, "/info", &[]).await.json()["features"]["atomPub"], true);

    let created = post(address, "/streams/order-1", &[("content-type", EVENTS_JSON)], &batch(&[UUID_1, UUID_2])).await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.header("location"), Some("http://localhost/streams/order-1/0"));
    let again = post(address, "/streams/order-1", &[("content-type", EVENTS_JSON)], &batch(&[UUID_1, UUID_2])).await;
    assert_eq!(again.status, 201, "an idempotent repost succeeds: {again:?}");
    assert_eq!(event_count(&running.engine, "order-1").await, 2, "and writes nothing");

    // One event: its data is the body, its type and id in headers (either
    // spelling of their names).
    let single = [("content-type", "application/json"), ("es-eventtype", "Paid"), ("kurrent-eventid", UUID_3)];
    let created = post(address, "/streams/order-1", &single, r#"{"amount":3}"#).await;
    assert_eq!((created.status, created.header("location")), (201, Some("http://localhost/streams/order-1/2")));

    // Without an id: a redirect to an id of its own, where the post lands.
    let redirected = post(address, "/streams/order-1", &single[..2], r#"{"amount":4}"#).await;
    assert_eq!(redirected.status, 307, "{redirected:?}");
    let location = redirected.header("location").expect("a location").to_owned();
    let incoming = location.strip_prefix("http://localhost").expect("on the asked host");
    assert!(incoming.starts_with("/streams/order-1/incoming/"), "{incoming}");
    assert_eq!(event_count(&running.engine, "order-1").await, 3, "a redirect writes nothing");
    let created = post(address, incoming, &single[..2], r#"{"amount":4}"#).await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(post(address, incoming, &single[..2], r#"{"amount":4}"#).await.status, 201);
    assert_eq!(event_count(&running.engine, "order-1").await, 4, "the redirect's id makes the retry idempotent");

    let event = get(address, "/streams/order-1/3", &[("accept", "application/json")]).await;
    assert_eq!((event.status, event.text().as_str()), (200, r#"{"amount":4}"#));
    let entry = get(address, "/streams/order-1/head", &[ATOM_JSON]).await.json();
    assert_eq!(entry["title"], "3@order-1");
    assert_eq!(entry["content"]["data"]["amount"], 4);
    assert_eq!(entry["content"]["eventType"], "Paid");
    running.finish().await;
}

#[tokio::test]
async fn a_wrong_expected_version_is_400_with_the_current_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = serve_with_atom_pub(open_engine(&dir)).await;
    let address = running.address;
    let headers = |expected: &'static str| [("content-type", EVENTS_JSON), ("es-expectedversion", expected)];

    let missing = post(address, "/streams/cart-1", &headers("0"), &batch(&[UUID_1])).await;
    assert_eq!((missing.status, missing.reason.as_str()), (400, "Wrong expected EventNumber"), "{missing:?}");
    assert_eq!(missing.header("es-currentversion"), Some("-1"));
    assert_eq!(missing.header("kurrent-currentversion"), Some("-1"));
    assert_eq!(post(address, "/streams/cart-1", &headers("-4"), &batch(&[UUID_1])).await.status, 400);

    assert_eq!(post(address, "/streams/cart-1", &headers("-1"), &batch(&[UUID_1])).await.status, 201);
    let wrong = post(address, "/streams/cart-1", &headers("-1"), &batch(&[UUID_2])).await;
    assert_eq!((wrong.status, wrong.header("es-currentversion")), (400, Some("0")));
    assert_eq!(post(address, "/streams/cart-1", &headers("0"), &batch(&[UUID_2])).await.status, 201);
    assert_eq!(post(address, "/streams/cart-1", &headers("-4"), &batch(&[UUID_3])).await.status, 201);
    let deleted = request(address, "DELETE", "/streams/cart-1", &[("es-expectedversion", "0")], b"").await;
    assert_eq!((deleted.status, deleted.header("es-currentversion")), (400, Some("2")));
    assert_eq!(event_count(&running.engine, "cart-1").await, 3);
    running.finish().await;
}

#[tokio::test]
async fn metadata_is_read_and_set_and_deletes_are_soft_or_for_good() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = serve_with_atom_pub(open_engine(&dir)).await;
    let address = running.address;
    let json = [("content-type", "application/json")];

    assert_eq!(get(address, "/streams/doc-1/metadata", &[]).await.json(), serde_json::json!({}));
    let set = post(address, "/streams/doc-1/metadata", &json, r#"{"$maxCount":5,"owner":"me"}"#).await;
    assert_eq!(set.status, 201, "{set:?}");
    assert_eq!(set.header("location"), Some("http://localhost/streams/%24%24doc-1/0"));
    let metadata = get(address, "/streams/doc-1/metadata", &[]).await.json();
    assert_eq!((metadata["$maxCount"].as_u64(), metadata["owner"].as_str()), (Some(5), Some("me")));
    let as_event = format!(r#"[{{"eventId":"{UUID_1}","eventType":"anything","data":{{"$maxCount":7}}}}]"#);
    assert_eq!(post(address, "/streams/doc-1/metadata", &[("content-type", EVENTS_JSON)], &as_event).await.status, 201);
    assert_eq!(get(address, "/streams/doc-1/metadata", &[]).await.json()["$maxCount"], 7);
    assert_eq!(post(address, "/streams/doc-1/metadata", &json, "[1,2]").await.status, 400);

    // Soft: not found, then written again where it left off.
    assert_eq!(post(address, "/streams/doc-1", &[("content-type", EVENTS_JSON)], &batch(&[UUID_2])).await.status, 201);
    let deleted = request(address, "DELETE", "/streams/doc-1", &[], b"").await;
    assert_eq!(deleted.status, 204, "{deleted:?}");
    assert_eq!(get(address, "/streams/doc-1", &[ATOM_JSON]).await.status, 404);
    let recreated = post(address, "/streams/doc-1", &[("content-type", EVENTS_JSON)], &batch(&[UUID_3])).await;
    assert_eq!((recreated.status, recreated.header("location")), (201, Some("http://localhost/streams/doc-1/1")));
    assert_eq!(get(address, "/streams/doc-1", &[ATOM_JSON]).await.status, 200);

    // Hard: gone for good, metadata included.
    let tombstoned = request(address, "DELETE", "/streams/doc-1", &[("ES-HardDelete", "true")], b"").await;
    assert_eq!(tombstoned.status, 204, "{tombstoned:?}");
    assert_eq!(get(address, "/streams/doc-1", &[ATOM_JSON]).await.status, 410);
    assert_eq!(get(address, "/streams/doc-1/0", &[ATOM_JSON]).await.status, 410);
    assert_eq!(get(address, "/streams/doc-1/metadata", &[]).await.status, 410);
    let after = post(address, "/streams/doc-1", &[("content-type", EVENTS_JSON)], &batch(&[UUID_1])).await;
    assert_eq!(after.status, 410, "{after:?}");
    assert_eq!(request(address, "DELETE", "/streams/doc-1", &[("ES-HardDelete", "true")], b"").await.status, 410);
    running.finish().await;
}

#[tokio::test]
async fn bad_input_is_a_4xx_with_a_reason_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = serve_with_atom_pub(open_engine(&dir)).await;
    let address = running.address;
    let events = ("content-type", EVENTS_JSON);
    let good = batch(&[UUID_1]);
    let oversized = format!(r#"[{{"eventId":"{UUID_1}","eventType":"T","data":"{}"}}]"#, "x".repeat(2 * 1024 * 1024));
    let cases: Vec<BadPost> = vec![
        ("/streams/bad-1", vec![events], "[{\"eventId\":".into(), 400),
        ("/streams/bad-1", vec![events], "{}".into(), 400),
        ("/streams/bad-1", vec![events], "[]".into(), 400),
        ("/streams/bad-1", vec![events], r#"[{"eventId":"nope","eventType":"T"}]"#.into(), 400),
        ("/streams/bad-1", vec![events], r#"[{"eventType":"T","data":{}}]"#.into(), 400),
        ("/streams/bad-1", vec![("content-type", "application/xml")], good.clone(), 415),
        ("/streams/bad-1", vec![], good.clone(), 415),
        ("/streams/bad-1", vec![events, ("es-expectedversion", "soon")], good.clone(), 400),
        ("/streams/bad-1", vec![events, ("es-expectedversion", "-3")], good.clone(), 400),
        ("/streams/bad-1", vec![events], oversized, 413),
        ("/streams/bad%0A1", vec![events], good.clone(), 400),
        ("/streams/%24all", vec![events], good.clone(), 400),
        ("/streams/bad-1", vec![("content-type", "application/json"), ("es-eventid", UUID_1)], "{}".into(), 400),
        (
            "/streams/bad-1",
            vec![("content-type", "application/json"), ("es-eventtype", "T"), ("es-eventid", "x")],
            "{}".into(),
            400,
        ),
        (
            "/streams/bad-1",
            vec![("content-type", "application/json"), ("es-eventtype", "T"), ("es-eventid", UUID_1)],
            "not json".into(),
            400,
        ),
        ("/streams/bad-1/incoming/not-a-uuid", vec![("content-type", "application/json")], "{}".into(), 400),
    ];
    for (path, headers, body, status) in cases {
        let answer = post(address, path, &headers, &body).await;
        assert_eq!(answer.status, status, "{path} {headers:?}: {answer:?}");
        assert!(answer.json()["error"].as_str().is_some_and(|reason| !reason.is_empty()), "{answer:?}");
    }
    assert_eq!(event_count(&running.engine, "bad-1").await, 0, "nothing was written");
    assert_eq!(running.engine.head_position(), None, "nothing at all");

    let reads = [
        ("/streams/bad-1", vec![("accept", "application/atom+xml")], 406),
        ("/streams/bad-1", vec![("accept", "application/vnd.kurrent.atom+xml")], 406),
        ("/streams/bad-1?format=xml", vec![], 406),
        ("/streams/bad-1?embed=everything", vec![], 400),
        ("/streams/bad-1/x/forward/20", vec![], 400),
        ("/streams/bad-1/0/sideways/20", vec![], 400),
        ("/streams/bad-1/0/forward/0", vec![], 400),
        ("/streams/bad-1/head/forward/20", vec![], 400),
        ("/streams/%24all/head/forward/20", vec![], 400),
        ("/streams/bad-1/0/forward/5000", vec![], 400),
        ("/streams/bad-1/0/forward/-1", vec![], 400),
        ("/streams/bad-1/-1", vec![], 400),
        ("/streams/%24all/12/forward/20", vec![], 400),
        ("/streams/bad-1/0/forward/20", vec![("es-longpoll", "soon")], 400),
        ("/streams/bad-1", vec![("es-resolvelinktos", "maybe")], 400),
        ("/streams/bad-1", vec![], 404),
    ];
    for (path, headers, status) in reads {
        let answer = get(address, path, &headers).await;
        assert_eq!(answer.status, status, "{path} {headers:?}: {answer:?}");
        assert!(answer.json()["error"].is_string(), "{answer:?}");
    }
    let deleted = request(address, "DELETE", "/streams/bad-1", &[("es-harddelete", "yes")], b"").await;
    assert_eq!(deleted.status, 400, "{deleted:?}");
    running.finish().await;
}
