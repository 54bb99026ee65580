//! Goal: one consumer sees every event of its group in order with the right
//! retry counts; nacks retry, park or skip as asked; unacked events time out
//! and come back; events past the retry limit are parked; replayed parked
//! events come back (all, or only as many as asked), and the checkpoint
//! moves only past events that are done.

use crate::support;

use std::time::Duration;

use eventfold_persistent::{NackAction, SubsystemOptions};
use support::{Node, eventually, next, numbers, quiet, revisions, spec, stream_key, take, within};

#[tokio::test]
async fn events_come_in_order_and_acks_move_the_checkpoint() {
    let node = Node::start().await;
    node.append("s", 5).await;
    let key = stream_key("s", "g");
    let tuned = spec(&key, |settings| {
        settings.min_checkpoint_count = 1;
        settings.checkpoint_after = Duration::from_millis(10);
    });
    within(node.subscriptions.create(tuned)).await.expect("create");
    let mut consumer = node.connect(&key, 100).await;
    assert_eq!(consumer.subscription_id(), "s::g");
    let deliveries = take(&mut consumer, 5).await;
    assert_eq!(revisions(&deliveries), vec![0, 1, 2, 3, 4]);
    assert!(deliveries.iter().all(|delivery| delivery.retry_count == 0));
    let control = consumer.control();
    // Acking 0, 1 and 3 lets the checkpoint reach 1 only.
    let ids = |indexes: &[usize]| indexes.iter().map(|&index| deliveries[index].ack_id()).collect::<Vec<_>>();
    within(control.ack(ids(&[0, 1, 3]))).await.expect("ack");
    eventually("the checkpoint is at 1", async || {
        node.subscriptions.info(&key).await.expect("info").last_checkpointed == Some(1)
    })
    .await;
    within(control.ack(ids(&[2, 4]))).await.expect("ack");
    eventually("the checkpoint is at 4", async || {
        node.subscriptions.info(&key).await.expect("info").last_checkpointed == Some(4)
    })
    .await;
    // Live events follow.
    node.append("s", 2).await;
    assert_eq!(revisions(&take(&mut consumer, 2).await), vec![5, 6]);
    assert_eq!(quiet(&mut consumer).await, None, "nothing is delivered twice");
}

#[tokio::test]
async fn nack_retry_redelivers_with_a_higher_retry_count_and_skip_does_not() {
    let node = Node::start().await;
    node.append("s", 2).await;
    let key = stream_key("s", "g");
    within(node.subscriptions.create(spec(&key, |_| {}))).await.expect("create");
    let mut consumer = node.connect(&key, 10).await;
    let control = consumer.control();
    let first = take(&mut consumer, 2).await;
    within(control.nack(vec![first[0].ack_id()], NackAction::Retry, "later".into())).await.expect("nack");
    within(control.nack(vec![first[1].ack_id()], NackAction::Skip, "never".into())).await.expect("nack");
    let again = next(&mut consumer).await;
    assert_eq!((again.event.revision, again.retry_count), (0, 1));
    within(control.nack(vec![again.ack_id()], NackAction::Unknown, String::new())).await.expect("nack");
    let third = next(&mut consumer).await;
    assert_eq!((third.event.revision, third.retry_count), (0, 2), "unknown means retry");
    within(control.ack(vec![third.ack_id()])).await.expect("ack");
    assert_eq!(quiet(&mut consumer).await, None);
    let info = within(node.subscriptions.info(&key)).await.expect("info");
    assert_eq!((info.in_flight, info.parked_count), (0, 0));
}

