//! Goal: with authentication on, every request acts for its caller and the
//! access policy decides, the same over gRPC and HTTP: each `$acl` right
//! governs its operation for the user it names, the user's groups and
//! `$all`; wrong, missing or malformed credentials are refused as
//! unauthenticated; a disabled user is refused at once; guessing passwords
//! from one address is stopped while the server keeps serving; operations
//! are for `$ops` and `$admins`. A refused request writes nothing.

use crate::support;

use std::collections::HashMap;
use std::net::SocketAddr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use eventfold_proto::event_store::client::operations::StartScavengeReq;
use eventfold_proto::event_store::client::operations::operations_client::OperationsClient;
use eventfold_proto::event_store::client::server_features::server_features_client::ServerFeaturesClient;
use eventfold_proto::event_store::client::streams::read_req::options::{
    CountOption, FilterOption, ReadDirection, StreamOption, StreamOptions, UuidOption, stream_options, uuid_option,
};
use eventfold_proto::event_store::client::streams::streams_client::StreamsClient;
use eventfold_proto::event_store::client::streams::{
    AppendReq, DeleteReq, ReadReq, append_req, append_resp, delete_req, read_req,
};
use eventfold_proto::event_store::client::{Empty, StreamIdentifier};
use eventfold_store::{CurrentRevision, EventStore, Principal, StreamName};
use futures::TryStreamExt;
use serde_json::json;
use support::Running;
use support::http::{HttpResponse, request};
use tonic::transport::Channel;
use tonic::{Code, Status};

type Credentials = Option<(&'static str, &'static str)>;

const ADMIN: Credentials = Some(("admin", "changeit"));
const OPS: Credentials = Some(("ops", "changeit"));
/// In group `readers`.
const ALICE: Credentials = Some(("alice", "alice-pw"));
/// In no group.
const BOB: Credentials = Some(("bob", "bob-pw"));

async fn start() -> (tempfile::TempDir, Running) {
    support::secure_server_with_users(&[("alice", "alice-pw", &["readers"]), ("bob", "bob-pw", &[])]).await
}

fn basic(login: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{login}:{password}")))
}

fn with_credentials<T>(message: T, credentials: Credentials) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some((login, password)) = credentials {
        request.metadata_mut().insert("authorization", basic(login, password).parse().expect("ascii"));
    }
    request
}

fn identifier(stream: &str) -> Option<StreamIdentifier> {
    Some(StreamIdentifier { stream_name: stream.as_bytes().to_vec().into() })
}

async fn grpc_append(channel: &Channel, credentials: Credentials, stream: &str, data: &str) -> Result<(), Status> {
    let messages = vec![
        AppendReq {
            content: Some(append_req::Content::Options(append_req::Options {
                stream_identifier: identifier(stream),
                expected_stream_revision: Some(append_req::options::ExpectedStreamRevision::Any(Empty {})),
            })),
        },
        AppendReq {
            content: Some(append_req::Content::ProposedMessage(append_req::ProposedMessage {
                id: Some(eventfold_proto::event_store::client::Uuid {
                    value: Some(eventfold_proto::event_store::client::uuid::Value::String(
                        uuid::Uuid::new_v4().to_string(),
                    )),
                }),
                metadata: HashMap::from([
                    ("type".to_owned(), if stream.starts_with("$$") { "$metadata" } else { "Tested" }.to_owned()),
                    ("content-type".to_owned(), "application/json".to_owned()),
                ]),
                custom_metadata: Vec::new().into(),
                data: data.as_bytes().to_vec().into(),
            })),
        },
    ];
    let request = with_credentials(futures::stream::iter(messages), credentials);
    let response = StreamsClient::new(channel.clone()).append(request).await?.into_inner();
    match response.result {
        Some(append_resp::Result::Success(_)) => Ok(()),
        other => panic!("append answered {other:?}"),
    }
}

