//! What the throwaway target servers (Redis, NATS) share: finding the
//! installed binary, and a free loopback port to put it on.

use std::path::PathBuf;

use anyhow::Context;

/// `name` on the `PATH`, else the first of `known` that exists (Debian puts
/// some servers in `/usr/sbin`, outside a user's `PATH`).
pub fn find_binary(name: &str, known: &[&str]) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(name));
    on_path.chain(known.iter().map(PathBuf::from)).find(|path| path.is_file())
}

/// A loopback port nothing listens on now (the kernel's pick, released at
/// once: the server binds it a moment later, and again after a restart).
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr().context("reading the free port")?.port())
}
