//! How events are printed: JSON lines (`event_json`) or a table.

use std::io::Write;

use eventfold_client::RecordedEvent;

use super::event_json::to_line;
use super::time::ticks_to_rfc3339;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Table,
}

/// Longest data shown in a table cell.
const TABLE_DATA_CHARS_MAX: usize = 60;

pub struct Printer<W: Write> {
    format: Format,
    out: W,
    header_written: bool,
}

impl<W: Write> Printer<W> {
    pub fn new(format: Format, out: W) -> Self {
        Self { format, out, header_written: false }
    }

    pub fn print(&mut self, event: &RecordedEvent) -> std::io::Result<()> {
        match self.format {
            Format::Json => writeln!(self.out, "{}", to_line(event)),
            Format::Table => {
                if !self.header_written {
                    writeln!(
                        self.out,
                        "{:<24} {:>9} {:>12} {:<24} {:<36} {:<28} DATA",
                        "STREAM", "REVISION", "POSITION", "TYPE", "ID", "CREATED"
                    )?;
                    self.header_written = true;
                }
                let position = event.position.map_or_else(|| "-".to_owned(), |position| position.to_string());
                let created = event.created_ticks.map_or_else(|| "-".to_owned(), ticks_to_rfc3339);
                writeln!(
                    self.out,
                    "{:<24} {:>9} {:>12} {:<24} {:<36} {:<28} {}",
                    event.stream,
                    event.revision,
                    position,
                    event.event_type,
                    event.id.hyphenated(),
                    created,
                    data_cell(event)
                )
            }
        }
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

fn data_cell(event: &RecordedEvent) -> String {
    let text = match std::str::from_utf8(&event.data) {
        Ok(text) if event.is_json => text.replace(['\n', '\r'], " "),
        _ => format!("<{} bytes>", event.data.len()),
    };
    if text.chars().count() > TABLE_DATA_CHARS_MAX {
        let cut: String = text.chars().take(TABLE_DATA_CHARS_MAX).collect();
        format!("{cut}…")
    } else {
        text
    }
}
