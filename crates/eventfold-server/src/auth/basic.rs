//! The `Authorization` header of a request: Basic credentials
//! (`Basic base64(login:password)`), the only scheme the EventStoreDB
//! clients send. Anything else is refused with the reason, never guessed at.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Longer headers are refused before decoding.
const HEADER_BYTES_MAX: usize = 4096;

#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub login: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password never reaches a log.
        formatter.debug_struct("Credentials").field("login", &self.login).finish_non_exhaustive()
    }
}

/// Why an `Authorization` header is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed Authorization header: {0}")]
pub struct MalformedAuthorization(&'static str);

/// The request's credentials; `None` when it sends none.
pub fn credentials(headers: &HeaderMap) -> Result<Option<Credentials>, MalformedAuthorization> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(MalformedAuthorization("more than one Authorization header"));
    }
    if value.len() > HEADER_BYTES_MAX {
        return Err(MalformedAuthorization("longer than 4096 bytes"));
    }
    let text = value.to_str().map_err(|_| MalformedAuthorization("not visible ASCII"))?;
    let (scheme, encoded) = text.trim().split_once(' ').unwrap_or((text.trim(), ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(MalformedAuthorization("only the Basic scheme is supported"));
    }
    let decoded =
        STANDARD.decode(encoded.trim()).map_err(|_| MalformedAuthorization("the credentials are not base64"))?;
    let decoded = String::from_utf8(decoded).map_err(|_| MalformedAuthorization("the credentials are not UTF-8"))?;
    let (login, password) = decoded
        .split_once(':')
        .ok_or(MalformedAuthorization("the credentials have no `:` between login and password"))?;
    if login.is_empty() {
        return Err(MalformedAuthorization("the login is empty"));
    }
    Ok(Some(Credentials { login: login.to_owned(), password: password.to_owned() }))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn parse(values: &[&[u8]]) -> Result<Option<Credentials>, MalformedAuthorization> {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(AUTHORIZATION, HeaderValue::from_bytes(value).expect("a header value"));
        }
        credentials(&headers)
    }

    #[test]
    fn basic_credentials_are_decoded() {
        let encoded = format!("Basic {}", STANDARD.encode("admin:chan:geit"));
        let parsed = parse(&[encoded.as_bytes()]).expect("well formed").expect("credentials");
        assert_eq!((parsed.login.as_str(), parsed.password.as_str()), ("admin", "chan:geit"));
        let lower = format!("basic {}", STANDARD.encode("ops:"));
        assert_eq!(parse(&[lower.as_bytes()]).expect("well formed").map(|c| c.password), Some(String::new()));
        assert_eq!(parse(&[]), Ok(None));
    }

    #[test]
    fn malformed_headers_are_refused_with_the_reason() {
        let no_colon = format!("Basic {}", STANDARD.encode("admin"));
        let empty_login = format!("Basic {}", STANDARD.encode(":pw"));
        let not_utf8 = format!("Basic {}", STANDARD.encode([0xff, 0xfe, b':', b'x']));
        let long = format!("Basic {}", "A".repeat(HEADER_BYTES_MAX));
        for value in [
            &b"Bearer abc"[..],
            b"Basic",
            b"Basic !!!",
            no_colon.as_bytes(),
            empty_login.as_bytes(),
            not_utf8.as_bytes(),
            long.as_bytes(),
            b"Basic \xc3\xa9",
        ] {
            assert!(parse(&[value]).is_err(), "{}", String::from_utf8_lossy(value));
        }
        let good = format!("Basic {}", STANDARD.encode("a:b"));
        assert!(parse(&[good.as_bytes(), good.as_bytes()]).is_err(), "two headers");
    }
}
