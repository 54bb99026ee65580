//! QuickJS (through `rquickjs`) runs queries: one `eventfold-js` runtime
//! per projection, its heap capped, every call under a deadline enforced by
//! the interrupt handler.

use std::sync::Arc;
use std::time::Duration;

use eventfold_js::BoundedRuntime;
use rquickjs::context::EvalOptions;
use rquickjs::{Array, CatchResultExt, CaughtError, Context, Ctx, Function, Object, Value};
use serde::Deserialize;

use super::events::event_objects;
use super::{
    BatchFault, Changes, Effect, HandledBatch, PartitionChange, QueryError, QueryRuntime, RuntimeError, RuntimeLimits,
    SourceEvent,
};
use crate::definition::QueryDefinition;

const PRELUDE: &str = include_str!("../js/prelude.js");
const QUERY_FILE: &str = "query.js";
/// A query's stack: deep enough for recursive handlers, small enough that
/// runaway recursion fails fast.
const STACK_BYTES: usize = 1024 * 1024;
/// How QuickJS's own out-of-memory error reads once described; a query
/// that throws an error of its own saying so is not taken for it, since
/// its error is an `Error`, not an `InternalError`.
const ENGINE_OUT_OF_MEMORY: &str = "InternalError: out of memory";
/// How the prelude names a thrown null.
const THROWN_NULL: &str = "null";

/// Compiles `query`: runs it once to learn its definition and checks that.
/// A syntax error names its line and column.
pub fn compile(query: &str, limits: RuntimeLimits) -> Result<Box<dyn QueryRuntime>, QueryError> {
    let runtime = QuickJs::new(query, limits)?;
    runtime.definition.validate()?;
    Ok(Box::new(runtime))
}

pub(super) struct QuickJs {
    js: BoundedRuntime,
    pub(super) definition: QueryDefinition,
    limits: RuntimeLimits,
}

/// How a batch keeps every event under the per-event deadline without a
/// call into Rust per event (that call costs more than a simple handler):
/// before an event, the prelude renews the deadline when `every` has
/// passed since it last did, and each renewal arms the deadline plus
/// `slack`. An event thus always gets the whole deadline, and at most
/// `slack` more; `slack` covers `every` and the millisecond clock the
/// prelude reads.
#[derive(Clone, Copy, Debug)]
struct Renewal {
    every: Duration,
    slack: Duration,
}

impl Renewal {
    fn of(deadline: Duration) -> Self {
        let every = (deadline / 50).clamp(Duration::from_millis(1), Duration::from_millis(5));
        Self { every, slack: every + Duration::from_millis(1) }
    }
}

impl QuickJs {
    pub(super) fn context(&self) -> &Context {
        self.js.context()
    }

    pub(super) fn new(query: &str, limits: RuntimeLimits) -> Result<Self, QueryError> {
        let internal = |error: rquickjs::Error| QueryError::Definition(error.to_string());
        let js = BoundedRuntime::new(limits.memory_bytes, STACK_BYTES).map_err(internal)?;
        let mut engine = QuickJs { js, definition: QueryDefinition::default(), limits };
        let deadline = engine.js.deadline();
        deadline.arm(limits.event_deadline.max(Duration::from_secs(1)));
        let defined = engine.js.context().with(|ctx| -> Result<String, QueryError> {
            eval(&ctx, PRELUDE, "prelude.js").map_err(|error| QueryError::Definition(error.to_string()))?;
            match eval(&ctx, query, QUERY_FILE) {
                Ok(()) => {}
                Err(Thrown::Syntax { line, column, message }) => {
                    return Err(QueryError::Syntax { line, column, message });
                }
                Err(other) => return Err(QueryError::Definition(other.to_string())),
            }
            let text: String = host(&ctx, "definition")
                .and_then(|function| function.call(()))
                .map_err(|error| QueryError::Definition(error.to_string()))?;
            Ok(text)
        });
        deadline.disarm();
        if deadline.expired() {
            return Err(QueryError::Definition("the query ran too long while defining the projection".into()));
        }
        engine.definition =
            serde_json::from_str(&defined?).map_err(|error| QueryError::Definition(error.to_string()))?;
        Ok(engine)
    }

