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
