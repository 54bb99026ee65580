//! KurrentDB's HTTP user management, a thin adapter over the users
//! subsystem (which asks the access policy for the caller):
//! `GET /users`, `GET /users/{login}`, `POST /users`, `PUT /users/{login}`,
//! `DELETE /users/{login}` and `POST /users/{login}/command/{enable,
//! disable, reset-password, change-password}`.
//!
//! Answers: `200` (`201` for a creation) with `{"loginName", "success"}` or
//! the user's details; `400` for a bad body or login; `403` for a caller who
//! may not (a wrong current password included); `404` for an unknown user;
//! `409` for a login that exists; `501` with authentication off.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use eventfold_node::{Node, Users};
use eventfold_store::Principal;
use eventfold_users::{NewUser, UserDetails, UsersError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::http::caller::Caller;
use crate::http::error::error_response;

/// An answer that ends a handler early (boxed: a response is large).
type Refusal = Box<Response>;

pub fn routes() -> Router<Node> {
    Router::new()
        .route("/users", get(list).post(create))
        .route("/users/", get(list).post(create))
        .route("/users/{login}", get(details).put(update).delete(delete))
        .route("/users/{login}/command/{command}", post(command))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UserBody {
    login_name: String,
    full_name: String,
    groups: Vec<String>,
    disabled: bool,
}

impl From<UserDetails> for UserBody {
    fn from(details: UserDetails) -> Self {
        Self {
            login_name: details.login_name,
            full_name: details.full_name,
            groups: details.groups,
            disabled: details.disabled,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateBody {
    login_name: String,
    #[serde(default)]
    full_name: String,
    #[serde(default)]
    groups: Vec<String>,
    password: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateBody {
    #[serde(default)]
    full_name: String,
    #[serde(default)]
    groups: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResetPasswordBody {
    new_password: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChangePasswordBody {
    old_password: String,
    new_password: String,
}

/// The subsystem and the caller; users exist only with authentication on.
fn users_of(node: &Node) -> Result<(Users, Principal), Refusal> {
    match node.users() {
        Some(users) => Ok((users.clone(), node.principal().clone())),
        None => Err(Box::new(error_response(
            StatusCode::NOT_IMPLEMENTED,
            "users are served only with authentication on (secure mode)",
        ))),
    }
}

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, Refusal> {
    serde_json::from_slice(body)
        .map_err(|error| Box::new(error_response(StatusCode::BAD_REQUEST, format!("invalid request body: {error}"))))
}

fn refused(error: UsersError) -> Refusal {
    let status = match &error {
        UsersError::NotFound(_) => StatusCode::NOT_FOUND,
        UsersError::AlreadyExists(_) | UsersError::Conflict(_) => StatusCode::CONFLICT,
        UsersError::InvalidLogin { .. } | UsersError::EmptyPassword => StatusCode::BAD_REQUEST,
        UsersError::AccessDenied(_) | UsersError::WrongCurrentPassword(_) => StatusCode::FORBIDDEN,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    Box::new(error_response(status, error.to_string()))
}

fn done(status: StatusCode, login: &str) -> Response {
    (status, Json(serde_json::json!({ "loginName": login, "success": true }))).into_response()
}

async fn answer(work: impl Future<Output = Result<Response, Refusal>>) -> Response {
    work.await.unwrap_or_else(|refusal| *refusal)
}

async fn list(Caller(node): Caller) -> Response {
    answer(async {
        let (users, actor) = users_of(&node)?;
        let all = users.list(&actor).await.map_err(refused)?;
        let data: Vec<UserBody> = all.into_iter().map(UserBody::from).collect();
        Ok(Json(serde_json::json!({ "data": data, "success": true })).into_response())
    })
    .await
}

async fn details(Caller(node): Caller, Path(login): Path<String>) -> Response {
    answer(async {
        let (users, actor) = users_of(&node)?;
        let user = users.details(&actor, &login).await.map_err(refused)?;
        Ok(Json(serde_json::json!({ "data": UserBody::from(user), "success": true })).into_response())
    })
    .await
}

async fn create(Caller(node): Caller, body: Bytes) -> Response {
    answer(async {
        let (users, actor) = users_of(&node)?;
        let body: CreateBody = parse(&body)?;
        let login = body.login_name.clone();
        let user =
            NewUser { login: body.login_name, full_name: body.full_name, password: body.password, groups: body.groups };
        users.create(&actor, user).await.map_err(refused)?;
        Ok(done(StatusCode::CREATED, &login))
    })
    .await
}

async fn update(Caller(node): Caller, Path(login): Path<String>, body: Bytes) -> Response {
    answer(async {
        let (users, actor) = users_of(&node)?;
        let body: UpdateBody = parse(&body)?;
        users.update(&actor, &login, body.full_name, body.groups).await.map_err(refused)?;
        Ok(done(StatusCode::OK, &login))
    })
    .await
}

async fn delete(Caller(node): Caller, Path(login): Path<String>) -> Response {
    answer(async {
        let (users, actor) = users_of(&node)?;
        users.delete(&actor, &login).await.map_err(refused)?;
        Ok(done(StatusCode::OK, &login))
    })
    .await
}

async fn command(Caller(node): Caller, Path((login, command)): Path<(String, String)>, body: Bytes) -> Response {
    answer(async {
        let (users, actor) = users_of(&node)?;
        match command.as_str() {
            "enable" => users.set_disabled(&actor, &login, false).await,
            "disable" => users.set_disabled(&actor, &login, true).await,
            "reset-password" => {
                let body: ResetPasswordBody = parse(&body)?;
                users.reset_password(&actor, &login, body.new_password).await
            }
            "change-password" => {
                let body: ChangePasswordBody = parse(&body)?;
                users.change_password(&actor, &login, body.old_password, body.new_password).await
            }
            other => return Err(Box::new(error_response(StatusCode::NOT_FOUND, format!("no user command `{other}`")))),
        }
        .map_err(refused)?;
        Ok(done(StatusCode::OK, &login))
    })
    .await
}
