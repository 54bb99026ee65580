//! The absolute URIs a feed links to, on the host the client asked (as
//! KurrentDB writes them), with stream names escaped as path segments.

use axum::http::{HeaderMap, header};
use eventfold_node::Node;

/// `http://<host>`: the request's `Host`, or the node's advertised address.
pub fn base_uri(headers: &HeaderMap, node: &Node) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .filter(|host| !host.is_empty() && host.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{}:{}", node.facts().advertised_host, node.facts().advertised_port));
    format!("http://{host}")
}

/// `text` as one path segment: unreserved characters kept, every other
/// byte `%XX` (so `$all` is `%24all`, as KurrentDB writes it).
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            escaped.push(char::from(byte));
        } else {
            escaped.push_str(&format!("%{byte:02X}"));
        }
    }
    escaped
}

/// `{base}/streams/{stream}`.
pub fn stream_uri(base: &str, stream: &str) -> String {
    format!("{base}/streams/{}", escape(stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names_are_escaped_as_kurrentdb_escapes_them() {
        assert_eq!(escape("order-1"), "order-1");
        assert_eq!(escape("$all"), "%24all");
        assert_eq!(escape("a b/c"), "a%20b%2Fc");
        assert_eq!(stream_uri("http://h", "$$x"), "http://h/streams/%24%24x");
    }
}
