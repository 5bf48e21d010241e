//! Bound shops, keyed by (tenant, shop id). A shop's credentials are stored sealed with the
//! hub's [`MasterKey`], bound to (tenant, shop id) so a sealed value moved to another shop does
//! not open; its platform's public id (app key, shop domain, consumer key) is also kept in plain
//! text, for the views.
//!
//! Two sealed formats are read ([`SealedCredentials`]): the typed one every write makes, and
//! the positional one of hubs before it (record version 1), which is never written again but
//! still opens to the same [`ShopCredentials`].

use crate::master_key::{MasterKey, MasterKeyError};
use crate::store::META;
use crate::store::codec::{self, Record};
use crate::store::table::{Table, WriteTx};
use crate::store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use xt_shared::credentials::ShopCredentials;
use xt_shared::ids::TenantId;
use xt_shared::model::UtcMillis;
use xt_shared::order::Platform;

/// Key: (tenant, shop id).
pub(crate) const SHOPS: Table<(&str, &str), ShopRecord> = Table::new("shops");
/// Key: (shop id, tenant) of every shop: a webhook, whose URL names only the shop id, finds
/// its shop (or the shops of several tenants that share the id) without reading other shops.
/// Written with every insert; a shop's id and tenant never change.
pub(crate) const SHOPS_BY_ID: Table<(&str, &str), ()> = Table::new("shops_by_id");
/// Set in `meta` once [`SHOPS_BY_ID`] was built from the shops (hubs made before the index
/// existed build it on their first open).
pub(crate) const SHOPS_BY_ID_BUILT: &str = "shops_by_id_built";
/// A [`ShopRecordV1`]: its secrets are sealed positionally.
pub(crate) const V1: u8 = 1;
/// A [`ShopRecord`], whose [`SealedCredentials`] says how its credentials are sealed.
pub(crate) const V2: u8 = 2;
/// The version byte of a [`CredentialsRecord`] inside the sealed plaintext.
pub(crate) const CREDENTIALS_V1: u8 = 1;
/// How many secrets every platform has (its fields but the public id): the length of the
/// positional format's list.
pub(crate) const POSITIONAL_SECRETS: usize = 2;

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

/// A shop's sealed credentials, in the format they were sealed in (kept when the record is
/// rewritten for another reason: only new credentials are sealed anew).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SealedCredentials {
    /// Written by hubs before typed credentials (record version 1): a postcard `Vec<String>`
    /// of the secrets in the platform's field order (taobao/tmall: app_secret, session — jd:
    /// app_secret, access_token — shopify: access_token, webhook_secret — woocommerce:
    /// consumer_secret, webhook_secret), the public id apart in `credential_id`. Read, never
    /// written.
    Positional(Vec<u8>),
    /// A [`CredentialsRecord`] (its version byte, then postcard), public id included.
    Typed(Vec<u8>),
}

impl Default for SealedCredentials {
    /// Nothing sealed yet (opens as malformed until [`ShopRecord::seal_credentials`]).
    fn default() -> Self {
        SealedCredentials::Typed(Vec::new())
    }
}

/// A shop as stored (version 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShopRecord {
    pub id: String,
    pub tenant: TenantId,
    #[serde(with = "crate::store::enums::platform")]
    pub platform: Platform,
    pub name: String,
    pub api_base_url: String,
    pub enabled: bool,
    pub created_at: UtcMillis,
    pub updated_at: UtcMillis,
    /// The platform's public credential id: app key, shop domain or consumer key.
    pub credential_id: String,
    /// The credentials, sealed by [`MasterKey::seal`] bound to the tenant and id.
    pub credentials_sealed: SealedCredentials,
    pub health: ShopHealthRecord,
}

/// A shop as hubs before typed credentials stored it (version 1).
#[derive(Deserialize)]
pub(crate) struct ShopRecordV1 {
    id: String,
    tenant: TenantId,
    #[serde(with = "crate::store::enums::platform")]
    platform: Platform,
    name: String,
    api_base_url: String,
    enabled: bool,
    created_at: UtcMillis,
    updated_at: UtcMillis,
    credential_id: String,
    secrets_sealed: Vec<u8>,
    health: ShopHealthRecord,
}

