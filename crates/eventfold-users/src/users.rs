//! The users subsystem's entry point: authentication for the faces, and
//! user management, each call checked by the access policy for its caller.

use std::sync::Arc;

use eventfold_store::{
    ADMINS_GROUP, AccessPolicy, AclRules, EventStore, OPS_GROUP, Operation, Principal, Resource, StorageError,
    StorageErrorKind,
};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::cache::CredentialCache;
use crate::password::{hash_password, verify_password};
use crate::record::{UserDetails, UserRecord, user_stream};
use crate::store_io::{StoredUser, creation_expectation, delete_user, list_user, listed_logins, read_user, write_user};
use crate::{AuthenticationError, UsersError};

/// The password of the built-in users on a new node, unless configured.
pub const DEFAULT_PASSWORD: &str = "changeit";
pub const ADMIN_LOGIN: &str = "admin";
pub const OPS_LOGIN: &str = "ops";

/// The passwords `admin` and `ops` get when the node first starts.
#[derive(Clone, Debug, Default)]
pub struct DefaultPasswords {
    pub admin: Option<String>,
    pub ops: Option<String>,
}

/// A user to create.
#[derive(Clone, Debug)]
pub struct NewUser {
    pub login: String,
    pub full_name: String,
    pub password: String,
    pub groups: Vec<String>,
}

