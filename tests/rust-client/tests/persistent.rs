//! Persistent subscriptions through the official Rust client (`kurrentdb`):
//! create (on a stream and on `$all`), get info, subscribe, ack, nack
//! (retry with a retry count, park, then replay), the errors the client
//! maps (exists, not found), and delete.

use std::time::Duration;

use eventfold_rust_client_tests::{Server, numbered_events, unique_stream, within};
use kurrentdb::{
    AppendToStreamOptions, Client, DeletePersistentSubscriptionOptions, Error, GetPersistentSubscriptionInfoOptions,
    NakAction, PersistentSubscription, PersistentSubscriptionEvent, PersistentSubscriptionOptions,
    PersistentSubscriptionToAllOptions, ReplayParkedMessagesOptions, ResolvedEvent, StreamPosition,
    SubscribeToPersistentSubscriptionOptions, SubscriptionFilter, SystemConsumerStrategy,
};

/// Seconds any single client operation may take.
const OP: u64 = 15;

async fn append(client: &Client, stream: &str, count: usize) {
    let options = AppendToStreamOptions::default();
    within(OP, &format!("append to {stream}"), client.append_to_stream(stream, &options, numbered_events("ps", count)))
        .await
        .expect("append");
}

/// The next event and its retry count.
async fn next_event(subscription: &mut PersistentSubscription) -> (ResolvedEvent, usize) {
    loop {
        let event = within(OP, "the next persistent subscription event", subscription.next_subscription_event())
            .await
            .expect("persistent subscription event");
        if let PersistentSubscriptionEvent::EventAppeared { event, retry_count } = event {
            return (event, retry_count);
        }
    }
}

fn revision(event: &ResolvedEvent) -> u64 {
    event.get_original_event().revision
}

