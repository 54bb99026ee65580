//! The `Authorization` header of an HTTP target, from its settings:
//! `authentication:method` `None`, `Basic` (`authentication:basic:username`
//! and `…:password`) or the target's token scheme (the webhook's bearer
//! token, the search sink's API key).

use base64::Engine as _;
use hyper::header;

use crate::error::InvalidSettings;
use crate::settings::Reader;

/// A token sent as `<prefix> <token>`, named `method` in the settings and
/// read from `key`.
pub(crate) struct TokenScheme {
    pub method: &'static str,
    pub key: &'static str,
}

pub(crate) const BEARER: TokenScheme = TokenScheme { method: "Bearer", key: "authentication:bearer:token" };
pub(crate) const API_KEY: TokenScheme = TokenScheme { method: "ApiKey", key: "authentication:apiKey" };

pub(crate) fn authorization(
    reader: &Reader<'_>,
    token: &TokenScheme,
) -> Result<Option<header::HeaderValue>, InvalidSettings> {
    let method = reader.text("authentication:method").unwrap_or("None");
    let value = match method.to_ascii_lowercase().as_str() {
        "none" => return Ok(None),
        "basic" => {
            let username = reader.required("authentication:basic:username")?;
            let password = reader.text("authentication:basic:password").unwrap_or("");
            let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
            format!("Basic {encoded}")
        }
        other if other == token.method.to_ascii_lowercase() => {
            format!("{} {}", token.method, reader.required(token.key)?)
        }
        _ => {
            return Err(InvalidSettings::new(
                "authentication:method",
                &format!("`{method}` is not None, Basic or {}", token.method),
            ));
        }
    };
    header::HeaderValue::try_from(value)
        .map(Some)
        .map_err(|_| InvalidSettings::new("authentication", "the credentials are not a valid header value"))
}
