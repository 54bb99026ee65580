//! Shared by the JSON API tests: a real engine and node behind the server's
//! router, called in process (no sockets), with helpers for JSON, NDJSON
//! and Server-Sent Events.

#![allow(dead_code, reason = "each test file uses a different part")]

use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use crate::support::{Running, open_engine, serve};

pub struct Api {
    pub running: Running,
    pub app: Router,
    _dir: tempfile::TempDir,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|error| panic!("a JSON body ({error}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// NDJSON: one JSON value per line.
    pub fn lines(&self) -> Vec<Value> {
        std::str::from_utf8(&self.body)
            .expect("UTF-8")
            .lines()
            .map(|line| serde_json::from_str(line).expect("each line is JSON"))
            .collect()
    }

    pub fn content_type(&self) -> &str {
        self.headers.get("content-type").and_then(|value| value.to_str().ok()).unwrap_or("")
    }

    /// A refusal as the API writes it: a 4xx with `{"error", "code"}`.
    pub fn assert_error(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "{}", String::from_utf8_lossy(&self.body));
        assert!(self.content_type().starts_with("application/json"), "{:?}", self.headers);
        let body = self.json();
        assert_eq!(body["code"], code, "{body}");
        assert!(body["error"].as_str().is_some_and(|text| !text.is_empty()), "{body}");
    }
}

impl Api {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let running = serve(open_engine(&dir)).await;
        let app = eventfold_server::app(&running.node);
        Self { running, app, _dir: dir }
    }

    pub async fn request(&self, request: Request<Body>) -> axum::response::Response {
        let call = self.app.clone().oneshot(request);
        tokio::time::timeout(Duration::from_secs(10), call).await.expect("answered in time").expect("infallible")
    }

    pub async fn send(&self, method: Method, path: &str, content_type: Option<&str>, body: impl Into<Body>) -> Answer {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = self.request(request.body(body.into()).expect("request")).await;
        let (parts, body) = response.into_parts();
        let body = tokio::time::timeout(Duration::from_secs(10), body.collect())
            .await
            .expect("the body ends in time")
            .expect("a body")
            .to_bytes();
        Answer { status: parts.status, headers: parts.headers, body }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None, Body::empty()).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.send(Method::POST, path, Some("application/json"), body.to_string()).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Answer {
        self.send(Method::PUT, path, Some("application/json"), body.to_string()).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.send(Method::DELETE, path, None, Body::empty()).await
    }

    /// Appends `count` JSON events of type `type_` to `stream`.
    pub async fn append(&self, stream: &str, type_: &str, count: usize) -> Value {
        let events: Vec<Value> =
            (0..count).map(|index| serde_json::json!({"type": type_, "data": {"index": index}})).collect();
        let answer = self.post(&format!("/api/v1/streams/{stream}"), &serde_json::json!({"events": events})).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", String::from_utf8_lossy(&answer.body));
        answer.json()
    }

    pub async fn finish(self) {
        self.running.finish().await;
    }
}

/// One Server-Sent Event.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub event: String,
    pub id: Option<String>,
    pub data: String,
}

/// A live feed being read frame by frame; dropping it disconnects.
pub struct Feed {
    body: Body,
    pending: String,
    pub comments: usize,
}

impl Feed {
    pub async fn open(api: &Api, path: &str, last_event_id: Option<&str>) -> (StatusCode, Self) {
        let mut request = Request::builder().uri(path);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = api.request(request.body(Body::empty()).expect("request")).await;
        let status = response.status();
        (status, Self { body: response.into_body(), pending: String::new(), comments: 0 })
    }

    /// The next event, waiting at most `wait`.
    pub async fn next(&mut self, wait: Duration) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.pending.find("\n\n") {
                let block: String = self.pending.drain(..end + 2).collect();
                let mut event = SseEvent { event: "message".into(), id: None, data: String::new() };
                let mut any_field = false;
                for line in block.lines() {
                    if line.starts_with(':') {
                        self.comments += 1;
                    } else if let Some((field, value)) = line.split_once(':') {
                        any_field = true;
                        let value = value.strip_prefix(' ').unwrap_or(value).to_owned();
                        match field {
                            "event" => event.event = value,
                            "id" => event.id = Some(value),
                            "data" => event.data.push_str(&value),
                            _ => {}
                        }
                    }
                }
                if any_field {
                    return Some(event);
                }
                continue;
            }
            let frame = tokio::time::timeout(wait, self.body.frame()).await.ok()??.ok()?;
            if let Ok(data) = frame.into_data() {
                self.pending.push_str(std::str::from_utf8(&data).expect("UTF-8"));
            }
        }
    }

    /// The next `count` events named `event` (skipping others).
    pub async fn events(&mut self, count: usize) -> Vec<SseEvent> {
        let mut events = Vec::new();
        while events.len() < count {
            let next = self.next(Duration::from_secs(10)).await.expect("an event within 10 s");
            if next.event == "event" {
                events.push(next);
            }
        }
        events
    }
}
