//! Bound shops, keyed by (tenant, shop id). A shop's secrets are stored sealed with the hub's
//! [`MasterKey`], bound to (tenant, shop id) so a sealed value moved to another shop does not
//! open; its platform's public id (app key, shop domain, consumer key) is kept in plain text.

use super::{META, Store, StoreError};
use crate::master_key::{MasterKey, MasterKeyError};
use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};
use xt_shared::ids::TenantId;
use xt_shared::model::UtcMillis;
use xt_shared::order::Platform;

/// Key: (tenant, shop id).
const SHOPS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("shops");
/// Key: (shop id, tenant) of every shop: a webhook, whose URL names only the shop id, finds
/// its shop (or the shops of several tenants that share the id) without reading other shops.
/// Written with every insert; a shop's id and tenant never change.
const SHOPS_BY_ID: TableDefinition<(&str, &str), ()> = TableDefinition::new("shops_by_id");
/// Set in `meta` once [`SHOPS_BY_ID`] was built from the shops (hubs made before the index
/// existed build it on their first open).
const SHOPS_BY_ID_BUILT: &str = "shops_by_id_built";
const V1: u8 = 1;

/// Capture health, reserved for the capture loop (all `None` until it runs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShopHealthRecord {
    pub last_poll_ok_at: Option<UtcMillis>,
    pub capture_lag_ms: Option<i64>,
    pub error_count: Option<u64>,
    pub last_error: Option<String>,
    pub token_expires_at: Option<UtcMillis>,
    pub rate_limited_until: Option<UtcMillis>,
}

/// A shop as stored (version 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShopRecord {
    pub id: String,
    pub tenant: TenantId,
    pub platform: Platform,
    pub name: String,
    pub api_base_url: String,
    pub enabled: bool,
    pub created_at: UtcMillis,
    pub updated_at: UtcMillis,
    /// The platform's public credential id: app key, shop domain or consumer key.
    pub credential_id: String,
    /// The secrets (postcard `Vec<String>` in the platform's field order), sealed by
    /// [`MasterKey::seal`] with [`shop_aad`].
    pub secrets_sealed: Vec<u8>,
    pub health: ShopHealthRecord,
}

/// What a shop's sealed secrets are bound to: its tenant and id.
pub fn shop_aad(tenant: &TenantId, id: &str) -> Vec<u8> {
    let mut aad = b"xt-shop-v1\0".to_vec();
    aad.extend_from_slice(tenant.as_str().as_bytes());
    aad.push(0);
    aad.extend_from_slice(id.as_bytes());
    aad
}

impl ShopRecord {
    /// Seals `secrets` into the record, bound to its tenant and id.
    pub fn seal_secrets(&mut self, key: &MasterKey, secrets: &[String]) {
        let plain = postcard::to_allocvec(secrets).expect("strings encode");
        self.secrets_sealed = key.seal(&shop_aad(&self.tenant, &self.id), &plain);
    }

    /// The secrets, opened with `key`.
    pub fn open_secrets(&self, key: &MasterKey) -> Result<Vec<String>, MasterKeyError> {
        let plain = key.open(&shop_aad(&self.tenant, &self.id), &self.secrets_sealed)?;
        postcard::from_bytes(&plain).map_err(|_| MasterKeyError::Malformed("secrets"))
    }
}

fn corrupt(reason: impl ToString) -> StoreError {
    StoreError::Corrupt {
        table: "shops",
        reason: reason.to_string(),
    }
}

fn enc(record: &ShopRecord) -> Vec<u8> {
    let mut out = vec![V1];
    out.extend(postcard::to_allocvec(record).expect("record encodes"));
    out
}

fn dec(bytes: &[u8]) -> Result<ShopRecord, StoreError> {
    match bytes.split_first() {
        Some((&V1, rest)) => postcard::from_bytes(rest).map_err(corrupt),
        Some((v, _)) => Err(corrupt(format!("unknown record version {v}"))),
        None => Err(corrupt("empty record")),
    }
}

pub(super) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    let shops = txn.open_table(SHOPS)?;
    let mut by_id = txn.open_table(SHOPS_BY_ID)?;
    let mut meta = txn.open_table(META)?;
    if meta.get(SHOPS_BY_ID_BUILT)?.is_none() {
        for item in shops.iter()? {
            let (k, _) = item?;
            let (tenant, id) = k.value();
            by_id.insert((id, tenant), ())?;
        }
        meta.insert(SHOPS_BY_ID_BUILT, [1u8].as_slice())?;
    }
    Ok(())
}

impl Store {
    /// Stores a new shop; `Conflict` if its id is taken in its tenant.
    pub fn insert_shop(&self, record: &ShopRecord) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut shops = txn.open_table(SHOPS)?;
            let at = (record.tenant.as_str(), record.id.as_str());
            if shops.get(at)?.is_some() {
                return Err(StoreError::Conflict(format!(
                    "shop {} already exists in tenant {}",
                    record.id, record.tenant
                )));
            }
            shops.insert(at, enc(record).as_slice())?;
            txn.open_table(SHOPS_BY_ID)?
                .insert((record.id.as_str(), record.tenant.as_str()), ())?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Whether any tenant has bound a shop (whose secrets the master key seals).
    pub fn any_shop(&self) -> Result<bool, StoreError> {
        let txn = self.db.begin_read()?;
        let shops = txn.open_table(SHOPS)?;
        Ok(shops.first()?.is_some())
    }