/// Polls the group's info until `check` holds.
async fn eventually_info(
    client: &Client,
    stream: &str,
    group: &str,
    what: &str,
    check: impl Fn(&kurrentdb::PersistentSubscriptionInfo<u64>) -> bool,
) {
    within(OP, what, async {
        loop {
            let info = client
                .get_persistent_subscription_info(stream, group, &GetPersistentSubscriptionInfoOptions::default())
                .await
                .expect("get info");
            if check(&info) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_subscribe_ack_nack_replay_and_delete() {
    let server = Server::start().await;
    let client = server.client();
    let stream = unique_stream("ps");
    let group = "workers";
    append(&client, &stream, 4).await;

    let options = PersistentSubscriptionOptions::default()
        .start_from(StreamPosition::Start)
        .consumer_strategy_name(SystemConsumerStrategy::RoundRobin)
        .max_retry_count(5);
    within(OP, "create", client.create_persistent_subscription(stream.as_str(), group, &options))
        .await
        .expect("create");
    let again =
        within(OP, "create again", client.create_persistent_subscription(stream.as_str(), group, &options)).await;
    assert!(matches!(again, Err(Error::ResourceAlreadyExists)), "creating it again: {again:?}");

    let info = within(
        OP,
        "get info",
        client.get_persistent_subscription_info(&stream, group, &GetPersistentSubscriptionInfoOptions::default()),
    )
    .await
    .expect("get info");
    assert_eq!((info.event_source.as_str(), info.group_name.as_str()), (stream.as_str(), group));
    let settings = info.settings.expect("settings");
    assert_eq!(settings.max_retry_count, 5);
    assert_eq!(settings.start_from, StreamPosition::Start);
    assert_eq!(settings.consumer_strategy_name, SystemConsumerStrategy::RoundRobin);

    let subscribe = SubscribeToPersistentSubscriptionOptions::default().buffer_size(10);
    let mut subscription =
        within(OP, "subscribe", client.subscribe_to_persistent_subscription(stream.as_str(), group, &subscribe))
            .await
            .expect("subscribe");
    let mut events = Vec::new();
    for expected in 0..4 {
        let (event, retry_count) = next_event(&mut subscription).await;
        assert_eq!((revision(&event), retry_count), (expected, 0));
        events.push(event);
    }
    subscription.ack(&events[0]).await.expect("ack");
    subscription.ack(&events[1]).await.expect("ack");

    // Retry: the same event again, with its retry count.
    subscription.nack(&events[2], NakAction::Retry, "not yet").await.expect("nack");
    let (retried, retry_count) = next_event(&mut subscription).await;
    assert_eq!((revision(&retried), retry_count), (2, 1));
    subscription.ack(&retried).await.expect("ack");

    // Park, then replay.
    subscription.nack(&events[3], NakAction::Park, "poison").await.expect("nack");
    eventually_info(&client, &stream, group, "one event parked", |info| info.stats.parked_message_count == 1).await;
    within(OP, "replay", client.replay_parked_messages(&stream, group, &ReplayParkedMessagesOptions::default()))
        .await
        .expect("replay parked");
    let (replayed, _) = next_event(&mut subscription).await;
    assert_eq!(revision(&replayed), 3);
    subscription.ack(&replayed).await.expect("ack");
    eventually_info(&client, &stream, group, "everything acked and checkpointed", |info| {
        info.stats.parked_message_count == 0 && info.stats.total_in_flight_messages == 0
    })
    .await;

    within(
        OP,
        "delete",
        client.delete_persistent_subscription(stream.as_str(), group, &DeletePersistentSubscriptionOptions::default()),
    )
    .await
    .expect("delete");
    // The consumer is dropped with the group.
    let dropped = within(OP, "the consumer to be dropped", subscription.next_subscription_event()).await;
    assert!(dropped.is_err(), "a deleted group's consumer is dropped: {dropped:?}");
    let info = within(
        OP,
        "get info after delete",
        client.get_persistent_subscription_info(&stream, group, &GetPersistentSubscriptionInfoOptions::default()),
    )
    .await;
    assert!(matches!(info, Err(Error::ResourceNotFound)), "info of a deleted group: {info:?}");
    let delete = within(
        OP,
        "delete again",
        client.delete_persistent_subscription(stream.as_str(), group, &DeletePersistentSubscriptionOptions::default()),
    )
    .await;
    assert!(matches!(delete, Err(Error::ResourceNotFound)), "deleting it again: {delete:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribing_to_an_unknown_group_is_not_found() {
    let server = Server::start().await;
    let client = server.client();
    let subscribe = SubscribeToPersistentSubscriptionOptions::default();
    let result = within(OP, "subscribe", async {
        let mut subscription =
            client.subscribe_to_persistent_subscription(unique_stream("ps").as_str(), "nobody", &subscribe).await?;
        subscription.next_subscription_event().await.map(|_| ())
    })
    .await;
    assert!(matches!(result, Err(Error::ResourceNotFound)), "{result:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filtered_all_group_delivers_only_what_it_wants() {
    let server = Server::start().await;
    let client = server.client();
    let wanted = unique_stream("psall");
    let unwanted = unique_stream("other");
    let filter = SubscriptionFilter::on_stream_name().add_prefix(&wanted);
    let options = PersistentSubscriptionToAllOptions::default().start_from(StreamPosition::Start).filter(filter);
    within(OP, "create to $all", client.create_persistent_subscription_to_all("all-workers", &options))
        .await
        .expect("create to $all");
    append(&client, &unwanted, 2).await;
    append(&client, &wanted, 3).await;
    let subscribe = SubscribeToPersistentSubscriptionOptions::default().buffer_size(10);
    let mut subscription =
        within(OP, "subscribe to $all", client.subscribe_to_persistent_subscription_to_all("all-workers", &subscribe))
            .await
            .expect("subscribe to $all");
    for expected in 0..3 {
        let (event, _) = next_event(&mut subscription).await;
        assert_eq!(event.get_original_event().stream_id(), wanted);
        assert_eq!(revision(&event), expected);
        subscription.ack(&event).await.expect("ack");
    }
    let info = within(
        OP,
        "get info to $all",
        client.get_persistent_subscription_info_to_all("all-workers", &GetPersistentSubscriptionInfoOptions::default()),
    )
    .await
    .expect("get info to $all");
    assert_eq!(info.event_source, "$all");
    within(
        OP,
        "delete to $all",
        client.delete_persistent_subscription_to_all("all-workers", &DeletePersistentSubscriptionOptions::default()),
    )
    .await
    .expect("delete to $all");
    server.stop().await;
}

/// Delivery throughput over gRPC: events acked per second by one and by four
/// consumers of one group catching up on a backlog. Printed, not asserted
/// (it depends on the machine and on how the server was built; run with
/// `EVENTFOLD_BIN` pointing at a release build for figures worth quoting).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delivery_throughput_with_one_and_four_consumers() {
    const EVENTS: usize = 10_000;
    let server = Server::start().await;
    let client = server.client();
    let stream = unique_stream("psbench");
    for _ in 0..EVENTS / 500 {
        append(&client, &stream, 500).await;
    }
    for consumers in [1, 4] {
        let group = format!("bench-{consumers}");
        let options = PersistentSubscriptionOptions::default()
            .start_from(StreamPosition::Start)
            .consumer_strategy_name(SystemConsumerStrategy::RoundRobin)
            .history_buffer_size(2000)
            .live_buffer_size(2000)
            .read_batch_size(500);
        within(OP, "create", client.create_persistent_subscription(stream.as_str(), &group, &options))
            .await
            .expect("create");
        let acked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let started = std::time::Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..consumers {
            let subscribe = SubscribeToPersistentSubscriptionOptions::default().buffer_size(200);
            let mut subscription = within(
                OP,
                "subscribe",
                client.subscribe_to_persistent_subscription(stream.as_str(), &group, &subscribe),
            )
            .await
            .expect("subscribe");
            let acked = std::sync::Arc::clone(&acked);
            tasks.push(tokio::spawn(async move {
                while acked.load(std::sync::atomic::Ordering::Relaxed) < EVENTS {
                    match tokio::time::timeout(Duration::from_millis(100), subscription.next()).await {
                        Ok(Ok(event)) => {
                            subscription.ack(&event).await.expect("ack");
                            acked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        Ok(Err(error)) => panic!("consumer failed: {error}"),
                        Err(_) => continue,
                    }
                }
            }));
        }
        for task in tasks {
            within(120, "the consumers to ack everything", task).await.expect("consumer task");
        }
        let elapsed = started.elapsed().as_secs_f64();
        println!(
            "gRPC persistent subscription throughput: {consumers} consumer(s) acked {EVENTS} events in {elapsed:.2} s = {:.0} events/s",
            EVENTS as f64 / elapsed
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buffer_of_one_holds_an_unacked_event_through_its_retries_before_the_next() {
    // Goal: with `buffer_size(1)`, an event the consumer does not ack comes
    // back after each message timeout until the retry limit parks it; only
    // then does the next event come.
    let server = Server::start().await;
    let client = server.client();
    let stream = unique_stream("ps-one");
    let group = "one";
    append(&client, &stream, 2).await;
    let options = PersistentSubscriptionOptions::default()
        .start_from(StreamPosition::Start)
        .message_timeout(Duration::from_millis(500))
        .max_retry_count(2);
    within(OP, "create", client.create_persistent_subscription(stream.as_str(), group, &options))
        .await
        .expect("create");
    let subscribe = SubscribeToPersistentSubscriptionOptions::default().buffer_size(1);
    let mut subscription =
        within(OP, "subscribe", client.subscribe_to_persistent_subscription(stream.as_str(), group, &subscribe))
            .await
            .expect("subscribe");
    let mut seen = Vec::new();
    for _ in 0..4 {
        let (event, retry_count) = next_event(&mut subscription).await;
        seen.push((revision(&event), retry_count));
    }
    assert_eq!(seen, vec![(0, 0), (0, 1), (0, 2), (1, 0)]);
    server.stop().await;
}
