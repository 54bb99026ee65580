//! Goal: nodes on one database agree on one leader (PG-9). The first
//! heartbeat takes the lease, another node sees it held; the holder keeps
//! it by renewing; when it stops renewing another node takes it once it
//! expires, and at once when the holder leaves.

use std::time::Duration;

use eventfold_postgres::{PostgresConfig, PostgresStore};
use eventfold_store::{Coordination, NodeAnnouncement, NodeEndpoint};
use eventfold_testkit::pg_server::PgServer;
use uuid::Uuid;

fn node(port: u16) -> NodeAnnouncement {
    NodeAnnouncement { instance_id: Uuid::new_v4(), endpoint: NodeEndpoint { host: "127.0.0.1".into(), port } }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_at_a_time_and_a_takeover_when_it_stops() {
    let Some(server) = PgServer::for_test() else { return };
    server.create_database("lease").expect("createdb");
    let url = server.url("lease");
    // Two nodes: each its own store (pool) on the same database.
    let first_store = PostgresStore::open(PostgresConfig::new(&url)).await.expect("open");
    let second_store = PostgresStore::open(PostgresConfig::new(&url)).await.expect("open");
    let (first, second) = (node(1), node(2));
    let lease = Duration::from_millis(800);

    let view = first_store.heartbeat(&first, lease).await.expect("heartbeat");
    assert_eq!(view.leader, Some(first.instance_id), "a free lease goes to the first node that asks");
    let view = second_store.heartbeat(&second, lease).await.expect("heartbeat");
    assert_eq!(view.leader, Some(first.instance_id), "a held lease is not taken");
    assert_eq!(view.leader_endpoint(), Some(&first.endpoint));
    assert_eq!(view.peers.len(), 2);
    assert!(view.peers.iter().all(|peer| peer.alive));

    // Renewed within the lease, it stays with the holder however long.
    for _ in 0..4 {
        tokio::time::sleep(lease / 4).await;
        assert_eq!(first_store.heartbeat(&first, lease).await.expect("renew").leader, Some(first.instance_id));
        assert_eq!(second_store.heartbeat(&second, lease).await.expect("ask").leader, Some(first.instance_id));
    }

    // The holder goes silent: after the lease, the other node takes it, and
    // the silent one is no longer alive.
    tokio::time::sleep(lease + Duration::from_millis(200)).await;
    let view = second_store.heartbeat(&second, lease).await.expect("take over");
    assert_eq!(view.leader, Some(second.instance_id));
    let silent = view.peers.iter().find(|peer| peer.instance_id == first.instance_id).expect("still listed");
    assert!(!silent.alive);
    // It comes back: the lease stays where it is now.
    assert_eq!(first_store.heartbeat(&first, lease).await.expect("back").leader, Some(second.instance_id));

    // Leaving gives the lease up at once and leaves the list.
    second_store.leave(&second).await.expect("leave");
    let view = first_store.heartbeat(&first, lease).await.expect("heartbeat");
    assert_eq!(view.leader, Some(first.instance_id));
    assert!(view.peers.iter().all(|peer| peer.instance_id != second.instance_id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_started_again_where_it_ran_takes_its_lease_back_at_once() {
    let Some(server) = PgServer::for_test() else { return };
    server.create_database("restart").expect("createdb");
    let url = server.url("restart");
    let store = PostgresStore::open(PostgresConfig::new(&url)).await.expect("open");
    let lease = Duration::from_secs(60);
    let (before, other) = (node(2113), node(2114));
    assert_eq!(store.heartbeat(&before, lease).await.expect("first run").leader, Some(before.instance_id));
    store.heartbeat(&other, lease).await.expect("another node");
    // Killed, started again on the same endpoint with a new instance id: it
    // leads at once, not a minute later, and its previous run is forgotten.
    let again = NodeAnnouncement { instance_id: Uuid::new_v4(), endpoint: before.endpoint.clone() };
    let view = store.heartbeat(&again, lease).await.expect("second run");
    assert_eq!(view.leader, Some(again.instance_id));
    assert!(view.peers.iter().all(|peer| peer.instance_id != before.instance_id));
    // Another endpoint does not take a held lease.
    assert_eq!(store.heartbeat(&other, lease).await.expect("ask").leader, Some(again.instance_id));
}
