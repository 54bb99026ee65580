//! `eventfold admin backup DEST` and `eventfold admin restore BACKUP --db DIR`.
//!
//! A backup of a running server goes through its HTTP API
//! (`POST /admin/backup`): the server copies its own files, so the
//! destination is a path on the server's machine. A backup of a stopped
//! data directory (`--db`) opens it here, as the server would (recovery
//! included), and copies it with a progress line on stderr. Both print the
//! report as JSON on stdout and the rate on stderr.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use eventfold_engine::{BackupOptions, BackupProgress, Engine, EngineConfig};
use eventfold_server::BackupReportBody;
use hyper::{Method, StatusCode};

use crate::admin::Server;

/// A backup of a large database takes long; the server answers at the end.
const BACKUP_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// How often the progress line is redrawn.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

#[derive(clap::Args)]
pub struct BackupArgs {
    /// Directory to back up into (created when missing). With a running
    /// server, a path on the server's machine.
    destination: PathBuf,
    /// The running server's HTTP address.
    #[arg(long, env = "EVENTFOLD_SERVER", default_value = "http://127.0.0.1:2113")]
    server: String,
    /// Back up this stopped data directory instead of a running server.
    #[arg(long, value_name = "DIR")]
    db: Option<PathBuf>,
    /// Upper bound on the bytes copied per second.
    #[arg(long, value_name = "N")]
    max_bytes_per_second: Option<u64>,
}

#[derive(clap::Args)]
pub struct RestoreArgs {
    /// The backup directory (the one holding `manifest.json`).
    backup: PathBuf,
    /// The data directory to create; it must not exist or be empty.
    #[arg(long, value_name = "DIR")]
    db: PathBuf,
}

pub async fn backup(args: BackupArgs) -> anyhow::Result<()> {
    let destination = std::path::absolute(&args.destination)
        .with_context(|| format!("the destination {}", args.destination.display()))?;
    let started = Instant::now();
    let report = match &args.db {
        Some(db) => {
            let db = db.clone();
            let options = BackupOptions { max_bytes_per_second: args.max_bytes_per_second };
            let destination = destination.clone();
            tokio::task::spawn_blocking(move || offline_backup(db, destination, options))
                .await
                .context("the backup task")??
        }
        None => online_backup(&args.server, &destination, args.max_bytes_per_second).await?,
    };
    let seconds = started.elapsed().as_secs_f64().max(1e-6);
    let _ = writeln!(
        std::io::stderr().lock(),
        "backup: {} of {} files copied, {:.1} of {:.1} MB in {seconds:.2} s: {:.1} MB/s",
        report.files_copied,
        report.files,
        report.bytes_copied as f64 / 1e6,
        report.bytes_total as f64 / 1e6,
        report.bytes_copied as f64 / seconds / 1e6
    );
    let text = serde_json::to_string_pretty(&report).context("encoding the report")?;
    writeln!(std::io::stdout().lock(), "{text}").context("writing the report")?;
    Ok(())
}

async fn online_backup(
    server: &str,
    destination: &std::path::Path,
    max_bytes_per_second: Option<u64>,
) -> anyhow::Result<BackupReportBody> {
    let server = Server::parse(server)?;
    let body = serde_json::json!({
        "destination": destination,
        "max_bytes_per_second": max_bytes_per_second,
    })
    .to_string();
    let (code, answer) = server.request_within(Method::POST, "/admin/backup", Some(body), BACKUP_TIMEOUT).await?;
    let text = String::from_utf8_lossy(&answer);
    match code {
        StatusCode::OK => serde_json::from_slice(&answer)
            .with_context(|| format!("the server answered something other than a backup report: {text}")),
        StatusCode::CONFLICT => bail!("a backup is already running on the server"),
        other => bail!("backup: HTTP {other}: {}", text.trim()),
    }
}

fn offline_backup(db: PathBuf, destination: PathBuf, options: BackupOptions) -> anyhow::Result<BackupReportBody> {
    if !db.join("log").is_dir() {
        bail!("{} is not a data directory (it has no log/)", db.display());
    }
    let engine = Engine::open(EngineConfig::new(&db)).with_context(|| format!("opening {}", db.display()))?;
    let mut progress = ProgressLine::new("backup");
    let report = engine
        .backup_to(&destination, &options, &mut |state| progress.show(state))
        .with_context(|| format!("backing up {} to {}", db.display(), destination.display()))?;
    Ok(BackupReportBody::from(report))
}

pub fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut progress = ProgressLine::new("restore");
    let report = eventfold_engine::restore(&args.backup, &args.db, &mut |state| progress.show(state))
        .with_context(|| format!("restoring {} into {}", args.backup.display(), args.db.display()))?;
    let seconds = started.elapsed().as_secs_f64().max(1e-6);
    let _ = writeln!(
        std::io::stderr().lock(),
        "restore: {} files, {:.1} MB in {seconds:.2} s: {:.1} MB/s",
        report.files,
        report.bytes as f64 / 1e6,
        report.bytes as f64 / seconds / 1e6
    );
    let answer = serde_json::json!({
        "db": args.db,
        "durable_end": report.durable_end,
        "files": report.files,
        "bytes": report.bytes,
    });
    writeln!(std::io::stdout().lock(), "{answer}").context("writing the report")?;
    Ok(())
}

/// One progress line on stderr, at most twice a second.
struct ProgressLine {
    what: &'static str,
    last: Option<Instant>,
}

impl ProgressLine {
    fn new(what: &'static str) -> Self {
        Self { what, last: None }
    }

    fn show(&mut self, state: BackupProgress) {
        if self.last.is_some_and(|last| last.elapsed() < PROGRESS_EVERY) && state.files_done < state.files_total {
            return;
        }
        self.last = Some(Instant::now());
        let _ = writeln!(
            std::io::stderr().lock(),
            "{}: {}/{} files, {:.1}/{:.1} MB",
            self.what,
            state.files_done,
            state.files_total,
            state.bytes_done as f64 / 1e6,
            state.bytes_total as f64 / 1e6
        );
    }
}
