use eventfold_proto::event_store::client::operations::{StartScavengeReq, start_scavenge_req};

use crate::{Client, ClientError};

impl Client {
    /// Starts a scavenge; returns its id.
    pub async fn start_scavenge(&self) -> Result<String, ClientError> {
        let request =
            StartScavengeReq { options: Some(start_scavenge_req::Options { thread_count: 1, start_from_chunk: 0 }) };
        let response = self
            .operations
            .clone()
            .start_scavenge(request)
            .await
            .map_err(|status| ClientError::from_status(status, ""))?;
        Ok(response.into_inner().scavenge_id)
    }
}