impl From<ShopRecordV1> for ShopRecord {
    fn from(r: ShopRecordV1) -> ShopRecord {
        ShopRecord {
            id: r.id,
            tenant: r.tenant,
            platform: r.platform,
            name: r.name,
            api_base_url: r.api_base_url,
            enabled: r.enabled,
            created_at: r.created_at,
            updated_at: r.updated_at,
            credential_id: r.credential_id,
            credentials_sealed: SealedCredentials::Positional(r.secrets_sealed),
            health: r.health,
        }
    }
}

/// The sealed plaintext of [`SealedCredentials::Typed`] (after its version byte): the storage
/// form of [`ShopCredentials`].
#[derive(Serialize, Deserialize)]
enum CredentialsRecord {
    Taobao {
        app_key: String,
        app_secret: String,
        session: String,
    },
    Jd {
        app_key: String,
        app_secret: String,
        access_token: String,
    },
    Shopify {
        shop_domain: String,
        access_token: String,
        webhook_secret: String,
    },
    Woocommerce {
        consumer_key: String,
        consumer_secret: String,
        webhook_secret: String,
    },
}

impl From<&ShopCredentials> for CredentialsRecord {
    fn from(c: &ShopCredentials) -> CredentialsRecord {
        match c.clone() {
            ShopCredentials::Taobao {
                app_key,
                app_secret,
                session,
            } => CredentialsRecord::Taobao {
                app_key,
                app_secret,
                session,
            },
            ShopCredentials::Jd {
                app_key,
                app_secret,
                access_token,
            } => CredentialsRecord::Jd {
                app_key,
                app_secret,
                access_token,
            },
            ShopCredentials::Shopify {
                shop_domain,
                access_token,
                webhook_secret,
            } => CredentialsRecord::Shopify {
                shop_domain,
                access_token,
                webhook_secret,
            },
            ShopCredentials::Woocommerce {
                consumer_key,
                consumer_secret,
                webhook_secret,
            } => CredentialsRecord::Woocommerce {
                consumer_key,
                consumer_secret,
                webhook_secret,
            },
        }
    }
}

impl From<CredentialsRecord> for ShopCredentials {
    fn from(c: CredentialsRecord) -> ShopCredentials {
        match c {
            CredentialsRecord::Taobao {
                app_key,
                app_secret,
                session,
            } => ShopCredentials::Taobao {
                app_key,
                app_secret,
                session,
            },
            CredentialsRecord::Jd {
                app_key,
                app_secret,
                access_token,
            } => ShopCredentials::Jd {
                app_key,
                app_secret,
                access_token,
            },
            CredentialsRecord::Shopify {
                shop_domain,
                access_token,
                webhook_secret,
            } => ShopCredentials::Shopify {
                shop_domain,
                access_token,
                webhook_secret,
            },
            CredentialsRecord::Woocommerce {
                consumer_key,
                consumer_secret,
                webhook_secret,
            } => ShopCredentials::Woocommerce {
                consumer_key,
                consumer_secret,
                webhook_secret,
            },
        }
    }
}

/// The credentials of a `platform` shop from the positional format: its public id and its
/// secrets in the platform's field order.
fn from_positional(
    platform: Platform,
    public_id: &str,
    secrets: Vec<String>,
) -> Result<ShopCredentials, MasterKeyError> {
    let [first, second]: [String; POSITIONAL_SECRETS] = secrets
        .try_into()
        .map_err(|_| MasterKeyError::Malformed("secrets: not two of them"))?;
    let id = public_id.to_owned();
    Ok(match platform {
        Platform::Taobao | Platform::Tmall => ShopCredentials::Taobao {
            app_key: id,
            app_secret: first,
            session: second,
        },
        Platform::Jd => ShopCredentials::Jd {
            app_key: id,
            app_secret: first,
            access_token: second,
        },
        Platform::Shopify => ShopCredentials::Shopify {
            shop_domain: id,
            access_token: first,
            webhook_secret: second,
        },
        Platform::Woocommerce => ShopCredentials::Woocommerce {
            consumer_key: id,
            consumer_secret: first,
            webhook_secret: second,
        },
    })
}

/// What a shop's sealed credentials are bound to: their format, the shop's tenant and id (the
/// format is bound too, so bytes of one format never open as the other).
fn shop_aad(format: &[u8], tenant: &TenantId, id: &str) -> Vec<u8> {
    let mut aad = format.to_vec();
    aad.extend_from_slice(tenant.as_str().as_bytes());
    aad.push(0);
    aad.extend_from_slice(id.as_bytes());
    aad
}

