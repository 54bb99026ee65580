use eventfold_proto::event_store::client::streams::{DeleteReq, TombstoneReq, delete_req, tombstone_req};

use crate::convert::{empty, identifier};
use crate::{Client, ClientError, Expected};

impl Client {
    /// Soft-deletes `stream`: its events are hidden, and it can be written
    /// again, its revisions going on.
    pub async fn delete(&self, stream: &str, expected: Expected) -> Result<(), ClientError> {
        use delete_req::options::ExpectedStreamRevision as Option_;
        let expected_option = match expected {
            Expected::Any => Option_::Any(empty()),
            Expected::NoStream => Option_::NoStream(empty()),
            Expected::StreamExists => Option_::StreamExists(empty()),
            Expected::Revision(revision) => Option_::Revision(revision),
        };
        let request = DeleteReq {
            options: Some(delete_req::Options {
                stream_identifier: Some(identifier(stream)),
                expected_stream_revision: Some(expected_option),
            }),
        };
        self.streams.clone().delete(request).await.map_err(|status| ClientError::from_status(status, stream))?;
        Ok(())
    }

    /// Deletes `stream` for good: it can never be written again.
    pub async fn tombstone(&self, stream: &str, expected: Expected) -> Result<(), ClientError> {
        use tombstone_req::options::ExpectedStreamRevision as Option_;
        let expected_option = match expected {
            Expected::Any => Option_::Any(empty()),
            Expected::NoStream => Option_::NoStream(empty()),
            Expected::StreamExists => Option_::StreamExists(empty()),
            Expected::Revision(revision) => Option_::Revision(revision),
        };
        let request = TombstoneReq {
            options: Some(tombstone_req::Options {
                stream_identifier: Some(identifier(stream)),
                expected_stream_revision: Some(expected_option),
            }),
        };
        self.streams.clone().tombstone(request).await.map_err(|status| ClientError::from_status(status, stream))?;
        Ok(())
    }
}
