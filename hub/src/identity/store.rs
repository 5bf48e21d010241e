//! Identity tables: users, signing keys, refresh tokens and their families.

use super::decide::{self, Presenting, RefreshDecision, RefreshState, Rotation};
use crate::master_key::MasterKey;
use crate::store::codec::{self, Record};
use crate::store::table::{OldOrNew, Table, WriteTx};
use crate::store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use xt_mobile_api::Role;
use xt_shared::ids::{TenantId, WarehouseCode};
use xt_shared::model::UtcMillis;

/// Key: (tenant, username).
pub(crate) const USERS: Table<(&str, &str), UserRecord> = Table::new("users");
/// Key: kid.
pub(crate) const SIGNING_KEYS: Table<&str, StoredSigningKey> = Table::new("signing_keys");
/// Key: SHA-256 of the refresh token.
pub(crate) const REFRESH_TOKENS: Table<&[u8], RefreshRecord> = Table::new("refresh_tokens");
/// Key: family id (one per sign-in; every rotation stays in the family).
pub(crate) const REFRESH_FAMILIES: Table<&str, FamilyRecord> = Table::new("refresh_families");

pub(crate) fn create_tables(tx: &WriteTx) -> Result<(), StoreError> {
    tx.open(USERS)?;
    tx.open(SIGNING_KEYS)?;
    tx.open(REFRESH_TOKENS)?;
    tx.open(REFRESH_FAMILIES)?;
    Ok(())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserRecord {
    pub id: String,
    /// Argon2id, PHC string format.
    pub password_hash: String,
    #[serde(with = "crate::store::enums::roles")]
    pub roles: Vec<Role>,
    pub warehouses: Vec<WarehouseCode>,
    pub disabled: bool,
    pub created_at: UtcMillis,
}

/// A signing key, opened: what signing and verifying use. Stored sealed (see
/// [`Store::install_signing_key`]); never logged (its `Debug` leaves the keys out).
#[derive(Clone, Serialize, Deserialize)]
pub struct SigningKeyRecord {
    /// Ed25519 private key, PKCS#8 DER.
    pub pkcs8: Vec<u8>,
    /// The 32-byte Ed25519 public key.
    pub public: Vec<u8>,
    pub created_at: UtcMillis,
    /// When a newer key became current; `None` for the current key.
    pub retired_at: Option<UtcMillis>,
}

impl std::fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

/// Record version of a signing key whose private key is sealed with the master key. Version 1
/// (the store's record version, hubs from before sealing) holds a [`SigningKeyRecord`] in plain
/// text; it is still read, and sealed when the hub opens or the key is next written.
pub(crate) const SIGNING_KEY_SEALED_V2: u8 = 2;

/// A signing key as stored from version 2 on: the private key sealed, the rest in plain text.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct SealedSigningKey {
    /// The PKCS#8 private key, sealed by [`MasterKey::seal`] with [`signing_key_aad`].
    pkcs8_sealed: Vec<u8>,
    public: Vec<u8>,
    created_at: UtcMillis,
    retired_at: Option<UtcMillis>,
}

/// A signing key as read from its table, before its private key is opened: `Old` is version 1,
/// a plain [`SigningKeyRecord`] written before signing keys were sealed; `New` is sealed.
type StoredSigningKey = OldOrNew<SigningKeyRecord, SealedSigningKey>;

/// What a sealed signing key is bound to: its kid (a sealed key moved to another kid does not
/// open).
fn signing_key_aad(kid: &str) -> Vec<u8> {
    [b"signing-key\0".as_slice(), kid.as_bytes()].concat()
}

/// `record` as stored: its private key sealed with `key`, bound to `kid`.
fn seal_signing_key(kid: &str, record: &SigningKeyRecord, key: &MasterKey) -> StoredSigningKey {
    OldOrNew::New(SealedSigningKey {
        pkcs8_sealed: key.seal(&signing_key_aad(kid), &record.pkcs8),
        public: record.public.clone(),
        created_at: record.created_at,
        retired_at: record.retired_at,
    })
}

