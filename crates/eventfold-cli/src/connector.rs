//! `eventfold connector`: manage a running server's connectors over its
//! HTTP API (`/connectors`): create, list, status, start, stop, reset,
//! delete. Answers are printed as JSON on stdout (`list` as a table); a
//! refusal exits 1 with the server's reason.

use std::time::Duration;

use anyhow::{Context, bail};
use hyper::{Method, StatusCode};
use serde_json::{Map, Value};

use crate::admin::Server;

/// How long one request may take: a create connects to the target first.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(clap::Args)]
pub struct ConnectorArgs {
    /// The server's HTTP address (port 2113 when none is given).
    #[arg(long, global = true, env = "EVENTFOLD_SERVER", default_value = "http://127.0.0.1:2113")]
    server: String,
    #[command(subcommand)]
    command: ConnectorCommand,
}

#[derive(clap::Subcommand)]
enum ConnectorCommand {
    /// Create a connector and start it. Settings are KurrentDB's keys, as a
    /// JSON object (`--settings`, or `@FILE`) and/or `--set KEY=VALUE`.
    Create(CreateArgs),
    /// Every connector, one line each.
    List,
    /// One connector's definition, state, position, lag and counters.
    Status {
        id: String,
    },
    Start {
        id: String,
    },
    Stop {
        id: String,
    },
    /// Deliver again from the initial position, or after `--position`.
    Reset {
        id: String,
        #[arg(long)]
        position: Option<u64>,
    },
    Delete {
        id: String,
    },
}

#[derive(clap::Args)]
struct CreateArgs {
    id: String,
    /// A display name (the id when none is given).
    #[arg(long)]
    name: Option<String>,
    /// The settings as a JSON object, or `@FILE` to read them from a file.
    #[arg(long)]
    settings: Option<String>,
    /// One setting, `KEY=VALUE` (repeatable; overrides `--settings`).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

pub fn run(args: ConnectorArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(execute(args))
}

async fn execute(args: ConnectorArgs) -> anyhow::Result<()> {
    let server = Server::parse(&args.server)?;
    let (method, path, body) = match args.command {
        ConnectorCommand::Create(create) => {
            let mut body = Map::new();
            if let Some(name) = &create.name {
                body.insert("name".into(), Value::from(name.as_str()));
            }
            body.insert("settings".into(), Value::Object(settings(&create)?));
            (Method::POST, format!("/connectors/{}", create.id), Some(Value::Object(body).to_string()))
        }
        ConnectorCommand::List => {
            let answer = send(&server, Method::GET, "/connectors", None).await?;
            print_table(&answer);
            return Ok(());
        }
        ConnectorCommand::Status { id } => (Method::GET, format!("/connectors/{id}"), None),
        ConnectorCommand::Start { id } => (Method::POST, format!("/connectors/{id}/start"), Some(String::new())),
        ConnectorCommand::Stop { id } => (Method::POST, format!("/connectors/{id}/stop"), Some(String::new())),
        ConnectorCommand::Reset { id, position: None } => {
            (Method::POST, format!("/connectors/{id}/reset"), Some(String::new()))
        }
        ConnectorCommand::Reset { id, position: Some(position) } => {
            (Method::POST, format!("/connectors/{id}/reset/{position}"), Some(String::new()))
        }
        ConnectorCommand::Delete { id } => (Method::DELETE, format!("/connectors/{id}"), None),
    };
    let answer = send(&server, method, &path, body).await?;
    println!("{}", serde_json::to_string_pretty(&answer).context("printing the answer")?);
    Ok(())
}

/// `--settings` (inline or `@FILE`), then every `--set` over it.
fn settings(args: &CreateArgs) -> anyhow::Result<Map<String, Value>> {
    let mut settings = match &args.settings {
        None => Map::new(),
        Some(text) => {
            let text = match text.strip_prefix('@') {
                Some(file) => std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?,
                None => text.clone(),
            };
            match serde_json::from_str(&text).context("--settings is not JSON")? {
                Value::Object(object) => object,
                _ => bail!("--settings must be a JSON object"),
            }
        }
    };
    for pair in &args.set {
        let Some((key, value)) = pair.split_once('=') else { bail!("--set `{pair}` is not KEY=VALUE") };
        settings.insert(key.trim().to_owned(), Value::from(value));
    }
    if settings.is_empty() {
        bail!("no settings: give --settings or --set");
    }
    Ok(settings)
}

async fn send(server: &Server, method: Method, path: &str, body: Option<String>) -> anyhow::Result<Value> {
    let (code, answer) = server.request_within(method.clone(), path, body, REQUEST_TIMEOUT).await?;
    let value: Value =
        serde_json::from_slice(&answer).unwrap_or_else(|_| Value::from(String::from_utf8_lossy(&answer)));
    if code.is_success() {
        return Ok(value);
    }
    let reason = value.get("error").and_then(Value::as_str).map_or_else(|| value.to_string(), str::to_owned);
    match code {
        StatusCode::NOT_FOUND => bail!("{reason}"),
        _ => bail!("{method} {path}: HTTP {code}: {reason}"),
    }
}

fn print_table(answer: &Value) {
    let empty = Vec::new();
    let items = answer.get("items").and_then(Value::as_array).unwrap_or(&empty);
    println!("{:<24} {:<9} {:>14} {:>12} {:>8} {:>8}", "ID", "STATE", "POSITION", "DELIVERED", "DLQ", "ERRORS");
    for item in items {
        let text = |key: &str| match &item[key] {
            Value::Null => "-".to_owned(),
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        println!(
            "{:<24} {:<9} {:>14} {:>12} {:>8} {:>8}",
            text("connectorId"),
            text("state"),
            text("position"),
            text("delivered"),
            text("deadLettered"),
            text("errors")
        );
    }
}