async fn grpc_read(channel: &Channel, credentials: Credentials, stream: &str) -> Result<usize, Status> {
    let message = ReadReq {
        options: Some(read_req::Options {
            stream_option: Some(StreamOption::Stream(StreamOptions {
                stream_identifier: identifier(stream),
                revision_option: Some(stream_options::RevisionOption::Start(Empty {})),
            })),
            read_direction: ReadDirection::Forwards as i32,
            resolve_links: false,
            count_option: Some(CountOption::Count(100)),
            filter_option: Some(FilterOption::NoFilter(Empty {})),
            uuid_option: Some(UuidOption { content: Some(uuid_option::Content::String(Empty {})) }),
            control_option: None,
        }),
    };
    let messages = StreamsClient::new(channel.clone()).read(with_credentials(message, credentials)).await?.into_inner();
    let messages: Vec<_> = messages.try_collect().await?;
    Ok(messages.len())
}

async fn grpc_delete(channel: &Channel, credentials: Credentials, stream: &str) -> Result<(), Status> {
    let message = DeleteReq {
        options: Some(delete_req::Options {
            stream_identifier: identifier(stream),
            expected_stream_revision: Some(delete_req::options::ExpectedStreamRevision::Any(Empty {})),
        }),
    };
    StreamsClient::new(channel.clone()).delete(with_credentials(message, credentials)).await.map(|_| ())
}

/// Whether the call was refused by the access policy (anything else, a
/// success or another error, means it was let through).
fn denied<T: std::fmt::Debug>(result: &Result<T, Status>) -> bool {
    match result {
        Err(status) if status.code() == Code::PermissionDenied => {
            let exception = status.metadata().get("exception").and_then(|value| value.to_str().ok());
            assert_eq!(exception, Some("access-denied"), "{status:?}");
            true
        }
        _ => false,
    }
}

fn acl_document(right: &str, role: &str) -> String {
    let mut acl = serde_json::Map::new();
    for key in ["$r", "$w", "$d", "$mr", "$mw"] {
        acl.insert(key.to_owned(), if key == right { json!(role) } else { json!([]) });
    }
    json!({ "$acl": acl }).to_string()
}

/// The operations of the matrix, each with the right that governs it.
const OPERATIONS: [(&str, &str); 5] =
    [("read", "$r"), ("read metadata", "$mr"), ("append", "$w"), ("write metadata", "$mw"), ("delete", "$d")];

const ROLES: [&str; 3] = ["alice", "readers", "$all"];

#[tokio::test]
async fn acl_matrix_over_grpc() {
    let (_dir, server) = start().await;
    let channel = server.channel().await;
    for (right_index, right) in ["$r", "$w", "$d", "$mr", "$mw"].into_iter().enumerate() {
        for (role_index, role) in ROLES.into_iter().enumerate() {
            for (user, login) in [(ALICE, "alice"), (BOB, "bob")] {
                // A stream of its own per case: a delete must not change the next.
                let stream = format!("matrix-{right_index}-{role_index}-{login}");
                let acl = acl_document(right, role);
                grpc_append(&channel, ADMIN, &stream, "{}").await.expect("admin appends");
                grpc_append(&channel, ADMIN, &format!("$${stream}"), &acl).await.expect("admin sets the ACL");
                let granted = login == "alice" || role == "$all";
                for (operation, governed_by) in OPERATIONS {
                    let refused = match operation {
                        "read" => denied(&grpc_read(&channel, user, &stream).await),
                        "read metadata" => denied(&grpc_read(&channel, user, &format!("$${stream}")).await),
                        "append" => denied(&grpc_append(&channel, user, &stream, "{}").await),
                        "write metadata" => denied(&grpc_append(&channel, user, &format!("$${stream}"), &acl).await),
                        _ => denied(&grpc_delete(&channel, user, &stream).await),
                    };
                    let allowed = governed_by == right && granted;
                    assert_eq!(!refused, allowed, "{login} {operation} with {right} = {role}");
                }
                // Anonymous callers have `$all`'s rights; refused, they are
                // asked for credentials.
                let anonymous = grpc_read(&channel, None, &stream).await;
                if right == "$r" && role == "$all" {
                    assert!(anonymous.is_ok(), "{anonymous:?}");
                } else {
                    assert_eq!(anonymous.expect_err("anonymous").code(), Code::Unauthenticated);
                }
            }
        }
    }
    server.finish().await;
}

