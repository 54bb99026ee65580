//! `eventfold admin repair`: offline only. Replaces each damaged log
//! segment by one that keeps every frame that verifies at its position (the
//! damaged file is moved to `log/damaged/`, never deleted) and rebuilds the
//! index from the log. Prints what was lost, exactly: the damaged ranges
//! with their files, offsets and positions, and the events the old index
//! named there.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use eventfold_engine::{RepairReport, repair_offline};
use eventfold_server::VerifyReportBody;

use super::verify::{ProgressBar, damage_text, offline_error, require_database};

#[derive(clap::Args)]
pub struct RepairArgs {
    /// Data directory to repair (no server may run on it).
    #[arg(long, env = "EVENTFOLD_DB", default_value = "./data")]
    db: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: RepairArgs) -> anyhow::Result<()> {
    require_database(&args.db)?;
    let mut bar = ProgressBar::new("repair");
    let report = repair_offline(&args.db, &mut |progress| bar.show(progress));
    bar.end();
    let report = report.map_err(|error| offline_error(error, &args.db, "repair"))?;
    let text = if args.json { report_json(&report)? } else { report_text(&report) };
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}").context("writing the report")?;
    stdout.flush().context("writing the report")
}

fn report_json(report: &RepairReport) -> anyhow::Result<String> {
    let repaired: Vec<serde_json::Value> = report
        .repaired
        .iter()
        .map(|segment| {
            let lost: Vec<_> = segment.lost.iter().map(eventfold_server::DamagedRangeBody::from).collect();
            serde_json::json!({
                "file": segment.file,
                "set_aside": segment.set_aside,
                "frames_kept": segment.frames_kept,
                "unfinished_frames_dropped": segment.unfinished_frames_dropped,
                "lost": lost,
            })
        })
        .collect();
    let json = serde_json::json!({
        "before": VerifyReportBody::from(&report.before),
        "repaired": repaired,
        "new_segment": report.new_segment,
        "index_rebuilt": true,
    });
    serde_json::to_string_pretty(&json).context("encoding the report")
}

fn report_text(report: &RepairReport) -> String {
    let before = &report.before;
    let mut text = format!(
        "checked {} segment(s), {} frame(s): {} damaged range(s), {} index problem(s)\n",
        before.segments.len(),
        before.frames_checked(),
        before.damaged.len(),
        before.index.mismatch_count
    );
    for segment in &report.repaired {
        text.push_str(&format!(
            "replaced {}: kept {} frame(s); the damaged file is now {}\n",
            segment.file, segment.frames_kept, segment.set_aside
        ));
        if segment.unfinished_frames_dropped > 0 {
            text.push_str(&format!(
                "  dropped {} frame(s) of a transaction never finished (never acknowledged)\n",
                segment.unfinished_frames_dropped
            ));
        }
        for damage in &segment.lost {
            text.push_str(&damage_text(damage));
        }
    }
    for event in &before.index.events_in_damage {
        text.push_str(&format!("lost: {} revision {} (position {})\n", event.stream, event.revision, event.position));
    }
    if let Some(segment) = &report.new_segment {
        text.push_str(&format!("new segment for appends: {segment}\n"));
    }
    text.push_str("index rebuilt from the log");
    text
}