    /// Runs `call` under the per-event deadline and turns what QuickJS
    /// threw into the reason the projection faults with.
    fn guarded<T>(&self, call: impl for<'js> FnOnce(&Ctx<'js>) -> rquickjs::Result<T>) -> Result<T, RuntimeError> {
        let deadline = self.js.deadline();
        deadline.arm(self.limits.event_deadline);
        let outcome = self.js.context().with(|ctx| match call(&ctx).catch(&ctx) {
            Ok(value) => Ok(value),
            // The prelude rethrows whatever a query throws that is not an
            // Error as a string: a bare null comes from QuickJS alone, when
            // it cannot even allocate the error saying it is out of memory.
            Err(CaughtError::Value(value)) if value.is_null() => Err(None),
            Err(CaughtError::Error(rquickjs::Error::Allocation)) => Err(None),
            Err(caught) => Err(Some(describe(caught))),
        });
        deadline.disarm();
        outcome.map_err(|message| {
            if deadline.expired() {
                return RuntimeError::DeadlineExceeded(self.limits.event_deadline);
            }
            match message {
                // QuickJS throws a bare null when it cannot allocate even
                // its out-of-memory error, and the prelude names a null it
                // catches as a query's `throw null`: the two read alike.
                Some(message) if message == THROWN_NULL => RuntimeError::Threw(format!(
                    "null (thrown by the query, or by the engine out of its {} bytes of memory)",
                    self.limits.memory_bytes
                )),
                Some(message) if message != ENGINE_OUT_OF_MEMORY => RuntimeError::Threw(message),
                _ => RuntimeError::OutOfMemory(self.limits.memory_bytes),
            }
        })
    }
}

impl QueryRuntime for QuickJs {
    fn definition(&self) -> &QueryDefinition {
        &self.definition
    }

    fn set_emit_enabled(&mut self, enabled: bool) -> Result<(), RuntimeError> {
        self.guarded(|ctx| host(ctx, "setEmitEnabled")?.call((enabled,)))
    }

    fn load_state(&mut self, partition: &str, state: &str) -> Result<(), RuntimeError> {
        self.guarded(|ctx| host(ctx, "loadState")?.call((partition, state)))
    }

    fn load_shared(&mut self, state: &str) -> Result<(), RuntimeError> {
        self.guarded(|ctx| host(ctx, "loadShared")?.call((state,)))
    }

    fn handle_batch(&mut self, events: &[SourceEvent<'_>]) -> Result<HandledBatch, BatchFault> {
        let clock = Arc::clone(self.js.deadline());
        let renewal = Renewal::of(self.limits.event_deadline);
        let armed_for = self.limits.event_deadline + renewal.slack;
        let outcome = self.guarded(|ctx| {
            let api: Object<'_> = ctx.globals().get("__eventfold")?;
            let prototype: Object<'_> = api.get("eventPrototype")?;
            let events = event_objects(ctx, &prototype, events)?;
            let renew = Function::new(ctx.clone(), move || clock.arm(armed_for))?;
            let every = renewal.every.as_millis() as f64;
            let answer: Array<'_> = api.get::<_, Function<'_>>("handleBatch")?.call((events, renew, every))?;
            Ok(HandledBatch { handled: answer.get(0)?, partitions: answer.get(1)? })
        });
        outcome.map_err(|error| {
            // The prelude counts the events it started; a failed read of the
            // count blames the first.
            let index = self.guarded(|ctx| host(ctx, "eventInProgress")?.call::<_, usize>(())).unwrap_or(0);
            BatchFault { index, error }
        })
    }

    fn handle_deleted(&mut self, partition: &str, soft: bool) -> Result<(), RuntimeError> {
        self.guarded(|ctx| host(ctx, "handleDeleted")?.call((partition, soft)))
    }

    fn take_changes(&mut self) -> Result<Changes, RuntimeError> {
        let text: String = self.guarded(|ctx| host(ctx, "takeChanges")?.call(()))?;
        let raw: RawChanges = serde_json::from_str(&text).map_err(|error| RuntimeError::Internal(error.to_string()))?;
        let max = self.limits.max_state_bytes;
        let mut partitions = Vec::with_capacity(raw.changed.len());
        for (partition, state, result) in raw.changed {
            let bytes = state.as_ref().map_or(0, String::len);
            if bytes > max {
                return Err(RuntimeError::StateTooLarge { partition, bytes, max });
            }
            partitions.push(PartitionChange { partition, state, result });
        }
        if let Some(shared) = &raw.shared
            && shared.len() > max
        {
            return Err(RuntimeError::StateTooLarge { partition: "$shared".into(), bytes: shared.len(), max });
        }
        let effects = raw.effects.into_iter().map(RawEffect::into_effect).collect();
        Ok(Changes { partitions, shared: raw.shared, effects })
    }

    fn state(&mut self, partition: &str) -> Result<Option<String>, RuntimeError> {
        self.guarded(|ctx| host(ctx, "stateOf")?.call((partition,)))
    }

    fn result(&mut self, partition: &str) -> Result<Option<String>, RuntimeError> {
        self.guarded(|ctx| host(ctx, "resultOf")?.call((partition,)))
    }
}

#[derive(Deserialize)]
struct RawChanges {
    changed: Vec<(String, Option<String>, Option<String>)>,
    effects: Vec<RawEffect>,
    shared: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
enum RawEffect {
    #[serde(rename_all = "camelCase")]
    Emit {
        stream: String,
        event_type: String,
        data: String,
        metadata: Option<String>,
        caused_by: Option<String>,
    },
    #[serde(rename_all = "camelCase")]
    Link {
        stream: String,
        target: String,
        metadata: Option<String>,
        caused_by: Option<String>,
    },
    #[serde(rename_all = "camelCase")]
    LinkStream {
        stream: String,
        target: String,
        metadata: Option<String>,
        caused_by: Option<String>,
    },
    Log {
        message: Option<String>,
    },
}

impl RawEffect {
    fn into_effect(self) -> Effect {
        match self {
            RawEffect::Emit { stream, event_type, data, metadata, caused_by } => {
                Effect::Emit { stream, event_type, data, metadata, caused_by }
            }
            RawEffect::Link { stream, target, metadata, caused_by } => {
                Effect::Link { stream, target, metadata, caused_by }
            }
            RawEffect::LinkStream { stream, target, metadata, caused_by } => {
                Effect::LinkStream { stream, target, metadata, caused_by }
            }
            RawEffect::Log { message } => Effect::Log(message.unwrap_or_default()),
        }
    }
}

/// One of the host functions the prelude exposes.
fn host<'js>(ctx: &Ctx<'js>, name: &str) -> rquickjs::Result<Function<'js>> {
    let api: Object<'js> = ctx.globals().get("__eventfold")?;
    api.get(name)
}

