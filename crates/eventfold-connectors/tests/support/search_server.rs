//! A stand-in for Elasticsearch/OpenSearch (neither can be installed
//! here) that checks the `_bulk` requests the search sink sends and answers
//! as those servers do: the root answers with a version; `POST /_bulk` must
//! carry `application/x-ndjson`, end in a newline, and alternate `index`
//! action lines (`_index` and `_id` strings) with JSON documents, or it
//! is answered 400 and the fault recorded; each item is indexed by id
//! (created, or updated in place), except a document whose data says
//! `"poison": true`, refused as a mapping error in the item. It can answer
//! 429 to the next requests, and go down and come back keeping its data.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

#[derive(Default)]
pub struct Indexed {
    /// Index → document id → document.
    pub indices: BTreeMap<String, BTreeMap<String, Value>>,
    /// Every item indexed, `(index, id)`, in the order received.
    pub operations: Vec<(String, String)>,
    /// What was wrong with requests that broke the bulk format.
    pub format_errors: Vec<String>,
    /// Bulk requests to answer 429 before indexing again.
    pub busy_answers: usize,
    pub bulk_requests: usize,
}

pub struct SearchServer {
    pub address: SocketAddr,
    pub state: Arc<Mutex<Indexed>>,
    server: Option<JoinHandle<()>>,
}

impl SearchServer {
    pub async fn start() -> SearchServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the search server");
        let address = listener.local_addr().expect("address");
        let state = Arc::new(Mutex::new(Indexed::default()));
        let server = Some(tokio::spawn(serve(listener, Arc::clone(&state))));
        SearchServer { address, state, server }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Stops listening and cuts every open connection; the data stays.
    pub async fn down(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
            let _ = server.await;
        }
    }

    pub async fn up(&mut self) {
        let listener = TcpListener::bind(self.address).await.expect("bind the search server again");
        self.server = Some(tokio::spawn(serve(listener, Arc::clone(&self.state))));
    }

    pub fn with<T>(&self, look: impl FnOnce(&Indexed) -> T) -> T {
        look(&self.state.lock().expect("lock"))
    }

    pub fn answer_busy(&self, requests: usize) {
        self.state.lock().expect("lock").busy_answers = requests;
    }
}

async fn serve(listener: TcpListener, state: Arc<Mutex<Indexed>>) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let state = Arc::clone(&state);
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |request| handle(request, Arc::clone(&state)));
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
        while connections.try_join_next().is_some() {}
    }
}

fn json_answer(status: StatusCode, body: &Value) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert("content-type", "application/json".parse().expect("header value"));
    Ok(response)
}

async fn handle(request: Request<Incoming>, state: Arc<Mutex<Indexed>>) -> Result<Response<Full<Bytes>>, Infallible> {
    match (request.method(), request.uri().path()) {
        (&Method::GET, "/") => {
            return json_answer(
                StatusCode::OK,
                &json!({"name": "test", "version": {"number": "8.13.0"}, "tagline": "You Know, for Search"}),
            );
        }
        (&Method::POST, "/_bulk") => {}
        (method, path) => {
            return json_answer(StatusCode::NOT_FOUND, &json!({"error": format!("no route {method} {path}")}));
        }
    }
    let content_type =
        request.headers().get("content-type").and_then(|value| value.to_str().ok()).unwrap_or("").to_owned();
    let ndjson = content_type.split(';').next().is_some_and(|mime| mime.trim() == "application/x-ndjson");
    let Ok(body) = request.into_body().collect().await else {
        return json_answer(StatusCode::BAD_REQUEST, &json!({"error": "no body"}));
    };
    let body = body.to_bytes();
    let mut state = state.lock().expect("lock");
    state.bulk_requests += 1;
    if state.busy_answers > 0 {
        state.busy_answers -= 1;
        return json_answer(StatusCode::TOO_MANY_REQUESTS, &json!({"error": "es_rejected_execution_exception"}));
    }
    let parsed = if ndjson { parse_bulk(&body) } else { Err(format!("content type `{content_type}`")) };
    let pairs = match parsed {
        Ok(pairs) => pairs,
        Err(fault) => {
            state.format_errors.push(fault.clone());
            return json_answer(
                StatusCode::BAD_REQUEST,
                &json!({"error": {"type": "parse_exception", "reason": fault}}),
            );
        }
    };
    let mut items = Vec::with_capacity(pairs.len());
    let mut errors = false;
    for (index, id, document) in pairs {
        if document["data"]["poison"] == Value::Bool(true) {
            errors = true;
            items.push(json!({"index": {"_index": index, "_id": id, "status": 400,
                "error": {"type": "mapper_parsing_exception", "reason": "failed to parse field [data.poison]"}}}));
            continue;
        }
        let documents = state.indices.entry(index.clone()).or_default();
        let created = documents.insert(id.clone(), document).is_none();
        state.operations.push((index.clone(), id.clone()));
        let (status, result) = if created { (201, "created") } else { (200, "updated") };
        items.push(json!({"index": {"_index": index, "_id": id, "status": status, "result": result}}));
    }
    json_answer(StatusCode::OK, &json!({"took": 1, "errors": errors, "items": items}))
}

/// The bulk body's `(index, id, document)` triples, or what breaks the
/// format.
fn parse_bulk(body: &[u8]) -> Result<Vec<(String, String, Value)>, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_owned())?;
    if text.is_empty() || !text.ends_with('\n') {
        return Err("the body does not end in a newline".into());
    }
    let lines: Vec<&str> = text.lines().collect();
    if !lines.len().is_multiple_of(2) {
        return Err(format!("{} lines: an action without its document", lines.len()));
    }
    let mut pairs = Vec::with_capacity(lines.len() / 2);
    for pair in lines.chunks(2) {
        let action: Value = serde_json::from_str(pair[0]).map_err(|error| format!("action line: {error}"))?;
        let Some(Value::Object(target)) = action.get("index") else {
            return Err(format!("not an index action: {action}"));
        };
        if action.as_object().is_some_and(|object| object.len() != 1) {
            return Err(format!("more than one action in a line: {action}"));
        }
        let (Some(Value::String(index)), Some(Value::String(id))) = (target.get("_index"), target.get("_id")) else {
            return Err(format!("action without a string _index and _id: {action}"));
        };
        let document: Value = serde_json::from_str(pair[1]).map_err(|error| format!("document line: {error}"))?;
        if !document.is_object() {
            return Err(format!("the document is not an object: {document}"));
        }
        pairs.push((index.clone(), id.clone(), document));
    }
    Ok(pairs)
}
