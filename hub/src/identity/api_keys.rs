//! API keys: stored under the SHA-256 of their secret, with an index by (tenant, key id) for
//! listing and revoking within one tenant.
//!
//! Records carry their own version byte: version 1 (before scopes) is read as an
//! `owner`-scoped key made by `init`, which is what every version-1 key was.

use crate::store::codec::{self, Record};
use crate::store::table::{Table, WriteTx};
use crate::store::{Store, StoreError, secret_hash};
use serde::{Deserialize, Serialize};
use xt_mobile_api::Scope;
use xt_shared::ids::TenantId;
use xt_shared::model::UtcMillis;

/// Key: SHA-256 of the secret.
pub(crate) const API_KEYS: Table<&[u8], ApiKeyRecord> = Table::new("api_keys");
/// Key: (tenant, key id). Value: the SHA-256 under which the key is in [`API_KEYS`].
pub(crate) const API_KEY_IDS: Table<(&str, &str), Vec<u8>> = Table::new("api_key_ids");

pub(crate) const V1: u8 = 1;
pub(crate) const V2: u8 = 2;
/// `created_by` of keys from before it was recorded (all made by `xt-hub init`).
pub const CREATED_BY_INIT: &str = "init";

/// An API key as stored (version 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    pub id: String,
    pub tenant: TenantId,
    pub name: String,
    /// Stored as [`crate::store::enums::StoredScope`]s.
    #[serde(with = "crate::store::enums::scopes")]
    pub scopes: Vec<Scope>,
    pub created_at: UtcMillis,
    /// Subject of the principal that made it; [`CREATED_BY_INIT`] for `init`'s key.
    pub created_by: String,
    /// Last authenticated use, recorded at most once a minute per key (see the hub's api).
    pub last_used_at: Option<UtcMillis>,
    pub revoked_at: Option<UtcMillis>,
}

/// Version 1: before scopes, `created_by` and `last_used_at`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiKeyRecordV1 {
    pub id: String,
    pub tenant: TenantId,
    pub name: String,
    pub created_at: UtcMillis,
    pub revoked_at: Option<UtcMillis>,
}

fn corrupt(reason: impl ToString) -> StoreError {
    StoreError::Corrupt {
        table: "api_keys",
        reason: reason.to_string(),
    }
}

impl From<ApiKeyRecordV1> for ApiKeyRecord {
    /// Every version-1 key was `init`'s owner key.
    fn from(old: ApiKeyRecordV1) -> ApiKeyRecord {
        ApiKeyRecord {
            id: old.id,
            tenant: old.tenant,
            name: old.name,
            scopes: vec![Scope::Owner],
            created_at: old.created_at,
            created_by: CREATED_BY_INIT.to_owned(),
            last_used_at: None,
            revoked_at: old.revoked_at,
        }
    }
}

impl Record for ApiKeyRecord {
    const NAME: &'static str = "api_keys";
    const VERSION: u8 = V2;
    fn read_older(version: u8, payload: &[u8]) -> Option<Result<Self, postcard::Error>> {
        match version {
            V1 => codec::older::<ApiKeyRecordV1, _>(payload),
            _ => None,
        }
    }
}

/// Encodes a version-1 record, as hubs before scopes wrote them (for upgrade tests).
pub fn enc_key_v1(record: &ApiKeyRecordV1) -> Vec<u8> {
    codec::encode_as(V1, record)
}

/// Creates the tables and indexes keys stored before the index existed.
pub(crate) fn create_tables(tx: &WriteTx) -> Result<(), StoreError> {
    let keys = tx.open(API_KEYS)?;
    let mut ids = tx.open(API_KEY_IDS)?;
    for row in keys.all()? {
        let row = row?;
        let record = &row.value;
        let at = (record.tenant.as_str(), record.id.as_str());
        if !ids.contains(at)? {
            ids.insert(at, &row.key().to_vec())?;
        }
    }
    Ok(())
}

