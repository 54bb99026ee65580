//! The process and the machine, read from `/proc` and the file system at
//! scrape time (no thread of its own): KurrentDB's process and system
//! metrics, and the size of the data directory.
//!
//! Linux only, as eventfold is; a value that cannot be read is left out of
//! the scrape rather than reported as zero.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use metrics::{counter, gauge};

pub mod names {
    //! The metric names of the process and the machine.
    pub const PROC_UP_TIME: &str = "kurrentdb_proc_up_time_seconds_total";
    pub const PROC_CPU: &str = "kurrentdb_proc_cpu";
    pub const PROC_MEM_BYTES: &str = "kurrentdb_proc_mem_bytes";
    /// The process's OS threads; KurrentDB's `proc_thread_count` counts
    /// .NET thread-pool threads, another thing, so this name is eventfold's.
    pub const PROCESS_THREADS: &str = "eventfold_process_threads";
    pub const DISK_IO_BYTES: &str = "kurrentdb_disk_io_bytes_total";
    pub const SYS_CPU: &str = "kurrentdb_sys_cpu";
    pub const SYS_LOAD_AVG: &str = "kurrentdb_sys_load_avg";
    pub const SYS_MEM_BYTES: &str = "kurrentdb_sys_mem_bytes";
    pub const SYS_DISK_BYTES: &str = "kurrentdb_sys_disk_bytes";
    pub const DATA_DIRECTORY_BYTES: &str = "eventfold_data_directory_bytes";
}

/// Reads the process and the machine; keeps the previous CPU readings,
/// since CPU usage is a rate between two scrapes.
pub struct SystemSampler {
    data_dir: PathBuf,
    started: Instant,
    previous: Mutex<Option<CpuReading>>,
}

#[derive(Clone, Copy)]
struct CpuReading {
    /// The process's user and system time, in clock ticks.
    process_ticks: u64,
    /// The machine's busy and total time over every CPU, in clock ticks.
    machine_busy: u64,
    machine_total: u64,
}

impl SystemSampler {
    /// Samples this process and the disk that holds `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self { data_dir: data_dir.into(), started: Instant::now(), previous: Mutex::new(None) }
    }

    pub fn sample(&self) {
        counter!(names::PROC_UP_TIME, "pid" => std::process::id().to_string())
            .absolute(self.started.elapsed().as_secs());
        // The figures `/stats` reports, read the same way.
        let process = crate::http::process::current();
        self.sample_cpu(process.cpu_seconds);
        if let Some(bytes) = process.resident_bytes {
            gauge!(names::PROC_MEM_BYTES, "kind" => "working-set").set(bytes as f64);
        }
        if let Some(threads) = process.threads {
            gauge!(names::PROCESS_THREADS).set(threads as f64);
        }
        if let Some(bytes) = read("/proc/self/status").and_then(|status| status_field(&status, "VmSize:")) {
            gauge!(names::PROC_MEM_BYTES, "kind" => "virtual-bytes").set(bytes as f64);
        }
        // Bytes that reached (or came from) the storage layer, not the page cache.
        if let Some(io) = read("/proc/self/io") {
            let field = |name: &str| io.lines().find_map(|line| line.strip_prefix(name)?.trim().parse::<u64>().ok());
            if let Some(bytes) = field("read_bytes:") {
                counter!(names::DISK_IO_BYTES, "activity" => "read").absolute(bytes);
            }
            if let Some(bytes) = field("write_bytes:") {
                counter!(names::DISK_IO_BYTES, "activity" => "written").absolute(bytes);
            }
        }
        if let Some(meminfo) = read("/proc/meminfo") {
            let field = |name: &str| status_field(&meminfo, name);
            if let Some(bytes) = field("MemTotal:") {
                gauge!(names::SYS_MEM_BYTES, "kind" => "total").set(bytes as f64);
            }
            // What the kernel could hand out without swapping: free pages
            // plus reclaimable cache, the figure "free" means to an operator.
            if let Some(bytes) = field("MemAvailable:") {
                gauge!(names::SYS_MEM_BYTES, "kind" => "free").set(bytes as f64);
            }
        }
        if let Some(loadavg) = read("/proc/loadavg") {
            for (period, value) in ["1m", "5m", "15m"].into_iter().zip(loadavg.split_whitespace()) {
                if let Ok(value) = value.parse::<f64>() {
                    gauge!(names::SYS_LOAD_AVG, "period" => period).set(value);
                }
            }
        }
        self.sample_disk();
    }

    fn sample_cpu(&self, process_seconds: Option<f64>) {
        let Some(reading) = process_seconds.and_then(cpu_reading) else {
            return;
        };
        let mut previous = self.previous.lock().unwrap_or_else(|poison| poison.into_inner());
        // The first scrape measures from the start of the process and of the
        // machine; later ones since the scrape before.
        let (process_ticks, machine_busy, machine_total) = match *previous {
            Some(before) => (
                reading.process_ticks.saturating_sub(before.process_ticks),
                reading.machine_busy.saturating_sub(before.machine_busy),
                reading.machine_total.saturating_sub(before.machine_total),
            ),
            None => (reading.process_ticks, reading.machine_busy, reading.machine_total),
        };
        *previous = Some(reading);
        drop(previous);
        if machine_total > 0 {
            // Both in percent of the whole machine, every CPU together.
            let percent = |ticks: u64| 100.0 * ticks as f64 / machine_total as f64;
            gauge!(names::SYS_CPU).set(percent(machine_busy));
            gauge!(names::PROC_CPU).set(percent(process_ticks).min(100.0));
        }
    }

    fn sample_disk(&self) {
        if let Ok(stats) = rustix::fs::statvfs(&self.data_dir) {
            let total = stats.f_blocks.saturating_mul(stats.f_frsize);
            let used = stats.f_blocks.saturating_sub(stats.f_bfree).saturating_mul(stats.f_frsize);
            let disk = mount_point(&self.data_dir).unwrap_or_else(|| self.data_dir.display().to_string());
            gauge!(names::SYS_DISK_BYTES, "disk" => disk.clone(), "kind" => "total").set(total as f64);
            gauge!(names::SYS_DISK_BYTES, "disk" => disk, "kind" => "used").set(used as f64);
        }
        gauge!(names::DATA_DIRECTORY_BYTES).set(allocated_bytes(&self.data_dir) as f64);
    }
}

