//! An HTTP receiver for the HTTP sink: it records every event of every
//! request it accepts, answers 400 to a request holding an event whose data
//! says `"poison": true`, and can be taken down (connections refused and
//! open ones cut) and brought back on the same port.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub authorization: Option<String>,
    pub event: Value,
}

pub struct Receiver {
    pub address: SocketAddr,
    pub received: Arc<Mutex<Vec<Received>>>,
    server: Option<JoinHandle<()>>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the receiver");
        let address = listener.local_addr().expect("receiver address");
        let received = Arc::new(Mutex::new(Vec::new()));
        let server = Some(tokio::spawn(serve(listener, Arc::clone(&received))));
        Receiver { address, received, server }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Stops listening and cuts every open connection.
    pub async fn down(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
            let _ = server.await;
        }
    }

    pub async fn up(&mut self) {
        let listener = TcpListener::bind(self.address).await.expect("bind the receiver again");
        self.server = Some(tokio::spawn(serve(listener, Arc::clone(&self.received))));
    }

    pub fn count(&self) -> usize {
        self.received.lock().expect("lock").len()
    }

    pub fn events(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }
}

async fn serve(listener: TcpListener, received: Arc<Mutex<Vec<Received>>>) {
    // Dropped with this task: every connection goes with the listener.
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let received = Arc::clone(&received);
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |request| handle(request, Arc::clone(&received)));
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
        while connections.try_join_next().is_some() {}
    }
}

async fn handle(
    request: Request<Incoming>,
    received: Arc<Mutex<Vec<Received>>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().to_string();
    let authorization = request.headers().get("authorization").and_then(|value| value.to_str().ok()).map(str::to_owned);
    let answer = |status: StatusCode, text: &'static str| {
        let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
        *response.status_mut() = status;
        Ok(response)
    };
    let Ok(body) = request.into_body().collect().await else { return answer(StatusCode::BAD_REQUEST, "no body") };
    let Ok(Value::Array(events)) = serde_json::from_slice::<Value>(&body.to_bytes()) else {
        return answer(StatusCode::BAD_REQUEST, "not a JSON array");
    };
    if events.iter().any(|event| event["data"]["poison"] == Value::Bool(true)) {
        return answer(StatusCode::BAD_REQUEST, "poison event");
    }
    let mut received = received.lock().expect("lock");
    for event in events {
        received.push(Received { path: path.clone(), authorization: authorization.clone(), event });
    }
    answer(StatusCode::OK, "ok")
}
