//! Goal: live feeds as Server-Sent Events deliver history, `caught-up`,
//! then live events; a client that disconnects and comes back with
//! `Last-Event-ID` misses nothing and sees nothing twice, on a stream and on
//! `$all`; bad starts are 4xx JSON errors.

use crate::api_client;

use std::collections::BTreeSet;
use std::time::Duration;

use api_client::{Api, Feed};
use axum::http::StatusCode;
use serde_json::Value;

fn data(event: &api_client::SseEvent) -> Value {
    serde_json::from_str(&event.data).expect("JSON data")
}

#[tokio::test]
async fn a_stream_feed_resumes_after_a_disconnect_with_nothing_missed_or_repeated() {
    let api = Api::start().await;
    api.append("live-1", "T", 5).await;

    let (status, mut feed) = Feed::open(&api, "/api/v1/streams/live-1/live?from=start", None).await;
    assert_eq!(status, StatusCode::OK);
    let history = feed.events(5).await;
    let caught_up = feed.next(Duration::from_secs(10)).await.expect("caught-up");
    assert_eq!(caught_up.event, "caught-up");
    api.append("live-1", "T", 3).await;
    let live = feed.events(2).await;
    let last_id = live[1].id.clone().expect("an id");
    drop(feed); // the client goes away mid-stream

    api.append("live-1", "T", 4).await;
    let (status, mut resumed) = Feed::open(&api, "/api/v1/streams/live-1/live", Some(&last_id)).await;
    assert_eq!(status, StatusCode::OK);
    let rest = resumed.events(5).await;

    let revisions: Vec<u64> =
        history.iter().chain(&live).chain(&rest).map(|event| data(event)["revision"].as_u64().expect("rev")).collect();
    assert_eq!(revisions, (0..12).collect::<Vec<_>>(), "every event once, in order");
    assert!(history.iter().all(|event| event.id == Some(data(event)["revision"].to_string())));
    api.finish().await;
}

#[tokio::test]
async fn the_all_feed_resumes_by_position_and_filters() {
    let api = Api::start().await;
    api.append("feed-a", "T", 3).await;
    api.append("other-b", "T", 2).await;
    let path = "/api/v1/all/live?from=start&streamPrefix=feed-";
    let (status, mut feed) = Feed::open(&api, path, None).await;
    assert_eq!(status, StatusCode::OK);
    let first = feed.events(2).await;
    let last_id = first[1].id.clone().expect("an id");
    assert_eq!(Some(data(&first[1])["position"].as_str().expect("position").to_owned()), first[1].id);
    drop(feed);

    api.append("feed-a", "T", 2).await;
    let (_, mut resumed) = Feed::open(&api, "/api/v1/all/live?streamPrefix=feed-", Some(&last_id)).await;
    let rest = resumed.events(3).await;
    let positions: Vec<String> = first.iter().chain(&rest).map(|event| event.id.clone().expect("id")).collect();
    let distinct: BTreeSet<&String> = positions.iter().collect();
    assert_eq!(distinct.len(), 5, "no event twice: {positions:?}");
    assert!(first.iter().chain(&rest).all(|event| data(event)["stream"] == "feed-a"));
    api.finish().await;
}

#[tokio::test]
async fn bad_starts_are_refused_before_the_feed_opens() {
    let api = Api::start().await;
    for (path, last_event_id) in [
        ("/api/v1/all/live?from=nowhere", None),
        ("/api/v1/all/live", Some("not-a-number")),
        ("/api/v1/all/live?streamRegex=(", None),
        ("/api/v1/streams/%0A/live", None),
        ("/api/v1/streams/x/live?unknown=1", None),
    ] {
        let (status, _) = Feed::open(&api, path, last_event_id).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
    }
    api.append("tomb-1", "T", 1).await;
    api.delete("/api/v1/streams/tomb-1?tombstone=true").await;
    let (status, _) = Feed::open(&api, "/api/v1/streams/tomb-1/live", None).await;
    assert!(status.is_client_error(), "{status}");
    api.finish().await;
}

/// Goal: several stream feeds on one connection (`/api/v1/live`, what the
/// web UI's tabs share): each event says which feed it belongs to and its
/// revision; a feed that cannot open says so and the others go on; each
/// feed starts where it was asked to.
#[tokio::test]
async fn several_feeds_share_one_connection_and_a_refused_one_leaves_the_others() {
    let api = Api::start().await;
    api.append("many-a", "T", 3).await;
    api.append("many-b", "T", 2).await;
    api.append("many-gone", "T", 1).await;
    api.delete("/api/v1/streams/many-gone?tombstone=true").await;

    let path = "/api/v1/live?follow=many-a%401&follow=many-gone%40start&follow=many-b%40start";
    let (status, mut feed) = Feed::open(&api, path, None).await;
    assert_eq!(status, StatusCode::OK);
    let mut seen = Vec::new();
    let mut caught_up = BTreeSet::new();
    let mut refused = None;
    while seen.len() < 3 || caught_up.len() < 2 || refused.is_none() {
        let next = feed.next(Duration::from_secs(10)).await.expect("an event within 10 s");
        match next.event.as_str() {
            "event" => seen.push((next.id.clone().expect("an id"), data(&next)["stream"].clone())),
            "caught-up" => {
                caught_up.insert(data(&next)["feed"].as_u64().expect("feed"));
            }
            "error" => refused = Some(data(&next)),
            other => panic!("unexpected {other}"),
        }
    }
    seen.sort_by(|left, right| left.0.cmp(&right.0));
    let ids: Vec<&str> = seen.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["0:2", "2:0", "2:1"], "many-a after revision 1, many-b from the start");
    assert!(seen.iter().all(|(id, stream)| stream == if id.starts_with("0:") { "many-a" } else { "many-b" }));
    assert_eq!(caught_up, BTreeSet::from([0, 2]));
    let refused = refused.expect("the tombstoned stream's feed is refused");
    assert_eq!((refused["feed"].as_u64(), refused["status"].as_u64()), (Some(1), Some(410)));

    api.append("many-b", "T", 1).await;
    let live = feed.events(1).await;
    assert_eq!(live[0].id.as_deref(), Some("2:2"), "live events keep coming on the same connection");

    for bad in ["/api/v1/live", "/api/v1/live?follow=no-from", "/api/v1/live?follow=x%40soon", "/api/v1/live?other=1"] {
        let (status, _) = Feed::open(&api, bad, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
    api.finish().await;
}
