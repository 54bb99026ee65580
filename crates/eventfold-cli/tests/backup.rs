//! Goal: `eventfold admin backup` of a running server (while a writer
//! appends) and `eventfold admin restore` give a data directory a new
//! server starts on with every event acknowledged before the backup; a
//! stopped directory backs up with `--db`; a tampered backup, a directory
//! that is not a backup and a non-empty target are refused with the file
//! named.

mod cli_support;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use cli_support::{fails, json_lines, ok};
use eventfold_client::{Client, Expected, ProposedEvent};
use support::start;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_server_backs_up_under_load_and_the_restore_serves_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(&dir.path().join("db"));
    let url = format!("http://{}", server.address);
    let client = Client::connect(&url).await.expect("connect");
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (client, stop) = (client.clone(), Arc::clone(&stop));
        tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let event = ProposedEvent::json("Written", format!(r#"{{"n":{}}}"#, acknowledged.len()));
                let written = client.append("load", Expected::Any, vec![event]).await.expect("append");
                acknowledged.push(written.position.expect("a position"));
            }
            acknowledged
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let backup_dir = dir.path().join("backup");
    let backup_path = backup_dir.to_str().expect("path").to_owned();
    let report = tokio::task::spawn_blocking({
        let (backup_path, url) = (backup_path.clone(), url.clone());
        move || ok(&["admin", "backup", &backup_path, "--server", &url])
    })
    .await
    .expect("backup");
    stop.store(true, Ordering::Relaxed);
    let acknowledged = writer.await.expect("writer");
    let report: serde_json::Value = serde_json::from_str(&report).expect("a JSON report");
    let durable_end = report["durable_end"].as_u64().expect("durable_end");
    let expected = acknowledged.iter().filter(|position| **position < durable_end).count();
    assert!(expected > 0);

    let restored_path = dir.path().join("restored");
    let restored_text = restored_path.to_str().expect("path").to_owned();
    ok(&["admin", "restore", &backup_path, "--db", &restored_text]);
    let restored = start(&restored_path);
    let restored_url = format!("http://{}", restored.address);
    let events = json_lines(&ok(&["read", "load", "--server", &restored_url]));
    assert_eq!(events.len(), expected, "every acknowledged event before the durable point, once");
    for (index, event) in events.iter().enumerate() {
        assert_eq!(event["revision"].as_u64(), Some(index as u64));
    }

    // Refusals, each naming what is wrong.
    assert!(fails(&["admin", "restore", &backup_path, "--db", &restored_text]).contains("not empty"));
    let not_a_backup = dir.path().to_str().expect("path").to_owned();
    assert!(fails(&["admin", "restore", &not_a_backup, "--db", "/tmp/never"]).contains("manifest.json"));
    let segment = std::fs::read_dir(backup_dir.join("log"))
        .expect("list")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .min()
        .expect("a segment");
    let mut bytes = std::fs::read(&segment).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&segment, &bytes).expect("tamper");
    let refused = fails(&["admin", "restore", &backup_path, "--db", &dir.path().join("r2").to_string_lossy()]);
    assert!(refused.contains(&*segment.to_string_lossy()) && refused.contains("checksum"), "{refused}");
    assert!(fails(&["admin", "backup", "relative", "--server", "http://127.0.0.1:1"]).contains("connecting"));
}

#[test]
fn a_stopped_directory_backs_up_offline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    {
        let server = start(&db);
        let url = format!("http://{}", server.address);
        ok(&["append", "s", "--type", "T", "--data", "{}", "--server", &url]);
        // A running server holds the directory: the offline backup refuses.
        let refused =
            fails(&["admin", "backup", &dir.path().join("b0").to_string_lossy(), "--db", &db.to_string_lossy()]);
        assert!(refused.contains("in use"), "{refused}");
    }
    let backup = dir.path().join("b1");
    ok(&["admin", "backup", &backup.to_string_lossy(), "--db", &db.to_string_lossy()]);
    let restored = dir.path().join("restored");
    ok(&["admin", "restore", &backup.to_string_lossy(), "--db", &restored.to_string_lossy()]);
    let server = start(&restored);
    let events = json_lines(&ok(&["read", "s", "--server", &format!("http://{}", server.address)]));
    assert_eq!(events.len(), 1);
    assert!(
        fails(&["admin", "backup", "x", "--db", &dir.path().join("nothing").to_string_lossy()])
            .contains("not a data directory")
    );
}
