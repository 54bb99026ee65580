//! `GET /metrics` over a plain socket and a small parser of the Prometheus
//! text format, for the metrics tests.

use std::collections::HashMap;

/// An HTTP/1.1 GET over a plain socket; returns (status line, body).
pub async fn get(address: std::net::SocketAddr, path: &str) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(address).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    socket.write_all(request.as_bytes()).await.expect("send");
    let mut response = String::new();
    socket.read_to_string(&mut response).await.expect("receive");
    let (head, body) = response.split_once("\r\n\r\n").expect("a whole response");
    let status = head.lines().next().unwrap_or_default().to_owned();
    // The exporter's text is sent in one piece or chunked; undo the chunks.
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { unchunk(body) } else { body.to_owned() };
    (status, body)
}

fn unchunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).expect("chunk size");
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

/// One sample of the text format: name, labels, value.
#[derive(Debug)]
pub struct Sample {
    pub name: String,
    pub labels: HashMap<String, String>,
    pub value: f64,
}

/// A small parser of the Prometheus text format (version 0.0.4): every
/// line is a comment, blank, or `name{label="value",...} value`. It fails
/// the test on any line it cannot read, and checks each `# TYPE` is one of
/// the four types and comes before its samples.
pub fn parse(text: &str) -> Vec<Sample> {
    let mut typed: HashMap<String, String> = HashMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix("# ") {
            let mut words = comment.split_whitespace();
            if words.next() == Some("TYPE") {
                let name = words.next().expect("TYPE names a metric").to_owned();
                let kind = words.next().expect("TYPE gives a type").to_owned();
                assert!(["counter", "gauge", "histogram", "summary"].contains(&kind.as_str()), "type of {line}");
                assert!(typed.insert(name, kind).is_none(), "one TYPE per metric: {line}");
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            value => value.parse().unwrap_or_else(|_| panic!("bad value: {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => (name, labels.strip_suffix('}').unwrap_or_else(|| panic!("open labels: {line}"))),
            None => (series, ""),
        };
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "metric name of {line}"
        );
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| {
                name.strip_suffix(suffix).filter(|base| typed.get(*base).is_some_and(|t| t == "histogram"))
            })
            .unwrap_or(name);
        assert!(typed.contains_key(family), "a TYPE before the samples of {name}");
        samples.push(Sample { name: name.to_owned(), labels: parse_labels(labels, line), value });
    }
    samples
}

fn parse_labels(mut text: &str, line: &str) -> HashMap<String, String> {
    let mut labels = HashMap::new();
    while !text.is_empty() {
        let (key, rest) = text.split_once("=\"").unwrap_or_else(|| panic!("label of {line}"));
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, escaped)) => value.push(escaped),
                    None => panic!("escape at the end of {line}"),
                },
                Some((index, '"')) => break index,
                Some((_, c)) => value.push(c),
                None => panic!("unterminated label value in {line}"),
            }
        };
        labels.insert(key.to_owned(), value);
        text = rest[end + 1..].trim_start_matches(',');
    }
    labels
}

/// The value of the one sample named `name` with at least `labels`.
pub fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|sample| {
            sample.name == name
                && labels.iter().all(|(key, value)| sample.labels.get(*key).is_some_and(|actual| actual == value))
        })
        .map(|sample| sample.value)
}
