//! The commands that read and write streams of a running server over the
//! gRPC protocol (through `eventfold-client`), so that they work against
//! any EventStoreDB/KurrentDB-compatible server too. One file per command
//! family; `event_json.rs` is the one JSON shape of an event they all print
//! and `export`/`import` exchange.

pub mod append;
pub mod delete;
pub mod event_json;
pub mod export;
pub mod import;
pub mod list;
pub mod metadata;
pub mod output;
pub mod read;
pub mod time;

use anyhow::{Context, bail};
use eventfold_client::{Client, DEFAULT_SERVER, Expected};

/// `--server`, shared by every command that talks to a server.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerArgs {
    /// The server: `esdb://host:port?tls=false`, `kurrentdb://…` or
    /// `http://host:port`.
    #[arg(long, env = "EVENTFOLD_SERVER", default_value = DEFAULT_SERVER)]
    pub server: String,
}

impl ServerArgs {
    pub async fn connect(&self) -> anyhow::Result<Client> {
        Ok(Client::connect(&self.server).await?)
    }
}

/// A runtime for one command: a command does one thing at a time.
pub fn block_on<F: std::future::Future<Output = anyhow::Result<()>>>(future: F) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(future)
}

/// `--expected-revision`: a number, `any`, `no-stream` or `exists`.
pub fn parse_expected(text: &str) -> anyhow::Result<Expected> {
    Ok(match text {
        "any" => Expected::Any,
        "no-stream" | "no_stream" => Expected::NoStream,
        "exists" | "stream-exists" => Expected::StreamExists,
        number => match number.parse::<u64>() {
            Ok(revision) => Expected::Revision(revision),
            Err(_) => bail!("expected revision `{text}`: give a revision number, `any`, `no-stream` or `exists`"),
        },
    })
}

/// Stream names a write may not name: empty, or `$all` (not a stream).
pub fn check_stream_name(stream: &str) -> anyhow::Result<()> {
    if stream.is_empty() {
        bail!("the stream name is empty");
    }
    if stream == "$all" {
        bail!("`$all` is every stream, not one that can be written");
    }
    Ok(())
}