pub(crate) const POSITIONAL_AAD: &[u8] = b"xt-shop-v1\0";
pub(crate) const TYPED_AAD: &[u8] = b"xt-shop-v2\0";

impl ShopRecord {
    /// Seals `credentials` into the record (typed, bound to its tenant and id) and keeps their
    /// public id in plain text. The caller has checked that they fit the shop's platform.
    pub fn seal_credentials(&mut self, key: &MasterKey, credentials: &ShopCredentials) {
        debug_assert!(credentials.fits(self.platform));
        let mut plain = vec![CREDENTIALS_V1];
        plain.extend(
            postcard::to_allocvec(&CredentialsRecord::from(credentials)).expect("strings encode"),
        );
        let aad = shop_aad(TYPED_AAD, &self.tenant, &self.id);
        self.credentials_sealed = SealedCredentials::Typed(key.seal(&aad, &plain));
        self.credential_id = credentials.public_id().to_owned();
    }

    /// The credentials, opened with `key`, whichever format sealed them. They fit the shop's
    /// platform and carry its public id, or the record is malformed.
    pub fn open_credentials(&self, key: &MasterKey) -> Result<ShopCredentials, MasterKeyError> {
        let malformed = MasterKeyError::Malformed;
        let credentials = match &self.credentials_sealed {
            SealedCredentials::Positional(sealed) => {
                let aad = shop_aad(POSITIONAL_AAD, &self.tenant, &self.id);
                let plain = key.open(&aad, sealed)?;
                let secrets: Vec<String> =
                    postcard::from_bytes(&plain).map_err(|_| malformed("secrets"))?;
                from_positional(self.platform, &self.credential_id, secrets)?
            }
            SealedCredentials::Typed(sealed) => {
                let aad = shop_aad(TYPED_AAD, &self.tenant, &self.id);
                let plain = key.open(&aad, sealed)?;
                let record: CredentialsRecord = match plain.split_first() {
                    Some((&CREDENTIALS_V1, rest)) => {
                        postcard::from_bytes(rest).map_err(|_| malformed("credentials"))?
                    }
                    _ => return Err(malformed("credentials: unknown version")),
                };
                ShopCredentials::from(record)
            }
        };
        if !credentials.fits(self.platform) {
            return Err(malformed("credentials of another platform"));
        }
        if credentials.public_id() != self.credential_id {
            return Err(malformed("credentials of another public id"));
        }
        Ok(credentials)
    }
}

fn corrupt(reason: impl ToString) -> StoreError {
    StoreError::Corrupt {
        table: "shops",
        reason: reason.to_string(),
    }
}

impl Record for ShopRecord {
    const NAME: &'static str = "shops";
    const VERSION: u8 = V2;
    fn read_older(version: u8, payload: &[u8]) -> Option<Result<Self, postcard::Error>> {
        match version {
            V1 => codec::older::<ShopRecordV1, _>(payload),
            _ => None,
        }
    }
}

pub(crate) fn create_tables(tx: &WriteTx) -> Result<(), StoreError> {
    let shops = tx.open(SHOPS)?;
    let mut by_id = tx.open(SHOPS_BY_ID)?;
    let mut meta = tx.open(META)?;
    if !meta.contains(SHOPS_BY_ID_BUILT)? {
        for key in shops.keys::<(&str, &str)>(..)? {
            let key = key?;
            let (tenant, id) = key.value();
            by_id.insert((id, tenant), &())?;
        }
        meta.insert(SHOPS_BY_ID_BUILT, &vec![1])?;
    }
    Ok(())
}

