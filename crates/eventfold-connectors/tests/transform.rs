//! The JavaScript transform in front of the HTTP sink, over the embedded
//! engine: events reach the receiver changed (data, type, stream), dropped
//! events never do, and events whose transform throws, or whose
//! transformed form the sink rejects, go to the dead-letter stream as the
//! log holds them, with the error, while the rest flows.

mod support;

use eventfold_connectors::{ConnectorError, DEFINITIONS_STREAM, dead_letter_stream};
use serde_json::{Value, json};
use support::receiver::Receiver;
use support::{Node, wait_until};

const TRANSFORM: &str = r"function (e) {
  if (e.data.n % 10 === 7) throw new Error('unlucky ' + e.data.n);
  if (e.data.n % 2 === 1) return null;
  e.eventType = 'Doubled';
  e.stream = 'doubled-' + e.stream;
  if (e.data.n === 12) return { n: 12, poison: true };
  return { n: e.data.n, twice: e.data.n * 2 };
}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transformed_dropped_and_dead_lettered_events() {
    let node = Node::start().await;
    let receiver = Receiver::start().await;
    node.append("order-1", 0, 30, "Placed").await;
    node.create(
        "hook",
        json!({
            "instanceTypeName": "http-sink",
            "url": receiver.url("/hook"),
            "batching:batchTimeoutMs": 10,
            "transform": TRANSFORM,
        }),
    )
    .await;
    // n 0..29: the even ones delivered but 12, which the receiver rejects;
    // 7, 17 and 27 throw; the other odd ones are dropped.
    wait_until("the even events delivered", || async { receiver.count() >= 14 }).await;
    wait_until("the failing events dead-lettered", || async {
        node.connectors.info("hook").await.is_ok_and(|info| info.dead_lettered == 4)
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let received = receiver.events();
    let ns: Vec<u64> = received.iter().filter_map(|item| item.event["data"]["n"].as_u64()).collect();
    let expected: Vec<u64> = (0..30).step_by(2).filter(|n| *n != 12).collect();
    assert_eq!(ns, expected, "the even events but 12, in order, once");
    for item in &received {
        let n = item.event["data"]["n"].as_u64().expect("n");
        assert_eq!(item.event["data"], json!({ "n": n, "twice": n * 2 }));
        assert_eq!(item.event["stream"], "doubled-order-1");
        assert_eq!(item.event["eventType"], "Doubled");
        assert_eq!(item.event["revision"], n, "the revision stays the original's");
    }

    let dead = node.read(dead_letter_stream("hook").as_str()).await;
    let dead_ns: Vec<u64> = dead
        .iter()
        .map(|event| serde_json::from_slice::<Value>(&event.data).expect("JSON")["n"].as_u64().expect("n"))
        .collect();
    // A transform fails as the event comes, a rejection when its batch
    // goes: the dead letters are not in log order.
    let mut sorted = dead_ns.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [7, 12, 17, 27]);
    for (event, n) in dead.iter().zip(dead_ns) {
        let metadata: Value = serde_json::from_slice(&event.metadata).expect("JSON metadata");
        assert_eq!(metadata["$originalStream"], "order-1");
        assert_eq!(metadata["$originalRevision"], n);
        assert_eq!(event.event_type, "Placed", "the log's event, not the transformed one");
        let data: Value = serde_json::from_slice(&event.data).expect("JSON data");
        assert_eq!(data, json!({ "stream": "order-1", "n": n }));
        let said = if n == 12 { "400" } else { "unlucky" };
        assert!(metadata["$error"].as_str().is_some_and(|error| error.contains(said)), "{metadata}");
    }
    let info = node.connectors.info("hook").await.expect("status");
    assert_eq!((info.delivered, info.dead_lettered), (14, 4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transform_that_does_not_compile_is_refused() {
    let node = Node::start().await;
    let settings = json!({
        "instanceTypeName": "http-sink",
        "url": "http://127.0.0.1:9/hook",
        "transform": "function (e) { return { n: }; }",
    });
    let error = node.connectors.create("bad", None, settings.as_object().expect("object")).await.expect_err("refused");
    let ConnectorError::InvalidSettings(invalid) = error else { panic!("{error:?}") };
    assert_eq!(invalid.key, "transform");
    assert!(invalid.reason.contains("syntax error at line 1"), "{invalid:?}");
    assert!(node.read(DEFINITIONS_STREAM).await.is_empty(), "nothing stored");
}
