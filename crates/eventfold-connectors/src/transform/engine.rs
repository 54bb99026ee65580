//! The transform's JavaScript engine: one `eventfold-js` runtime per
//! connector, its heap capped and every call under a deadline that the
//! interrupt handler enforces, as projections' queries run.

use std::time::Duration;

use eventfold_js::BoundedRuntime;
use rquickjs::context::EvalOptions;
use rquickjs::{CatchResultExt, CaughtError, Ctx, Function, Value};

use super::TransformLimits;

/// The global the prepared transform is kept under.
const ENTRY: &str = "__eventfold_transform";
/// A transform's stack: it handles one event, with no need to recurse deep.
const STACK_BYTES: usize = 512 * 1024;
/// How long compiling may run (the code's top level runs once).
const COMPILE_DEADLINE: Duration = Duration::from_secs(1);

/// Wraps the user's function: builds the event object it sees, and
/// answers `null` (drop) or `[stream, eventType, data as JSON]`.
const WRAPPER: &str = r#"(function (transform) {
  return function (stream, eventType, data, isJson, metadata, eventId, numbers) {
    let meta = null;
    if (metadata.length > 0) {
      try { meta = JSON.parse(metadata); } catch (_) { meta = metadata; }
    }
    const event = { stream, eventType, data: isJson ? JSON.parse(data) : data, metadata: meta,
                    eventId, revision: numbers[0], position: numbers[1], isJson };
    const result = transform(event);
    if (result === null || result === undefined) return null;
    const text = JSON.stringify(result);
    if (text === undefined) throw new TypeError("the transform returned a value JSON cannot hold");
    return [String(event.stream), String(event.eventType), text];
  };
})"#;

/// One event as the transform is given it.
pub(super) struct Input<'a> {
    pub stream: &'a str,
    pub event_type: &'a str,
    pub data: &'a str,
    pub is_json: bool,
    pub metadata: &'a str,
    pub event_id: &'a str,
    pub revision: u64,
    pub position: u64,
}

pub(super) struct Engine {
    js: BoundedRuntime,
    limits: TransformLimits,
}

impl Engine {
    /// Compiles `code`: a function (`function (e) {...}`, `e => ...`) or a
    /// function body that sees the event as `e`.
    pub fn compile(code: &str, limits: TransformLimits) -> Result<Self, String> {
        let js = BoundedRuntime::new(limits.memory_bytes, STACK_BYTES).map_err(|error| error.to_string())?;
        let deadline = js.deadline();
        deadline.arm(COMPILE_DEADLINE);
        let prepared = js.context().with(|ctx| prepare(&ctx, code));
        deadline.disarm();
        if deadline.expired() {
            return Err("the transform ran too long while it was compiled".into());
        }
        prepared?;
        Ok(Self { js, limits })
    }

    /// Runs the transform for one event: `None` drops it, else the stream,
    /// the event type and the data as JSON.
    pub fn call(&mut self, input: &Input<'_>) -> Result<Option<(String, String, String)>, String> {
        let deadline = self.js.deadline();
        deadline.arm(self.limits.deadline);
        let outcome = self.js.context().with(|ctx| {
            let entry: Function<'_> = ctx.globals().get(ENTRY).catch(&ctx).map_err(describe)?;
            let arguments = (
                input.stream,
                input.event_type,
                input.data,
                input.is_json,
                input.metadata,
                input.event_id,
                vec![input.revision as f64, input.position as f64],
            );
            entry.call::<_, Option<Vec<String>>>(arguments).catch(&ctx).map_err(describe)
        });
        deadline.disarm();
        let answer = outcome.map_err(|message| {
            if deadline.expired() {
                format!(
                    "the transform ran longer than the {} ms allowed for one event",
                    self.limits.deadline.as_millis()
                )
            } else if message.contains("out of memory") || message.contains("Allocation") {
                format!("the transform ran out of its {} bytes of memory", self.limits.memory_bytes)
            } else {
                format!("the transform threw: {message}")
            }
        })?;
        match answer {
            None => Ok(None),
            Some(parts) => match <[String; 3]>::try_from(parts) {
                Ok([stream, event_type, data]) => Ok(Some((stream, event_type, data))),
                Err(_) => Err("the transform's wrapper answered unexpectedly".into()),
            },
        }
    }
}

/// Compiles the user's code and keeps the wrapped function in [`ENTRY`].
fn prepare(ctx: &Ctx<'_>, code: &str) -> Result<(), String> {
    // A function as written; failing that, the code as a function's body
    // (whose syntax error is the one told, one line earlier).
    let function = match evaluate(ctx, &format!("({code}\n)"), 0) {
        Ok(value) if value.is_function() => value,
        Err(error) if code.trim_start().starts_with("function") => return Err(error),
        _ => evaluate(ctx, &format!("(function (e) {{\n{code}\n}})"), 1)?,
    };
    let wrapper: Function<'_> = evaluate(ctx, WRAPPER, 0)?
        .into_function()
        .ok_or_else(|| "the transform's wrapper is not a function".to_owned())?;
    let entry: Value<'_> = wrapper.call((function,)).catch(ctx).map_err(describe)?;
    ctx.globals().set(ENTRY, entry).catch(ctx).map_err(describe)
}

/// Evaluates `source`; a syntax error names its line, less `lines_added`.
fn evaluate<'js>(ctx: &Ctx<'js>, source: &str, lines_added: u32) -> Result<Value<'js>, String> {
    let mut options = EvalOptions::default();
    options.global = true;
    options.strict = false;
    options.filename = Some("transform.js".to_owned());
    ctx.eval_with_options::<Value<'_>, _>(source, options).catch(ctx).map_err(|caught| {
        if let CaughtError::Exception(exception) = &caught {
            let line = exception.get::<_, Option<u32>>("lineNumber").ok().flatten().or_else(|| stack_line(exception));
            let is_syntax =
                exception.get::<_, Option<String>>("name").ok().flatten().is_some_and(|name| name == "SyntaxError");
            if let (true, Some(line)) = (is_syntax, line) {
                let message = exception.message().unwrap_or_default();
                return format!("syntax error at line {}: {message}", line.saturating_sub(lines_added).max(1));
            }
        }
        describe(caught)
    })
}

/// The line the stack names in `transform.js:<line>:<column>`.
fn stack_line(exception: &rquickjs::Exception<'_>) -> Option<u32> {
    let stack = exception.stack()?;
    let (_, after) = stack.split_once("transform.js:")?;
    after.split(|next: char| !next.is_ascii_digit()).next()?.parse().ok()
}

fn describe(caught: CaughtError<'_>) -> String {
    match caught {
        CaughtError::Exception(exception) => {
            let message = exception.message().unwrap_or_default();
            let name = exception.get::<_, Option<String>>("name").ok().flatten().unwrap_or_else(|| "Error".into());
            format!("{name}: {message}")
        }
        // QuickJS throws null when it cannot even allocate the error that
        // says it is out of memory.
        CaughtError::Value(value) if value.is_null() => "out of memory".into(),
        CaughtError::Value(value) => value
            .as_string()
            .and_then(|text| text.to_string().ok())
            .unwrap_or_else(|| format!("a {} was thrown", value.type_name())),
        CaughtError::Error(error) => error.to_string(),
    }
}
