//! The MQTT sink against a throwaway Mosquitto, over the embedded engine,
//! checked by a subscriber with a persistent session: 100k events arrive
//! once each in order; the broker stopped and started again mid-run loses
//! nothing; an event whose topic MQTT refuses goes to the dead-letter
//! stream while the rest flows; an unreachable broker is refused at create.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventfold_connectors::{ConnectorError, DEFINITIONS_STREAM, dead_letter_stream};
use eventfold_testkit::mosquitto_server::MosquittoServer;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};
use support::{Node, wait_until};

/// Every message received on `filter`, `(topic, payload)` in arrival
/// order, across broker restarts (a persistent session: what was queued
/// for it while it was away comes when it is back).
struct Subscriber {
    received: Arc<Mutex<Vec<(String, Value)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Subscriber {
    async fn start(broker: &MosquittoServer, filter: &str) -> Subscriber {
        let mut options = MqttOptions::new("checker", "127.0.0.1", broker.port);
        options.set_clean_session(false).set_keep_alive(Duration::from_secs(5)).set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut events) = AsyncClient::new(options, 100);
        client.subscribe(filter, QoS::AtLeastOnce).await.expect("queue the subscription");
        let received = Arc::new(Mutex::new(Vec::new()));
        let (subscribed, is_subscribed) = tokio::sync::oneshot::channel();
        let task = tokio::spawn({
            let received = Arc::clone(&received);
            async move {
                let _client = client;
                let mut subscribed = Some(subscribed);
                loop {
                    match events.poll().await {
                        Ok(Event::Incoming(Packet::Publish(publish))) => {
                            let payload: Value = serde_json::from_slice(&publish.payload).expect("a JSON payload");
                            received.lock().expect("lock").push((publish.topic.clone(), payload));
                        }
                        Ok(Event::Incoming(Packet::SubAck(_))) => {
                            if let Some(subscribed) = subscribed.take() {
                                let _ = subscribed.send(());
                            }
                        }
                        Ok(_) => {}
                        // The broker is away: try again shortly.
                        Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                }
            }
        });
        support::within(is_subscribed).await.expect("subscribed");
        Subscriber { received, task }
    }

    fn count(&self) -> usize {
        self.received.lock().expect("lock").len()
    }

    /// Each stream's revisions in the order first received, with topic and
    /// content checked against the event.
    fn first_seen(&self, topic_prefix: &str) -> BTreeMap<String, Vec<u64>> {
        let mut streams: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        let mut seen = BTreeSet::new();
        for (topic, event) in self.received.lock().expect("lock").iter() {
            let stream = event["stream"].as_str().expect("stream").to_owned();
            let revision = event["revision"].as_u64().expect("revision");
            assert_eq!(topic, &format!("{topic_prefix}/{stream}"), "the topic template");
            assert_eq!(event["data"]["n"].as_u64(), Some(revision), "content matches its revision");
            if seen.insert((stream.clone(), revision)) {
                streams.entry(stream).or_default().push(revision);
            }
        }
        streams
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn settings(broker: &MosquittoServer, topic: &str) -> Value {
    json!({
        "instanceTypeName": "mqtt-sink",
        "url": format!("mqtt://127.0.0.1:{}", broker.port),
        "topic": topic,
        "batching:batchSize": 1000,
        "resilience:firstDelayMs": 20,
        "resilience:maxDelayMs": 300,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_events_arrive_once_each_in_order() {
    let Some(broker) = MosquittoServer::for_test() else { return };
    let subscriber = Subscriber::start(&broker, "orders/#").await;
    let node = Node::start().await;
    const STREAMS: usize = 100;
    const PER_STREAM: usize = 1000;
    for stream in 0..STREAMS {
        node.append(&format!("order-{stream}"), 0, PER_STREAM / 2, "OrderPlaced").await;
    }
    node.create("mqtt", settings(&broker, "orders/{stream}")).await;
    for stream in 0..STREAMS {
        node.append(&format!("order-{stream}"), PER_STREAM / 2, PER_STREAM / 2, "OrderPlaced").await;
    }
    wait_until("every message received", || async { subscriber.count() >= STREAMS * PER_STREAM }).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(subscriber.count(), STREAMS * PER_STREAM, "each once when nothing failed");
    let streams = subscriber.first_seen("orders");
    assert_eq!(streams.len(), STREAMS);
    for (stream, revisions) in &streams {
        assert_eq!(revisions, &(0..PER_STREAM as u64).collect::<Vec<_>>(), "{stream}: every revision, in order");
    }
    let info = node.connectors.info("mqtt").await.expect("status");
    assert_eq!((info.delivered, info.dead_lettered), ((STREAMS * PER_STREAM) as u64, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_stopped_and_started_mid_run_loses_nothing() {
    let Some(mut broker) = MosquittoServer::for_test() else { return };
    let subscriber = Subscriber::start(&broker, "carts/#").await;
    let node = Node::start().await;
    let mut settings = settings(&broker, "carts/{stream}");
    settings["batching:batchSize"] = Value::from(200);
    node.create("mqtt", settings).await;
    for stream in 0..10 {
        node.append(&format!("cart-{stream}"), 0, 1000, "Added").await;
    }
    wait_until("some received", || async { subscriber.count() >= 1000 }).await;
    broker.stop().expect("stop the broker");
    for stream in 0..10 {
        node.append(&format!("cart-{stream}"), 1000, 1000, "Added").await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    broker.start_again().expect("start the broker again");
    wait_until("every event received", || async {
        subscriber.first_seen("carts").values().map(Vec::len).sum::<usize>() >= 20_000
    })
    .await;
    for (stream, revisions) in subscriber.first_seen("carts") {
        assert_eq!(revisions, (0..2000).collect::<Vec<u64>>(), "{stream}: every revision, in order");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_with_a_refused_topic_is_dead_lettered_and_the_rest_flows() {
    let Some(broker) = MosquittoServer::for_test() else { return };
    let subscriber = Subscriber::start(&broker, "pay/#").await;
    let node = Node::start().await;
    node.append("pay-1", 0, 300, "Paid").await;
    // `#` in the stream name makes a topic no publish may have.
    node.append("pay-#", 0, 1, "Paid").await;
    node.append("pay-1", 300, 300, "Paid").await;
    node.create("mqtt", settings(&broker, "pay/{stream}")).await;
    wait_until("the rest received", || async { subscriber.count() >= 600 }).await;
    wait_until("the poison event dead-lettered", || async {
        node.connectors.info("mqtt").await.is_ok_and(|info| info.dead_lettered == 1)
    })
    .await;
    assert_eq!(subscriber.first_seen("pay")["pay-1"], (0..600).collect::<Vec<u64>>(), "all of pay-1, in order");
    let dead = node.read(dead_letter_stream("mqtt").as_str()).await;
    assert_eq!(dead.len(), 1);
    let metadata: Value = serde_json::from_slice(&dead[0].metadata).expect("JSON metadata");
    assert_eq!(metadata["$originalStream"], "pay-#");
    assert!(metadata["$error"].as_str().is_some_and(|error| error.contains("wildcard")), "{metadata}");
}

#[tokio::test]
async fn an_unreachable_broker_or_bad_url_is_refused_and_nothing_is_stored() {
    let Some(broker) = MosquittoServer::for_test() else { return };
    let node = Node::start().await;
    let port = eventfold_testkit::child_server::free_port().expect("a free port");
    let mut unreachable = settings(&broker, "t/{stream}");
    unreachable["url"] = Value::from(format!("mqtt://127.0.0.1:{port}"));
    let refused = node.connectors.create("bad", None, unreachable.as_object().expect("object")).await;
    assert!(matches!(refused, Err(ConnectorError::Target(_))), "{refused:?}");
    let mut malformed = settings(&broker, "t/{stream}");
    malformed["url"] = Value::from("127.0.0.1:1883");
    let refused = node.connectors.create("bad", None, malformed.as_object().expect("object")).await;
    assert!(matches!(refused, Err(ConnectorError::InvalidSettings(_))), "{refused:?}");
    assert!(node.read(DEFINITIONS_STREAM).await.is_empty(), "nothing stored");
    node.create("good", settings(&broker, "t/{stream}")).await;
}
