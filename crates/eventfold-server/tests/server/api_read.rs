//! Goal: reads through the JSON API page through a stream and `$all` both
//! ways without a gap or a repeat, filters narrow `$all`, and the resources
//! around streams (listings, metadata, deletes, persistent subscription
//! groups) answer as documented, with 4xx JSON errors for bad input.

use crate::api_client;

use api_client::Api;
use axum::http::StatusCode;
use serde_json::{Value, json};

fn revisions(events: &[Value]) -> Vec<u64> {
    events.iter().map(|event| event["revision"].as_u64().expect("revision")).collect()
}

#[tokio::test]
async fn a_stream_pages_forwards_and_backwards_from_where_the_last_page_ended() {
    let api = Api::start().await;
    api.append("page-1", "T", 10).await;
    let mut seen = Vec::new();
    let mut from = "start".to_owned();
    loop {
        let page = api.get(&format!("/api/v1/streams/page-1?from={from}&limit=4")).await.lines();
        seen.extend(revisions(&page));
        if page.len() < 4 {
            break;
        }
        from = (page[3]["revision"].as_u64().expect("revision") + 1).to_string();
    }
    assert_eq!(seen, (0..10).collect::<Vec<_>>());

    let back = api.get("/api/v1/streams/page-1?direction=backwards&limit=3").await.lines();
    assert_eq!(revisions(&back), vec![9, 8, 7]);
    let next = api.get("/api/v1/streams/page-1?direction=backwards&from=6&limit=3").await.lines();
    assert_eq!(revisions(&next), vec![6, 5, 4]);
    api.finish().await;
}

#[tokio::test]
async fn all_pages_by_position_and_filters_narrow_it() {
    let api = Api::start().await;
    api.append("alpha-1", "Created", 3).await;
    api.append("beta-1", "Shipped", 3).await;
    api.append("alpha-2", "Shipped", 1).await;

    let mut forwards = Vec::new();
    let mut from = "start".to_owned();
    loop {
        let page = api.get(&format!("/api/v1/all?from={from}&limit=2&excludeSystem=true")).await.lines();
        let Some(last) = page.last() else { break };
        from = (last["position"].as_str().expect("position").parse::<u64>().expect("number") + 1).to_string();
        forwards.extend(page);
    }
    let streams: Vec<&str> = forwards.iter().map(|event| event["stream"].as_str().expect("stream")).collect();
    assert_eq!(streams, ["alpha-1", "alpha-1", "alpha-1", "beta-1", "beta-1", "beta-1", "alpha-2"]);

    let mut backwards = Vec::new();
    let mut from = "end".to_owned();
    loop {
        let page =
            api.get(&format!("/api/v1/all?from={from}&direction=backwards&limit=3&excludeSystem=true")).await.lines();
        let Some(last) = page.last() else { break };
        from = last["position"].as_str().expect("position").to_owned();
        backwards.extend(page);
    }
    backwards.reverse();
    assert_eq!(backwards, forwards, "backwards pages hold the same events");

    let alpha = api.get("/api/v1/all?streamPrefix=alpha-,gamma-").await.lines();
    assert_eq!(alpha.len(), 4);
    let shipped = api.get("/api/v1/all?eventTypeRegex=%5EShip").await.lines();
    assert_eq!(shipped.len(), 4);
    let typed = api.get("/api/v1/all?eventTypePrefix=Created").await.lines();
    assert_eq!(typed.len(), 3);

    for bad in [
        "from=-1",
        "from=abc",
        "limit=0",
        "limit=10001",
        "direction=sideways",
        "streamRegex=(unclosed",
        "streamPrefix=a&excludeSystem=true",
        "unknown=1",
    ] {
        let answer = api.get(&format!("/api/v1/all?{bad}")).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad}: {}", String::from_utf8_lossy(&answer.body));
        assert!(answer.json()["code"].is_string(), "{bad}");
    }
    api.finish().await;
}

#[tokio::test]
async fn missing_deleted_and_tombstoned_streams_answer_404_and_410() {
    let api = Api::start().await;
    api.get("/api/v1/streams/nothing-here").await.assert_error(StatusCode::NOT_FOUND, "stream-not-found");
    api.append("gone-1", "T", 2).await;
    api.delete("/api/v1/streams/gone-1?expectedRevision=0")
        .await
        .assert_error(StatusCode::CONFLICT, "wrong-expected-revision");
    let deleted = api.delete("/api/v1/streams/gone-1?expectedRevision=1").await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", String::from_utf8_lossy(&deleted.body));
    api.get("/api/v1/streams/gone-1").await.assert_error(StatusCode::NOT_FOUND, "stream-not-found");
    // Soft-deleted streams can be written again; their revisions go on.
    assert_eq!(api.append("gone-1", "T", 1).await["revision"], 2);

    api.append("gone-2", "T", 1).await;
    assert_eq!(api.delete("/api/v1/streams/gone-2?tombstone=true").await.status, StatusCode::OK);
    api.get("/api/v1/streams/gone-2").await.assert_error(StatusCode::GONE, "stream-deleted");
    api.post("/api/v1/streams/gone-2", &json!({"events": [{"type": "T", "data": {}}]}))
        .await
        .assert_error(StatusCode::GONE, "stream-deleted");
    api.get("/api/v1/streams/gone-2/metadata").await.assert_error(StatusCode::GONE, "stream-deleted");
    api.delete("/api/v1/streams/gone-3?expectedRevision=maybe")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad-request");
    api.finish().await;
}

