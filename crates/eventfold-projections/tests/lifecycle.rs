//! The subsystem over the embedded engine: create, run, fault, stop,
//! enable, reset, delete, restart, as clients drive it.

mod support;

use eventfold_projections::{CreateProjection, DeleteOptions, Mode, ProjectionError, Select};
use eventfold_store::{AppendRequest, ExpectedRevision, ProposedEvent, StreamName};
use serde_json::json;
use support::{Node, within};

const COUNTER: &str = "fromAll().when({ $init: function () { return { count: 0 }; }, \
    added: function (s, e) { s.count += e.data.n; } })";

#[tokio::test]
async fn a_continuous_projection_folds_history_and_live_events() {
    let node = Node::start().await;
    node.append("order-1", "added", json!({"n": 1})).await;
    node.append("order-2", "added", json!({"n": 2})).await;
    node.create("counter", COUNTER, false).await;
    node.await_state("counter", "", json!({"count": 3})).await;
    node.append("order-1", "added", json!({"n": 4})).await;
    node.await_state("counter", "", json!({"count": 7})).await;
    assert_eq!(node.status("counter").await, "Running");
    let statistics = node.projections.statistics(Select::Named("counter".into())).await.expect("statistics");
    assert_eq!(statistics[0].events_processed_after_restart, 3);
    assert_eq!(statistics[0].mode, Mode::Continuous);
}

#[tokio::test]
async fn state_survives_a_restart_from_the_checkpoint() {
    let node = Node::start().await;
    for n in 0..10 {
        node.append(&format!("order-{}", n % 3), "added", json!({"n": 1})).await;
    }
    node.create("counter", COUNTER, false).await;
    node.await_state("counter", "", json!({"count": 10})).await;
    let node = node.restart().await;
    node.await_state("counter", "", json!({"count": 10})).await;
    node.append("order-1", "added", json!({"n": 1})).await;
    node.await_state("counter", "", json!({"count": 11})).await;
    let checkpoints = node.read("$projections-counter-checkpoint").await;
    assert!(checkpoints.iter().all(|(event_type, _)| event_type == "$ProjectionCheckpoint"));
    assert!(!checkpoints.is_empty());
}

#[tokio::test]
async fn partitions_emit_and_link_exactly_once_across_restarts() {
    let node = Node::start().await;
    let query = "fromCategory('order').foreachStream().when({ \
        $init: function () { return { total: 0 }; }, \
        added: function (s, e) { s.total += e.data.n; emit('totals-' + e.streamId, 'Total', { total: s.total }); \
                                 linkTo('all-added', e); } })";
    node.create("totals", query, true).await;
    for n in 1..=5 {
        node.append("order-a", "added", json!({"n": n})).await;
        node.append("order-b", "added", json!({"n": 10 * n})).await;
        node.append("invoice-a", "added", json!({"n": 1000})).await;
    }
    node.await_state("totals", "order-b", json!({"total": 150})).await;
    node.await_state("totals", "order-a", json!({"total": 15})).await;
    let node = node.restart().await;
    node.append("order-a", "added", json!({"n": 6})).await;
    node.await_state("totals", "order-a", json!({"total": 21})).await;
    let totals: Vec<_> = node.read("totals-order-a").await.into_iter().map(|(_, data)| data).collect();
    assert_eq!(totals.len(), 6, "{totals:?}");
    assert!(totals[5].contains("21"));
    assert_eq!(node.read("all-added").await.len(), 11);
    let partitions = node.read("$projections-totals-partitions").await;
    assert_eq!(partitions.len(), 2);
    let tracked = node.read("$projections-totals-emittedstreams").await;
    assert_eq!(tracked.len(), 3, "{tracked:?}");
}

#[tokio::test]
async fn a_throwing_handler_faults_with_its_message() {
    let node = Node::start().await;
    node.append("order-1", "bad", json!({})).await;
    node.create("thrower", "fromAll().when({ bad: function (s, e) { throw new Error('cannot take this'); } })", false)
        .await;
    node.await_status("thrower", "Faulted").await;
    let statistics = node.projections.statistics(Select::Named("thrower".into())).await.expect("statistics");
    assert!(statistics[0].state_reason.contains("cannot take this"), "{}", statistics[0].state_reason);
}

