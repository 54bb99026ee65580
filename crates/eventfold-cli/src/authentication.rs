//! `eventfold serve`'s options for users and access control.

use eventfold_node::DefaultPasswords;

#[derive(clap::Args, Debug, Clone)]
pub struct AuthenticationArgs {
    /// Require credentials (Basic) and enforce users, groups and stream
    /// ACLs. Secure mode turns it on; this flag alone is for tests and
    /// development on loopback, since Basic credentials travel in clear
    /// text without TLS.
    #[arg(long, env = "EVENTFOLD_AUTHENTICATION", hide = true)]
    pub authentication: bool,
    /// The password `admin` gets when the node first starts (default
    /// `changeit`); ignored once `admin` exists.
    #[arg(long, env = "EVENTFOLD_DEFAULT_ADMIN_PASSWORD", hide_env_values = true)]
    pub default_admin_password: Option<String>,
    /// The password `ops` gets when the node first starts (default
    /// `changeit`); ignored once `ops` exists.
    #[arg(long, env = "EVENTFOLD_DEFAULT_OPS_PASSWORD", hide_env_values = true)]
    pub default_ops_password: Option<String>,
}

impl AuthenticationArgs {
    pub fn default_passwords(&self) -> DefaultPasswords {
        DefaultPasswords { admin: self.default_admin_password.clone(), ops: self.default_ops_password.clone() }
    }
}
