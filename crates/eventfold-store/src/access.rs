//! Who may do what to which stream: the one decision every client request
//! passes through ([`crate::ClientAccess`] asks it before each call, with
//! the caller's [`Principal`] and the ACLs that apply).
//!
//! The rules, in order, as KurrentDB's:
//! 1. eventfold's own state streams (persistent subscriptions) are never
//!    written by a client, whoever it is: the server cannot rebuild them;
//! 2. `$admins` (and the node itself) may do everything else;
//! 3. the users' and settings' streams are for `$admins` only, whatever the
//!    defaults say, since they hold password hashes and the ACLs themselves;
//! 4. a stream's own `$acl` right, else the `$settings` default for its kind
//!    (`$` streams are system streams), else the built-in default: system
//!    streams for `$admins`, other streams for every authenticated user;
//! 5. operations (scavenge, verify, backup, subsystems, projections and
//!    persistent subscription management) for `$ops` and `$admins`, user
//!    management for `$admins`, one's own details and password for oneself.
//!
//! Subsystems that own state streams write them through the store itself,
//! not through this check.

use std::fmt;

use crate::StreamName;
use crate::acl::{AclRight, DefaultAcls, SETTINGS_STREAM, StreamAcl};
use crate::principal::Principal;
use crate::system_names::{ALL_STREAM, METADATA_STREAM_PREFIX, PERSISTENT_SUBSCRIPTION_STREAM_PREFIX, metadata_target};

/// Prefix of the stream of one user (`$user-admin`).
pub const USER_STREAM_PREFIX: &str = "$user-";
/// The stream that lists the users.
pub const USERS_STREAM: &str = "$users";

/// What a request does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Reads or subscribes.
    Read,
    /// Appends events to a stream.
    Append,
    /// Writes a stream's metadata (an append to `$$<stream>`): it can
    /// truncate the stream (`$tb`, `$maxCount`, `$maxAge`).
    WriteMetadata,
    /// Soft-deletes a stream (truncates it to its end).
    Delete,
    /// Deletes a stream for good.
    Tombstone,
    /// Starts, stops or reads a scavenge.
    Scavenge,
    /// Verifies the storage.
    Verify,
    /// Makes a backup.
    Backup,
    /// Shuts the node down.
    Shutdown,
    /// Restarts the node's subsystems.
    RestartSubsystems,
    /// Creates, changes, resets or deletes projections.
    ManageProjections,
    /// Creates, starts, stops, resets, deletes or reads connectors (their
    /// settings may hold the targets' credentials).
    ManageConnectors,
    /// Creates, resets or deletes continuous SQL queries (each reads the
    /// whole log and writes its own streams).
    ManageQueries,
    /// Creates, updates, deletes or replays persistent subscription groups.
    ManagePersistentSubscriptions,
    /// Creates, updates, deletes, enables, disables a user or resets its
    /// password.
    ManageUsers,
    /// Reads a user's details (one's own, or any for `$admins`).
    ReadUser,
    /// Changes a user's password knowing the current one.
    ChangePassword,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Read => "read",
            Operation::Append => "append",
            Operation::WriteMetadata => "write the metadata of",
            Operation::Delete => "delete",
            Operation::Tombstone => "tombstone",
            Operation::Scavenge => "scavenge",
            Operation::Verify => "verify",
            Operation::Backup => "back up",
            Operation::Shutdown => "shut down",
            Operation::RestartSubsystems => "restart the subsystems of",
            Operation::ManageProjections => "manage the projections of",
            Operation::ManageConnectors => "manage the connectors of",
            Operation::ManageQueries => "manage the continuous queries of",
            Operation::ManagePersistentSubscriptions => "manage the persistent subscriptions of",
            Operation::ManageUsers => "manage",
            Operation::ReadUser => "read the details of",
            Operation::ChangePassword => "change the password of",
        }
    }

    fn is_write(self) -> bool {
        matches!(self, Operation::Append | Operation::WriteMetadata | Operation::Delete | Operation::Tombstone)
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// What a request touches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource<'a> {
    Stream(&'a StreamName),
    /// The whole log, `$all`.
    All,
    /// The node: its storage and subsystems.
    Node,
    /// One user, by login.
    User(&'a str),
}

/// How the node is named in refusals.
pub const NODE_RESOURCE: &str = "$node";

impl Resource<'_> {
    pub fn name(&self) -> &str {
        match self {
            Resource::Stream(stream) => stream.as_str(),
            Resource::All => ALL_STREAM,
            Resource::Node => NODE_RESOURCE,
            Resource::User(login) => login,
        }
    }
}

/// A request the policy refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("access denied: a client may not {operation} `{resource}`")]
pub struct AccessDenied {
    /// The stream named in the request (`$all` for the whole log). For a
    /// metadata write it is the metadata stream, `$$<stream>`.
    pub resource: String,
    pub operation: Operation,
}

/// The ACLs that apply to one stream: its own `$acl` and the defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AclRules {
    pub stream: Option<StreamAcl>,
    pub defaults: DefaultAcls,
}

