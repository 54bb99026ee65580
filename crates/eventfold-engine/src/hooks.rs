//! Pause points in the writer, so that a test can stop it at an exact step
//! and do something there (register a subscriber, say) before it goes on:
//! interleavings forced, not waited for.

use std::sync::Mutex;

type Hook = Box<dyn FnMut() + Send>;

#[derive(Default)]
pub(crate) struct Hooks {
    before_publish: Mutex<Option<Hook>>,
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
}
