//! The access-token signing keys are stored sealed with the hub's master key. A hub from before
//! sealing (its keys in plain text) still opens, seals them, and the access tokens it issued
//! keep verifying; a hub whose master key is gone while its signing keys are sealed refuses to
//! open with an error naming the master key.

mod support;

use axum::http::{Method, StatusCode};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use std::path::Path;
use std::sync::Arc;
use support::{acme, request};
use tower::ServiceExt as _;
use xt_hub::api::HttpApi;
use xt_hub::hub::{DB_FILE, Hub, HubSettings, now_ms};
use xt_hub::identity::jwt::{self, Claims};
use xt_hub::master_key::MASTER_KEY_FILE;
use xt_hub::store::SigningKeyRecord;

/// The signing keys' table, as the store names it.
const SIGNING_KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("signing_keys");

/// Every stored signing key as raw bytes (the hub must be closed).
fn raw_keys(data: &Path) -> Vec<(String, Vec<u8>)> {
    let db = redb::Database::create(data.join(DB_FILE)).unwrap();
    let txn = db.begin_read().unwrap();
    let table = txn.open_table(SIGNING_KEYS).unwrap();
    table
        .iter()
        .unwrap()
        .map(|item| {
            let (k, v) = item.unwrap();
            (k.value().to_owned(), v.value().to_vec())
        })
        .collect()
}

/// Replaces every signing key with `record` under `kid`, written as a hub from before sealing
/// wrote it: record version 1, then the postcard record with the private key in plain text.
fn write_unsealed_key(data: &Path, kid: &str, record: &SigningKeyRecord) {
    let db = redb::Database::create(data.join(DB_FILE)).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut table = txn.open_table(SIGNING_KEYS).unwrap();
        let kids: Vec<String> = table
            .iter()
            .unwrap()
            .map(|item| item.unwrap().0.value().to_owned())
            .collect();
        for k in kids {
            table.remove(k.as_str()).unwrap();
        }
        let mut bytes = vec![1u8];
        bytes.extend(postcard::to_allocvec(record).unwrap());
        table.insert(kid, bytes.as_slice()).unwrap();
    }
    txn.commit().unwrap();
}

/// Whether `haystack` holds `needle` anywhere.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// An access token of `admin` signed with `record`, valid now.
fn admin_token(hub: &Hub, kid: &str, record: &SigningKeyRecord) -> String {
    let user = hub.store().user(&acme(), "admin").unwrap().unwrap();
    let now = now_ms().0 / 1000;
    let claims = Claims {
        sub: user.id,
        preferred_username: "admin".into(),
        tenant: acme(),
        roles: user.roles,
        warehouses: user.warehouses,
        iat: now,
        nbf: now,
        exp: now + 600,
        jti: "old-token".into(),
    };
    jwt::sign(kid, record, &claims).unwrap()
}

async fn stock_status(hub: &Arc<Hub>, bearer: &str) -> StatusCode {
    let router = xt_mobile_api::router(HttpApi::new(Arc::clone(hub)).domains());
    let req = request(Method::GET, "/api/v1/stock", Some(bearer), None);
    router.oneshot(req).await.unwrap().status()
}

#[test]
fn signing_keys_made_by_init_are_sealed_with_the_master_key() {
    let dir = tempfile::tempdir().unwrap();
    xt_hub::cli::init_hub(dir.path(), &acme()).unwrap();
    let hub = Hub::open(dir.path(), HubSettings::default()).unwrap();
    let keys = hub.store().signing_keys(hub.master_key()).unwrap();
    assert_eq!(keys.len(), 1);
    let pkcs8 = keys[0].1.pkcs8.clone();
    drop(hub);
    for (kid, bytes) in raw_keys(dir.path()) {
        assert!(
            !contains(&bytes, &pkcs8),
            "signing key {kid} is stored in plain text"
        );
    }
}

#[tokio::test]
async fn unsealed_signing_keys_of_an_old_hub_still_open_are_sealed_and_old_tokens_verify() {
    let dir = tempfile::tempdir().unwrap();
    xt_hub::cli::init_hub(dir.path(), &acme()).unwrap();
    let (kid, old_key) = jwt::new_key(now_ms()).unwrap();
    write_unsealed_key(dir.path(), &kid, &old_key);
    assert!(contains(&raw_keys(dir.path())[0].1, &old_key.pkcs8));

    let hub = Arc::new(Hub::open(dir.path(), HubSettings::default()).unwrap());
    // The old key is still the current one, opened as it was.
    let keys = hub.store().signing_keys(hub.master_key()).unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].0, kid);
    assert_eq!(keys[0].1.pkcs8, old_key.pkcs8);
    // An access token issued before the upgrade still verifies.
    let token = admin_token(&hub, &kid, &old_key);
    assert_eq!(stock_status(&hub, &token).await, StatusCode::OK);
    drop(hub);

    // It was sealed when the hub opened.
    let raw = raw_keys(dir.path());
    assert_eq!(raw.len(), 1);
    assert!(!contains(&raw[0].1, &old_key.pkcs8), "still in plain text");

    // And still verifies after the next open, which reads the sealed record.
    let hub = Arc::new(Hub::open(dir.path(), HubSettings::default()).unwrap());
    assert_eq!(stock_status(&hub, &token).await, StatusCode::OK);
}

#[test]
fn a_missing_master_key_with_sealed_signing_keys_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    xt_hub::cli::init_hub(dir.path(), &acme()).unwrap();
    std::fs::remove_file(dir.path().join(MASTER_KEY_FILE)).unwrap();
    let err = Hub::open(dir.path(), HubSettings::default())
        .err()
        .expect("a hub without its master key must not open");
    let message = format!("{err:#}");
    assert!(
        message.contains(MASTER_KEY_FILE) && message.contains("signing keys"),
        "{message}"
    );
    assert!(
        !dir.path().join(MASTER_KEY_FILE).exists(),
        "no new key made"
    );
}

#[test]
fn sealed_signing_keys_do_not_open_with_another_master_key() {
    let dir = tempfile::tempdir().unwrap();
    xt_hub::cli::init_hub(dir.path(), &acme()).unwrap();
    std::fs::write(dir.path().join(MASTER_KEY_FILE), [9u8; 32]).unwrap();
    let hub = Hub::open(dir.path(), HubSettings::default()).unwrap();
    let err = hub.store().signing_keys(hub.master_key()).unwrap_err();
    assert!(err.to_string().contains("master key"), "{err}");
}
