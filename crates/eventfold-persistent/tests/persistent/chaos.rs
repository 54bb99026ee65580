//! Goal: at-least-once delivery under chaos. Consumers ack, retry, park or
//! ignore events at random, disconnect and reconnect, while events keep
//! being appended and the store is restarted (cleanly or without a last
//! checkpoint) between rounds. At the end, with parked events replayed,
//! every event appended has been acked at least once and nothing unknown
//! was delivered.
//!
//! The seed is printed; `EVENTFOLD_CHAOS_SEED` replays a run and
//! `EVENTFOLD_CHAOS_ROUNDS` makes it longer.

use crate::support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventfold_persistent::{
    ConsumerEvent, ConsumerOptions, ConsumerStrategy, GroupKey, NackAction, PersistentSubscriptions,
};
use eventfold_store::EventId;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::{Node, spec, stream_key, within};
use tokio::sync::watch;

const CONSUMERS: usize = 3;
const EVENTS_PER_ROUND: usize = 300;
const ROUND_TIME: Duration = Duration::from_millis(700);
const FINAL_DEADLINE: Duration = Duration::from_secs(90);

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|value| value.parse().ok())
}

/// What the consumers did, shared by their tasks.
#[derive(Default)]
struct Ledger {
    acked: HashSet<EventId>,
    delivered: u64,
}

/// How a consumer treats events: `calm` acks everything.
#[derive(Clone, Copy)]
enum Mood {
    Chaotic,
    Calm,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_is_acked_at_least_once_through_restarts_and_disconnects() {
    let seed = env_number("EVENTFOLD_CHAOS_SEED").unwrap_or_else(rand::random);
    let rounds = env_number("EVENTFOLD_CHAOS_ROUNDS").unwrap_or(4);
    println!("chaos seed {seed} (EVENTFOLD_CHAOS_SEED={seed} replays it), {rounds} rounds");
    let mut rng = StdRng::seed_from_u64(seed);

    let mut node = Node::start().await;
    let key = stream_key("chaos", "g");
    let tuned = spec(&key, |settings| {
        settings.message_timeout = Duration::from_millis(150);
        settings.max_retry_count = 3;
        settings.min_checkpoint_count = 5;
        settings.max_checkpoint_count = 40;
        settings.checkpoint_after = Duration::from_millis(50);
        settings.history_buffer_size = 50;
        settings.live_buffer_size = 50;
        settings.read_batch_size = 10;
        settings.consumer_strategy = ConsumerStrategy::RoundRobin;
    });
    within(node.subscriptions.create(tuned)).await.expect("create");
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut appended: Vec<EventId> = Vec::new();

    for round in 0..rounds {
        let (stop, stopped) = watch::channel(false);
        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|_| {
                let subscriptions = node.subscriptions.clone();
                let ledger = Arc::clone(&ledger);
                let seed = rng.random();
                tokio::spawn(consume(subscriptions, key.clone(), ledger, stopped.clone(), seed, Mood::Chaotic))
            })
            .collect();
        // Appends land while consumers work.
        for _ in 0..3 {
            appended.extend(node.append("chaos", EVENTS_PER_ROUND / 3).await.iter().map(|event| event.id));
            tokio::time::sleep(ROUND_TIME / 3).await;
        }
        let _ = stop.send(true);
        for consumer in consumers {
            within(consumer).await.expect("consumer task");
        }
        node = if rng.random_bool(0.5) { node.restart().await } else { node.crash().await };
        println!("round {round}: restarted; {} of {} acked", acked_count(&ledger, &appended), appended.len());
    }

