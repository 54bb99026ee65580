//! What the process costs, read from `/proc` where it is cheap: resident
//! memory, CPU time and threads. Elsewhere, or when `/proc` cannot be read,
//! each figure is `None` rather than a guess.

/// The process's figures now.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProcessFigures {
    pub resident_bytes: Option<u64>,
    pub cpu_seconds: Option<f64>,
    pub threads: Option<u64>,
}

pub fn current() -> ProcessFigures {
    let status = std::fs::read_to_string("/proc/self/status").ok();
    let stat = std::fs::read_to_string("/proc/self/stat").ok();
    let ticks_per_second = rustix::param::clock_ticks_per_second();
    ProcessFigures {
        resident_bytes: status.as_deref().and_then(|status| status_field(status, "VmRSS:")).map(|kib| kib * 1024),
        cpu_seconds: stat.as_deref().and_then(|stat| cpu_seconds(stat, ticks_per_second)),
        threads: status.as_deref().and_then(|status| status_field(status, "Threads:")),
    }
}

/// The number on the line of `/proc/self/status` that starts with `name`
/// (`VmRSS:   1234 kB`).
fn status_field(status: &str, name: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with(name))?;
    line.get(name.len()..)?.split_whitespace().next()?.parse().ok()
}

/// User plus system CPU time from `/proc/self/stat`: fields 14 and 15, in
/// clock ticks. The command name (field 2) may hold spaces and parentheses,
/// so fields are counted from its closing `)`: field 3 is the first after it.
fn cpu_seconds(stat: &str, ticks_per_second: u64) -> Option<f64> {
    let (_, after_name) = stat.rsplit_once(')')?;
    let mut fields = after_name.split_whitespace().skip(14 - 3);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    (ticks_per_second > 0).then(|| (user + system) as f64 / ticks_per_second as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_read_from_the_proc_formats() {
        let status = "Name:\teventfold\nVmRSS:\t   2048 kB\nThreads:\t7\n";
        assert_eq!(status_field(status, "VmRSS:"), Some(2048));
        assert_eq!(status_field(status, "Threads:"), Some(7));
        assert_eq!(status_field(status, "VmSwap:"), None);
        // A command name with a space and a parenthesis in it.
        let stat = "4242 (event fold)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 1 0 0";
        assert_eq!(cpu_seconds(stat, 100), Some(3.0));
        assert_eq!(cpu_seconds("garbage", 100), None);
        assert_eq!(cpu_seconds(stat, 0), None);
    }

    #[test]
    fn this_process_has_figures_on_linux() {
        let figures = current();
        if cfg!(target_os = "linux") {
            assert!(figures.resident_bytes.is_some_and(|bytes| bytes > 0), "{figures:?}");
            assert!(figures.threads.is_some_and(|threads| threads >= 1), "{figures:?}");
            assert!(figures.cpu_seconds.is_some(), "{figures:?}");
        }
    }
}