async fn http(
    address: SocketAddr,
    method: &str,
    path: &str,
    credentials: Credentials,
    body: Option<serde_json::Value>,
) -> HttpResponse {
    let authorization = credentials.map(|(login, password)| basic(login, password));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(authorization) = authorization.as_deref() {
        headers.push(("authorization", authorization));
    }
    let body = body.map(|body| body.to_string()).unwrap_or_default();
    request(address, method, path, &headers, body.as_bytes()).await
}

fn http_denied(response: &HttpResponse) -> bool {
    if response.status == 403 {
        assert_eq!(response.json()["code"], "access-denied", "{response:?}");
        return true;
    }
    false
}

#[tokio::test]
async fn acl_matrix_over_http() {
    let (_dir, server) = start().await;
    let address = server.address;
    let event = json!({"events": [{"type": "Tested", "data": {}}]});
    for (right_index, right) in ["$r", "$w", "$d", "$mr", "$mw"].into_iter().enumerate() {
        for (role_index, role) in ROLES.into_iter().enumerate() {
            for (user, login) in [(ALICE, "alice"), (BOB, "bob")] {
                let stream = format!("matrix-{right_index}-{role_index}-{login}");
                let path = format!("/api/v1/streams/{stream}");
                let metadata_path = format!("{path}/metadata");
                let acl: serde_json::Value = serde_json::from_str(&acl_document(right, role)).expect("json");
                let metadata = json!({"metadata": acl});
                assert_eq!(http(address, "POST", &path, ADMIN, Some(event.clone())).await.status, 200);
                assert_eq!(http(address, "PUT", &metadata_path, ADMIN, Some(metadata.clone())).await.status, 200);
                let granted = login == "alice" || role == "$all";
                for (operation, governed_by) in OPERATIONS {
                    let response = match operation {
                        "read" => http(address, "GET", &path, user, None).await,
                        "read metadata" => http(address, "GET", &metadata_path, user, None).await,
                        "append" => http(address, "POST", &path, user, Some(event.clone())).await,
                        "write metadata" => http(address, "PUT", &metadata_path, user, Some(metadata.clone())).await,
                        _ => http(address, "DELETE", &path, user, None).await,
                    };
                    let allowed = governed_by == right && granted;
                    assert_eq!(
                        !http_denied(&response),
                        allowed,
                        "{login} {operation} with {right} = {role}: {response:?}"
                    );
                }
                let anonymous = http(address, "GET", &metadata_path, None, None).await;
                if right == "$mr" && role == "$all" {
                    assert_eq!(anonymous.status, 200, "{anonymous:?}");
                } else {
                    assert_eq!(anonymous.status, 401, "{anonymous:?}");
                    assert!(anonymous.header("www-authenticate").is_some_and(|value| value.starts_with("Basic")));
                }
            }
        }
    }
    server.finish().await;
}

