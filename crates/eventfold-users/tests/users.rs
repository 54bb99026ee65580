//! The users subsystem over the real embedded engine: the built-in users, a
//! user's life (create, authenticate, update, disable, passwords, delete)
//! and who may manage whom. Credentials are answered from the cache only
//! while the user is unchanged.

use std::sync::Arc;
use std::time::Duration;

use eventfold_engine::{Engine, EngineConfig};
use eventfold_store::{
    AppendRequest, EventStore, ExpectedRevision, Principal, ProposedEvent, ReadStreamRequest, StreamName,
};
use eventfold_users::{AuthenticationError, DefaultPasswords, NewUser, Users, UsersError};
use futures::StreamExt;

const TIMEOUT: Duration = Duration::from_secs(30);

async fn open(dir: &tempfile::TempDir) -> Arc<dyn EventStore> {
    let config = EngineConfig::new(dir.path());
    let engine = tokio::task::spawn_blocking(move || Engine::open(config)).await.expect("task").expect("engine");
    Arc::new(engine)
}

fn admin() -> Principal {
    Principal::user("admin", vec!["$admins".into()])
}

fn alice_spec() -> NewUser {
    NewUser { login: "alice".into(), full_name: "Alice".into(), password: "pa55".into(), groups: vec!["dev".into()] }
}

async fn run(test: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(TIMEOUT, test).await.expect("the test finished in time");
}

#[tokio::test]
async fn a_new_node_has_admin_and_ops_with_the_configured_passwords() {
    run(async {
        let dir = tempfile::tempdir().expect("dir");
        let store = open(&dir).await;
        let defaults = DefaultPasswords { admin: Some("s3cret".into()), ops: None };
        let users = Users::start(Arc::clone(&store), &defaults).await;
        let admin = users.authenticate("admin", "s3cret").await.expect("admin with its configured password");
        assert!(admin.is_admin());
        assert_eq!(users.authenticate("admin", "changeit").await, Err(AuthenticationError::WrongPassword));
        let ops = users.authenticate("ops", "changeit").await.expect("ops with the default password");
        assert!(ops.is_operator() && !ops.is_admin());
        // Stored as KurrentDB stores users.
        let mut listed = store
            .read_stream(ReadStreamRequest::forwards(StreamName::new("$users").expect("name")))
            .await
            .expect("$users");
        let first = listed.next().await.expect("an entry").expect("readable");
        assert_eq!((first.event_type.as_str(), &first.data[..]), ("$UserCreated", &b"admin"[..]));
        users.shutdown();
        // A restart keeps them, whatever the defaults say now.
        let again = Users::start(store, &DefaultPasswords::default()).await;
        assert!(again.authenticate("admin", "s3cret").await.is_ok());
        again.shutdown();
    })
    .await;
}

