//! Goal: Gossip tells clients the host they should use: the one configured
//! to advertise, else the bound address, or `localhost` for a server bound to
//! every interface (not `0.0.0.0`, which no client can connect to).

use crate::support;

use eventfold_node::NodeOptions;
use eventfold_proto::event_store::client::Empty;
use eventfold_proto::event_store::client::gossip::gossip_client::GossipClient;
use support::ServeOptions;

async fn advertised(listen: &str, options: ServeOptions) -> (String, u32, u16) {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = support::serve_with(support::open_engine(&dir), listen, options).await;
    let mut gossip = GossipClient::new(running.channel().await);
    let cluster = gossip.read(Empty {}).await.expect("gossip read").into_inner();
    let port = running.address.port();
    running.finish().await;
    let endpoint = cluster.members.first().and_then(|member| member.http_end_point.clone()).expect("one member");
    (endpoint.address, endpoint.port, port)
}

#[tokio::test]
async fn gossip_advertises_the_configured_host_and_port() {
    let node =
        NodeOptions { advertise_host: Some("db.example".into()), advertise_port: Some(443), ..NodeOptions::default() };
    let options = ServeOptions { node, ..ServeOptions::default() };
    let (host, port, _) = advertised("127.0.0.1:0", options).await;
    assert_eq!((host.as_str(), port), ("db.example", 443));
}

#[tokio::test]
async fn gossip_advertises_the_bound_address_or_localhost_for_every_interface() {
    let (host, port, bound) = advertised("127.0.0.1:0", ServeOptions::default()).await;
    assert_eq!((host.as_str(), port), ("127.0.0.1", u32::from(bound)));
    let (host, port, bound) = advertised("0.0.0.0:0", ServeOptions::default()).await;
    assert_eq!((host.as_str(), port), ("localhost", u32::from(bound)));
}
