//! `eventfold admin`: operations on a running server, over its HTTP API,
//! and on a data directory no server holds (`verify`, `repair`: see
//! `admin/verify.rs` and `admin/repair.rs`).
//!
//! `eventfold admin scavenge` starts a scavenge (`POST /admin/scavenge`),
//! follows it (`GET /admin/scavenge`) with a progress bar on stderr, and
//! prints the final status as JSON on stdout; `--stop ID` stops one
//! (`DELETE /admin/scavenge/{id}`). A small HTTP/1.1 client on hyper does
//! the talking: one connection per request, each bounded in time, over TLS
//! for `https://host:port?tlsCaFile=CA` (a server in secure mode).

use std::io::{IsTerminal, Write};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use eventfold_server::ScavengeStatusBody;
use futures::future::BoxFuture;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode, Uri, header};
use hyper_util::rt::TokioIo;

mod repair;
mod verify;

#[derive(clap::Args)]
pub struct AdminArgs {
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(clap::Subcommand)]
enum AdminCommand {
    /// Reclaim the space of deleted and expired events on a running server.
    ///
    /// Waits for the scavenge to end, showing its progress on stderr, then
    /// prints its final status as JSON on stdout. Exits 0 when it completed,
    /// 1 when it failed or was stopped. Interrupting the wait leaves the
    /// scavenge running; `--stop ID` stops it.
    Scavenge(ScavengeArgs),
    /// Check every frame of the log and the index against the log.
    ///
    /// Offline on `--db DIR` (no server may run on it), with progress on
    /// stderr, or online with `--server URL` while the server keeps serving.
    /// Prints the report (`--json` for JSON); exits 1 when it found damage.
    Verify(verify::VerifyArgs),
    /// Repair a data directory no server holds.
    ///
    /// Each damaged log segment is replaced by one holding every frame that
    /// verifies, at its position; the damaged file is moved to
    /// `log/damaged/`. The index is rebuilt from the log. Prints exactly
    /// what was lost.
    Repair(repair::RepairArgs),
    /// Back up a running server (`--server`) or a stopped data directory
    /// (`--db`) into a directory; a second backup there copies only what
    /// changed.
    Backup(crate::backup::BackupArgs),
    /// Lay out a backup as a new data directory, after checking it against
    /// its manifest.
    Restore(crate::backup::RestoreArgs),
}

#[derive(clap::Args)]
struct ScavengeArgs {
    /// The server's HTTP address (port 2113 when none is given).
    #[arg(long, env = "EVENTFOLD_SERVER", default_value = "http://127.0.0.1:2113")]
    server: String,
    /// Upper bound on the disk bandwidth the scavenge uses.
    #[arg(long, value_name = "N")]
    max_bytes_per_second: Option<u64>,
    /// Print the status as soon as the scavenge has started, without waiting.
    #[arg(long, conflicts_with = "stop")]
    no_wait: bool,
    /// Stop the running scavenge of this id instead of starting one.
    #[arg(long, value_name = "ID", conflicts_with = "max_bytes_per_second")]
    stop: Option<String>,
}

/// How long one request may take, connection included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the status is asked for while waiting.
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// Failed status requests in a row before the wait gives up.
const POLL_FAILURES_MAX: u32 = 20;

pub fn run(args: AdminArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the runtime")?;
    match args.command {
        AdminCommand::Scavenge(args) => runtime.block_on(scavenge(args)),
        AdminCommand::Verify(args) => runtime.block_on(verify::run(args)),
        AdminCommand::Repair(args) => {
            // The repair opens the engine to rebuild the index; it runs on
            // this thread, inside the runtime's context.
            let _context = runtime.enter();
            repair::run(args)
        }
        AdminCommand::Backup(args) => runtime.block_on(crate::backup::backup(args)),
        AdminCommand::Restore(args) => crate::backup::restore(args),
    }
}

async fn scavenge(args: ScavengeArgs) -> anyhow::Result<()> {
    let server = Server::parse(&args.server)?;
    if let Some(id) = &args.stop {
        let (code, body) = server.request(Method::DELETE, &format!("/admin/scavenge/{id}"), None).await?;
        let status = match code {
            StatusCode::OK | StatusCode::ACCEPTED => parse_status(&body)?,
            StatusCode::NOT_FOUND => bail!("the server has no running scavenge `{id}`: {}", error_text(&body)),
            other => bail!("stopping scavenge `{id}`: HTTP {other}: {}", error_text(&body)),
        };
        return print_status(&status);
    }

    let options = match args.max_bytes_per_second {
        Some(limit) => serde_json::json!({ "max_bytes_per_second": limit }).to_string(),
        None => String::new(),
    };
    let (code, body) = server.request(Method::POST, "/admin/scavenge", Some(options)).await?;
    let started = match code {
        StatusCode::OK | StatusCode::ACCEPTED => parse_status(&body)?,
        StatusCode::CONFLICT => {
            let running = parse_status(&body)?;
            bail!(
                "scavenge {id} is already running; stop it with `eventfold admin scavenge --stop {id}`",
                id = running.id
            );
        }
        StatusCode::NOT_IMPLEMENTED => bail!("the server's storage does not scavenge: {}", error_text(&body)),
        other => bail!("starting a scavenge: HTTP {other}: {}", error_text(&body)),
    };
    if args.no_wait {
        return print_status(&started);
    }
    let finished = wait(&server, started).await?;
    print_status(&finished)?;
    match finished.state.as_str() {
        "completed" => Ok(()),
        "failed" => {
            Err(anyhow!("scavenge {} failed: {}", finished.id, finished.error.as_deref().unwrap_or("no reason given")))
        }
        other => Err(anyhow!("scavenge {} ended {other}", finished.id)),
    }
}

