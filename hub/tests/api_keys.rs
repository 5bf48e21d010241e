//! Scoped API keys and `GET /api/v1/me` over the real hub: the router called directly with the
//! hub's services (`HttpApi::domains`) over a freshly initialized data directory (real redb in a temp dir).

mod support;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Env, Reply, acme, env};
use xt_hub::hub::{DB_FILE, HubSettings, now_ms};
use xt_hub::store::{ApiKeyRecordV1, enc_key_v1};

impl Env {
    /// Makes a key with `scopes` using `bearer`; returns (key id, secret).
    async fn make_key(&self, bearer: &str, scopes: &[&str]) -> (String, String) {
        let r = self
            .create(bearer, json!({"name": "erp-sync", "scopes": scopes}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        (
            r.body["key"]["id"].as_str().unwrap().to_owned(),
            r.body["secret"].as_str().unwrap().to_owned(),
        )
    }

    async fn create(&self, bearer: &str, body: Value) -> Reply {
        self.call(Method::POST, "/api/v1/api-keys", Some(bearer), Some(body))
            .await
    }

    /// `POST /api/v1/api-keys/{id}/revoke` with `bearer`.
    async fn revoke(&self, bearer: &str, id: &str) -> Reply {
        let path = format!("/api/v1/api-keys/{id}/revoke");
        self.call(Method::POST, &path, Some(bearer), None).await
    }

    async fn list(&self) -> Reply {
        let r = self
            .call(Method::GET, "/api/v1/api-keys", Some(&self.key), None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        r
    }

    /// The ids `bearer` sees in `GET /api/v1/api-keys`, newest first.
    async fn listed_ids(&self, bearer: &str) -> Vec<String> {
        let r = self
            .call(Method::GET, "/api/v1/api-keys", Some(bearer), None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        r.body["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["id"].as_str().unwrap().to_owned())
            .collect()
    }

    async fn listed(&self, id: &str) -> Value {
        let r = self.list().await;
        r.body["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == id)
            .unwrap_or_else(|| panic!("{id} not listed: {}", r.text))
            .clone()
    }
}

#[tokio::test]
async fn stock_read_key_reads_stock_and_nothing_else() {
    let env = env();
    let (_, secret) = env.make_key(&env.key, &["stock:read"]).await;
    let r = env
        .call(Method::GET, "/api/v1/stock", Some(&secret), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    for (method, path, body) in [
        (Method::GET, "/api/v1/agents", None),
        (Method::GET, "/api/v1/users", None),
        (Method::GET, "/api/v1/api-keys", None),
        (Method::GET, "/api/v1/events", None),
        (Method::POST, "/api/v1/keys/rotate", None),
        (
            Method::POST,
            "/api/v1/enrollment-tokens",
            Some(json!({"site": "s1", "role": "pos"})),
        ),
        (
            Method::POST,
            "/api/v1/api-keys",
            Some(json!({"name": "more", "scopes": ["stock:read"]})),
        ),
    ] {
        let r = env.call(method.clone(), path, Some(&secret), body).await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "{method} {path}: {}",
            r.text
        );
        assert_eq!(r.body["error"]["code"], "forbidden");
    }
    let me = env
        .call(Method::GET, "/api/v1/me", Some(&secret), None)
        .await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["kind"], "api_key");
    assert_eq!(me.body["tenant"], "acme");
    assert_eq!(me.body["username"], Value::Null);
    assert_eq!(me.body["roles"], json!([]));
    assert_eq!(me.body["scopes"], json!(["stock:read"]));
    assert_eq!(me.body["permissions"], json!(["stock:read"]));
}

#[tokio::test]
async fn me_of_the_owner_user_lists_every_permission() {
    let env = env();
    let owner = env.user_token("boss", &["owner"], &[]).await;
    let me = env
        .call(Method::GET, "/api/v1/me", Some(&owner), None)
        .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.body["kind"], "user");
    assert_eq!(me.body["username"], "boss");
    assert_eq!(me.body["roles"], json!(["owner"]));
    assert!(me.body["subject"].as_str().unwrap().starts_with("u-"));
    let perms = me.body["permissions"].as_array().unwrap();
    // Everything of the tenant; the hub-wide two are the hub operator's.
    assert_eq!(perms.len(), xt_mobile_api::Permission::ALL.len() - 2);
    assert!(!perms.contains(&json!("keys:rotate")));
    assert!(!perms.contains(&json!("metrics:read")));
    let manager = env.user_token("mgr", &["manager"], &[]).await;
    let me = env
        .call(Method::GET, "/api/v1/me", Some(&manager), None)
        .await;
    assert_eq!(
        me.body["permissions"],
        json!([
            "agents:read",
            "stock:read",
            "events:read",
            "dashboard:read",
            "orders:read",
            "shipments:read",
            "shops:read"
        ])
    );
}

#[tokio::test]
async fn revoked_key_is_refused_and_revoking_again_changes_nothing() {
    let env = env();
    let (id, secret) = env.make_key(&env.key, &["stock:read"]).await;
    let r = env.revoke(&env.key, &id).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["id"], id.as_str());
    let revoked_at = r.body["revoked_at"].clone();
    assert!(revoked_at.is_string(), "{}", r.text);
    let r = env
        .call(Method::GET, "/api/v1/stock", Some(&secret), None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let again = env.revoke(&env.key, &id).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["revoked_at"], revoked_at);
    let r = env.revoke(&env.key, "key-nope").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn last_used_at_is_set_after_use() {
    let env = env();
    let (id, secret) = env.make_key(&env.key, &["stock:read"]).await;
    assert_eq!(env.listed(&id).await["last_used_at"], Value::Null);
    let r = env
        .call(Method::GET, "/api/v1/stock", Some(&secret), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let listed = env.listed(&id).await;
    let used = xt_mobile_api::utc::parse(listed["last_used_at"].as_str().unwrap()).unwrap();
    let created = xt_mobile_api::utc::parse(listed["created_at"].as_str().unwrap()).unwrap();
    assert!(used >= created);
}

#[tokio::test]
async fn secret_and_hash_never_appear_in_the_list() {
    let env = env();
    let (id, secret) = env.make_key(&env.key, &["stock:read", "orders:read"]).await;
    let r = env.list().await;
    let hash = hex::encode(xt_hub::store::secret_hash(&secret));
    assert!(!r.text.contains(&secret));
    assert!(!r.text.contains(&env.key));
    assert!(!r.text.contains(&hash));
    // Newest first: the new key, then init's owner key.
    let keys = r.body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0]["id"], id.as_str());
    assert_eq!(keys[0]["scopes"], json!(["stock:read", "orders:read"]));
    assert_eq!(keys[0]["name"], "erp-sync");
    assert_eq!(keys[1]["scopes"], json!(["owner"]));
    assert_eq!(keys[1]["created_by"], "init");
    assert_eq!(
        keys[0]["created_by"],
        env.call(Method::GET, "/api/v1/me", Some(&env.key), None)
            .await
            .body["subject"]
    );
}

#[tokio::test]
async fn old_format_record_reads_as_an_owner_key() {
    let dir = tempfile::tempdir().unwrap();
    let made = xt_hub::cli::init_hub(dir.path(), &acme()).unwrap();
    // Write a key the way hubs before scopes did: version 1, no entry in the id index.
    let secret = "xtk_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    {
        let db = redb::Database::create(dir.path().join(DB_FILE)).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let table: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("api_keys");
            let mut t = txn.open_table(table).unwrap();
            let old = ApiKeyRecordV1 {
                id: "key-old".into(),
                tenant: acme(),
                name: "admin".into(),
                created_at: now_ms(),
                revoked_at: None,
            };
            t.insert(
                xt_hub::store::secret_hash(secret).as_slice(),
                enc_key_v1(&old).as_slice(),
            )
            .unwrap();
        }
        txn.commit().unwrap();
    }
    let env = Env::over(
        dir,
        secret.to_owned(),
        made.owner_password,
        HubSettings::default(),
    );
    let me = env
        .call(Method::GET, "/api/v1/me", Some(secret), None)
        .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.body["scopes"], json!(["owner"]));
    assert_eq!(me.body["roles"], json!(["owner"]));
    // An owner key, old or new, is a tenant's: rotating is the hub operator's.
    let r = env
        .call(Method::POST, "/api/v1/keys/rotate", Some(secret), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let listed = env.listed("key-old").await;
    assert_eq!(listed["created_by"], "init");
    assert_eq!(listed["scopes"], json!(["owner"]));
    let r = env.revoke(secret, "key-old").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = env
        .call(Method::GET, "/api/v1/me", Some(secret), None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn non_owner_admin_cannot_grant_owner() {
    let env = env();
    let admin = env.user_token("ops", &["admin"], &[]).await;
    let r = env
        .create(&admin, json!({"name": "root", "scopes": ["owner"]}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let (_, secret) = env
        .make_key(&admin, &["stock:read", "api_keys:write"])
        .await;
    // A key that may make keys still cannot hand out what it does not have.
    let r = env
        .create(
            &secret,
            json!({"name": "wider", "scopes": ["agents:write"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = env
        .create(&secret, json!({"name": "same", "scopes": ["stock:read"]}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = env
        .create(&env.key, json!({"name": "root", "scopes": ["owner"]}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}

#[tokio::test]
async fn missing_scope_is_forbidden() {
    let env = env();
    let (_, secret) = env
        .make_key(&env.key, &["orders:read", "shipments:write"])
        .await;
    for path in ["/api/v1/stock", "/api/v1/agents", "/api/v1/users"] {
        let r = env.call(Method::GET, path, Some(&secret), None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.text);
    }
}

#[tokio::test]
async fn bad_create_requests_are_400_with_a_reason() {
    let env = env();
    let cases = [
        (
            json!({"name": "x", "scopes": ["stock:write"]}),
            "stock:write",
        ),
        (json!({"name": "x", "scopes": []}), "scopes"),
        (json!({"name": "", "scopes": ["stock:read"]}), "name"),
        (
            json!({"name": "x".repeat(65), "scopes": ["stock:read"]}),
            "name",
        ),
        (
            json!({"name": "x", "scopes": ["stock:read"], "tenant": "beta"}),
            "tenant",
        ),
        (json!({"name": "x"}), "scopes"),
    ];
    for (body, needle) in cases {
        let r = env.create(&env.key, body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
        let message = r.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{body}: {message}");
    }
    let seventeen: Vec<&str> = std::iter::repeat_n("stock:read", 17).collect();
    // Repeats collapse to one scope: accepted.
    let r = env
        .create(&env.key, json!({"name": "dup", "scopes": seventeen}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["key"]["scopes"], json!(["stock:read"]));
}

#[tokio::test]
async fn another_tenants_key_id_is_not_found() {
    let env = env();
    let (id, secret) = env.make_key(&env.key, &["stock:read"]).await;
    let beta_secret = env.add_beta();
    let r = env.revoke(&beta_secret, &id).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = env
        .call(Method::GET, "/api/v1/api-keys", Some(&beta_secret), None)
        .await;
    assert_eq!(r.body["keys"].as_array().unwrap().len(), 1, "{}", r.text);
    assert!(!r.text.contains(&id));
    let r = env
        .call(Method::GET, "/api/v1/stock", Some(&secret), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // The same id in another tenant is another key.
    let r = env.revoke(&env.key, "key-beta").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn owner_keys_are_listed_and_revoked_only_by_owners() {
    let env = env();
    let init_key = env.listed_ids(&env.key).await;
    assert_eq!(init_key.len(), 1, "init made one owner key");
    let (_, owner2) = env.make_key(&env.key, &["owner"]).await;
    let (keeper_id, keeper) = env.make_key(&env.key, &["api_keys:write"]).await;
    // A non-owner with api_keys:write sees only the keys that are not owners'.
    assert_eq!(
        env.listed_ids(&keeper).await,
        std::slice::from_ref(&keeper_id)
    );
    for id in &init_key {
        let r = env.revoke(&keeper, id).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    }
    let admin = env.user_token("ops", &["admin"], &[]).await;
    assert_eq!(
        env.listed_ids(&admin).await,
        std::slice::from_ref(&keeper_id)
    );
    let r = env.revoke(&admin, &init_key[0]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    // Every owner key still works; an owner sees and revokes them all.
    for key in [&env.key, &owner2] {
        let r = env.call(Method::GET, "/api/v1/me", Some(key), None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    assert_eq!(env.listed_ids(&env.key).await.len(), 3);
    let r = env.revoke(&owner2, &init_key[0]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // A non-owner still revokes what is not an owner's.
    let r = env.revoke(&admin, &keeper_id).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

#[tokio::test]
async fn disabling_a_user_revokes_the_keys_it_made() {
    let env = env();
    let ops = env.user_token("ops", &["admin"], &[]).await;
    let (made_id, made) = env.make_key(&ops, &["api_keys:write", "stock:read"]).await;
    // A key that key made goes too: disabling must not leave a way back in.
    let (grand_id, grand) = env.make_key(&made, &["stock:read"]).await;
    let (other_id, other) = env.make_key(&env.key, &["stock:read"]).await;
    let r = env
        .call(
            Method::PATCH,
            "/api/v1/users/ops",
            Some(&env.key),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    for key in [&made, &grand] {
        let r = env
            .call(Method::GET, "/api/v1/stock", Some(key), None)
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    }
    for id in [&made_id, &grand_id] {
        assert!(env.listed(id).await["revoked_at"].is_string(), "{id}");
    }
    // Keys others made are untouched.
    assert!(env.listed(&other_id).await["revoked_at"].is_null());
    let r = env
        .call(Method::GET, "/api/v1/stock", Some(&other), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // Enabling the user again does not bring its keys back.
    let r = env
        .call(
            Method::PATCH,
            "/api/v1/users/ops",
            Some(&env.key),
            Some(json!({"disabled": false})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = env
        .call(Method::GET, "/api/v1/stock", Some(&made), None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
}
