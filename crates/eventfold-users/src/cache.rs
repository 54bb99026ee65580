//! Credentials verified recently, so that a client sending the same Basic
//! credentials with every call pays Argon2id once, not per call.
//!
//! Keyed by login and a digest of the password under a key drawn at start
//! (the password itself is never kept). A change to a user forgets its
//! entries; a check that began before the change cannot put a stale answer
//! back (see [`CredentialCache::insert`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use blake2::{Blake2s256, Digest};
use eventfold_store::Principal;

/// Past this many cached logins the cache starts over: memory stays bounded
/// whatever the number of users.
const LOGINS_MAX: usize = 10_000;
/// Passwords remembered per login (a password change leaves the old one
/// unusable, not cached).
const PASSWORDS_PER_LOGIN_MAX: usize = 4;

pub type PasswordDigest = [u8; 32];

pub struct CredentialCache {
    key: [u8; 32],
    entries: Mutex<HashMap<String, Vec<(PasswordDigest, Principal)>>>,
    /// Counts forgets: an answer computed across one is not cached.
    generation: AtomicU64,
}

impl Default for CredentialCache {
    fn default() -> Self {
        Self { key: rand::random(), entries: Mutex::default(), generation: AtomicU64::new(0) }
    }
}

impl CredentialCache {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<(PasswordDigest, Principal)>>> {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn digest(&self, password: &str) -> PasswordDigest {
        let mut hasher = Blake2s256::new();
        hasher.update(self.key);
        hasher.update(password.as_bytes());
        hasher.finalize().into()
    }

    pub fn get(&self, login: &str, digest: &PasswordDigest) -> Option<Principal> {
        let entries = self.entries();
        let passwords = entries.get(login)?;
        passwords.iter().find(|(cached, _)| cached == digest).map(|(_, principal)| principal.clone())
    }

    /// Taken before reading a user's record; handed back to [`Self::insert`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Caches a verified credential, unless some user changed since
    /// `generation` was taken (the record read may be stale).
    pub fn insert(&self, login: &str, digest: PasswordDigest, principal: Principal, generation: u64) {
        let mut entries = self.entries();
        // Checked under the lock that `forget` takes too.
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if entries.len() >= LOGINS_MAX && !entries.contains_key(login) {
            entries.clear();
        }
        let passwords = entries.entry(login.to_owned()).or_default();
        if passwords.len() >= PASSWORDS_PER_LOGIN_MAX {
            passwords.remove(0);
        }
        passwords.push((digest, principal));
    }

    /// Forgets every credential of `login`: the user changed.
    pub fn forget(&self, login: &str) {
        let mut entries = self.entries();
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.remove(login);
    }

    pub fn forget_all(&self) {
        let mut entries = self.entries();
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Principal {
        Principal::user("alice", vec![])
    }

    #[test]
    fn a_verified_password_is_found_and_another_is_not() {
        let cache = CredentialCache::default();
        let digest = cache.digest("secret");
        cache.insert("alice", digest, alice(), cache.generation());
        assert_eq!(cache.get("alice", &cache.digest("secret")), Some(alice()));
        assert_eq!(cache.get("alice", &cache.digest("Secret")), None);
        assert_eq!(cache.get("bob", &cache.digest("secret")), None);
        assert_ne!(CredentialCache::default().digest("secret"), digest, "the digest is keyed per process");
    }

    #[test]
    fn a_change_to_the_user_forgets_it_and_only_it() {
        let cache = CredentialCache::default();
        cache.insert("alice", cache.digest("a"), alice(), cache.generation());
        cache.insert("bob", cache.digest("b"), Principal::user("bob", vec![]), cache.generation());
        cache.forget("alice");
        assert_eq!(cache.get("alice", &cache.digest("a")), None);
        assert!(cache.get("bob", &cache.digest("b")).is_some());
    }

    #[test]
    fn an_answer_computed_across_a_change_is_not_cached() {
        let cache = CredentialCache::default();
        let before = cache.generation();
        cache.forget("alice");
        cache.insert("alice", cache.digest("old"), alice(), before);
        assert_eq!(cache.get("alice", &cache.digest("old")), None);
    }

    #[test]
    fn memory_stays_bounded() {
        let cache = CredentialCache::default();
        for attempt in 0..10 {
            cache.insert("alice", cache.digest(&attempt.to_string()), alice(), cache.generation());
        }
        assert_eq!(cache.entries().get("alice").map(Vec::len), Some(PASSWORDS_PER_LOGIN_MAX));
        for login in 0..=LOGINS_MAX {
            cache.insert(&login.to_string(), cache.digest("x"), alice(), cache.generation());
        }
        assert!(cache.entries().len() <= LOGINS_MAX);
    }
}
