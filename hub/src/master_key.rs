//! The hub's master key: 32 random bytes in `master.key` (owner-only) in the data directory,
//! made by `init` or on first open of a hub from before shops. It encrypts the secrets of shop
//! credentials with XChaCha20-Poly1305, so it must be backed up together with the database:
//! without it those secrets cannot be read.

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use std::path::{Path, PathBuf};

/// The master key's file name in the hub data directory.
pub const MASTER_KEY_FILE: &str = "master.key";
const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 24;
/// Version byte in front of every sealed value.
const SEALED_V1: u8 = 1;

#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error("cannot read or write master key {path}: {reason}")]
    Io { path: PathBuf, reason: String },
    #[error("master key {path} is {len} bytes, not {KEY_BYTES}")]
    BadLength { path: PathBuf, len: usize },
    #[error(
        "sealed value does not decrypt with this hub's master key (was master.key replaced, or \
         the record moved to another shop or tenant?)"
    )]
    Decrypt,
    #[error("sealed value is malformed: {0}")]
    Malformed(&'static str),
}

/// The key; its bytes never leave this type.
#[derive(Clone)]
pub struct MasterKey(XChaCha20Poly1305);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// Reads `master.key` from `dir`, making it (32 random bytes, mode 0600) if it is missing.
    pub fn load_or_create(dir: &Path) -> Result<MasterKey, MasterKeyError> {
        let path = dir.join(MASTER_KEY_FILE);
        let io = |e: &dyn std::fmt::Display| MasterKeyError::Io {
            path: path.clone(),
            reason: e.to_string(),
        };
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let fresh: [u8; KEY_BYTES] = rand::random();
                crate::agents::ca::write_private(&path, &fresh).map_err(|e| io(&e))?;
                fresh.to_vec()
            }
            Err(e) => return Err(io(&e)),
        };
        let key: [u8; KEY_BYTES] =
            bytes
                .as_slice()
                .try_into()
                .map_err(|_| MasterKeyError::BadLength {
                    path: path.clone(),
                    len: bytes.len(),
                })?;
        Ok(MasterKey::from_bytes(key))
    }

    pub fn from_bytes(key: [u8; KEY_BYTES]) -> MasterKey {
        MasterKey(XChaCha20Poly1305::new(&key.into()))
    }

    /// Encrypts `plain` bound to `aad` (who it belongs to): version byte, random 24-byte nonce,
    /// ciphertext with its tag.
    pub fn seal(&self, aad: &[u8], plain: &[u8]) -> Vec<u8> {
        let nonce: [u8; NONCE_BYTES] = rand::random();
        let sealed = self
            .0
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plain, aad })
            // Only fails for inputs beyond 256 GiB.
            .expect("plaintext within the aead's limit");
        let mut out = Vec::with_capacity(1 + NONCE_BYTES + sealed.len());
        out.push(SEALED_V1);
        out.extend_from_slice(&nonce);
        out.extend(sealed);
        out
    }

    /// Decrypts what [`MasterKey::seal`] made with the same `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, MasterKeyError> {
        let (&version, rest) = sealed
            .split_first()
            .ok_or(MasterKeyError::Malformed("empty"))?;
        if version != SEALED_V1 {
            return Err(MasterKeyError::Malformed("unknown version"));
        }
        if rest.len() < NONCE_BYTES {
            return Err(MasterKeyError::Malformed("shorter than its nonce"));
        }
        let (nonce, msg) = rest.split_at(NONCE_BYTES);
        self.0
            .decrypt(XNonce::from_slice(nonce), Payload { msg, aad })
            .map_err(|_| MasterKeyError::Decrypt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_opens_only_with_the_same_key_and_owner() {
        let key = MasterKey::from_bytes([7; 32]);
        let sealed = key.seal(b"acme\0shop-1", b"secret");
        assert_eq!(key.open(b"acme\0shop-1", &sealed).unwrap(), b"secret");
        assert!(matches!(
            key.open(b"acme\0shop-2", &sealed),
            Err(MasterKeyError::Decrypt)
        ));
        let other = MasterKey::from_bytes([8; 32]);
        assert!(matches!(
            other.open(b"acme\0shop-1", &sealed),
            Err(MasterKeyError::Decrypt)
        ));
        assert!(key.open(b"acme\0shop-1", &sealed[..10]).is_err());
    }

    #[test]
    fn the_key_file_is_made_once_and_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let a = MasterKey::load_or_create(dir.path()).unwrap();
        let b = MasterKey::load_or_create(dir.path()).unwrap();
        let sealed = a.seal(b"x", b"y");
        assert_eq!(b.open(b"x", &sealed).unwrap(), b"y");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(MASTER_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(dir.path().join(MASTER_KEY_FILE), b"short").unwrap();
        let err = MasterKey::load_or_create(dir.path()).unwrap_err();
        assert!(err.to_string().contains("5 bytes"), "{err}");
    }
}
