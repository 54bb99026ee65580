//! The RabbitMQ sink against a throwaway RabbitMQ, over the embedded
//! engine, read back from a durable queue bound to the exchange: 100k
//! events arrive once each in order as persistent messages whose id is the
//! event id; the broker stopped and started again mid-run loses nothing; an
//! event whose routing key AMQP cannot carry goes to the dead-letter stream
//! while the rest flows; an unreachable broker, a missing exchange or a
//! malformed URL is refused at create.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use eventfold_connectors::{ConnectorError, DEFINITIONS_STREAM, dead_letter_stream};
use eventfold_testkit::rabbitmq_server::RabbitMqServer;
use futures::StreamExt;
use lapin::options::{BasicConsumeOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
use serde_json::{Value, json};
use support::{Node, wait_until};

const EXCHANGE: &str = "events";
const QUEUE: &str = "archive";

async fn channel(broker: &RabbitMqServer) -> (Connection, Channel) {
    let properties = ConnectionProperties::default()
        .with_executor(tokio_executor_trait::Tokio::current())
        .with_reactor(tokio_reactor_trait::Tokio);
    let connection = Connection::connect(&broker.url(), properties).await.expect("connect to RabbitMQ");
    let channel = connection.create_channel().await.expect("a channel");
    (connection, channel)
}

/// A durable topic exchange and a durable queue that takes everything.
async fn prepare(broker: &RabbitMqServer) {
    let (_connection, channel) = channel(broker).await;
    let durable = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
    channel.exchange_declare(EXCHANGE, ExchangeKind::Topic, durable, FieldTable::default()).await.expect("exchange");
    let durable = QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() };
    channel.queue_declare(QUEUE, durable, FieldTable::default()).await.expect("queue");
    channel.queue_bind(QUEUE, EXCHANGE, "#", QueueBindOptions::default(), FieldTable::default()).await.expect("bind");
}

/// A message as received: the event it carries, and its properties.
struct Message {
    event: Value,
    message_id: String,
    persistent: bool,
}

/// Takes messages from the queue until `unique` distinct events came.
async fn drain(broker: &RabbitMqServer, unique: usize) -> Vec<Message> {
    let (_connection, channel) = channel(broker).await;
    let options = BasicConsumeOptions { no_ack: true, ..BasicConsumeOptions::default() };
    let mut consumer = channel.basic_consume(QUEUE, "checker", options, FieldTable::default()).await.expect("consume");
    let mut messages = Vec::new();
    let mut seen = BTreeSet::new();
    support::within(async {
        while seen.len() < unique {
            let delivery = consumer.next().await.expect("the consumer goes on").expect("a delivery");
            let event: Value = serde_json::from_slice(&delivery.data).expect("a JSON body");
            seen.insert((event["stream"].to_string(), event["revision"].as_u64()));
            messages.push(Message {
                message_id: delivery.properties.message_id().as_ref().map(ToString::to_string).unwrap_or_default(),
                persistent: *delivery.properties.delivery_mode() == Some(2),
                event,
            });
        }
    })
    .await;
    messages
}

/// Each stream's revisions in the order first received, each message
/// checked against its event.
fn first_seen(messages: &[Message]) -> BTreeMap<String, Vec<u64>> {
    let mut streams: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for message in messages {
        let stream = message.event["stream"].as_str().expect("stream").to_owned();
        let revision = message.event["revision"].as_u64().expect("revision");
        assert_eq!(message.event["data"]["n"].as_u64(), Some(revision), "content matches its revision");
        assert_eq!(message.event["eventId"].as_str(), Some(message.message_id.as_str()), "message id = event id");
        assert!(message.persistent, "persistent messages");
        if seen.insert((stream.clone(), revision)) {
            streams.entry(stream).or_default().push(revision);
        }
    }
    streams
}