#[tokio::test]
async fn a_user_lives_and_dies_through_the_subsystem() {
    run(async {
        let dir = tempfile::tempdir().expect("dir");
        let users = Users::start(open(&dir).await, &DefaultPasswords::default()).await;
        users.create(&admin(), alice_spec()).await.expect("created");
        assert_eq!(users.create(&admin(), alice_spec()).await, Err(UsersError::AlreadyExists("alice".into())));
        let alice = users.authenticate("alice", "pa55").await.expect("alice");
        assert_eq!(alice.login(), Some("alice"));
        assert!(alice.has_role("dev"));

        users.update(&admin(), "alice", "Alice A.".into(), vec!["qa".into()]).await.expect("updated");
        let details = users.details(&alice, "alice").await.expect("her own details");
        assert_eq!((details.full_name.as_str(), details.groups.clone()), ("Alice A.", vec!["qa".to_owned()]));
        let renewed = users.authenticate("alice", "pa55").await.expect("alice");
        assert!(renewed.has_role("qa") && !renewed.has_role("dev"), "the cache forgot the old groups");

        users.set_disabled(&admin(), "alice", true).await.expect("disabled");
        assert_eq!(users.authenticate("alice", "pa55").await, Err(AuthenticationError::Disabled));
        users.set_disabled(&admin(), "alice", false).await.expect("enabled");
        assert!(users.authenticate("alice", "pa55").await.is_ok());

        let wrong = users.change_password(&alice, "alice", "nope".into(), "new".into()).await;
        assert_eq!(wrong, Err(UsersError::WrongCurrentPassword("alice".into())));
        users.change_password(&alice, "alice", "pa55".into(), "n3w".into()).await.expect("changed");
        assert_eq!(users.authenticate("alice", "pa55").await, Err(AuthenticationError::WrongPassword));
        assert!(users.authenticate("alice", "n3w").await.is_ok());
        users.reset_password(&admin(), "alice", "r3set".into()).await.expect("reset");
        assert!(users.authenticate("alice", "r3set").await.is_ok());

        let logins: Vec<_> =
            users.list(&admin()).await.expect("list").into_iter().map(|user| user.login_name).collect();
        assert_eq!(logins, ["admin", "ops", "alice"]);
        users.delete(&admin(), "alice").await.expect("deleted");
        assert_eq!(users.authenticate("alice", "r3set").await, Err(AuthenticationError::UnknownUser));
        assert_eq!(users.details(&admin(), "alice").await, Err(UsersError::NotFound("alice".into())));
        users.create(&admin(), alice_spec()).await.expect("a deleted login can be created again");
        assert!(users.authenticate("alice", "pa55").await.is_ok());
        users.shutdown();
    })
    .await;
}

#[tokio::test]
async fn only_admins_manage_users_and_a_user_reaches_only_itself() {
    run(async {
        let dir = tempfile::tempdir().expect("dir");
        let users = Users::start(open(&dir).await, &DefaultPasswords::default()).await;
        users.create(&admin(), alice_spec()).await.expect("created");
        let alice = Principal::user("alice", vec!["dev".into()]);
        let ops = Principal::user("ops", vec!["$ops".into()]);
        for actor in [&alice, &ops, &Principal::Anonymous] {
            let spec = NewUser { login: "mallory".into(), ..alice_spec() };
            assert!(matches!(users.create(actor, spec).await, Err(UsersError::AccessDenied(_))));
            assert!(matches!(users.set_disabled(actor, "admin", true).await, Err(UsersError::AccessDenied(_))));
            assert!(matches!(users.list(actor).await, Err(UsersError::AccessDenied(_))));
        }
        assert!(matches!(users.details(&alice, "admin").await, Err(UsersError::AccessDenied(_))));
        let change = users.change_password(&alice, "admin", "changeit".into(), "mine".into()).await;
        assert!(matches!(change, Err(UsersError::AccessDenied(_))));
        assert!(users.authenticate("admin", "changeit").await.is_ok(), "nothing was written");
        assert!(matches!(
            users.create(&admin(), NewUser { login: "a:b".into(), ..alice_spec() }).await,
            Err(UsersError::InvalidLogin { .. })
        ));
        users.shutdown();
    })
    .await;
}

/// A change written to `$user-<login>` by hand (not through the subsystem)
/// also ends the cached credential: the watcher forgets it.
#[tokio::test]
async fn a_direct_write_to_a_user_stream_ends_its_cached_credentials() {
    run(async {
        let dir = tempfile::tempdir().expect("dir");
        let store = open(&dir).await;
        let users = Users::start(Arc::clone(&store), &DefaultPasswords::default()).await;
        users.create(&admin(), alice_spec()).await.expect("created");
        assert!(users.authenticate("alice", "pa55").await.is_ok(), "now cached");
        let stream = StreamName::new("$user-alice").expect("name");
        let record = serde_json::json!({
            "loginName": "alice", "fullName": "Alice", "salt": "", "hash": "", "disabled": true, "groups": []
        });
        let event = ProposedEvent::json("$user", serde_json::to_vec(&record).expect("json"));
        store.append(AppendRequest::new(stream, ExpectedRevision::Any, vec![event])).await.expect("written");
        loop {
            if users.authenticate("alice", "pa55").await == Err(AuthenticationError::Disabled) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        users.shutdown();
    })
    .await;
}
