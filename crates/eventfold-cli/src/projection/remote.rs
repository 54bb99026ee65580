//! The projections of a running server, over its gRPC API (the same calls
//! the official clients make). Each command prints what it got as JSON.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, anyhow};
use eventfold_proto::event_store::client::Empty;
use eventfold_proto::event_store::client::projections::projections_client::ProjectionsClient;
use eventfold_proto::event_store::client::projections::{
    CreateReq, DeleteReq, DisableReq, EnableReq, ResetReq, ResultReq, StateReq, StatisticsReq, UpdateReq, create_req,
    delete_req, disable_req, enable_req, reset_req, result_req, state_req, statistics_req, update_req,
};
use prost_types::value::Kind;
use serde_json::{Value, json};

#[derive(clap::Args)]
pub struct Server {
    /// The server: `http://host:port`, or a connection string such as
    /// `esdb://localhost:2113?tls=true&tlsCaFile=ca.crt`.
    #[arg(long, env = "EVENTFOLD_SERVER", default_value = "http://127.0.0.1:2113", global = true)]
    server: String,
}

#[derive(clap::Subcommand)]
pub enum RemoteCommand {
    /// Create a continuous projection (running at once).
    Create {
        name: String,
        /// The query's JavaScript file.
        query: PathBuf,
        /// Allow `emit`, `linkTo` and `linkStreamTo`.
        #[arg(long)]
        emit: bool,
        /// Record the streams it emits to, so that a delete can remove them.
        #[arg(long)]
        track_emitted_streams: bool,
        #[command(flatten)]
        server: Server,
    },
    /// Replace a projection's query; `--emit true|false` changes emitting.
    Update {
        name: String,
        query: PathBuf,
        #[arg(long)]
        emit: Option<bool>,
        #[command(flatten)]
        server: Server,
    },
    /// Every projection's statistics.
    List {
        #[command(flatten)]
        server: Server,
    },
    /// One projection's statistics.
    Stats {
        name: String,
        #[command(flatten)]
        server: Server,
    },
    /// A projection's state (of one partition with `--partition`).
    State {
        name: String,
        #[arg(long, default_value = "")]
        partition: String,
        #[command(flatten)]
        server: Server,
    },
    /// A projection's result (of one partition with `--partition`).
    Result {
        name: String,
        #[arg(long, default_value = "")]
        partition: String,
        #[command(flatten)]
        server: Server,
    },
    Enable {
        name: String,
        #[command(flatten)]
        server: Server,
    },
    /// Stop a projection, keeping what it processed (`--abort`: dropping it).
    Disable {
        name: String,
        #[arg(long)]
        abort: bool,
        #[command(flatten)]
        server: Server,
    },
    /// Start a projection over from the beginning with an empty state.
    Reset {
        name: String,
        #[command(flatten)]
        server: Server,
    },
    /// Delete a stopped or faulted projection.
    Delete {
        name: String,
        #[arg(long)]
        delete_emitted_streams: bool,
        #[arg(long)]
        delete_state_stream: bool,
        #[arg(long)]
        delete_checkpoint_stream: bool,
        #[command(flatten)]
        server: Server,
    },
    /// Restart the projections subsystem.
    RestartSubsystem {
        #[command(flatten)]
        server: Server,
    },
}

const CALL_TIMEOUT: Duration = Duration::from_secs(30);

pub fn run(command: RemoteCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the runtime")?;
    let output = runtime.block_on(call(command))?;
    println!("{output}");
    Ok(())
}

async fn connect(server: &Server) -> anyhow::Result<ProjectionsClient<eventfold_client::Transport>> {
    // The stream commands' connection strings, TLS included.
    let channel = eventfold_client::connect_channel(&server.server, |endpoint| endpoint.timeout(CALL_TIMEOUT)).await?;
    Ok(ProjectionsClient::new(channel))
}

fn refused(status: tonic::Status) -> anyhow::Error {
    anyhow!("{:?}: {}", status.code(), status.message())
}

fn read_query(path: &PathBuf) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

