//! What a node knows about itself and tells clients: the address to reach
//! it on, its versions, its limits and when it started.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use eventfold_store::Timestamp;
use uuid::Uuid;

use crate::{MetricsText, PROTOCOL_SERVER_VERSION, VERSION};

/// How the node presents itself; what is not set comes from the listener.
#[derive(Clone, Debug)]
pub struct NodeOptions {
    /// Largest append the store accepts; the faces refuse larger ones early
    /// and report the limit.
    pub max_append_bytes: usize,
    /// The host clients are told to use (Gossip, `/gossip`); by default the
    /// address the listener is bound to, or `localhost` when it is bound to
    /// every interface (what a client on this machine would use).
    pub advertise_host: Option<String>,
    /// The port clients are told to use; by default the bound one.
    pub advertise_port: Option<u16>,
    /// What `GET /metrics` serves; without it there is no such endpoint
    /// (requests are still measured, for whatever recorder is installed).
    pub metrics: Option<MetricsText>,
    /// KurrentDB's HTTP stream API (AtomPub) and the persistent
    /// subscription routes beyond listing: off by default, as in KurrentDB.
    pub atom_pub_over_http: bool,
    /// Which projections run, and their limits.
    pub projections: eventfold_projections::ProjectionsOptions,
    /// Set when the store is shared with other nodes: they agree through it
    /// on which one runs persistent subscriptions and projections.
    pub cluster: Option<crate::ClusterOptions>,
    /// Users, credentials and per-stream ACLs (secure mode): without it
    /// every request acts with full rights.
    pub authentication: bool,
    /// The passwords `admin` and `ops` get on a new node (`changeit` if unset).
    pub default_passwords: eventfold_users::DefaultPasswords,
    /// Secure mode: the port is served over TLS (KurrentDB's secure mode,
    /// in which clients authenticate); off, the node runs insecure.
    pub secure: bool,
    /// Whether connectors run.
    pub connectors: eventfold_connectors::ConnectorsOptions,
    /// The bounds of ad-hoc SQL queries (rows, time, groups).
    pub sql: eventfold_sql::SqlLimits,
    /// Whether continuous queries run, and their limits.
    pub queries: eventfold_sql::QueriesOptions,
}

impl Default for NodeOptions {
    fn default() -> Self {
        Self {
            max_append_bytes: eventfold_store::DEFAULT_MAX_APPEND_BYTES,
            advertise_host: None,
            advertise_port: None,
            metrics: None,
            atom_pub_over_http: false,
            projections: eventfold_projections::ProjectionsOptions::default(),
            cluster: None,
            authentication: false,
            default_passwords: eventfold_users::DefaultPasswords::default(),
            secure: false,
            connectors: eventfold_connectors::ConnectorsOptions::default(),
            sql: eventfold_sql::SqlLimits::default(),
            queries: eventfold_sql::QueriesOptions::default(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct NodeFacts {
    /// Names this node in Gossip, the same for every face until restart.
    pub instance_id: Uuid,
    /// The host and port clients reach this node on: a name where one was
    /// configured, not necessarily the bound address.
    pub advertised_host: String,
    pub advertised_port: u16,
    /// eventfold's own version.
    pub version: &'static str,
    /// The EventStoreDB version whose protocol is spoken
    /// (`event_store_server_version`, `/info`'s `esVersion`).
    pub protocol_version: &'static str,
    pub max_append_bytes: usize,
    /// Whether the HTTP stream API is served (`/info` reports it as
    /// `atomPub`).
    pub atom_pub_over_http: bool,
    /// Whether the node runs in secure mode (TLS on its port).
    pub secure: bool,
    /// The bounds of ad-hoc SQL queries.
    pub sql_limits: eventfold_sql::SqlLimits,
    /// Wall-clock time the node started, to report.
    pub started: Timestamp,
    /// The same moment on the monotonic clock, to measure uptime by.
    pub started_at: Instant,
}

impl NodeFacts {
    pub fn new(options: &NodeOptions, bound: SocketAddr) -> Self {
        Self {
            instance_id: Uuid::new_v4(),
            advertised_host: options.advertise_host.clone().unwrap_or_else(|| default_advertised_host(bound.ip())),
            advertised_port: options.advertise_port.unwrap_or(bound.port()),
            version: VERSION,
            protocol_version: PROTOCOL_SERVER_VERSION,
            max_append_bytes: options.max_append_bytes,
            atom_pub_over_http: options.atom_pub_over_http,
            secure: options.secure,
            sql_limits: options.sql,
            started: Timestamp::now(),
            started_at: Instant::now(),
        }
    }
}

/// What a client on this machine would use to reach a listener bound to `ip`.
fn default_advertised_host(ip: IpAddr) -> String {
    if ip.is_unspecified() { "localhost".to_owned() } else { ip.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(text: &str) -> SocketAddr {
        text.parse().expect("a socket address")
    }

    #[test]
    fn the_listener_is_advertised_unless_configured_otherwise() {
        let facts = NodeFacts::new(&NodeOptions::default(), address("127.0.0.2:2113"));
        assert_eq!((facts.advertised_host.as_str(), facts.advertised_port), ("127.0.0.2", 2113));
        let every_interface = NodeFacts::new(&NodeOptions::default(), address("0.0.0.0:2113"));
        assert_eq!(every_interface.advertised_host, "localhost");
        let configured = NodeOptions {
            advertise_host: Some("db.example.com".into()),
            advertise_port: Some(443),
            ..NodeOptions::default()
        };
        let facts = NodeFacts::new(&configured, address("0.0.0.0:2113"));
        assert_eq!((facts.advertised_host.as_str(), facts.advertised_port), ("db.example.com", 443));
    }
}
