//! Stream metadata: the latest `$metadata` event of the stream `$$<name>`.

use bytes::Bytes;
use futures::TryStreamExt;

use crate::{AppendSuccess, Client, ClientError, Direction, Expected, ProposedEvent, ReadFrom};

const METADATA_EVENT_TYPE: &str = "$metadata";

impl Client {
    /// The stream's metadata document and the revision of the event holding
    /// it; `None` when the stream has never had any.
    pub async fn get_metadata(&self, stream: &str) -> Result<Option<(Bytes, u64)>, ClientError> {
        let metadata_stream = format!("$${stream}");
        let events = self.read(&metadata_stream, ReadFrom::End, Direction::Backwards, 1, None).await?;
        match events.try_collect::<Vec<_>>().await {
            Ok(events) => Ok(events.into_iter().next().map(|event| (event.data, event.revision))),
            Err(ClientError::StreamNotFound { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Replaces the stream's metadata document with `document` (a JSON
    /// object).
    pub async fn set_metadata(
        &self,
        stream: &str,
        expected: Expected,
        document: Bytes,
    ) -> Result<AppendSuccess, ClientError> {
        let metadata_stream = format!("$${stream}");
        self.append(&metadata_stream, expected, vec![ProposedEvent::json(METADATA_EVENT_TYPE, document)]).await
    }
}
