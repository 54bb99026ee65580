//! Copying one segment into a backup: kept, extended by its new tail, or
//! copied whole, at a bounded rate, its CRC32C computed on the way.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use eventfold_log::FORMAT_VERSION;

use super::{BackupFailure, ManifestFile, SourceSegment, io_failure};

/// Bytes read and written at a time.
const CHUNK_BYTES: usize = 1024 * 1024;
/// Bytes of a compacted segment's footer, compared to tell two compactions
/// of one segment apart.
const FOOTER_BYTES: u64 = 32;

/// Keeps a copy under `max_bytes_per_second`, by sleeping when it is ahead.
pub(crate) struct Pacer {
    limit: Option<u64>,
    started: Instant,
    bytes: u64,
}

impl Pacer {
    pub fn new(limit: Option<u64>) -> Self {
        Self { limit: limit.filter(|limit| *limit > 0), started: Instant::now(), bytes: 0 }
    }

    fn pace(&mut self, bytes: u64) {
        self.bytes += bytes;
        let Some(limit) = self.limit else { return };
        let due = Duration::from_secs_f64(self.bytes as f64 / limit as f64);
        if let Some(ahead) = due.checked_sub(self.started.elapsed()) {
            std::thread::sleep(ahead);
        }
    }
}

/// Brings `log/<name>` of the backup up to date with `segment`; returns its
/// manifest entry and how many bytes were copied.
pub(crate) fn copy_segment(
    segment: &SourceSegment,
    path: &str,
    before: Option<&ManifestFile>,
    destination: &Path,
    pacer: &mut Pacer,
    on_bytes: &mut dyn FnMut(u64),
) -> Result<(ManifestFile, u64), BackupFailure> {
    let target = destination.join(path);
    let existing_bytes = fs::metadata(&target).map(|metadata| metadata.len()).ok();
    let usable = before.filter(|before| {
        before.segment_version == segment.version
            && existing_bytes == Some(before.bytes)
            && before.bytes <= segment.bytes
    });
    if let Some(before) = usable {
        if before.bytes == segment.bytes && (segment.version == FORMAT_VERSION || same_footer(segment, &target)?) {
            return Ok((before.clone(), 0));
        }
        if segment.version == FORMAT_VERSION {
            // A plain segment only grew: copy its new tail.
            let mut file = OpenOptions::new().write(true).open(&target).map_err(io_failure("open", &target))?;
            let crc = copy_range(segment, before.bytes, before.crc32c, &mut file, &target, pacer, on_bytes)?;
            file.sync_all().map_err(io_failure("sync", &target))?;
            let copied = segment.bytes - before.bytes;
            return Ok((entry(path, segment, crc), copied));
        }
    }
    // Whole: into a temporary file renamed into place, so a segment is
    // never half old and half new.
    let temporary = destination.join(format!("{path}.tmp"));
    let mut file = File::create(&temporary).map_err(io_failure("create", &temporary))?;
    let crc = copy_range(segment, 0, 0, &mut file, &temporary, pacer, on_bytes)?;
    file.sync_all().map_err(io_failure("sync", &temporary))?;
    fs::rename(&temporary, &target).map_err(io_failure("rename", &target))?;
    Ok((entry(path, segment, crc), segment.bytes))
}

fn entry(path: &str, segment: &SourceSegment, crc32c: u32) -> ManifestFile {
    ManifestFile { path: path.to_owned(), bytes: segment.bytes, crc32c, segment_version: segment.version }
}

/// Appends `segment`'s bytes from `from` to its backup length to `file`
/// (cut to `from` first: an interrupted backup may have left more), and
/// returns the CRC32C of the whole file, `crc` being that of its first
/// `from` bytes.
fn copy_range(
    segment: &SourceSegment,
    from: u64,
    mut crc: u32,
    file: &mut File,
    target: &Path,
    pacer: &mut Pacer,
    on_bytes: &mut dyn FnMut(u64),
) -> Result<u32, BackupFailure> {
    file.set_len(from).map_err(io_failure("truncate", target))?;
    let mut offset = from;
    let mut buffer = vec![0_u8; CHUNK_BYTES];
    let source_path = Path::new(&segment.name);
    file.seek_end(target)?;
    while offset < segment.bytes {
        let length = usize::try_from(segment.bytes - offset).map_or(CHUNK_BYTES, |left| left.min(CHUNK_BYTES));
        let chunk = buffer.get_mut(..length).ok_or_else(|| BackupFailure::Refused {
            path: source_path.to_path_buf(),
            reason: "chunk out of range".into(),
        })?;
        segment.file.read_exact_at(chunk, offset).map_err(io_failure("read", source_path))?;
        crc = crc32c::crc32c_append(crc, chunk);
        file.write_all(chunk).map_err(io_failure("write", target))?;
        offset += length as u64;
        pacer.pace(length as u64);
        on_bytes(length as u64);
    }
    Ok(crc)
}

/// Whether the last bytes of the source and of the backup's copy agree: a
/// compacted segment's footer holds its table's checksum.
fn same_footer(segment: &SourceSegment, target: &Path) -> Result<bool, BackupFailure> {
    if segment.bytes < FOOTER_BYTES {
        return Ok(false);
    }
    let offset = segment.bytes - FOOTER_BYTES;
    let mut source = [0_u8; FOOTER_BYTES as usize];
    let mut copy = [0_u8; FOOTER_BYTES as usize];
    segment.file.read_exact_at(&mut source, offset).map_err(io_failure("read", Path::new(&segment.name)))?;
    let file = File::open(target).map_err(io_failure("open", target))?;
    file.read_exact_at(&mut copy, offset).map_err(io_failure("read", target))?;
    Ok(source == copy)
}

trait SeekEnd {
    fn seek_end(&mut self, path: &Path) -> Result<(), BackupFailure>;
}

impl SeekEnd for File {
    fn seek_end(&mut self, path: &Path) -> Result<(), BackupFailure> {
        use std::io::{Seek, SeekFrom};
        self.seek(SeekFrom::End(0)).map(|_| ()).map_err(io_failure("seek", path))
    }
}
