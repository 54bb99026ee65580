//! Projections: a counting query and a `partitionBy` query over the same
//! events as a plain `$all` read, timed in one run, so that their rates read
//! as shares of the read rate. In-process on the `engine` target; on a
//! server target, created and followed through the server's Projections
//! gRPC service, as a client would.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use eventfold_projections::{CreateProjection, Mode, Projections, ProjectionsOptions, Select};
use eventfold_store::EventStore;
use serde_json::{Value, json};

use eventfold_proto::event_store::client::projections::projections_client::ProjectionsClient;
use eventfold_proto::event_store::client::projections::{CreateReq, StatisticsReq, create_req, statistics_req};

use crate::append::fill;
use crate::stats::rate;
use crate::target::Target;

const COUNTING: &str = "fromAll().when({ $init: function () { return { count: 0 }; }, \
    $any: function (s, e) { s.count += 1; } })";
const PARTITIONED: &str = "fromAll().partitionBy(function (e) { return e.streamId; }).when({ \
    $init: function () { return { count: 0, amount: 0 }; }, \
    $any: function (s, e) { s.count += 1; s.amount += e.data.amount; } })";

/// Longest wait for a projection to process what was filled.
const PROJECTION_TIMEOUT: Duration = Duration::from_secs(600);

pub async fn run(target: Arc<Target>, events: u64) -> anyhow::Result<Value> {
    let stream = target.stream("projection");
    fill(&target, events, &stream, events / 10).await?;

    let started = Instant::now();
    let read = target.read_to_end(None).await?;
    let read_elapsed = started.elapsed();

    let (counting, partitioned) = match (target.engine(), target.server_url()) {
        (Some(engine), _) => {
            let store: Arc<dyn EventStore> = Arc::new(engine.clone());
            let projections = Projections::start(store, ProjectionsOptions::default()).await;
            let counting = time_projection(&projections, "counting", COUNTING, events).await?;
            let partitioned = time_projection(&projections, "partitioned", PARTITIONED, events).await?;
            projections.shutdown().await;
            (counting, partitioned)
        }
        (None, Some(url)) => {
            let channel = eventfold_client::connect_channel(url, |endpoint| endpoint).await?;
            let mut client = ProjectionsClient::new(channel);
            let name = |kind: &str| format!("{kind}-{}", target.stream("p"));
            let counting = time_on_server(&mut client, &name("counting"), COUNTING, events).await?;
            let partitioned = time_on_server(&mut client, &name("partitioned"), PARTITIONED, events).await?;
            (counting, partitioned)
        }
        (None, None) => bail!("projections are measured in-process or through a server"),
    };

    let share = |elapsed: Duration| read_elapsed.as_secs_f64() / elapsed.as_secs_f64().max(f64::EPSILON);
    Ok(json!({
        "events": events,
        "read_all": { "seconds": read_elapsed.as_secs_f64(), "events_per_second": rate(read, read_elapsed) },
        "counting": {
            "seconds": counting.0.as_secs_f64(),
            "events_per_second": rate(events, counting.0),
            "share_of_read_rate": share(counting.0),
            "js_share_of_time": counting.1,
        },
        "partitioned": {
            "seconds": partitioned.0.as_secs_f64(),
            "events_per_second": rate(events, partitioned.0),
            "share_of_read_rate": share(partitioned.0),
            "js_share_of_time": partitioned.1,
        },
    }))
}

/// Creates the projection and waits until it has handled `events`; answers
/// the time it took and the share of it spent in the engine's handlers.
async fn time_projection(
    projections: &Projections,
    name: &str,
    query: &str,
    events: u64,
) -> anyhow::Result<(Duration, f64)> {
    let started = Instant::now();
    projections
        .create(CreateProjection {
            name: name.to_owned(),
            mode: Mode::Continuous,
            query: query.to_owned(),
            emit_enabled: false,
            track_emitted_streams: false,
            engine_version: 1,
            run_as: None,
        })
        .await
        .with_context(|| format!("creating {name}"))?;
    loop {
        let statistics = projections.statistics(Select::Named(name.to_owned())).await?;
        let Some(statistics) = statistics.first() else { bail!("{name} is not listed") };
        if statistics.status.starts_with("Faulted") {
            bail!("{name} faulted: {}", statistics.state_reason);
        }
        if u64::try_from(statistics.events_processed_after_restart).unwrap_or(0) >= events {
            let elapsed = started.elapsed();
            let js = statistics.core_processing_time_ms as f64 / 1000.0 / elapsed.as_secs_f64().max(f64::EPSILON);
            return Ok((elapsed, js));
        }
        if started.elapsed() > PROJECTION_TIMEOUT {
            bail!(
                "{name} handled {} of {events} events in {PROJECTION_TIMEOUT:?}",
                statistics.events_processed_after_restart
            );
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// As [`time_projection`], through a server: created over gRPC and followed
/// through its statistics until it has handled `events`.
async fn time_on_server(
    client: &mut ProjectionsClient<eventfold_client::Transport>,
    name: &str,
    query: &str,
    events: u64,
) -> anyhow::Result<(Duration, f64)> {
    let started = Instant::now();
    let mode = create_req::options::Mode::Continuous(create_req::options::Continuous {
        name: name.to_owned(),
        emit_enabled: false,
        track_emitted_streams: false,
    });
    let options = create_req::Options { mode: Some(mode), query: query.to_owned(), ..Default::default() };
    client.create(CreateReq { options: Some(options) }).await.with_context(|| format!("creating {name}"))?;
    loop {
        let request = StatisticsReq {
            options: Some(statistics_req::Options { mode: Some(statistics_req::options::Mode::Name(name.to_owned())) }),
        };
        let mut answers =
            client.statistics(request).await.with_context(|| format!("statistics of {name}"))?.into_inner();
        let Some(details) = answers.message().await?.and_then(|answer| answer.details) else {
            bail!("{name} is not listed")
        };
        if details.status.starts_with("Faulted") {
            bail!("{name} faulted: {}", details.state_reason);
        }
        if u64::try_from(details.events_processed_after_restart).unwrap_or(0) >= events {
            let elapsed = started.elapsed();
            let js = details.core_processing_time as f64 / 1000.0 / elapsed.as_secs_f64().max(f64::EPSILON);
            return Ok((elapsed, js));
        }
        if started.elapsed() > PROJECTION_TIMEOUT {
            bail!(
                "{name} handled {} of {events} events in {PROJECTION_TIMEOUT:?}",
                details.events_processed_after_restart
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