#[tokio::test]
async fn a_fault_in_a_batch_names_its_event_and_commits_nothing_after_it() {
    let node = Node::start().await;
    // One append: the four events reach the projection in one batch.
    let events = (0..4)
        .map(|n| {
            let event_type = if n == 2 { "bad" } else { "ok" };
            ProposedEvent::json(event_type, serde_json::to_vec(&json!({ "n": n })).expect("json"))
        })
        .collect();
    let stream = StreamName::new("order-1").expect("name");
    node.store.append(AppendRequest::new(stream, ExpectedRevision::Any, events)).await.expect("append");
    node.create(
        "batch-thrower",
        "fromAll().when({ ok: function (s, e) { emit('seen-ok', 'Seen', { n: e.data.n }); }, \
           bad: function (s, e) { throw new Error('cannot take this'); } })",
        true,
    )
    .await;
    node.await_status("batch-thrower", "Faulted").await;
    let statistics = node.projections.statistics(Select::Named("batch-thrower".into())).await.expect("statistics");
    let reason = &statistics[0].state_reason;
    assert!(reason.contains("cannot take this"), "{reason}");
    assert!(reason.contains("at event 2@order-1"), "{reason}");
    let emitted: Vec<String> = node.read("seen-ok").await.into_iter().map(|(_, data)| data).collect();
    assert!(emitted.iter().all(|data| !data.contains("3")), "an event after the fault was committed: {emitted:?}");
}

#[tokio::test]
async fn an_endless_loop_faults_instead_of_stalling() {
    let node = Node::start().await;
    node.append("order-1", "spin", json!({})).await;
    node.create("spinner", "fromAll().when({ spin: function (s, e) { for (;;) {} } })", false).await;
    node.await_status("spinner", "Faulted").await;
    let statistics = node.projections.statistics(Select::Named("spinner".into())).await.expect("statistics");
    assert!(statistics[0].state_reason.contains("250ms"), "{}", statistics[0].state_reason);
}

#[tokio::test]
async fn emit_without_emit_enabled_faults() {
    let node = Node::start().await;
    node.append("order-1", "x", json!({})).await;
    node.create("emitter", "fromAll().when({ x: function (s, e) { emit('out', 'T', {}); } })", false).await;
    node.await_status("emitter", "Faulted").await;
    let statistics = node.projections.statistics(Select::Named("emitter".into())).await.expect("statistics");
    assert!(statistics[0].state_reason.contains("'emit' is not allowed by the projection/configuration/mode"));
}

#[tokio::test]
async fn a_syntax_error_is_refused_and_nothing_is_stored() {
    let node = Node::start().await;
    let refused = node
        .projections
        .create(CreateProjection {
            name: "broken".into(),
            mode: Mode::Continuous,
            query: "fromAll().when({\n  x: function (s, e) { s.n = ; }\n})".into(),
            emit_enabled: false,
            track_emitted_streams: false,
            engine_version: 1,
            run_as: None,
        })
        .await
        .expect_err("refused");
    assert!(refused.to_string().contains("line 2"), "{refused}");
    assert!(node.read("$projections-broken").await.is_empty());
    assert_eq!(node.projections.state("broken", "").await, Err(ProjectionError::NotFound("broken".into())));
}

#[tokio::test]
async fn disable_enable_reset_and_delete() {
    let node = Node::start().await;
    node.append("order-1", "added", json!({"n": 5})).await;
    node.create("counter", COUNTER, false).await;
    node.await_state("counter", "", json!({"count": 5})).await;
    let refused = node.projections.delete("counter", DeleteOptions::default()).await;
    assert!(matches!(refused, Err(ProjectionError::OperationFailed(_))), "{refused:?}");
    node.projections.disable("counter", true).await.expect("disabled");
    assert_eq!(node.status("counter").await, "Stopped");
    node.append("order-1", "added", json!({"n": 1})).await;
    node.projections.enable("counter").await.expect("enabled");
    node.await_state("counter", "", json!({"count": 6})).await;
    node.projections.reset("counter", None).await.expect("reset");
    node.await_state("counter", "", json!({"count": 6})).await;
    node.projections.disable("counter", false).await.expect("aborted");
    assert_eq!(node.status("counter").await, "Aborted");
    node.projections
        .delete("counter", DeleteOptions { checkpoint_stream: true, ..DeleteOptions::default() })
        .await
        .expect("deleted");
    assert_eq!(node.projections.state("counter", "").await, Err(ProjectionError::NotFound("counter".into())));
    let node = node.restart().await;
    assert!(matches!(node.projections.state("counter", "").await, Err(ProjectionError::NotFound(_))));
}

