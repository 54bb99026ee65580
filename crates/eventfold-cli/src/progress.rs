//! Progress of long commands on stderr: one line a second, and a summary
//! with the rates at the end. A closed stderr stops nothing.

use std::io::Write;
use std::time::{Duration, Instant};

const EVERY: Duration = Duration::from_secs(1);

pub struct Rate {
    what: &'static str,
    pub events: u64,
    pub bytes: u64,
    pub skipped: u64,
    last_shown: Instant,
}

impl Rate {
    pub fn new(what: &'static str) -> Self {
        Self { what, events: 0, bytes: 0, skipped: 0, last_shown: Instant::now() }
    }

    pub fn add(&mut self, events: u64, bytes: u64) {
        self.events += events;
        self.bytes += bytes;
        if self.last_shown.elapsed() >= EVERY {
            self.last_shown = Instant::now();
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "{}: {} events, {}", self.what, self.events, megabytes(self.bytes));
        }
    }

    /// The summary: counts and rates since `started`.
    pub fn finish(&self, started: Instant) {
        let seconds = started.elapsed().as_secs_f64().max(1e-6);
        let skipped = if self.skipped > 0 { format!(" ({} skipped)", self.skipped) } else { String::new() };
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(
            stderr,
            "{}: done, {} events{skipped}, {} in {seconds:.2} s: {:.0} events/s, {:.1} MB/s",
            self.what,
            self.events,
            megabytes(self.bytes),
            self.events as f64 / seconds,
            self.bytes as f64 / seconds / 1e6
        );
    }
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}
