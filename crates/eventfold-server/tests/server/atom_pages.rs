//! Goal: streams and `$all` read over KurrentDB's HTTP stream API as feeds
//! its clients walk: newest entries first, `first`/`last`/`next`/`previous`
//! links that lead through every event once in both directions, each embed
//! level's fields, links resolved unless `ES-ResolveLinkTos: false`, the
//! head page revalidated by its ETag (304), and a long poll that answers
//! as soon as an event arrives.

use crate::support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use eventfold_engine::Engine;
use eventfold_store::{AppendRequest, ContentType, EventStore, ExpectedRevision, ProposedEvent, StreamName};
use serde_json::Value;
use support::http::get;
use support::{open_engine, serve_with_atom_pub};

const ATOM_JSON: (&str, &str) = ("accept", "application/vnd.eventstore.atom+json");

async fn append(engine: &Engine, stream: &str, events: Vec<ProposedEvent>) {
    let request = AppendRequest::new(StreamName::new(stream).expect("name"), ExpectedRevision::Any, events);
    engine.append(request).await.expect("append");
}

async fn append_numbered(engine: &Engine, stream: &str, numbers: std::ops::Range<u64>) {
    let events = numbers.map(|n| ProposedEvent::json("Placed", format!(r#"{{"n":{n}}}"#))).collect();
    append(engine, stream, events).await;
}

fn link(feed: &Value, relation: &str) -> Option<String> {
    feed["links"].as_array()?.iter().find(|link| link["relation"] == relation)?["uri"]
        .as_str()
        .map(|uri| uri.trim_start_matches("http://localhost").to_owned())
}

fn titles(feed: &Value) -> Vec<String> {
    feed["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|entry| entry["title"].as_str().expect("a title").to_owned())
        .collect()
}

async fn feed(address: SocketAddr, path: &str) -> Value {
    let answer = get(address, path, &[ATOM_JSON]).await;
    assert_eq!(answer.status, 200, "{path}: {answer:?}");
    answer.json()
}

#[tokio::test]
async fn pages_link_through_a_stream_both_ways() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = serve_with_atom_pub(open_engine(&dir)).await;
    let address = running.address;
    append_numbered(&running.engine, "page-1", 0..5).await;

    let head = feed(address, "/streams/page-1").await;
    assert_eq!(head["title"], "Event stream 'page-1'");
    assert_eq!((head["streamId"].as_str(), head["headOfStream"].as_bool()), (Some("page-1"), Some(true)));
    assert_eq!(head["author"]["name"], "EventStore");
    assert_eq!(titles(&head), ["4@page-1", "3@page-1", "2@page-1", "1@page-1", "0@page-1"]);
    assert_eq!(link(&head, "first").as_deref(), Some("/streams/page-1/head/backward/20"));
    assert_eq!(link(&head, "previous").as_deref(), Some("/streams/page-1/5/forward/20"));
    assert_eq!(link(&head, "metadata").as_deref(), Some("/streams/page-1/metadata"));
    assert_eq!(link(&head, "next"), None, "everything is on the head page");

    // Backwards, two at a time, from the head to the first event.
    let mut seen = Vec::new();
    let mut next = Some("/streams/page-1/head/backward/2".to_owned());
    while let Some(path) = next {
        let page = feed(address, &path).await;
        seen.extend(titles(&page));
        next = link(&page, "next");
    }
    assert_eq!(seen, ["4@page-1", "3@page-1", "2@page-1", "1@page-1", "0@page-1"]);

    // Forwards from the first event, by `previous`, until a page is empty.
    let mut seen = Vec::new();
    let mut previous = Some("/streams/page-1/0/forward/2".to_owned());
    let mut last_path = String::new();
    while let Some(path) = previous {
        let answer = get(address, &path, &[ATOM_JSON]).await;
        let page = answer.json();
        let mut entries = titles(&page);
        entries.reverse();
        seen.extend(entries);
        if page["entries"].as_array().is_some_and(|entries| entries.len() == 2) {
            assert_eq!(answer.header("cache-control"), Some("max-age=31536000, public"), "a full page is final");
        }
        previous = link(&page, "previous").filter(|next| *next != path);
        last_path = path;
    }
    assert_eq!(seen, ["0@page-1", "1@page-1", "2@page-1", "3@page-1", "4@page-1"]);
    assert_eq!(last_path, "/streams/page-1/5/forward/2", "the empty page past the end is the one to poll");
    let forward = feed(address, "/streams/page-1/2/forward/2").await;
    assert_eq!(link(&forward, "next").as_deref(), Some("/streams/page-1/1/backward/2"));
    assert_eq!(link(&forward, "last").as_deref(), Some("/streams/page-1/0/forward/2"));

    let kurrent = get(address, "/streams/page-1", &[("accept", "application/vnd.kurrent.atom+json")]).await;
    assert!(kurrent.header("content-type").is_some_and(|value| value.starts_with("application/vnd.kurrent.atom+json")));
    let plain = get(address, "/streams/page-1?format=json", &[("accept", "text/xml")]).await;
    assert!(plain.header("content-type").is_some_and(|value| value.starts_with("application/json")));
    running.finish().await;
}

#[tokio::test]
async fn the_head_page_is_revalidated_by_its_etag() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = serve_with_atom_pub(open_engine(&dir)).await;
    let address = running.address;
    append_numbered(&running.engine, "tagged-1", 0..2).await;

    let head = get(address, "/streams/tagged-1", &[ATOM_JSON]).await;
    assert_eq!(head.header("cache-control"), Some("max-age=0, no-cache, must-revalidate"));
    let etag = head.header("etag").expect("an ETag").to_owned();
    assert_eq!(head.json()["eTag"].as_str(), Some(etag.as_str()));
    let unchanged = get(address, "/streams/tagged-1", &[ATOM_JSON, ("if-none-match", &etag)]).await;
    assert_eq!((unchanged.status, unchanged.body.len()), (304, 0), "{unchanged:?}");
    let other_embed = get(address, "/streams/tagged-1?embed=body", &[ATOM_JSON, ("if-none-match", &etag)]).await;
    assert_eq!(other_embed.status, 200, "another body has another tag");

    append_numbered(&running.engine, "tagged-1", 2..3).await;
    let changed = get(address, "/streams/tagged-1", &[ATOM_JSON, ("if-none-match", &etag)]).await;
    assert_eq!(changed.status, 200);
    assert_ne!(changed.header("etag"), Some(etag.as_str()));
    assert_eq!(titles(&changed.json())[0], "2@tagged-1");
    running.finish().await;
}

#[tokio::test]
async fn each_embed_level_carries_its_fields_and_links_resolve_unless_told_not_to() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = serve_with_atom_pub(open_engine(&dir)).await;
    let address = running.address;
    let mut event = ProposedEvent::json("Placed", r#"{"n":0}"#);
    event.metadata = Bytes::from_static(br#"{"by":"me"}"#);
    let binary_json =
        ProposedEvent { content_type: ContentType::Binary, ..ProposedEvent::json("Raw", r#"{"raw":true}"#) };
    append(&running.engine, "embed-1", vec![event, binary_json]).await;
    let first = |feed: &Value| feed["entries"][1].clone();

    let none = first(&feed(address, "/streams/embed-1").await);
    assert_eq!((none["title"].as_str(), none["summary"].as_str()), (Some("0@embed-1"), Some("Placed")));
    assert!(none.get("eventId").is_none() && none.get("content").is_none() && none.get("data").is_none());
    assert_eq!(none["links"][0]["relation"], "edit");
    assert_eq!(none["id"], "http://localhost/streams/embed-1/0");

    let content = first(&feed(address, "/streams/embed-1?embed=content").await);
    assert_eq!(content["content"]["data"]["n"], 0);
    assert_eq!(content["content"]["metadata"]["by"], "me");
    assert_eq!(content["content"]["eventType"], "Placed");

    let rich = first(&feed(address, "/streams/embed-1?embed=rich").await);
    assert_eq!((rich["eventNumber"].as_u64(), rich["isJson"].as_bool()), (Some(0), Some(true)));
    assert_eq!((rich["positionEventNumber"].as_u64(), rich["streamId"].as_str()), (Some(0), Some("embed-1")));
    assert!(rich["eventId"].is_string() && rich.get("data").is_none());

    let body = feed(address, "/streams/embed-1?embed=body").await;
    assert_eq!(first(&body)["data"], r#"{"n":0}"#);
    assert_eq!(first(&body)["metaData"], r#"{"by":"me"}"#);
    assert_eq!(body["entries"][0]["isJson"], false);
    assert!(body["entries"][0].get("data").is_none(), "data not marked JSON is left out");

    let pretty = first(&feed(address, "/streams/embed-1?embed=PrettyBody").await);
    assert!(pretty["data"].as_str().is_some_and(|data| data.contains('\n')), "{pretty}");
    let harder = feed(address, "/streams/embed-1?embed=tryharder").await;
    assert_eq!(harder["entries"][0]["isJson"], true, "data that parses is JSON after all");
    assert!(harder["entries"][0]["data"].as_str().is_some_and(|data| data.contains("raw")));

    // A link event in another stream stands for its target.
    let link_event = ProposedEvent {
        content_type: ContentType::Binary,
        ..ProposedEvent::json(eventfold_store::LINK_EVENT_TYPE, "0@embed-1")
    };
    append(&running.engine, "links-1", vec![link_event]).await;
    let resolved = feed(address, "/streams/links-1?embed=rich").await["entries"][0].clone();
    assert_eq!((resolved["eventType"].as_str(), resolved["streamId"].as_str()), (Some("Placed"), Some("embed-1")));
    assert_eq!((resolved["positionStreamId"].as_str(), resolved["summary"].as_str()), (Some("links-1"), Some("$>")));
    let unresolved = get(address, "/streams/links-1?embed=rich", &[ATOM_JSON, ("ES-ResolveLinkTos", "false")]).await;
    assert_eq!(unresolved.json()["entries"][0]["eventType"], "$>");
    running.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_answers_when_an_event_arrives() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = serve_with_atom_pub(open_engine(&dir)).await;
    let address = running.address;
    append_numbered(&running.engine, "poll-1", 0..1).await;

    // Nothing arrives: the poll waits its time, then answers empty.
    let started = Instant::now();
    let empty = get(address, "/streams/poll-1/1/forward/20", &[ATOM_JSON, ("ES-LongPoll", "1")]).await;
    assert!(started.elapsed() >= Duration::from_millis(900), "{:?}", started.elapsed());
    assert_eq!(titles(&empty.json()), Vec::<String>::new());

    let engine = running.engine.clone();
    let writer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        append_numbered(&engine, "poll-1", 1..2).await;
    });
    let started = Instant::now();
    let polled = get(address, "/streams/poll-1/1/forward/20", &[ATOM_JSON, ("Kurrent-LongPoll", "10")]).await;
    assert!(started.elapsed() < Duration::from_secs(5), "answered when the event came: {:?}", started.elapsed());
    assert_eq!(titles(&polled.json()), ["1@poll-1"]);
    writer.await.expect("writer");

    // The same for `$all`, from past its last event.
    let after = feed(address, "/streams/%24all/head/backward/1").await;
    let previous = link(&after, "previous").expect("a previous link");
    let engine = running.engine.clone();
    let writer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        append_numbered(&engine, "poll-2", 0..1).await;
    });
    let started = Instant::now();
    let polled = get(address, &previous, &[ATOM_JSON, ("ES-LongPoll", "10")]).await;
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert_eq!(titles(&polled.json()), ["0@poll-2"]);
    writer.await.expect("writer");
    running.finish().await;
}

#[tokio::test]
async fn all_is_read_in_pages_both_ways() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = serve_with_atom_pub(open_engine(&dir)).await;
    let address = running.address;
    append_numbered(&running.engine, "all-1", 0..3).await;
    append_numbered(&running.engine, "all-2", 0..2).await;

    let head = feed(address, "/streams/%24all").await;
    assert_eq!(head["title"], "All events");
    assert_eq!(head["id"], "http://localhost/streams/%24all");
    assert_eq!(titles(&head), ["1@all-2", "0@all-2", "2@all-1", "1@all-1", "0@all-1"]);
    assert_eq!(feed(address, "/streams/$all").await["entries"], head["entries"], "`$` unescaped too");

    let mut seen = Vec::new();
    let mut next = Some("/streams/%24all/head/backward/2".to_owned());
    while let Some(path) = next {
        let page = feed(address, &path).await;
        seen.extend(titles(&page));
        next = link(&page, "next");
    }
    assert_eq!(seen, titles(&head));

    let mut seen = Vec::new();
    let mut previous = Some("/streams/%24all/00000000000000000000000000000000/forward/2".to_owned());
    while let Some(path) = previous {
        let page = feed(address, &path).await;
        let mut entries = titles(&page);
        entries.reverse();
        seen.extend(entries);
        previous = link(&page, "previous");
    }
    let mut oldest_first = titles(&head);
    oldest_first.reverse();
    assert_eq!(seen, oldest_first);
    running.finish().await;
}
