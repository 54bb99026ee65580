//! Goal: users are managed through the `Users` gRPC service and the HTTP
//! `/users` endpoints, as the official clients and KurrentDB's HTTP API do:
//! create, details, update, disable, enable, change and reset password,
//! delete; only `$admins` manage, a user reads and changes only itself, and
//! every change takes effect on the next request.

use crate::support;

use std::net::SocketAddr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use eventfold_proto::event_store::client::users::users_client::UsersClient;
use eventfold_proto::event_store::client::users::{
    ChangePasswordReq, CreateReq, DeleteReq, DetailsReq, DetailsResp, DisableReq, EnableReq, ResetPasswordReq,
    UpdateReq, change_password_req, create_req, delete_req, details_req, disable_req, enable_req, reset_password_req,
    update_req,
};
use futures::TryStreamExt;
use serde_json::json;
use support::http::{HttpResponse, request};
use support::{Running, ServeOptions, open_engine, serve, serve_with};
use tonic::transport::Channel;
use tonic::{Code, Status};

type Credentials = (&'static str, &'static str);

const ADMIN: Credentials = ("admin", "changeit");

async fn start() -> (tempfile::TempDir, Running) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut options = ServeOptions::default();
    options.node.authentication = true;
    let server = serve_with(open_engine(&dir), "127.0.0.1:0", options).await;
    (dir, server)
}

fn basic((login, password): Credentials) -> String {
    format!("Basic {}", STANDARD.encode(format!("{login}:{password}")))
}

fn call<T>(message: T, credentials: Credentials) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", basic(credentials).parse().expect("ascii"));
    request
}

async fn details(channel: &Channel, credentials: Credentials, login: &str) -> Result<Vec<DetailsResp>, Status> {
    let message = DetailsReq { options: Some(details_req::Options { login_name: login.into() }) };
    UsersClient::new(channel.clone()).details(call(message, credentials)).await?.into_inner().try_collect().await
}

async fn create(channel: &Channel, credentials: Credentials, login: &str, password: &str) -> Result<(), Status> {
    let options = create_req::Options {
        login_name: login.into(),
        password: password.into(),
        full_name: format!("{login} in full"),
        groups: vec!["dev".into()],
    };
    UsersClient::new(channel.clone()).create(call(CreateReq { options: Some(options) }, credentials)).await.map(|_| ())
}

#[tokio::test]
async fn a_user_is_managed_through_the_grpc_service() {
    let (_dir, server) = start().await;
    let channel = server.channel().await;
    let mut client = UsersClient::new(channel.clone());
    create(&channel, ADMIN, "carol", "carol-pw").await.expect("created");
    let again = create(&channel, ADMIN, "carol", "x").await.expect_err("exists");
    assert_eq!(again.code(), Code::AlreadyExists);
    let carol = ("carol", "carol-pw");
    let own = details(&channel, carol, "carol").await.expect("her own details");
    let user = own[0].user_details.clone().expect("details");
    assert_eq!(
        (user.login_name.as_str(), user.full_name.as_str(), user.groups),
        ("carol", "carol in full", vec!["dev".to_owned()])
    );
    assert!(user.last_updated.is_some_and(|time| time.ticks_since_epoch > 0));
    let everyone = details(&channel, ADMIN, "").await.expect("all users");
    let logins: Vec<_> =
        everyone.iter().filter_map(|user| user.user_details.as_ref()).map(|user| user.login_name.clone()).collect();
    assert_eq!(logins, ["admin", "ops", "carol"]);

    // Only admins manage; a user reaches only itself.
    assert_eq!(details(&channel, carol, "admin").await.expect_err("not hers").code(), Code::PermissionDenied);
    assert_eq!(create(&channel, carol, "mallory", "x").await.expect_err("not an admin").code(), Code::PermissionDenied);

    let update = UpdateReq {
        options: Some(update_req::Options {
            login_name: "carol".into(),
            password: String::new(),
            full_name: "Carol C.".into(),
            groups: vec!["qa".into()],
        }),
    };
    client.update(call(update, ADMIN)).await.expect("updated");
    let user = details(&channel, ADMIN, "carol").await.expect("details")[0].user_details.clone().expect("details");
    assert_eq!((user.full_name.as_str(), user.groups), ("Carol C.", vec!["qa".to_owned()]));

    let disable = DisableReq { options: Some(disable_req::Options { login_name: "carol".into() }) };
    client.disable(call(disable, ADMIN)).await.expect("disabled");
    assert_eq!(details(&channel, carol, "carol").await.expect_err("disabled").code(), Code::Unauthenticated);
    let enable = EnableReq { options: Some(enable_req::Options { login_name: "carol".into() }) };
    client.enable(call(enable, ADMIN)).await.expect("enabled");
    details(&channel, carol, "carol").await.expect("enabled again");

    let change = |current: &str, new: &str| ChangePasswordReq {
        options: Some(change_password_req::Options {
            login_name: "carol".into(),
            current_password: current.into(),
            new_password: new.into(),
        }),
    };
    let wrong = client.change_password(call(change("wrong", "x"), carol)).await.expect_err("wrong current");
    assert_eq!(wrong.code(), Code::PermissionDenied);
    client.change_password(call(change("carol-pw", "carol-2"), carol)).await.expect("changed");
    assert_eq!(details(&channel, carol, "carol").await.expect_err("old password").code(), Code::Unauthenticated);
    details(&channel, ("carol", "carol-2"), "carol").await.expect("new password");
    let reset = ResetPasswordReq {
        options: Some(reset_password_req::Options { login_name: "carol".into(), new_password: "carol-3".into() }),
    };
    client.reset_password(call(reset, ADMIN)).await.expect("reset");
    details(&channel, ("carol", "carol-3"), "carol").await.expect("reset password");

    let delete = DeleteReq { options: Some(delete_req::Options { login_name: "carol".into() }) };
    client.delete(call(delete, ADMIN)).await.expect("deleted");
    assert_eq!(details(&channel, ADMIN, "carol").await.expect_err("gone").code(), Code::NotFound);
    assert_eq!(details(&channel, ("carol", "carol-3"), "carol").await.expect_err("gone").code(), Code::Unauthenticated);
    server.finish().await;
}