fn read(path: &str) -> Option<String> {
    fs::read_to_string(path).ok()
}

/// A `Name:   1234 kB` line of `/proc/self/status` or `/proc/meminfo`, in bytes.
fn status_field(text: &str, name: &str) -> Option<u64> {
    let value = text.lines().find_map(|line| line.strip_prefix(name))?;
    let kilobytes = value.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()?;
    Some(kilobytes.saturating_mul(1024))
}

/// The process's CPU time (in seconds, as `/stats` reads it) and the
/// machine's, both in clock ticks.
fn cpu_reading(process_seconds: f64) -> Option<CpuReading> {
    let ticks_per_second = rustix::param::clock_ticks_per_second();
    let process_ticks = (process_seconds * ticks_per_second as f64).round() as u64;
    let machine = read("/proc/stat")?;
    let cpu = machine.lines().next()?.strip_prefix("cpu ")?;
    let times: Vec<u64> = cpu.split_whitespace().filter_map(|field| field.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest time is already
    // counted in user): idle and iowait are the idle ones.
    let total: u64 = times.iter().take(8).sum();
    let idle = times.get(3).copied().unwrap_or(0).saturating_add(times.get(4).copied().unwrap_or(0));
    Some(CpuReading { process_ticks, machine_busy: total.saturating_sub(idle), machine_total: total })
}

/// The mount point of the file system holding `path`: the longest mount
/// point in `/proc/self/mountinfo` that contains it.
fn mount_point(path: &Path) -> Option<String> {
    let path = path.canonicalize().ok()?;
    let mountinfo = read("/proc/self/mountinfo")?;
    mountinfo
        .lines()
        .filter_map(|line| line.split_whitespace().nth(4))
        .filter(|mount| path.starts_with(mount))
        .max_by_key(|mount| mount.len())
        .map(str::to_owned)
}

/// Bytes the data directory takes on disk (allocated blocks, so the log's
/// preallocated space counts), over its whole tree.
fn allocated_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| match entry.metadata() {
            Ok(metadata) if metadata.is_dir() => allocated_bytes(&entry.path()),
            Ok(metadata) => metadata.blocks().saturating_mul(512),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::{cpu_reading, mount_point, status_field};

    #[test]
    fn proc_fields_are_read_in_bytes() {
        let text = "Name:\teventfold\nVmSize:\t    2048 kB\nThreads:\t7\n";
        assert_eq!(status_field(text, "VmSize:"), Some(2048 * 1024));
        assert_eq!(status_field(text, "VmRSS:"), None);
        assert!(cpu_reading(1.5).is_some_and(|reading| reading.machine_total > 0 && reading.process_ticks > 0));
        assert_eq!(mount_point(std::path::Path::new("/")).as_deref(), Some("/"));
    }
}
