//! Passwords are kept as Argon2id hashes with a random salt per password.

use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

const SALT_BYTES: usize = 16;
const HASH_BYTES: usize = 32;

/// A salt and the hash of a password with it, both base64.
pub struct HashedPassword {
    pub salt: String,
    pub hash: String,
}

fn hasher() -> Argon2<'static> {
    // The parameters RustCrypto recommends by default (19 MiB, 2 passes).
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

fn hash_with(password: &str, salt: &[u8]) -> Option<[u8; HASH_BYTES]> {
    let mut hash = [0u8; HASH_BYTES];
    hasher().hash_password_into(password.as_bytes(), salt, &mut hash).ok()?;
    Some(hash)
}

/// Hashes `password` with a fresh random salt. Slow on purpose: run it off
/// the async threads.
pub fn hash_password(password: &str) -> Option<HashedPassword> {
    let salt: [u8; SALT_BYTES] = rand::random();
    let hash = hash_with(password, &salt)?;
    Some(HashedPassword { salt: STANDARD.encode(salt), hash: STANDARD.encode(hash) })
}

/// Whether `password` hashes to `hash` with `salt` (both base64). A record
/// that cannot be decoded verifies nothing.
pub fn verify_password(password: &str, salt: &str, hash: &str) -> bool {
    let (Ok(salt), Ok(expected)) = (STANDARD.decode(salt), STANDARD.decode(hash)) else { return false };
    let Some(actual) = hash_with(password, &salt) else { return false };
    // Both are the same length; compare every byte whatever the first
    // difference, so the time taken tells nothing.
    expected.len() == actual.len() && expected.iter().zip(actual).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let hashed = hash_password("changeit").expect("hashes");
        assert!(verify_password("changeit", &hashed.salt, &hashed.hash));
        assert!(!verify_password("changeIt", &hashed.salt, &hashed.hash));
        let again = hash_password("changeit").expect("hashes");
        assert_ne!(again.salt, hashed.salt, "a fresh salt per password");
        assert_ne!(again.hash, hashed.hash);
        assert!(!verify_password("changeit", "not base64!", &hashed.hash));
    }
}
