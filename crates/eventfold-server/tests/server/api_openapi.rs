//! Goal: the OpenAPI document describes exactly the routes the server
//! answers (it is built from the same list), is OpenAPI 3.1 with every
//! reference resolvable, and the reference page renders it from the binary
//! with no script from elsewhere.

use crate::api_client;

use api_client::Api;
use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::Value;

fn references(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                if key == "$ref" {
                    found.push(inner.as_str().expect("a $ref is a string").to_owned());
                }
                references(inner, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| references(item, found)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_every_reference_resolves() {
    let api = Api::start().await;
    let answer = api.get("/api/v1/openapi.json").await;
    assert_eq!(answer.status, StatusCode::OK);
    let document = answer.json();
    assert!(document["openapi"].as_str().is_some_and(|version| version.starts_with("3.1")), "{}", document["openapi"]);
    let mut found = Vec::new();
    references(&document, &mut found);
    assert!(!found.is_empty());
    for reference in found {
        let name = reference.strip_prefix("#/components/schemas/").expect("a local schema");
        assert!(document["components"]["schemas"].get(name).is_some(), "{reference} resolves");
    }
    api.finish().await;
}

#[tokio::test]
async fn every_documented_operation_is_served_and_every_api_route_is_documented() {
    let api = Api::start().await;
    let document = api.get("/api/v1/openapi.json").await.json();
    let paths = document["paths"].as_object().expect("paths");
    for expected in [
        "/api/v1/streams/{stream}",
        "/api/v1/all",
        "/api/v1/all/live",
        "/api/v1/live",
        "/api/v1/transactions",
        "/api/v1/streams",
        "/api/v1/subscriptions",
        "/api/v1/scavenges",
        "/api/v1/projections",
        "/api/v1/projections/{name}/state",
        "/api/v1/sql",
        "/api/v1/queries",
        "/api/v1/queries/{name}/result",
    ] {
        assert!(paths.contains_key(expected), "{expected} is documented");
    }
    for (path, item) in paths {
        for method in item.as_object().expect("path item").keys() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else { continue };
            // Placeholders that reach the handler; a live feed is only
            // opened (its status comes before its endless body).
            let uri = path
                .replace("{stream}", "doc-check")
                .replace("{group}", "g")
                .replace("{id}", "none")
                .replace("{name}", "none");
            if uri.ends_with("/live") {
                // The multiplexed feed needs at least one `follow`.
                let uri = if uri == "/api/v1/live" { format!("{uri}?follow=doc-check%40start") } else { uri };
                let (status, _) = api_client::Feed::open(&api, &uri, None).await;
                assert_eq!(status, StatusCode::OK, "{uri}");
                continue;
            }
            let answer = api.send(method.clone(), &uri, None, Body::empty()).await;
            let body = String::from_utf8_lossy(&answer.body);
            assert!(!body.contains("no such endpoint"), "{method} {uri} is routed");
            assert_ne!(answer.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri} is routed");
            // This server runs no projections: their routes say so with a 503.
            let projections_off =
                uri.starts_with("/api/v1/projections") && answer.status == StatusCode::SERVICE_UNAVAILABLE;
            assert!(projections_off || !answer.status.is_server_error(), "{method} {uri}: {}", answer.status);
        }
    }
    // A path the document does not name is not served under /api/v1.
    let unknown = api.get("/api/v1/nothing").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(String::from_utf8_lossy(&unknown.body).contains("no such endpoint"));
    api.finish().await;
}

#[tokio::test]
async fn the_reference_page_is_served_with_no_outside_script() {
    let api = Api::start().await;
    let page = api.get("/api/v1/docs").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.content_type().starts_with("text/html"));
    let html = String::from_utf8(page.body.to_vec()).expect("UTF-8");
    assert!(html.contains("/api/v1/openapi.json"));
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"), "nothing loaded from elsewhere");
    api.finish().await;
}
