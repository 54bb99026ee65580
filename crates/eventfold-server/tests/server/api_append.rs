//! Goal: appends through the JSON API keep the store's promises (expected
//! revisions, idempotent event ids, all-or-nothing transactions) and bad
//! input is a 4xx JSON error with nothing written.

use crate::api_client;

use api_client::Api;
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

async fn all_events(api: &Api) -> Vec<Value> {
    let answer = api.get("/api/v1/all?limit=10000&excludeSystem=true").await;
    assert_eq!(answer.status, StatusCode::OK);
    answer.lines()
}

#[tokio::test]
async fn an_append_answers_revision_and_position_and_reads_back() {
    let api = Api::start().await;
    let first = api.append("order-1", "Placed", 2).await;
    assert_eq!(first["stream"], "order-1");
    assert_eq!(first["revision"], 1);
    let position = first["position"].as_str().expect("position is a string");
    assert!(position.parse::<u64>().is_ok(), "{position}");

    let read = api.get("/api/v1/streams/order-1").await;
    assert_eq!(read.status, StatusCode::OK);
    assert!(read.content_type().starts_with("application/x-ndjson"));
    let events = read.lines();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["position"], position);
    assert_eq!(events[0]["type"], "Placed");
    assert_eq!(events[0]["dataEncoding"], "json");
    assert_eq!(events[1]["data"], json!({"index": 1}));
    assert_eq!(events[0]["metadata"], Value::Null);
    api.finish().await;
}

#[tokio::test]
async fn expected_revisions_are_checked_and_a_conflict_says_the_current_one() {
    let api = Api::start().await;
    let body = |expected: Value| json!({"expectedRevision": expected, "events": [{"type": "T", "data": {}}]});
    assert_eq!(api.post("/api/v1/streams/cart-1", &body(json!("streamExists"))).await.json()["currentRevision"], -1);
    assert_eq!(api.post("/api/v1/streams/cart-1", &body(json!("noStream"))).await.status, StatusCode::OK);
    let conflict = api.post("/api/v1/streams/cart-1", &body(json!("noStream"))).await;
    conflict.assert_error(StatusCode::CONFLICT, "wrong-expected-revision");
    assert_eq!(conflict.json()["currentRevision"], 0);
    assert_eq!(api.post("/api/v1/streams/cart-1", &body(json!(0))).await.json()["revision"], 1);
    api.post("/api/v1/streams/cart-1", &body(json!(0)))
        .await
        .assert_error(StatusCode::CONFLICT, "wrong-expected-revision");
    assert_eq!(api.post("/api/v1/streams/cart-1", &body(json!("any"))).await.json()["revision"], 2);
    api.finish().await;
}

#[tokio::test]
async fn repeating_an_append_with_the_same_ids_writes_nothing() {
    let api = Api::start().await;
    let body = json!({"expectedRevision": "noStream", "events": [
        {"id": "7b1c5e38-7a3c-4b0e-9f55-0d7f6c2d9a01", "type": "T", "data": {"n": 1}},
        {"id": "7b1c5e38-7a3c-4b0e-9f55-0d7f6c2d9a02", "type": "T", "data": {"n": 2}},
    ]});
    let first = api.post("/api/v1/streams/idem-1", &body).await;
    let again = api.post("/api/v1/streams/idem-1", &body).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(again.status, StatusCode::OK, "{}", String::from_utf8_lossy(&again.body));
    assert_eq!(first.json(), again.json());
    let events = api.get("/api/v1/streams/idem-1").await.lines();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["id"], "7b1c5e38-7a3c-4b0e-9f55-0d7f6c2d9a01");
    api.finish().await;
}

#[tokio::test]
async fn binary_events_go_in_and_come_out_as_base64() {
    let api = Api::start().await;
    let body = json!({"events": [{"type": "Blob", "dataEncoding": "base64", "data": "AAECAw==",
        "metadata": {"source": "test"}}]});
    assert_eq!(api.post("/api/v1/streams/blob-1", &body).await.status, StatusCode::OK);
    let [event] = api.get("/api/v1/streams/blob-1").await.lines().try_into().expect("one event");
    assert_eq!(event["contentType"], "application/octet-stream");
    assert_eq!((event["dataEncoding"].clone(), event["data"].clone()), (json!("base64"), json!("AAECAw==")));
    assert_eq!(
        (event["metadataEncoding"].clone(), event["metadata"].clone()),
        (json!("json"), json!({"source": "test"}))
    );
    api.finish().await;
}