/// The rules (see the module's documentation).
#[derive(Clone, Copy, Debug, Default)]
pub struct AccessPolicy;

impl AccessPolicy {
    pub fn check(
        &self,
        principal: &Principal,
        resource: Resource<'_>,
        operation: Operation,
        rules: &AclRules,
    ) -> Result<(), AccessDenied> {
        if allowed(principal, resource, operation, rules) {
            Ok(())
        } else {
            Err(AccessDenied { resource: resource.name().to_owned(), operation })
        }
    }

    /// An append to `$$<stream>` writes `<stream>`'s metadata.
    pub fn append_operation(stream: &StreamName) -> Operation {
        if stream.as_str().starts_with(METADATA_STREAM_PREFIX) { Operation::WriteMetadata } else { Operation::Append }
    }

    /// The stream whose ACL decides `operation` on `resource`, and the right
    /// it needs: a metadata stream's reads and writes are decided by its
    /// subject's `$mr` and `$mw`. `None` where no ACL applies.
    pub fn acl_subject(resource: Resource<'_>, operation: Operation) -> Option<(String, AclRight)> {
        let name = match resource {
            Resource::Stream(stream) => stream.as_str(),
            Resource::All => ALL_STREAM,
            Resource::Node | Resource::User(_) => return None,
        };
        let metadata_of = metadata_target(name);
        let (subject, right) = match (operation, metadata_of) {
            (Operation::Read, Some(subject)) => (subject, AclRight::MetadataRead),
            (Operation::Read, None) => (name, AclRight::Read),
            (Operation::WriteMetadata, subject) => (subject.unwrap_or(name), AclRight::MetadataWrite),
            (Operation::Append, _) => (name, AclRight::Write),
            (Operation::Delete | Operation::Tombstone, _) => (name, AclRight::Delete),
            _ => return None,
        };
        Some((subject.to_owned(), right))
    }
}

fn allowed(principal: &Principal, resource: Resource<'_>, operation: Operation, rules: &AclRules) -> bool {
    if let Resource::Stream(stream) = resource
        && operation.is_write()
        && holds_server_state(stream)
    {
        return false;
    }
    if principal.is_admin() {
        return true;
    }
    match resource {
        Resource::Node => match operation {
            Operation::ManageUsers => false,
            _ => principal.is_operator(),
        },
        Resource::User(login) => {
            matches!(operation, Operation::ReadUser | Operation::ChangePassword) && principal.login() == Some(login)
        }
        Resource::Stream(_) | Resource::All => {
            let Some((subject, right)) = AccessPolicy::acl_subject(resource, operation) else { return false };
            if is_admin_only(&subject) {
                return false;
            }
            let system = subject.starts_with('$');
            let defaults = if system { &rules.defaults.system_streams } else { &rules.defaults.user_streams };
            let granted = rules.stream.as_ref().and_then(|acl| acl.roles(right));
            match granted.or_else(|| defaults.as_ref().and_then(|acl| acl.roles(right))) {
                Some(roles) => roles.iter().any(|role| principal.has_role(role)),
                // Built in: system streams for `$admins` (handled above),
                // other streams for every authenticated user.
                None => !system && matches!(principal, Principal::User(_)),
            }
        }
    }
}

/// Streams no ACL opens: the users' (password hashes) and the settings
/// (the default ACLs themselves).
fn is_admin_only(subject: &str) -> bool {
    subject == SETTINGS_STREAM || subject == USERS_STREAM || subject.starts_with(USER_STREAM_PREFIX)
}