#[tokio::test]
async fn built_in_defaults_keep_system_streams_and_all_for_admins() {
    let (_dir, server) = start().await;
    let channel = server.channel().await;
    grpc_append(&channel, ALICE, "order-1", "{}").await.expect("users write user streams by default");
    grpc_read(&channel, BOB, "order-1").await.expect("and read them");
    for stream in ["$ce-order", "$users", "$user-admin", "$settings"] {
        assert!(denied(&grpc_read(&channel, ALICE, stream).await), "{stream}");
        assert!(denied(&grpc_read(&channel, OPS, stream).await), "{stream}");
    }
    assert!(grpc_read(&channel, ADMIN, "$user-admin").await.is_ok());
    assert!(denied(&grpc_append(&channel, ALICE, "$settings", r#"{"$userStreamAcl": {"$r": "$all"}}"#).await));
    let all = http(server.address, "GET", "/api/v1/all", ALICE, None).await;
    assert_eq!(all.status, 403, "{all:?}");
    assert_eq!(http(server.address, "GET", "/api/v1/all", ADMIN, None).await.status, 200);
    // `$settings` changes the defaults.
    let settings = r#"{"$userStreamAcl": {"$r": "$admins", "$w": "$all"}, "$systemStreamAcl": {"$r": "readers"}}"#;
    grpc_append(&channel, ADMIN, "$settings", settings).await.expect("admin writes the settings");
    assert!(denied(&grpc_read(&channel, BOB, "order-1").await));
    assert!(grpc_read(&channel, ALICE, "$ce-order").await.is_ok(), "alice is in `readers`");
    assert_eq!(http(server.address, "GET", "/api/v1/all", ALICE, None).await.status, 200);
    server.finish().await;
}

#[tokio::test]
async fn wrong_missing_and_malformed_credentials_are_unauthenticated() {
    let (_dir, server) = start().await;
    let channel = server.channel().await;
    let wrong = grpc_read(&channel, Some(("alice", "nope")), "order-1").await.expect_err("wrong password");
    assert_eq!(wrong.code(), Code::Unauthenticated, "{wrong:?}");
    let unknown = grpc_read(&channel, Some(("nobody", "x")), "order-1").await.expect_err("unknown user");
    assert_eq!(unknown.code(), Code::Unauthenticated);
    let missing = grpc_append(&channel, None, "order-1", "{}").await.expect_err("no credentials");
    assert_eq!(missing.code(), Code::Unauthenticated, "{missing:?}");
    for malformed in ["Bearer abc", "Basic !!!", "Basic YWxpY2U="] {
        let mut request = tonic::Request::new(eventfold_proto::event_store::client::Empty {});
        request.metadata_mut().insert("authorization", malformed.parse().expect("ascii"));
        let status = OperationsClient::new(channel.clone()).restart_persistent_subscriptions(request).await;
        let status = status.expect_err(malformed);
        assert_eq!(status.code(), Code::Unauthenticated, "{malformed}: {status:?}");
        assert!(status.message().contains("malformed Authorization header"), "{status:?}");
    }
    let address = server.address;
    let response = http(address, "GET", "/api/v1/streams/order-1", Some(("alice", "nope")), None).await;
    assert_eq!(response.status, 401);
    assert!(response.header("www-authenticate").is_some());
    let garbage = request(address, "GET", "/api/v1/streams/order-1", &[("authorization", "Basic ***")], b"").await;
    assert_eq!(garbage.status, 401, "{garbage:?}");
    assert!(garbage.text().contains("malformed Authorization header"), "{garbage:?}");
    // What KurrentDB opens to anonymous callers stays open.
    for path in ["/ping", "/info", "/health/live", "/gossip"] {
        let response = http(address, "GET", path, None, None).await;
        assert!((200..300).contains(&response.status), "{path}: {response:?}");
    }
    let features =
        ServerFeaturesClient::new(channel.clone()).get_supported_methods(Empty {}).await.expect("server features");
    assert!(!features.into_inner().methods.is_empty());
    // Nothing was written by the refused append.
    let order = StreamName::new("order-1").expect("name");
    assert_eq!(server.engine.stream_revision(&order).await, Ok(CurrentRevision::NoStream));
    server.finish().await;
}

#[tokio::test]
async fn a_disabled_user_is_refused_at_once() {
    let (_dir, server) = start().await;
    let channel = server.channel().await;
    grpc_append(&channel, ALICE, "order-1", "{}").await.expect("alice writes");
    let admin = Principal::user("admin", vec!["$admins".into()]);
    let users = server.node.users().expect("users");
    users.set_disabled(&admin, "alice", true).await.expect("disabled");
    let refused = grpc_append(&channel, ALICE, "order-1", "{}").await.expect_err("disabled");
    assert_eq!(refused.code(), Code::Unauthenticated);
    users.set_disabled(&admin, "alice", false).await.expect("enabled");
    grpc_append(&channel, ALICE, "order-1", "{}").await.expect("alice writes again");
    users.delete(&admin, "alice").await.expect("deleted");
    let refused = grpc_append(&channel, ALICE, "order-1", "{}").await.expect_err("deleted");
    assert_eq!(refused.code(), Code::Unauthenticated);
    server.finish().await;
}

#[tokio::test]
async fn guessing_passwords_is_stopped_and_the_server_keeps_serving() {
    let (_dir, server) = start().await;
    let channel = server.channel().await;
    let mut locked_out = false;
    for attempt in 0..30 {
        let status = grpc_read(&channel, Some(("admin", "guess")), "order-1").await.expect_err("wrong");
        assert_eq!(status.code(), Code::Unauthenticated);
        if status.message().contains("too many failed logins") {
            assert!(attempt >= 5, "not before a few failures: {attempt}");
            locked_out = true;
            break;
        }
    }
    assert!(locked_out, "the failures were limited");
    // Even the right password is not checked from this address for now.
    let status = grpc_read(&channel, ADMIN, "order-1").await.expect_err("locked out");
    assert!(status.message().contains("too many failed logins"), "{status:?}");
    // Everything that needs no login is still served.
    assert_eq!(http(server.address, "GET", "/ping", None, None).await.status, 200);
    ServerFeaturesClient::new(channel.clone()).get_supported_methods(Empty {}).await.expect("served");
    server.finish().await;
}

#[tokio::test]
async fn operations_are_for_ops_and_admins() {
    let (_dir, server) = start().await;
    let channel = server.channel().await;
    let scavenge = |credentials: Credentials| {
        let channel = channel.clone();
        async move {
            let request = with_credentials(StartScavengeReq { options: None }, credentials);
            OperationsClient::new(channel).start_scavenge(request).await.map(|_| ())
        }
    };
    assert!(denied(&scavenge(ALICE).await));
    assert!(!denied(&scavenge(OPS).await));
    let restart = |credentials: Credentials| {
        let channel = channel.clone();
        async move {
            let request = with_credentials(Empty {}, credentials);
            OperationsClient::new(channel).restart_persistent_subscriptions(request).await.map(|_| ())
        }
    };
    assert!(denied(&restart(BOB).await));
    restart(ADMIN).await.expect("admins restart subsystems");
    let verify = http(server.address, "POST", "/admin/verify", ALICE, None).await;
    assert_eq!(verify.status, 403, "{verify:?}");
    assert_eq!(http(server.address, "POST", "/admin/verify", OPS, None).await.status, 200);
    server.finish().await;
}

/// Joins `group` on `stream` as a consumer; returns once the server has
/// confirmed (or refused) the subscription.
async fn join_group(channel: &Channel, credentials: Credentials, stream: &str, group: &str) -> Result<(), Status> {
    use eventfold_proto::event_store::client::persistent_subscriptions::persistent_subscriptions_client::PersistentSubscriptionsClient;
    use eventfold_proto::event_store::client::persistent_subscriptions::read_req;
    let options = eventfold_proto::event_store::client::persistent_subscriptions::ReadReq {
        content: Some(read_req::Content::Options(read_req::Options {
            stream_option: identifier(stream).map(read_req::options::StreamOption::StreamIdentifier),
            group_name: group.to_owned(),
            buffer_size: 10,
            uuid_option: Some(read_req::options::UuidOption {
                content: Some(read_req::options::uuid_option::Content::String(Empty {})),
            }),
        })),
    };
    // Only the options: the call ends once the confirmation is read.
    let requests = futures::stream::iter(vec![options]);
    let mut responses = PersistentSubscriptionsClient::new(channel.clone())
        .read(with_credentials(requests, credentials))
        .await?
        .into_inner();
    responses.message().await.map(|_| ())
}

#[tokio::test]
async fn persistent_subscriptions_are_managed_by_ops_and_read_by_those_who_may_read_the_stream() {
    let (_dir, server) = start().await;
    let channel = server.channel().await;
    let address = server.address;
    grpc_append(&channel, ADMIN, "ledger-1", "{}").await.expect("admin appends");
    grpc_append(&channel, ADMIN, "$$ledger-1", r#"{"$acl": {"$r": "alice"}}"#).await.expect("alice alone reads");
    let group = "/api/v1/subscriptions/ledger-1/auditors";
    let settings = json!({"startFrom": "start"});
    assert_eq!(http(address, "PUT", group, ALICE, Some(settings.clone())).await.status, 403, "users do not manage");
    assert_eq!(http(address, "PUT", group, OPS, Some(settings)).await.status, 201);
    assert!(denied(&join_group(&channel, BOB, "ledger-1", "auditors").await), "bob may not read ledger-1");
    join_group(&channel, ALICE, "ledger-1", "auditors").await.expect("alice joins");
    assert_eq!(http(address, "DELETE", group, BOB, None).await.status, 403);
    assert_eq!(http(address, "DELETE", group, ADMIN, None).await.status, 204);
    server.finish().await;
}

#[tokio::test]
async fn the_web_ui_logs_in_once_and_its_cookie_stands_for_the_user_until_logout() {
    let (_dir, server) = start().await;
    let address = server.address;
    let login = |body: &'static str| {
        request(address, "POST", "/ui/session", &[("content-type", "application/json")], body.as_bytes())
    };
    // Wrong password or a body of another shape: refused, no cookie.
    let wrong = login(r#"{"login":"alice","password":"nope"}"#).await;
    assert_eq!(wrong.status, 401, "{wrong:?}");
    assert!(wrong.header("set-cookie").is_none());
    assert_eq!(login(r#"{"user":"alice"}"#).await.status, 400);
    // The UI's own requests are refused without the Basic challenge, so the
    // browser does not prompt over the UI's form.
    let ui_refused = request(address, "GET", "/api/v1/streams/$settings", &[("x-eventfold-ui", "1")], b"").await;
    assert_eq!(ui_refused.status, 401, "{ui_refused:?}");
    assert!(ui_refused.header("www-authenticate").is_none(), "{ui_refused:?}");

    let logged_in = login(r#"{"login":"alice","password":"alice-pw"}"#).await;
    assert_eq!(logged_in.status, 204, "{logged_in:?}");
    let cookie = logged_in.header("set-cookie").expect("a session cookie").to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let session = cookie.split(';').next().expect("name=value").to_owned();
    // The cookie acts as alice: her ACL decides (a stream only she may read).
    server
        .engine
        .append(eventfold_store::AppendRequest::new(
            StreamName::new("$$alice-only").expect("name"),
            eventfold_store::ExpectedRevision::Any,
            vec![eventfold_store::ProposedEvent::json("$metadata", json!({"$acl": {"$r": "alice"}}).to_string())],
        ))
        .await
        .expect("metadata");
    server
        .engine
        .append(eventfold_store::AppendRequest::new(
            StreamName::new("alice-only").expect("name"),
            eventfold_store::ExpectedRevision::Any,
            vec![eventfold_store::ProposedEvent::json("Noted", "{}")],
        ))
        .await
        .expect("event");
    let as_alice = request(address, "GET", "/api/v1/streams/alice-only", &[("cookie", session.as_str())], b"").await;
    assert_eq!(as_alice.status, 200, "{as_alice:?}");
    let anonymous = request(address, "GET", "/api/v1/streams/alice-only", &[], b"").await;
    assert_eq!(anonymous.status, 401);
    let forged =
        request(address, "GET", "/api/v1/streams/alice-only", &[("cookie", "eventfold_session=guess")], b"").await;
    assert_eq!(forged.status, 401);
    // Logged out: the same cookie stands for no one.
    let out = request(address, "DELETE", "/ui/session", &[("cookie", session.as_str())], b"").await;
    assert_eq!(out.status, 204);
    assert!(out.header("set-cookie").is_some_and(|cookie| cookie.contains("Max-Age=0")));
    let after = request(address, "GET", "/api/v1/streams/alice-only", &[("cookie", session.as_str())], b"").await;
    assert_eq!(after.status, 401);
    server.finish().await;
}
