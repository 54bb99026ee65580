//! The synced-end record: how far the log is known to be durable.
//!
//! Recovery must tell a torn write (bytes whose `fdatasync` never returned,
//! which may be cut) from damage to bytes that were acknowledged (which must
//! never be cut silently). The bytes themselves cannot say which they are:
//! a flipped bit five frames before the end looks exactly like a torn tail.
//! So after every `fdatasync` of the log the writer records the end it made
//! durable in a small file beside the segments, with a plain `write` and no
//! sync of its own (LOG-10).
//!
//! Every value the file can hold is true: it is written only after the
//! `fdatasync` that made it durable returned. When the process dies (a crash,
//! `kill -9`) the page cache keeps the last value, so recovery knows the
//! durable end exactly; after a power loss the file may hold an older,
//! smaller value (still true), or a torn one, which its checksum rejects and
//! recovery then ignores. Nothing is lost by ignoring it: the index
//! checkpoint is a second, synced, lower bound (IDX-2).
//!
//! Layout (24 bytes, little endian): magic `EVFOLDSE` (8), synced end (u64),
//! CRC32C of the 16 bytes before it (u32), reserved zero (u32).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::LogError;
use crate::format::{u32_at, u64_at};

/// Name of the file in the log directory.
pub const SYNCED_END_FILE: &str = "synced-end";
const MAGIC: [u8; 8] = *b"EVFOLDSE";
const RECORD_BYTES: usize = 24;

/// The open record file; the writer updates it after each `fdatasync`.
#[derive(Debug)]
pub(crate) struct SyncedEnd {
    file: File,
    path: PathBuf,
    /// Set after a failed write, so that a broken file is reported once,
    /// not once per batch.
    failing: bool,
}

impl SyncedEnd {
    /// Opens (or creates) the record in `dir` and returns it with the end it
    /// holds, when it holds a valid one.
    pub(crate) fn open(dir: &Path) -> Result<(Self, Option<u64>), LogError> {
        let path = dir.join(SYNCED_END_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(LogError::io("open", &path))?;
        let mut record = [0u8; RECORD_BYTES];
        let recorded = match file.read_exact_at(&mut record, 0) {
            Ok(()) => decode(&record),
            // A new file, or one cut short by a crash: no claim.
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => None,
            Err(error) => return Err(LogError::Io { op: "read", path, source: error }),
        };
        Ok((Self { file, path, failing: false }, recorded))
    }

    /// Records that the log is durable up to `end`. Called only after the
    /// `fdatasync` that made it so returned. A failure costs only the claim
    /// (recovery falls back to the index checkpoint), so it is logged, not
    /// returned: the batch is durable whatever happens here.
    pub(crate) fn record(&mut self, end: u64) {
        match self.file.write_all_at(&encode(end), 0) {
            Ok(()) => self.failing = false,
            Err(error) => {
                if !self.failing {
                    tracing::warn!(path = %self.path.display(), %error, "could not record the synced end of the log");
                }
                self.failing = true;
            }
        }
    }
}

/// Replaces the record with `end`, durably: for tools that change the log
/// offline (a repair that cuts it), so that recovery does not take the cut
/// for lost data. `None` removes the claim.
pub fn reset_synced_end(dir: &Path, end: Option<u64>) -> Result<(), LogError> {
    let path = dir.join(SYNCED_END_FILE);
    match end {
        None => match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(LogError::Io { op: "remove", path, source: error }),
        },
        Some(end) => {
            let file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(LogError::io("open", &path))?;
            file.write_all_at(&encode(end), 0).map_err(LogError::io("write", &path))?;
            file.sync_all().map_err(LogError::io("fsync", &path))
        }
    }
}

fn encode(end: u64) -> [u8; RECORD_BYTES] {
    let mut record = [0u8; RECORD_BYTES];
    let (head, tail) = record.split_at_mut(16);
    let (magic, value) = head.split_at_mut(8);
    magic.copy_from_slice(&MAGIC);
    value.copy_from_slice(&end.to_le_bytes());
    let crc = crc32c::crc32c(head);
    if let Some(field) = tail.get_mut(..4) {
        field.copy_from_slice(&crc.to_le_bytes());
    }
    record
}

fn decode(record: &[u8; RECORD_BYTES]) -> Option<u64> {
    let head = record.get(..16)?;
    if head.get(..8)? != MAGIC || crc32c::crc32c(head) != u32_at(record.get(16..20)?) {
        return None;
    }
    Some(u64_at(head.get(8..16)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_end_reads_back_and_a_damaged_record_is_no_claim() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut record, found) = SyncedEnd::open(dir.path()).expect("open");
        assert_eq!(found, None, "a new file claims nothing");
        record.record(4242);
        drop(record);
        assert_eq!(SyncedEnd::open(dir.path()).expect("reopen").1, Some(4242));

        let path = dir.path().join(SYNCED_END_FILE);
        let mut bytes = std::fs::read(&path).expect("read");
        for index in 0..20 {
            let mut damaged = bytes.clone();
            if let Some(byte) = damaged.get_mut(index) {
                *byte ^= 0x10;
            }
            std::fs::write(&path, &damaged).expect("damage");
            assert_eq!(SyncedEnd::open(dir.path()).expect("reopen").1, None, "byte {index}");
        }
        bytes.truncate(10);
        std::fs::write(&path, &bytes).expect("cut");
        assert_eq!(SyncedEnd::open(dir.path()).expect("reopen").1, None, "a torn record");
    }

    #[test]
    fn a_reset_replaces_or_removes_the_claim() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut record, _) = SyncedEnd::open(dir.path()).expect("open");
        record.record(9000);
        drop(record);
        reset_synced_end(dir.path(), Some(100)).expect("reset");
        assert_eq!(SyncedEnd::open(dir.path()).expect("reopen").1, Some(100));
        reset_synced_end(dir.path(), None).expect("remove");
        reset_synced_end(dir.path(), None).expect("removing twice is fine");
        assert_eq!(SyncedEnd::open(dir.path()).expect("reopen").1, None);
    }
}