/// Whether `stream` is one of eventfold's own state streams, or the
/// metadata stream of one (whose `$tb` or `$maxCount` would truncate it).
pub fn holds_server_state(stream: &StreamName) -> bool {
    let name = stream.as_str();
    let subject = name.strip_prefix(METADATA_STREAM_PREFIX).unwrap_or(name);
    subject.starts_with(PERSISTENT_SUBSCRIPTION_STREAM_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(name: &str) -> StreamName {
        StreamName::new(name).expect("valid stream name")
    }

    const WRITES: [Operation; 4] =
        [Operation::Append, Operation::WriteMetadata, Operation::Delete, Operation::Tombstone];

    fn check(principal: &Principal, name: &str, operation: Operation, rules: &AclRules) -> bool {
        let stream = stream(name);
        AccessPolicy.check(principal, Resource::Stream(&stream), operation, rules).is_ok()
    }

    fn alice() -> Principal {
        Principal::user("alice", vec!["readers".into()])
    }

    fn admin() -> Principal {
        Principal::user("admin", vec!["$admins".into()])
    }

    fn ops() -> Principal {
        Principal::user("ops", vec!["$ops".into()])
    }

    #[test]
    fn server_state_streams_and_their_metadata_are_read_only_for_everyone() {
        for principal in [Principal::System, admin()] {
            for name in [
                "$persistentsubscription-config",
                "$$$persistentsubscription-config",
                "$persistentsubscription-orders::billing-checkpoint",
                "$$$persistentsubscription-orders::billing-parked",
                "$persistentsubscription-$all::g-parked",
            ] {
                assert!(check(&principal, name, Operation::Read, &AclRules::default()), "{name} stays readable");
                for operation in WRITES {
                    let stream = stream(name);
                    let denied = AccessPolicy
                        .check(&principal, Resource::Stream(&stream), operation, &AclRules::default())
                        .expect_err(name);
                    assert_eq!((denied.resource.as_str(), denied.operation), (name, operation));
                }
            }
        }
    }

    #[test]
    fn the_node_itself_may_do_everything_else() {
        for name in ["order-1", "$$order-1", "$ce-order", "$persistentsubscriptions", "$settings", "$user-admin"] {
            for operation in WRITES.into_iter().chain([Operation::Read]) {
                assert!(check(&Principal::System, name, operation, &AclRules::default()), "{operation} {name}");
            }
        }
        assert_eq!(
            AccessPolicy.check(&Principal::System, Resource::All, Operation::Read, &AclRules::default()),
            Ok(())
        );
    }

    /// Each `$acl` key × who it names (the user, its group, `$all`, someone
    /// else) × each operation: exactly the operation the key governs follows
    /// it, for the user, an anonymous caller and an admin.
    #[test]
    fn acl_matrix() {
        let operations = [
            ("order-1", Operation::Read, AclRight::Read),
            ("order-1", Operation::Append, AclRight::Write),
            ("order-1", Operation::Delete, AclRight::Delete),
            ("order-1", Operation::Tombstone, AclRight::Delete),
            ("$$order-1", Operation::Read, AclRight::MetadataRead),
            ("$$order-1", Operation::WriteMetadata, AclRight::MetadataWrite),
        ];
        // With every right closed (an empty list), one right opened at a time.
        let closed = AclRight::ALL.into_iter().fold(StreamAcl::default(), |acl, right| acl.with(right, &[]));
        for opened in AclRight::ALL {
            for (role, alice_in, anonymous_in) in
                [("alice", true, false), ("readers", true, false), ("$all", true, true), ("bob", false, false)]
            {
                let rules = AclRules { stream: Some(closed.clone().with(opened, &[role])), ..AclRules::default() };
                for (name, operation, governed_by) in operations {
                    let expected = governed_by == opened;
                    let case = format!("{operation} {name} with {} = {role}", opened.key());
                    assert_eq!(check(&alice(), name, operation, &rules), expected && alice_in, "alice: {case}");
                    assert_eq!(
                        check(&Principal::Anonymous, name, operation, &rules),
                        expected && anonymous_in,
                        "anonymous: {case}"
                    );
                    assert!(check(&admin(), name, operation, &rules), "admin: {case}");
                }
            }
        }
    }

    #[test]
    fn built_in_defaults_open_user_streams_to_users_and_system_streams_to_admins() {
        let none = AclRules::default();
        for operation in WRITES.into_iter().chain([Operation::Read]) {
            let name = if operation == Operation::WriteMetadata { "$$order-1" } else { "order-1" };
            assert!(check(&alice(), name, operation, &none), "{operation} {name}");
            assert!(!check(&Principal::Anonymous, name, operation, &none), "anonymous {operation} {name}");
        }
        for name in ["$ce-order", "$et-Placed", "$streams", "$$$ce-order", "$scavenges"] {
            assert!(!check(&alice(), name, Operation::Read, &none), "{name}");
            assert!(!check(&ops(), name, Operation::Read, &none), "{name}");
            assert!(check(&admin(), name, Operation::Read, &none), "{name}");
        }
        assert!(AccessPolicy.check(&alice(), Resource::All, Operation::Read, &none).is_err());
        assert!(AccessPolicy.check(&admin(), Resource::All, Operation::Read, &none).is_ok());
    }

    #[test]
    fn settings_defaults_apply_where_the_stream_names_no_right() {
        let rules = AclRules {
            stream: Some(StreamAcl::default().with(AclRight::Write, &["alice"])),
            defaults: DefaultAcls {
                user_streams: Some(StreamAcl::default().with(AclRight::Read, &["nobody"])),
                system_streams: Some(StreamAcl::default().with(AclRight::Read, &["$all"])),
            },
        };
        assert!(check(&alice(), "order-1", Operation::Append, &rules), "the stream's own right");
        assert!(!check(&alice(), "order-1", Operation::Read, &rules), "the user default");
        assert!(check(
            &Principal::Anonymous,
            "$ce-order",
            Operation::Read,
            &AclRules { stream: None, ..rules.clone() }
        ));
        assert!(
            AccessPolicy.check(&alice(), Resource::All, Operation::Read, &AclRules { stream: None, ..rules }).is_ok()
        );
    }

    #[test]
    fn users_and_settings_streams_are_for_admins_whatever_the_acls_say() {
        let everyone = AclRight::ALL.into_iter().fold(StreamAcl::default(), |acl, right| acl.with(right, &["$all"]));
        let rules = AclRules {
            stream: Some(everyone.clone()),
            defaults: DefaultAcls { user_streams: Some(everyone.clone()), system_streams: Some(everyone) },
        };
        for name in ["$user-admin", "$users", "$settings", "$$$settings", "$$$user-admin"] {
            assert!(!check(&alice(), name, Operation::Read, &rules), "{name}");
            assert!(!check(&alice(), name, AccessPolicy::append_operation(&stream(name)), &rules), "{name}");
            assert!(check(&admin(), name, Operation::Read, &rules), "{name}");
        }
    }

    #[test]
    fn operations_are_for_ops_and_admins_and_users_for_admins_or_themselves() {
        let node_operations = [
            Operation::Scavenge,
            Operation::Verify,
            Operation::Backup,
            Operation::Shutdown,
            Operation::RestartSubsystems,
            Operation::ManageProjections,
            Operation::ManageConnectors,
            Operation::ManageQueries,
            Operation::ManagePersistentSubscriptions,
        ];
        let none = AclRules::default();
        for operation in node_operations {
            assert!(AccessPolicy.check(&admin(), Resource::Node, operation, &none).is_ok(), "{operation}");
            assert!(AccessPolicy.check(&ops(), Resource::Node, operation, &none).is_ok(), "{operation}");
            assert!(AccessPolicy.check(&alice(), Resource::Node, operation, &none).is_err(), "{operation}");
            assert!(AccessPolicy.check(&Principal::Anonymous, Resource::Node, operation, &none).is_err());
        }
        assert!(AccessPolicy.check(&ops(), Resource::Node, Operation::ManageUsers, &none).is_err());
        assert!(AccessPolicy.check(&admin(), Resource::Node, Operation::ManageUsers, &none).is_ok());
        for operation in [Operation::ReadUser, Operation::ChangePassword] {
            assert!(AccessPolicy.check(&alice(), Resource::User("alice"), operation, &none).is_ok());
            assert!(AccessPolicy.check(&alice(), Resource::User("bob"), operation, &none).is_err());
            assert!(AccessPolicy.check(&admin(), Resource::User("bob"), operation, &none).is_ok());
            assert!(AccessPolicy.check(&Principal::Anonymous, Resource::User("alice"), operation, &none).is_err());
        }
        assert!(AccessPolicy.check(&alice(), Resource::User("alice"), Operation::ManageUsers, &none).is_err());
    }

    #[test]
    fn an_append_to_a_metadata_stream_writes_metadata() {
        assert_eq!(AccessPolicy::append_operation(&stream("$$order-1")), Operation::WriteMetadata);
        assert_eq!(AccessPolicy::append_operation(&stream("order-1")), Operation::Append);
        assert_eq!(AccessPolicy::append_operation(&stream("$ce-order")), Operation::Append);
    }
}
