//! Goal: a node killed with SIGKILL in the middle of appends loses nothing
//! it acknowledged. A child process (this test binary, re-run as a writer)
//! appends through its own `PostgresStore` and prints each acknowledged
//! event id with its position; the parent kills it mid-stream, opens the
//! database as another node, and finds every acknowledged event exactly
//! once, at the position it was acknowledged with, and no event twice.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventfold_postgres::{PostgresConfig, PostgresStore};
use eventfold_store::{AppendRequest, EventStore, ExpectedRevision, ProposedEvent, ReadAllRequest, StreamName};
use eventfold_testkit::pg_server::PgServer;
use futures::TryStreamExt;

const WRITER_URL: &str = "EVENTFOLD_KILLED_NODE_URL";

/// The child: appends from a few tasks until killed, one line per ack.
async fn write_until_killed(url: String) {
    let store = Arc::new(PostgresStore::open(PostgresConfig::new(url)).await.expect("open"));
    let mut tasks = Vec::new();
    for writer in 0..4 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let stream = StreamName::new(format!("killed-{}", writer % 2)).expect("name");
            loop {
                let events: Vec<ProposedEvent> = (0..3).map(|_| ProposedEvent::json("Probe", "{}")).collect();
                let ids: Vec<String> = events.iter().map(|event| event.id.to_string()).collect();
                let outcome = store
                    .append(AppendRequest::new(stream.clone(), ExpectedRevision::Any, events))
                    .await
                    .expect("append");
                let position = outcome.position.expect("a position").0;
                // One write per line: a kill leaves whole lines or a cut last one.
                println!("ACK {position} {}", ids.join(","));
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_append_loses_nothing_it_acknowledged() {
    if let Ok(url) = std::env::var(WRITER_URL) {
        write_until_killed(url).await;
        return;
    }
    let Some(server) = PgServer::for_test() else { return };
    server.create_database("killed").expect("createdb");
    let url = server.url("killed");
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["a_node_killed_mid_append_loses_nothing_it_acknowledged", "--exact", "--nocapture"])
        .env(WRITER_URL, &url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the writer");
    let stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout).lines().map_while(Result::ok).filter(|line| line.starts_with("ACK ")).collect::<Vec<_>>()
    });
    // Let it get going, then kill it wherever it is.
    let started = Instant::now();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let lines = reader.join().expect("reader");
    assert!(!lines.is_empty(), "the writer acknowledged nothing in {:?}", started.elapsed());

    let mut acknowledged: HashMap<String, u64> = HashMap::new();
    for line in &lines {
        let mut parts = line.split(' ').skip(1);
        let (Some(position), Some(ids)) = (parts.next(), parts.next()) else { continue };
        let Ok(position) = position.parse::<u64>() else { continue };
        let ids: Vec<&str> = ids.split(',').collect();
        // A cut last line may hold fewer ids: only whole lines count.
        if ids.len() != 3 || ids.iter().any(|id| id.len() != 36) {
            continue;
        }
        if let Some(last) = ids.last() {
            acknowledged.insert((*last).to_owned(), position);
        }
        for id in &ids {
            acknowledged.entry((*id).to_owned()).or_insert(0);
        }
    }
    // Another node on the same database; its sequencer numbers whatever the
    // dead one committed but never numbered.
    let node = PostgresStore::open(PostgresConfig::new(&url)).await.expect("open");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let all: Vec<_> = node.read_all(ReadAllRequest::forwards()).await.expect("read").try_collect().await.expect("all");
    let mut found: HashMap<String, (u64, usize)> = HashMap::new();
    for event in &all {
        let entry = found.entry(event.id.to_string()).or_insert((event.position.0, 0));
        entry.1 += 1;
    }
    assert!(found.values().all(|(_, count)| *count == 1), "no event is stored twice");
    for (id, position) in &acknowledged {
        let (stored, _) = found.get(id).unwrap_or_else(|| panic!("acknowledged event {id} is missing"));
        if *position != 0 {
            assert_eq!(stored, position, "event {id} keeps the position it was acknowledged with");
        }
    }
    eprintln!("{} events acknowledged before the kill, {} stored", acknowledged.len(), all.len());
}
