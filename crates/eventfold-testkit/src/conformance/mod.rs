//! The contract every backend keeps, as one suite that takes a store
//! factory: appends and expected revisions, idempotent repeats, atomic
//! multi-stream transactions, reads of streams and `$all` both ways with
//! filters, catch-up subscriptions with no gap and no duplicate, metadata
//! and retention, soft deletes and tombstones, virtual streams.
//!
//! Each case gets a fresh, empty store. Backend-specific behaviour (the
//! engine's byte positions, restarts, crash recovery) is tested beside each
//! backend, not here.

mod appends;
mod deletes;
mod metadata;
mod subscriptions;

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use eventfold_store::{
    EventStore, ProposedEvent, ReadAllRequest, ReadError, ReadStreamRequest, RecordedEvent, StreamName,
    SubscriptionItem, SubscriptionStream,
};
use futures::{StreamExt, TryStreamExt};

/// A fresh store, and whatever must live as long as it (a directory, a
/// database).
pub struct FreshStore {
    pub store: Arc<dyn EventStore>,
    pub guard: Box<dyn Any + Send>,
}

/// Makes a fresh, empty store for each case.
#[async_trait::async_trait]
pub trait StoreFactory: Send + Sync {
    async fn fresh(&self) -> FreshStore;
}

type Case = fn(Arc<dyn EventStore>) -> Pin<Box<dyn Future<Output = ()> + Send>>;

macro_rules! cases {
    ($($module:ident :: $case:ident),* $(,)?) => {
        &[$((stringify!($case), |store| Box::pin($module::$case(store)))),*]
    };
}

/// Every case, by name.
pub const CASES: &[(&str, Case)] = cases![
    appends::appends_check_every_kind_of_expected_revision,
    appends::repeated_event_ids_return_the_original_result_and_write_nothing,
    appends::all_reads_both_ways_and_position_zero_means_the_first_event,
    appends::multi_stream_transactions_are_all_or_nothing,
    appends::created_never_falls_along_all,
    appends::bad_input_gets_typed_errors,
    appends::filtered_all_reads_match_what_the_filter_says,
    deletes::soft_delete_hides_the_stream_and_appends_continue_its_revisions,
    deletes::a_tombstoned_stream_is_deleted_for_good,
    deletes::recreating_a_soft_deleted_stream_rewrites_its_truncation_once_and_keeps_its_other_metadata,
    metadata::metadata_truncates_and_limits_what_reads_see,
    metadata::categories_event_types_and_the_streams_list_are_served_as_links,
    metadata::zero_max_count_and_max_age_are_no_limit,
    metadata::the_metadata_stream_of_a_tombstoned_stream_refuses_appends,
    subscriptions::subscribers_see_every_event_once_in_order_across_the_switch_to_live,
    subscriptions::filtered_subscriptions_get_matching_events_and_checkpoints_that_never_go_back,
    subscriptions::stream_subscriptions_catch_up_then_go_live,
];

/// Runs every case (or those whose name contains `only`, when set) on a
/// fresh store each; prints each case's name first, so a failure names it.
pub async fn run_all(factory: &dyn StoreFactory, only: Option<&str>) {
    for (name, case) in CASES {
        if only.is_some_and(|only| !name.contains(only)) {
            continue;
        }
        eprintln!("conformance case: {name}");
        let fresh = factory.fresh().await;
        tokio::time::timeout(CASE_LIMIT, case(Arc::clone(&fresh.store)))
            .await
            .unwrap_or_else(|_| panic!("conformance case {name} did not finish within {CASE_LIMIT:?}"));
        drop(fresh);
    }
}

/// Longest a case may take: a hang is a failure, not a stuck suite.
const CASE_LIMIT: Duration = Duration::from_secs(60);

pub(crate) fn name(text: &str) -> StreamName {
    StreamName::new(text).expect("valid stream name")
}

pub(crate) fn events(count: usize) -> Vec<ProposedEvent> {
    typed("Happened", count)
}

pub(crate) fn typed(event_type: &str, count: usize) -> Vec<ProposedEvent> {
    (0..count).map(|index| ProposedEvent::json(event_type, format!("{{\"n\":{index}}}"))).collect()
}

pub(crate) async fn read_stream(
    store: &dyn EventStore,
    request: ReadStreamRequest,
) -> Result<Vec<RecordedEvent>, ReadError> {
    store.read_stream(request).await?.try_collect().await
}

pub(crate) async fn read(store: &dyn EventStore, stream: &str) -> Result<Vec<RecordedEvent>, ReadError> {
    read_stream(store, ReadStreamRequest::forwards(name(stream))).await
}

pub(crate) async fn read_all(store: &dyn EventStore, request: ReadAllRequest) -> Vec<RecordedEvent> {
    store.read_all(request).await.expect("read all").try_collect().await.expect("events")
}

pub(crate) fn revisions(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|event| event.revision).collect()
}

/// The next item, within a generous limit.
pub(crate) async fn next_item(subscription: &mut SubscriptionStream) -> SubscriptionItem {
    match tokio::time::timeout(Duration::from_secs(30), subscription.next()).await {
        Ok(Some(Ok(item))) => item,
        Ok(other) => panic!("subscription ended or failed: {other:?}"),
        Err(_) => panic!("no subscription item within 30 s"),
    }
}
