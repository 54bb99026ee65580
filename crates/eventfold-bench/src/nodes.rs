//! Live delivery across nodes: one writer appends through node A (the
//! target's server) while one subscriber listens on node A and another on
//! node B, a second `eventfold serve` on the same PostgreSQL database.
//! Both subscribers see the same appends, so the two latencies (p50/p99)
//! compare in one run: what reaching another node costs over the same
//! node (B learns of new positions by `NOTIFY`, or by polling when a
//! notification is missed). Beside them, the sequencing lag of those
//! appends: what each waited for its position after its commit, the
//! ordering design's cost, read from node A's `/metrics` before and after.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use eventfold_store::ExpectedRevision;
use serde_json::{Value, json};
use tokio::sync::{oneshot, watch};

use crate::child_server::{self, ChildServer};
use crate::fanout::{append_one_by_one, receive, wait_caught_up};
use crate::server_client::{ClientKind, ServerClient};
use crate::stats::{Latencies, event_body, rate, ratio};
use crate::target::{AppendResult, Target, TargetOptions};

/// How long a subscriber may take to catch up, or to see the last event
/// once the writer is done, before the run fails rather than hangs.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// The histogram node A records each append's wait for its position in.
const SEQUENCING_LAG: &str = "eventfold_postgres_sequencing_lag_seconds";

pub async fn run(
    target: Arc<Target>,
    options: &TargetOptions,
    scratch: &Path,
    duration: Duration,
) -> anyhow::Result<Value> {
    let (Some(store), Some(url_a)) = (target.postgres_store(), target.server_url()) else {
        bail!("live across nodes needs a server the bench started on PostgreSQL (target grpc-postgres)");
    };
    let address_a = socket_address(url_a)?;
    let dir_b = tempfile::tempdir_in(scratch).context("creating node B's directory")?;
    let binary = child_server::server_binary(options.server_bin.as_deref())?;
    // Dropped at the end of the run: node B is killed before node A.
    let node_b = tokio::task::block_in_place(|| ChildServer::start_on_postgres(&binary, dir_b.path(), store))
        .context("starting node B on the same database")?;
    let client_b = ServerClient::connect(ClientKind::Lean, &node_b.url()).await?;

    let stream = target.stream("nodes");
    if let AppendResult::Conflict { actual } =
        target.append(0, &stream, ExpectedRevision::NoStream, vec![event_body(0)]).await?
    {
        bail!("{stream} already existed ({actual:?})");
    }
    let (total_sender, total) = watch::channel(None::<u64>);
    let mut subscribers = Vec::new();
    let mut caught_up = Vec::new();
    for mut deliveries in [target.subscribe_apart(Some(&stream)).await?, client_b.subscribe(Some(&stream)).await?] {
        let (ready, ready_receiver) = oneshot::channel();
        caught_up.push(ready_receiver);
        let total = total.clone();
        subscribers.push(tokio::spawn(async move { receive(&mut deliveries, ready, total).await }));
    }
    wait_caught_up(caught_up).await?;

    let lag_before = tokio::task::block_in_place(|| scrape_histogram(address_a, SEQUENCING_LAG))?;
    let started = Instant::now();
    let (sent, revision) = append_one_by_one(&target, &stream, duration).await?;
    let _ = total_sender.send(Some(revision));
    let mut latencies = Vec::new();
    for subscriber in subscribers {
        let received =
            tokio::time::timeout(DRAIN_TIMEOUT, subscriber).await.context("a subscriber fell silent")???;
        let (mut from_append, mut from_ack) = (Latencies::new(), Latencies::new());
        for (revision, at) in received {
            // Revision 0 is the event written before the clock started.
            let Some((call, ack)) = revision.checked_sub(1).and_then(|index| sent.get(index as usize)) else {
                continue;
            };
            from_append.record(at.saturating_duration_since(*call));
            from_ack.record(at.saturating_duration_since(*ack));
        }
        latencies.push((from_append, from_ack));
    }
    let elapsed = started.elapsed();
    let lag_after = tokio::task::block_in_place(|| scrape_histogram(address_a, SEQUENCING_LAG))?;
    let lag = lag_after.since(&lag_before);
    let [(same_append, same_ack), (other_append, other_ack)] =
        <[_; 2]>::try_from(latencies).map_err(|_| anyhow::anyhow!("expected one result per subscriber"))?;
    let p = |latencies: &Latencies, key: &str| latencies.to_json()[key].as_f64();
    Ok(json!({
        "seconds": elapsed.as_secs_f64(),
        "events": revision,
        "appends_per_second": rate(revision, elapsed),
        "latency_same_node": same_append.to_json(),
        "latency_same_node_from_ack": same_ack.to_json(),
        "latency_other_node": other_append.to_json(),
        "latency_other_node_from_ack": other_ack.to_json(),
        "other_vs_same_node_p50": ratio(p(&other_append, "p50_us"), p(&same_append, "p50_us")),
        "other_vs_same_node_p99": ratio(p(&other_append, "p99_us"), p(&same_append, "p99_us")),
        "sequencing_lag": lag.to_json(),
    }))
}

/// `http://127.0.0.1:PORT` as a socket address.
fn socket_address(url: &str) -> anyhow::Result<SocketAddr> {
    let authority = url.strip_prefix("http://").unwrap_or(url).trim_end_matches('/');
    authority.parse().with_context(|| format!("the server's address in {url:?}"))
}

/// A Prometheus histogram as `/metrics` shows it: cumulative counts per
/// upper bound (in seconds, `+Inf` last), the sum and the count.
#[derive(Debug, Default, PartialEq)]
struct Histogram {
    buckets: Vec<(f64, u64)>,
    sum: f64,
    count: u64,
}

