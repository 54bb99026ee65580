//! Goal: continuous windowed aggregates give, at several positions of the
//! log, exactly the rows PostgreSQL computes with equivalent SQL over the
//! same events: tumbling and hopping windows on `created`, a window on a
//! time field of the data with late events, and session windows. Skipped,
//! with a message, only where PostgreSQL is not installed.

mod support;
use support::oracle::{Oracle, generate};

use std::time::Duration;

const ORDERS_ONLY: &str = "split_part(stream, '-', 1) = 'order' AND position <= {through}";

/// Pauses between batches: short, and a long one every tenth batch so
/// that every visitor's session ends there.
fn pause(batch: usize) -> Duration {
    if batch % 10 == 9 { Duration::from_millis(250) } else { Duration::from_millis(12) }
}

#[tokio::test]
async fn windowed_aggregates_equal_postgresql_at_every_position() {
    let Some(mut oracle) = Oracle::start().await else { return };
    oracle.append(&generate(21, 800), 8, pause).await;
    oracle.load_postgres().await;
    let positions = oracle.spread_positions(6);

    let tumbling = oracle
        .check(
            "tumbling",
            "SELECT date_bin('100 milliseconds', created) AS window, json_str(data, 'customer') AS customer, \
             count(*) AS orders, sum(json_int(data, 'amount')) AS amount FROM category('order') \
             GROUP BY window, customer",
            &format!(
                "SELECT bucket, customer, count(*), sum(amount)::bigint FROM ( \
                   SELECT date_bin('100 milliseconds', created, timestamptz 'epoch') AS bucket, \
                     data ->> 'customer' AS customer, (data ->> 'amount')::bigint AS amount \
                   FROM events WHERE {ORDERS_ONLY}) AS orders \
                 GROUP BY bucket, customer HAVING ef_ticks(bucket) + 1000000 <= log_ticks({{through}})"
            ),
            &positions,
        )
        .await;
    assert!(tumbling > 20, "the tumbling windows compared: {tumbling}");

    let hopping = oracle
        .check(
            "hopping",
            "SELECT hop(created, '50 milliseconds', '200 milliseconds') AS window, count(*) AS orders, \
             avg(json_float(data, 'amount')) AS mean FROM category('order') GROUP BY window",
            &format!(
                "SELECT bucket, count(*), avg(amount) FROM ( \
                   SELECT date_bin('50 milliseconds', created, timestamptz 'epoch') - k * interval '50 milliseconds' \
                     AS bucket, (data ->> 'amount')::float8 AS amount \
                   FROM events CROSS JOIN generate_series(0, 3) AS k WHERE {ORDERS_ONLY}) AS hops \
                 GROUP BY bucket HAVING ef_ticks(bucket) + 2000000 <= log_ticks({{through}})"
            ),
            &positions,
        )
        .await;
    assert!(hopping > 20, "the hopping windows compared: {hopping}");

    // A window on the order's own time, some orders minutes late: a
    // window is shown once a later time is seen, and updated by late
    // orders.
    let field = oracle
        .check(
            "by-order-time",
            "SELECT date_bin('1 minute', json_time(data, 'at')) AS minute, json_str(data, 'customer') AS customer, \
             count(*) AS orders, sum(json_int(data, 'amount')) AS amount FROM category('order') \
             GROUP BY minute, customer",
            &format!(
                "SELECT minute, customer, count(*), sum(amount)::bigint FROM ( \
                   SELECT date_bin('1 minute', ef_json_time(data, 'at'), timestamptz 'epoch') AS minute, \
                     data ->> 'customer' AS customer, (data ->> 'amount')::bigint AS amount \
                   FROM events WHERE {ORDERS_ONLY} AND ef_json_time(data, 'at') IS NOT NULL) AS orders \
                 GROUP BY minute, customer \
                 HAVING minute + interval '1 minute' <= \
                   (SELECT max(ef_json_time(data, 'at')) FROM events WHERE {ORDERS_ONLY})"
            ),
            &positions,
        )
        .await;
    assert!(field > 20, "the windows on the order time compared: {field}");

    // Sessions of each visitor's clicks, closed 150 ms after the last.
    let sessions = oracle
        .check(
            "sessions",
            "SELECT json_str(data, 'user') AS visitor, session(created, '150 milliseconds') AS session, \
             count(*) AS clicks FROM category('click') GROUP BY visitor, session",
            "SELECT visitor, min(created), count(*) FROM ( \
               SELECT visitor, created, created_ticks, \
                 sum(starts) OVER (PARTITION BY visitor ORDER BY position) AS number FROM ( \
                   SELECT data ->> 'user' AS visitor, created, created_ticks, position, \
                     CASE WHEN created_ticks - lag(created_ticks) OVER (PARTITION BY data ->> 'user' ORDER BY position) \
                       <= 1500000 THEN 0 ELSE 1 END AS starts \
                   FROM events WHERE split_part(stream, '-', 1) = 'click' AND position <= {through}) AS marked \
               ) AS numbered \
             GROUP BY visitor, number HAVING max(created_ticks) + 1500000 < log_ticks({through})",
            &positions,
        )
        .await;
    assert!(sessions > 8, "the sessions compared: {sessions}");
    oracle.shutdown().await;
}