#[tokio::test]
async fn a_duplicate_name_is_refused() {
    let node = Node::start().await;
    node.create("counter", COUNTER, false).await;
    let again = node
        .projections
        .create(CreateProjection {
            name: "counter".into(),
            mode: Mode::Continuous,
            query: COUNTER.into(),
            emit_enabled: false,
            track_emitted_streams: false,
            engine_version: 1,
            run_as: None,
        })
        .await;
    assert_eq!(again, Err(ProjectionError::AlreadyExists("counter".into())));
}

#[tokio::test]
async fn a_one_time_projection_completes() {
    let node = Node::start().await;
    node.append("order-1", "added", json!({"n": 2})).await;
    let name = node
        .projections
        .create(CreateProjection {
            name: String::new(),
            mode: Mode::OneTime,
            query: COUNTER.into(),
            emit_enabled: false,
            track_emitted_streams: false,
            engine_version: 1,
            run_as: None,
        })
        .await
        .expect("created");
    node.await_status(&name, "Completed").await;
    node.await_state(&name, "", json!({"count": 2})).await;
}

#[tokio::test]
async fn update_changes_the_query_and_results_follow_transform_by() {
    let node = Node::start().await;
    node.append("order-1", "added", json!({"n": 2})).await;
    node.create("counter", COUNTER, false).await;
    node.await_state("counter", "", json!({"count": 2})).await;
    let doubled = format!("{COUNTER}.transformBy(function (s) {{ return {{ doubled: s.count * 2 }}; }})");
    node.projections.update("counter", doubled, None).await.expect("updated");
    node.append("order-1", "added", json!({"n": 1})).await;
    node.await_state("counter", "", json!({"count": 3})).await;
    within(async {
        loop {
            if node.projections.result("counter", "").await.expect("result").as_deref() == Some(r#"{"doubled":6}"#) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
    within(async {
        loop {
            let results = node.read("$projections-counter-result").await;
            if results.iter().any(|(event_type, data)| event_type == "Result" && data == r#"{"doubled":6}"#) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn system_projections_are_listed_and_link_by_correlation_id() {
    let node = Node::start_with(eventfold_projections::ProjectionsOptions {
        start_standard_projections: true,
        ..support::test_options()
    })
    .await;
    let all = node.projections.statistics(Select::All).await.expect("statistics");
    let names: Vec<_> = all.iter().map(|statistics| statistics.name.as_str()).collect();
    for system in ["$by_category", "$by_correlation_id", "$by_event_type", "$stream_by_category", "$streams"] {
        assert!(names.contains(&system), "{names:?}");
    }
    node.append_with_metadata("order-1", "placed", json!({}), json!({"$correlationId": "c-1"})).await;
    node.append_with_metadata("order-2", "placed", json!({}), json!({"$correlationId": "c-1"})).await;
    within(async {
        while node.read("$bc-c-1").await.len() < 2 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
    within(async {
        while node.read("$category-order").await.len() < 2 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
    let refused = node.projections.delete("$by_category", DeleteOptions::default()).await;
    assert!(matches!(refused, Err(ProjectionError::OperationFailed(_))));
    node.projections.disable("$by_category", true).await.expect("disabled");
    assert_eq!(node.status("$by_category").await, "Stopped");
}

#[tokio::test]
async fn reset_to_a_position_processes_only_the_events_after_it() {
    let node = Node::start().await;
    node.append("order-1", "added", json!({"n": 100})).await;
    node.create("counter", COUNTER, false).await;
    node.await_state("counter", "", json!({"count": 100})).await;
    let after = node.store.head_position().expect("a head");
    node.append("order-1", "added", json!({"n": 1})).await;
    node.append("order-2", "added", json!({"n": 2})).await;
    node.await_state("counter", "", json!({"count": 103})).await;
    node.projections.reset("counter", Some(after)).await.expect("reset");
    node.await_state("counter", "", json!({"count": 3})).await;
    let node = node.restart().await;
    node.append("order-2", "added", json!({"n": 4})).await;
    node.await_state("counter", "", json!({"count": 7})).await;
}

#[tokio::test]
async fn output_to_names_the_result_streams() {
    let node = Node::start().await;
    node.append("order-1", "added", json!({"n": 3})).await;
    let query = "fromCategory('order').foreachStream().when({ $init: function () { return { count: 0 }; }, \
        added: function (s, e) { s.count += e.data.n; } }).outputTo('order-counts', 'order-count-{0}')";
    node.create("counts", query, false).await;
    within(async {
        while node.read("order-count-order-1").await != vec![("Result".to_owned(), r#"{"count":3}"#.to_owned())] {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
    within(async {
        while node.read("order-counts").await.len() != 1 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
}
