//! What the engine alone manages on this machine, so that a projection's
//! rate reads as a share of it: the query's handler called in a plain
//! JavaScript loop over event objects made beforehand (no store, no host
//! call, no dispatch), and the whole batch path (events made by the host,
//! the prelude's dispatch, the changes taken after each batch) over events
//! held in memory, with no store read.

use std::time::{Duration, Instant};

use rquickjs::{CatchResultExt, Function};

use super::quickjs::QuickJs;
use super::{QueryError, RuntimeError, RuntimeLimits, SourceEvent, compile};

/// Event objects the plain loop cycles through: enough that they do not
/// all sit in the fastest cache, few enough to make in an instant.
const SAMPLE_EVENTS: usize = 512;

/// Makes `SAMPLE_EVENTS` objects with the fields of the prelude's events
/// (all own, the body already parsed), and answers the loop that calls the
/// handler of `eventType` over them `count` times on one state, as a
/// projection's handler is called.
const PLAIN_LOOP: &str = r#"(function (eventType, body, sampleEvents) {
  var handler = __eventfold.handlerFor(eventType);
  var events = [];
  for (var i = 0; i < sampleEvents; i++) {
    events.push({
      partition: "",
      bodyRaw: body,
      metadataRaw: "",
      streamId: "stream-" + (i % 8),
      eventId: "00000000-0000-0000-0000-" + String(100000000000 + i),
      eventType: eventType,
      linkMetadataRaw: null,
      isJson: true,
      category: "stream",
      sequenceNumber: i,
      created: "2026-01-01T00:00:00.0000000Z",
      data: JSON.parse(body),
      body: null,
      metadata: null,
      linkMetadata: null,
    });
  }
  return function (count) {
    var state = __eventfold.initialState();
    var mask = sampleEvents - 1;
    for (var i = 0; i < count; i++) {
      var next = handler(state, events[i & mask]);
      if (next !== undefined) {
        state = next;
      }
    }
    return JSON.stringify(state);
  };
})"#;

/// Calls the handler `query` has for `event_type` (or its `$any`) `events`
/// times in a plain loop, in the engine and with the limits a projection
/// runs with, minus the deadline; answers the time the loop took.
pub fn plain_loop(query: &str, event_type: &str, body: &str, events: usize) -> Result<Duration, QueryError> {
    let engine = QuickJs::new(query, RuntimeLimits::default())?;
    engine.definition.validate()?;
    let failed = |error: rquickjs::CaughtError<'_>| QueryError::Definition(error.to_string());
    engine.context().with(|ctx| {
        let make: Function<'_> = ctx.eval(PLAIN_LOOP).catch(&ctx).map_err(failed)?;
        let run: Function<'_> = make.call((event_type, body, SAMPLE_EVENTS)).catch(&ctx).map_err(failed)?;
        let started = Instant::now();
        let _state: String = run.call((events,)).catch(&ctx).map_err(failed)?;
        Ok(started.elapsed())
    })
}

/// What [`dispatch`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dispatched {
    /// Events given to the engine.
    pub events: usize,
    /// Of those, the ones that reached the handlers.
    pub handled: usize,
    pub elapsed: Duration,
}

/// Runs `sample` through `query` again and again, a batch at a time, until
/// `events` were given to it, as the processor does but from memory.
pub fn dispatch(query: &str, sample: &[SourceEvent<'_>], events: usize) -> Result<Dispatched, DispatchError> {
    let mut runtime = compile(query, RuntimeLimits::default())?;
    let started = Instant::now();
    let mut given = 0;
    let mut handled = 0;
    while given < events && !sample.is_empty() {
        let batch = &sample[..sample.len().min(events - given)];
        handled += runtime.handle_batch(batch).map_err(|fault| fault.error)?.handled;
        runtime.take_changes()?;
        given += batch.len();
    }
    Ok(Dispatched { events: given, handled, elapsed: started.elapsed() })
}

/// Why [`dispatch`] could not measure.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

#[cfg(test)]
mod tests {
    use super::*;

    const COUNTING: &str = "fromAll().when({ $init: function () { return { count: 0 }; }, \
        $any: function (s, e) { s.count += e.data.n; } })";

    #[test]
    fn the_plain_loop_runs_the_queries_handler() {
        let elapsed = plain_loop(COUNTING, "T", r#"{"n":1}"#, 1000).expect("runs");
        assert!(elapsed > Duration::ZERO);
        let error = plain_loop("fromAll().when({ $any: function (s, e) { throw new Error('no'); } })", "T", "{}", 1)
            .expect_err("the handler throws");
        assert!(error.to_string().contains("no"), "{error}");
    }

    #[test]
    fn dispatch_handles_every_event_asked_for() {
        let sample: Vec<_> = (0..3)
            .map(|revision| SourceEvent {
                stream: "a-1".into(),
                revision,
                event_type: "T".into(),
                event_id: format!("id-{revision}").into(),
                data: r#"{"n":1}"#.into(),
                metadata: "".into(),
                link_metadata: None,
                is_json: true,
                created: "2026-01-01T00:00:00Z".into(),
            })
            .collect();
        let dispatched = dispatch(COUNTING, &sample, 7).expect("runs");
        assert_eq!((dispatched.events, dispatched.handled), (7, 7));
        let error = dispatch("fromAll().when({ $any: function (s, e) { throw null; } })", &sample, 1)
            .expect_err("the handler throws");
        assert!(error.to_string().starts_with("null"), "{error}");
    }
}
