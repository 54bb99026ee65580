//! Goal: the kinds of continuous query beside windowed aggregates work
//! through the HTTP API. A join of searches and clicks within a bound on
//! `created` is created through `/api/v1/queries` and writes its matches
//! (and, as a LEFT JOIN, the search with no click once the bound has
//! passed); a `MATCH_RECOGNIZE` pattern writes each match once it is final;
//! the same SQL through `/api/v1/sql` answers the same rows; a join with no
//! bound on `created` and a pattern ordered by something other than the log
//! are refused with the reason, storing nothing.

use crate::api_client;

use std::time::{Duration, Instant};

use api_client::Api;
use axum::http::StatusCode;
use serde_json::{Value, json};

fn join(kind: &str, bound: &str) -> String {
    format!(
        "SELECT s.stream AS searched_in, json_str(s.data, 'q') AS query, c.stream AS clicked_in \
         FROM event_type('Searched') s {kind} event_type('Clicked') c \
         ON json_str(s.data, 'session') = json_str(c.data, 'session') \
         AND c.created BETWEEN s.created AND s.created + INTERVAL '{bound}'"
    )
}

async fn append(api: &Api, stream: &str, events: Value) {
    let answer = api.post(&format!("/api/v1/streams/{stream}"), &json!({"events": events})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", String::from_utf8_lossy(&answer.body));
}

/// Waits until the query's result holds `expected` (in any order).
async fn result_rows(api: &Api, name: &str, expected: &[Value]) {
    let mut expected = expected.to_vec();
    expected.sort_by_key(Value::to_string);
    let started = Instant::now();
    loop {
        let result = api.get(&format!("/api/v1/queries/{name}/result")).await;
        assert_eq!(result.status, StatusCode::OK, "{}", String::from_utf8_lossy(&result.body));
        let mut rows = result.json()["rows"].as_array().cloned().expect("rows");
        rows.sort_by_key(Value::to_string);
        if rows == expected || started.elapsed() > Duration::from_secs(20) {
            assert_eq!(rows, expected, "the rows of {name}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn joins_match_searches_and_clicks_continuously_and_ad_hoc() {
    let api = Api::start().await;
    append(
        &api,
        "user-1",
        json!([
            {"type": "Searched", "data": {"session": "s1", "q": "red shoes"}},
            {"type": "Clicked", "data": {"session": "s1", "rank": 2}},
        ]),
    )
    .await;
    append(&api, "user-2", json!([{"type": "Searched", "data": {"session": "s2", "q": "blue hat"}}])).await;
    append(&api, "user-3", json!([{"type": "Clicked", "data": {"session": "s3", "rank": 1}}])).await;

    let inner = join("JOIN", "1 hour");
    let created = api.post("/api/v1/queries", &json!({"name": "clicks", "sql": inner})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&created.body));
    let matched = json!({"searched_in": "user-1", "query": "red shoes", "clicked_in": "user-1"});
    result_rows(&api, "clicks", std::slice::from_ref(&matched)).await;

    let left = join("LEFT JOIN", "100 milliseconds");
    let created = api.post("/api/v1/queries", &json!({"name": "searches", "sql": left})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&created.body));
    let unmatched = json!({"searched_in": "user-2", "query": "blue hat", "clicked_in": null});
    result_rows(&api, "searches", &[matched, unmatched]).await;

    let answer = api.post("/api/v1/sql", &json!({"sql": inner})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", String::from_utf8_lossy(&answer.body));
    assert_eq!(answer.json()["columns"], json!(["searched_in", "query", "clicked_in"]));
    assert_eq!(answer.json()["rows"], json!([["user-1", "red shoes", "user-1"]]));

    let unbounded = "SELECT s.stream FROM event_type('Searched') s JOIN event_type('Clicked') c \
                     ON json_str(s.data, 'session') = json_str(c.data, 'session')";
    let refused = api.post("/api/v1/queries", &json!({"name": "unbounded", "sql": unbounded})).await;
    refused.assert_error(StatusCode::BAD_REQUEST, "sql-plan");
    assert!(
        refused.json()["error"].as_str().is_some_and(|error| error.contains("bound on created")),
        "{}",
        refused.json()
    );
    api.get("/api/v1/queries/unbounded").await.assert_error(StatusCode::NOT_FOUND, "query-not-found");
    api.post("/api/v1/sql", &json!({"sql": unbounded})).await.assert_error(StatusCode::BAD_REQUEST, "sql-plan");
    api.finish().await;
}

const RETRIES: &str = "SELECT * FROM category('account') MATCH_RECOGNIZE ( \
    PARTITION BY stream ORDER BY position \
    MEASURES COUNT(F.*) AS failures, LAST(json_int(S.data, 'amount')) AS paid \
    ONE ROW PER MATCH AFTER MATCH SKIP PAST LAST ROW \
    PATTERN (F{2,} S) \
    DEFINE F AS event_type = 'PaymentFailed', S AS event_type = 'PaymentSucceeded' \
    ) WITHIN '1 hour'";

#[tokio::test]
async fn patterns_write_each_match_continuously_and_answer_ad_hoc() {
    let api = Api::start().await;
    let failed = || json!({"type": "PaymentFailed", "data": {"amount": 10}});
    let succeeded = |amount: i64| json!({"type": "PaymentSucceeded", "data": {"amount": amount}});
    append(&api, "account-1", json!([failed(), failed(), failed(), succeeded(30)])).await;
    // One failure is not a retry run; two are.
    append(&api, "account-2", json!([failed(), succeeded(5), failed(), failed(), succeeded(7)])).await;

    let created = api.post("/api/v1/queries", &json!({"name": "retries", "sql": RETRIES})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&created.body));
    let first = json!({"stream": "account-1", "failures": 3, "paid": 30});
    let second = json!({"stream": "account-2", "failures": 2, "paid": 7});
    result_rows(&api, "retries", &[first.clone(), second.clone()]).await;

    // Live: a match forms while the query runs.
    append(&api, "account-3", json!([failed(), failed(), succeeded(9)])).await;
    let third = json!({"stream": "account-3", "failures": 2, "paid": 9});
    result_rows(&api, "retries", &[first, second, third]).await;

    let answer = api.post("/api/v1/sql", &json!({"sql": RETRIES})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", String::from_utf8_lossy(&answer.body));
    assert_eq!(answer.json()["columns"], json!(["stream", "failures", "paid"]));
    let mut rows = answer.json()["rows"].as_array().cloned().expect("rows");
    rows.sort_by_key(Value::to_string);
    assert_eq!(rows, [json!(["account-1", 3, 30]), json!(["account-2", 2, 7]), json!(["account-3", 2, 9])]);

    let reordered = RETRIES.replace("ORDER BY position", "ORDER BY json_int(data, 'amount')");
    let refused = api.post("/api/v1/queries", &json!({"name": "reordered", "sql": reordered})).await;
    refused.assert_error(StatusCode::BAD_REQUEST, "sql-plan");
    api.get("/api/v1/queries/reordered").await.assert_error(StatusCode::NOT_FOUND, "query-not-found");
    api.finish().await;
}
