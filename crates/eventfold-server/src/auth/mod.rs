//! Authentication, in one place for every request, gRPC and HTTP alike: one
//! layer reads the `Authorization` header, authenticates it through the
//! node and puts the caller's [`Principal`] in the request's extensions.
//! Handlers act for that principal (`Node::for_principal`); what it may do
//! is the access policy's decision, not this layer's.
//!
//! - no credentials: the anonymous principal, which the policy lets reach
//!   only what KurrentDB opens to it (ping, info, health, gossip, metrics,
//!   the UI's files, server features) and what `$all` ACLs grant; where it is
//!   refused, the answer asks for credentials (HTTP 401 with
//!   `WWW-Authenticate: Basic`, gRPC UNAUTHENTICATED);
//! - wrong credentials, a disabled or deleted user, a malformed header:
//!   UNAUTHENTICATED at once, with the reason where it is about the header;
//! - too many failures from one address: refused without checking, for a
//!   while ([`failed_logins`]);
//! - no `Authorization` but the web UI's session cookie: the credentials the
//!   session stands for ([`session`]; `POST`/`DELETE /ui/session` log in and
//!   out, answered here).
//!
//! While authentication is off (insecure mode) every request acts with full
//! rights and nothing here reads the header.

mod basic;
mod failed_logins;
mod session;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use eventfold_node::Node;
use eventfold_store::Principal;
use eventfold_users::AuthenticationError;

use failed_logins::FailedLogins;
use session::Sessions;

/// The address a request came from; the transport puts it in the request's
/// extensions.
#[derive(Clone, Copy, Debug)]
pub struct PeerAddress(pub SocketAddr);

#[derive(Clone)]
struct Authentication {
    node: Node,
    failed_logins: Arc<FailedLogins>,
    sessions: Arc<Sessions>,
}

const LOCKED_OUT: &str = "too many failed logins from this address; try again later";
const UNCHECKED: &str = "credentials could not be checked; try again later";
const INVALID: &str = "invalid credentials";

/// Why [`Authentication::verify`] refused credentials.
enum Refused {
    /// The users could not be read: nobody's fault, try again.
    Unavailable,
    /// Wrong password, unknown or disabled user: counted against the source.
    Invalid,
}

impl Authentication {
    /// Whether `source` is shut out for its failed logins.
    fn locked_out(&self, source: Option<IpAddr>) -> bool {
        source.is_some_and(|source| self.failed_logins.is_locked_out(source, Instant::now()))
    }

    /// Checks a login and password through the node, counting a refusal
    /// against `source`: the one check behind Basic credentials, the UI's
    /// session cookie and its login.
    async fn verify(&self, source: Option<IpAddr>, login: &str, password: &str) -> Result<Principal, Refused> {
        match self.node.authenticate(login, password).await {
            Ok(principal) => Ok(principal),
            Err(AuthenticationError::Storage(error)) => {
                tracing::error!(%error, "credentials could not be checked");
                Err(Refused::Unavailable)
            }
            Err(refused) => {
                tracing::debug!(%login, %refused, "login refused");
                if let Some(source) = source {
                    self.failed_logins.record_failure(source, Instant::now());
                }
                Err(Refused::Invalid)
            }
        }
    }
}

/// The address a request came from, as the transport recorded it.
fn source_of(request: &Request) -> Option<IpAddr> {
    request.extensions().get::<PeerAddress>().map(|peer| peer.0.ip())
}

/// `app` behind the authentication layer of `node`.
pub fn layer(app: Router, node: &Node) -> Router {
    let state = Authentication { node: node.clone(), failed_logins: Arc::default(), sessions: Arc::default() };
    app.layer(axum::middleware::from_fn_with_state(state, authenticate))
}

const GRPC_PERMISSION_DENIED: &str = "7";
const GRPC_UNAUTHENTICATED: &str = "16";

/// The header the web UI sends with its own requests: a refusal then comes
/// without the Basic challenge, so the browser does not show its own prompt
/// over the UI's login form.
const UI_REQUEST_HEADER: &str = "x-eventfold-ui";

async fn authenticate(State(auth): State<Authentication>, request: Request, next: Next) -> Response {
    let from_ui = request.headers().contains_key(UI_REQUEST_HEADER);
    let mut response = authenticate_request(auth, request, next).await;
    if from_ui {
        response.headers_mut().remove(WWW_AUTHENTICATE);
    }
    response
}