fn settings(broker: &RabbitMqServer) -> Value {
    json!({
        "instanceTypeName": "rabbitmq-sink",
        "url": broker.url(),
        "exchange": EXCHANGE,
        "routingKey": "{category}.{eventType}",
        "batching:batchSize": 1000,
        "resilience:firstDelayMs": 20,
        "resilience:maxDelayMs": 300,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_events_arrive_once_each_in_order() {
    let Some(broker) = RabbitMqServer::for_test() else { return };
    prepare(&broker).await;
    let node = Node::start().await;
    const STREAMS: usize = 100;
    const PER_STREAM: usize = 1000;
    for stream in 0..STREAMS {
        node.append(&format!("order-{stream}"), 0, PER_STREAM / 2, "OrderPlaced").await;
    }
    node.create("rabbit", settings(&broker)).await;
    for stream in 0..STREAMS {
        node.append(&format!("order-{stream}"), PER_STREAM / 2, PER_STREAM / 2, "OrderPlaced").await;
    }
    wait_until("every event confirmed", || async {
        node.connectors.info("rabbit").await.is_ok_and(|info| info.delivered >= (STREAMS * PER_STREAM) as u64)
    })
    .await;
    let messages = drain(&broker, STREAMS * PER_STREAM).await;
    assert_eq!(messages.len(), STREAMS * PER_STREAM, "each once when nothing failed");
    let streams = first_seen(&messages);
    assert_eq!(streams.len(), STREAMS);
    for (stream, revisions) in &streams {
        assert_eq!(revisions, &(0..PER_STREAM as u64).collect::<Vec<_>>(), "{stream}: every revision, in order");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_stopped_and_started_mid_run_loses_nothing() {
    let Some(mut broker) = RabbitMqServer::for_test() else { return };
    prepare(&broker).await;
    let node = Node::start().await;
    let mut settings = settings(&broker);
    settings["batching:batchSize"] = Value::from(200);
    node.create("rabbit", settings).await;
    for stream in 0..10 {
        node.append(&format!("cart-{stream}"), 0, 1000, "Added").await;
    }
    wait_until("some confirmed", || async {
        node.connectors.info("rabbit").await.is_ok_and(|info| info.delivered >= 1000)
    })
    .await;
    broker.stop().expect("stop the broker");
    for stream in 0..10 {
        node.append(&format!("cart-{stream}"), 1000, 1000, "Added").await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    broker.start_again().expect("start the broker again");
    let messages = drain(&broker, 20_000).await;
    for (stream, revisions) in first_seen(&messages) {
        assert_eq!(revisions, (0..2000).collect::<Vec<u64>>(), "{stream}: every revision, in order");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_routing_key_is_dead_lettered_the_rest_flows_and_bad_settings_are_refused() {
    let Some(broker) = RabbitMqServer::for_test() else { return };
    prepare(&broker).await;
    let node = Node::start().await;

    let port = eventfold_testkit::child_server::free_port().expect("a free port");
    let mut unreachable = settings(&broker);
    unreachable["url"] = Value::from(format!("amqp://guest:guest@127.0.0.1:{port}/%2f"));
    let mut missing_exchange = settings(&broker);
    missing_exchange["exchange"] = Value::from("nowhere");
    for bad in [unreachable, missing_exchange] {
        let refused = node.connectors.create("bad", None, bad.as_object().expect("object")).await;
        assert!(matches!(refused, Err(ConnectorError::Target(_))), "{refused:?}");
    }
    let mut malformed = settings(&broker);
    malformed["url"] = Value::from("rabbit://127.0.0.1");
    let refused = node.connectors.create("bad", None, malformed.as_object().expect("object")).await;
    assert!(matches!(refused, Err(ConnectorError::InvalidSettings(_))), "{refused:?}");
    assert!(node.read(DEFINITIONS_STREAM).await.is_empty(), "nothing stored");

    node.append("pay-1", 0, 300, "Paid").await;
    // A routing key over 255 bytes: AMQP cannot carry it.
    node.append("pay-1", 300, 1, &"P".repeat(300)).await;
    node.append("pay-1", 301, 299, "Paid").await;
    node.create("rabbit", settings(&broker)).await;
    wait_until("the poison event dead-lettered", || async {
        node.connectors.info("rabbit").await.is_ok_and(|info| info.dead_lettered == 1)
    })
    .await;
    let messages = drain(&broker, 599).await;
    let expected: Vec<u64> = (0..600).filter(|revision| *revision != 300).collect();
    assert_eq!(first_seen(&messages)["pay-1"], expected, "all but the poison event, in order");
    let dead = node.read(dead_letter_stream("rabbit").as_str()).await;
    assert_eq!(dead.len(), 1);
    let metadata: Value = serde_json::from_slice(&dead[0].metadata).expect("JSON metadata");
    assert_eq!(metadata["$originalRevision"], 300);
    assert!(metadata["$error"].as_str().is_some_and(|error| error.contains("routing key")), "{metadata}");
}
