//! Goal: `/api/v1/queries` creates a continuous query that writes a row
//! per closed window, lists it, shows how it is doing, answers its result,
//! resets and deletes it; refuses bad SQL (with its position), what cannot
//! be maintained continuously, a name taken and an unknown name, storing
//! nothing; and with authentication on, lets only `$ops`/`$admins` manage
//! queries and only those who may read `$all` read them.

use crate::api_client;
use crate::support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use api_client::Api;
use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use support::http::{HttpResponse, request};

const PER_WINDOW: &str = "SELECT date_bin('100 milliseconds', created) AS window, count(*) AS orders \
     FROM category('order') GROUP BY window";

/// Waits until the result's rows count `expected` orders.
async fn counted_rows(api: &Api, name: &str, expected: i64) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let result = api.get(&format!("/api/v1/queries/{name}/result")).await;
        assert_eq!(result.status, StatusCode::OK, "{}", String::from_utf8_lossy(&result.body));
        let rows = result.json()["rows"].as_array().cloned().expect("rows");
        let counted: i64 = rows.iter().map(|row| row["orders"].as_i64().expect("a count")).sum();
        if counted == expected || started.elapsed() > Duration::from_secs(20) {
            assert_eq!(counted, expected, "the closed windows count every order: {rows:?}");
            assert_eq!(result.json()["columns"], json!(["window", "orders"]));
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn continuous_queries_are_created_listed_shown_reset_and_deleted() {
    let api = Api::start().await;
    api.append("order-1", "OrderPlaced", 3).await;
    api.append("order-2", "OrderPlaced", 2).await;

    let created = api.post("/api/v1/queries", &json!({"name": "per-window", "sql": PER_WINDOW})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&created.body));
    assert_eq!(created.json()["name"], "per-window");
    assert_eq!(created.json()["resultStream"], "$query-per-window");
    let rows = counted_rows(&api, "per-window", 5).await;
    assert!(!rows.is_empty());

    let listed = api.get("/api/v1/queries").await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.json()["queries"].as_array().map(Vec::len), Some(1));
    let shown = api.get("/api/v1/queries/per-window").await;
    assert_eq!(shown.status, StatusCode::OK);
    assert_eq!(shown.json()["state"], "running", "{}", shown.json());
    assert_eq!(shown.json()["sql"], PER_WINDOW);
    assert!(shown.json()["position"].is_string(), "positions are decimal strings: {}", shown.json());
    assert_eq!(shown.json()["lateEvents"], 0, "windows on created have no late events: {}", shown.json());

    // From the head: what was appended before it no longer counts.
    let head = api.get("/api/v1/queries/per-window").await.json()["position"].clone();
    let reset = api.post("/api/v1/queries/per-window/reset", &json!({"from": head})).await;
    assert_eq!(reset.status, StatusCode::OK, "{}", String::from_utf8_lossy(&reset.body));
    assert_eq!(reset.json()["from"], head);
    api.append("order-3", "OrderPlaced", 2).await;
    counted_rows(&api, "per-window", 2).await;
    let rebuilt = api.post("/api/v1/queries/per-window/reset", &json!({})).await;
    assert_eq!(rebuilt.status, StatusCode::OK);
    counted_rows(&api, "per-window", 7).await;

    let deleted = api.delete("/api/v1/queries/per-window").await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    api.get("/api/v1/queries/per-window").await.assert_error(StatusCode::NOT_FOUND, "query-not-found");
    api.get("/api/v1/queries/per-window/result").await.assert_error(StatusCode::NOT_FOUND, "query-not-found");
    assert_eq!(api.get("/api/v1/queries").await.json()["queries"], json!([]));
    api.finish().await;
}

