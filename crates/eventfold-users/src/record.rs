//! A user as it is stored: the latest `$user` event of `$user-<login>` holds
//! the whole record (as KurrentDB keeps it: login, full name, salt, hash,
//! disabled, groups); `$users` lists every login ever created, one
//! `$UserCreated` event each.

use eventfold_store::{StreamName, USER_STREAM_PREFIX, USERS_STREAM};
use serde::{Deserialize, Serialize};

use crate::UsersError;

/// The event type of a user record.
pub const USER_EVENT_TYPE: &str = "$user";
/// The event type of an entry of `$users`.
pub const USER_CREATED_EVENT_TYPE: &str = "$UserCreated";

/// Longest login accepted.
pub const LOGIN_MAX_BYTES: usize = 256;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRecord {
    pub login_name: String,
    pub full_name: String,
    /// Base64 of the Argon2id salt.
    pub salt: String,
    /// Base64 of the Argon2id hash.
    pub hash: String,
    pub disabled: bool,
    pub groups: Vec<String>,
}

/// What a client may see of a user: everything but the password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserDetails {
    pub login_name: String,
    pub full_name: String,
    pub groups: Vec<String>,
    pub disabled: bool,
    /// When the record last changed, in .NET ticks (100 ns since the Unix
    /// epoch), as the clients read it.
    pub last_updated_ticks: i64,
}

impl UserRecord {
    pub fn details(&self, last_updated_ticks: i64) -> UserDetails {
        UserDetails {
            login_name: self.login_name.clone(),
            full_name: self.full_name.clone(),
            groups: self.groups.clone(),
            disabled: self.disabled,
            last_updated_ticks,
        }
    }
}

/// `$user-<login>`, after checking the login: not empty, no control
/// characters, no `:` (Basic credentials split on the first one).
pub fn user_stream(login: &str) -> Result<StreamName, UsersError> {
    let invalid = |reason: &str| UsersError::InvalidLogin { login: login.to_owned(), reason: reason.to_owned() };
    if login.is_empty() {
        return Err(invalid("a login may not be empty"));
    }
    if login.len() > LOGIN_MAX_BYTES {
        return Err(invalid("a login may have at most 256 bytes"));
    }
    if login.chars().any(|character| character.is_control() || character == ':') {
        return Err(invalid("a login may not hold control characters or `:`"));
    }
    StreamName::new(format!("{USER_STREAM_PREFIX}{login}")).map_err(|error| invalid(&error.to_string()))
}

pub fn users_stream() -> StreamName {
    StreamName::new(USERS_STREAM).unwrap_or_else(|_| unreachable!("`$users` is a valid stream name"))
}

/// The login a `$user-<login>` (or its metadata stream) belongs to.
pub fn login_of_stream(stream: &str) -> Option<&str> {
    stream.trim_start_matches("$$").strip_prefix(USER_STREAM_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_name_their_stream_and_bad_ones_are_refused() {
        assert_eq!(user_stream("alice").expect("valid").as_str(), "$user-alice");
        for bad in ["", "a:b", "tab\there", &"x".repeat(LOGIN_MAX_BYTES + 1)] {
            assert!(matches!(user_stream(bad), Err(UsersError::InvalidLogin { .. })), "{bad:?}");
        }
        assert_eq!(login_of_stream("$user-alice"), Some("alice"));
        assert_eq!(login_of_stream("$$$user-alice"), Some("alice"));
        assert_eq!(login_of_stream("$users"), None);
    }

    #[test]
    fn records_use_the_field_names_kurrentdb_stores() {
        let record = UserRecord {
            login_name: "alice".into(),
            full_name: "Alice".into(),
            salt: "c2FsdA==".into(),
            hash: "aGFzaA==".into(),
            disabled: false,
            groups: vec!["$ops".into()],
        };
        let json = serde_json::to_value(&record).expect("serializes");
        for key in ["loginName", "fullName", "salt", "hash", "disabled", "groups"] {
            assert!(json.get(key).is_some(), "{key} in {json}");
        }
    }
}
