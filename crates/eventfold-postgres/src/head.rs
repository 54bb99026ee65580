//! The last position this node knows to be sequenced, and how it learns of
//! later ones: at once from its own sequencer, from other nodes' sequencers
//! through a `LISTEN` hint where the database has one, and by polling the
//! counter row as the floor (PG-6). Live subscribers wait on it.

use eventfold_pg_tls::PgTls;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use futures::StreamExt;
use tokio::sync::{Notify, watch};
use tokio_postgres::AsyncMessage;

#[derive(Clone)]
pub struct Head {
    sender: Arc<watch::Sender<u64>>,
}

impl Head {
    pub fn new(position: u64) -> Self {
        Self { sender: Arc::new(watch::Sender::new(position)) }
    }

    pub fn get(&self) -> u64 {
        *self.sender.borrow()
    }

    /// Raises the head; a lower value is stale news and changes nothing.
    pub fn advance(&self, position: u64) {
        self.sender.send_if_modified(|head| {
            let raised = position > *head;
            if raised {
                *head = position;
            }
            raised
        });
    }

    pub fn watch(&self) -> watch::Receiver<u64> {
        self.sender.subscribe()
    }
}

/// Keeps `head` up to date with the database until the store is dropped.
pub fn follow(
    pool: Pool,
    config: tokio_postgres::Config,
    tls: PgTls,
    head: Head,
    poll_interval: Duration,
    mut stopped: watch::Receiver<()>,
) {
    let hint = Arc::new(Notify::new());
    let listener = tokio::spawn(listen(config, tls, Arc::clone(&hint)));
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = hint.notified() => {}
                () = tokio::time::sleep(poll_interval) => {}
                // The store was dropped.
                _ = stopped.changed() => {
                    listener.abort();
                    return;
                }
            }
            if let Ok(client) = pool.get().await
                && let Ok(row) =
                    client.query_one("SELECT last_position FROM eventfold_sequencer WHERE id = 1", &[]).await
                && let Ok(last) = row.try_get::<_, i64>(0)
            {
                head.advance(u64::try_from(last).unwrap_or(0));
            }
        }
    });
}

/// A dedicated session that `LISTEN`s for sequencers' hints; reconnects
/// after a pause when it drops. Hints lost meanwhile cost only latency:
/// polling goes on.
async fn listen(config: tokio_postgres::Config, tls: PgTls, hint: Arc<Notify>) {
    loop {
        match config.connect(tls.clone()).await {
            Ok((client, mut connection)) => {
                let mut messages = futures::stream::poll_fn(move |context| connection.poll_message(context));
                let listening = client.batch_execute("LISTEN eventfold_head");
                tokio::pin!(listening);
                // The connection must be driven for the LISTEN to complete.
                let mut listening_done = false;
                loop {
                    tokio::select! {
                        done = &mut listening, if !listening_done => {
                            listening_done = true;
                            if done.is_err() {
                                // No LISTEN on this engine: polling only.
                                return;
                            }
                        }
                        message = messages.next() => match message {
                            Some(Ok(AsyncMessage::Notification(_))) => hint.notify_one(),
                            Some(Ok(_)) => {}
                            Some(Err(_)) | None => break,
                        },
                    }
                }
            }
            Err(error) => tracing::debug!(%error, "the LISTEN session could not connect"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