async fn http(
    address: SocketAddr,
    method: &str,
    path: &str,
    credentials: Credentials,
    body: serde_json::Value,
) -> HttpResponse {
    let authorization = basic(credentials);
    let headers = [("content-type", "application/json"), ("authorization", authorization.as_str())];
    request(address, method, path, &headers, body.to_string().as_bytes()).await
}

#[tokio::test]
async fn a_user_is_managed_through_http() {
    let (_dir, server) = start().await;
    let address = server.address;
    let none = json!(null);
    let body = json!({"loginName": "dave", "fullName": "Dave", "groups": ["dev"], "password": "dave-pw"});
    assert_eq!(http(address, "POST", "/users", ADMIN, body.clone()).await.status, 201);
    assert_eq!(http(address, "POST", "/users", ADMIN, body).await.status, 409);
    let dave = ("dave", "dave-pw");
    let own = http(address, "GET", "/users/dave", dave, none.clone()).await;
    assert_eq!(own.status, 200, "{own:?}");
    assert_eq!(own.json()["data"]["groups"], json!(["dev"]));
    assert_eq!(http(address, "GET", "/users", dave, none.clone()).await.status, 403);
    let all = http(address, "GET", "/users", ADMIN, none.clone()).await;
    assert_eq!(all.json()["data"].as_array().map(Vec::len), Some(3), "{all:?}");

    let update = json!({"fullName": "David", "groups": ["qa"]});
    assert_eq!(http(address, "PUT", "/users/dave", ADMIN, update).await.status, 200);
    assert_eq!(http(address, "GET", "/users/dave", ADMIN, none.clone()).await.json()["data"]["fullName"], "David");
    assert_eq!(http(address, "POST", "/users/dave/command/disable", ADMIN, none.clone()).await.status, 200);
    assert_eq!(http(address, "GET", "/users/dave", dave, none.clone()).await.status, 401);
    assert_eq!(http(address, "POST", "/users/dave/command/enable", ADMIN, none.clone()).await.status, 200);
    let change = json!({"oldPassword": "dave-pw", "newPassword": "dave-2"});
    assert_eq!(http(address, "POST", "/users/dave/command/change-password", dave, change).await.status, 200);
    let reset = json!({"newPassword": "dave-3"});
    assert_eq!(
        http(address, "POST", "/users/dave/command/reset-password", ("dave", "dave-2"), reset.clone()).await.status,
        403
    );
    assert_eq!(http(address, "POST", "/users/dave/command/reset-password", ADMIN, reset).await.status, 200);
    assert_eq!(http(address, "GET", "/users/dave", ("dave", "dave-3"), none.clone()).await.status, 200);
    assert_eq!(http(address, "POST", "/users", ADMIN, json!({"loginName": "x"})).await.status, 400);
    assert_eq!(http(address, "DELETE", "/users/dave", ADMIN, none.clone()).await.status, 200);
    assert_eq!(http(address, "GET", "/users/dave", ADMIN, none).await.status, 404);
    server.finish().await;
}

#[tokio::test]
async fn without_authentication_there_are_no_users() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = serve(open_engine(&dir)).await;
    let channel = server.channel().await;
    let refused = details(&channel, ADMIN, "").await.expect_err("no users");
    assert_eq!(refused.code(), Code::Unimplemented);
    assert_eq!(http(server.address, "GET", "/users", ADMIN, json!(null)).await.status, 501);
    server.finish().await;
}
