//! `GET /stats`: the essentials an operator or an exporter polls, grouped
//! as KurrentDB groups them (`proc` for the process) with eventfold's own
//! `store` figures.
//!
//! - `proc`: `id` (pid), `startTime` (ISO 8601), `uptimeSeconds`, `mem`
//!   (resident bytes), `cpuSeconds` (user + system), `threadsCount`,
//!   `connections` (open client connections); a figure the platform does
//!   not give is null.
//! - `store`: `lastPosition` (`$all` position of the last event, null when
//!   empty), `health` (`ok` or `degraded`) and, while degraded, `reason`.

use crate::http::caller::Caller;
use axum::Json;
use eventfold_store::StoreHealth;
use serde::Serialize;

use super::process;
use super::time::iso8601;

#[derive(Serialize)]
pub struct Stats {
    proc: Process,
    store: Store,
    version: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Process {
    id: u32,
    start_time: String,
    uptime_seconds: f64,
    mem: Option<u64>,
    cpu_seconds: Option<f64>,
    threads_count: Option<u64>,
    connections: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Store {
    last_position: Option<u64>,
    health: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

pub async fn stats(Caller(node): Caller) -> Json<Stats> {
    let facts = node.facts();
    let figures = process::current();
    let store = node.client_store();
    let (health, reason) = match store.health() {
        StoreHealth::Degraded(error) => ("degraded", Some(error.to_string())),
        _ => ("ok", None),
    };
    Json(Stats {
        proc: Process {
            id: std::process::id(),
            start_time: iso8601(facts.started),
            uptime_seconds: facts.started_at.elapsed().as_secs_f64(),
            mem: figures.resident_bytes,
            cpu_seconds: figures.cpu_seconds,
            threads_count: figures.threads,
            connections: node.connections().count(),
        },
        store: Store { last_position: store.head_position().map(|position| position.0), health, reason },
        version: facts.version,
    })
}
