//! Shared by the integration tests that run the real engine: the server on
//! loopback over a data directory, and a channel to it.

#![allow(dead_code, reason = "each test file uses a different part")]

pub mod groups;
pub mod http;
pub mod scrape;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use eventfold_engine::{Engine, EngineConfig};
use eventfold_node::{Node, NodeOptions};
use eventfold_server::ConnectionLimits;
use eventfold_store::EventStore;

/// How a test server presents itself and treats connections.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub node: NodeOptions,
    pub connections: ConnectionLimits,
}

impl Default for ServeOptions {
    /// Projections off: they write their registrations to the log at start,
    /// and these tests check what a face wrote and read; projections have
    /// tests of their own.
    fn default() -> Self {
        let mut node = NodeOptions::default();
        node.projections.run = eventfold_projections::RunProjections::None;
        Self { node, connections: ConnectionLimits::default() }
    }
}

pub struct Running {
    pub address: SocketAddr,
    pub engine: Engine,
    pub node: Node,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

pub fn open_engine(dir: &tempfile::TempDir) -> Engine {
    Engine::open(EngineConfig::new(dir.path())).expect("open the engine")
}

/// Serves `engine` on a free loopback port.
pub async fn serve(engine: Engine) -> Running {
    serve_with(engine, "127.0.0.1:0", ServeOptions::default()).await
}

/// Serves `engine` with KurrentDB's HTTP stream API on.
pub async fn serve_with_atom_pub(engine: Engine) -> Running {
    let mut options = ServeOptions::default();
    options.node.atom_pub_over_http = true;
    serve_with(engine, "127.0.0.1:0", options).await
}

/// A server with authentication on, in a fresh directory, and `users`
/// (login, password, groups) created by the admin.
pub async fn secure_server_with_users(users: &[(&str, &str, &[&str])]) -> (tempfile::TempDir, Running) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut options = ServeOptions::default();
    options.node.authentication = true;
    let server = serve_with(open_engine(&dir), "127.0.0.1:0", options).await;
    let subsystem = server.node.users().expect("authentication is on");
    let admin = eventfold_store::Principal::user("admin", vec!["$admins".into()]);
    for (login, password, groups) in users {
        let user = eventfold_users::NewUser {
            login: (*login).into(),
            full_name: (*login).into(),
            password: (*password).into(),
            groups: groups.iter().map(|group| (*group).to_owned()).collect(),
        };
        subsystem.create(&admin, user).await.expect("user created");
    }
    (dir, server)
}

/// Serves `engine` on `listen` (a port of 0 picks a free one) with `options`.
pub async fn serve_with(engine: Engine, listen: &str, options: ServeOptions) -> Running {
    let store: Arc<dyn EventStore> = Arc::new(engine.clone());
    let listener = tokio::net::TcpListener::bind(listen).await.expect("bind");
    let address = listener.local_addr().expect("address");
    let node = Node::start(store, options.node, address).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(eventfold_server::serve(node.clone(), listener, options.connections, None, async {
        let _ = stopped.await;
    }));
    Running { address, engine, node, stop, server }
}

impl Running {
    pub async fn channel(&self) -> tonic::transport::Channel {
        // A server bound to every interface is reached on loopback.
        let port = self.address.port();
        tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{port}"))
            .expect("uri")
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .connect()
            .await
            .expect("connect")
    }

    /// Stops the server, which must stop cleanly, then the engine.
    pub async fn finish(self) {
        let _ = self.stop.send(());
        let result = tokio::time::timeout(Duration::from_secs(10), self.server).await;
        assert!(matches!(result, Ok(Ok(Ok(())))), "server stops cleanly: {result:?}");
        self.engine.shutdown().await;
    }
}
