//! Goal: `eventfold query` manages a continuous query on a real
//! `eventfold serve` over its HTTP API: create, list, show, result (a table
//! of the closed windows), reset and delete; bad SQL fails with the
//! server's reason and where in the text it lies, and nothing is created.

mod cli_support;
mod support;

use std::time::{Duration, Instant};

use cli_support::{fails, ok};
use support::start_with_env;

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
