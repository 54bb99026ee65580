//! `eventfold query`: manage a running server's continuous SQL queries over
//! its HTTP API (`/api/v1/queries`): create, list, show, result, reset,
//! delete. `list` and `result` print tables, `show` the query's JSON; a
//! refusal exits 1 with the server's reason (and, for bad SQL, where in the
//! text it lies).

use std::time::Duration;

use anyhow::{Context, bail};
use hyper::Method;
use serde_json::{Value, json};

use crate::admin::Server;
use crate::sql::table;

/// How long one request may take: a reset waits for the query's task to stop.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(clap::Args)]
pub struct QueryArgs {
    /// The server's HTTP address (port 2113 when none is given); credentials
    /// as `https://user:password@host:2113?tlsCaFile=ca.crt`.
    #[arg(long, global = true, env = "EVENTFOLD_SERVER", default_value = "http://127.0.0.1:2113")]
    server: String,
    #[command(subcommand)]
    command: QueryCommand,
}

#[derive(clap::Subcommand)]
enum QueryCommand {
    /// Create a continuous query and start it: a GROUP BY with aggregates
    /// over `date_bin(size, created)` or `hop(created, slide, size)`.
    Create {
        name: String,
        sql: String,
        /// Read only the events after this log position.
        #[arg(long)]
        from: Option<u64>,
    },
    /// Every continuous query, one line each.
    List,
    /// One query's definition, state, position, lag and events/s.
    Show { name: String },
    /// The rows of the windows closed so far, as a table.
    Result {
        name: String,
        /// At most this many rows, the latest.
        #[arg(long)]
        limit: Option<u64>,
    },
    /// Rebuild from the start of the log, or after `--from`.
    Reset {
        name: String,
        #[arg(long)]
        from: Option<u64>,
    },
    /// Stop the query and delete it, with its rows.
    Delete { name: String },
}

pub fn run(args: QueryArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(execute(args))
}

/// A position as the API writes them: a decimal string.
fn from_body(from: Option<u64>) -> Value {
    match from {
        Some(position) => json!({ "from": position.to_string() }),
        None => json!({}),
    }
}

async fn execute(args: QueryArgs) -> anyhow::Result<()> {
    let server = Server::parse(&args.server)?;
    match args.command {
        QueryCommand::Create { name, sql, from } => {
            let mut body = from_body(from);
            body["name"] = json!(name);
            body["sql"] = json!(sql);
            let answer = send(&server, Method::POST, "/api/v1/queries", Some(body)).await?;
            print_json(&answer)
        }
        QueryCommand::List => {
            let answer = send(&server, Method::GET, "/api/v1/queries", None).await?;
            print!("{}", list_table(&answer));
            Ok(())
        }
        QueryCommand::Show { name } => {
            let answer = send(&server, Method::GET, &format!("/api/v1/queries/{name}"), None).await?;
            print_json(&answer)
        }
        QueryCommand::Result { name, limit } => {
            let path = match limit {
                Some(limit) => format!("/api/v1/queries/{name}/result?limit={limit}"),
                None => format!("/api/v1/queries/{name}/result"),
            };
            let answer = send(&server, Method::GET, &path, None).await?;
            print!("{}", result_table(&answer));
            if answer["truncated"] == true {
                eprintln!("(older rows were left out; see --limit)");
            }
            Ok(())
        }
        QueryCommand::Reset { name, from } => {
            let path = format!("/api/v1/queries/{name}/reset");
            let answer = send(&server, Method::POST, &path, Some(from_body(from))).await?;
            print_json(&answer)
        }
        QueryCommand::Delete { name } => {
            send(&server, Method::DELETE, &format!("/api/v1/queries/{name}"), None).await?;
            println!("deleted continuous query `{name}`");
            Ok(())
        }
    }
}

fn print_json(answer: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(answer).context("printing the answer")?);
    Ok(())
}

async fn send(server: &Server, method: Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
    let body = body.map(|body| body.to_string());
    let (code, answer) = server.request_within(method.clone(), path, body, REQUEST_TIMEOUT).await?;
    if code.is_success() && answer.is_empty() {
        return Ok(Value::Null);
    }
    let value: Value =
        serde_json::from_slice(&answer).unwrap_or_else(|_| Value::from(String::from_utf8_lossy(&answer)));
    if code.is_success() {
        return Ok(value);
    }
    let reason = value.get("error").and_then(Value::as_str).map_or_else(|| value.to_string(), str::to_owned);
    match (value.get("line").and_then(Value::as_u64), value.get("column").and_then(Value::as_u64)) {
        (Some(line), Some(column)) => bail!("{reason} (line {line}, column {column})"),
        _ => bail!("{method} {path}: HTTP {code}: {reason}"),
    }
}

/// One line per query: name, state, position, lag, events/s.
fn list_table(answer: &Value) -> String {
    let columns: Vec<String> =
        ["name", "state", "position", "lag", "events/s", "open windows"].iter().map(|&name| name.to_owned()).collect();
    let empty = Vec::new();
    let rows: Vec<Value> = answer["queries"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .map(|query| {
            let state = match query["reason"].as_str() {
                Some(reason) => format!("{} ({reason})", query["state"].as_str().unwrap_or_default()),
                None => query["state"].as_str().unwrap_or_default().to_owned(),
            };
            let rate = query["eventsPerSecond"].as_f64().unwrap_or(0.0);
            json!([query["name"], state, query["position"], query["lag"], format!("{rate:.1}"), query["openWindows"]])
        })
        .collect();
    table(&columns, &rows)
}

/// The result's objects as rows in the order of its columns.
fn result_table(answer: &Value) -> String {
    let columns: Vec<String> = answer["columns"]
        .as_array()
        .map(|columns| columns.iter().map(|name| name.as_str().unwrap_or_default().to_owned()).collect())
        .unwrap_or_default();
    let empty = Vec::new();
    let rows: Vec<Value> = answer["rows"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .map(|row| Value::Array(columns.iter().map(|column| row[column.as_str()].clone()).collect()))
        .collect();
    table(&columns, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_print_in_the_order_of_their_columns() {
        let answer = json!({
            "columns": ["window", "orders"],
            "rows": [{"orders": 3, "window": "2026-01-01T00:00:00Z"}],
            "truncated": false
        });
        assert_eq!(
            result_table(&answer),
            "window                orders\n--------------------  ------\n2026-01-01T00:00:00Z       3\n(1 row)\n"
        );
    }
}
