//! The object storage sink against moto's S3-compatible server, over the
//! embedded engine: 100k events archived as gzip NDJSON objects named by
//! position range, read back by listing the bucket and fetching every
//! object; a connector restarted mid-run loses nothing (moto keeps nothing
//! across its own restart, so eventfold is what restarts); the same range
//! sent again overwrites its object rather than adding one; a missing
//! bucket or an unreachable server is refused at create.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;

use bytes::Bytes;
use eventfold_connectors::{ConnectorError, DEFINITIONS_STREAM};
use eventfold_testkit::moto_server::MotoServer;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use serde_json::{Value, json};
use support::{Node, wait_until};

const BUCKET: &str = "archive";
const PREFIX: &str = "lake/orders";
const ACCESS_KEY_ID: &str = "AKIDTEST";
const CHECKER_AUTHORIZATION: &str = "AWS4-HMAC-SHA256 Credential=AKIDTEST/20240101/eu-west-1/s3/aws4_request, \
                                     SignedHeaders=host, Signature=0000";
const CREATE_BUCKET: &str = "<CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint>\
                             </CreateBucketConfiguration>";

/// A bare S3 client for checking what the sink wrote. moto reads the
/// caller's access key from the `Authorization` header without checking
/// the signature (the sink's signing is checked against Amazon's published
/// example in its unit tests), so these requests name the sink's key with
/// a dummy signature, which keeps the checks independent of the signing
/// code.
struct Bucket {
    port: u16,
}

impl Bucket {
    async fn request(&self, method: Method, target: &str, body: &'static str) -> (StatusCode, Bytes) {
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.expect("connect to moto");
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.expect("handshake");
        tokio::spawn(connection);
        let request = Request::builder()
            .method(method)
            .uri(target)
            .header(hyper::header::HOST, format!("127.0.0.1:{}", self.port))
            .header(hyper::header::AUTHORIZATION, CHECKER_AUTHORIZATION)
            .body(Full::new(Bytes::from_static(body.as_bytes())))
            .expect("request");
        let response = sender.send_request(request).await.expect("answer");
        let status = response.status();
        (status, response.into_body().collect().await.expect("body").to_bytes())
    }

    async fn create(&self) {
        let (status, body) = self.request(Method::PUT, &format!("/{BUCKET}"), CREATE_BUCKET).await;
        assert!(status.is_success(), "create the bucket: {status} {body:?}");
    }

    /// Every key under the prefix, in the server's (lexicographic) order.
    async fn keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut target = format!("/{BUCKET}?list-type=2&prefix={}", PREFIX.replace('/', "%2F"));
            if let Some(token) = &token {
                target.push_str(&format!("&continuation-token={}", urlencode(token)));
            }
            let (status, body) = self.request(Method::GET, &target, "").await;
            assert!(status.is_success(), "list: {status}");
            let text = String::from_utf8(body.to_vec()).expect("XML text");
            keys.extend(elements(&text, "Key"));
            token = elements(&text, "NextContinuationToken").into_iter().next();
            if token.is_none() || elements(&text, "IsTruncated").first().map(String::as_str) != Some("true") {
                return keys;
            }
        }
    }

    /// One object's lines, gunzipped and parsed.
    async fn lines(&self, key: &str) -> Vec<Value> {
        let (status, body) = self.request(Method::GET, &format!("/{BUCKET}/{key}"), "").await;
        assert!(status.is_success(), "get {key}: {status}");
        let mut text = String::new();
        flate2::read::GzDecoder::new(body.as_ref()).read_to_string(&mut text).expect("a gzip object");
        assert!(text.ends_with('\n'), "{key}: every line ends in a newline");
        text.lines().map(|line| serde_json::from_str(line).expect("a JSON line")).collect()
    }
}

