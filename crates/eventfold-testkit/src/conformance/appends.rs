//! Appends with each expectation, idempotent repeats, transactions, bad
//! input, and reads of streams and `$all` both ways.

use std::sync::Arc;

use eventfold_store::{
    AllFrom, AppendError, AppendRequest, CurrentRevision, DEFAULT_MAX_APPEND_BYTES, Direction, EventFilter, EventStore,
    ExpectedRevision, Position, ProposedEvent, ReadAllRequest, ReadError, ReadStreamRequest, RevisionFrom, StreamName,
};

use super::{events, name, read_all, read_stream, revisions, typed};

pub async fn appends_check_every_kind_of_expected_revision(store: Arc<dyn EventStore>) {
    let stream = name("order-1");
    let append = |expected, count| store.append(AppendRequest::new(stream.clone(), expected, events(count)));

    let error = append(ExpectedRevision::StreamExists, 1).await.expect_err("stream does not exist");
    assert!(matches!(error, AppendError::WrongExpectedVersion { actual: CurrentRevision::NoStream, .. }));
    let first = append(ExpectedRevision::NoStream, 2).await.expect("create");
    assert_eq!(first.current_revision, CurrentRevision::Current(1));
    assert!(first.position.is_some_and(|position| position.0 > 0));
    let error = append(ExpectedRevision::NoStream, 1).await.expect_err("exists now");
    assert_eq!(
        error,
        AppendError::WrongExpectedVersion {
            stream: stream.clone(),
            expected: ExpectedRevision::NoStream,
            actual: CurrentRevision::Current(1)
        }
    );
    append(ExpectedRevision::Exact(1), 1).await.expect("exact");
    let error = append(ExpectedRevision::Exact(1), 1).await.expect_err("stale");
    assert!(matches!(error, AppendError::WrongExpectedVersion { actual: CurrentRevision::Current(2), .. }));
    append(ExpectedRevision::StreamExists, 1).await.expect("exists");
    let last = append(ExpectedRevision::Any, 1).await.expect("any");
    assert_eq!(last.current_revision, CurrentRevision::Current(4));
    assert_eq!(store.stream_revision(&stream).await.expect("revision"), CurrentRevision::Current(4));
    assert_eq!(store.head_position(), last.position);

    let forwards = read_stream(store.as_ref(), ReadStreamRequest::forwards(stream.clone())).await.expect("read");
    assert_eq!(revisions(&forwards), vec![0, 1, 2, 3, 4]);
    assert!(forwards.windows(2).all(|pair| pair[0].position < pair[1].position));
    assert_eq!(forwards.last().map(|event| event.position), last.position, "the append answers its commit position");
    let backwards = read_stream(store.as_ref(), ReadStreamRequest::backwards(stream.clone())).await.expect("read");
    assert_eq!(revisions(&backwards), vec![4, 3, 2, 1, 0]);
    let middle = ReadStreamRequest {
        stream: stream.clone(),
        from: RevisionFrom::Revision(3),
        direction: Direction::Backwards,
        max_count: 2,
    };
    assert_eq!(revisions(&read_stream(store.as_ref(), middle).await.expect("read")), vec![3, 2]);
    let past_end = ReadStreamRequest {
        stream: stream.clone(),
        from: RevisionFrom::Revision(99),
        direction: Direction::Forwards,
        max_count: 10,
    };
    assert!(read_stream(store.as_ref(), past_end).await.expect("read").is_empty());
    let missing = read_stream(store.as_ref(), ReadStreamRequest::forwards(name("nope"))).await.expect_err("none");
    assert_eq!(missing, ReadError::StreamNotFound { stream: name("nope") });
}

pub async fn repeated_event_ids_return_the_original_result_and_write_nothing(store: Arc<dyn EventStore>) {
    let stream = name("cart-9");
    let batch = events(3);
    let append = |expected| store.append(AppendRequest::new(stream.clone(), expected, batch.clone()));
    let original = append(ExpectedRevision::NoStream).await.expect("append");
    assert_eq!(append(ExpectedRevision::NoStream).await.expect("repeat"), original);
    assert_eq!(append(ExpectedRevision::Any).await.expect("repeat with any"), original);
    store.append(AppendRequest::new(stream.clone(), ExpectedRevision::Any, events(1))).await.expect("more");
    assert_eq!(append(ExpectedRevision::NoStream).await.expect("repeat after more"), original);
    // The first id repeats an earlier write but the rest do not.
    let mut partial = batch.clone();
    partial[1] = ProposedEvent::json("Happened", "{}");
    let refused = store.append(AppendRequest::new(stream.clone(), ExpectedRevision::Any, partial)).await;
    assert!(matches!(refused, Err(AppendError::WrongExpectedVersion { .. })), "{refused:?}");
    let all = read_stream(store.as_ref(), ReadStreamRequest::forwards(stream)).await.expect("read");
    assert_eq!(all.len(), 4);
}

