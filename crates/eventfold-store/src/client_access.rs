//! The store as clients see it: every call is checked by the
//! [`AccessPolicy`], for the caller's [`Principal`], before it reaches the
//! backend. The server hands one to its faces per request; subsystems that
//! keep their own state as events (persistent subscriptions, users) get the
//! backend itself.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;

use crate::access::{AccessPolicy, AclRules, Operation, Resource};
use crate::acl::{DefaultAcls, SETTINGS_STREAM, StreamAcl};
use crate::principal::Principal;
use crate::{
    AccessDenied, AppendError, AppendOutcome, AppendRequest, CurrentRevision, DeleteMode, DeleteOutcome, EventStore,
    EventStream, ExpectedRevision, METADATA_EVENT_TYPE, Position, ReadAllRequest, ReadError, ReadStreamRequest,
    ScavengeError, ScavengeOptions, ScavengeStatus, StorageError, StoreHealth, StreamName, SubscribeToAllRequest,
    SubscribeToStreamRequest, SubscriptionError, SubscriptionStream, VerifyError, VerifyReport, metadata_stream_of,
};

/// A backend behind the access check, for one caller.
pub struct ClientAccess {
    inner: Arc<dyn EventStore>,
    policy: AccessPolicy,
    principal: Principal,
}

/// Why a check did not let a call through.
enum Refusal {
    Denied(AccessDenied),
    /// The ACLs could not be read.
    Storage(StorageError),
}

impl From<Refusal> for AppendError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Denied(denied) => denied.into(),
            Refusal::Storage(error) => error.into(),
        }
    }
}

impl From<Refusal> for ReadError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Denied(denied) => denied.into(),
            Refusal::Storage(error) => error.into(),
        }
    }
}

impl From<Refusal> for SubscriptionError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Denied(denied) => denied.into(),
            Refusal::Storage(error) => error.into(),
        }
    }
}

impl ClientAccess {
    /// The store with full rights (the node's own principal): what every
    /// request gets while authentication is off.
    pub fn new(inner: Arc<dyn EventStore>, policy: AccessPolicy) -> Self {
        Self::for_principal(inner, policy, Principal::System)
    }

    pub fn for_principal(inner: Arc<dyn EventStore>, policy: AccessPolicy, principal: Principal) -> Self {
        Self { inner, policy, principal }
    }

    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    async fn authorize(&self, resource: Resource<'_>, operation: Operation) -> Result<(), Refusal> {
        let rules = match AccessPolicy::acl_subject(resource, operation) {
            // Admins pass every ACL: no need to read them.
            Some((subject, _)) if !self.principal.is_admin() => self.rules_of(&subject).await?,
            _ => AclRules::default(),
        };
        self.policy.check(&self.principal, resource, operation, &rules).map_err(Refusal::Denied)
    }

    /// Whether the caller may read `resource`, for what reads it on the
    /// caller's behalf outside this store (a persistent subscription's
    /// consumer).
    pub async fn authorize_read(&self, resource: Resource<'_>) -> Result<(), ReadError> {
        self.authorize(resource, Operation::Read).await?;
        Ok(())
    }

    fn authorize_node(&self, operation: Operation) -> Result<(), AccessDenied> {
        self.policy.check(&self.principal, Resource::Node, operation, &AclRules::default())
    }

    /// `subject`'s own `$acl` and the `$settings` defaults, as stored now.
    async fn rules_of(&self, subject: &str) -> Result<AclRules, Refusal> {
        let metadata = self.latest_event(&metadata_stream_of(subject), Some(METADATA_EVENT_TYPE)).await?;
        let settings = self.latest_event(SETTINGS_STREAM, None).await?;
        Ok(AclRules {
            stream: metadata.as_deref().and_then(StreamAcl::of_metadata),
            defaults: settings.as_deref().map(DefaultAcls::of_settings).unwrap_or_default(),
        })
    }

