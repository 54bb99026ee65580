//! A one-line progress indicator on stderr: what is being measured and for
//! how long. Written by hand (a few lines) rather than pulling in a crate; it
//! stays silent when stderr is not a terminal, so logs and tests see only
//! the JSON on stdout.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub struct Progress {
    stop: Arc<AtomicBool>,
    ticker: Option<JoinHandle<()>>,
}

impl Progress {
    /// Shows `label` with a spinner and the seconds elapsed until dropped.
    pub fn start(label: String) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        if !std::io::stderr().is_terminal() {
            return Self { stop, ticker: None };
        }
        let ticker = std::thread::spawn({
            let stop = Arc::clone(&stop);
            move || {
                let started = Instant::now();
                let frames = ['|', '/', '-', '\\'];
                let mut frame = 0;
                while !stop.load(Ordering::Relaxed) {
                    let spinner = frames.get(frame % frames.len()).copied().unwrap_or('|');
                    eprint!("\r\x1b[2K{spinner} {label} {:.1}s", started.elapsed().as_secs_f64());
                    let _ = std::io::stderr().flush();
                    frame += 1;
                    std::thread::sleep(Duration::from_millis(150));
                }
                eprint!("\r\x1b[2K");
                let _ = std::io::stderr().flush();
            }
        });
        Self { stop, ticker: Some(ticker) }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(ticker) = self.ticker.take() {
            let _ = ticker.join();
        }
    }
}
