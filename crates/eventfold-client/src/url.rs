//! Server addresses as the official clients write them:
//! `esdb://host:port?tls=false`, `kurrentdb://…`, `esdb+discover://…`
//! (one node: discovery is not done), or a plain `http://host:port`.
//! TLS as the official clients configure it: `tls=true` (the default of
//! `esdb://`) with the CA in `tlsCaFile=PATH`.

use std::path::PathBuf;

use crate::ClientError;
use crate::tls::TlsSettings;

/// The local server, where `eventfold serve` listens by default.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:2113";

/// A parsed server address: where to connect, and whether over TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    /// `host:port`, brackets kept around an IPv6 host.
    pub authority: String,
    /// TLS, or `None` for plaintext HTTP/2.
    pub tls: Option<TlsSettings>,
    /// `user:password@` of the connection string, sent with every call
    /// over TLS.
    pub credentials: Option<(String, String)>,
}

impl ServerUrl {
    /// Parses `address`. A connection string without `tls=false` asks for
    /// TLS, as it does for the official clients; this client then needs the
    /// CA in `tlsCaFile` (it does not read the system's roots).
    pub fn parse(address: &str) -> Result<Self, ClientError> {
        let bad = |reason: &str| ClientError::InvalidUrl { url: address.to_owned(), reason: reason.to_owned() };
        let (scheme, rest) = address.split_once("://").ok_or_else(|| bad("expected scheme://host:port"))?;
        let (location, query) = match rest.split_once('?') {
            Some((location, query)) => (location, Some(query)),
            None => (rest, None),
        };
        let mut tls = None;
        let mut ca_file = None;
        for pair in query.unwrap_or("").split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if key.eq_ignore_ascii_case("tls") {
                tls = match value.to_ascii_lowercase().as_str() {
                    "true" => Some(true),
                    "false" => Some(false),
                    _ => return Err(bad("tls must be true or false")),
                };
            } else if key.eq_ignore_ascii_case("tlsCaFile") {
                ca_file = Some(PathBuf::from(value));
            }
            // Other settings of the official connection strings (timeouts,
            // node preference, credentials' options) do not apply to one
            // plaintext node and are ignored.
        }
        let tls = match scheme.to_ascii_lowercase().as_str() {
            "http" => tls.unwrap_or(false),
            "https" => true,
            "esdb" | "kurrentdb" | "kdb" | "esdb+discover" | "kurrentdb+discover" | "kdb+discover" => {
                tls.unwrap_or(true)
            }
            _ => return Err(bad("the scheme must be esdb, kurrentdb or http")),
        };
        let tls = match (tls, ca_file) {
            (false, _) => None,
            (true, Some(ca_file)) => Some(TlsSettings { ca_file }),
            (true, None) => {
                return Err(bad("TLS needs the CA certificate as `tlsCaFile=PATH` (or `tls=false` for plaintext)"));
            }
        };
        let (credentials, location) = match location.rsplit_once('@') {
            Some((user_info, host)) => {
                let (login, password) = user_info.split_once(':').unwrap_or((user_info, ""));
                (Some((login.to_owned(), password.to_owned())), host)
            }
            None => (None, location),
        };
        // One node only: the first of a comma-separated gossip seed list.
        let location = location.split(',').next().unwrap_or("").trim_end_matches('/');
        if location.is_empty() {
            return Err(bad("no host"));
        }
        let authority = if location.starts_with('[') {
            if location.contains("]:") { location.to_owned() } else { format!("{location}:2113") }
        } else if location.contains(':') {
            let (host, port) = location.rsplit_once(':').ok_or_else(|| bad("no host"))?;
            if host.is_empty() || port.parse::<u16>().is_err() {
                return Err(bad("the port must be a number from 0 to 65535"));
            }
            location.to_owned()
        } else {
            format!("{location}:2113")
        };
        Ok(Self { authority, tls, credentials })
    }

    /// The URL the HTTP/2 channel connects to.
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.authority)
    }

    /// The host of [`ServerUrl::authority`], without brackets: the name a
    /// server certificate must carry.
    pub fn host(&self) -> &str {
        let host = self.authority.rsplit_once(':').map_or(self.authority.as_str(), |(host, _port)| host);
        host.trim_start_matches('[').trim_end_matches(']')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_strings_of_the_official_clients_parse() {
        let parse = |text: &str| ServerUrl::parse(text).map(|url| url.authority);
        assert_eq!(parse("esdb://localhost:2113?tls=false").ok().as_deref(), Some("localhost:2113"));
        assert_eq!(parse("kurrentdb://admin:changeit@node1:2200?tls=false").ok().as_deref(), Some("node1:2200"));
        assert_eq!(parse("esdb+discover://a:1,b:2?tls=false").ok().as_deref(), Some("a:1"));
        assert_eq!(parse("http://127.0.0.1").ok().as_deref(), Some("127.0.0.1:2113"));
        assert_eq!(parse("http://[::1]:9000/").ok().as_deref(), Some("[::1]:9000"));
    }

    #[test]
    fn tls_takes_its_ca_from_tls_ca_file() {
        let url = ServerUrl::parse("esdb://admin:changeit@localhost:2113?tls=true&tlsCaFile=/certs/ca.crt")
            .expect("a TLS address");
        assert_eq!(url.tls, Some(TlsSettings { ca_file: PathBuf::from("/certs/ca.crt") }));
        assert_eq!(url.endpoint(), "https://localhost:2113");
        assert_eq!(url.host(), "localhost");
        assert_eq!(ServerUrl::parse("esdb://[::1]:2113?tls=false").expect("an address").host(), "::1");
    }

    #[test]
    fn tls_without_a_ca_and_malformed_addresses_are_refused() {
        for text in
            ["esdb://localhost:2113", "https://x:1", "ftp://x:1", "localhost:2113", "http://:1", "http://x:port"]
        {
            assert!(ServerUrl::parse(text).is_err(), "{text}");
        }
    }
}
