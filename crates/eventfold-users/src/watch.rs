//! Forgets cached credentials of every user whose stream changes, however
//! it changed (through this subsystem, or an admin writing `$user-<login>`
//! or its metadata directly).

use std::sync::Arc;
use std::time::Duration;

use eventfold_store::{
    EventFilter, EventStore, SubscribeFrom, SubscribeToAllRequest, SubscriptionItem, USER_STREAM_PREFIX,
};
use futures::StreamExt;

use crate::cache::CredentialCache;
use crate::record::login_of_stream;

const RESUBSCRIBE_PAUSE: Duration = Duration::from_secs(1);

/// Runs until aborted.
pub async fn forget_changed_users(store: Arc<dyn EventStore>, cache: Arc<CredentialCache>) {
    let prefixes = vec![USER_STREAM_PREFIX.to_owned(), format!("$${USER_STREAM_PREFIX}")];
    loop {
        let request = SubscribeToAllRequest {
            from: SubscribeFrom::End,
            filter: Some(EventFilter::StreamNamePrefix(prefixes.clone())),
            checkpoint_interval: None,
        };
        match store.subscribe_to_all(request).await {
            Ok(mut changes) => {
                // Changes made before this subscription began are not seen.
                cache.forget_all();
                while let Some(item) = changes.next().await {
                    match item {
                        Ok(SubscriptionItem::Event(event)) => {
                            if let Some(login) = login_of_stream(event.stream.as_str()) {
                                cache.forget(login);
                            }
                        }
                        Ok(_) => {}
                        Err(error) => {
                            tracing::warn!(%error, "watching user changes failed; resubscribing");
                            break;
                        }
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "cannot watch user changes; retrying"),
        }
        cache.forget_all();
        tokio::time::sleep(RESUBSCRIBE_PAUSE).await;
    }
}
