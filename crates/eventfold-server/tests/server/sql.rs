//! Goal: `POST /api/v1/sql` answers a query over the log as JSON rows, or
//! streamed NDJSON objects; refuses bad SQL with the position of the
//! error, and any statement that is not a query, writing nothing; and with
//! authentication on, reads only what the caller may read: `events` needs
//! `$all`, `stream('…')` that stream.

use crate::api_client;
use crate::support;

use std::net::SocketAddr;

use api_client::Api;
use axum::http::{Method, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use support::http::{HttpResponse, request};

async fn sql(api: &Api, body: Value) -> api_client::Answer {
    api.post("/api/v1/sql", &body).await
}

#[tokio::test]
async fn sql_answers_rows_as_json_and_as_ndjson() {
    let api = Api::start().await;
    api.append("order-1", "OrderPlaced", 3).await;
    api.append("order-2", "OrderPlaced", 2).await;
    api.append("order-2", "OrderShipped", 1).await;

    let answer = sql(
        &api,
        json!({"sql": "SELECT stream, count(*) AS placed, sum(json_int(data, 'index')) AS total \
                       FROM events WHERE event_type = 'OrderPlaced' GROUP BY stream ORDER BY stream"}),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", String::from_utf8_lossy(&answer.body));
    assert_eq!(
        answer.json(),
        json!({
            "columns": ["stream", "placed", "total"],
            "rows": [["order-1", 3, 3], ["order-2", 2, 1]],
            "truncated": false
        })
    );

    let limited = sql(&api, json!({"sql": "SELECT position FROM category('order')", "limit": 4})).await;
    assert_eq!(limited.status, StatusCode::OK);
    assert_eq!(limited.json()["rows"].as_array().map(Vec::len), Some(4));
    assert_eq!(limited.json()["truncated"], true);

    let request = axum::http::Request::builder()
        .method(Method::POST)
        .uri("/api/v1/sql")
        .header("content-type", "application/json")
        .header("accept", "application/x-ndjson")
        .body(axum::body::Body::from(
            json!({"sql": "SELECT stream, revision, event_type FROM stream('order-2')"}).to_string(),
        ))
        .expect("request");
    let response = api.request(request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let body = http_body_util::BodyExt::collect(response.into_body()).await.expect("body").to_bytes();
    let lines: Vec<Value> = std::str::from_utf8(&body)
        .expect("UTF-8")
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    assert_eq!(
        lines,
        vec![
            json!({"stream": "order-2", "revision": 0, "event_type": "OrderPlaced"}),
            json!({"stream": "order-2", "revision": 1, "event_type": "OrderPlaced"}),
            json!({"stream": "order-2", "revision": 2, "event_type": "OrderShipped"}),
        ]
    );
    api.finish().await;
}

#[tokio::test]
async fn sql_refuses_bad_queries_and_statements_that_are_not_queries() {
    let api = Api::start().await;
    api.append("order-1", "OrderPlaced", 1).await;

    let syntax = sql(&api, json!({"sql": "SELECT stream\nFROM events WHERE position > > 3"})).await;
    syntax.assert_error(StatusCode::BAD_REQUEST, "sql-syntax");
    assert_eq!((syntax.json()["line"].clone(), syntax.json()["column"].clone()), (json!(2), json!(30)));

    let unknown = sql(&api, json!({"sql": "SELECT colour FROM events"})).await;
    unknown.assert_error(StatusCode::BAD_REQUEST, "sql-plan");
    assert_eq!((unknown.json()["line"].clone(), unknown.json()["column"].clone()), (json!(1), json!(8)));

    for statement in ["DROP TABLE events", "INSERT INTO events (stream) VALUES ('x')", "COPY events TO '/tmp/out'"] {
        sql(&api, json!({"sql": statement})).await.assert_error(StatusCode::BAD_REQUEST, "not-a-query");
    }
    sql(&api, json!({"query": "SELECT 1"})).await.assert_error(StatusCode::BAD_REQUEST, "invalid-json");

    let count = sql(&api, json!({"sql": "SELECT count(*) FROM events WHERE stream = 'order-1'"})).await;
    assert_eq!(count.json()["rows"], json!([[1]]), "nothing was written");
    api.finish().await;
}

type Credentials = Option<(&'static str, &'static str)>;

async fn post_sql(address: SocketAddr, credentials: Credentials, sql: &str) -> HttpResponse {
    let authorization =
        credentials.map(|(login, password)| format!("Basic {}", STANDARD.encode(format!("{login}:{password}"))));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(authorization) = authorization.as_deref() {
        headers.push(("authorization", authorization));
    }
    request(address, "POST", "/api/v1/sql", &headers, json!({"sql": sql}).to_string().as_bytes()).await
}

#[tokio::test]
async fn sql_reads_only_what_the_caller_may_read() {
    let (_dir, server) = support::secure_server_with_users(&[("bob", "bob-pw", &[])]).await;
    let address = server.address;
    let append = request(
        address,
        "POST",
        "/api/v1/streams/order-1",
        &[
            ("content-type", "application/json"),
            ("authorization", &format!("Basic {}", STANDARD.encode("admin:changeit"))),
        ],
        json!({"events": [{"type": "OrderPlaced", "data": {"total": 5}}]}).to_string().as_bytes(),
    )
    .await;
    assert_eq!(append.status, 200, "{append:?}");

    let anonymous = post_sql(address, None, "SELECT count(*) FROM events").await;
    assert_eq!(anonymous.status, 401, "{anonymous:?}");
    let bob_all = post_sql(address, Some(("bob", "bob-pw")), "SELECT count(*) FROM events").await;
    assert_eq!(bob_all.status, 403, "{bob_all:?}");
    assert_eq!(bob_all.json()["code"], "access-denied");
    let bob_stream =
        post_sql(address, Some(("bob", "bob-pw")), "SELECT json_int(data, 'total') FROM stream('order-1')").await;
    assert_eq!(bob_stream.status, 200, "{bob_stream:?}");
    assert_eq!(bob_stream.json()["rows"], json!([[5]]));
    let admin_all =
        post_sql(address, Some(("admin", "changeit")), "SELECT count(*) FROM events WHERE stream = 'order-1'").await;
    assert_eq!(admin_all.status, 200, "{admin_all:?}");
    assert_eq!(admin_all.json()["rows"], json!([[1]]));
    server.finish().await;
}
