//! What the hub's integration tests share: a hub over a freshly initialized data directory (real
//! redb in a temp dir) with its router called directly (tower `oneshot`), requests and their
//! replies, users and their sign-in, agents and the stock changes they apply.
//!
//! Each test binary uses only part of this, hence the `dead_code` allowance.
#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt as _;
use xt_hub::api::HttpApi;
use xt_hub::hub::{Authorized, Hub, HubSettings, now_ms};
use xt_hub::store::{AgentRecord, ApiKeyRecord};
use xt_mobile_api::Scope;
use xt_shared::change::{Body as ChangeBody, SourceChange};
use xt_shared::ids::{AgentId, SiteId, Sku, SourceName, TenantId, WarehouseCode};
use xt_shared::model::{StockLevel, UtcMillis};
use xt_shared::protocol::AgentRole;

/// The password of every user the tests make.
pub const PASSWORD: &str = "correct horse battery";
/// The owner API key of tenant `beta` made by [`Env::add_beta`].
pub const BETA_KEY: &str = "xtk_beta_test_key";

/// The tenant `init` made.
pub fn acme() -> TenantId {
    TenantId::new("acme").unwrap()
}

/// A hub initialized for `acme` (an owner API key and the owner user `admin`) and its router.
pub struct Env {
    _dir: tempfile::TempDir,
    pub hub: Arc<Hub>,
    pub router: Router,
    /// The owner API key `init` made.
    pub key: String,
    /// The password of `admin`, the owner user `init` made.
    pub owner_password: String,
    /// The hub operator's key (made anew when the hub is opened: the only one).
    pub operator_key: String,
}

/// A fresh hub with default settings, except that shops may be bound to loopback and private
/// URLs (the tests' platforms are on 127.0.0.1), as `--allow-private-shop-urls` allows.
pub fn env() -> Env {
    Env::with_settings(private_shop_urls())
}

/// Default settings with private shop URLs allowed (`--allow-private-shop-urls`).
pub fn private_shop_urls() -> HubSettings {
    HubSettings {
        shop_urls: xt_hub::shops::channels::ShopUrlPolicy {
            allow_private: true,
            allowed: Vec::new(),
        },
        ..HubSettings::default()
    }
}

