//! Goal: `eventfold sql` runs a query on a real `eventfold serve` over its
//! HTTP API and prints the rows as a table, as JSON or as NDJSON; a bad
//! query fails with the server's reason and where in the text it lies.

mod cli_support;
mod support;

use cli_support::{eventfold, fails, ok};
use support::start_with_env;

#[test]
fn sql_prints_a_grouped_answer_in_every_format_and_refuses_bad_queries() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Answers hold two rows unless a query asks for more.
    let server = start_with_env(&dir.path().join("db"), &[("EVENTFOLD_SQL_ROW_LIMIT", "2")]);
    let url = format!("http://{}", server.address);
    let with = |args: &[&str]| -> Vec<String> {
        args.iter().map(|arg| (*arg).to_owned()).chain(["--server".to_owned(), url.clone()]).collect()
    };
    for (stream, total) in [("order-1", 10), ("order-1", 5), ("order-2", 7)] {
        let data = format!(r#"{{"customer":{{"id":"{stream}"}},"total":{total}}}"#);
        ok(&with(&["append", stream, "--type", "OrderPlaced", "--data", &data]));
    }
    let query = "SELECT json_str(data, 'customer.id') AS customer, sum(json_int(data, 'total')) AS total \
                 FROM events WHERE event_type = 'OrderPlaced' GROUP BY customer ORDER BY customer";

    let table = ok(&with(&["sql", query]));
    assert_eq!(table, "customer  total\n--------  -----\norder-1      15\norder-2       7\n(2 rows)\n");

    let json: serde_json::Value = serde_json::from_str(&ok(&with(&["sql", query, "--format", "json"]))).expect("JSON");
    assert_eq!(json["columns"], serde_json::json!(["customer", "total"]));
    assert_eq!(json["rows"], serde_json::json!([["order-1", 15], ["order-2", 7]]));

    let lines = ok(&with(&["sql", query, "--format", "ndjson"]));
    assert_eq!(lines, "{\"customer\":\"order-1\",\"total\":15}\n{\"customer\":\"order-2\",\"total\":7}\n");

    let every_order = "SELECT stream, revision FROM events WHERE stream LIKE 'order-%' ORDER BY position";
    let cut = eventfold(&with(&["sql", every_order, "--format", "ndjson"]));
    assert!(cut.status.success());
    assert_eq!(String::from_utf8_lossy(&cut.stdout).lines().count(), 2, "the server's row limit");
    assert!(String::from_utf8_lossy(&cut.stderr).contains("cut at the row limit"));
    let whole = ok(&with(&["sql", every_order, "--format", "ndjson", "--limit", "10"]));
    assert_eq!(whole.lines().count(), 3);

    let refused = fails(&with(&["sql", "SELECT customer\nFROM events"]));
    assert!(refused.contains("unknown column `customer`") && refused.contains("line 1, column 8"), "{refused}");
    assert!(fails(&with(&["sql", "DELETE FROM events"])).contains("only SELECT"));
}
