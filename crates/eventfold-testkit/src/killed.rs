//! Running a child process until a SIGKILL, and collecting the whole lines
//! it printed before it: what both crash tests do with their child.

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// The signal `Child::kill` sends on Unix; a child that ended any other way
/// stopped by itself, which is a failure of its own.
const SIGKILL: i32 = 9;

/// How long a child may take to print the line that says it is working.
/// Starting a crash child includes opening the engine, which replays the log
/// written since the last durable index checkpoint; a child not ready after
/// this is broken, not slow.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A dead process's pipe reaches end-of-file at once; waiting longer means
/// something else holds its write end.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// What a killed child printed.
pub struct KilledOutput {
    /// Every whole line, in order.
    pub lines: Vec<String>,
    /// The kill landed in the middle of the last line's `write`; that part
    /// line is not in `lines`.
    pub cut_short: bool,
}

/// Kills the child if a check panics while it runs, so that no child
/// outlives a failed test.
struct KilledOnDrop(Child);

impl Drop for KilledOnDrop {
    fn drop(&mut self) {
        // The child is normally dead and reaped by now; then both fail and
        // there is nothing left to do.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `command` with its stdout piped (its stderr goes to the test's),
/// waits until it prints a line for which `ready` is true, lets it run for
/// `run_for`, kills it with SIGKILL and returns what it printed. Panics,
/// naming `what`, when the child prints nothing ready in time, stops by
/// itself, or its stdout stays open after its death.
pub fn run_until_killed(
    mut command: Command,
    what: &str,
    ready: impl Fn(&str) -> bool,
    run_for: Duration,
) -> KilledOutput {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|error| panic!("{what}: spawn: {error}"));
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut child = KilledOnDrop(child);
    let (sender, lines) = mpsc::channel();
    // Reading concurrently keeps the pipe from filling up and stalling the
    // child while it is supposed to be working.
    let reader = thread::spawn(move || forward_lines(stdout, &sender));

    let mut received = Vec::new();
    let ready_deadline = Instant::now() + READY_TIMEOUT;
    while !received.iter().any(|line: &String| ready(line)) {
        match lines.recv_timeout(ready_deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => received.push(line),
            Err(RecvTimeoutError::Timeout) => panic!("{what}: not ready within {READY_TIMEOUT:?}"),
            Err(RecvTimeoutError::Disconnected) => {
                panic!("{what}: stdout closed before it was ready (exit: {:?}); its stderr is above", child.0.wait())
            }
        }
    }
    thread::sleep(run_for);
    child.0.kill().unwrap_or_else(|error| panic!("{what}: SIGKILL: {error}"));
    let status = child.0.wait().unwrap_or_else(|error| panic!("{what}: reap: {error}"));
    assert_eq!(
        status.signal(),
        Some(SIGKILL),
        "{what}: must die by SIGKILL, not stop by itself ({status}); its stderr is above"
    );

    let drain_deadline = Instant::now() + DRAIN_TIMEOUT;
    loop {
        match lines.recv_timeout(drain_deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => received.push(line),
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => panic!("{what}: stdout of the dead process did not reach end-of-file"),
        }
    }
    let cut_short = match reader.join() {
        Ok(cut_short) => cut_short,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    KilledOutput { lines: received, cut_short }
}

/// Sends every complete line; returns whether the output ended in the middle
/// of a line, which only the kill can cause and which is then discarded.
fn forward_lines(stdout: ChildStdout, lines: &mpsc::Sender<String>) -> bool {
    let mut stdout = BufReader::new(stdout);
    loop {
        let mut line = Vec::new();
        let read = stdout.read_until(b'\n', &mut line).expect("read the child's stdout");
        if read == 0 {
            return false;
        }
        if line.pop() != Some(b'\n') {
            return true;
        }
        let line = String::from_utf8(line).expect("the child prints UTF-8");
        if lines.send(line).is_err() {
            // The test gave up on this child (it has panicked); stop.
            return false;
        }
    }
}