pub async fn all_reads_both_ways_and_position_zero_means_the_first_event(store: Arc<dyn EventStore>) {
    for index in 0..5 {
        let stream = name(&format!("s-{index}"));
        store.append(AppendRequest::new(stream, ExpectedRevision::Any, events(2))).await.expect("append");
    }
    let forwards = read_all(store.as_ref(), ReadAllRequest::forwards()).await;
    assert_eq!(forwards.len(), 10);
    assert!(forwards.windows(2).all(|pair| pair[0].position < pair[1].position));
    let from_zero = ReadAllRequest { from: AllFrom::Position(Position(0)), ..ReadAllRequest::forwards() };
    assert_eq!(read_all(store.as_ref(), from_zero).await, forwards);
    let mut backwards = read_all(store.as_ref(), ReadAllRequest::backwards()).await;
    backwards.reverse();
    assert_eq!(backwards, forwards);
    let third = forwards[3].position;
    let from_third = ReadAllRequest { from: AllFrom::Position(third), max_count: 2, ..ReadAllRequest::forwards() };
    assert_eq!(read_all(store.as_ref(), from_third).await, forwards[3..5].to_vec());
    // Backwards from a position starts before the event there.
    let before_third = ReadAllRequest { from: AllFrom::Position(third), max_count: 2, ..ReadAllRequest::backwards() };
    assert_eq!(read_all(store.as_ref(), before_third).await, vec![forwards[2].clone(), forwards[1].clone()]);
    // Clients compute "after the event I saw" as its position plus one: a
    // position inside an event reads from the next one.
    let inside = ReadAllRequest { from: AllFrom::Position(Position(third.0 + 1)), ..ReadAllRequest::forwards() };
    assert_eq!(read_all(store.as_ref(), inside).await, forwards[4..].to_vec());
    let limited = ReadAllRequest { max_count: 3, ..ReadAllRequest::backwards() };
    assert_eq!(read_all(store.as_ref(), limited).await.len(), 3);
    let from_end = ReadAllRequest { from: AllFrom::End, ..ReadAllRequest::forwards() };
    assert!(read_all(store.as_ref(), from_end).await.is_empty());
}

/// `created` never falls along `$all`, even for appends racing from many
/// tasks (on PostgreSQL, stamped before they commit, numbered after): a
/// window on `created` is complete once the log passed its end.
pub async fn created_never_falls_along_all(store: Arc<dyn EventStore>) {
    let appenders = (0..8).map(|task| {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            for round in 0..10 {
                let stream = name(&format!("clock-{task}-{}", round % 3));
                store.append(AppendRequest::new(stream, ExpectedRevision::Any, events(2))).await.expect("append");
            }
        })
    });
    for appender in appenders.collect::<Vec<_>>() {
        appender.await.expect("appender");
    }
    let all = read_all(store.as_ref(), ReadAllRequest::forwards()).await;
    assert_eq!(all.len(), 160);
    let falls: Vec<_> = all.windows(2).filter(|pair| pair[1].created < pair[0].created).collect();
    assert!(falls.is_empty(), "created falls along $all at {} places", falls.len());
}

pub async fn multi_stream_transactions_are_all_or_nothing(store: Arc<dyn EventStore>) {
    store.append(AppendRequest::new(name("a"), ExpectedRevision::NoStream, events(1))).await.expect("seed");
    let refused = store
        .append_transaction(vec![
            AppendRequest::new(name("b"), ExpectedRevision::NoStream, events(2)),
            AppendRequest::new(name("a"), ExpectedRevision::NoStream, events(1)),
        ])
        .await
        .expect_err("a exists");
    assert!(matches!(refused, AppendError::WrongExpectedVersion { .. }));
    assert_eq!(store.stream_revision(&name("b")).await.expect("revision"), CurrentRevision::NoStream);
    let outcomes = store
        .append_transaction(vec![
            AppendRequest::new(name("b"), ExpectedRevision::NoStream, events(2)),
            AppendRequest::new(name("a"), ExpectedRevision::Exact(0), events(1)),
            AppendRequest::new(name("b"), ExpectedRevision::Exact(1), events(1)),
        ])
        .await
        .expect("transaction");
    let revisions: Vec<_> = outcomes.iter().map(|outcome| outcome.current_revision).collect();
    assert_eq!(revisions, vec![CurrentRevision::Current(1), CurrentRevision::Current(1), CurrentRevision::Current(2)]);
    assert_eq!(read_all(store.as_ref(), ReadAllRequest::forwards()).await.len(), 5);
}

