//! Users, as KurrentDB has them: each user's record (login, full name,
//! groups, disabled, Argon2id password hash with its own salt) is the
//! latest `$user` event of `$user-<login>`, and `$users` lists the logins.
//! A new node gets `admin` (group `$admins`) and `ops` (group `$ops`).
//!
//! Written against the [`eventfold_store::EventStore`] trait only, over the
//! store itself: the subsystem checks each management call against the
//! access policy for its caller, then writes. Verified credentials are
//! cached (Argon2id costs milliseconds per check) and forgotten as soon as
//! their user's stream changes.

#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod cache;
mod error;
mod password;
mod record;
mod store_io;
mod users;
mod watch;

pub use cache::CredentialCache;
pub use error::{AuthenticationError, UsersError};
pub use record::{USER_CREATED_EVENT_TYPE, USER_EVENT_TYPE, UserDetails, UserRecord};
pub use users::{ADMIN_LOGIN, DEFAULT_PASSWORD, DefaultPasswords, NewUser, OPS_LOGIN, Users};