    /// Every shop of every tenant (the capture supervisor's list).
    pub fn all_shops(&self) -> Result<Vec<ShopRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let shops = txn.open_table(SHOPS)?;
        let mut out = Vec::new();
        for item in shops.iter()? {
            out.push(dec(item?.1.value())?);
        }
        Ok(out)
    }

    /// The shops with id `id`, of any tenant, through the id index (a webhook names only the
    /// shop; its signature decides which one, if ids repeat across tenants). Most shops have
    /// one.
    pub fn shops_by_id(&self, id: &str) -> Result<Vec<ShopRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let by_id = txn.open_table(SHOPS_BY_ID)?;
        let shops = txn.open_table(SHOPS)?;
        let mut out = Vec::new();
        for item in by_id.range((id, "")..)? {
            let (k, _) = item?;
            let (kid, tenant) = k.value();
            if kid != id {
                break;
            }
            let Some(v) = shops.get((tenant, id))? else {
                return Err(corrupt(format!(
                    "shop {id} of {tenant} is indexed but not stored"
                )));
            };
            out.push(dec(v.value())?);
        }
        Ok(out)
    }

    /// Shop `id` of `tenant`.
    pub fn shop(&self, tenant: &TenantId, id: &str) -> Result<Option<ShopRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let shops = txn.open_table(SHOPS)?;
        let found = shops.get((tenant.as_str(), id))?;
        found.map(|v| dec(v.value())).transpose()
    }

    /// Every shop of `tenant` (only its key range is read), oldest first.
    pub fn shops(&self, tenant: &TenantId) -> Result<Vec<ShopRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let shops = txn.open_table(SHOPS)?;
        let mut out = Vec::new();
        for item in shops.range((tenant.as_str(), "")..)? {
            let (k, v) = item?;
            if k.value().0 != tenant.as_str() {
                break;
            }
            let record = dec(v.value())?;
            if &record.tenant != tenant {
                return Err(corrupt(format!("shop {} is not of {tenant}", record.id)));
            }
            out.push(record);
        }
        out.sort_by(|a, b| a.created_at.0.cmp(&b.created_at.0).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Changes shop `id` of `tenant` with `f` (which may refuse); `None` if there is none.
    pub fn change_shop<E: From<StoreError>>(
        &self,
        tenant: &TenantId,
        id: &str,
        f: impl FnOnce(&mut ShopRecord) -> Result<(), E>,
    ) -> Result<Option<ShopRecord>, E> {
        let txn = self.db.begin_write().map_err(StoreError::from)?;
        let out = {
            let mut shops = txn.open_table(SHOPS).map_err(StoreError::from)?;
            let Some(bytes) = shops
                .get((tenant.as_str(), id))
                .map_err(StoreError::from)?
                .map(|v| v.value().to_vec())
            else {
                return Ok(None);
            };
            let mut record = dec(&bytes)?;
            f(&mut record)?;
            shops
                .insert((tenant.as_str(), id), enc(&record).as_slice())
                .map_err(StoreError::from)?;
            record
        };
        txn.commit().map_err(StoreError::from)?;
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(tenant: &str, id: &str, key: &MasterKey) -> ShopRecord {
        let mut r = ShopRecord {
            id: id.into(),
            tenant: TenantId::new(tenant).unwrap(),
            platform: Platform::Taobao,
            name: "flagship".into(),
            api_base_url: "http://127.0.0.1:9".into(),
            enabled: true,
            created_at: UtcMillis(1),
            updated_at: UtcMillis(1),
            credential_id: "12345678".into(),
            secrets_sealed: Vec::new(),
            health: ShopHealthRecord::default(),
        };
        r.seal_secrets(key, &["app-secret".into(), "session".into()]);
        r
    }

    #[test]
    fn sealed_secrets_moved_to_another_shop_or_tenant_do_not_open() {
        let key = MasterKey::from_bytes([1; 32]);
        let a = record("acme", "shop-a", &key);
        assert_eq!(a.open_secrets(&key).unwrap(), ["app-secret", "session"]);
        let mut other_shop = record("acme", "shop-b", &key);
        other_shop.secrets_sealed = a.secrets_sealed.clone();
        assert!(matches!(
            other_shop.open_secrets(&key),
            Err(MasterKeyError::Decrypt)
        ));
        let mut other_tenant = record("beta", "shop-a", &key);
        other_tenant.secrets_sealed = a.secrets_sealed.clone();
        assert!(matches!(
            other_tenant.open_secrets(&key),
            Err(MasterKeyError::Decrypt)
        ));
    }

    #[test]
    fn a_record_from_a_hub_with_another_master_key_fails_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("hub.redb")).unwrap();
        let a = record("acme", "shop-a", &MasterKey::from_bytes([1; 32]));
        store.insert_shop(&a).unwrap();
        let read = store.shop(&a.tenant, "shop-a").unwrap().unwrap();
        let err = read
            .open_secrets(&MasterKey::from_bytes([2; 32]))
            .unwrap_err();
        assert!(err.to_string().contains("master key"), "{err}");
        let bytes = std::fs::read(dir.path().join("hub.redb")).unwrap();
        assert!(!bytes.windows(10).any(|w| w == b"app-secret"));
    }
}
