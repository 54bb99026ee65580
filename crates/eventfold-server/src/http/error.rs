//! Every refusal of the HTTP face is JSON, `{"error": "..."}`, with a 4xx
//! code for what the client got wrong, so that a script can print why.

use axum::Json;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Serialize)]
struct ErrorBody {
    error: String,
}

pub fn error_response(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(ErrorBody { error: message.into() })).into_response()
}

/// A known path asked with a method it does not answer.
pub async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    error_response(StatusCode::METHOD_NOT_ALLOWED, format!("{} does not answer {method}", uri.path()))
}

/// The value of `name` in a query string (`a=1&b=2`), if present. Query
/// values here are numbers and words, never escaped.
pub fn query_value<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?.split('&').filter_map(|pair| pair.split_once('=')).find(|(key, _)| *key == name).map(|(_, value)| value)
}

/// The names in a query string that are not in `known`.
pub fn unknown_query_names<'a>(query: Option<&'a str>, known: &[&str]) -> Vec<&'a str> {
    let Some(query) = query else { return Vec::new() };
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').map_or(pair, |(key, _)| key))
        .filter(|key| !known.contains(key))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_found_by_name_and_strangers_are_named() {
        let query = Some("liveCode=200&x=1&flag");
        assert_eq!(query_value(query, "liveCode"), Some("200"));
        assert_eq!(query_value(query, "missing"), None);
        assert_eq!(query_value(None, "liveCode"), None);
        assert_eq!(unknown_query_names(query, &["liveCode"]), vec!["x", "flag"]);
        assert!(unknown_query_names(Some(""), &[]).is_empty());
    }
}
