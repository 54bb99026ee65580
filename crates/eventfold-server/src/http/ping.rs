//! `GET /ping`: the cheapest proof that the node answers HTTP, in the body
//! KurrentDB sends.

use axum::Json;
use serde::Serialize;

#[derive(Serialize)]
pub struct Pong {
    text: &'static str,
}

pub async fn ping() -> Json<Pong> {
    Json(Pong { text: "Ping request successfully handled" })
}