impl Store {
    /// Stores a new shop; `Conflict` if its id is taken in its tenant.
    pub fn insert_shop(&self, record: &ShopRecord) -> Result<(), StoreError> {
        let tx = self.write()?;
        {
            let mut shops = tx.open(SHOPS)?;
            let at = (record.tenant.as_str(), record.id.as_str());
            if shops.contains(at)? {
                return Err(StoreError::Conflict(format!(
                    "shop {} already exists in tenant {}",
                    record.id, record.tenant
                )));
            }
            shops.insert(at, record)?;
            tx.open(SHOPS_BY_ID)?
                .insert((record.id.as_str(), record.tenant.as_str()), &())?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Whether any tenant has bound a shop (whose secrets the master key seals).
    pub fn any_shop(&self) -> Result<bool, StoreError> {
        Ok(!self.read()?.open(SHOPS)?.is_empty()?)
    }

    /// Every shop of every tenant (the capture supervisor's list).
    pub fn all_shops(&self) -> Result<Vec<ShopRecord>, StoreError> {
        let tx = self.read()?;
        let shops = tx.open(SHOPS)?;
        shops.all()?.map(|row| Ok(row?.value)).collect()
    }

    /// The shops with id `id`, of any tenant, through the id index (a webhook names only the
    /// shop; its signature decides which one, if ids repeat across tenants). Most shops have
    /// one.
    pub fn shops_by_id(&self, id: &str) -> Result<Vec<ShopRecord>, StoreError> {
        let tx = self.read()?;
        let by_id = tx.open(SHOPS_BY_ID)?;
        let shops = tx.open(SHOPS)?;
        let mut out = Vec::new();
        for key in by_id.keys((id, "")..)? {
            let key = key?;
            let (kid, tenant) = key.value();
            if kid != id {
                break;
            }
            let Some(record) = shops.get((tenant, id))? else {
                return Err(corrupt(format!(
                    "shop {id} of {tenant} is indexed but not stored"
                )));
            };
            out.push(record);
        }
        Ok(out)
    }

    /// Shop `id` of `tenant`.
    pub fn shop(&self, tenant: &TenantId, id: &str) -> Result<Option<ShopRecord>, StoreError> {
        self.read()?.open(SHOPS)?.get((tenant.as_str(), id))
    }

    /// Every shop of `tenant` (only its key range is read), oldest first.
    pub fn shops(&self, tenant: &TenantId) -> Result<Vec<ShopRecord>, StoreError> {
        let tx = self.read()?;
        let shops = tx.open(SHOPS)?;
        let mut out = Vec::new();
        for row in shops.range((tenant.as_str(), "")..)? {
            let row = row?;
            if row.key().0 != tenant.as_str() {
                break;
            }
            let record = row.value;
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
        let tx = self.write()?;
        let out = {
            let mut shops = tx.open(SHOPS)?;
            let Some(mut record) = shops.get((tenant.as_str(), id))? else {
                return Ok(None);
            };
            f(&mut record)?;
            shops.insert((tenant.as_str(), id), &record)?;
            record
        };
        tx.commit()?;
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::codec::decode;

    /// [`SHOPS`] as bytes: to write a record as an older hub wrote it.
    const SHOPS_RAW: Table<(&str, &str), Vec<u8>> = Table::new("shops");

    fn taobao(app_key: &str) -> ShopCredentials {
        ShopCredentials::Taobao {
            app_key: app_key.into(),
            app_secret: "app-secret".into(),
            session: "session".into(),
        }
    }

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
            credential_id: String::new(),
            credentials_sealed: SealedCredentials::default(),
            health: ShopHealthRecord::default(),
        };
        r.seal_credentials(key, &taobao("12345678"));
        r
    }

    #[test]
    fn sealed_secrets_moved_to_another_shop_or_tenant_do_not_open() {
        let key = MasterKey::from_bytes([1; 32]);
        let a = record("acme", "shop-a", &key);
        assert_eq!(a.credential_id, "12345678");
        assert_eq!(a.open_credentials(&key).unwrap(), taobao("12345678"));
        let mut other_shop = record("acme", "shop-b", &key);
        other_shop.credentials_sealed = a.credentials_sealed.clone();
        assert!(matches!(
            other_shop.open_credentials(&key),
            Err(MasterKeyError::Decrypt)
        ));
        let mut other_tenant = record("beta", "shop-a", &key);
        other_tenant.credentials_sealed = a.credentials_sealed.clone();
        assert!(matches!(
            other_tenant.open_credentials(&key),
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
            .open_credentials(&MasterKey::from_bytes([2; 32]))
            .unwrap_err();
        assert!(err.to_string().contains("master key"), "{err}");
        let bytes = std::fs::read(dir.path().join("hub.redb")).unwrap();
        assert!(!bytes.windows(10).any(|w| w == b"app-secret"));
    }

    #[test]
    fn typed_credentials_carry_their_format_and_must_fit_the_shop() {
        let key = MasterKey::from_bytes([1; 32]);
        let a = record("acme", "shop-a", &key);
        let SealedCredentials::Typed(sealed) = a.credentials_sealed.clone() else {
            panic!("new credentials are sealed typed");
        };
        // The format is bound: typed bytes presented as positional ones do not open.
        let mut as_positional = a.clone();
        as_positional.credentials_sealed = SealedCredentials::Positional(sealed);
        assert!(matches!(
            as_positional.open_credentials(&key),
            Err(MasterKeyError::Decrypt)
        ));
        // After a read, the credentials must fit the platform and the public id shown.
        let mut other_platform = a.clone();
        other_platform.platform = Platform::Jd;
        assert!(matches!(
            other_platform.open_credentials(&key),
            Err(MasterKeyError::Malformed(_))
        ));
        let mut tmall = a.clone();
        tmall.platform = Platform::Tmall;
        assert_eq!(tmall.open_credentials(&key).unwrap(), taobao("12345678"));
        let mut other_id = a;
        other_id.credential_id = "87654321".into();
        assert!(matches!(
            other_id.open_credentials(&key),
            Err(MasterKeyError::Malformed(_))
        ));
    }

    /// Shop records as `store/shops.rs` of 96d6c53 encoded them (record version 1, the secrets
    /// a positional postcard `Vec<String>` sealed with the master key `[7; 32]`), one per
    /// platform, hex, one a line.
    const GOLDEN_V1: &str = include_str!("../../tests/fixtures/shops-v1/records.hex");

    fn golden_expected() -> [ShopCredentials; 5] {
        [
            ShopCredentials::Taobao {
                app_key: "tb-app-key-1".into(),
                app_secret: "tb-app-secret".into(),
                session: "tb-session".into(),
            },
            ShopCredentials::Taobao {
                app_key: "tm-app-key-2".into(),
                app_secret: "tm-app-secret".into(),
                session: "tm-session".into(),
            },
            ShopCredentials::Jd {
                app_key: "jd-app-key-3".into(),
                app_secret: "jd-app-secret".into(),
                access_token: "jd-access-token".into(),
            },
            ShopCredentials::Shopify {
                shop_domain: "golden.myshopify.com".into(),
                access_token: "shpat_golden".into(),
                webhook_secret: "shopify-webhook-secret".into(),
            },
            ShopCredentials::Woocommerce {
                consumer_key: "ck_golden".into(),
                consumer_secret: "cs_golden".into(),
                webhook_secret: "woo-webhook-secret".into(),
            },
        ]
    }

    #[test]
    fn records_sealed_positionally_before_typed_credentials_still_open_to_the_same_value() {
        let key = MasterKey::from_bytes([7; 32]);
        let lines: Vec<&str> = GOLDEN_V1.lines().collect();
        let expected = golden_expected();
        assert_eq!(lines.len(), expected.len());
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("hub.redb")).unwrap();
        for (line, want) in lines.into_iter().zip(expected) {
            let bytes = hex::decode(line).unwrap();
            assert_eq!(bytes[0], V1);
            let old = decode::<ShopRecord>(&bytes).unwrap();
            assert!(matches!(
                old.credentials_sealed,
                SealedCredentials::Positional(_)
            ));
            assert_eq!(old.open_credentials(&key).unwrap(), want, "{}", old.id);

            // Kept as they were when the record is rewritten for another reason (the format
            // goes with them), sealed typed once the credentials change.
            let tx = store.write().unwrap();
            tx.open(SHOPS_RAW)
                .unwrap()
                .insert((old.tenant.as_str(), old.id.as_str()), &bytes)
                .unwrap();
            tx.commit().unwrap();
            let disabled = store
                .change_shop::<StoreError>(&old.tenant, &old.id, |r| {
                    r.enabled = false;
                    Ok(())
                })
                .unwrap()
                .unwrap();
            let read = store.shop(&old.tenant, &old.id).unwrap().unwrap();
            assert_eq!(read, disabled);
            assert_eq!(read.credentials_sealed, old.credentials_sealed);
            assert_eq!(read.open_credentials(&key).unwrap(), want);
            store
                .change_shop::<StoreError>(&old.tenant, &old.id, |r| {
                    r.seal_credentials(&key, &want);
                    Ok(())
                })
                .unwrap();
            let read = store.shop(&old.tenant, &old.id).unwrap().unwrap();
            assert!(matches!(
                read.credentials_sealed,
                SealedCredentials::Typed(_)
            ));
            assert_eq!(read.open_credentials(&key).unwrap(), want);
        }
    }
}
