//! Who a request acts for: the node itself (full rights, what every request
//! is when authentication is off), an authenticated user with its groups, or
//! nobody in particular (a request without credentials).

use std::sync::Arc;

/// The group whose members may do anything a client can.
pub const ADMINS_GROUP: &str = "$admins";
/// The group whose members run operations (scavenge, shutdown, subsystems).
pub const OPS_GROUP: &str = "$ops";
/// The role every caller has, anonymous ones included.
pub const EVERYONE_ROLE: &str = "$all";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// Full rights: the node acting for itself, or any request while
    /// authentication is off. Only eventfold's own state streams stay
    /// out of its reach.
    System,
    /// A request without credentials.
    Anonymous,
    User(Arc<UserIdentity>),
}

/// An authenticated user: its login and the groups it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserIdentity {
    pub login: String,
    pub groups: Vec<String>,
}

impl Principal {
    pub fn user(login: impl Into<String>, groups: Vec<String>) -> Self {
        Principal::User(Arc::new(UserIdentity { login: login.into(), groups }))
    }

    /// Whether the principal may do anything a client can.
    pub fn is_admin(&self) -> bool {
        match self {
            Principal::System => true,
            Principal::Anonymous => false,
            Principal::User(user) => user.groups.iter().any(|group| group == ADMINS_GROUP),
        }
    }

    /// Whether the principal may run operations.
    pub fn is_operator(&self) -> bool {
        self.is_admin() || matches!(self, Principal::User(user) if user.groups.iter().any(|group| group == OPS_GROUP))
    }

    /// Whether an ACL naming `role` includes the principal: `$all` is
    /// everyone; otherwise the role is the user's login or one of its groups.
    pub fn has_role(&self, role: &str) -> bool {
        if role == EVERYONE_ROLE {
            return true;
        }
        match self {
            Principal::System => true,
            Principal::Anonymous => false,
            Principal::User(user) => user.login == role || user.groups.iter().any(|group| group == role),
        }
    }

    /// The login of an authenticated user.
    pub fn login(&self) -> Option<&str> {
        match self {
            Principal::User(user) => Some(&user.login),
            Principal::System | Principal::Anonymous => None,
        }
    }

    /// How the principal is named in logs and refusals.
    pub fn describe(&self) -> String {
        match self {
            Principal::System => "the node".to_owned(),
            Principal::Anonymous => "an anonymous client".to_owned(),
            Principal::User(user) => format!("user `{}`", user.login),
        }
    }
}
