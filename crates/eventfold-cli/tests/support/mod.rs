//! A real `eventfold serve` child process for the CLI's tests.

// Each test binary that includes this module uses only part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running server on a free loopback port; killed when dropped.
pub struct Server {
    pub child: Child,
    pub address: SocketAddr,
    /// Every line the server logs, in order.
    pub log: mpsc::Receiver<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `eventfold serve` on `db` and waits for the address it logs.
pub fn start(db: &std::path::Path) -> Server {
    start_with_env(db, &[])
}

/// As [`start`], with `env` set for the server.
pub fn start_with_env(db: &std::path::Path, env: &[(&str, &str)]) -> Server {
    let mut child = spawn_serve_with_env(db, env);
    let stderr = child.stderr.take().expect("stderr is piped");
    let (lines, log) = mpsc::channel();
    std::thread::spawn(move || {
        // Drain stderr for the server's whole life, whether or not the test
        // still listens, so its log never meets a full or closed pipe.
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let address = loop {
        let line = log.recv_timeout(Duration::from_secs(60)).expect("server logs its address within a minute");
        if let Some(address) = logged_address(&line) {
            break address;
        }
    };
    Server { child, address, log }
}

/// `eventfold serve` on `db` and a free loopback port, stderr piped.
pub fn spawn_serve(db: &std::path::Path) -> Child {
    spawn_serve_with_env(db, &[])
}

pub fn spawn_serve_with_env(db: &std::path::Path, env: &[(&str, &str)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_eventfold"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("EVENTFOLD_DB", db)
        // What the test does not set comes from the defaults, not the shell.
        .env_remove("EVENTFOLD_ENABLE_ATOM_PUB_OVER_HTTP")
        .env_remove("EVENTFOLD_RUN_PROJECTIONS")
        .env_remove("EVENTFOLD_START_STANDARD_PROJECTIONS")
        .env_remove("EVENTFOLD_STORE")
        .env_remove("EVENTFOLD_CERTIFICATE_FILE")
        .env_remove("EVENTFOLD_CERTIFICATE_PRIVATE_KEY_FILE")
        .env_remove("EVENTFOLD_TRUSTED_ROOT_CERTIFICATES_PATH")
        .env_remove("EVENTFOLD_INSECURE")
        .envs(env.iter().copied())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn eventfold serve")
}

/// The address in the server's "serving" log line, if `line` is that one.
pub fn logged_address(line: &str) -> Option<SocketAddr> {
    let rest = line.split("address=").nth(1)?;
    Some(rest.split_whitespace().next().expect("address value").parse().expect("a socket address"))
}

/// Starts `eventfold serve` on `db` four times; each time calls `on_start`
/// with the round and the server's URL, runs `appends(url)` on `runtime`
/// and kills the server with SIGKILL 400 + 150 × round ms later, mid-load.
pub fn kill_under_appends<F, Fut>(
    runtime: &tokio::runtime::Runtime,
    db: &std::path::Path,
    mut on_start: impl FnMut(u64, &str),
    appends: F,
) where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    for round in 0..4_u64 {
        let mut server = start(db);
        let url = format!("http://{}", server.address);
        on_start(round, &url);
        let appending = runtime.spawn(appends(url));
        std::thread::sleep(Duration::from_millis(400 + 150 * round));
        server.child.kill().expect("kill -9 the server");
        let _ = server.child.wait();
        let _ = runtime.block_on(appending);
    }
}
