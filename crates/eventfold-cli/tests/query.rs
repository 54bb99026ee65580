//! Goal: `eventfold query` manages a continuous query on a real
//! `eventfold serve` over its HTTP API: create, list, show, result (a table
//! of the closed windows), reset and delete; bad SQL fails with the
//! server's reason and where in the text it lies, and nothing is created.
//! And a continuous query is exactly once across `kill -9`: the server is
//! killed several times while orders are appended, and after the last
//! restart `$query-{name}` holds each window's row once, counting every
//! order of the log.

mod cli_support;
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cli_support::{fails, ok};
use eventfold_client::{Client, Expected, ProposedEvent};
use support::{kill_under_appends, start, start_with_env};

#[test]
fn query_commands_manage_a_continuous_query() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start_with_env(&dir.path().join("db"), &[]);
    let url = format!("http://{}", server.address);
    let with = |args: &[&str]| -> Vec<String> {
        args.iter().map(|arg| (*arg).to_owned()).chain(["--server".to_owned(), url.clone()]).collect()
    };
    for stream in ["order-1", "order-2", "order-1"] {
        ok(&with(&["append", stream, "--type", "OrderPlaced", "--data", "{}"]));
    }
    let sql =
        "SELECT date_bin('1 second', created) AS window, count(*) AS orders FROM category('order') GROUP BY window";

    let refused = fails(&with(&["query", "create", "bad", "SELECT count(*)\nFROM events WHERE > 1"]));
    assert!(refused.contains("line 2"), "{refused}");
    let unbounded = fails(&with(&["query", "create", "bad", "SELECT * FROM events ORDER BY created"]));
    assert!(unbounded.contains("cannot be maintained"), "{unbounded}");
    assert!(!ok(&with(&["query", "list"])).contains("bad"), "nothing created");

    let created: serde_json::Value =
        serde_json::from_str(&ok(&with(&["query", "create", "orders", sql]))).expect("the query as JSON");
    assert_eq!(created["resultStream"], "$query-orders");
    assert!(fails(&with(&["query", "create", "orders", sql])).contains("already exists"));
    let listed = ok(&with(&["query", "list"]));
    assert!(listed.starts_with("name") && listed.contains("orders") && listed.contains("running"), "{listed}");

    // The one-second windows close by the clock on the idle log.
    let started = Instant::now();
    let result = loop {
        let result = ok(&with(&["query", "result", "orders"]));
        if counted(&result) == 3 || started.elapsed() > Duration::from_secs(30) {
            break result;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(result.starts_with("window") && result.contains("orders"), "{result}");
    assert_eq!(counted(&result), 3, "the closed windows count the three orders: {result}");
    let shown: serde_json::Value =
        serde_json::from_str(&ok(&with(&["query", "show", "orders"]))).expect("the query as JSON");
    assert_eq!(shown["state"], "running");

    let reset: serde_json::Value =
        serde_json::from_str(&ok(&with(&["query", "reset", "orders", "--from", "0"]))).expect("the query as JSON");
    assert_eq!(reset["from"], "0");
    assert!(ok(&with(&["query", "delete", "orders"])).contains("deleted"));
    assert!(fails(&with(&["query", "show", "orders"])).contains("does not exist"));
}

/// The sum of the last column of a printed table (between its rule and its
/// row count).
fn counted(table: &str) -> u64 {
    table
        .lines()
        .skip(2)
        .filter(|line| !line.starts_with('('))
        .filter_map(|line| line.split_whitespace().last()?.parse::<u64>().ok())
        .sum()
}

/// The rows of a printed table (between its rule and its row count): the
/// first cell and the last.
fn table_rows(table: &str) -> Vec<(String, u64)> {
    table
        .lines()
        .skip(2)
        .filter(|line| !line.starts_with('('))
        .filter_map(|line| {
            let mut cells = line.split_whitespace();
            let first = cells.next()?.to_owned();
            Some((first, cells.last()?.parse().ok()?))
        })
        .collect()
}

/// Appends batches of 10 orders until the server stops answering.
async fn append_until_killed(url: String) {
    let Ok(client) = Client::connect(&url).await else { return };
    for batch in 0_u64.. {
        let events =
            (0..10).map(|n| ProposedEvent::json("OrderPlaced", format!("{{\"n\":{n}}}").into_bytes())).collect();
        if client.append(&format!("order-{}", batch % 4), Expected::Any, events).await.is_err() {
            return;
        }
    }
}

#[test]
fn a_continuous_query_writes_each_window_once_across_kill_9() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let sql = "SELECT date_bin('50 milliseconds', created) AS window, count(*) AS orders \
               FROM category('order') GROUP BY window";
    let create = |round: u64, url: &str| {
        if round == 0 {
            ok(&["query", "create", "orders", sql, "--server", url]);
        }
    };
    kill_under_appends(&runtime, dir.path(), create, append_until_killed);
    let server = start(dir.path());
    let url = format!("http://{}", server.address);
    let counted_in_log =
        ok(&["sql", "SELECT count(*) AS orders FROM category('order')", "--format", "ndjson", "--server", &url]);
    let in_log = serde_json::from_str::<serde_json::Value>(&counted_in_log).expect("a JSON row")["orders"]
        .as_u64()
        .expect("a count");
    assert!(in_log > 0, "orders were appended");
    // The last windows close by the clock on the idle log.
    let started = Instant::now();
    let rows = loop {
        let rows = table_rows(&ok(&["query", "result", "orders", "--server", &url]));
        let counted: u64 = rows.iter().map(|(_, orders)| orders).sum();
        if counted >= in_log || started.elapsed() > Duration::from_secs(60) {
            break rows;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let windows: BTreeMap<&str, usize> = rows.iter().fold(BTreeMap::new(), |mut seen, (window, _)| {
        *seen.entry(window.as_str()).or_default() += 1;
        seen
    });
    assert!(windows.values().all(|count| *count == 1), "each window once: {windows:?}");
    assert_eq!(rows.iter().map(|(_, orders)| orders).sum::<u64>(), in_log, "every order counted once");
    assert!(windows.len() > 4, "the run spans many windows: {windows:?}");
}
