//! Creating (`PUT`), updating (`POST`) and deleting (`DELETE`) a group on
//! a stream, and replaying its parked events (`POST .../replayParked`,
//! `?stopAt=N`). Groups on `$all` are managed over gRPC only, as in
//! KurrentDB.

use crate::http::caller::Caller;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use eventfold_persistent::{GroupKey, GroupSpec, Source};

use super::{errors, group_key, settings};
use crate::http::atom::{AtomError, base_uri, escape};
use crate::http::error::query_value;

/// A settings body is small; anything larger is refused unread.
const SETTINGS_BODY_MAX_BYTES: usize = 64 * 1024;

pub async fn create(
    Caller(node): Caller,
    Path((stream, group)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let answer = async {
        node.authorize(eventfold_store::Operation::ManagePersistentSubscriptions)?;
        let key = stream_group(&stream, &group)?;
        let (start_from, settings) = settings::parse(&read_settings(body).await?)?;
        let spec = GroupSpec { key: key.clone(), start_from, filter: None, settings };
        node.persistent_subscriptions().create(spec).await.map_err(errors::create)?;
        let location =
            format!("{}/subscriptions/{}/{}", base_uri(&headers, &node), escape(&stream), escape(key.group()));
        Ok::<_, AtomError>(crate::http::atom::created(&location))
    };
    answer.await.unwrap_or_else(IntoResponse::into_response)
}

pub async fn update(Caller(node): Caller, Path((stream, group)): Path<(String, String)>, body: Body) -> Response {
    let answer = async {
        node.authorize(eventfold_store::Operation::ManagePersistentSubscriptions)?;
        let key = stream_group(&stream, &group)?;
        let (start_from, settings) = settings::parse(&read_settings(body).await?)?;
        node.persistent_subscriptions().update(&key, start_from, settings).await.map_err(errors::update)?;
        Ok::<_, AtomError>(StatusCode::OK.into_response())
    };
    answer.await.unwrap_or_else(IntoResponse::into_response)
}

pub async fn delete(Caller(node): Caller, Path((stream, group)): Path<(String, String)>) -> Response {
    let answer = async {
        node.authorize(eventfold_store::Operation::ManagePersistentSubscriptions)?;
        let key = stream_group(&stream, &group)?;
        node.persistent_subscriptions().delete(&key).await.map_err(errors::group)?;
        Ok::<_, AtomError>(StatusCode::OK.into_response())
    };
    answer.await.unwrap_or_else(IntoResponse::into_response)
}

pub async fn replay_parked(Caller(node): Caller, Path((stream, group)): Path<(String, String)>, uri: Uri) -> Response {
    let answer = async {
        node.authorize(eventfold_store::Operation::ManagePersistentSubscriptions)?;
        let key = group_key(&stream, &group)?;
        let stop_at = query_value(uri.query(), "stopAt")
            .map(|text| {
                text.parse::<u64>()
                    .map_err(|_| AtomError::BadRequest(format!("stopAt `{text}` is not an event number")))
            })
            .transpose()?;
        node.persistent_subscriptions().replay_parked(&key, stop_at).await.map_err(errors::group)?;
        Ok::<_, AtomError>(StatusCode::OK.into_response())
    };
    answer.await.unwrap_or_else(IntoResponse::into_response)
}

fn stream_group(stream: &str, group: &str) -> Result<GroupKey, AtomError> {
    let key = group_key(stream, group)?;
    if key.source() == &Source::All {
        return Err(AtomError::BadRequest("groups on $all are managed over gRPC, not HTTP".into()));
    }
    Ok(key)
}

async fn read_settings(body: Body) -> Result<axum::body::Bytes, AtomError> {
    axum::body::to_bytes(body, SETTINGS_BODY_MAX_BYTES)
        .await
        .map_err(|_| AtomError::PayloadTooLarge(format!("a settings body is at most {SETTINGS_BODY_MAX_BYTES} bytes")))
}