/// Revokes, at `now`, every key of `tenant` that `creator` made, and every key those keys made,
/// all the way down (keys already revoked are left as they are, but what they made is
/// revoked too). Returns how many keys this revoked. Part of the caller's transaction.
pub(crate) fn revoke_made_by(
    tx: &WriteTx,
    tenant: &TenantId,
    creator: &str,
    now: UtcMillis,
) -> Result<usize, StoreError> {
    let ids = tx.open(API_KEY_IDS)?;
    let mut keys = tx.open(API_KEYS)?;
    let mut all = Vec::new();
    for row in ids.range((tenant.as_str(), "")..)? {
        let row = row?;
        let (t, id) = row.key();
        if t != tenant.as_str() {
            break;
        }
        let hash = &row.value;
        let record = keys
            .get(hash.as_slice())?
            .ok_or_else(|| corrupt(format!("index names missing key {id}")))?;
        all.push((hash.clone(), record));
    }
    let mut makers = std::collections::HashSet::from([creator.to_owned()]);
    loop {
        let before = makers.len();
        for (_, r) in &all {
            if makers.contains(&r.created_by) {
                makers.insert(r.id.clone());
            }
        }
        if makers.len() == before {
            break;
        }
    }
    let mut revoked = 0;
    for (hash, mut r) in all {
        if makers.contains(&r.created_by) && r.revoked_at.is_none() {
            r.revoked_at = Some(now);
            keys.insert(hash.as_slice(), &r)?;
            revoked += 1;
        }
    }
    Ok(revoked)
}

impl Store {
    /// Stores a new key; `Conflict` if its id is taken in its tenant.
    pub fn insert_api_key(&self, secret: &str, record: &ApiKeyRecord) -> Result<(), StoreError> {
        let hash = secret_hash(secret);
        let tx = self.write()?;
        {
            let mut ids = tx.open(API_KEY_IDS)?;
            let at = (record.tenant.as_str(), record.id.as_str());
            if ids.contains(at)? {
                return Err(StoreError::Conflict(format!(
                    "api key {} already exists in tenant {}",
                    record.id, record.tenant
                )));
            }
            ids.insert(at, &hash.to_vec())?;
            tx.open(API_KEYS)?.insert(hash.as_slice(), record)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The key whose secret is `secret`, revoked or not.
    pub fn api_key(&self, secret: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.read()?
            .open(API_KEYS)?
            .get(secret_hash(secret).as_slice())
    }

    /// Every key of `tenant` (only its index range is read), newest first.
    pub fn api_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let tx = self.read()?;
        let ids = tx.open(API_KEY_IDS)?;
        let keys = tx.open(API_KEYS)?;
        let mut out = Vec::new();
        for row in ids.range((tenant.as_str(), "")..)? {
            let row = row?;
            let (t, id) = row.key();
            if t != tenant.as_str() {
                break;
            }
            let record = keys
                .get(row.value.as_slice())?
                .ok_or_else(|| corrupt(format!("index names missing key {id}")))?;
            if &record.tenant != tenant {
                return Err(corrupt(format!("key {} is not of {tenant}", record.id)));
            }
            out.push(record);
        }
        out.sort_by(|a, b| b.created_at.0.cmp(&a.created_at.0).then(b.id.cmp(&a.id)));
        Ok(out)
    }

    /// Revokes key `id` of `tenant` at `now` unless it is already revoked (then it is left as
    /// it is). `None` if `tenant` has no such key.
    pub fn revoke_api_key(
        &self,
        tenant: &TenantId,
        id: &str,
        now: UtcMillis,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.change_api_key(tenant, id, |r| {
            r.revoked_at.get_or_insert(now);
        })
    }

    /// Records that key `id` of `tenant` authenticated a request at `now`.
    pub fn touch_api_key(
        &self,
        tenant: &TenantId,
        id: &str,
        now: UtcMillis,
    ) -> Result<(), StoreError> {
        self.change_api_key(tenant, id, |r| {
            if r.last_used_at.is_none_or(|at| at.0 < now.0) {
                r.last_used_at = Some(now);
            }
        })?;
        Ok(())
    }

    fn change_api_key(
        &self,
        tenant: &TenantId,
        id: &str,
        f: impl FnOnce(&mut ApiKeyRecord),
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        let tx = self.write()?;
        let out = {
            let ids = tx.open(API_KEY_IDS)?;
            let mut keys = tx.open(API_KEYS)?;
            let Some(hash) = ids.get((tenant.as_str(), id))? else {
                return Ok(None);
            };
            let mut record = keys
                .get(hash.as_slice())?
                .ok_or_else(|| corrupt(format!("index names missing key {id}")))?;
            f(&mut record);
            keys.insert(hash.as_slice(), &record)?;
            record
        };
        tx.commit()?;
        Ok(Some(out))
    }
}
