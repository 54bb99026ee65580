//! A throwaway PostgreSQL for the baseline: the installed server binaries,
//! `initdb` into a temporary directory, listening only on a unix socket in
//! that directory (so no port can clash and nothing leaves the machine).
//! Dropping the guard stops it and removes the directory, on error too.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

/// Any number works: the socket lives in our own directory.
pub const PORT: u16 = 5432;

pub struct PgServer {
    bin: PathBuf,
    data: PathBuf,
    run_as_postgres: bool,
    pub socket_dir: PathBuf,
    // Last, so it is removed after the server stopped.
    _dir: tempfile::TempDir,
}

/// The newest `/usr/lib/postgresql/<version>/bin` holding `initdb`.
pub fn find_binaries() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

impl PgServer {
    pub fn start(bin: PathBuf) -> anyhow::Result<Self> {
        // In the system temp directory rather than the scratch one: the
        // `postgres` user must be able to reach it.
        let dir =
            tempfile::Builder::new().prefix("eventfold-bench-pg").tempdir().context("creating the PG directory")?;
        let run_as_postgres = is_root();
        if run_as_postgres {
            let uid = postgres_id("-u")?;
            let gid = postgres_id("-g")?;
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .context("handing the PG directory to postgres")?;
        }
        let data = dir.path().join("data");
        let server = Self { bin, data, run_as_postgres, socket_dir: dir.path().to_path_buf(), _dir: dir };
        server
            .run("initdb", &["-D", path(&server.data)?, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])?;
        // Durable commits, as an event store needs; more connections than
        // the default so 256 writers can each have one.
        let options = format!(
            "-c listen_addresses='' -k {} -p {PORT} -c max_connections=300 -c synchronous_commit=on -c fsync=on",
            path(&server.socket_dir)?
        );
        let log = server.socket_dir.join("server.log");
        server.run("pg_ctl", &["-D", path(&server.data)?, "-l", path(&log)?, "-o", &options, "-w", "start"])?;
        Ok(server)
    }

    /// Every process of the server (postmaster and backends), for RSS.
    pub fn postmaster_pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.data.join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    fn run(&self, tool: &str, arguments: &[&str]) -> anyhow::Result<()> {
        let program = self.bin.join(tool);
        let mut command = if self.run_as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&program);
            command
        } else {
            Command::new(&program)
        };
        let output = command
            .args(arguments)
            .current_dir(&self.socket_dir)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {}", program.display()))?;
        if !output.status.success() {
            bail!("{tool} failed: {}", String::from_utf8_lossy(&output.stderr).trim());
        }
        Ok(())
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        // Throwaway data: the quickest stop is fine.
        if let Ok(data) = path(&self.data) {
            let _ = self.run("pg_ctl", &["-D", data, "stop", "-m", "immediate"]);
        }
    }
}

fn path(path: &Path) -> anyhow::Result<&str> {
    path.to_str().with_context(|| format!("{} is not UTF-8", path.display()))
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|output| output.stdout.trim_ascii() == b"0")
}

fn postgres_id(flag: &str) -> anyhow::Result<u32> {
    let output = Command::new("id").args([flag, "postgres"]).output().context("looking up the postgres user")?;
    if !output.status.success() {
        bail!("there is no postgres user to run PostgreSQL as");
    }
    String::from_utf8_lossy(&output.stdout).trim().parse().context("the postgres user's id")
}