/// Polls the status until the scavenge `started` has ended.
async fn wait(server: &Server, started: ScavengeStatusBody) -> anyhow::Result<ScavengeStatusBody> {
    let mut progress = Progress::new(std::io::stderr().is_terminal());
    let outcome = follow(server, started, &mut progress).await;
    progress.end();
    outcome
}

async fn follow(
    server: &Server,
    started: ScavengeStatusBody,
    progress: &mut Progress,
) -> anyhow::Result<ScavengeStatusBody> {
    progress.show(&started);
    let mut status = started;
    let mut failures = 0;
    while status.state == "running" {
        tokio::time::sleep(POLL_INTERVAL).await;
        // A server that does not answer for a moment (busy, a dropped
        // connection) is waited for; one gone for good ends the wait after
        // `POLL_FAILURES_MAX` tries in a row.
        let (code, body) = match server.request(Method::GET, "/admin/scavenge", None).await {
            Ok(answer) => answer,
            Err(error) => {
                failures += 1;
                if failures >= POLL_FAILURES_MAX {
                    return Err(error.context(format!("following scavenge {}", status.id)));
                }
                continue;
            }
        };
        failures = 0;
        if code != StatusCode::OK {
            bail!("following scavenge {}: HTTP {code}: {}", status.id, error_text(&body));
        }
        let latest = parse_status(&body)?;
        if latest.id != status.id {
            bail!("scavenge {} is no longer the server's latest ({} is); its outcome is unknown", status.id, latest.id);
        }
        status = latest;
        progress.show(&status);
    }
    Ok(status)
}

fn print_status(status: &ScavengeStatusBody) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(status).context("encoding the status")?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}").context("writing the status")?;
    stdout.flush().context("writing the status")
}

fn parse_status(body: &[u8]) -> anyhow::Result<ScavengeStatusBody> {
    serde_json::from_slice(body)
        .with_context(|| format!("the server answered something other than a scavenge status: {}", text_of(body)))
}

/// The `error` of an error body, or the body itself.
fn error_text(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|value| value.get("error").and_then(|error| error.as_str()).map(str::to_owned))
        .unwrap_or_else(|| text_of(body))
}

fn text_of(body: &[u8]) -> String {
    String::from_utf8_lossy(body).trim().to_owned()
}

/// Progress on stderr: a bar redrawn in place on a terminal, otherwise one
/// plain line each time the count of segments done changes.
struct Progress {
    terminal: bool,
    drawn: bool,
    last_line: Option<(u64, String)>,
}

const BAR_WIDTH: u64 = 30;

impl Progress {
    fn new(terminal: bool) -> Self {
        Self { terminal, drawn: false, last_line: None }
    }

    fn show(&mut self, status: &ScavengeStatusBody) {
        let summary = format!(
            "{}/{} segments, {} reclaimed",
            status.segments_done,
            status.segments_total,
            human_bytes(status.bytes_reclaimed)
        );
        let mut stderr = std::io::stderr().lock();
        // Progress is a courtesy: a closed stderr must not stop the wait.
        if self.terminal {
            let filled = status.segments_done.saturating_mul(BAR_WIDTH).checked_div(status.segments_total).unwrap_or(0);
            let filled = filled.min(BAR_WIDTH);
            let bar = format!(
                "{}{}",
                "#".repeat(usize::try_from(filled).unwrap_or(0)),
                "-".repeat(usize::try_from(BAR_WIDTH - filled).unwrap_or(0))
            );
            let _ = write!(stderr, "\r\x1b[2Kscavenge {} [{bar}] {summary}", status.id);
            self.drawn = true;
        } else {
            let key = (status.segments_done, status.state.clone());
            if self.last_line.as_ref() != Some(&key) {
                let _ = writeln!(stderr, "scavenge {} {}: {summary}", status.id, status.state);
                self.last_line = Some(key);
            }
        }
        let _ = stderr.flush();
    }

    /// Ends the redrawn line, so that what follows starts on its own.
    fn end(&mut self) {
        if self.drawn {
            let _ = writeln!(std::io::stderr());
            self.drawn = false;
        }
    }
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    match UNITS.get(unit) {
        Some(&"B") | None => format!("{bytes} B"),
        Some(name) => format!("{value:.1} {name}"),
    }
}

