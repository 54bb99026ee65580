//! Several nodes on one database (PG-9): each node records itself in
//! `eventfold_nodes` at every heartbeat, and one of them holds the leader
//! lease in `eventfold_leader_lease`. Expiry is decided by the database's
//! clock (`now()`), so the nodes' clocks need not agree. Taking or extending
//! the lease is one conditional upsert: a node gets it when it holds it
//! already or when it has expired, so two nodes never both succeed.

use std::time::Duration;

use async_trait::async_trait;
use eventfold_store::{ClusterView, Coordination, NodeAnnouncement, NodeEndpoint, PeerNode, StorageError};

use crate::PostgresStore;
use crate::errors::{pool as pool_error, storage};

/// Nodes not heard from for this many lease times leave the list.
const FORGET_AFTER_LEASES: f64 = 60.0;

#[async_trait]
impl Coordination for PostgresStore {
    async fn heartbeat(&self, me: &NodeAnnouncement, lease: Duration) -> Result<ClusterView, StorageError> {
        let mut client = self.pool().get().await.map_err(|error| pool_error(&error))?;
        let transaction = client.transaction().await.map_err(|error| storage(&error))?;
        let lease_seconds = lease.as_secs_f64();
        let port = i32::from(me.endpoint.port);
        transaction
            .execute(
                "INSERT INTO eventfold_nodes (instance_id, host, port, seen_at) VALUES ($1, $2, $3, now())
                 ON CONFLICT (instance_id) DO UPDATE SET host = $2, port = $3, seen_at = now()",
                &[&me.instance_id, &me.endpoint.host, &port],
            )
            .await
            .map_err(|error| storage(&error))?;
        // A holder that clients reach where this node is reached is this
        // node's previous run (a process killed and started again: two live
        // nodes cannot serve one endpoint), so its lease is taken at once
        // rather than after it expires.
        transaction
            .execute(
                "INSERT INTO eventfold_leader_lease (id, holder, expires_at)
                 VALUES (1, $1, now() + make_interval(secs => $2))
                 ON CONFLICT (id) DO UPDATE SET holder = $1, expires_at = now() + make_interval(secs => $2)
                 WHERE eventfold_leader_lease.holder = $1 OR eventfold_leader_lease.expires_at < now()
                    OR eventfold_leader_lease.holder IN
                       (SELECT instance_id FROM eventfold_nodes WHERE host = $3 AND port = $4)",
                &[&me.instance_id, &lease_seconds, &me.endpoint.host, &port],
            )
            .await
            .map_err(|error| storage(&error))?;
        transaction
            .execute(
                "DELETE FROM eventfold_nodes WHERE host = $2 AND port = $3 AND instance_id <> $1",
                &[&me.instance_id, &me.endpoint.host, &port],
            )
            .await
            .map_err(|error| storage(&error))?;
        transaction
            .execute(
                "DELETE FROM eventfold_nodes WHERE seen_at < now() - make_interval(secs => $1)",
                &[&(lease_seconds * FORGET_AFTER_LEASES)],
            )
            .await
            .map_err(|error| storage(&error))?;
        let leader = transaction
            .query_opt("SELECT holder FROM eventfold_leader_lease WHERE id = 1 AND expires_at >= now()", &[])
            .await
            .map_err(|error| storage(&error))?
            .map(|row| row.get::<_, uuid::Uuid>(0));
        let rows = transaction
            .query(
                "SELECT instance_id, host, port, EXTRACT(EPOCH FROM now() - seen_at)::float8
                 FROM eventfold_nodes ORDER BY instance_id",
                &[],
            )
            .await
            .map_err(|error| storage(&error))?;
        transaction.commit().await.map_err(|error| storage(&error))?;
        let peers = rows
            .iter()
            .map(|row| {
                let seen_ago = row.get::<_, f64>(3).max(0.0);
                PeerNode {
                    instance_id: row.get(0),
                    endpoint: NodeEndpoint { host: row.get(1), port: u16::try_from(row.get::<_, i32>(2)).unwrap_or(0) },
                    alive: seen_ago <= lease_seconds,
                    last_seen_ago: Duration::from_secs_f64(seen_ago),
                }
            })
            .collect();
        Ok(ClusterView { peers, leader })
    }

    async fn leave(&self, me: &NodeAnnouncement) -> Result<(), StorageError> {
        let client = self.pool().get().await.map_err(|error| pool_error(&error))?;
        client
            .execute("DELETE FROM eventfold_leader_lease WHERE id = 1 AND holder = $1", &[&me.instance_id])
            .await
            .map_err(|error| storage(&error))?;
        client
            .execute("DELETE FROM eventfold_nodes WHERE instance_id = $1", &[&me.instance_id])
            .await
            .map_err(|error| storage(&error))?;
        Ok(())
    }
}
