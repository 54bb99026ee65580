//! `event_store.client.users.Users`: each call translates to the node's
//! users subsystem, for the caller (the subsystem asks the access policy),
//! and its errors to statuses, once, here.

use eventfold_node::{Node, Users};
use eventfold_proto::event_store::client::users::details_resp::UserDetails as UserDetailsMessage;
use eventfold_proto::event_store::client::users::details_resp::user_details::DateTime;
use eventfold_proto::event_store::client::users::users_server::Users as Service;
use eventfold_proto::event_store::client::users::{
    ChangePasswordReq, ChangePasswordResp, CreateReq, CreateResp, DeleteReq, DeleteResp, DetailsReq, DetailsResp,
    DisableReq, DisableResp, EnableReq, EnableResp, ResetPasswordReq, ResetPasswordResp, UpdateReq, UpdateResp,
};
use eventfold_users::{NewUser, UserDetails, UsersError};
use tonic::{Code, Request, Response, Status};

use crate::caller::caller;
use crate::errors;
use crate::streams::ResponseStream;

pub struct UsersService {
    node: Node,
}

impl UsersService {
    pub fn new(node: Node) -> Self {
        Self { node }
    }

    /// The subsystem and the caller; users exist only with authentication on.
    fn users_for<T>(&self, request: &Request<T>) -> Result<(Users, eventfold_store::Principal), Status> {
        let users = self
            .node
            .users()
            .cloned()
            .ok_or_else(|| Status::unimplemented("users are served only with authentication on (secure mode)"))?;
        Ok((users, caller(&self.node, request).principal().clone()))
    }
}

fn missing_options() -> Status {
    Status::invalid_argument("the request has no options")
}

fn status(error: UsersError) -> Status {
    match &error {
        UsersError::NotFound(_) => Status::not_found(error.to_string()),
        UsersError::AlreadyExists(_) => Status::already_exists(error.to_string()),
        UsersError::InvalidLogin { .. } | UsersError::EmptyPassword => Status::invalid_argument(error.to_string()),
        UsersError::Conflict(_) => Status::aborted(error.to_string()),
        // As KurrentDB: a wrong current password is an access refusal.
        UsersError::WrongCurrentPassword(_) => {
            errors::with_trailers(Code::PermissionDenied, error.to_string(), &[("exception", "access-denied".into())])
        }
        UsersError::AccessDenied(denied) => errors::access_denied(denied),
        UsersError::Storage(storage) => errors::storage(storage),
        _ => Status::internal(error.to_string()),
    }
}

fn details_message(details: UserDetails) -> DetailsResp {
    DetailsResp {
        user_details: Some(UserDetailsMessage {
            login_name: details.login_name,
            full_name: details.full_name,
            groups: details.groups,
            last_updated: Some(DateTime { ticks_since_epoch: details.last_updated_ticks }),
            disabled: details.disabled,
        }),
    }
}

#[tonic::async_trait]
impl Service for UsersService {
    type DetailsStream = ResponseStream<DetailsResp>;

    async fn create(&self, request: Request<CreateReq>) -> Result<Response<CreateResp>, Status> {
        let (users, actor) = self.users_for(&request)?;
        let options = request.into_inner().options.ok_or_else(missing_options)?;
        let user = NewUser {
            login: options.login_name,
            full_name: options.full_name,
            password: options.password,
            groups: options.groups,
        };
        users.create(&actor, user).await.map_err(status)?;
        Ok(Response::new(CreateResp {}))
    }

    /// Full name and groups; the password is changed by its own calls.
    async fn update(&self, request: Request<UpdateReq>) -> Result<Response<UpdateResp>, Status> {
        let (users, actor) = self.users_for(&request)?;
        let options = request.into_inner().options.ok_or_else(missing_options)?;
        users.update(&actor, &options.login_name, options.full_name, options.groups).await.map_err(status)?;
        Ok(Response::new(UpdateResp {}))
    }

    async fn delete(&self, request: Request<DeleteReq>) -> Result<Response<DeleteResp>, Status> {
        let (users, actor) = self.users_for(&request)?;
        let options = request.into_inner().options.ok_or_else(missing_options)?;
        users.delete(&actor, &options.login_name).await.map_err(status)?;
        Ok(Response::new(DeleteResp {}))
    }

    async fn disable(&self, request: Request<DisableReq>) -> Result<Response<DisableResp>, Status> {
        let (users, actor) = self.users_for(&request)?;
        let options = request.into_inner().options.ok_or_else(missing_options)?;
        users.set_disabled(&actor, &options.login_name, true).await.map_err(status)?;
        Ok(Response::new(DisableResp {}))
    }

    async fn enable(&self, request: Request<EnableReq>) -> Result<Response<EnableResp>, Status> {
        let (users, actor) = self.users_for(&request)?;
        let options = request.into_inner().options.ok_or_else(missing_options)?;
        users.set_disabled(&actor, &options.login_name, false).await.map_err(status)?;
        Ok(Response::new(EnableResp {}))
    }

    /// One user's details, or every user's when no login is named.
    async fn details(&self, request: Request<DetailsReq>) -> Result<Response<Self::DetailsStream>, Status> {
        let (users, actor) = self.users_for(&request)?;
        let login = request.into_inner().options.map(|options| options.login_name).unwrap_or_default();
        let details = if login.is_empty() {
            users.list(&actor).await.map_err(status)?
        } else {
            vec![users.details(&actor, &login).await.map_err(status)?]
        };
        let messages = details.into_iter().map(|details| Ok(details_message(details)));
        Ok(Response::new(Box::pin(futures::stream::iter(messages.collect::<Vec<_>>()))))
    }

    async fn change_password(
        &self,
        request: Request<ChangePasswordReq>,
    ) -> Result<Response<ChangePasswordResp>, Status> {
        let (users, actor) = self.users_for(&request)?;
        let options = request.into_inner().options.ok_or_else(missing_options)?;
        users
            .change_password(&actor, &options.login_name, options.current_password, options.new_password)
            .await
            .map_err(status)?;
        Ok(Response::new(ChangePasswordResp {}))
    }

    async fn reset_password(&self, request: Request<ResetPasswordReq>) -> Result<Response<ResetPasswordResp>, Status> {
        let (users, actor) = self.users_for(&request)?;
        let options = request.into_inner().options.ok_or_else(missing_options)?;
        users.reset_password(&actor, &options.login_name, options.new_password).await.map_err(status)?;
        Ok(Response::new(ResetPasswordResp {}))
    }
}
