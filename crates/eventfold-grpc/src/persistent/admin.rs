//! ReplayParked, TruncateParked and RestartSubsystem.

use eventfold_persistent::PersistentSubscriptions;
use eventfold_proto::event_store::client::persistent_subscriptions::{
    ReplayParkedReq, ReplayParkedResp, TruncateParkedReq, TruncateParkedResp, replay_parked_req, truncate_parked_req,
};
use tonic::Status;

use super::convert;
use super::errors;

pub async fn replay_parked(
    subscriptions: &PersistentSubscriptions,
    request: ReplayParkedReq,
) -> Result<ReplayParkedResp, Status> {
    let options = request.options.ok_or_else(|| Status::invalid_argument("replay parked without options"))?;
    let key = match &options.stream_option {
        Some(replay_parked_req::options::StreamOption::StreamIdentifier(identifier)) => {
            convert::key_of(Some(identifier), false, &options.group_name)?
        }
        Some(replay_parked_req::options::StreamOption::All(_)) => convert::key_of(None, true, &options.group_name)?,
        None => convert::key_of(None, false, &options.group_name)?,
    };
    let stop_at = match options.stop_at_option {
        Some(replay_parked_req::options::StopAtOption::StopAt(stop_at)) => Some(
            u64::try_from(stop_at)
                .map_err(|_| Status::invalid_argument("Cannot stop replaying parked message at a negative version."))?,
        ),
        Some(replay_parked_req::options::StopAtOption::NoLimit(_)) | None => None,
    };
    subscriptions.replay_parked(&key, stop_at).await.map_err(|error| errors::group(&error))?;
    Ok(ReplayParkedResp {})
}

pub async fn truncate_parked(
    subscriptions: &PersistentSubscriptions,
    request: TruncateParkedReq,
) -> Result<TruncateParkedResp, Status> {
    let options = request.options.ok_or_else(|| Status::invalid_argument("truncate parked without options"))?;
    let key = match &options.stream_option {
        Some(truncate_parked_req::options::StreamOption::StreamIdentifier(identifier)) => {
            convert::key_of(Some(identifier), false, &options.group_name)?
        }
        Some(truncate_parked_req::options::StreamOption::All(_)) => convert::key_of(None, true, &options.group_name)?,
        None => convert::key_of(None, false, &options.group_name)?,
    };
    let stop_at = match options.stop_at_option {
        Some(truncate_parked_req::options::StopAtOption::StopAt(stop_at)) => Some(
            u64::try_from(stop_at)
                .map_err(|_| Status::invalid_argument("Cannot truncate parked messages at a negative version."))?,
        ),
        Some(truncate_parked_req::options::StopAtOption::NoLimit(_)) | None => None,
    };
    subscriptions.truncate_parked(&key, stop_at).await.map_err(|error| errors::group(&error))?;
    Ok(TruncateParkedResp {})
}

pub async fn restart_subsystem(subscriptions: &PersistentSubscriptions) -> Result<(), Status> {
    subscriptions.restart().await.map_err(|error| errors::storage(&error))
}