    // Calm consumers finish the job; parked events are replayed until
    // everything is acked.
    let (stop, stopped) = watch::channel(false);
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|_| {
            let subscriptions = node.subscriptions.clone();
            tokio::spawn(consume(subscriptions, key.clone(), Arc::clone(&ledger), stopped.clone(), 0, Mood::Calm))
        })
        .collect();
    let deadline = tokio::time::Instant::now() + FINAL_DEADLINE;
    while acked_count(&ledger, &appended) < appended.len() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "seed {seed}: only {} of {} events acked; missing {:?}",
            acked_count(&ledger, &appended),
            appended.len(),
            missing(&ledger, &appended).into_iter().take(10).collect::<Vec<_>>()
        );
        within(node.subscriptions.replay_parked(&key, None)).await.expect("replay parked");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Events acked once and parked after a redelivery are replayed too.
    loop {
        within(node.subscriptions.replay_parked(&key, None)).await.expect("replay parked");
        let info = within(node.subscriptions.info(&key)).await.expect("info");
        if info.parked_count == 0 && info.in_flight == 0 && info.retry_buffer_count == 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "seed {seed}: parked events never drain: {info:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop.send(true);
    for consumer in consumers {
        within(consumer).await.expect("consumer task");
    }
    // With everything done, a clean stop checkpoints the last event (before
    // it, the minimum checkpoint count may hold the last few back).
    let last_revision = appended.len() as u64 - 1;
    let node = node.restart().await;
    let info = within(node.subscriptions.info(&key)).await.expect("info");
    assert_eq!(info.last_checkpointed, Some(last_revision), "seed {seed}: {info:#?}");
    let ledger = ledger.lock().unwrap_or_else(|poison| poison.into_inner());
    let known: HashSet<EventId> = appended.iter().copied().collect();
    assert!(ledger.acked.is_subset(&known), "seed {seed}: acked events nobody appended");
    println!("{} events, {} deliveries, all acked", appended.len(), ledger.delivered);
}

fn acked_count(ledger: &Mutex<Ledger>, appended: &[EventId]) -> usize {
    let ledger = ledger.lock().unwrap_or_else(|poison| poison.into_inner());
    appended.iter().filter(|id| ledger.acked.contains(id)).count()
}

fn missing(ledger: &Mutex<Ledger>, appended: &[EventId]) -> Vec<EventId> {
    let ledger = ledger.lock().unwrap_or_else(|poison| poison.into_inner());
    appended.iter().filter(|id| !ledger.acked.contains(id)).copied().collect()
}

/// One consumer's life: connect, handle events by its mood, sometimes
/// leave and come back, until told to stop or dropped by the group.
async fn consume(
    subscriptions: PersistentSubscriptions,
    key: GroupKey,
    ledger: Arc<Mutex<Ledger>>,
    mut stop: watch::Receiver<bool>,
    seed: u64,
    mood: Mood,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    'connection: loop {
        let options =
            ConsumerOptions { max_in_flight: rng.random_range(1..20), from: "chaos".into(), name: "c".into() };
        let Ok(mut consumer) = subscriptions.connect(&key, options).await else {
            return;
        };
        let control = consumer.control();
        loop {
            let event = tokio::select! {
                _ = stop.changed() => return,
                event = consumer.next() => event,
            };
            let delivery = match event {
                Some(ConsumerEvent::Event(delivery)) => delivery,
                // Dropped: the store is restarting; this round is over.
                Some(ConsumerEvent::Dropped(_)) | None => return,
            };
            ledger.lock().unwrap_or_else(|poison| poison.into_inner()).delivered += 1;
            let id = delivery.ack_id();
            let roll: f64 = match mood {
                Mood::Chaotic => rng.random(),
                Mood::Calm => 0.0,
            };
            let sent = if roll < 0.6 {
                let sent = control.ack(vec![id]).await;
                ledger.lock().unwrap_or_else(|poison| poison.into_inner()).acked.insert(id);
                sent
            } else if roll < 0.75 {
                control.nack(vec![id], NackAction::Retry, "chaos".into()).await
            } else if roll < 0.82 {
                control.nack(vec![id], NackAction::Park, "chaos".into()).await
            } else if roll < 0.97 {
                // Ignored: it times out and comes back.
                Ok(())
            } else {
                // Leave with whatever is held; it goes to the others.
                continue 'connection;
            };
            if sent.is_err() {
                return;
            }
        }
    }
}
