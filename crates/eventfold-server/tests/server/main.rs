//! The server's integration tests, one binary: each module is a scenario
//! file of its own; `support` starts a real server on loopback.

mod api_client;
mod support;

mod access;
mod api_append;
mod api_openapi;
mod api_projections;
mod api_read;
mod api_sse;
mod atom_pages;
mod atom_streams;
mod auth;
mod backup;
mod bad_requests;
mod connections;
mod connectors;
mod gossip;
mod health;
mod hostile_requests;
mod http_projections;
mod http_subscriptions;
mod management;
mod metrics;
mod metrics_connectors;
mod metrics_deleted_group;
mod queries;
mod query_kinds;
mod scavenge;
mod sql;
mod users;
