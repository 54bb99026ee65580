//! Projections: a counting query and a `partitionBy` query over the same
//! events as a plain `$all` read, timed in one run, so that their rates read
//! as shares of the read rate. In-process on the `engine` target; on a
//! server target, created and followed through the server's Projections
//! gRPC service, as a client would. Beside them, in the same run, what the
//! JavaScript engine alone manages (`js_alone`): each query's handler in a
//! plain loop over event objects made beforehand, and the whole batch path
//! (events made by the host, the prelude's dispatch) over events held in
//! memory, with no store read; a projection's rate then also reads as a
//! share of those ceilings.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use eventfold_projections::runtime::{SourceEvent, ceiling};
use eventfold_projections::{CreateProjection, Mode, Projections, ProjectionsOptions, Select};
use eventfold_store::EventStore;
use serde_json::{Value, json};

use eventfold_proto::event_store::client::projections::projections_client::ProjectionsClient;
use eventfold_proto::event_store::client::projections::{CreateReq, StatisticsReq, create_req, statistics_req};

use crate::append::fill;
use crate::stats::{event_body, rate};
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

    let alone = tokio::task::spawn_blocking(move || js_alone(events)).await??;

    let share = |elapsed: Duration| read_elapsed.as_secs_f64() / elapsed.as_secs_f64().max(f64::EPSILON);
    let of = |ceiling: f64, elapsed: Duration| rate(events, elapsed) / ceiling.max(f64::EPSILON);
    let projection = |(elapsed, js): (Duration, f64), alone: &Alone| {
        json!({
            "seconds": elapsed.as_secs_f64(),
            "events_per_second": rate(events, elapsed),
            "share_of_read_rate": share(elapsed),
            "share_of_js_plain_loop": of(alone.plain_loop, elapsed),
            "share_of_js_dispatch": of(alone.dispatch, elapsed),
            "js_share_of_time": js,
        })
    };
    Ok(json!({
        "events": events,
        "read_all": { "seconds": read_elapsed.as_secs_f64(), "events_per_second": rate(read, read_elapsed) },
        "counting": projection(counting, &alone.counting),
        "partitioned": projection(partitioned, &alone.partitioned),
        "js_alone": {
            "counting": alone.counting.report(),
            "partitioned": alone.partitioned.report(),
        },
    }))
}

/// The event type and the events held in memory that the engine-alone
/// figures run over: shaped as `fill` writes them (eight streams, a hundred
/// events an append, the same bodies).
const EVENT_TYPE: &str = "OrderPlaced";
const SAMPLE_EVENTS: u64 = 512;

/// What the JavaScript engine alone manages for one query, in events/s.
struct Alone {
    /// The handler in a plain loop over event objects made beforehand.
    plain_loop: f64,
    /// Events made by the host and dispatched by the prelude, in batches,
    /// with no store read.
    dispatch: f64,
}

impl Alone {
    fn report(&self) -> Value {
        json!({
            "plain_loop_events_per_second": self.plain_loop,
            "dispatch_events_per_second": self.dispatch,
            "dispatch_share_of_plain_loop": self.dispatch / self.plain_loop.max(f64::EPSILON),
        })
    }
}

struct JsAlone {
    counting: Alone,
    partitioned: Alone,
}

fn js_alone(events: u64) -> anyhow::Result<JsAlone> {
    let bodies: Vec<String> =
        (0..SAMPLE_EVENTS).map(|sequence| String::from_utf8_lossy(&event_body(sequence)).into_owned()).collect();
    let sample: Vec<SourceEvent<'_>> = bodies
        .iter()
        .zip(0..)
        .map(|(body, sequence)| {
            let append = sequence / 100;
            SourceEvent {
                stream: format!("fill-{}", append % 8).into(),
                revision: sequence % 100 + append / 8 * 100,
                event_type: EVENT_TYPE.into(),
                event_id: uuid::Uuid::from_u128(u128::from(sequence)).hyphenated().to_string().into(),
                data: body.as_str().into(),
                metadata: "".into(),
                link_metadata: None,
                is_json: true,
                created: format!("2026-01-01T00:00:{:02}.0000000Z", append % 60).into(),
            }
        })
        .collect();
    let count = usize::try_from(events)?;
    let measure = |query: &str| -> anyhow::Result<Alone> {
        let plain = ceiling::plain_loop(query, EVENT_TYPE, &bodies[0], count)?;
        let dispatched = ceiling::dispatch(query, &sample, count)?;
        Ok(Alone { plain_loop: rate(events, plain), dispatch: rate(events, dispatched.elapsed) })
    };
    Ok(JsAlone { counting: measure(COUNTING)?, partitioned: measure(PARTITIONED)? })
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
