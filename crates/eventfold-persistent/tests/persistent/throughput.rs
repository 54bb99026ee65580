//! Goal: measure delivery throughput, events acked per second, by one and
//! by four consumers of one group catching up on a backlog, in process
//! over the embedded engine. Printed, not asserted (the figure depends on
//! the machine and the build); the test checks only that every event was
//! delivered. For figures worth quoting, run it optimised:
//!
//! `cargo test --release -p eventfold-persistent --test throughput -- --nocapture`

use crate::support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use eventfold_persistent::{ConsumerEvent, ConsumerStrategy};
use support::{Node, spec, stream_key, within};

const EVENTS: usize = 100_000;
const APPEND_BATCH: usize = 500;
const CONSUMER_BUFFER: usize = 200;
/// Acks go in batches, as the clients send them.
const ACK_BATCH: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acked_events_per_second_with_one_and_four_consumers() {
    let node = Node::start().await;
    for _ in 0..EVENTS / APPEND_BATCH {
        node.append("bench", APPEND_BATCH).await;
    }
    for consumers in [1, 4] {
        let key = stream_key("bench", &format!("g{consumers}"));
        let tuned = spec(&key, |settings| {
            settings.consumer_strategy = ConsumerStrategy::RoundRobin;
            settings.history_buffer_size = 2000;
            settings.live_buffer_size = 2000;
            settings.read_batch_size = 500;
        });
        within(node.subscriptions.create(tuned)).await.expect("create");
        let acked = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..consumers {
            let mut consumer = node.connect(&key, CONSUMER_BUFFER).await;
            let acked = Arc::clone(&acked);
            tasks.push(tokio::spawn(async move {
                let control = consumer.control();
                let mut pending = Vec::with_capacity(ACK_BATCH);
                while acked.load(Ordering::Relaxed) < EVENTS as u64 {
                    let event = match tokio::time::timeout(Duration::from_millis(5), consumer.next()).await {
                        Ok(Some(ConsumerEvent::Event(delivery))) => Some(delivery.ack_id()),
                        Ok(_) => break,
                        Err(_) => None,
                    };
                    pending.extend(event);
                    if pending.len() >= ACK_BATCH || (event.is_none() && !pending.is_empty()) {
                        let count = pending.len() as u64;
                        if control.ack(std::mem::take(&mut pending)).await.is_err() {
                            break;
                        }
                        acked.fetch_add(count, Ordering::Relaxed);
                    }
                }
            }));
        }
        for task in tasks {
            tokio::time::timeout(Duration::from_secs(300), task).await.expect("consumers finish").expect("task");
        }
        let elapsed = started.elapsed();
        let total = acked.load(Ordering::Relaxed);
        assert!(total >= EVENTS as u64, "{total} of {EVENTS} acked");
        println!(
            "persistent subscription throughput: {consumers} consumer(s) acked {total} events in {:.2} s = {:.0} events/s",
            elapsed.as_secs_f64(),
            total as f64 / elapsed.as_secs_f64()
        );
    }
}