/// A request to the router; `bearer` goes in `Authorization`, `body` is sent as JSON.
pub fn request(
    method: Method,
    path: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> Request<Body> {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(b) = bearer {
        req = req.header("authorization", format!("Bearer {b}"));
    }
    let req = match body {
        Some(v) => req
            .header("content-type", "application/json")
            .body(Body::from(v.to_string())),
        None => req.body(Body::empty()),
    };
    req.unwrap()
}

/// A whole response: status, headers, the body as text and as JSON (`Null` if it is not JSON).
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Reply {
    /// The `code` of a JSON error body; panics (showing the body) if this is not one.
    pub fn error_code(&self) -> &str {
        self.body["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("not an error body: {}", self.text))
    }

    /// The `message` of a JSON error body; panics (showing the body) if this is not one.
    pub fn error_message(&self) -> &str {
        self.body["error"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("not an error body: {}", self.text))
    }

    /// The `Content-Type` header, empty if there is none.
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .map(|v| v.to_str().unwrap())
            .unwrap_or_default()
    }
}

impl Env {
    /// A fresh hub with `settings`.
    pub fn with_settings(settings: HubSettings) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let made = xt_hub::cli::init_hub(dir.path(), &acme()).unwrap();
        Env::over(dir, made.admin_key, made.owner_password, settings)
    }

    /// The hub over `dir`, already initialized, whose owner key and password are given.
    pub fn over(
        dir: tempfile::TempDir,
        key: String,
        owner_password: String,
        settings: HubSettings,
    ) -> Env {
        let hub = Arc::new(Hub::open(dir.path(), settings).unwrap());
        let (operator_key, _) = xt_hub::cli::make_operator_key(hub.store()).unwrap();
        let router = xt_mobile_api::router(HttpApi::new(Arc::clone(&hub)).domains());
        Env {
            _dir: dir,
            hub,
            router,
            key,
            owner_password,
            operator_key,
        }
    }

    /// The hub over a copy of the data directory `from` as an earlier version left it, migrated
    /// with `xt-hub migrate` and opened as `serve` opens it; no key is made (the directory's own
    /// keys are the ones to use).
    pub fn upgraded(from: &std::path::Path, key: String, owner_password: String) -> Env {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(from, dir.path());
        // As an operator would: `xt-hub migrate --data DIR`, then `serve`.
        let migrate = std::process::Command::new(env!("CARGO_BIN_EXE_xt-hub"))
            .args(["migrate", "--data", dir.path().to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            migrate.status.success(),
            "{}",
            String::from_utf8_lossy(&migrate.stderr)
        );
        let hub = Arc::new(Hub::open(dir.path(), private_shop_urls()).unwrap());
        let router = xt_mobile_api::router(HttpApi::new(Arc::clone(&hub)).domains());
        Env {
            _dir: dir,
            hub,
            router,
            key,
            owner_password,
            operator_key: String::new(),
        }
    }

    /// Makes a second tenant, `beta`, with an owner API key; returns the key ([`BETA_KEY`]).
    pub fn add_beta(&self) -> String {
        let beta = TenantId::new("beta").unwrap();
        self.hub.store().create_tenant(&beta, UtcMillis(0)).unwrap();
        self.hub
            .store()
            .insert_api_key(
                BETA_KEY,
                &ApiKeyRecord {
                    id: "key-beta".into(),
                    tenant: beta,
                    name: "beta-owner".into(),
                    scopes: vec![Scope::Owner],
                    created_at: UtcMillis(0),
                    created_by: "init".into(),
                    last_used_at: None,
                    revoked_at: None,
                },
            )
            .unwrap();
        BETA_KEY.to_owned()
    }

    /// Sends `req` through the router and reads the whole response.
    pub async fn send(&self, req: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8(bytes.to_vec()).expect("a UTF-8 response body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            text,
            body,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        self.send(request(method, path, bearer, body)).await
    }

    pub async fn login(&self, tenant: &str, username: &str, password: &str) -> Reply {
        let body = json!({"tenant": tenant, "username": username, "password": password});
        self.call(Method::POST, "/api/v1/auth/login", None, Some(body))
            .await
    }

    /// Signs in and returns (access token, refresh token).
    pub async fn tokens(&self, tenant: &str, username: &str, password: &str) -> (String, String) {
        let r = self.login(tenant, username, password).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        (
            r.body["access_token"].as_str().unwrap().to_owned(),
            r.body["refresh_token"].as_str().unwrap().to_owned(),
        )
    }

    /// Makes an `acme` user with [`PASSWORD`] using the owner key; returns the user as created.
    pub async fn add_user(&self, username: &str, roles: &[&str], warehouses: &[&str]) -> Value {
        let body = json!({"username": username, "password": PASSWORD, "roles": roles,
            "warehouses": warehouses});
        let r = self
            .call(Method::POST, "/api/v1/users", Some(&self.key), Some(body))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.body
    }

    /// Makes an `acme` user (as [`Env::add_user`]) and signs it in; returns its access token.
    pub async fn user_token(&self, username: &str, roles: &[&str], warehouses: &[&str]) -> String {
        self.add_user(username, roles, warehouses).await;
        self.tokens("acme", username, PASSWORD).await.0
    }
}

/// Registers agent `agent` of `tenant` at `site` as enrollment does (an enrollment token made
/// and redeemed), with the warehouse role.
pub fn register_agent(hub: &Hub, tenant: &TenantId, agent: &str, site: &str) -> Authorized {
    register_agent_as(hub, tenant, agent, site, |_| {})
}

/// [`register_agent`], with the agent record `edit`ed before it is stored.
pub fn register_agent_as(
    hub: &Hub,
    tenant: &TenantId,
    agent: &str,
    site: &str,
    edit: impl FnOnce(&mut AgentRecord),
) -> Authorized {
    let (secret, _) = hub
        .create_token(
            tenant,
            &SiteId::new(site).unwrap(),
            AgentRole::Warehouse,
            Duration::from_secs(60),
        )
        .unwrap();
    redeem_token(hub, &secret, agent, edit)
}

/// Redeems the enrollment token `secret` for agent `agent` as enrollment does (the record
/// takes the token's tenant, site and role), with the record `edit`ed before it is stored.
pub fn redeem_token(
    hub: &Hub,
    secret: &str,
    agent: &str,
    edit: impl FnOnce(&mut AgentRecord),
) -> Authorized {
    let agent = AgentId::new(agent).unwrap();
    let record = hub
        .store()
        .redeem_token(
            secret,
            &agent,
            |t| {
                let mut record = AgentRecord {
                    tenant: t.tenant.clone(),
                    site: t.site.clone(),
                    role: t.role,
                    enrolled_at: now_ms(),
                    cert_serial: "01".into(),
                    cert_not_after: UtcMillis(now_ms().0 + 3_600_000),
                    prev_cert_serial: None,
                    revoked_at: None,
                    last_seen: None,
                };
                edit(&mut record);
                record
            },
            now_ms(),
        )
        .unwrap()
        .expect("the token is redeemable");
    Authorized { agent, record }
}

/// A stock level change.
pub fn stock(seq: u64, version: i64, warehouse: &str, sku: &str, on_hand: i64) -> SourceChange {
    SourceChange {
        seq,
        version,
        body: ChangeBody::Stock(StockLevel {
            warehouse: WarehouseCode::new(warehouse).unwrap(),
            sku: Sku::new(sku).unwrap(),
            on_hand,
        }),
    }
}

/// Applies one batch of `who` from `source` as the sync driver does; none may be rejected.
/// Returns how many changes were applied.
pub fn apply(hub: &Hub, who: &Authorized, source: &str, changes: Vec<SourceChange>) -> u64 {
    let outcome = hub
        .apply_batch(who, &SourceName::new(source).unwrap(), changes)
        .unwrap()
        .unwrap();
    assert!(outcome.rejected.is_empty());
    outcome.applied
}

/// Copies the files of `from` into `to` (one level: a hub data directory has no subfolders).
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// `xt-hub serve` arguments for a hub over `data` on ephemeral loopback ports, shops allowed on
/// loopback (`--allow-private-shop-urls`).
pub fn loopback_serve_args(data: &std::path::Path) -> xt_hub::cli::ServeArgs {
    xt_hub::cli::ServeArgs {
        data: data.to_owned(),
        quic: "127.0.0.1:0".parse().unwrap(),
        http: "127.0.0.1:0".parse().unwrap(),
        agent_cert_ttl: xt_hub::hub::AGENT_CERT_TTL_DEFAULT,
        trusted_proxies: Vec::new(),
        agent_address: None,
        capture: xt_hub::shops::capture::CaptureArgs {
            allow_private_shop_urls: true,
            ..Default::default()
        },
        log: Default::default(),
        shutdown_grace: xt_hub::supervisor::SHUTDOWN_GRACE_DEFAULT,
    }
}

/// Makes the hub database `db` look like one written before the index `table` existed: drops
/// the table and the `meta` flag saying it was built (the hub must not hold the file open).
pub fn forget_index(db: &std::path::Path, table: &str, built_flag: &str) {
    let db = redb::Database::open(db).unwrap();
    let txn = db.begin_write().unwrap();
    // Only the name matters for deleting.
    let existed = txn
        .delete_table(redb::TableDefinition::<(&str, &str), ()>::new(table))
        .unwrap();
    assert!(existed, "no table {table}");
    txn.open_table(redb::TableDefinition::<&str, &[u8]>::new("meta"))
        .unwrap()
        .remove(built_flag)
        .unwrap()
        .expect("the index was marked built");
    txn.commit().unwrap();
}