/// Where the server is: `host:port` to connect to, and the path prefix its
/// API lives under (empty unless the address names one).
pub(crate) struct Server {
    authority: String,
    base_path: String,
    /// For `https://`: the connector trusting `tlsCaFile`, and the host name
    /// the server's certificate must carry.
    tls: Option<(tokio_rustls::TlsConnector, rustls::pki_types::ServerName<'static>)>,
    /// `Basic …` from `https://user:password@host`, sent over TLS only.
    authorization: Option<String>,
}

impl Server {
    pub(crate) fn parse(address: &str) -> anyhow::Result<Self> {
        let uri: Uri = address.parse().with_context(|| format!("`{address}` is not an HTTP address"))?;
        let secure = match uri.scheme_str() {
            Some("http") | None => false,
            Some("https") => true,
            Some(other) => bail!("`{address}`: the scheme must be http or https, not {other}"),
        };
        let host = uri.host().filter(|host| !host.is_empty()).ok_or_else(|| anyhow!("`{address}` names no host"))?;
        let tls = if secure {
            let ca_file = uri
                .query()
                .unwrap_or("")
                .split('&')
                .find_map(|pair| pair.split_once('=').filter(|(key, _)| key.eq_ignore_ascii_case("tlsCaFile")))
                .map(|(_, path)| std::path::PathBuf::from(path))
                .ok_or_else(|| anyhow!("`{address}`: https needs the CA certificate as `?tlsCaFile=PATH`"))?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            Some(eventfold_client::tls_connector(&ca_file, host, b"http/1.1")?)
        } else {
            None
        };
        let port = uri.port_u16().unwrap_or(2113);
        let authority = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let base_path = uri.path().trim_end_matches('/').to_owned();
        let user_info = uri.authority().and_then(|authority| authority.as_str().rsplit_once('@')).map(|(info, _)| info);
        let authorization = match (secure, user_info) {
            (true, Some(info)) => {
                let (login, password) = info.split_once(':').unwrap_or((info, ""));
                Some(eventfold_client::basic_authorization(login, password))
            }
            _ => None,
        };
        Ok(Self { authority, base_path, tls, authorization })
    }

    /// One request on a fresh connection; the status and the whole body.
    async fn request(&self, method: Method, path: &str, body: Option<String>) -> anyhow::Result<(StatusCode, Bytes)> {
        self.request_within(method, path, body, REQUEST_TIMEOUT).await
    }

    /// As [`Self::request`], for a request the server takes `limit` to answer.
    pub(crate) async fn request_within(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
        limit: Duration,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        let exchange = self.exchange(method.clone(), path, body);
        tokio::time::timeout(limit, exchange)
            .await
            .map_err(|_| anyhow!("{method} {path} on {}: no answer within {limit:?}", self.authority))?
    }

    async fn exchange(&self, method: Method, path: &str, body: Option<String>) -> anyhow::Result<(StatusCode, Bytes)> {
        let what = || format!("{method} {path} on {}", self.authority);
        let stream = tokio::net::TcpStream::connect(&self.authority)
            .await
            .with_context(|| format!("connecting to {}", self.authority))?;
        let (mut sender, connection) = match &self.tls {
            None => http1_handshake(stream).await.with_context(what)?,
            Some((connector, name)) => {
                let secured = connector
                    .connect(name.clone(), stream)
                    .await
                    .with_context(|| format!("TLS with {}", self.authority))?;
                http1_handshake(secured).await.with_context(what)?
            }
        };
        // The connection is driven apart from the request; it ends when the
        // sender is dropped or the server closes it.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let mut request = Request::builder()
            .method(method.clone())
            .uri(format!("{}{path}", self.base_path))
            .header(header::HOST, &self.authority);
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        if let Some(authorization) = &self.authorization {
            request = request.header(header::AUTHORIZATION, authorization);
        }
        let request = request.body(Full::new(Bytes::from(body.unwrap_or_default()))).with_context(what)?;
        let response = sender.send_request(request).await.with_context(what)?;
        let code = response.status();
        let body = response.into_body().collect().await.with_context(what)?.to_bytes();
        Ok((code, body))
    }
}

/// An HTTP/1.1 connection over `stream` (plaintext or TLS), its connection
/// future boxed so that both kinds of stream give the same type.
async fn http1_handshake<S>(
    stream: S,
) -> hyper::Result<(hyper::client::conn::http1::SendRequest<Full<Bytes>>, BoxFuture<'static, ()>)>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    Ok((
        sender,
        Box::pin(async move {
            let _ = connection.await;
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses_parse_to_a_host_port_and_prefix() {
        let server = Server::parse("http://127.0.0.1:2113").expect("parse");
        assert_eq!((server.authority.as_str(), server.base_path.as_str()), ("127.0.0.1:2113", ""));
        let server = Server::parse("localhost").expect("parse");
        assert_eq!(server.authority, "localhost:2113");
        let server = Server::parse("http://[::1]:9000/db/").expect("parse");
        assert_eq!((server.authority.as_str(), server.base_path.as_str()), ("[::1]:9000", "/db"));
        assert!(Server::parse("https://example.com").is_err(), "https without tlsCaFile");
        assert!(Server::parse("ftp://example.com").is_err());
        assert!(Server::parse("http://").is_err());
    }

    #[test]
    fn byte_counts_read_as_binary_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
    }
}