#[tokio::test]
async fn parked_events_are_counted_and_replayed_on_request() {
    let node = Node::start().await;
    node.append("s", 4).await;
    let key = stream_key("s", "g");
    within(node.subscriptions.create(spec(&key, |_| {}))).await.expect("create");
    let mut consumer = node.connect(&key, 10).await;
    let control = consumer.control();
    let deliveries = take(&mut consumer, 4).await;
    let parked: Vec<_> = deliveries[..3].iter().map(|delivery| delivery.ack_id()).collect();
    within(control.nack(parked, NackAction::Park, "poison".into())).await.expect("nack");
    within(control.ack(vec![deliveries[3].ack_id()])).await.expect("ack");
    eventually("three events are parked", async || {
        node.subscriptions.info(&key).await.expect("info").parked_count == 3
    })
    .await;
    assert_eq!(quiet(&mut consumer).await, None, "parked events stay parked");

    // Only those below the parked stream's revision 2 first, oldest first.
    within(node.subscriptions.replay_parked(&key, Some(2))).await.expect("replay");
    let replayed = take(&mut consumer, 2).await;
    assert_eq!(numbers(&replayed), vec![0, 1]);
    assert_eq!(quiet(&mut consumer).await, None, "the third waits for the next replay");
    within(control.ack(replayed.iter().map(|delivery| delivery.ack_id()).collect())).await.expect("ack");
    eventually("one event is left parked", async || {
        node.subscriptions.info(&key).await.expect("info").parked_count == 1
    })
    .await;
    // The stop-at is a revision, not a count: below 2, nothing is left.
    within(node.subscriptions.replay_parked(&key, Some(2))).await.expect("replay");
    assert_eq!(quiet(&mut consumer).await, None, "nothing parked below revision 2 is left");

    within(node.subscriptions.replay_parked(&key, None)).await.expect("replay");
    let last = next(&mut consumer).await;
    assert_eq!(numbers(std::slice::from_ref(&last)), vec![2]);
    within(control.ack(vec![last.ack_id()])).await.expect("ack");
    eventually("nothing is parked", async || node.subscriptions.info(&key).await.expect("info").parked_count == 0)
        .await;
}

#[tokio::test]
async fn unacked_events_time_out_and_are_parked_past_the_retry_limit() {
    let node = Node::start().await;
    node.append("s", 1).await;
    let key = stream_key("s", "g");
    let tuned = spec(&key, |settings| {
        settings.message_timeout = Duration::from_millis(150);
        settings.max_retry_count = 2;
    });
    within(node.subscriptions.create(tuned)).await.expect("create");
    let mut consumer = node.connect(&key, 10).await;
    let counts: Vec<u32> = take(&mut consumer, 3).await.iter().map(|delivery| delivery.retry_count).collect();
    assert_eq!(counts, vec![0, 1, 2], "delivered, then retried twice after timeouts");
    eventually("the event is parked after its last timeout", async || {
        node.subscriptions.info(&key).await.expect("info").parked_count == 1
    })
    .await;
    assert_eq!(quiet(&mut consumer).await, None);
}

#[tokio::test]
async fn a_late_ack_after_a_timeout_still_counts() {
    let node = Node::start().await;
    node.append("s", 1).await;
    let key = stream_key("s", "g");
    let tuned = spec(&key, |settings| settings.message_timeout = Duration::from_millis(100));
    within(node.subscriptions.create(tuned)).await.expect("create");
    // Stop the consumer taking more, so that the retry waits in the queue.
    let mut consumer = node.connect(&key, 1).await;
    let control = consumer.control();
    let first = next(&mut consumer).await;
    within(control.stop()).await.expect("stop");
    tokio::time::sleep(Duration::from_millis(300)).await;
    within(control.ack(vec![first.ack_id()])).await.expect("ack");
    let mut other = node.connect(&key, 10).await;
    assert_eq!(quiet(&mut other).await, None, "the acked event is not retried");
}

#[tokio::test]
async fn nack_stop_changes_nothing_the_event_stays_in_flight_until_it_times_out() {
    // KurrentDB ignores a Stop nack (its handler is empty): the event stays
    // with its consumer, which goes on receiving, until the message timeout
    // retries it like any unacked event.
    let node = Node::start().await;
    node.append("s", 1).await;
    let key = stream_key("s", "g");
    let tuned = spec(&key, |settings| settings.message_timeout = Duration::from_secs(2));
    within(node.subscriptions.create(tuned)).await.expect("create");
    let mut stopping = node.connect(&key, 10).await;
    let event = next(&mut stopping).await;
    within(stopping.control().nack(vec![event.ack_id()], NackAction::Stop, "bye".into())).await.expect("nack");
    let info = within(node.subscriptions.info(&key)).await.expect("info");
    assert_eq!(info.in_flight, 1, "still in flight");
    node.append("s", 1).await;
    assert_eq!(next(&mut stopping).await.event.revision, 1, "the consumer still gets new events");
    let retried = next(&mut stopping).await;
    assert_eq!((retried.event.revision, retried.retry_count), (0, 1), "retried once it timed out");
}

