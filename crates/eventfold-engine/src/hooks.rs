//! Pause points in the writer, so that a test can stop it at an exact step
//! and do something there (register a subscriber, say) before it goes on:
//! interleavings forced, not waited for. And the writer's clock, so that a
//! test can step it back.

use std::sync::Mutex;

use eventfold_store::Timestamp;

type Hook = Box<dyn FnMut() + Send>;
type Clock = Box<dyn FnMut() -> Timestamp + Send>;

#[derive(Default)]
pub(crate) struct Hooks {
    before_publish: Mutex<Option<Hook>>,
    clock: Mutex<Option<Clock>>,
}

impl Hooks {
    /// Runs `hook` on the writer's thread each time a batch is durable and
    /// indexed, just before its end is published.
    pub fn set_before_publish(&self, hook: impl FnMut() + Send + 'static) {
        *self.before_publish.lock().unwrap_or_else(|poison| poison.into_inner()) = Some(Box::new(hook));
    }

    pub fn before_publish(&self) {
        if let Some(hook) = self.before_publish.lock().unwrap_or_else(|poison| poison.into_inner()).as_mut() {
            hook();
        }
    }

    /// Replaces the system clock the writer stamps batches with.
    pub fn set_clock(&self, clock: impl FnMut() -> Timestamp + Send + 'static) {
        *self.clock.lock().unwrap_or_else(|poison| poison.into_inner()) = Some(Box::new(clock));
    }

    /// What the writer's clock says now.
    pub fn now(&self) -> Timestamp {
        match self.clock.lock().unwrap_or_else(|poison| poison.into_inner()).as_mut() {
            Some(clock) => clock(),
            None => Timestamp::now(),
        }
    }
}
