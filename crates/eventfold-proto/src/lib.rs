//! Generated protocol types and services, one module per protobuf package,
//! and the codec they use. Otherwise only code generated from `proto/` lives
//! here.

#![allow(clippy::all, clippy::pedantic, missing_docs, unreachable_pub)]

pub mod codec;

pub mod google {
    pub mod rpc {
        tonic::include_proto!("google.rpc");
    }
}

pub mod event_store {
    pub mod client {
        tonic::include_proto!("event_store.client");

        pub mod streams {
            tonic::include_proto!("event_store.client.streams");
        }
        pub mod server_features {
            tonic::include_proto!("event_store.client.server_features");
        }
        pub mod gossip {
            tonic::include_proto!("event_store.client.gossip");
        }
        pub mod persistent_subscriptions {
            tonic::include_proto!("event_store.client.persistent_subscriptions");
        }
        pub mod operations {
            tonic::include_proto!("event_store.client.operations");
        }
        pub mod projections {
            tonic::include_proto!("event_store.client.projections");
        }
        pub mod users {
            tonic::include_proto!("event_store.client.users");
        }
    }
}

pub mod kurrentdb {
    pub mod protocol {
        pub mod v2 {
            pub mod streams {
                tonic::include_proto!("kurrentdb.protocol.v2.streams");

                pub mod errors {
                    tonic::include_proto!("kurrentdb.protocol.v2.streams.errors");
                }
            }
        }
    }
}