#[tokio::test]
async fn a_transaction_writes_every_stream_or_none() {
    let api = Api::start().await;
    let ok = api
        .post(
            "/api/v1/transactions",
            &json!({"appends": [
                {"stream": "tx-a", "expectedRevision": "noStream", "events": [{"type": "A", "data": {}}]},
                {"stream": "tx-b", "events": [{"type": "B", "data": {}}, {"type": "B", "data": {}}]},
            ]}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", String::from_utf8_lossy(&ok.body));
    let results = ok.json()["results"].clone();
    assert_eq!((results[0]["stream"].clone(), results[0]["revision"].clone()), (json!("tx-a"), json!(0)));
    assert_eq!(results[1]["revision"], 1);

    let refused = api
        .post(
            "/api/v1/transactions",
            &json!({"appends": [
                {"stream": "tx-c", "events": [{"type": "C", "data": {}}]},
                {"stream": "tx-a", "expectedRevision": "noStream", "events": [{"type": "A", "data": {}}]},
            ]}),
        )
        .await;
    refused.assert_error(StatusCode::CONFLICT, "wrong-expected-revision");
    api.get("/api/v1/streams/tx-c").await.assert_error(StatusCode::NOT_FOUND, "stream-not-found");
    api.post("/api/v1/transactions", &json!({"appends": []}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad-request");
    api.finish().await;
}

#[tokio::test]
async fn bad_input_is_a_json_4xx_and_nothing_is_written() {
    let api = Api::start().await;
    let valid = json!({"events": [{"type": "T", "data": {}}]}).to_string();
    let path = "/api/v1/streams/bad-1";
    let cases: Vec<(Option<&str>, String, StatusCode, &str)> = vec![
        (Some("application/json"), "{not json".into(), StatusCode::BAD_REQUEST, "invalid-json"),
        (Some("application/json"), "".into(), StatusCode::BAD_REQUEST, "invalid-json"),
        (Some("text/plain"), valid.clone(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type"),
        (None, valid.clone(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type"),
        (Some("application/json"), r#"{"events": [{"type": "T"}]}"#.into(), StatusCode::BAD_REQUEST, "invalid-json"),
        (Some("application/json"), r#"{"events": [], "extra": 1}"#.into(), StatusCode::BAD_REQUEST, "invalid-json"),
        (
            Some("application/json"),
            r#"{"expectedRevision": -1, "events": []}"#.into(),
            StatusCode::BAD_REQUEST,
            "invalid-json",
        ),
        (
            Some("application/json"),
            r#"{"events": [{"type": "T", "data": {}, "id": "nope"}]}"#.into(),
            StatusCode::BAD_REQUEST,
            "invalid-json",
        ),
        (
            Some("application/json"),
            r#"{"events": [{"type": "", "data": {}}]}"#.into(),
            StatusCode::BAD_REQUEST,
            "invalid-event",
        ),
        (
            Some("application/json"),
            r#"{"events": [{"type": "T", "dataEncoding": "base64", "data": "!!"}]}"#.into(),
            StatusCode::BAD_REQUEST,
            "bad-request",
        ),
        (Some("application/json"), "[1, 2]".into(), StatusCode::BAD_REQUEST, "invalid-json"),
    ];
    for (content_type, body, status, code) in cases {
        let answer = api.send(Method::POST, path, content_type, body.clone()).await;
        answer.assert_error(status, code);
    }
    for bad_name in ["%0Abad", "%24all"] {
        let answer = api
            .send(Method::POST, &format!("/api/v1/streams/{bad_name}"), Some("application/json"), valid.clone())
            .await;
        answer.assert_error(StatusCode::BAD_REQUEST, "invalid-stream-name");
    }
    // Past the node's append limit (1 MiB by default), and past the body limit.
    let big = json!({"events": [{"type": "T", "data": "x".repeat(1024 * 1024 + 1)}]}).to_string();
    api.send(Method::POST, path, Some("application/json"), big)
        .await
        .assert_error(StatusCode::PAYLOAD_TOO_LARGE, "maximum-append-size-exceeded");
    let huge = format!("{{\"events\": [{{\"type\": \"T\", \"data\": \"{}\"}}]}}", "x".repeat(3 * 1024 * 1024));
    api.send(Method::POST, path, Some("application/json"), huge)
        .await
        .assert_error(StatusCode::PAYLOAD_TOO_LARGE, "body-too-large");
    // eventfold's own state streams are not the client's to write.
    let own = api
        .send(Method::POST, "/api/v1/streams/%24persistentsubscription-config", Some("application/json"), valid)
        .await;
    own.assert_error(StatusCode::FORBIDDEN, "access-denied");

    assert!(all_events(&api).await.is_empty(), "nothing was written");
    api.finish().await;
}