async fn authenticate_request(auth: Authentication, mut request: Request, next: Next) -> Response {
    if !auth.node.authentication_enabled() {
        request.extensions_mut().insert(Principal::System);
        return next.run(request).await;
    }
    if request.uri().path() == SESSION_PATH {
        return session_route(&auth, request).await;
    }
    let grpc = is_grpc(request.headers());
    let given = match basic::credentials(request.headers()) {
        Err(malformed) => return unauthenticated(grpc, &malformed.to_string()),
        Ok(Some(credentials)) => Some((credentials.login, credentials.password)),
        Ok(None) => {
            session::token(request.headers()).and_then(|token| auth.sessions.credentials(token, Instant::now()))
        }
    };
    let principal = match given {
        None => Principal::Anonymous,
        Some((login, password)) => {
            let source = source_of(&request);
            if auth.locked_out(source) {
                return unauthenticated(grpc, LOCKED_OUT);
            }
            match auth.verify(source, &login, &password).await {
                Ok(principal) => principal,
                Err(Refused::Unavailable) => return unavailable(grpc, UNCHECKED),
                Err(Refused::Invalid) => return unauthenticated(grpc, INVALID),
            }
        }
    };
    let anonymous = principal == Principal::Anonymous;
    request.extensions_mut().insert(principal);
    let response = next.run(request).await;
    if anonymous { ask_for_credentials(response, grpc) } else { response }
}

fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/grpc"))
}

/// A refusal of an anonymous request means "log in", not "never".
fn ask_for_credentials(mut response: Response, grpc: bool) -> Response {
    if grpc {
        let headers = response.headers_mut();
        if headers.get("grpc-status").is_some_and(|status| status == GRPC_PERMISSION_DENIED) {
            headers.insert("grpc-status", HeaderValue::from_static(GRPC_UNAUTHENTICATED));
        }
    } else if matches!(response.status(), StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED) {
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        response.headers_mut().insert(WWW_AUTHENTICATE, basic_challenge());
    }
    response
}

fn basic_challenge() -> HeaderValue {
    HeaderValue::from_static("Basic realm=\"eventfold\"")
}

fn unauthenticated(grpc: bool, message: &str) -> Response {
    if grpc {
        return tonic::Status::unauthenticated(message).into_http::<axum::body::Body>();
    }
    let mut response = (StatusCode::UNAUTHORIZED, message.to_owned()).into_response();
    response.headers_mut().insert(WWW_AUTHENTICATE, basic_challenge());
    response
}

fn unavailable(grpc: bool, message: &str) -> Response {
    if grpc {
        return tonic::Status::unavailable(message).into_http::<axum::body::Body>();
    }
    (StatusCode::SERVICE_UNAVAILABLE, message.to_owned()).into_response()
}

/// Where the web UI logs in (`POST`) and out (`DELETE`).
const SESSION_PATH: &str = "/ui/session";

/// The most a login body may be.
const SESSION_BODY_LIMIT: usize = 16 * 1024;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    login: String,
    password: String,
}

/// `POST /ui/session` with `{"login", "password"}`: 204 with the session
/// cookie, or 401 (no Basic challenge: the page shows its own form);
/// `DELETE /ui/session`: the session ends, 204.
async fn session_route(auth: &Authentication, request: Request) -> Response {
    let secure = auth.node.facts().secure;
    let json_error = |status: StatusCode, message: &str| {
        (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
    };
    match request.method().as_str() {
        "DELETE" => {
            if let Some(token) = session::token(request.headers()) {
                auth.sessions.close(token);
            }
            let mut response = StatusCode::NO_CONTENT.into_response();
            set_cookie(&mut response, &session::set_cookie("", secure));
            response
        }
        "POST" => {
            let source = source_of(&request);
            if auth.locked_out(source) {
                return json_error(StatusCode::UNAUTHORIZED, LOCKED_OUT);
            }
            let body = match axum::body::to_bytes(request.into_body(), SESSION_BODY_LIMIT).await {
                Ok(body) => body,
                Err(_) => return json_error(StatusCode::BAD_REQUEST, "the login body is too large or unreadable"),
            };
            let Ok(login) = serde_json::from_slice::<Login>(&body) else {
                return json_error(StatusCode::BAD_REQUEST, "expected {\"login\": \"...\", \"password\": \"...\"}");
            };
            match auth.verify(source, &login.login, &login.password).await {
                Ok(_) => {
                    let token = auth.sessions.open(&login.login, &login.password, Instant::now());
                    let mut response = StatusCode::NO_CONTENT.into_response();
                    set_cookie(&mut response, &session::set_cookie(&token, secure));
                    response
                }
                Err(Refused::Unavailable) => json_error(StatusCode::SERVICE_UNAVAILABLE, UNCHECKED),
                Err(Refused::Invalid) => json_error(StatusCode::UNAUTHORIZED, INVALID),
            }
        }
        _ => json_error(StatusCode::METHOD_NOT_ALLOWED, "POST to log in, DELETE to log out"),
    }
}

fn set_cookie(response: &mut Response, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().insert(axum::http::header::SET_COOKIE, value);
    }
}
