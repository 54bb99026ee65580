//! Reads the log ahead of the handlers: a task of its own pulls the next
//! chunks of the subscription while the engine runs the chunk before, so
//! that a projection takes the longer of reading and handling, not their
//! sum.

use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::mpsc;

/// Chunks read and waiting for the engine: what is held stays bounded.
const CHUNKS_AHEAD: usize = 2;

/// `chunks`, read ahead by a task that ends when the answer is dropped.
pub fn read_ahead<T: Send + 'static>(mut chunks: BoxStream<'static, T>) -> BoxStream<'static, T> {
    let (sender, mut receiver) = mpsc::channel(CHUNKS_AHEAD);
    tokio::spawn(async move {
        loop {
            // A stopped projection drops the receiver: the subscription is
            // let go at once, not when the next event comes.
            let chunk = tokio::select! {
                () = sender.closed() => return,
                chunk = chunks.next() => chunk,
            };
            let Some(chunk) = chunk else { return };
            if sender.send(chunk).await.is_err() {
                return;
            }
        }
    });
    futures::stream::poll_fn(move |context| receiver.poll_recv(context)).boxed()
}