async fn call(command: RemoteCommand) -> anyhow::Result<Value> {
    let done = json!({ "ok": true });
    match command {
        RemoteCommand::Create { name, query, emit, track_emitted_streams, server } => {
            let continuous = create_req::options::Continuous { name, emit_enabled: emit, track_emitted_streams };
            let options = create_req::Options {
                mode: Some(create_req::options::Mode::Continuous(continuous)),
                query: read_query(&query)?,
                engine_version: 1,
                properties: Default::default(),
            };
            connect(&server).await?.create(CreateReq { options: Some(options) }).await.map_err(refused)?;
            Ok(done)
        }
        RemoteCommand::Update { name, query, emit, server } => {
            let emit_option = Some(match emit {
                Some(emit) => update_req::options::EmitOption::EmitEnabled(emit),
                None => update_req::options::EmitOption::NoEmitOptions(Empty {}),
            });
            let options =
                update_req::Options { name, query: read_query(&query)?, emit_option, properties: Default::default() };
            connect(&server).await?.update(UpdateReq { options: Some(options) }).await.map_err(refused)?;
            Ok(done)
        }
        RemoteCommand::List { server } => statistics(&server, statistics_req::options::Mode::All(Empty {})).await,
        RemoteCommand::Stats { name, server } => {
            let mut all = statistics(&server, statistics_req::options::Mode::Name(name)).await?;
            Ok(all.as_array_mut().and_then(|list| list.pop()).unwrap_or(Value::Null))
        }
        RemoteCommand::State { name, partition, server } => {
            let options = state_req::Options { name, partition };
            let answer = connect(&server).await?.state(StateReq { options: Some(options) }).await.map_err(refused)?;
            Ok(answer.into_inner().state.map_or(Value::Null, to_json))
        }
        RemoteCommand::Result { name, partition, server } => {
            let options = result_req::Options { name, partition };
            let answer = connect(&server).await?.result(ResultReq { options: Some(options) }).await.map_err(refused)?;
            Ok(answer.into_inner().result.map_or(Value::Null, to_json))
        }
        RemoteCommand::Enable { name, server } => {
            let options = enable_req::Options { name };
            connect(&server).await?.enable(EnableReq { options: Some(options) }).await.map_err(refused)?;
            Ok(done)
        }
        RemoteCommand::Disable { name, abort, server } => {
            let options = disable_req::Options { name, write_checkpoint: !abort };
            connect(&server).await?.disable(DisableReq { options: Some(options) }).await.map_err(refused)?;
            Ok(done)
        }
        RemoteCommand::Reset { name, server } => {
            let options = reset_req::Options { name, write_checkpoint: true };
            connect(&server).await?.reset(ResetReq { options: Some(options) }).await.map_err(refused)?;
            Ok(done)
        }
        RemoteCommand::Delete {
            name,
            delete_emitted_streams,
            delete_state_stream,
            delete_checkpoint_stream,
            server,
        } => {
            let options =
                delete_req::Options { name, delete_emitted_streams, delete_state_stream, delete_checkpoint_stream };
            connect(&server).await?.delete(DeleteReq { options: Some(options) }).await.map_err(refused)?;
            Ok(done)
        }
        RemoteCommand::RestartSubsystem { server } => {
            connect(&server).await?.restart_subsystem(Empty {}).await.map_err(refused)?;
            Ok(done)
        }
    }
}

async fn statistics(server: &Server, mode: statistics_req::options::Mode) -> anyhow::Result<Value> {
    let options = statistics_req::Options { mode: Some(mode) };
    let mut answers = connect(server)
        .await?
        .statistics(StatisticsReq { options: Some(options) })
        .await
        .map_err(refused)?
        .into_inner();
    let mut all = Vec::new();
    while let Some(answer) = answers.message().await.map_err(refused)? {
        let Some(details) = answer.details else { continue };
        all.push(json!({
            "name": details.name,
            "mode": details.mode,
            "status": details.status,
            "stateReason": details.state_reason,
            "position": details.position,
            "lastCheckpoint": details.last_checkpoint,
            "progress": details.progress,
            "eventsProcessedAfterRestart": details.events_processed_after_restart,
            "partitionsCached": details.partitions_cached,
            "epoch": details.epoch,
            "version": details.version,
        }));
    }
    Ok(Value::Array(all))
}

fn to_json(value: prost_types::Value) -> Value {
    match value.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::BoolValue(flag)) => Value::Bool(flag),
        Some(Kind::NumberValue(number)) => json!(number),
        Some(Kind::StringValue(text)) => Value::String(text),
        Some(Kind::ListValue(list)) => Value::Array(list.values.into_iter().map(to_json).collect()),
        Some(Kind::StructValue(fields)) => {
            Value::Object(fields.fields.into_iter().map(|(key, value)| (key, to_json(value))).collect())
        }
    }
}