#[tokio::test]
async fn continuous_queries_refuse_bad_requests_and_store_nothing() {
    let api = Api::start().await;
    let syntax =
        api.post("/api/v1/queries", &json!({"name": "q", "sql": "SELECT count(*)\nFROM events WHERE > 3"})).await;
    syntax.assert_error(StatusCode::BAD_REQUEST, "sql-syntax");
    assert_eq!(syntax.json()["line"], json!(2), "{}", syntax.json());
    let unbounded =
        api.post("/api/v1/queries", &json!({"name": "q", "sql": "SELECT * FROM events ORDER BY created"})).await;
    unbounded.assert_error(StatusCode::BAD_REQUEST, "sql-plan");
    assert!(unbounded.json()["error"].as_str().is_some_and(|error| error.contains("cannot be maintained")));
    api.post("/api/v1/queries", &json!({"name": "bad/name", "sql": PER_WINDOW}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid-name");
    api.post("/api/v1/queries", &json!({"sql": PER_WINDOW}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid-json");
    api.post("/api/v1/queries", &json!({"name": "q", "sql": PER_WINDOW, "from": "ten"}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad-request");
    assert_eq!(api.get("/api/v1/queries").await.json()["queries"], json!([]), "nothing stored");
    assert_eq!(api.get("/api/v1/streams/$queries").await.status, StatusCode::NOT_FOUND, "no definition written");

    let created = api.post("/api/v1/queries", &json!({"name": "q", "sql": PER_WINDOW})).await;
    assert_eq!(created.status, StatusCode::CREATED);
    api.post("/api/v1/queries", &json!({"name": "q", "sql": PER_WINDOW}))
        .await
        .assert_error(StatusCode::CONFLICT, "query-exists");
    api.post("/api/v1/queries/nope/reset", &json!({})).await.assert_error(StatusCode::NOT_FOUND, "query-not-found");
    api.delete("/api/v1/queries/nope").await.assert_error(StatusCode::NOT_FOUND, "query-not-found");
    api.finish().await;
}

type Credentials = Option<(&'static str, &'static str)>;

async fn call(address: SocketAddr, method: &str, path: &str, credentials: Credentials, body: &Value) -> HttpResponse {
    let authorization =
        credentials.map(|(login, password)| format!("Basic {}", STANDARD.encode(format!("{login}:{password}"))));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(authorization) = authorization.as_deref() {
        headers.push(("authorization", authorization));
    }
    request(address, method, path, &headers, body.to_string().as_bytes()).await
}

#[tokio::test]
async fn continuous_queries_are_managed_by_operators_and_read_by_those_who_read_all() {
    let (_dir, server) = support::secure_server_with_users(&[("bob", "bob-pw", &[])]).await;
    let address = server.address;
    let bob = Some(("bob", "bob-pw"));
    let body = json!({"name": "q", "sql": PER_WINDOW});

    let anonymous = call(address, "POST", "/api/v1/queries", None, &body).await;
    assert_eq!(anonymous.status, 401, "{anonymous:?}");
    let bob_create = call(address, "POST", "/api/v1/queries", bob, &body).await;
    assert_eq!(bob_create.status, 403, "{bob_create:?}");
    assert_eq!(bob_create.json()["code"], "access-denied");
    let ops_create = call(address, "POST", "/api/v1/queries", Some(("ops", "changeit")), &body).await;
    assert_eq!(ops_create.status, 201, "{ops_create:?}");
    for path in ["/api/v1/queries", "/api/v1/queries/q", "/api/v1/queries/q/result"] {
        let bob_read = call(address, "GET", path, bob, &json!({})).await;
        assert_eq!(bob_read.status, 403, "{path}: {bob_read:?}");
        let admin_read = call(address, "GET", path, Some(("admin", "changeit")), &json!({})).await;
        assert_eq!(admin_read.status, 200, "{path}: {admin_read:?}");
    }
    for (method, path) in [("POST", "/api/v1/queries/q/reset"), ("DELETE", "/api/v1/queries/q")] {
        let refused = call(address, method, path, bob, &json!({})).await;
        assert_eq!(refused.status, 403, "{path}: {refused:?}");
    }
    let deleted = call(address, "DELETE", "/api/v1/queries/q", Some(("admin", "changeit")), &json!({})).await;
    assert_eq!(deleted.status, 204, "{deleted:?}");
    server.finish().await;
}