    /// The data of the last event of `stream` (of `event_type` if given);
    /// `None` for a stream that has none (or cannot be named).
    async fn latest_event(&self, stream: &str, event_type: Option<&str>) -> Result<Option<Bytes>, Refusal> {
        let Ok(stream) = StreamName::new(stream) else { return Ok(None) };
        let request = ReadStreamRequest { max_count: 1, ..ReadStreamRequest::backwards(stream) };
        let first = match self.inner.read_stream(request).await {
            Ok(mut events) => events.next().await,
            Err(error) => Some(Err(error)),
        };
        match first {
            Some(Ok(event)) if event_type.is_none_or(|wanted| event.event_type == wanted) => Ok(Some(event.data)),
            Some(Err(ReadError::Storage(error))) => Err(Refusal::Storage(error)),
            _ => Ok(None),
        }
    }

    /// Whether the caller may make `request`'s append, for what writes on
    /// the caller's behalf outside this store (a projection's emits, which
    /// commit in one transaction with its checkpoint).
    pub async fn authorize_append(&self, request: &AppendRequest) -> Result<(), AppendError> {
        self.check_append(request).await
    }

    async fn check_append(&self, request: &AppendRequest) -> Result<(), AppendError> {
        let operation = AccessPolicy::append_operation(&request.stream);
        self.authorize(Resource::Stream(&request.stream), operation).await?;
        Ok(())
    }
}

#[async_trait]
impl EventStore for ClientAccess {
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, AppendError> {
        self.check_append(&request).await?;
        self.inner.append(request).await
    }

    /// All or nothing: one refused stream refuses the whole transaction.
    async fn append_transaction(&self, requests: Vec<AppendRequest>) -> Result<Vec<AppendOutcome>, AppendError> {
        for request in &requests {
            self.check_append(request).await?;
        }
        self.inner.append_transaction(requests).await
    }

    async fn delete_stream(
        &self,
        stream: StreamName,
        expected: ExpectedRevision,
        mode: DeleteMode,
    ) -> Result<DeleteOutcome, AppendError> {
        let operation = match mode {
            DeleteMode::Soft => Operation::Delete,
            DeleteMode::Tombstone => Operation::Tombstone,
        };
        self.authorize(Resource::Stream(&stream), operation).await?;
        self.inner.delete_stream(stream, expected, mode).await
    }

    async fn read_stream(&self, request: ReadStreamRequest) -> Result<EventStream, ReadError> {
        self.authorize(Resource::Stream(&request.stream), Operation::Read).await?;
        self.inner.read_stream(request).await
    }

    async fn read_all(&self, request: ReadAllRequest) -> Result<EventStream, ReadError> {
        self.authorize(Resource::All, Operation::Read).await?;
        self.inner.read_all(request).await
    }

    async fn subscribe_to_stream(
        &self,
        request: SubscribeToStreamRequest,
    ) -> Result<SubscriptionStream, SubscriptionError> {
        self.authorize(Resource::Stream(&request.stream), Operation::Read).await?;
        self.inner.subscribe_to_stream(request).await
    }

    async fn subscribe_to_all(&self, request: SubscribeToAllRequest) -> Result<SubscriptionStream, SubscriptionError> {
        self.authorize(Resource::All, Operation::Read).await?;
        self.inner.subscribe_to_all(request).await
    }

    async fn stream_revision(&self, stream: &StreamName) -> Result<CurrentRevision, ReadError> {
        self.authorize(Resource::Stream(stream), Operation::Read).await?;
        self.inner.stream_revision(stream).await
    }

    fn head_position(&self) -> Option<Position> {
        self.inner.head_position()
    }

    fn health(&self) -> StoreHealth {
        self.inner.health()
    }

