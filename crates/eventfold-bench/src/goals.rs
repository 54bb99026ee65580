//! The performance goals of issue 13, measured in the `compare` run: what
//! users get through the official client against PostgreSQL and the disk
//! of the same run, `$all` read rates, and tail latency against the median
//! of every append case. Each is reported with its value, its bound and
//! whether the bound is met; none is ever asserted, since a noisy machine
//! moves every figure.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::Workload;
use crate::compare::{cases, figure, find, thousands};
use crate::stats::quotient as divide;

/// The targets whose tail latency is held to the bound: the server through
/// each client, and the engine under it, which tells a stall of the server
/// from one of the protocol.
const TAIL_TARGETS: [&str; 3] = ["engine", "grpc", "kurrentdb"];

/// p999 may be at most this many times p50 in every append case.
const TAIL_OVER_MEDIAN_MAX: f64 = 10.0;

enum Bound {
    AtLeast(f64),
    AtMost(f64),
}

/// Every goal of the run, as a JSON array.
pub fn measure(results: &[Value]) -> Value {
    let rate = |case: &str, target: &str| figure(results, case, target, "events_per_second");
    let fsync_1 = rate("disk fsync, 1 record per sync", "disk");
    let fsync_100 = rate("disk fsync, 100 records per sync", "disk");
    let one = "append 1 writer x 1 event";
    let many = "append 64 writers x 1 event";
    let batches = "append 8 writers x 100 events";
    let all_warm = |target| figure(results, "read", target, "all_warm_events_per_second");
    let mut goals = vec![
        goal(
            "append 1x1: kurrentdb / postgres",
            divide(rate(one, "kurrentdb"), rate(one, "postgres")),
            Bound::AtLeast(1.2),
        ),
        goal(
            "append 1x1: kurrentdb / disk, 1 record per fsync",
            divide(rate(one, "kurrentdb"), fsync_1),
            Bound::AtLeast(0.8),
        ),
        goal(
            "append 64x1: kurrentdb / postgres with 64 clients",
            divide(rate(many, "kurrentdb"), rate(many, "postgres")),
            Bound::AtLeast(3.0),
        ),
        goal(
            "append 8x100: kurrentdb / disk, 100 records per fsync",
            divide(rate(batches, "kurrentdb"), fsync_100),
            Bound::AtLeast(0.7),
        ),
        goal("read $all warm, events/s: kurrentdb", all_warm("kurrentdb"), Bound::AtLeast(1e6)),
        goal("read $all warm, events/s: grpc", all_warm("grpc"), Bound::AtLeast(2e6)),
        goal("read $all warm, events/s: engine", all_warm("engine"), Bound::AtLeast(1e7)),
    ];
    for case in cases() {
        if !matches!(case.workload, Workload::Append { .. }) {
            continue;
        }
        for target in TAIL_TARGETS {
            let latency = find(results, case.name, target).map(|result| &result["latency"]);
            let tail = latency.and_then(|latency| divide(latency["p999_us"].as_f64(), latency["p50_us"].as_f64()));
            goals.push(goal(
                &format!("{}: p999 / p50, {target}", case.name),
                tail,
                Bound::AtMost(TAIL_OVER_MEDIAN_MAX),
            ));
        }
    }
    Value::Array(goals)
}

/// One goal: `met` is null where the value could not be measured (a target
/// skipped), so a missing figure never reads as a miss or a success.
fn goal(name: &str, value: Option<f64>, bound: Bound) -> Value {
    let (comparison, limit, met) = match bound {
        Bound::AtLeast(limit) => (">=", limit, value.map(|value| value >= limit)),
        Bound::AtMost(limit) => ("<=", limit, value.map(|value| value <= limit)),
    };
    json!({ "goal": name, "value": value, "bound": format!("{comparison} {limit}"), "met": met })
}

/// The goals as a Markdown table.
pub fn markdown(goals: &Value) -> String {
    let mut text = String::from("\n| goal | value | bound | met |\n|---|---|---|---|\n");
    for goal in goals.as_array().map(Vec::as_slice).unwrap_or_default() {
        // Rates read best in thousands, ratios with two decimals.
        let value = goal["value"].as_f64().map_or_else(
            || "n/a".to_owned(),
            |value| if value >= 1e3 { thousands(value) } else { format!("{value:.2}") },
        );
        let met = match goal["met"].as_bool() {
            Some(true) => "yes",
            Some(false) => "no",
            None => "n/a",
        };
        let _ = writeln!(
            text,
            "| {} | {value} | {} | {met} |",
            goal["goal"].as_str().unwrap_or("?"),
            goal["bound"].as_str().unwrap_or("?")
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_goal_is_met_by_its_bound_and_unknown_without_a_value() {
        assert_eq!(goal("g", Some(1.5), Bound::AtLeast(1.2))["met"], true);
        assert_eq!(goal("g", Some(1.0), Bound::AtLeast(1.2))["met"], false);
        assert_eq!(goal("g", Some(12.0), Bound::AtMost(10.0))["met"], false);
        assert_eq!(goal("g", None, Bound::AtMost(10.0))["met"], Value::Null);
    }

    #[test]
    fn the_official_client_is_held_against_postgres_and_the_disk() {
        let row = |case: &str, target: &str, rate: f64| {
            json!({ "case": case, "target": target, "events_per_second": rate,
                    "latency": { "p50_us": 100.0, "p999_us": 2000.0 } })
        };
        let results = vec![
            row("disk fsync, 1 record per sync", "disk", 5000.0),
            row("append 1 writer x 1 event", "kurrentdb", 4500.0),
            row("append 1 writer x 1 event", "postgres", 3000.0),
        ];
        let goals = measure(&results);
        let named = |name: &str| {
            goals
                .as_array()
                .and_then(|goals| goals.iter().find(|goal| goal["goal"] == name))
                .cloned()
                .unwrap_or_default()
        };
        assert_eq!(named("append 1x1: kurrentdb / postgres")["value"], 1.5);
        assert_eq!(named("append 1x1: kurrentdb / postgres")["met"], true);
        assert_eq!(named("append 1x1: kurrentdb / disk, 1 record per fsync")["value"], 0.9);
        assert_eq!(named("append 1 writer x 1 event: p999 / p50, kurrentdb")["met"], false);
        assert_eq!(named("append 64x1: kurrentdb / postgres with 64 clients")["met"], Value::Null);
    }
}