pub async fn bad_input_gets_typed_errors(store: Arc<dyn EventStore>) {
    let big = ProposedEvent::json("Big", vec![b'x'; DEFAULT_MAX_APPEND_BYTES]);
    let error = store.append(AppendRequest::new(name("s"), ExpectedRevision::Any, vec![big])).await.expect_err("big");
    assert!(matches!(error, AppendError::MaximumAppendSizeExceeded { .. }), "{error:?}");
    let untyped = ProposedEvent::json("", "{}");
    let error = store.append(AppendRequest::new(name("s"), ExpectedRevision::Any, vec![untyped])).await;
    assert!(matches!(error, Err(AppendError::InvalidEvent { .. })));
    let virtual_stream = store.append(AppendRequest::new(name("$ce-s"), ExpectedRevision::Any, events(1))).await;
    assert!(matches!(virtual_stream, Err(AppendError::InvalidEvent { .. })));
    let bad_metadata = ProposedEvent::json("$metadata", r#"{"$maxCount":"five"}"#);
    let error = store.append(AppendRequest::new(name("$$s"), ExpectedRevision::Any, vec![bad_metadata])).await;
    assert!(matches!(error, Err(AppendError::InvalidEvent { .. })));
    assert!(StreamName::new("").is_err());
    assert_eq!(store.stream_revision(&name("s")).await.expect("revision"), CurrentRevision::NoStream);
}

pub async fn filtered_all_reads_match_what_the_filter_says(store: Arc<dyn EventStore>) {
    for (stream, event_type) in
        [("order-1", "Placed"), ("user-1", "Joined"), ("order_2", "Placed"), ("order-3", "Paid")]
    {
        store.append(AppendRequest::new(name(stream), ExpectedRevision::Any, typed(event_type, 2))).await.expect("a");
    }
    let streams = |events: Vec<eventfold_store::RecordedEvent>| -> Vec<String> {
        events.iter().map(|event| event.stream.to_string()).collect()
    };
    let filtered = |filter: EventFilter, direction: Direction, max_count: u64| {
        let store = Arc::clone(&store);
        async move {
            let request = ReadAllRequest {
                from: if direction == Direction::Forwards { AllFrom::Start } else { AllFrom::End },
                direction,
                max_count,
                filter: Some(filter),
            };
            read_all(store.as_ref(), request).await
        }
    };
    // `_` is a character, not a wildcard.
    let prefix = EventFilter::StreamNamePrefix(vec!["order-".into()]);
    let found = filtered(prefix.clone(), Direction::Forwards, u64::MAX).await;
    assert_eq!(streams(found), ["order-1", "order-1", "order-3", "order-3"]);
    let found = filtered(prefix, Direction::Backwards, 3).await;
    assert_eq!(streams(found), ["order-3", "order-3", "order-1"]);
    let by_type = EventFilter::EventTypePrefix(vec!["Pla".into(), "Joi".into()]);
    assert_eq!(filtered(by_type, Direction::Forwards, u64::MAX).await.len(), 6);
    let regex = EventFilter::stream_name_regex(r"^(?!order).*").expect("regex");
    assert_eq!(streams(filtered(regex, Direction::Forwards, u64::MAX).await), ["user-1", "user-1"]);
    let type_regex = EventFilter::event_type_regex("^Pa").expect("regex");
    assert_eq!(streams(filtered(type_regex, Direction::Backwards, 1).await), ["order-3"]);

    // Long scans page through many windows: nothing is lost or repeated
    // at their edges, either way.
    for _ in 0..3 {
        store.append(AppendRequest::new(name("bulk-1"), ExpectedRevision::Any, typed("Bulk", 400))).await.expect("a");
    }
    let everything = read_all(store.as_ref(), ReadAllRequest::forwards()).await;
    for filter in
        [EventFilter::stream_name_regex("^bulk").expect("regex"), EventFilter::StreamNamePrefix(vec!["bulk".into()])]
    {
        let forwards = filtered(filter.clone(), Direction::Forwards, u64::MAX).await;
        let mut backwards = filtered(filter.clone(), Direction::Backwards, u64::MAX).await;
        backwards.reverse();
        let expected: Vec<_> = everything.iter().filter(|event| filter.matches(event)).cloned().collect();
        assert_eq!(forwards.len(), 1200, "{filter:?}");
        assert_eq!(forwards, expected, "{filter:?}");
        assert_eq!(backwards, expected, "{filter:?}");
    }
}