fn elements(xml: &str, name: &str) -> Vec<String> {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    xml.split(&open).skip(1).filter_map(|rest| rest.split(&close).next()).map(str::to_owned).collect()
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
                char::from(byte).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

fn settings(moto: &MotoServer, batch_size: usize) -> Value {
    json!({
        "instanceTypeName": "s3-sink",
        "endpoint": moto.endpoint(),
        "bucket": BUCKET,
        "prefix": PREFIX,
        "region": "eu-west-1",
        "authentication:accessKeyId": ACCESS_KEY_ID,
        "authentication:secretAccessKey": "test-secret",
        "batching:batchSize": batch_size,
    })
}

/// What the bucket holds: each object's name checked against its lines
/// (first and last positions, ascending inside), and every line by log
/// position (a position in two objects must be the same event).
struct Archive {
    objects: Vec<(String, Vec<Value>)>,
    by_position: BTreeMap<u64, Value>,
    lines: usize,
}

async fn archive(bucket: &Bucket) -> Archive {
    let mut objects = Vec::new();
    let mut by_position = BTreeMap::new();
    let mut lines = 0;
    for key in bucket.keys().await {
        let content = bucket.lines(&key).await;
        let positions: Vec<u64> = content.iter().map(|line| line["position"].as_u64().expect("position")).collect();
        assert!(positions.windows(2).all(|pair| pair[0] < pair[1]), "{key}: lines in log order");
        let name = key.strip_prefix(&format!("{PREFIX}/")).expect("under the prefix");
        let expected = format!("{:020}-{:020}.ndjson.gz", positions[0], positions[positions.len() - 1]);
        assert_eq!(name, expected, "the name is the object's position range");
        lines += content.len();
        for line in &content {
            let position = line["position"].as_u64().expect("position");
            if let Some(earlier) = by_position.insert(position, line.clone()) {
                assert_eq!(&earlier, line, "a position seen twice is the same event");
            }
        }
        objects.push((key, content));
    }
    Archive { objects, by_position, lines }
}

/// Each stream's revisions in log order, with the content checked.
fn streams(archive: &Archive) -> BTreeMap<String, Vec<u64>> {
    let mut streams: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for line in archive.by_position.values() {
        let stream = line["stream"].as_str().expect("stream").to_owned();
        let revision = line["revision"].as_u64().expect("revision");
        assert_eq!(line["data"]["stream"], Value::from(stream.as_str()), "content matches its stream");
        assert_eq!(line["data"]["n"].as_u64(), Some(revision), "content matches its revision");
        streams.entry(stream).or_default().push(revision);
    }
    streams
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_events_are_archived_once_each_in_order() {
    let Some(moto) = MotoServer::for_test() else { return };
    let bucket = Bucket { port: moto.port };
    bucket.create().await;
    let node = Node::start().await;
    const STREAMS: usize = 100;
    const PER_STREAM: usize = 1000;
    for stream in 0..STREAMS {
        node.append(&format!("order-{stream}"), 0, PER_STREAM / 2, "OrderPlaced").await;
    }
    node.create("archive", settings(&moto, 2000)).await;
    for stream in 0..STREAMS {
        node.append(&format!("order-{stream}"), PER_STREAM / 2, PER_STREAM / 2, "OrderPlaced").await;
    }
    wait_until("every event archived", || async {
        node.connectors.info("archive").await.is_ok_and(|info| info.delivered >= (STREAMS * PER_STREAM) as u64)
    })
    .await;

    let archive = archive(&bucket).await;
    assert_eq!(archive.lines, STREAMS * PER_STREAM, "each event in exactly one object when nothing failed");
    assert_eq!(archive.by_position.len(), STREAMS * PER_STREAM);
    let streams = streams(&archive);
    assert_eq!(streams.len(), STREAMS);
    for (stream, revisions) in &streams {
        assert_eq!(revisions, &(0..PER_STREAM as u64).collect::<Vec<_>>(), "{stream}: every revision, in order");
    }
    assert!(archive.objects.len() >= STREAMS * PER_STREAM / 2000, "batches of at most 2000 events");
    let info = node.connectors.info("archive").await.expect("status");
    assert_eq!((info.dead_lettered, info.errors), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_restarted_mid_run_loses_nothing() {
    let Some(moto) = MotoServer::for_test() else { return };
    let bucket = Bucket { port: moto.port };
    bucket.create().await;
    let node = Node::start().await;
    for stream in 0..10 {
        node.append(&format!("cart-{stream}"), 0, 2000, "Added").await;
    }
    node.create("archive", settings(&moto, 100)).await;
    wait_until("part archived", || async { !bucket.keys().await.is_empty() }).await;
    let node = node.restart().await;
    for stream in 0..10 {
        node.append(&format!("cart-{stream}"), 2000, 1000, "Added").await;
    }
    wait_until("everything archived", || async { archive(&bucket).await.by_position.len() >= 30_000 }).await;
    let archive = archive(&bucket).await;
    assert_eq!(archive.by_position.len(), 30_000, "nothing lost, nothing else");
    for (stream, revisions) in streams(&archive) {
        assert_eq!(revisions, (0..3000).collect::<Vec<u64>>(), "{stream}: every revision, in order");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_range_sent_again_overwrites_its_object() {
    let Some(moto) = MotoServer::for_test() else { return };
    let bucket = Bucket { port: moto.port };
    bucket.create().await;
    let node = Node::start().await;
    node.append("order-1", 0, 5000, "OrderPlaced").await;
    node.create("archive", settings(&moto, 1000)).await;
    wait_until("all archived", || async {
        node.connectors.info("archive").await.is_ok_and(|info| info.delivered >= 5000)
    })
    .await;
    let first: BTreeSet<String> = bucket.keys().await.into_iter().collect();
    assert_eq!(first.len(), 5, "full batches of 1000");
    // A reset sends the whole history again, in the same full batches.
    node.connectors.reset("archive", None).await.expect("reset");
    wait_until("all archived again", || async {
        node.connectors.info("archive").await.is_ok_and(|info| info.delivered >= 5000)
    })
    .await;
    let again: BTreeSet<String> = bucket.keys().await.into_iter().collect();
    assert_eq!(again, first, "the same objects, overwritten, none added");
    assert_eq!(archive(&bucket).await.lines, 5000);
}

#[tokio::test]
async fn a_missing_bucket_or_server_is_refused_and_nothing_is_stored() {
    let Some(moto) = MotoServer::for_test() else { return };
    let node = Node::start().await;
    let missing = node.connectors.create("bad", None, settings(&moto, 10).as_object().expect("object")).await;
    match missing {
        Err(ConnectorError::Target(reason)) => assert!(reason.contains("does not exist"), "{reason}"),
        other => panic!("a missing bucket must be refused: {other:?}"),
    }
    let port = eventfold_testkit::child_server::free_port().expect("a free port");
    let mut unreachable = settings(&moto, 10);
    unreachable["endpoint"] = Value::from(format!("http://127.0.0.1:{port}"));
    let refused = node.connectors.create("bad", None, unreachable.as_object().expect("object")).await;
    assert!(matches!(refused, Err(ConnectorError::Target(_))), "{refused:?}");
    let mut malformed = settings(&moto, 10);
    malformed["endpoint"] = Value::from("127.0.0.1:9000");
    let refused = node.connectors.create("bad", None, malformed.as_object().expect("object")).await;
    assert!(matches!(refused, Err(ConnectorError::InvalidSettings(_))), "{refused:?}");
    assert!(node.read(DEFINITIONS_STREAM).await.is_empty(), "nothing stored");
    assert!(node.connectors.list().await.expect("list").is_empty(), "nothing started");
}
