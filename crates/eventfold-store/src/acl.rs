//! Access control lists as EventStoreDB writes them: a stream's `$acl` in
//! its metadata (`$r`, `$w`, `$d`, `$mr`, `$mw`, each a role or a list of
//! roles) and the defaults in the `$settings` stream (`$userStreamAcl` for
//! ordinary streams, `$systemStreamAcl` for `$` ones).

use serde_json::Value;

/// The stream that holds the default ACLs.
pub const SETTINGS_STREAM: &str = "$settings";
/// The event type of a `$settings` document.
pub const SETTINGS_EVENT_TYPE: &str = "update-default-acl";

/// Which right of an ACL an operation needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AclRight {
    Read,
    Write,
    Delete,
    MetadataRead,
    MetadataWrite,
}

impl AclRight {
    pub const ALL: [AclRight; 5] =
        [AclRight::Read, AclRight::Write, AclRight::Delete, AclRight::MetadataRead, AclRight::MetadataWrite];

    /// The key of this right in an `$acl` document.
    pub fn key(self) -> &'static str {
        match self {
            AclRight::Read => "$r",
            AclRight::Write => "$w",
            AclRight::Delete => "$d",
            AclRight::MetadataRead => "$mr",
            AclRight::MetadataWrite => "$mw",
        }
    }
}

/// One ACL. A right it does not name is `None`: the default applies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamAcl {
    rights: [Option<Vec<String>>; 5],
}

impl StreamAcl {
    /// The ACL of an `$acl` object; keys of the wrong type count as absent.
    pub fn from_json(acl: &Value) -> Self {
        let mut parsed = StreamAcl::default();
        for (slot, right) in parsed.rights.iter_mut().zip(AclRight::ALL) {
            *slot = match acl.get(right.key()) {
                Some(Value::String(role)) => Some(vec![role.clone()]),
                Some(Value::Array(roles)) => {
                    Some(roles.iter().filter_map(|role| role.as_str().map(str::to_owned)).collect())
                }
                _ => None,
            };
        }
        parsed
    }

    /// The `$acl` of a stream metadata document, if it has one.
    pub fn of_metadata(metadata: &[u8]) -> Option<Self> {
        let document = serde_json::from_slice::<Value>(metadata).ok()?;
        document.get("$acl").filter(|acl| acl.is_object()).map(StreamAcl::from_json)
    }

    pub fn with(mut self, right: AclRight, roles: &[&str]) -> Self {
        if let Some(slot) = self.rights.get_mut(right as usize) {
            *slot = Some(roles.iter().map(|role| (*role).to_owned()).collect());
        }
        self
    }

    /// The roles granted `right`, if this ACL names it.
    pub fn roles(&self, right: AclRight) -> Option<&[String]> {
        self.rights.get(right as usize).and_then(Option::as_deref)
    }
}

/// The default ACLs of the `$settings` stream; absent ones fall back to
/// the built-in defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DefaultAcls {
    pub user_streams: Option<StreamAcl>,
    pub system_streams: Option<StreamAcl>,
}

impl DefaultAcls {
    /// The defaults a `$settings` document sets.
    pub fn of_settings(settings: &[u8]) -> Self {
        let Ok(document) = serde_json::from_slice::<Value>(settings) else { return DefaultAcls::default() };
        let acl = |key: &str| document.get(key).filter(|acl| acl.is_object()).map(StreamAcl::from_json);
        DefaultAcls { user_streams: acl("$userStreamAcl"), system_streams: acl("$systemStreamAcl") }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_a_string_or_a_list_and_other_keys_are_absent() {
        let acl = StreamAcl::of_metadata(br#"{"$acl": {"$r": "$all", "$w": ["alice", "ops-team"], "$d": 3}}"#)
            .expect("an $acl");
        assert_eq!(acl.roles(AclRight::Read), Some(&["$all".to_owned()][..]));
        assert_eq!(acl.roles(AclRight::Write), Some(&["alice".to_owned(), "ops-team".to_owned()][..]));
        assert_eq!(acl.roles(AclRight::Delete), None, "a number is no role");
        assert_eq!(acl.roles(AclRight::MetadataRead), None);
        assert_eq!(StreamAcl::of_metadata(br#"{"$maxCount": 3}"#), None);
        assert_eq!(StreamAcl::of_metadata(b"not json"), None);
    }

    #[test]
    fn settings_name_the_defaults_for_user_and_system_streams() {
        let defaults = DefaultAcls::of_settings(br#"{"$userStreamAcl": {"$r": "readers"}, "$systemStreamAcl": {}}"#);
        let user = defaults.user_streams.expect("user defaults");
        assert_eq!(user.roles(AclRight::Read), Some(&["readers".to_owned()][..]));
        assert_eq!(defaults.system_streams, Some(StreamAcl::default()));
        assert_eq!(DefaultAcls::of_settings(b"[]"), DefaultAcls::default());
    }
}