#[tokio::test]
async fn metadata_is_read_and_replaced_and_the_store_applies_it() {
    let api = Api::start().await;
    let none = api.get("/api/v1/streams/meta-1/metadata").await;
    assert_eq!(none.json(), json!({"stream": "meta-1", "metadata": {}, "revision": null}));
    api.append("meta-1", "T", 5).await;
    let set = api.put("/api/v1/streams/meta-1/metadata", &json!({"metadata": {"$maxCount": 2, "owner": "me"}})).await;
    assert_eq!(set.status, StatusCode::OK, "{}", String::from_utf8_lossy(&set.body));
    assert_eq!(set.json()["stream"], "$$meta-1");
    let read = api.get("/api/v1/streams/meta-1/metadata").await.json();
    assert_eq!(read["metadata"], json!({"$maxCount": 2, "owner": "me"}));
    assert_eq!(read["revision"], 0);
    assert_eq!(revisions(&api.get("/api/v1/streams/meta-1").await.lines()), vec![3, 4], "$maxCount applies");
    let stale =
        api.put("/api/v1/streams/meta-1/metadata", &json!({"metadata": {}, "expectedRevision": "noStream"})).await;
    stale.assert_error(StatusCode::CONFLICT, "wrong-expected-revision");
    let not_an_object = api.put("/api/v1/streams/meta-1/metadata", &json!({"metadata": [1]})).await;
    not_an_object.assert_error(StatusCode::BAD_REQUEST, "invalid-json");
    api.finish().await;
}

#[tokio::test]
async fn streams_are_listed_newest_created_or_changed_first() {
    let api = Api::start().await;
    for stream in ["list-a", "list-b", "list-c"] {
        api.append(stream, "T", 1).await;
    }
    api.append("list-a", "T", 1).await;
    let names = |answer: api_client::Answer| -> Vec<String> {
        answer.json()["streams"]
            .as_array()
            .expect("list")
            .iter()
            .map(|s| s["stream"].as_str().expect("name").to_owned())
            .collect()
    };
    assert_eq!(names(api.get("/api/v1/streams?order=changed").await), ["list-a", "list-c", "list-b"]);
    assert_eq!(names(api.get("/api/v1/streams?order=created").await), ["list-c", "list-b", "list-a"]);
    assert_eq!(names(api.get("/api/v1/streams?order=created&limit=1").await), ["list-c"]);
    let with_system = names(api.get("/api/v1/streams?order=changed&includeSystem=true").await);
    assert!(with_system.contains(&"list-b".to_owned()));
    api.get("/api/v1/streams?order=oldest").await.assert_error(StatusCode::BAD_REQUEST, "invalid-query");
    api.get("/api/v1/streams?limit=0").await.assert_error(StatusCode::BAD_REQUEST, "bad-request");
    api.finish().await;
}

#[tokio::test]
async fn persistent_subscription_groups_are_created_updated_listed_and_deleted() {
    let api = Api::start().await;
    let path = "/api/v1/subscriptions/orders-1/workers";
    let created = api.put(path, &json!({"startFrom": "start", "consumerStrategy": "DispatchToSingle"})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&created.body));
    assert_eq!(created.json()["consumerStrategy"], "DispatchToSingle");
    let updated = api.put(path, &json!({"consumerStrategy": "RoundRobin"})).await;
    assert_eq!(updated.status, StatusCode::OK);
    assert_eq!(api.get(path).await.json()["consumerStrategy"], "RoundRobin");
    let all = api
        .put("/api/v1/subscriptions/%24all/audit", &json!({"filter": {"target": "eventType", "prefixes": ["Order"]}}))
        .await;
    assert_eq!(all.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&all.body));
    let listed = api.get("/api/v1/subscriptions").await.json();
    let keys: Vec<(String, String)> = listed["subscriptions"]
        .as_array()
        .expect("list")
        .iter()
        .map(|group| (group["stream"].as_str().expect("s").to_owned(), group["group"].as_str().expect("g").to_owned()))
        .collect();
    assert!(keys.contains(&("orders-1".into(), "workers".into())) && keys.contains(&("$all".into(), "audit".into())));
    assert_eq!(
        api.send(axum::http::Method::POST, &format!("{path}/replay-parked"), None, "").await.status,
        StatusCode::ACCEPTED
    );

    api.put(path, &json!({"consumerStrategy": "Nope"})).await.assert_error(StatusCode::BAD_REQUEST, "invalid-settings");
    api.put(path, &json!({"readBatchSize": 600})).await.assert_error(StatusCode::BAD_REQUEST, "invalid-settings");
    api.put("/api/v1/subscriptions/orders-1/x", &json!({"filter": {"target": "eventType", "prefixes": ["a"]}}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid-settings");
    assert_eq!(api.delete(path).await.status, StatusCode::NO_CONTENT);
    api.get(path).await.assert_error(StatusCode::NOT_FOUND, "group-not-found");
    api.delete(path).await.assert_error(StatusCode::NOT_FOUND, "group-not-found");
    api.finish().await;
}

#[tokio::test]
async fn scavenges_answer_at_the_api_paths() {
    let api = Api::start().await;
    api.append("scav-1", "T", 3).await;
    let started = api.send(axum::http::Method::POST, "/api/v1/scavenges", None, "").await;
    assert!(matches!(started.status.as_u16(), 202 | 409), "{}", String::from_utf8_lossy(&started.body));
    let id = started.json()["id"].as_str().expect("id").to_owned();
    let status = api.get(&format!("/api/v1/scavenges/{id}")).await;
    assert_eq!(status.status, StatusCode::OK);
    assert_eq!(api.get("/api/v1/scavenges/last").await.json()["id"], id.as_str());
    assert_eq!(api.get("/api/v1/scavenges/not-an-id").await.status, StatusCode::NOT_FOUND);
    api.finish().await;
}
