//! `eventfold`: the one binary. `eventfold serve` runs the database;
//! `eventfold admin` operates a running one, or checks and repairs a data
//! directory no server holds; `eventfold projection` tests a query offline
//! or manages a running server's projections; the stream commands
//! (`append`, `read`, `tail`, `streams`, `metadata`, `delete`, `export`,
//! `import`) talk to any server over the gRPC protocol. Benchmarks live
//! apart, in `eventfold-bench`, so this binary links no benchmark client.

mod admin;
mod authentication;
mod backup;
mod certs;
mod connector;
mod metrics;
mod pg;
mod progress;
mod projection;
mod query;
mod serve;
mod sql;
mod streams;
mod tls;

use std::io::{IsTerminal, Write};

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "eventfold", version, about = "An event store database")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server, on the embedded storage engine or on PostgreSQL.
    Serve(serve::ServeArgs),
    /// Operate a running server (scavenge, verify) or a stopped one's data
    /// directory (verify, repair).
    Admin(admin::AdminArgs),
    /// Test a projection offline, or manage a running server's projections.
    Projection(projection::ProjectionArgs),
    /// Manage a running server's connectors: keep HTTP, PostgreSQL, Redis, NATS, Kafka, S3, search,
    /// MQTT and RabbitMQ targets in step with the log.
    Connector(connector::ConnectorArgs),
    /// Run an SQL query over a running server's log and print the rows.
    Sql(sql::SqlArgs),
    /// Manage a running server's continuous SQL queries (windowed GROUP BY
    /// whose rows go to `$query-{name}`).
    Query(query::QueryArgs),
    /// Append one event to a stream.
    Append(streams::append::AppendArgs),
    /// Read a stream or `$all`.
    Read(streams::read::ReadArgs),
    /// Follow a stream or `$all` live.
    Tail(streams::read::TailArgs),
    /// The streams written to last.
    Streams(streams::list::StreamsArgs),
    /// Get or set a stream's metadata.
    Metadata(streams::metadata::MetadataArgs),
    /// Delete a stream (soft, or for good with --tombstone).
    Delete(streams::delete::DeleteArgs),
    /// Write events as JSON lines.
    Export(streams::export::ExportArgs),
    /// Append exported events (or another server's) to a server.
    Import(streams::import::ImportArgs),
    /// PostgreSQL tasks: import an existing events table.
    Pg(pg::PgArgs),
    /// Create development certificates for secure mode: a CA, and node
    /// certificates it signs.
    Certs(certs::CertsArgs),
}

fn main() -> anyhow::Result<()> {
    eventfold_server::tls::install_process_default();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("EVENTFOLD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(|| LossyStderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match Cli::parse().command {
        Command::Serve(args) => serve::run(args),
        Command::Admin(args) => admin::run(args),
        Command::Projection(args) => projection::run(args),
        Command::Connector(args) => connector::run(args),
        Command::Sql(args) => sql::run(args),
        Command::Query(args) => query::run(args),
        Command::Append(args) => streams::append::run(args),
        Command::Read(args) => streams::read::run_read(args),
        Command::Tail(args) => streams::read::run_tail(args),
        Command::Streams(args) => streams::list::run(args),
        Command::Metadata(args) => streams::metadata::run(args),
        Command::Delete(args) => streams::delete::run(args),
        Command::Export(args) => streams::export::run(args),
        Command::Import(args) => streams::import::run(args),
        Command::Pg(args) => pg::run(args),
        Command::Certs(args) => certs::run(args),
    }
}

/// Log lines go to stderr, and are dropped when stderr cannot take them: a
/// parent that stopped reading the pipe must not bring the server down.
struct LossyStderr;

impl Write for LossyStderr {
    fn write(&mut self, buffer: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buffer);
        Ok(buffer.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}
