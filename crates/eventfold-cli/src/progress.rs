//! Progress of long commands on stderr: one line a second, and a summary
//! with the rates at the end. A closed stderr stops nothing.

use std::io::{IsTerminal, Write};
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

/// Progress on stderr: a bar redrawn in place on a terminal, otherwise a
/// plain line every tenth of the way.
pub struct ProgressBar {
    what: &'static str,
    terminal: bool,
    drawn: bool,
    last_tenth: Option<(&'static str, u64)>,
}

const BAR_WIDTH: u64 = 30;

impl ProgressBar {
    pub fn new(what: &'static str) -> Self {
        Self { what, terminal: std::io::stderr().is_terminal(), drawn: false, last_tenth: None }
    }

    /// `done` of `total` in `stage`, described as `amount`.
    pub fn show_amount(&mut self, stage: &'static str, done: u64, total: u64, amount: &str) {
        let fraction = |scale: u64| done.saturating_mul(scale).checked_div(total).unwrap_or(scale);
        let mut stderr = std::io::stderr().lock();
        // Progress is a courtesy: a closed stderr must not stop the work.
        if self.terminal {
            let filled = fraction(BAR_WIDTH).min(BAR_WIDTH);
            let bar = format!(
                "{}{}",
                "#".repeat(usize::try_from(filled).unwrap_or(0)),
                "-".repeat(usize::try_from(BAR_WIDTH - filled).unwrap_or(0))
            );
            let _ = write!(stderr, "\r\x1b[2K{} {stage} [{bar}] {amount}", self.what);
            self.drawn = true;
        } else {
            let tenth = (stage, fraction(10));
            if self.last_tenth != Some(tenth) {
                let _ = writeln!(stderr, "{} {stage}: {amount}", self.what);
                self.last_tenth = Some(tenth);
            }
        }
        let _ = stderr.flush();
    }

    /// For a check the server runs: only the time it has taken so far.
    pub fn waiting(&mut self, elapsed: Duration) {
        let mut stderr = std::io::stderr().lock();
        if self.terminal {
            let _ = write!(stderr, "\r\x1b[2K{} on the server: {} s", self.what, elapsed.as_secs());
            self.drawn = true;
        } else if elapsed.as_secs().is_multiple_of(10) {
            let _ = writeln!(stderr, "{} on the server: {} s", self.what, elapsed.as_secs());
        }
        let _ = stderr.flush();
    }

    /// Ends the redrawn line, so that what follows starts on its own.
    pub fn end(&mut self) {
        if self.drawn {
            let _ = writeln!(std::io::stderr());
            self.drawn = false;
        }
    }
}
