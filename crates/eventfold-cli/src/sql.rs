//! `eventfold sql "SELECT …"`: one ad-hoc query through a running server's
//! `POST /api/v1/sql`, printed as an aligned table (or the answer's JSON,
//! or one JSON object per row). A refused query exits 1 with the server's
//! reason and, for a syntax error, where in the text it lies.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Context, bail};
use hyper::Method;
use serde_json::{Map, Value, json};

use crate::admin::Server;

/// Beyond the query's own timeout: the time to send the answer back.
const ANSWER_MARGIN: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Table,
    Json,
    Ndjson,
}

#[derive(clap::Args)]
pub struct SqlArgs {
    /// The query: SELECT, WITH or EXPLAIN.
    query: String,
    /// The server's HTTP address (port 2113 when none is given); credentials
    /// as `https://user:password@host:2113?tlsCaFile=ca.crt`.
    #[arg(long, env = "EVENTFOLD_SERVER", default_value = "http://127.0.0.1:2113")]
    server: String,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// At most this many rows (the server's default when not given).
    #[arg(long)]
    limit: Option<u64>,
    /// Stop the query after this many milliseconds (the server's default
    /// when not given).
    #[arg(long)]
    timeout_ms: Option<u64>,
}

pub fn run(args: SqlArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(execute(args))
}

async fn execute(args: SqlArgs) -> anyhow::Result<()> {
    let server = Server::parse(&args.server)?;
    let mut body = json!({ "sql": args.query });
    if let Some(limit) = args.limit {
        body["limit"] = json!(limit);
    }
    if let Some(timeout) = args.timeout_ms {
        body["timeoutMs"] = json!(timeout);
    }
    let wait = Duration::from_millis(args.timeout_ms.unwrap_or(30_000)) + ANSWER_MARGIN;
    let (code, answer) = server.request_within(Method::POST, "/api/v1/sql", Some(body.to_string()), wait).await?;
    let answer: Value = serde_json::from_slice(&answer)
        .with_context(|| format!("the server answered {code} with: {}", String::from_utf8_lossy(&answer)))?;
    if !code.is_success() {
        let reason = answer.get("error").and_then(Value::as_str).unwrap_or("no reason given");
        match (answer.get("line").and_then(Value::as_u64), answer.get("column").and_then(Value::as_u64)) {
            (Some(line), Some(column)) => bail!("{reason} (line {line}, column {column})"),
            _ => bail!("HTTP {code}: {reason}"),
        }
    }
    let columns: Vec<String> = answer["columns"]
        .as_array()
        .map(|columns| columns.iter().map(|name| name.as_str().unwrap_or_default().to_owned()).collect())
        .unwrap_or_default();
    let empty = Vec::new();
    let rows = answer["rows"].as_array().unwrap_or(&empty);
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&answer).context("printing the answer")?),
        Format::Ndjson => {
            for row in rows {
                let cells = row.as_array().unwrap_or(&empty);
                let object: Map<String, Value> = columns.iter().cloned().zip(cells.iter().cloned()).collect();
                println!("{}", Value::Object(object));
            }
        }
        Format::Table => print!("{}", table(&columns, rows)),
    }
    if answer["truncated"] == true {
        eprintln!("(the answer was cut at the row limit; raise it with --limit)");
    }
    Ok(())
}

/// The cell as a person reads it: text bare, `NULL` for null.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => "NULL".to_owned(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Columns padded to their widest cell; numbers to the right.
pub(crate) fn table(columns: &[String], rows: &[Value]) -> String {
    let empty = Vec::new();
    let cells: Vec<Vec<(String, bool)>> = rows
        .iter()
        .map(|row| row.as_array().unwrap_or(&empty).iter().map(|value| (cell(value), value.is_number())).collect())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(index, name)| {
            cells
                .iter()
                .filter_map(|row| row.get(index))
                .map(|(text, _)| text.chars().count())
                .chain([name.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let header: Vec<String> = columns.iter().zip(&widths).map(|(name, width)| format!("{name:<width$}")).collect();
    let _ = writeln!(out, "{}", header.join("  ").trim_end());
    let rule: Vec<String> = widths.iter().map(|width| "-".repeat(*width)).collect();
    let _ = writeln!(out, "{}", rule.join("  "));
    for row in &cells {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|((text, number), width)| if *number { format!("{text:>width$}") } else { format!("{text:<width$}") })
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    let _ = writeln!(out, "({} row{})", rows.len(), if rows.len() == 1 { "" } else { "s" });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_text_left_and_numbers_right() {
        let columns = vec!["customer".to_owned(), "n".to_owned()];
        let rows = vec![json!(["c-1", 12]), json!(["c-22", 3]), json!([null, 100])];
        assert_eq!(
            table(&columns, &rows),
            "customer  n\n--------  ---\nc-1        12\nc-22        3\nNULL      100\n(3 rows)\n"
        );
    }
}