/// Version 2 of a signing key. Version 1 is a plain [`SigningKeyRecord`], which cannot become a
/// sealed one without the master key: [`StoredSigningKey`] reads either.
impl Record for SealedSigningKey {
    const NAME: &'static str = "signing_keys";
    const VERSION: u8 = SIGNING_KEY_SEALED_V2;
    fn read_older(version: u8, payload: &[u8]) -> Option<Result<Self, postcard::Error>> {
        codec::first_version(version, payload)
    }
}

impl StoredSigningKey {
    fn retired_at(&self) -> Option<UtcMillis> {
        match self {
            OldOrNew::Old(r) => r.retired_at,
            OldOrNew::New(s) => s.retired_at,
        }
    }

    fn retire(&mut self, at: UtcMillis) {
        match self {
            OldOrNew::Old(r) => r.retired_at = Some(at),
            OldOrNew::New(s) => s.retired_at = Some(at),
        }
    }

    /// What to store: always sealed (a plain record is sealed now).
    fn sealed(self, kid: &str, key: &MasterKey) -> StoredSigningKey {
        match self {
            OldOrNew::Old(r) => seal_signing_key(kid, &r, key),
            sealed @ OldOrNew::New(_) => sealed,
        }
    }

    fn open(self, kid: &str, key: &MasterKey) -> Result<SigningKeyRecord, StoreError> {
        match self {
            OldOrNew::Old(r) => Ok(r),
            OldOrNew::New(s) => {
                let pkcs8 = key
                    .open(&signing_key_aad(kid), &s.pkcs8_sealed)
                    .map_err(|e| StoreError::Corrupt {
                        table: "signing_keys",
                        reason: format!("signing key {kid}: {e}"),
                    })?;
                Ok(SigningKeyRecord {
                    pkcs8,
                    public: s.public,
                    created_at: s.created_at,
                    retired_at: s.retired_at,
                })
            }
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshRecord {
    pub family: String,
    pub tenant: TenantId,
    pub username: String,
    pub user_id: String,
    pub issued_at: UtcMillis,
    pub expires_at: UtcMillis,
    /// When this token was traded for its successor.
    pub rotated_at: Option<UtcMillis>,
    /// Hash of the successor.
    pub successor: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct FamilyRecord {
    pub(crate) tenant: TenantId,
    pub(crate) created_at: UtcMillis,
    pub(crate) revoked_at: Option<UtcMillis>,
}

/// What one sweep pass deleted; `more` when a batch was full (call again).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RefreshSweep {
    pub tokens: usize,
    pub families: usize,
    pub more: bool,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone)]
pub enum RefreshUse {
    /// Accepted: the presented token's record; the successor was stored.
    Rotated(RefreshRecord),
    /// Unknown, expired, or of a revoked family.
    Refused,
    /// An already-rotated token came back after the grace window: the family is now revoked.
    ReuseDetected,
}

/// What changing a user did: the user as written and how many API keys disabling it revoked,
/// or the change's own refusal.
pub type UserUpdate<E> = Result<(UserRecord, usize), E>;

impl Store {
    pub fn insert_user(
        &self,
        tenant: &TenantId,
        username: &str,
        record: &UserRecord,
    ) -> Result<(), StoreError> {
        let tx = self.write()?;
        {
            let mut users = tx.open(USERS)?;
            if users.contains((tenant.as_str(), username))? {
                return Err(StoreError::Conflict(format!(
                    "user {username:?} already exists in tenant {tenant}"
                )));
            }
            users.insert((tenant.as_str(), username), record)?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn user(
        &self,
        tenant: &TenantId,
        username: &str,
    ) -> Result<Option<UserRecord>, StoreError> {
        self.read()?.open(USERS)?.get((tenant.as_str(), username))
    }

    /// Every user of `tenant`, by username.
    pub fn users(&self, tenant: &TenantId) -> Result<Vec<(String, UserRecord)>, StoreError> {
        let tx = self.read()?;
        let table = tx.open(USERS)?;
        let mut out = Vec::new();
        for row in table.range((tenant.as_str(), "")..)? {
            let row = row?;
            let (t, username) = row.key();
            if t != tenant.as_str() {
                break;
            }
            out.push((username.to_owned(), row.value));
        }
        Ok(out)
    }

    /// Reads, changes and writes one user in one transaction; nothing is written if `f` fails.
    /// `None` if there is no such user. When `f` disables an enabled user, the API keys it made
    /// (and the keys those made) are revoked at `now` in the same transaction; the count of
    /// keys revoked comes back with the record.
    pub fn update_user<E>(
        &self,
        tenant: &TenantId,
        username: &str,
        now: UtcMillis,
        f: impl FnOnce(&mut UserRecord) -> Result<(), E>,
    ) -> Result<Option<UserUpdate<E>>, StoreError> {
        let tx = self.write()?;
        let out = {
            let mut users = tx.open(USERS)?;
            let key = (tenant.as_str(), username);
            let Some(mut record) = users.get(key)? else {
                return Ok(None);
            };
            let was_disabled = record.disabled;
            if let Err(e) = f(&mut record) {
                return Ok(Some(Err(e)));
            }
            users.insert(key, &record)?;
            let revoked = if record.disabled && !was_disabled {
                super::api_keys::revoke_made_by(&tx, tenant, &record.id, now)?
            } else {
                0
            };
            (record, revoked)
        };
        tx.commit()?;
        Ok(Some(Ok(out)))
    }

    /// Every signing key, current and retired, opened with `key`.
    pub fn signing_keys(
        &self,
        key: &MasterKey,
    ) -> Result<Vec<(String, SigningKeyRecord)>, StoreError> {
        let tx = self.read()?;
        let table = tx.open(SIGNING_KEYS)?;
        let mut out = Vec::new();
        for row in table.all()? {
            let row = row?;
            let kid = row.key().to_owned();
            let record = row.value.open(&kid, key)?;
            out.push((kid, record));
        }
        Ok(out)
    }

    /// The signing key `kid`, opened with `key`.
    pub fn signing_key(
        &self,
        kid: &str,
        key: &MasterKey,
    ) -> Result<Option<SigningKeyRecord>, StoreError> {
        let found = self.read()?.open(SIGNING_KEYS)?.get(kid)?;
        found.map(|stored| stored.open(kid, key)).transpose()
    }

    /// Whether any signing key is stored sealed (so the master key is needed to sign).
    pub fn any_sealed_signing_key(&self) -> Result<bool, StoreError> {
        let tx = self.read()?;
        let table = tx.open(SIGNING_KEYS)?;
        for row in table.all()? {
            if matches!(row?.value, OldOrNew::New(_)) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Seals with `key` the signing keys stored in plain text by hubs from before sealing; returns
    /// how many. Reads first, so a hub with nothing to seal writes nothing.
    pub fn seal_signing_keys(&self, key: &MasterKey) -> Result<usize, StoreError> {
        let plain = {
            let tx = self.read()?;
            let table = tx.open(SIGNING_KEYS)?;
            let mut plain = 0;
            for row in table.all()? {
                if matches!(row?.value, OldOrNew::Old(_)) {
                    plain += 1;
                }
            }
            plain
        };
        if plain == 0 {
            return Ok(0);
        }
        let tx = self.write()?;
        let mut sealed = 0;
        {
            let mut table = tx.open(SIGNING_KEYS)?;
            let mut rewrite = Vec::new();
            for row in table.all()? {
                let row = row?;
                let kid = row.key().to_owned();
                if let OldOrNew::Old(r) = row.value {
                    rewrite.push((kid, r));
                }
            }
            for (kid, record) in rewrite {
                table.insert(kid.as_str(), &seal_signing_key(&kid, &record, key))?;
                sealed += 1;
            }
        }
        tx.commit()?;
        Ok(sealed)
    }

    /// Makes `kid` the current key in one transaction: retires the current one(s) at `now`,
    /// deletes keys retired before `drop_retired_before`, inserts the new one sealed with `key`
    /// (and seals any it rewrites that were still in plain text). With `only_if_none`, does
    /// nothing when a current key exists (lazy creation racing itself). Returns whether the key
    /// was inserted.
    pub fn install_signing_key(
        &self,
        kid: &str,
        record: &SigningKeyRecord,
        key: &MasterKey,
        drop_retired_before: UtcMillis,
        only_if_none: bool,
    ) -> Result<bool, StoreError> {
        let tx = self.write()?;
        {
            let mut table = tx.open(SIGNING_KEYS)?;
            let mut existing = Vec::new();
            for row in table.all()? {
                let row = row?;
                existing.push((row.key().to_owned(), row.value));
            }
            if only_if_none && existing.iter().any(|(_, r)| r.retired_at().is_none()) {
                return Ok(false);
            }
            for (k, mut r) in existing {
                match r.retired_at() {
                    Some(at) if at < drop_retired_before => {
                        table.remove(k.as_str())?;
                    }
                    Some(_) => {}
                    None => {
                        r.retire(record.created_at);
                        table.insert(k.as_str(), &r.sealed(&k, key))?;
                    }
                }
            }
            table.insert(kid, &seal_signing_key(kid, record, key))?;
        }
        tx.commit()?;
        Ok(true)
    }

    /// Stores the first refresh token of a new family (a sign-in).
    pub fn insert_refresh_family(
        &self,
        hash: &[u8; 32],
        record: &RefreshRecord,
    ) -> Result<(), StoreError> {
        let tx = self.write()?;
        {
            let family = FamilyRecord {
                tenant: record.tenant.clone(),
                created_at: record.issued_at,
                revoked_at: None,
            };
            tx.open(REFRESH_FAMILIES)?
                .insert(record.family.as_str(), &family)?;
            tx.open(REFRESH_TOKENS)?.insert(hash.as_slice(), record)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Trades the token hashed `hash` for the successor hashed `successor`, in one transaction:
    /// loads the token, its family and the successor it got before, and writes what
    /// [`decide::use_refresh`] decides.
    ///
    /// A token is used once. If an already-used token comes back within `grace_ms` of its first
    /// use (a client retrying a request whose answer it lost), it gets a fresh successor and the
    /// one it got before is marked used, so the family stays one chain. Later than that, or if
    /// the chain already moved on past the successor, it is a replay: the whole family is
    /// revoked.
    pub fn use_refresh(
        &self,
        hash: &[u8; 32],
        successor: &[u8; 32],
        now: UtcMillis,
        grace_ms: i64,
        expires_at: UtcMillis,
    ) -> Result<RefreshUse, StoreError> {
        let tx = self.write()?;
        let outcome = {
            let mut tokens = tx.open(REFRESH_TOKENS)?;
            let mut families = tx.open(REFRESH_FAMILIES)?;
            let token = tokens.get(hash.as_slice())?;
            let (family, handed_out) = match &token {
                Some(t) => (
                    families.get(t.family.as_str())?,
                    match &t.successor {
                        Some(prev) => tokens.get(prev.as_slice())?,
                        None => None,
                    },
                ),
                None => (None, None),
            };
            let state = RefreshState {
                token: token.as_ref(),
                family: family.as_ref(),
                handed_out: handed_out.as_ref(),
            };
            let presenting = Presenting {
                now,
                grace_ms,
                successor,
                expires_at,
            };
            match decide::use_refresh(state, presenting) {
                RefreshDecision::Refused => return Ok(RefreshUse::Refused),
                RefreshDecision::Revoke(id, family) => {
                    families.insert(id.as_str(), &family)?;
                    RefreshUse::ReuseDetected
                }
                RefreshDecision::Rotate(rotation) => {
                    let Rotation {
                        presented,
                        superseded,
                        next,
                    } = *rotation;
                    if let Some((prev, superseded)) = superseded {
                        tokens.insert(prev.as_slice(), &superseded)?;
                    }
                    tokens.insert(hash.as_slice(), &presented)?;
                    tokens.insert(successor.as_slice(), &next)?;
                    RefreshUse::Rotated(presented)
                }
            }
        };
        tx.commit()?;
        Ok(outcome)
    }

    /// Revokes the family of the token hashed `hash`. Returns whether there was one.
    pub fn revoke_refresh_family(
        &self,
        hash: &[u8; 32],
        now: UtcMillis,
    ) -> Result<bool, StoreError> {
        let tx = self.write()?;
        let found = {
            let tokens = tx.open(REFRESH_TOKENS)?;
            let mut families = tx.open(REFRESH_FAMILIES)?;
            match tokens.get(hash.as_slice())? {
                None => false,
                Some(record) => {
                    if let Some(mut family) = families.get(record.family.as_str())? {
                        family.revoked_at.get_or_insert(now);
                        families.insert(record.family.as_str(), &family)?;
                    }
                    true
                }
            }
        };
        tx.commit()?;
        Ok(found)
    }

    /// Deletes, in one write transaction each, at most `batch_max` refresh tokens that can
    /// never be accepted again — expired at `now`, or of a revoked or missing family — and then
    /// at most `batch_max` families no token refers to any more.
    ///
    /// Rotated-out tokens stay until they expire: presenting one after the grace window is how
    /// a stolen token's replay is detected (it revokes the family), and a deleted one would be
    /// merely unknown.
    pub fn sweep_refresh(
        &self,
        now: UtcMillis,
        batch_max: usize,
    ) -> Result<RefreshSweep, StoreError> {
        let (dead_tokens, dead_families) = {
            let tx = self.read()?;
            let tokens = tx.open(REFRESH_TOKENS)?;
            let families = tx.open(REFRESH_FAMILIES)?;
            let mut dead_tokens = Vec::new();
            let mut referenced = std::collections::HashSet::new();
            for row in tokens.all()? {
                let row = row?;
                let record = &row.value;
                let family = families.get(record.family.as_str())?;
                let live =
                    record.expires_at > now && family.is_some_and(|f| f.revoked_at.is_none());
                if !live && dead_tokens.len() < batch_max {
                    dead_tokens.push(row.key().to_vec());
                } else {
                    // Kept (or left for the next batch): its family stays too.
                    referenced.insert(row.value.family);
                }
            }
            let mut dead_families = Vec::new();
            for id in families.keys::<&str>(..)? {
                let id = id?;
                if dead_families.len() >= batch_max {
                    break;
                }
                if !referenced.contains(id.value()) {
                    dead_families.push(id.value().to_owned());
                }
            }
            (dead_tokens, dead_families)
        };
        if dead_tokens.is_empty() && dead_families.is_empty() {
            return Ok(RefreshSweep::default());
        }
        // Nothing found dead can come back to life in between: expiry only passes, revocation
        // is final, and a family without tokens can get none (rotation needs one of its own).
        let tx = self.write()?;
        {
            let mut tokens = tx.open(REFRESH_TOKENS)?;
            for hash in &dead_tokens {
                tokens.remove(hash.as_slice())?;
            }
            let mut families = tx.open(REFRESH_FAMILIES)?;
            for id in &dead_families {
                families.remove(id.as_str())?;
            }
        }
        tx.commit()?;
        Ok(RefreshSweep {
            tokens: dead_tokens.len(),
            families: dead_families.len(),
            more: dead_tokens.len() == batch_max || dead_families.len() == batch_max,
        })
    }

    /// How many refresh tokens and families are stored (for tests and diagnostics).
    pub fn refresh_counts(&self) -> Result<(u64, u64), StoreError> {
        let tx = self.read()?;
        Ok((
            tx.open(REFRESH_TOKENS)?.len()?,
            tx.open(REFRESH_FAMILIES)?.len()?,
        ))
    }
}
