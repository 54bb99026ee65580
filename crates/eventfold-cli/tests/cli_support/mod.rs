//! Running the `eventfold` binary in the stream, export and backup tests.

// Each test binary that includes this module uses only part of it.
#![allow(dead_code)]

use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long one command may take before the test fails.
pub const LIMIT: Duration = Duration::from_secs(180);

/// Runs `eventfold` with `args` (and `EVENTFOLD_SERVER` unset), killed past
/// [`LIMIT`].
pub fn eventfold<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(args: &[S]) -> Output {
    eventfold_within(args, LIMIT)
}

/// As [`eventfold`], killed past `limit`.
pub fn eventfold_within<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(args: &[S], limit: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_eventfold"))
        .args(args)
        .env_remove("EVENTFOLD_SERVER")
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn eventfold");
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let out = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stdout.read_to_end(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stderr.read_to_end(&mut text);
        text
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("eventfold {args:?} ran longer than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output { status, stdout: out.join().expect("stdout"), stderr: err.join().expect("stderr") }
}

/// Runs it and expects success; returns stdout.
pub fn ok<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(args: &[S]) -> String {
    let output = eventfold(args);
    assert!(output.status.success(), "eventfold {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// Runs it and expects failure; returns stderr.
pub fn fails<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(args: &[S]) -> String {
    let output = eventfold(args);
    assert!(!output.status.success(), "eventfold {args:?} should fail: {}", String::from_utf8_lossy(&output.stdout));
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The lines of JSON in `text`.
pub fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).expect("JSON line"))
        .collect()
}
