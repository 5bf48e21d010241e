//! Identity and access over the real hub: the router called directly (tower `oneshot`) with the
//! hub's services (`HttpApi::domains`) over a freshly initialized data directory (real redb in a temp dir).

mod support;

use axum::http::{Method, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use std::time::Duration;
use support::{Env, PASSWORD, Reply, acme, apply, env, register_agent, stock};
use xt_hub::hub::{HubSettings, now_ms};
use xt_hub::identity::jwt::{self, Claims};
use xt_hub::identity::throttle::LOGIN_ACCOUNT_BURST;
use xt_hub::store::{SigningKeyRecord, UserRecord};
use xt_mobile_api::Role;
use xt_shared::ids::TenantId;

impl Env {
    async fn refresh(&self, token: &str) -> Reply {
        self.call(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": token})),
        )
        .await
    }

    async fn stock_status(&self, bearer: &str) -> StatusCode {
        self.call(Method::GET, "/api/v1/stock", Some(bearer), None)
            .await
            .status
    }

    fn current_key(&self) -> (String, SigningKeyRecord) {
        self.hub
            .store()
            .signing_keys(self.hub.master_key())
            .unwrap()
            .into_iter()
            .find(|(_, r)| r.retired_at.is_none())
            .unwrap()
    }

    /// Claims a real sign-in of `admin` would carry, valid now.
    fn owner_claims(&self) -> Claims {
        let user = self.hub.store().user(&acme(), "admin").unwrap().unwrap();
        let now = now_ms().0 / 1000;
        Claims {
            sub: user.id,
            preferred_username: "admin".into(),
            tenant: acme(),
            roles: vec![Role::Owner],
            warehouses: vec![],
            iat: now,
            nbf: now,
            exp: now + 900,
            jti: "j1".into(),
        }
    }

    fn mint(&self, claims: &Claims) -> String {
        let (kid, key) = self.current_key();
        jwt::sign(&kid, &key, claims).unwrap()
    }

    fn seed_stock(&self, rows: &[(&str, &str, i64)]) {
        let who = register_agent(&self.hub, &acme(), "ag-wh", "s1");
        let changes = rows
            .iter()
            .enumerate()
            .map(|(i, (w, s, n))| stock(i as u64 + 1, 1, w, s, *n))
            .collect();
        apply(&self.hub, &who, "wms", changes);
    }
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

#[tokio::test]
async fn owner_from_init_signs_in_and_reads_stock() {
    let env = env();
    env.seed_stock(&[("WH1", "A", 3)]);
    let (access, _) = env.tokens("acme", "admin", &env.owner_password).await;
    let r = env
        .call(Method::GET, "/api/v1/stock", Some(&access), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    // The API key keeps working next to tokens.
    assert_eq!(env.stock_status(&env.key).await, StatusCode::OK);
}

#[tokio::test]
async fn wrong_password_and_unknown_user_look_the_same() {
    let env = env();
    let wrong = env.login("acme", "admin", "not the password").await;
    let unknown = env.login("acme", "nobody", "not the password").await;
    let no_tenant = env.login("other", "admin", "not the password").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    for r in [&unknown, &no_tenant] {
        assert_eq!(r.status, wrong.status);
        assert_eq!(r.body, wrong.body);
    }
}

#[tokio::test]
async fn expired_token_is_refused() {
    let env = env();
    let mut claims = env.owner_claims();
    claims.iat -= 7200;
    claims.nbf -= 7200;
    claims.exp = claims.iat + 900;
    let token = env.mint(&claims);
    assert_eq!(env.stock_status(&token).await, StatusCode::UNAUTHORIZED);
    // The same claims made current are accepted: the refusal is about time only.
    assert_eq!(
        env.stock_status(&env.mint(&env.owner_claims())).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn not_yet_valid_token_is_refused() {
    let env = env();
    let mut claims = env.owner_claims();
    claims.nbf += 3600;
    claims.exp += 3600;
    assert_eq!(
        env.stock_status(&env.mint(&claims)).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn unknown_kid_is_refused() {
    let env = env();
    let (_, key) = env.current_key();
    let token = jwt::sign("k-unknown", &key, &env.owner_claims()).unwrap();
    assert_eq!(env.stock_status(&token).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn alg_none_is_refused() {
    let env = env();
    let (kid, _) = env.current_key();
    let header = json!({"alg": "none", "typ": "JWT", "kid": kid});
    let claims = serde_json::to_value(env.owner_claims()).unwrap();
    for token in [
        format!("{}.{}.", b64(&header), b64(&claims)),
        format!("{}.{}.AAAA", b64(&header), b64(&claims)),
    ] {
        assert_eq!(env.stock_status(&token).await, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_refused() {
    let env = env();
    let (kid, key) = env.current_key();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(kid);
    for secret in [
        key.public.clone(),
        URL_SAFE_NO_PAD.encode(&key.public).into_bytes(),
    ] {
        let token = jsonwebtoken::encode(
            &header,
            &env.owner_claims(),
            &jsonwebtoken::EncodingKey::from_secret(&secret),
        )
        .unwrap();
        assert_eq!(env.stock_status(&token).await, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn tampered_payload_is_refused() {
    let env = env();
    env.add_user("clerk", &["finance"], &[]).await;
    let (access, _) = env.tokens("acme", "clerk", PASSWORD).await;
    assert_eq!(env.stock_status(&access).await, StatusCode::OK);
    let parts: Vec<&str> = access.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["exp"] = json!(claims["exp"].as_i64().unwrap() + 3600);
    let forged = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
    assert_eq!(env.stock_status(&forged).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn token_of_tenant_b_cannot_touch_tenant_a() {
    let env = env();
    let a_agent = register_agent(&env.hub, &acme(), "ag-a", "s1").agent;
    let beta = TenantId::new("beta").unwrap();
    env.hub.store().create_tenant(&beta, now_ms()).unwrap();
    env.hub
        .store()
        .insert_user(
            &beta,
            "boss",
            &UserRecord {
                id: "u-boss".into(),
                password_hash: xt_hub::identity::password::hash(PASSWORD).unwrap(),
                roles: vec![Role::Owner],
                warehouses: vec![],
                disabled: false,
                created_at: now_ms(),
            },
        )
        .unwrap();
    let (b_access, _) = env.tokens("beta", "boss", PASSWORD).await;
    let r = env
        .call(
            Method::POST,
            "/api/v1/agents/ag-a/revoke",
            Some(&b_access),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let agent = env.hub.store().agent(&a_agent).unwrap().unwrap();
    assert!(agent.revoked_at.is_none());
    let r = env
        .call(Method::GET, "/api/v1/agents", Some(&b_access), None)
        .await;
    assert_eq!(r.body["agents"], json!([]));
}

#[tokio::test]
async fn reused_refresh_token_revokes_the_family() {
    let env = Env::with_settings(HubSettings {
        refresh_grace: Duration::ZERO,
        ..HubSettings::default()
    });
    let (_, first) = env.tokens("acme", "admin", &env.owner_password).await;
    let r = env.refresh(&first).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let second = r.body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    let access = r.body["access_token"].as_str().unwrap();
    assert_eq!(env.stock_status(access).await, StatusCode::OK);
    // Grace is zero: let time pass so the reuse is outside it.
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(env.refresh(&first).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(env.refresh(&second).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn retried_refresh_within_grace_succeeds() {
    let env = env();
    let (_, first) = env.tokens("acme", "admin", &env.owner_password).await;
    let lost = env.refresh(&first).await;
    assert_eq!(lost.status, StatusCode::OK);
    let retried = env.refresh(&first).await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.body);
    let next = retried.body["refresh_token"].as_str().unwrap().to_owned();
    let access = retried.body["access_token"].as_str().unwrap();
    assert_eq!(env.stock_status(access).await, StatusCode::OK);
    // The retry's successor is the live one and rotates normally.
    assert_eq!(env.refresh(&next).await.status, StatusCode::OK);
}

#[tokio::test]
async fn logout_revokes_the_family() {
    let env = env();
    let (_, first) = env.tokens("acme", "admin", &env.owner_password).await;
    let r = env.refresh(&first).await;
    let second = r.body["refresh_token"].as_str().unwrap().to_owned();
    let r = env
        .call(
            Method::POST,
            "/api/v1/auth/logout",
            None,
            Some(json!({"refresh_token": second})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(env.refresh(&second).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn rotated_key_still_verifies_and_jwks_lists_both() {
    let env = env();
    let (before, _) = env.tokens("acme", "admin", &env.owner_password).await;
    let (old_kid, _) = env.current_key();
    let r = env
        .call(
            Method::POST,
            "/api/v1/keys/rotate",
            Some(&env.operator_key),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let new_kid = r.body["kid"].as_str().unwrap().to_owned();
    assert_ne!(new_kid, old_kid);
    assert_eq!(env.stock_status(&before).await, StatusCode::OK);
    let (after, _) = env.tokens("acme", "admin", &env.owner_password).await;
    let header = jsonwebtoken::decode_header(&after).unwrap();
    assert_eq!(header.kid.as_deref(), Some(new_kid.as_str()));
    assert_eq!(env.stock_status(&after).await, StatusCode::OK);
    let jwks = env
        .call(Method::GET, "/.well-known/jwks.json", None, None)
        .await;
    let kids: Vec<&str> = jwks.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            assert_eq!(k["kty"], "OKP");
            assert_eq!(k["crv"], "Ed25519");
            assert_eq!(k["alg"], "EdDSA");
            assert_eq!(k["use"], "sig");
            k["kid"].as_str().unwrap()
        })
        .collect();
    assert!(kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()));
}

#[tokio::test]
async fn rapid_wrong_logins_are_throttled() {
    let env = env();
    for _ in 0..LOGIN_ACCOUNT_BURST {
        let r = env.login("acme", "admin", "wrong password").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = env.login("acme", "admin", &env.owner_password).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.body["error"]["code"], "too_many_requests");
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1);
}

#[tokio::test]
async fn warehouse_user_sees_only_their_warehouses() {
    let env = env();
    env.seed_stock(&[
        ("WH1", "A", 1),
        ("WH2", "A", 2),
        ("WH2", "B", 3),
        ("WH3", "A", 4),
    ]);
    env.add_user("picker", &["warehouse"], &["WH2", "WH3"])
        .await;
    let (access, _) = env.tokens("acme", "picker", PASSWORD).await;
    let r = env
        .call(Method::GET, "/api/v1/stock?limit=2", Some(&access), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut page = r.body;
    loop {
        for row in page["items"].as_array().unwrap() {
            seen.push((
                row["warehouse"].as_str().unwrap().into(),
                row["sku"].as_str().unwrap().into(),
            ));
        }
        let Some(cursor) = page["next_cursor"].as_str() else {
            break;
        };
        page = env
            .call(
                Method::GET,
                &format!("/api/v1/stock?limit=2&cursor={cursor}"),
                Some(&access),
                None,
            )
            .await
            .body;
    }
    let want: Vec<(String, String)> = [("WH2", "A"), ("WH2", "B"), ("WH3", "A")]
        .iter()
        .map(|(w, s)| ((*w).into(), (*s).into()))
        .collect();
    assert_eq!(seen, want);
    let r = env
        .call(
            Method::GET,
            "/api/v1/stock?warehouse=WH1",
            Some(&access),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["items"], json!([]));
}

#[tokio::test]
async fn manager_cannot_create_enrollment_tokens_or_users() {
    let env = env();
    env.add_user("mgr", &["manager"], &[]).await;
    let (access, _) = env.tokens("acme", "mgr", PASSWORD).await;
    let r = env
        .call(
            Method::POST,
            "/api/v1/enrollment-tokens",
            Some(&access),
            Some(json!({"site": "s1", "role": "pos"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = env
        .call(Method::GET, "/api/v1/users", Some(&access), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(env.stock_status(&access).await, StatusCode::OK);
}

#[tokio::test]
async fn disabled_user_loses_access_at_once() {
    let env = env();
    env.add_user("temp", &["manager"], &[]).await;
    let (access, refresh) = env.tokens("acme", "temp", PASSWORD).await;
    let r = env
        .call(
            Method::PATCH,
            "/api/v1/users/temp",
            Some(&env.key),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["disabled"], true);
    assert_eq!(env.stock_status(&access).await, StatusCode::UNAUTHORIZED);
    assert_eq!(env.refresh(&refresh).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        env.login("acme", "temp", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn admin_cannot_make_or_touch_owners() {
    let env = env();
    env.add_user("ops", &["admin"], &[]).await;
    let (access, _) = env.tokens("acme", "ops", PASSWORD).await;
    let make_owner = json!({"username": "boss2", "password": PASSWORD, "roles": ["owner"]});
    let r = env
        .call(
            Method::POST,
            "/api/v1/users",
            Some(&access),
            Some(make_owner),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = env
        .call(
            Method::PATCH,
            "/api/v1/users/admin",
            Some(&access),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = env
        .call(Method::POST, "/api/v1/keys/rotate", Some(&access), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // An admin does manage non-owners: a bad role combination is refused and nothing changes.
    env.add_user("picker", &["warehouse"], &["WH1"]).await;
    let r = env
        .call(
            Method::PATCH,
            "/api/v1/users/picker",
            Some(&access),
            Some(json!({"warehouses": []})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = env
        .call(Method::GET, "/api/v1/users", Some(&access), None)
        .await;
    let picker = r.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "picker")
        .unwrap()
        .clone();
    assert_eq!(picker["warehouses"], json!(["WH1"]));
    assert!(picker.get("password_hash").is_none());
}

/// Makes a key of `scopes` with the owner key; returns its secret.
async fn key_with(env: &Env, scopes: &[&str]) -> String {
    let body = json!({"name": "partner", "scopes": scopes});
    let r = env
        .call(Method::POST, "/api/v1/api-keys", Some(&env.key), Some(body))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.body["secret"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn users_write_key_cannot_create_admin() {
    let env = env();
    let key = key_with(&env, &["users:write"]).await;
    // Every role carries a permission the key lacks: none may be granted by it.
    for role in ["owner", "admin", "manager", "finance"] {
        let body = json!({"username": format!("x-{role}"), "password": PASSWORD, "roles": [role]});
        let r = env
            .call(Method::POST, "/api/v1/users", Some(&key), Some(body))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{role}: {}", r.text);
    }
    let body = json!({"username": "x-wh", "password": PASSWORD, "roles": ["warehouse"],
        "warehouses": ["WH1"]});
    let r = env
        .call(Method::POST, "/api/v1/users", Some(&key), Some(body))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = env
        .call(Method::GET, "/api/v1/users", Some(&env.key), None)
        .await;
    assert_eq!(r.body["users"].as_array().unwrap().len(), 1, "{}", r.text);
    // A key that holds every permission of a role may grant it.
    let wide = key_with(
        &env,
        &[
            "users:write",
            "stock:read",
            "events:read",
            "dashboard:read",
            "orders:read",
        ],
    )
    .await;
    let body = json!({"username": "books", "password": PASSWORD, "roles": ["finance"]});
    let r = env
        .call(Method::POST, "/api/v1/users", Some(&wide), Some(body))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}

#[tokio::test]
async fn users_write_key_cannot_re_role_a_user_to_admin() {
    let env = env();
    env.add_user("books", &["finance"], &[]).await;
    env.add_user("ops", &["admin"], &[]).await;
    let key = key_with(
        &env,
        &[
            "users:write",
            "stock:read",
            "events:read",
            "dashboard:read",
            "orders:read",
        ],
    )
    .await;
    let patch = |body: Value, who: &'static str| {
        let key = key.clone();
        let env = &env;
        async move {
            env.call(
                Method::PATCH,
                &format!("/api/v1/users/{who}"),
                Some(&key),
                Some(body),
            )
            .await
        }
    };
    // Raising a user above the key is refused, and nothing changes.
    let r = patch(json!({"roles": ["admin"]}), "books").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let (access, _) = env.tokens("acme", "books", PASSWORD).await;
    let me = env
        .call(Method::GET, "/api/v1/me", Some(&access), None)
        .await;
    assert_eq!(me.body["roles"], json!(["finance"]));
    // A user above the key cannot be changed or disabled by it either.
    let r = patch(json!({"roles": ["finance"]}), "ops").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = patch(json!({"disabled": true}), "ops").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    env.tokens("acme", "ops", PASSWORD).await;
    // What the key could have made, it may change.
    let r = patch(json!({"disabled": true}), "books").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

#[tokio::test]
async fn owner_cannot_rotate_signing_keys() {
    let env = env();
    let (owner, _) = env.tokens("acme", "admin", &env.owner_password).await;
    let (before, _) = env.current_key();
    for bearer in [&env.key, &owner] {
        let r = env
            .call(Method::POST, "/api/v1/keys/rotate", Some(bearer), None)
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    }
    let r = env
        .call(
            Method::POST,
            "/api/v1/keys/rotate",
            Some("xto_unknown"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    assert_eq!(env.current_key().0, before);
    // The operator key rotates; it is nobody's tenant credential.
    let r = env
        .call(
            Method::POST,
            "/api/v1/keys/rotate",
            Some(&env.operator_key),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_ne!(env.current_key().0, before);
    for path in ["/api/v1/me", "/api/v1/stock", "/api/v1/users"] {
        let r = env
            .call(Method::GET, path, Some(&env.operator_key), None)
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}: {}", r.text);
    }
}

#[tokio::test]
async fn a_new_operator_key_replaces_the_previous_one() {
    let env = env();
    let rotate = |bearer: String| {
        let env = &env;
        async move {
            env.call(Method::POST, "/api/v1/keys/rotate", Some(&bearer), None)
                .await
                .status
        }
    };
    let (next, dropped) = xt_hub::cli::make_operator_key(env.hub.store()).unwrap();
    assert_eq!(dropped, 1);
    assert_eq!(
        rotate(env.operator_key.clone()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(rotate(next.clone()).await, StatusCode::OK);
    assert_eq!(env.hub.store().revoke_operator_keys().unwrap(), 1);
    assert_eq!(rotate(next).await, StatusCode::UNAUTHORIZED);
    assert!(env.hub.store().current_operator_key().unwrap().is_none());
}

#[tokio::test]
async fn init_prints_a_working_operator_key() {
    let dir = tempfile::tempdir().unwrap();
    let made = xt_hub::cli::init_hub(dir.path(), &acme()).unwrap();
    assert!(made.operator_key.starts_with("xto_"));
    let hub =
        std::sync::Arc::new(xt_hub::hub::Hub::open(dir.path(), HubSettings::default()).unwrap());
    assert!(
        hub.store()
            .operator_key(&made.operator_key)
            .unwrap()
            .is_some()
    );
    assert!(hub.store().operator_key(&made.admin_key).unwrap().is_none());
}