#[tokio::test]
async fn truncate_parked_discards_parked_events_below_its_stop_at_without_replaying_them() {
    // Goal: KurrentDB's TruncateParked: parked events below the parked
    // stream's revision `stop_at` (or all) are gone for good, uncounted, and
    // a later replay delivers only the rest.
    let node = Node::start().await;
    node.append("s", 4).await;
    let key = stream_key("s", "g");
    within(node.subscriptions.create(spec(&key, |_| {}))).await.expect("create");
    let mut consumer = node.connect(&key, 10).await;
    let control = consumer.control();
    let deliveries = take(&mut consumer, 4).await;
    let parked: Vec<_> = deliveries.iter().map(|delivery| delivery.ack_id()).collect();
    within(control.nack(parked, NackAction::Park, "poison".into())).await.expect("nack");
    eventually("four events are parked", async || node.subscriptions.info(&key).await.expect("info").parked_count == 4)
        .await;

    within(node.subscriptions.truncate_parked(&key, Some(2))).await.expect("truncate");
    assert_eq!(within(node.subscriptions.info(&key)).await.expect("info").parked_count, 2);
    assert_eq!(quiet(&mut consumer).await, None, "nothing is replayed");
    within(node.subscriptions.replay_parked(&key, Some(3))).await.expect("replay");
    let replayed = next(&mut consumer).await;
    assert_eq!(numbers(std::slice::from_ref(&replayed)), vec![2]);
    assert_eq!(quiet(&mut consumer).await, None);
    within(control.ack(vec![replayed.ack_id()])).await.expect("ack");

    within(node.subscriptions.truncate_parked(&key, None)).await.expect("truncate all");
    eventually("nothing is parked", async || node.subscriptions.info(&key).await.expect("info").parked_count == 0)
        .await;
    within(node.subscriptions.replay_parked(&key, None)).await.expect("replay");
    assert_eq!(quiet(&mut consumer).await, None, "the discarded event never comes back");
    let missing = stream_key("s", "nobody");
    assert!(node.subscriptions.truncate_parked(&missing, None).await.is_err());
}

#[tokio::test]
async fn with_a_buffer_of_one_an_unacked_event_is_retried_then_parked_before_the_next_is_sent() {
    // Goal: the buffer size a consumer asks for bounds what it holds, retries
    // included: with room for one event, the one it does not ack comes back
    // until the retry limit parks it, and only then does the next one come.
    let node = Node::start().await;
    node.append("s", 2).await;
    let key = stream_key("s", "g");
    let tuned = spec(&key, |settings| {
        settings.message_timeout = Duration::from_millis(100);
        settings.max_retry_count = 2;
    });
    within(node.subscriptions.create(tuned)).await.expect("create");
    let mut consumer = node.connect(&key, 1).await;
    let seen: Vec<(u64, u32)> =
        take(&mut consumer, 4).await.iter().map(|delivery| (delivery.event.revision, delivery.retry_count)).collect();
    assert_eq!(seen, vec![(0, 0), (0, 1), (0, 2), (1, 0)]);
    eventually("the first event is parked", async || {
        node.subscriptions.info(&key).await.expect("info").parked_count >= 1
    })
    .await;
}

