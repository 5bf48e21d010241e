//! Identity tables: users, signing keys, refresh tokens and their families.

use crate::master_key::MasterKey;
use crate::store::codec::{self, Record, decode, encode};
use crate::store::{Store, StoreError};
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use xt_mobile_api::Role;
use xt_shared::ids::{TenantId, WarehouseCode};
use xt_shared::model::UtcMillis;

/// Key: (tenant, username).
pub(crate) const USERS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("users");
/// Key: kid.
pub(crate) const SIGNING_KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("signing_keys");
/// Key: SHA-256 of the refresh token.
pub(crate) const REFRESH_TOKENS: TableDefinition<&[u8], &[u8]> =
    TableDefinition::new("refresh_tokens");
/// Key: family id (one per sign-in; every rotation stays in the family).
pub(crate) const REFRESH_FAMILIES: TableDefinition<&str, &[u8]> =
    TableDefinition::new("refresh_families");

pub(crate) fn create_tables(tx: &crate::store::table::WriteTx) -> Result<(), StoreError> {
    let txn = tx.backend();
    txn.open_table(USERS)?;
    txn.open_table(SIGNING_KEYS)?;
    txn.open_table(REFRESH_TOKENS)?;
    txn.open_table(REFRESH_FAMILIES)?;
    Ok(())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserRecord {
    pub id: String,
    /// Argon2id, PHC string format.
    pub password_hash: String,
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

/// A signing key as read from its table, before its private key is opened.
enum StoredSigningKey {
    /// Version 1: written before signing keys were sealed.
    Plain(SigningKeyRecord),
    Sealed(SealedSigningKey),
}

/// What a sealed signing key is bound to: its kid (a sealed key moved to another kid does not
/// open).
fn signing_key_aad(kid: &str) -> Vec<u8> {
    [b"signing-key\0".as_slice(), kid.as_bytes()].concat()
}

fn enc_signing_key(kid: &str, record: &SigningKeyRecord, key: &MasterKey) -> Vec<u8> {
    let sealed = SealedSigningKey {
        pkcs8_sealed: key.seal(&signing_key_aad(kid), &record.pkcs8),
        public: record.public.clone(),
        created_at: record.created_at,
        retired_at: record.retired_at,
    };
    enc_sealed_signing_key(&sealed)
}

fn enc_sealed_signing_key(sealed: &SealedSigningKey) -> Vec<u8> {
    encode(sealed)
}

/// Version 2 of a signing key. Version 1 is a plain [`SigningKeyRecord`], which cannot become a
/// sealed one without the master key: [`StoredSigningKey::decode`] reads either.
impl Record for SealedSigningKey {
    const NAME: &'static str = "signing_keys";
    const VERSION: u8 = SIGNING_KEY_SEALED_V2;
    fn read_older(version: u8, payload: &[u8]) -> Option<Result<Self, postcard::Error>> {
        codec::first_version(version, payload)
    }
}

impl StoredSigningKey {
    fn decode(bytes: &[u8]) -> Result<StoredSigningKey, StoreError> {
        if bytes.first() == Some(&SIGNING_KEY_SEALED_V2) {
            decode(bytes).map(StoredSigningKey::Sealed)
        } else {
            decode(bytes).map(StoredSigningKey::Plain)
        }
    }

    fn retired_at(&self) -> Option<UtcMillis> {
        match self {
            StoredSigningKey::Plain(r) => r.retired_at,
            StoredSigningKey::Sealed(s) => s.retired_at,
        }
    }

    fn retire(&mut self, at: UtcMillis) {
        match self {
            StoredSigningKey::Plain(r) => r.retired_at = Some(at),
            StoredSigningKey::Sealed(s) => s.retired_at = Some(at),
        }
    }

    /// The bytes to store: always sealed (a plain record is sealed now).
    fn encode(&self, kid: &str, key: &MasterKey) -> Vec<u8> {
        match self {
            StoredSigningKey::Plain(r) => enc_signing_key(kid, r, key),
            StoredSigningKey::Sealed(s) => enc_sealed_signing_key(s),
        }
    }

    fn open(self, kid: &str, key: &MasterKey) -> Result<SigningKeyRecord, StoreError> {
        match self {
            StoredSigningKey::Plain(r) => Ok(r),
            StoredSigningKey::Sealed(s) => {
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
        let txn = self.db.begin_write()?;
        {
            let mut users = txn.open_table(USERS)?;
            if users.get((tenant.as_str(), username))?.is_some() {
                return Err(StoreError::Conflict(format!(
                    "user {username:?} already exists in tenant {tenant}"
                )));
            }
            users.insert((tenant.as_str(), username), encode(record).as_slice())?;
        }
        txn.commit()?;
        Ok(())
    }

    pub fn user(
        &self,
        tenant: &TenantId,
        username: &str,
    ) -> Result<Option<UserRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(USERS)?;
        let found = table.get((tenant.as_str(), username))?;
        found.map(|v| decode(v.value())).transpose()
    }

    /// Every user of `tenant`, by username.
    pub fn users(&self, tenant: &TenantId) -> Result<Vec<(String, UserRecord)>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(USERS)?;
        let mut out = Vec::new();
        for item in table.range((tenant.as_str(), "")..)? {
            let (k, v) = item?;
            let (t, username) = k.value();
            if t != tenant.as_str() {
                break;
            }
            out.push((username.to_owned(), decode(v.value())?));
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
        let txn = self.db.begin_write()?;
        let out = {
            let mut users = txn.open_table(USERS)?;
            let key = (tenant.as_str(), username);
            let found = users.get(key)?.map(|v| v.value().to_vec());
            let Some(bytes) = found else {
                return Ok(None);
            };
            let mut record: UserRecord = decode(&bytes)?;
            let was_disabled = record.disabled;
            if let Err(e) = f(&mut record) {
                return Ok(Some(Err(e)));
            }
            users.insert(key, encode(&record).as_slice())?;
            let revoked = if record.disabled && !was_disabled {
                super::api_keys::revoke_made_by(&txn, tenant, &record.id, now)?
            } else {
                0
            };
            (record, revoked)
        };
        txn.commit()?;
        Ok(Some(Ok(out)))
    }

    /// Every signing key, current and retired, opened with `key`.
    pub fn signing_keys(
        &self,
        key: &MasterKey,
    ) -> Result<Vec<(String, SigningKeyRecord)>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(SIGNING_KEYS)?;
        let mut out = Vec::new();
        for item in table.iter()? {
            let (k, v) = item?;
            let kid = k.value().to_owned();
            let record = StoredSigningKey::decode(v.value())?.open(&kid, key)?;
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
        let txn = self.db.begin_read()?;
        let table = txn.open_table(SIGNING_KEYS)?;
        let found = table.get(kid)?;
        found
            .map(|v| StoredSigningKey::decode(v.value())?.open(kid, key))
            .transpose()
    }

    /// Whether any signing key is stored sealed (so the master key is needed to sign).
    pub fn any_sealed_signing_key(&self) -> Result<bool, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(SIGNING_KEYS)?;
        for item in table.iter()? {
            let (_, v) = item?;
            if matches!(
                StoredSigningKey::decode(v.value())?,
                StoredSigningKey::Sealed(_)
            ) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Seals with `key` the signing keys stored in plain text by hubs from before sealing; returns
    /// how many. Reads first, so a hub with nothing to seal writes nothing.
    pub fn seal_signing_keys(&self, key: &MasterKey) -> Result<usize, StoreError> {
        let plain = {
            let txn = self.db.begin_read()?;
            let table = txn.open_table(SIGNING_KEYS)?;
            let mut plain = 0;
            for item in table.iter()? {
                let (_, v) = item?;
                if matches!(
                    StoredSigningKey::decode(v.value())?,
                    StoredSigningKey::Plain(_)
                ) {
                    plain += 1;
                }
            }
            plain
        };
        if plain == 0 {
            return Ok(0);
        }
        let txn = self.db.begin_write()?;
        let mut sealed = 0;
        {
            let mut table = txn.open_table(SIGNING_KEYS)?;
            let mut rewrite = Vec::new();
            for item in table.iter()? {
                let (k, v) = item?;
                if let StoredSigningKey::Plain(r) = StoredSigningKey::decode(v.value())? {
                    rewrite.push((k.value().to_owned(), r));
                }
            }
            for (kid, record) in rewrite {
                table.insert(kid.as_str(), enc_signing_key(&kid, &record, key).as_slice())?;
                sealed += 1;
            }
        }
        txn.commit()?;
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
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(SIGNING_KEYS)?;
            let mut existing = Vec::new();
            for item in table.iter()? {
                let (k, v) = item?;
                existing.push((k.value().to_owned(), StoredSigningKey::decode(v.value())?));
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
                        table.insert(k.as_str(), r.encode(&k, key).as_slice())?;
                    }
                }
            }
            table.insert(kid, enc_signing_key(kid, record, key).as_slice())?;
        }
        txn.commit()?;
        Ok(true)
    }

    /// Stores the first refresh token of a new family (a sign-in).
    pub fn insert_refresh_family(
        &self,
        hash: &[u8; 32],
        record: &RefreshRecord,
    ) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let family = FamilyRecord {
                tenant: record.tenant.clone(),
                created_at: record.issued_at,
                revoked_at: None,
            };
            txn.open_table(REFRESH_FAMILIES)?
                .insert(record.family.as_str(), encode(&family).as_slice())?;
            txn.open_table(REFRESH_TOKENS)?
                .insert(hash.as_slice(), encode(record).as_slice())?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Trades the token hashed `hash` for the successor hashed `successor`, in one transaction.
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
        let txn = self.db.begin_write()?;
        let outcome = {
            let mut tokens = txn.open_table(REFRESH_TOKENS)?;
            let mut families = txn.open_table(REFRESH_FAMILIES)?;
            let found = tokens.get(hash.as_slice())?.map(|v| v.value().to_vec());
            let Some(bytes) = found else {
                return Ok(RefreshUse::Refused);
            };
            let mut record: RefreshRecord = decode(&bytes)?;
            let family_bytes = families
                .get(record.family.as_str())?
                .map(|v| v.value().to_vec());
            let Some(family_bytes) = family_bytes else {
                return Ok(RefreshUse::Refused);
            };
            let mut family: FamilyRecord = decode(&family_bytes)?;
            if family.revoked_at.is_some() || record.expires_at <= now {
                return Ok(RefreshUse::Refused);
            }
            let replay = match (record.rotated_at, &record.successor) {
                (None, _) => false,
                (Some(at), Some(prev)) if now.0 - at.0 <= grace_ms => {
                    // A retry: the successor handed out before must not have been used yet.
                    let prev_bytes = tokens.get(prev.as_slice())?.map(|v| v.value().to_vec());
                    match prev_bytes {
                        Some(b) => {
                            let mut prev_record: RefreshRecord = decode(&b)?;
                            if prev_record.rotated_at.is_some() {
                                true
                            } else {
                                prev_record.rotated_at = Some(now);
                                prev_record.successor = Some(successor.to_vec());
                                tokens.insert(prev.as_slice(), encode(&prev_record).as_slice())?;
                                false
                            }
                        }
                        None => true,
                    }
                }
                (Some(_), _) => true,
            };
            if replay {
                family.revoked_at = Some(now);
                families.insert(record.family.as_str(), encode(&family).as_slice())?;
                RefreshUse::ReuseDetected
            } else {
                record.rotated_at.get_or_insert(now);
                record.successor = Some(successor.to_vec());
                tokens.insert(hash.as_slice(), encode(&record).as_slice())?;
                let next = RefreshRecord {
                    issued_at: now,
                    expires_at,
                    rotated_at: None,
                    successor: None,
                    ..record.clone()
                };
                tokens.insert(successor.as_slice(), encode(&next).as_slice())?;
                RefreshUse::Rotated(record)
            }
        };
        txn.commit()?;
        Ok(outcome)
    }

    /// Revokes the family of the token hashed `hash`. Returns whether there was one.
    pub fn revoke_refresh_family(
        &self,
        hash: &[u8; 32],
        now: UtcMillis,
    ) -> Result<bool, StoreError> {
        let txn = self.db.begin_write()?;
        let found = {
            let tokens = txn.open_table(REFRESH_TOKENS)?;
            let mut families = txn.open_table(REFRESH_FAMILIES)?;
            let record = tokens.get(hash.as_slice())?.map(|v| v.value().to_vec());
            match record {
                None => false,
                Some(bytes) => {
                    let record: RefreshRecord = decode(&bytes)?;
                    let fam = families
                        .get(record.family.as_str())?
                        .map(|v| v.value().to_vec());
                    if let Some(fam) = fam {
                        let mut family: FamilyRecord = decode(&fam)?;
                        family.revoked_at.get_or_insert(now);
                        families.insert(record.family.as_str(), encode(&family).as_slice())?;
                    }
                    true
                }
            }
        };
        txn.commit()?;
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
            let txn = self.db.begin_read()?;
            let tokens = txn.open_table(REFRESH_TOKENS)?;
            let families = txn.open_table(REFRESH_FAMILIES)?;
            let mut dead_tokens = Vec::new();
            let mut referenced = std::collections::HashSet::new();
            for item in tokens.iter()? {
                let (hash, value) = item?;
                let record: RefreshRecord = decode(value.value())?;
                let family = families
                    .get(record.family.as_str())?
                    .map(|f| decode::<FamilyRecord>(f.value()))
                    .transpose()?;
                let live =
                    record.expires_at > now && family.is_some_and(|f| f.revoked_at.is_none());
                if !live && dead_tokens.len() < batch_max {
                    dead_tokens.push(hash.value().to_vec());
                } else {
                    // Kept (or left for the next batch): its family stays too.
                    referenced.insert(record.family);
                }
            }
            let mut dead_families = Vec::new();
            for item in families.iter()? {
                let (id, _) = item?;
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
        let txn = self.db.begin_write()?;
        {
            let mut tokens = txn.open_table(REFRESH_TOKENS)?;
            for hash in &dead_tokens {
                tokens.remove(hash.as_slice())?;
            }
            let mut families = txn.open_table(REFRESH_FAMILIES)?;
            for id in &dead_families {
                families.remove(id.as_str())?;
            }
        }
        txn.commit()?;
        Ok(RefreshSweep {
            tokens: dead_tokens.len(),
            families: dead_families.len(),
            more: dead_tokens.len() == batch_max || dead_families.len() == batch_max,
        })
    }

    /// How many refresh tokens and families are stored (for tests and diagnostics).
    pub fn refresh_counts(&self) -> Result<(u64, u64), StoreError> {
        let txn = self.db.begin_read()?;
        Ok((
            txn.open_table(REFRESH_TOKENS)?.len()?,
            txn.open_table(REFRESH_FAMILIES)?.len()?,
        ))
    }
}
