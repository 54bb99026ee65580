//! `eventfold admin verify`: checks every frame of the log and the index
//! against the log. Offline (`--db DIR`, the default) on a directory no
//! server holds, with a progress bar on stderr; online (`--server URL`)
//! through `POST /admin/verify` of a running server, which keeps serving
//! meanwhile. The report goes to stdout, as text or `--json`; the command
//! exits 1 when it found damage.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use eventfold_engine::{EngineError, VerifyProgress, verify_offline};
use eventfold_server::VerifyReportBody;
use eventfold_store::VerifyReport;
use hyper::{Method, StatusCode};

use super::{Server, error_text, human_bytes, text_of};
pub(crate) use crate::progress::ProgressBar;

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// Data directory to verify offline (no server may run on it).
    #[arg(long, env = "EVENTFOLD_DB", default_value = "./data")]
    db: PathBuf,
    /// Verify a running server instead, over its HTTP API (`--db` is then
    /// not used).
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// How long an online verification may take: it reads the whole database.
const ONLINE_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

pub async fn run(args: VerifyArgs) -> anyhow::Result<()> {
    let report = match &args.server {
        Some(address) => online(address).await?,
        None => offline(&args.db)?,
    };
    print_report(&report, args.json)?;
    if report.is_clean() {
        Ok(())
    } else {
        Err(anyhow!(
            "verification found {} damaged range(s) in the log and {} index problem(s){}",
            report.damaged.len(),
            report.index.mismatch_count,
            if report.online { "" } else { "; `eventfold admin repair` keeps what verifies and rebuilds the index" }
        ))
    }
}

fn offline(dir: &Path) -> anyhow::Result<VerifyReport> {
    require_database(dir)?;
    let mut bar = ProgressBar::new("verify");
    let report = verify_offline(dir, &mut |progress| bar.show(progress));
    bar.end();
    report.map_err(|error| offline_error(error, dir, "verify"))
}

/// Refuses a directory that holds no database, rather than report on
/// nothing (or, for a repair, create one).
pub fn require_database(dir: &Path) -> anyhow::Result<()> {
    if !dir.join("log").is_dir() {
        bail!("no eventfold database at {} (it has no log/ folder)", dir.display());
    }
    Ok(())
}

/// An engine error of an offline command, with what to do about it.
pub fn offline_error(error: EngineError, dir: &Path, command: &str) -> anyhow::Error {
    match error {
        EngineError::Locked { .. } => anyhow!(
            "a server is running on {}: stop it first, or verify it online with \
             `eventfold admin verify --server http://HOST:PORT`",
            dir.display()
        ),
        other => anyhow::Error::new(other).context(format!("{command} {}", dir.display())),
    }
}

async fn online(address: &str) -> anyhow::Result<VerifyReport> {
    let server = Server::parse(address)?;
    let started = Instant::now();
    let mut waiting = ProgressBar::new("verify");
    let request = server.request_within(Method::POST, "/admin/verify", None, ONLINE_TIMEOUT);
    tokio::pin!(request);
    // The server answers when it is done; until then, show that it works.
    let answer = loop {
        tokio::select! {
            answer = &mut request => break answer,
            () = tokio::time::sleep(Duration::from_secs(1)) => waiting.waiting(started.elapsed()),
        }
    };
    waiting.end();
    let (code, body) = answer?;
    match code {
        StatusCode::OK => {
            let body: VerifyReportBody = serde_json::from_slice(&body)
                .with_context(|| format!("the server answered something other than a report: {}", text_of(&body)))?;
            Ok(body.into())
        }
        StatusCode::NOT_IMPLEMENTED => bail!("the server's storage cannot verify itself: {}", error_text(&body)),
        other => bail!("verifying: HTTP {other}: {}", error_text(&body)),
    }
}

pub fn print_report(report: &VerifyReport, json: bool) -> anyhow::Result<()> {
    let text = if json {
        serde_json::to_string_pretty(&VerifyReportBody::from(report)).context("encoding the report")?
    } else {
        report_text(report)
    };
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}").context("writing the report")?;
    stdout.flush().context("writing the report")
}

pub fn report_text(report: &VerifyReport) -> String {
    let mut text = format!(
        "checked {} segment(s), {} frame(s), {} ({})\n",
        report.segments.len(),
        report.frames_checked(),
        human_bytes(report.bytes_checked()),
        if report.online { "online, up to the committed end" } else { "offline" }
    );
    if report.damaged.is_empty() {
        text.push_str("log: every frame verifies\n");
    } else {
        text.push_str(&format!("log: {} damaged range(s)\n", report.damaged.len()));
        for damage in &report.damaged {
            text.push_str(&damage_text(damage));
        }
    }
    let index = &report.index;
    match &index.unreadable {
        Some(reason) => text.push_str(&format!("index: unreadable: {reason}\n")),
        None => text.push_str(&format!(
            "index: checkpoint {}, {} entries and {} events checked, {} problem(s)\n",
            index.checkpoint, index.entries_checked, index.events_checked, index.mismatch_count
        )),
    }
    for mismatch in &index.mismatches {
        let stream = if mismatch.stream.is_empty() { "(no stream)" } else { mismatch.stream.as_str() };
        text.push_str(&format!(
            "  {stream} revision {} at position {}: {}\n",
            mismatch.revision, mismatch.position, mismatch.problem
        ));
    }
    if index.mismatch_count > index.mismatches.len() as u64 {
        text.push_str(&format!("  … and {} more\n", index.mismatch_count - index.mismatches.len() as u64));
    }
    for event in &index.events_in_damage {
        text.push_str(&format!(
            "  lost to the damage: {} revision {} (position {})\n",
            event.stream, event.revision, event.position
        ));
    }
    text.push_str(if report.is_clean() { "clean" } else { "NOT clean" });
    text
}

pub fn damage_text(damage: &eventfold_store::DamagedRange) -> String {
    let mut text = format!(
        "  {} at offset {}, {} byte(s): {}{}\n",
        damage.file,
        damage.offset,
        damage.bytes,
        damage.reason,
        if damage.at_tail { " (torn tail: the next start cuts it when shorter than one write)" } else { "" }
    );
    if damage.position_start < damage.position_end {
        text.push_str(&format!("    positions {}..{} lost", damage.position_start, damage.position_end));
        if !damage.frame_positions.is_empty() {
            let positions: Vec<String> = damage.frame_positions.iter().map(u64::to_string).collect();
            text.push_str(&format!(" (the frame(s) at {})", positions.join(", ")));
        }
        text.push('\n');
    }
    text
}

impl ProgressBar {
    pub fn show(&mut self, progress: VerifyProgress) {
        let stage = progress.stage.as_str();
        let amount = if stage == "index" {
            format!("{}/{} entries", progress.done, progress.total)
        } else {
            format!("{}/{}", human_bytes(progress.done), human_bytes(progress.total))
        };
        self.show_amount(stage, progress.done, progress.total, &amount);
    }
}