    // Operations are for `$ops` and `$admins`: a scavenge changes no
    // stream's visible state, but it costs the node I/O.
    async fn start_scavenge(&self, options: ScavengeOptions) -> Result<ScavengeStatus, ScavengeError> {
        self.authorize_node(Operation::Scavenge)?;
        self.inner.start_scavenge(options).await
    }

    async fn stop_scavenge(&self, id: &str) -> Result<ScavengeStatus, ScavengeError> {
        self.authorize_node(Operation::Scavenge)?;
        self.inner.stop_scavenge(id).await
    }

    /// A caller who may not scavenge sees no scavenge.
    async fn scavenge_status(&self) -> Option<ScavengeStatus> {
        self.authorize_node(Operation::Scavenge).ok()?;
        self.inner.scavenge_status().await
    }

    async fn verify_storage(&self) -> Result<VerifyReport, VerifyError> {
        self.authorize_node(Operation::Verify)?;
        self.inner.verify_storage().await
    }

    async fn backup(&self, request: crate::BackupRequest) -> Result<crate::BackupReport, crate::BackupError> {
        self.authorize_node(Operation::Backup)?;
        self.inner.backup(request).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures::executor::block_on;

    use super::*;
    use crate::{ProposedEvent, StorageError, StorageErrorKind};

    /// Counts the calls that reach it and answers each with a closed store.
    #[derive(Default)]
    struct CountingStore {
        calls: AtomicUsize,
    }

    impl CountingStore {
        fn reached(&self) -> StorageError {
            self.calls.fetch_add(1, Ordering::SeqCst);
            StorageError::new(StorageErrorKind::Closed, "reached the backend")
        }
    }

    #[async_trait]
    impl EventStore for CountingStore {
        async fn append_transaction(&self, _: Vec<AppendRequest>) -> Result<Vec<AppendOutcome>, AppendError> {
            Err(self.reached().into())
        }
        async fn delete_stream(
            &self,
            _: StreamName,
            _: ExpectedRevision,
            _: DeleteMode,
        ) -> Result<DeleteOutcome, AppendError> {
            Err(self.reached().into())
        }
        async fn read_stream(&self, _: ReadStreamRequest) -> Result<EventStream, ReadError> {
            Err(self.reached().into())
        }
        async fn read_all(&self, _: ReadAllRequest) -> Result<EventStream, ReadError> {
            Err(self.reached().into())
        }
        async fn subscribe_to_stream(
            &self,
            _: SubscribeToStreamRequest,
        ) -> Result<SubscriptionStream, SubscriptionError> {
            Err(self.reached().into())
        }
        async fn subscribe_to_all(&self, _: SubscribeToAllRequest) -> Result<SubscriptionStream, SubscriptionError> {
            Err(self.reached().into())
        }
        async fn stream_revision(&self, _: &StreamName) -> Result<CurrentRevision, ReadError> {
            Err(self.reached().into())
        }
        fn head_position(&self) -> Option<Position> {
            None
        }
    }

    fn stream(name: &str) -> StreamName {
        StreamName::new(name).expect("valid stream name")
    }

    fn append(name: &str) -> AppendRequest {
        AppendRequest::new(stream(name), ExpectedRevision::Any, vec![ProposedEvent::json("x", b"{}".to_vec())])
    }

    fn guarded() -> (Arc<CountingStore>, ClientAccess) {
        let backend = Arc::new(CountingStore::default());
        let guarded = ClientAccess::new(Arc::clone(&backend) as Arc<dyn EventStore>, AccessPolicy);
        (backend, guarded)
    }

    #[test]
    fn refused_writes_never_reach_the_backend() {
        let (backend, guarded) = guarded();
        let config = "$persistentsubscription-config";
        for mode in [DeleteMode::Soft, DeleteMode::Tombstone] {
            let refused = block_on(guarded.delete_stream(stream(config), ExpectedRevision::Any, mode));
            assert!(matches!(refused, Err(AppendError::AccessDenied(_))), "{mode:?}: {refused:?}");
        }
        let metadata = block_on(guarded.append(append("$$$persistentsubscription-config")));
        match metadata {
            Err(AppendError::AccessDenied(denied)) => assert_eq!(denied.operation, Operation::WriteMetadata),
            other => panic!("metadata write: {other:?}"),
        }
        // One protected stream refuses the whole transaction.
        let transaction = block_on(guarded.append_transaction(vec![append("order-1"), append(config)]));
        assert!(matches!(transaction, Err(AppendError::AccessDenied(_))), "{transaction:?}");
        assert_eq!(backend.calls.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn allowed_calls_are_forwarded() {
        let (backend, guarded) = guarded();
        let _ = block_on(guarded.append(append("order-1")));
        let _ = block_on(guarded.delete_stream(stream("order-1"), ExpectedRevision::Any, DeleteMode::Tombstone));
        let _ = block_on(guarded.read_stream(ReadStreamRequest::forwards(stream("$persistentsubscription-config"))));
        let _ = block_on(guarded.read_all(ReadAllRequest::forwards()));
        let _ = block_on(guarded.stream_revision(&stream("$persistentsubscription-config")));
        assert_eq!(backend.calls.load(Ordering::SeqCst), 5);
    }

    #[test]
    fn a_user_is_checked_against_the_acls_stored_in_metadata_and_settings() {
        use crate::testing::{MemoryStore, recorded};
        let backend = Arc::new(MemoryStore::default());
        backend.push(recorded("order-1", 0, "Placed", "{}"));
        backend.push(recorded("$$order-1", 0, "$metadata", r#"{"$acl": {"$r": ["bob"]}}"#));
        backend.push(recorded("$settings", 0, "update-default-acl", r#"{"$userStreamAcl": {"$r": "$all"}}"#));
        backend.push(recorded("invoice-1", 0, "Sent", "{}"));
        let store_for = |principal: Principal| {
            ClientAccess::for_principal(Arc::clone(&backend) as Arc<dyn EventStore>, AccessPolicy, principal)
        };
        let read =
            |store: &ClientAccess, name: &str| block_on(store.read_stream(ReadStreamRequest::forwards(stream(name))));
        let alice = store_for(Principal::user("alice", vec![]));
        assert!(matches!(read(&alice, "order-1"), Err(ReadError::AccessDenied(_))), "the stream's $acl names bob");
        assert!(read(&alice, "invoice-1").is_ok(), "the $settings default opens reads to $all");
        assert!(read(&store_for(Principal::user("bob", vec![])), "order-1").is_ok());
        assert!(read(&store_for(Principal::Anonymous), "invoice-1").is_ok(), "$all includes anonymous callers");
        assert!(matches!(read(&store_for(Principal::Anonymous), "order-1"), Err(ReadError::AccessDenied(_))));
        // An ACL that cannot be read refuses rather than opens.
        backend.fail_reads();
        assert!(matches!(read(&alice, "invoice-1"), Err(ReadError::Storage(_))));
    }

    #[test]
    fn operations_need_ops_or_admins() {
        let (backend, _) = guarded();
        let as_user = |groups: Vec<String>| {
            ClientAccess::for_principal(
                Arc::clone(&backend) as Arc<dyn EventStore>,
                AccessPolicy,
                Principal::user("someone", groups),
            )
        };
        let user = as_user(vec![]);
        assert!(matches!(
            block_on(user.start_scavenge(ScavengeOptions::default())),
            Err(ScavengeError::AccessDenied(_))
        ));
        assert!(matches!(block_on(user.verify_storage()), Err(VerifyError::AccessDenied(_))));
        let ops = as_user(vec!["$ops".into()]);
        assert!(matches!(block_on(ops.start_scavenge(ScavengeOptions::default())), Err(ScavengeError::Unsupported)));
        assert!(matches!(block_on(ops.verify_storage()), Err(VerifyError::Unsupported)));
    }
}
