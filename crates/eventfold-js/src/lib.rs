//! A QuickJS runtime (through `rquickjs`) bounded for code users hand the
//! server: projections' queries and connectors' transforms. Its heap is
//! capped and every call runs under a [`Deadline`] that the runtime's
//! interrupt handler enforces, so code that loops or grows stops with a
//! reason instead of holding a thread or the process's memory.

mod objects;

pub use objects::{Field, ObjectBatch};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rquickjs::{Context, Runtime};

/// A runtime and its one context, with the limits they run under.
pub struct BoundedRuntime {
    // Dropped before the runtime: a context holds on to it.
    context: Context,
    _runtime: Runtime,
    deadline: Arc<Deadline>,
}

impl BoundedRuntime {
    /// A runtime whose heap holds at most `memory_bytes` and whose stack
    /// `stack_bytes`, with a full context (the standard built-ins).
    pub fn new(memory_bytes: usize, stack_bytes: usize) -> rquickjs::Result<Self> {
        let runtime = Runtime::new()?;
        runtime.set_memory_limit(memory_bytes);
        runtime.set_max_stack_size(stack_bytes);
        let deadline = Arc::new(Deadline::new());
        let watched = Arc::clone(&deadline);
        runtime.set_interrupt_handler(Some(Box::new(move || watched.passed())));
        let context = Context::full(&runtime)?;
        Ok(Self { context, _runtime: runtime, deadline })
    }

    pub fn context(&self) -> &Context {
        &self.context
    }

    /// The deadline the interrupt handler reads; shared, so that code
    /// running in the runtime (a host function) can arm it again.
    pub fn deadline(&self) -> &Arc<Deadline> {
        &self.deadline
    }
}

/// The deadline of the call in progress, read by the interrupt handler:
/// once it has passed, the handler interrupts the call, and
/// [`Deadline::expired`] tells that this is why the call failed.
pub struct Deadline {
    origin: Instant,
    /// Nanoseconds after `origin`; `u64::MAX` while no call runs.
    at_nanos: AtomicU64,
    expired: AtomicBool,
}

impl Deadline {
    fn new() -> Self {
        Self { origin: Instant::now(), at_nanos: AtomicU64::new(u64::MAX), expired: AtomicBool::new(false) }
    }

    /// Lets the call go on for `within` from now.
    pub fn arm(&self, within: Duration) {
        let at = self.origin.elapsed().saturating_add(within);
        self.expired.store(false, Ordering::Relaxed);
        self.at_nanos.store(u64::try_from(at.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// No call runs: nothing is interrupted.
    pub fn disarm(&self) {
        self.at_nanos.store(u64::MAX, Ordering::Relaxed);
    }

    /// Whether the last call armed was interrupted for running past it.
    pub fn expired(&self) -> bool {
        self.expired.load(Ordering::Relaxed)
    }

    fn passed(&self) -> bool {
        let at = self.at_nanos.load(Ordering::Relaxed);
        if at == u64::MAX {
            return false;
        }
        let now = u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX);
        if now >= at {
            self.expired.store(true, Ordering::Relaxed);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use rquickjs::{CatchResultExt, Value};

    use super::*;

    #[test]
    fn a_loop_is_interrupted_at_its_deadline_and_says_so() {
        let runtime = BoundedRuntime::new(16 << 20, 512 * 1024).expect("a runtime");
        runtime.deadline().arm(Duration::from_millis(50));
        let started = Instant::now();
        let outcome = runtime.context().with(|ctx| ctx.eval::<Value<'_>, _>("for (;;) {}").catch(&ctx).is_ok());
        runtime.deadline().disarm();
        assert!(!outcome, "the loop ends only by being interrupted");
        assert!(runtime.deadline().expired());
        assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());

        // Armed again, a quick call runs and is not marked expired.
        runtime.deadline().arm(Duration::from_secs(5));
        let value = runtime.context().with(|ctx| ctx.eval::<i32, _>("1 + 1").expect("runs"));
        runtime.deadline().disarm();
        assert_eq!(value, 2);
        assert!(!runtime.deadline().expired());
    }

    #[test]
    fn a_disarmed_deadline_interrupts_nothing_and_the_heap_is_capped() {
        let runtime = BoundedRuntime::new(4 << 20, 512 * 1024).expect("a runtime");
        let sum = runtime
            .context()
            .with(|ctx| ctx.eval::<f64, _>("var s = 0; for (var i = 0; i < 200000; i++) { s += i; } s").expect("runs"));
        assert_eq!(sum, 19_999_900_000.0);
        let grown = runtime.context().with(|ctx| {
            ctx.eval::<Value<'_>, _>("var a = []; for (;;) { a.push(new Array(1000).fill(1)); }").catch(&ctx).is_ok()
        });
        assert!(!grown, "the heap cap stops it");
        assert!(!runtime.deadline().expired());
    }
}
