//! `GET /subscriptions` (every group), `/subscriptions/{stream}` (a
//! stream's groups) and `/subscriptions/{stream}/{group}/info` (one group,
//! with its settings and connections), in KurrentDB's JSON shapes, which
//! exporters and the KurrentDB UI read. Event numbers are -1 where none is
//! known yet; `$all` groups report positions (`C:<commit>/P:<prepare>`).

use crate::http::caller::Caller;
use axum::Json;
use axum::extract::Path;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use eventfold_node::Node;
use eventfold_persistent::{ConnectionInfo, Cursor, GroupInfo, Source};
use serde::Serialize;

use super::settings::{Config, config};
use super::{errors, group_key, source};
use crate::http::atom::{AtomError, base_uri, escape, stream_uri};

#[derive(Serialize)]
pub struct DetailLink {
    href: String,
    rel: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    links: Vec<DetailLink>,
    event_stream_id: String,
    group_name: String,
    parked_message_uri: String,
    get_messages_uri: String,
    status: String,
    average_items_per_second: f64,
    total_items_processed: u64,
    last_processed_event_number: i64,
    last_known_event_number: i64,
    last_checkpointed_event_position: Option<String>,
    last_known_event_position: Option<String>,
    connection_count: usize,
    total_in_flight_messages: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Info {
    #[serde(flatten)]
    summary: Summary,
    config: Config,
    count_since_last_measurement: u64,
    read_buffer_count: usize,
    live_buffer_count: usize,
    retry_buffer_count: usize,
    outstanding_messages_count: usize,
    parked_message_count: u64,
    connections: Vec<Connection>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    from: String,
    username: &'static str,
    average_items_per_second: f64,
    total_items_processed: u64,
    count_since_last_measurement: u64,
    extra_statistics: Vec<Measurement>,
    available_slots: usize,
    in_flight_messages: usize,
    connection_name: String,
}

#[derive(Serialize)]
pub struct Measurement {
    key: String,
    value: i64,
}

pub async fn list(Caller(node): Caller, headers: HeaderMap) -> Response {
    summaries(&node, None, &headers).await.unwrap_or_else(IntoResponse::into_response)
}

pub async fn list_for_stream(Caller(node): Caller, Path(stream): Path<String>, headers: HeaderMap) -> Response {
    let answer = async {
        let source = source(&stream)?;
        summaries(&node, Some(&source), &headers).await
    };
    answer.await.unwrap_or_else(IntoResponse::into_response)
}

pub async fn info(Caller(node): Caller, Path((stream, group)): Path<(String, String)>, headers: HeaderMap) -> Response {
    let answer = async {
        let key = group_key(&stream, &group)?;
        let info = node.persistent_subscriptions().info(&key).await.map_err(errors::group)?;
        let base = base_uri(&headers, &node);
        Ok::<_, AtomError>(Json(detail(&base, &info)).into_response())
    };
    answer.await.unwrap_or_else(IntoResponse::into_response)
}

async fn summaries(node: &Node, source: Option<&Source>, headers: &HeaderMap) -> Result<Response, AtomError> {
    let infos = node.persistent_subscriptions().list(source).await.map_err(errors::group)?;
    let base = base_uri(headers, node);
    let summaries: Vec<Summary> = infos.iter().map(|info| summary(&base, info)).collect();
    Ok(Json(summaries).into_response())
}

fn summary(base: &str, info: &GroupInfo) -> Summary {
    let key = &info.spec.key;
    let source = key.source();
    let group_uri = format!("{base}/subscriptions/{}/{}", escape(source.label()), escape(key.group()));
    let number = |cursor: Option<Cursor>| match (source, cursor) {
        (Source::Stream(_), Some(cursor)) => i64::try_from(cursor).unwrap_or(i64::MAX),
        _ => -1,
    };
    let position = |cursor: Option<Cursor>| match source {
        Source::All => cursor.map(|cursor| format!("C:{cursor}/P:{cursor}")),
        Source::Stream(_) => None,
    };
    Summary {
        links: vec![DetailLink { href: format!("{group_uri}/info"), rel: "detail" }],
        event_stream_id: source.label().to_owned(),
        group_name: key.group().to_owned(),
        parked_message_uri: stream_uri(base, key.parked_stream().as_str()),
        get_messages_uri: group_uri,
        status: info.status.describe(),
        average_items_per_second: info.average_per_second,
        total_items_processed: info.total_items,
        last_processed_event_number: number(info.last_checkpointed),
        last_known_event_number: number(info.last_known),
        last_checkpointed_event_position: position(info.last_checkpointed),
        last_known_event_position: position(info.last_known),
        connection_count: info.connections.len(),
        total_in_flight_messages: info.in_flight,
    }
}

fn detail(base: &str, info: &GroupInfo) -> Info {
    Info {
        summary: summary(base, info),
        config: config(info.spec.start_from, &info.spec.settings),
        count_since_last_measurement: info.count_since_last_measurement,
        read_buffer_count: info.read_buffer_count,
        live_buffer_count: info.live_buffer_count,
        retry_buffer_count: info.retry_buffer_count,
        outstanding_messages_count: info.in_flight,
        parked_message_count: info.parked_count,
        connections: info.connections.iter().map(connection).collect(),
    }
}

fn connection(connection: &ConnectionInfo) -> Connection {
    Connection {
        from: connection.from.clone(),
        username: "",
        average_items_per_second: connection.average_items_per_second,
        total_items_processed: connection.total_items,
        count_since_last_measurement: connection.count_since_last_measurement,
        extra_statistics: connection
            .observed_measurements
            .iter()
            .map(|(key, value)| Measurement { key: key.clone(), value: *value })
            .collect(),
        available_slots: connection.available_slots,
        in_flight_messages: connection.in_flight,
        connection_name: connection.name.clone(),
    }
}
