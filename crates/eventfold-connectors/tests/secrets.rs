//! Secrets in a connector's settings: shown redacted, kept as given. A
//! connector reconfigured with the settings as they were shown still sends
//! the real token; one given a new token sends that.

mod support;

use eventfold_connectors::REDACTED;
use serde_json::{Value, json};
use support::receiver::Receiver;
use support::{Node, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_sent_back_as_shown_keep_the_secret() {
    let node = Node::start().await;
    let receiver = Receiver::start().await;
    let info = node
        .create(
            "hook",
            json!({
                "instanceTypeName": "http-sink",
                "url": receiver.url("/hook"),
                "authentication:method": "Bearer",
                "authentication:bearer:token": "s3cret",
                "batching:batchTimeoutMs": 10,
            }),
        )
        .await;
    assert_eq!(info.settings["authentication:bearer:token"], REDACTED);
    node.append("order-1", 0, 5, "Placed").await;
    wait_until("the first events delivered", || async { receiver.count() >= 5 }).await;

    // The settings as shown, with one change, sent back.
    let shown = node.connectors.info("hook").await.expect("status").settings;
    assert_eq!(shown["authentication:bearer:token"], REDACTED);
    let mut again: serde_json::Map<String, Value> =
        shown.iter().map(|(key, value)| (key.clone(), Value::from(value.as_str()))).collect();
    again.insert("batching:batchSize".into(), Value::from(3));
    let info = node.connectors.reconfigure("hook", &again).await.expect("reconfigure");
    assert_eq!(info.settings["authentication:bearer:token"], REDACTED);
    assert_eq!(info.settings["batching:batchSize"], "3");
    node.append("order-1", 5, 5, "Placed").await;
    wait_until("the next events delivered", || async { receiver.count() >= 10 }).await;

    again.insert("authentication:bearer:token".into(), Value::from("n3w"));
    node.connectors.reconfigure("hook", &again).await.expect("reconfigure");
    node.append("order-1", 10, 5, "Placed").await;
    wait_until("the last events delivered", || async { receiver.count() >= 15 }).await;

    let tokens: Vec<Option<String>> = receiver.events().into_iter().map(|item| item.authorization).collect();
    let expected_old = Some("Bearer s3cret".to_owned());
    let expected_new = Some("Bearer n3w".to_owned());
    assert!(tokens[..10].iter().all(|token| *token == expected_old), "the stored token kept: {tokens:?}");
    assert!(tokens[10..].iter().all(|token| *token == expected_new), "the new token taken: {tokens:?}");
}