#[tokio::test]
async fn timeouts_are_looked_at_once_a_second_so_an_ack_sent_soon_after_the_deadline_still_counts() {
    // Goal: as in KurrentDB, whose timer looks at deadlines once a second, an
    // event acked a little after its (short) message timeout is not retried:
    // clients batch acks (kurrentdbclient: up to 0.2 s apart) and their own
    // suites expect exactly this with a timeout of 0.1 s. One never acked is
    // retried at the next tick, and parked past the retry limit as before.
    let node = Node::start_with(SubsystemOptions::default()).await;
    node.append("s", 3).await;
    let key = stream_key("s", "g");
    let tuned = spec(&key, |settings| {
        settings.message_timeout = Duration::from_millis(100);
        settings.max_retry_count = 1;
    });
    within(node.subscriptions.create(tuned)).await.expect("create");
    let mut consumer = node.connect(&key, 1).await;
    let control = consumer.control();
    let mut seen = Vec::new();
    while seen.len() < 4 {
        let delivery = next(&mut consumer).await;
        seen.push((delivery.event.revision, delivery.retry_count));
        if delivery.event.revision == 0 {
            continue;
        }
        // Late for the deadline, in time for the tick.
        tokio::time::sleep(Duration::from_millis(200)).await;
        within(control.ack(vec![delivery.ack_id()])).await.expect("ack");
    }
    assert_eq!(seen, vec![(0, 0), (0, 1), (1, 0), (2, 0)]);
}

#[tokio::test]
async fn a_group_created_again_after_a_delete_parks_and_replays_as_a_new_one() {
    // Goal: deleting a group soft-deletes its parked stream (whose `$tb` is
    // then "everything", as in KurrentDB); a group of the same name created
    // later must count and replay what it parks from then on.
    let node = Node::start().await;
    node.append("s", 2).await;
    let key = stream_key("s", "g");
    for round in 0..2 {
        within(node.subscriptions.create(spec(&key, |_| {}))).await.expect("create");
        let mut consumer = node.connect(&key, 10).await;
        let control = consumer.control();
        let first = next(&mut consumer).await;
        within(control.nack(vec![first.ack_id()], NackAction::Park, "poison".into())).await.expect("nack");
        eventually("one event is parked", async || {
            node.subscriptions.info(&key).await.expect("info").parked_count == 1
        })
        .await;
        within(node.subscriptions.replay_parked(&key, None)).await.expect("replay");
        let mut replayed = next(&mut consumer).await;
        if replayed.event.revision != first.event.revision {
            // The second event of the stream came first; the replay follows.
            within(control.ack(vec![replayed.ack_id()])).await.expect("ack");
            replayed = next(&mut consumer).await;
        }
        assert_eq!(replayed.event.revision, first.event.revision, "round {round}");
        drop(consumer);
        within(node.subscriptions.delete(&key)).await.expect("delete");
    }
}

/// With extra statistics, each connection reports how long its acks took
/// (KurrentDB's names, in milliseconds); without, nothing.
#[tokio::test]
async fn extra_statistics_report_each_connections_ack_times() {
    let node = Node::start().await;
    node.append("s", 4).await;
    let measured = stream_key("s", "measured");
    let plain = stream_key("s", "plain");
    within(node.subscriptions.create(spec(&measured, |settings| settings.extra_statistics = true)))
        .await
        .expect("create");
    within(node.subscriptions.create(spec(&plain, |_| {}))).await.expect("create");
    for key in [&measured, &plain] {
        let mut consumer = node.connect(key, 10).await;
        let deliveries = take(&mut consumer, 4).await;
        let (slow, fast) = deliveries.split_at(1);
        within(consumer.control().ack(fast.iter().map(|delivery| delivery.ack_id()).collect())).await.expect("ack");
        tokio::time::sleep(Duration::from_millis(30)).await;
        within(consumer.control().ack(vec![slow[0].ack_id()])).await.expect("ack");
        let info = within(node.subscriptions.info(key)).await.expect("info");
        let connection = info.connections.first().expect("one connection");
        let figure =
            |name: &str| connection.observed_measurements.iter().find(|(key, _)| key == name).map(|(_, value)| *value);
        if key == &measured {
            for name in ["Fastest", "Mean", "Median", "Quintile 1", "Quintile 5", "90%", "99.9%", "Highest"] {
                assert!(figure(name).is_some(), "{name} in {:?}", connection.observed_measurements);
            }
            let highest = figure("Highest").expect("highest");
            assert!(highest >= 30, "the slow ack took at least 30 ms, reported {highest}");
            assert!(figure("Fastest").expect("fastest") <= highest);
        } else {
            assert!(connection.observed_measurements.is_empty(), "off unless asked for");
        }
        drop(consumer);
    }
}