enum Thrown {
    Syntax { line: u32, column: u32, message: String },
    Other(String),
}

impl std::fmt::Display for Thrown {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Thrown::Syntax { line, column, message } => write!(formatter, "{message} at {line}:{column}"),
            Thrown::Other(message) => formatter.write_str(message),
        }
    }
}

fn eval(ctx: &Ctx<'_>, source: &str, file: &str) -> Result<(), Thrown> {
    let mut options = EvalOptions::default();
    options.global = true;
    options.strict = false;
    options.filename = Some(file.to_owned());
    match ctx.eval_with_options::<Value<'_>, _>(source, options).catch(ctx) {
        Ok(_) => Ok(()),
        Err(CaughtError::Exception(exception)) => {
            let message = exception.message().unwrap_or_default();
            let is_syntax = exception
                .get::<_, Value<'_>>("name")
                .ok()
                .and_then(|name| name.as_string().and_then(|name| name.to_string().ok()))
                .is_some_and(|name| name == "SyntaxError");
            if is_syntax {
                let (line, column) = location(&exception, file).unwrap_or((0, 0));
                Err(Thrown::Syntax { line, column, message })
            } else {
                Err(Thrown::Other(describe(CaughtError::Exception(exception))))
            }
        }
        Err(other) => Err(Thrown::Other(describe(other))),
    }
}

/// Where QuickJS says an error is: its `lineNumber`/`columnNumber`, or the
/// `file:line:column` its stack names.
fn location(exception: &rquickjs::Exception<'_>, file: &str) -> Option<(u32, u32)> {
    let line = exception.get::<_, Option<u32>>("lineNumber").ok().flatten();
    let column = exception.get::<_, Option<u32>>("columnNumber").ok().flatten();
    if let (Some(line), Some(column)) = (line, column) {
        return Some((line, column));
    }
    let stack = exception.stack()?;
    let marker = format!("{file}:");
    let start = stack.find(&marker)? + marker.len();
    let mut parts = stack[start..].split(|c: char| !c.is_ascii_digit());
    let line = parts.next()?.parse().ok()?;
    let column = parts.next().and_then(|text| text.parse().ok()).unwrap_or(0);
    Some((line, column))
}

fn describe(caught: CaughtError<'_>) -> String {
    match caught {
        CaughtError::Exception(exception) => {
            let message = exception.message().unwrap_or_default();
            let name = exception
                .get::<_, Value<'_>>("name")
                .ok()
                .and_then(|name| name.as_string().and_then(|name| name.to_string().ok()))
                .unwrap_or_else(|| "Error".into());
            format!("{name}: {message}")
        }
        // A string thrown is the message; anything else is named by what
        // it is (while a query defines itself, the prelude does not yet
        // stand between its throws and the host).
        CaughtError::Value(value) => match value.as_string().and_then(|text| text.to_string().ok()) {
            Some(text) => text,
            None if value.is_null() => "null".into(),
            None if value.is_undefined() => "undefined".into(),
            None => format!("a {} was thrown", value.type_name()),
        },
        CaughtError::Error(error) => error.to_string(),
    }
}