impl Histogram {
    /// What was recorded between `earlier` and this scrape (the bounds are
    /// the same: one histogram of one process).
    fn since(&self, earlier: &Histogram) -> Histogram {
        let before =
            |bound: f64| earlier.buckets.iter().find(|(other, _)| *other == bound).map_or(0, |(_, count)| *count);
        Histogram {
            buckets: self.buckets.iter().map(|&(bound, count)| (bound, count.saturating_sub(before(bound)))).collect(),
            sum: self.sum - earlier.sum,
            count: self.count.saturating_sub(earlier.count),
        }
    }

    /// The `quantile` in seconds, interpolated linearly inside its bucket
    /// (as Prometheus' `histogram_quantile`): exact only to the bucket's
    /// width. In the `+Inf` bucket, the last finite bound.
    fn quantile(&self, quantile: f64) -> Option<f64> {
        let total = self.buckets.last()?.1;
        if total == 0 {
            return None;
        }
        let rank = quantile * total as f64;
        let (mut lower, mut below) = (0.0, 0u64);
        for &(upper, count) in &self.buckets {
            if count as f64 >= rank {
                if upper.is_infinite() {
                    return Some(lower);
                }
                let inside = (count - below) as f64;
                let fraction = if inside > 0.0 { (rank - below as f64) / inside } else { 1.0 };
                return Some(lower + (upper - lower) * fraction);
            }
            (lower, below) = (upper, count);
        }
        Some(lower)
    }

    fn to_json(&self) -> Value {
        let micros = |seconds: Option<f64>| seconds.map(|seconds| seconds * 1e6);
        json!({
            "p50_us": micros(self.quantile(0.50)),
            "p99_us": micros(self.quantile(0.99)),
            "mean_us": micros((self.count > 0).then(|| self.sum / self.count as f64)),
            "samples": self.count,
            "from": "the server's histogram buckets (quantiles interpolated inside a bucket; the mean is exact)",
        })
    }
}

/// `GET /metrics` of the server at `address`, and the histogram `name` in it
/// (empty if the server has recorded none yet).
fn scrape_histogram(address: SocketAddr, name: &str) -> anyhow::Result<Histogram> {
    let text = child_server::http_get(address, "/metrics")?;
    Ok(parse_histogram(&text, name))
}

fn parse_histogram(text: &str, name: &str) -> Histogram {
    let mut histogram = Histogram::default();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else { continue };
        let Some((key, value)) = rest.rsplit_once(' ') else { continue };
        if let Some(labels) = key.strip_prefix("_bucket{") {
            let bound = labels.split("le=\"").nth(1).and_then(|bound| bound.split('"').next());
            let bound = match bound {
                Some("+Inf") => Some(f64::INFINITY),
                Some(bound) => bound.parse().ok(),
                None => None,
            };
            if let (Some(bound), Ok(count)) = (bound, value.parse()) {
                histogram.buckets.push((bound, count));
            }
        } else if key == "_sum" {
            histogram.sum = value.parse().unwrap_or(0.0);
        } else if key == "_count" {
            histogram.count = value.parse().unwrap_or(0);
        }
    }
    histogram.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    histogram
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRAPE: &str = "# TYPE eventfold_postgres_sequencing_lag_seconds histogram
eventfold_postgres_sequencing_lag_seconds_bucket{le=\"0.001\"} 0
eventfold_postgres_sequencing_lag_seconds_bucket{le=\"0.0025\"} 50
eventfold_postgres_sequencing_lag_seconds_bucket{le=\"0.005\"} 90
eventfold_postgres_sequencing_lag_seconds_bucket{le=\"+Inf\"} 100
eventfold_postgres_sequencing_lag_seconds_sum 0.4
eventfold_postgres_sequencing_lag_seconds_count 100
eventfold_postgres_sequencer_batch_events_bucket{le=\"1\"} 7
";

    #[test]
    fn a_scraped_histogram_gives_interpolated_quantiles_and_an_exact_mean() {
        let histogram = parse_histogram(SCRAPE, SEQUENCING_LAG);
        assert_eq!(histogram.count, 100);
        assert_eq!(histogram.buckets.len(), 4);
        let p50 = histogram.quantile(0.5).expect("p50");
        assert!((p50 - 0.0025).abs() < 1e-12, "p50 {p50}");
        let p80 = histogram.quantile(0.8).expect("p80");
        assert!((p80 - 0.004375).abs() < 1e-12, "p80 {p80}");
        // In the +Inf bucket: the last finite bound.
        assert_eq!(histogram.quantile(0.99), Some(0.005));
        assert_eq!(histogram.to_json()["mean_us"].as_f64().map(f64::round), Some(4000.0));
    }

    #[test]
    fn the_difference_of_two_scrapes_is_what_was_recorded_between_them() {
        let after = parse_histogram(SCRAPE, SEQUENCING_LAG);
        let before = Histogram { buckets: vec![(0.0025, 50), (0.005, 50), (f64::INFINITY, 50)], sum: 0.1, count: 50 };
        let between = after.since(&before);
        assert_eq!(between.count, 50);
        assert_eq!(between.buckets, vec![(0.001, 0), (0.0025, 0), (0.005, 40), (f64::INFINITY, 50)]);
        let p50 = between.quantile(0.5).expect("p50");
        assert!((p50 - (0.0025 + 0.0025 * 25.0 / 40.0)).abs() < 1e-12, "p50 {p50}");
        assert_eq!(parse_histogram("", SEQUENCING_LAG).quantile(0.5), None);
    }
}
