//! Argon2id password hashes (PHC strings), with the crate's default parameters (m = 19 MiB,
//! t = 2, p = 1: the OWASP recommendation).

use super::AuthError;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use std::sync::{Condvar, Mutex, OnceLock, PoisonError};

/// At most this many hashes are computed at once: one per core. Each takes 19 MiB and a core
/// for tens of milliseconds, so a burst of sign-ins (or an attacker's) queues here instead of
/// filling the blocking pool with hundreds of hashes that thrash memory and starve other
/// requests.
fn hash_slots() -> &'static Slots {
    static SLOTS: OnceLock<Slots> = OnceLock::new();
    SLOTS.get_or_init(|| {
        Slots::new(std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get))
    })
}

/// A counting semaphore for blocking threads (the hashes run on tokio's blocking pool).
struct Slots {
    free: Mutex<usize>,
    freed: Condvar,
}

struct Slot(&'static Slots);

impl Slots {
    fn new(slots: usize) -> Slots {
        Slots {
            free: Mutex::new(slots.max(1)),
            freed: Condvar::new(),
        }
    }

    fn take(&'static self) -> Slot {
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        while *free == 0 {
            free = self
                .freed
                .wait(free)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *free -= 1;
        Slot(self)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        self.0.freed.notify_one();
    }
}

/// Hashes a password with a fresh random salt.
pub fn hash(password: &str) -> Result<String, AuthError> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| AuthError::Hash(e.to_string()))?;
    let _slot = hash_slots().take();
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// Whether `password` matches the PHC string `phc`. A malformed hash matches nothing.
pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => {
            let _slot = hash_slots().take();
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        }
        Err(_) => false,
    }
}

/// Spends as long as [`verify`] does against a real hash, for unknown users, so response times
/// do not tell which usernames exist.
pub fn verify_dummy(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let phc = DUMMY.get_or_init(|| hash("dummy password, never matches").unwrap_or_default());
    let _ = verify(password, phc);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn no_more_hashes_run_at_once_than_there_are_slots() {
        let slots: &'static Slots = Box::leak(Box::new(Slots::new(2)));
        let inside = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    for _ in 0..20 {
                        let _slot = slots.take();
                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::yield_now();
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                });
            }
        });
        assert_eq!(inside.load(Ordering::SeqCst), 0);
        assert!(most.load(Ordering::SeqCst) <= 2, "{most:?}");
        assert_eq!(*slots.free.lock().unwrap(), 2, "every slot came back");
    }

    #[test]
    fn hashes_verify_and_are_salted() {
        let a = hash("correct horse battery").unwrap();
        let b = hash("correct horse battery").unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b);
        assert!(verify("correct horse battery", &a));
        assert!(!verify("wrong horse battery", &a));
        assert!(!verify("correct horse battery", "not a phc string"));
    }
}