#[derive(Clone)]
pub struct Users {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn EventStore>,
    cache: Arc<CredentialCache>,
    /// One change at a time: read, decide, write under the expectation read.
    writes: Mutex<()>,
    watcher: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Users {
    /// Starts the subsystem over the store itself: creates `admin` and `ops`
    /// if they have never existed, warns while either still has the
    /// default password, and starts watching user changes. A store that
    /// cannot be read leaves the built-in users to the next start; the
    /// error is logged.
    pub async fn start(store: Arc<dyn EventStore>, defaults: &DefaultPasswords) -> Users {
        let cache = Arc::new(CredentialCache::default());
        let watcher = tokio::spawn(crate::watch::forget_changed_users(Arc::clone(&store), Arc::clone(&cache)));
        let users = Users {
            inner: Arc::new(Inner {
                store,
                cache,
                writes: Mutex::new(()),
                watcher: std::sync::Mutex::new(Some(watcher)),
            }),
        };
        for (login, group, password) in
            [(ADMIN_LOGIN, ADMINS_GROUP, &defaults.admin), (OPS_LOGIN, OPS_GROUP, &defaults.ops)]
        {
            let password = password.as_deref().unwrap_or(DEFAULT_PASSWORD);
            if let Err(error) = users.ensure_built_in(login, group, password).await {
                tracing::error!(%error, login, "cannot create the built-in user");
            }
        }
        users
    }

    /// Stops watching user changes.
    pub fn shutdown(&self) {
        let watcher = self.inner.watcher.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(watcher) = watcher {
            watcher.abort();
        }
    }

    async fn ensure_built_in(&self, login: &str, group: &str, password: &str) -> Result<(), UsersError> {
        let existing = read_user(&self.inner.store, login).await?;
        let created_before =
            creation_expectation(&self.inner.store, login).await? != eventfold_store::ExpectedRevision::NoStream;
        match existing {
            // Deleted on purpose: not brought back.
            None if created_before => Ok(()),
            None => {
                let user = NewUser {
                    login: login.to_owned(),
                    full_name: format!("Default {login}"),
                    password: password.to_owned(),
                    groups: vec![group.to_owned()],
                };
                self.create(&Principal::System, user).await?;
                if password == DEFAULT_PASSWORD {
                    warn_default_password(login);
                }
                Ok(())
            }
            Some(stored) => {
                let record = stored.record;
                let unchanged = tokio::task::spawn_blocking(move || {
                    !record.disabled && verify_password(DEFAULT_PASSWORD, &record.salt, &record.hash)
                })
                .await
                .unwrap_or(false);
                if unchanged {
                    warn_default_password(login);
                }
                Ok(())
            }
        }
    }

    /// The principal these credentials stand for.
    pub async fn authenticate(&self, login: &str, password: &str) -> Result<Principal, AuthenticationError> {
        let cache = &self.inner.cache;
        let digest = cache.digest(password);
        if let Some(principal) = cache.get(login, &digest) {
            return Ok(principal);
        }
        let generation = cache.generation();
        let stored = match read_user(&self.inner.store, login).await {
            Ok(Some(stored)) => stored,
            Ok(None) | Err(UsersError::InvalidLogin { .. }) => return Err(AuthenticationError::UnknownUser),
            Err(UsersError::Storage(error)) => return Err(error.into()),
            Err(other) => return Err(StorageError::new(StorageErrorKind::Io, other.to_string()).into()),
        };
        if stored.record.disabled {
            return Err(AuthenticationError::Disabled);
        }
        let (salt, hash, attempt) = (stored.record.salt.clone(), stored.record.hash.clone(), password.to_owned());
        let verified =
            tokio::task::spawn_blocking(move || verify_password(&attempt, &salt, &hash)).await.unwrap_or(false);
        if !verified {
            return Err(AuthenticationError::WrongPassword);
        }
        let principal = Principal::user(login, stored.record.groups);
        cache.insert(login, digest, principal.clone(), generation);
        Ok(principal)
    }

    pub async fn create(&self, actor: &Principal, user: NewUser) -> Result<(), UsersError> {
        authorize(actor, Resource::Node, Operation::ManageUsers)?;
        user_stream(&user.login)?;
        let hashed = hash(user.password).await?;
        let _writes = self.inner.writes.lock().await;
        if read_user(&self.inner.store, &user.login).await?.is_some() {
            return Err(UsersError::AlreadyExists(user.login));
        }
        let expected = creation_expectation(&self.inner.store, &user.login).await?;
        let record = UserRecord {
            login_name: user.login.clone(),
            full_name: user.full_name,
            salt: hashed.salt,
            hash: hashed.hash,
            disabled: false,
            groups: user.groups,
        };
        write_user(&self.inner.store, &record, expected).await?;
        list_user(&self.inner.store, &user.login).await?;
        self.inner.cache.forget(&user.login);
        Ok(())
    }

    pub async fn update(
        &self,
        actor: &Principal,
        login: &str,
        full_name: String,
        groups: Vec<String>,
    ) -> Result<(), UsersError> {
        authorize(actor, Resource::Node, Operation::ManageUsers)?;
        self.change(login, |record| {
            record.full_name = full_name;
            record.groups = groups;
        })
        .await
    }

    pub async fn set_disabled(&self, actor: &Principal, login: &str, disabled: bool) -> Result<(), UsersError> {
        authorize(actor, Resource::Node, Operation::ManageUsers)?;
        self.change(login, |record| record.disabled = disabled).await
    }

    pub async fn reset_password(&self, actor: &Principal, login: &str, password: String) -> Result<(), UsersError> {
        authorize(actor, Resource::Node, Operation::ManageUsers)?;
        let hashed = hash(password).await?;
        self.change(login, |record| {
            record.salt = hashed.salt;
            record.hash = hashed.hash;
        })
        .await
    }

    pub async fn change_password(
        &self,
        actor: &Principal,
        login: &str,
        current: String,
        new: String,
    ) -> Result<(), UsersError> {
        authorize(actor, Resource::User(login), Operation::ChangePassword)?;
        let stored = self.existing(login).await?;
        let (salt, hash_base64) = (stored.record.salt.clone(), stored.record.hash.clone());
        let verified =
            tokio::task::spawn_blocking(move || verify_password(&current, &salt, &hash_base64)).await.unwrap_or(false);
        if !verified {
            return Err(UsersError::WrongCurrentPassword(login.to_owned()));
        }
        let hashed = hash(new).await?;
        let _writes = self.inner.writes.lock().await;
        let mut record = stored.record;
        record.salt = hashed.salt;
        record.hash = hashed.hash;
        let written =
            write_user(&self.inner.store, &record, eventfold_store::ExpectedRevision::Exact(stored.revision)).await;
        self.inner.cache.forget(login);
        written
    }

    pub async fn delete(&self, actor: &Principal, login: &str) -> Result<(), UsersError> {
        authorize(actor, Resource::Node, Operation::ManageUsers)?;
        let _writes = self.inner.writes.lock().await;
        let stored = self.existing(login).await?;
        let deleted = delete_user(&self.inner.store, login, stored.revision).await;
        self.inner.cache.forget(login);
        deleted
    }

    pub async fn details(&self, actor: &Principal, login: &str) -> Result<UserDetails, UsersError> {
        authorize(actor, Resource::User(login), Operation::ReadUser)?;
        let stored = self.existing(login).await?;
        Ok(stored.record.details(stored.updated_ticks))
    }

    /// Every user that exists now, in creation order.
    pub async fn list(&self, actor: &Principal) -> Result<Vec<UserDetails>, UsersError> {
        authorize(actor, Resource::Node, Operation::ManageUsers)?;
        let mut users = Vec::new();
        for login in listed_logins(&self.inner.store).await? {
            if let Some(stored) = read_user(&self.inner.store, &login).await? {
                users.push(stored.record.details(stored.updated_ticks));
            }
        }
        Ok(users)
    }

    async fn existing(&self, login: &str) -> Result<StoredUser, UsersError> {
        read_user(&self.inner.store, login).await?.ok_or_else(|| UsersError::NotFound(login.to_owned()))
    }

    /// Reads the user, applies `change`, writes the result where it was read.
    async fn change(&self, login: &str, change: impl FnOnce(&mut UserRecord)) -> Result<(), UsersError> {
        let _writes = self.inner.writes.lock().await;
        let stored = self.existing(login).await?;
        let mut record = stored.record;
        change(&mut record);
        let written =
            write_user(&self.inner.store, &record, eventfold_store::ExpectedRevision::Exact(stored.revision)).await;
        // Forgotten whatever the outcome: the watcher does it too, later.
        self.inner.cache.forget(login);
        written
    }
}

fn authorize(actor: &Principal, resource: Resource<'_>, operation: Operation) -> Result<(), UsersError> {
    AccessPolicy.check(actor, resource, operation, &AclRules::default())?;
    Ok(())
}

async fn hash(password: String) -> Result<crate::password::HashedPassword, UsersError> {
    if password.is_empty() {
        return Err(UsersError::EmptyPassword);
    }
    let hashed = tokio::task::spawn_blocking(move || hash_password(&password)).await.ok().flatten();
    hashed.ok_or_else(|| StorageError::new(StorageErrorKind::Io, "the password could not be hashed").into())
}

fn warn_default_password(login: &str) {
    tracing::warn!(
        login,
        "user `{login}` still has the default password `{DEFAULT_PASSWORD}`: change it (see the README, \"Users and access control\")"
    );
}
