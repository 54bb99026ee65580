//! The store as clients see it: every call is checked by the
//! [`AccessPolicy`] before it reaches the backend. The server hands this to
//! its faces (gRPC, HTTP); subsystems that keep their own state as events
//! (persistent subscriptions) get the backend itself.

use std::sync::Arc;

use async_trait::async_trait;

use crate::access::{AccessPolicy, Operation, Resource};
use crate::{
    AppendError, AppendOutcome, AppendRequest, CurrentRevision, DeleteMode, DeleteOutcome, EventStore, EventStream,
    ExpectedRevision, Position, ReadAllRequest, ReadError, ReadStreamRequest, ScavengeError, ScavengeOptions,
    ScavengeStatus, StoreHealth, StreamName, SubscribeToAllRequest, SubscribeToStreamRequest, SubscriptionError,
    SubscriptionStream, VerifyError, VerifyReport,
};

/// A backend behind the access check.
pub struct ClientAccess {
    inner: Arc<dyn EventStore>,
    policy: AccessPolicy,
}

impl ClientAccess {
    pub fn new(inner: Arc<dyn EventStore>, policy: AccessPolicy) -> Self {
        Self { inner, policy }
    }

    fn check_append(&self, request: &AppendRequest) -> Result<(), AppendError> {
        let operation = AccessPolicy::append_operation(&request.stream);
        self.policy.check(Resource::Stream(&request.stream), operation)?;
        Ok(())
    }
}

#[async_trait]
impl EventStore for ClientAccess {
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, AppendError> {
        self.check_append(&request)?;
        self.inner.append(request).await
    }

    /// All or nothing: one refused stream refuses the whole transaction.
    async fn append_transaction(&self, requests: Vec<AppendRequest>) -> Result<Vec<AppendOutcome>, AppendError> {
        for request in &requests {
            self.check_append(request)?;
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
        self.policy.check(Resource::Stream(&stream), operation)?;
        self.inner.delete_stream(stream, expected, mode).await
    }

    async fn read_stream(&self, request: ReadStreamRequest) -> Result<EventStream, ReadError> {
        self.policy.check(Resource::Stream(&request.stream), Operation::Read)?;
        self.inner.read_stream(request).await
    }

    async fn read_all(&self, request: ReadAllRequest) -> Result<EventStream, ReadError> {
        self.policy.check(Resource::All, Operation::Read)?;
        self.inner.read_all(request).await
    }

    async fn subscribe_to_stream(
        &self,
        request: SubscribeToStreamRequest,
    ) -> Result<SubscriptionStream, SubscriptionError> {
        self.policy.check(Resource::Stream(&request.stream), Operation::Read)?;
        self.inner.subscribe_to_stream(request).await
    }

    async fn subscribe_to_all(&self, request: SubscribeToAllRequest) -> Result<SubscriptionStream, SubscriptionError> {
        self.policy.check(Resource::All, Operation::Read)?;
        self.inner.subscribe_to_all(request).await
    }

    async fn stream_revision(&self, stream: &StreamName) -> Result<CurrentRevision, ReadError> {
        self.policy.check(Resource::Stream(stream), Operation::Read)?;
        self.inner.stream_revision(stream).await
    }

    fn head_position(&self) -> Option<Position> {
        self.inner.head_position()
    }

    fn health(&self) -> StoreHealth {
        self.inner.health()
    }

    // A scavenge changes no stream's visible state (it drops only what
    // reads already hide), so no stream's rule applies to it.
    async fn start_scavenge(&self, options: ScavengeOptions) -> Result<ScavengeStatus, ScavengeError> {
        self.inner.start_scavenge(options).await
    }

    async fn stop_scavenge(&self, id: &str) -> Result<ScavengeStatus, ScavengeError> {
        self.inner.stop_scavenge(id).await
    }

    async fn scavenge_status(&self) -> Option<ScavengeStatus> {
        self.inner.scavenge_status().await
    }

    // Verifying reads and reports; it changes nothing.
    async fn verify_storage(&self) -> Result<VerifyReport, VerifyError> {
        self.inner.verify_storage().await
    }

    // A backup reads every stream, and writes only outside the store.
    async fn backup(&self, request: crate::BackupRequest) -> Result<crate::BackupReport, crate::BackupError> {
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
}
