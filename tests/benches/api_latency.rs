//! API latency benchmark: `GET /api/v1/dashboard` and `POST /api/v1/auth/login` under 100
//! concurrent clients (tokio tasks, one keep-alive reqwest client each) against a real hub
//! in-process over loopback HTTP, with 1,000 stock rows in each of 2 warehouses applied through
//! the hub's real apply path. Prints p50/p99/max latency and throughput per endpoint.
//!
//! `cargo bench -p xt-tests --bench api_latency` (XT_BENCH_DASHBOARD_REQUESTS and
//! XT_BENCH_LOGINS change the request counts).
//!
//! Sign-in is argon2id on purpose and throttled per account and per client address: every
//! client here shares 127.0.0.1, so the hub's HTTP layer is built with a relaxed throttle
//! (printed), and the logins are spread over one user per client.

use hdrhistogram::Histogram;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use xt_hub::api::HttpApi;
use xt_hub::hub::{Authorized, Hub, HubSettings, now_ms};
use xt_hub::identity::throttle::{LoginThrottle, ThrottleLimits};
use xt_hub::store::AgentRecord;
use xt_mobile_api::identity::UserCreate;
use xt_shared::change::{Body, SourceChange};
use xt_shared::ids::{AgentId, SiteId, Sku, SourceName, TenantId, WarehouseCode};
use xt_shared::model::StockLevel;
use xt_shared::protocol::AgentRole;

const WAREHOUSES: [&str; 2] = ["WH-SH", "WH-BJ"];
const ROWS_PER_WAREHOUSE: u64 = 1_000;
const BATCH_ROWS: u64 = 250;
const CLIENTS: usize = 100;
const DASHBOARD_REQUESTS_DEFAULT: usize = 20_000;
const LOGINS_DEFAULT: usize = 500;
const PASSWORD: &str = "bench password 1";

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Registers an agent the way enrollment does: a token of the tenant, redeemed.
fn register_agent(
    hub: &Hub,
    tenant: &TenantId,
    id: &str,
    site: &str,
) -> anyhow::Result<Authorized> {
    let (secret, _) = hub.create_token(
        tenant,
        &SiteId::new(site)?,
        AgentRole::Warehouse,
        Duration::from_secs(600),
    )?;
    let agent = AgentId::new(id)?;
    let now = now_ms();
    let record = hub
        .store()
        .redeem_token(
            &secret,
            &agent,
            |t| AgentRecord {
                tenant: t.tenant.clone(),
                site: t.site.clone(),
                role: t.role,
                enrolled_at: now,
                cert_serial: "00".into(),
                cert_not_after: now,
                prev_cert_serial: None,
                revoked_at: None,
                last_seen: None,
            },
            now,
        )?
        .map_err(|r| anyhow::anyhow!("token refused: {r:?}"))?;
    Ok(Authorized { agent, record })
}

/// 1,000 stock rows per warehouse, one agent per warehouse, through `Hub::apply_batch`.
fn fill(hub: &Hub, tenant: &TenantId) -> anyhow::Result<()> {
    let source = SourceName::new("inventory")?;
    for (i, wh) in WAREHOUSES.iter().enumerate() {
        let who = register_agent(
            hub,
            tenant,
            &format!("wh-agent-{}", i + 1),
            &format!("s{i}"),
        )?;
        let mut seq = 0;
        while seq < ROWS_PER_WAREHOUSE {
            let changes = (seq + 1..=(seq + BATCH_ROWS).min(ROWS_PER_WAREHOUSE))
                .map(|s| SourceChange {
                    seq: s,
                    version: s as i64,
                    body: Body::Stock(StockLevel {
                        warehouse: WarehouseCode::new(*wh).expect("valid code"),
                        sku: Sku::new(format!("SKU-{s:05}")).expect("valid sku"),
                        on_hand: (s % 97) as i64,
                    }),
                })
                .collect::<Vec<_>>();
            seq += changes.len() as u64;
            hub.apply_batch(&who, &source, changes)?
                .map_err(|e| anyhow::anyhow!("batch refused: {e:?}"))?;
        }
    }
    Ok(())
}

struct Figures {
    histogram: Histogram<u64>,
    errors: usize,
    elapsed: Duration,
}

impl Figures {
    fn print(&self, name: &str) {
        let h = &self.histogram;
        let ms = |us: u64| us as f64 / 1_000.0;
        println!(
            "  {name:<28} n={:<6} errors={:<4} p50 {:>8.2} ms  p99 {:>8.2} ms  max {:>8.2} ms  {:>8.0} req/s",
            h.len(),
            self.errors,
            ms(h.value_at_quantile(0.50)),
            ms(h.value_at_quantile(0.99)),
            ms(h.max()),
            h.len() as f64 / self.elapsed.as_secs_f64()
        );
    }
}

/// Runs `CLIENTS` tasks, each with its own keep-alive client, sending `per_client` requests
/// made by `request(client index, request index)`; records each request's latency.
async fn hammer<F>(per_client: usize, request: F) -> anyhow::Result<Figures>
where
    F: Fn(&reqwest::Client, usize, usize) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let request = Arc::new(request);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(CLIENTS);
    for c in 0..CLIENTS {
        let request = Arc::clone(&request);
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()?;
            let mut h = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
            let mut errors = 0;
            for i in 0..per_client {
                let t = Instant::now();
                let ok = match request(&client, c, i).send().await {
                    Ok(r) => {
                        let ok = r.status().is_success();
                        // Read the whole body: that is part of the latency a client sees.
                        r.bytes().await.is_ok() && ok
                    }
                    Err(_) => false,
                };
                h.record(t.elapsed().as_micros() as u64)?;
                if !ok {
                    errors += 1;
                }
            }
            anyhow::Ok((h, errors))
        }));
    }
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
    let mut errors = 0;
    for t in tasks {
        let (h, e) = t.await??;
        histogram.add(h)?;
        errors += e;
    }
    Ok(Figures {
        histogram,
        errors,
        elapsed: started.elapsed(),
    })
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let dashboard_requests = env_count("XT_BENCH_DASHBOARD_REQUESTS", DASHBOARD_REQUESTS_DEFAULT);
    let logins = env_count("XT_BENCH_LOGINS", LOGINS_DEFAULT);
    let dir = tempfile::tempdir()?;
    let tenant = TenantId::new("bench")?;
    xt_hub::cli::init_hub(dir.path(), &tenant)?;
    let hub = Arc::new(Hub::open(dir.path(), HubSettings::default())?);

    let started = Instant::now();
    let hub2 = Arc::clone(&hub);
    let tenant2 = tenant.clone();
    tokio::task::spawn_blocking(move || fill(&hub2, &tenant2)).await??;
    let fill_secs = started.elapsed().as_secs_f64();
    hub.sample_gauges(now_ms())?;
    let ticking = xt_hub::supervisor::CancellationToken::new();
    let _ticker = tokio::spawn(xt_hub::dashboard::tick_gauges(
        Arc::clone(&hub),
        xt_hub::dashboard::GAUGE_TICK,
        ticking.clone(),
    ));
    let _stop_ticking = ticking.drop_guard();

    // Every client is 127.0.0.1: the per-address budget would stop the login phase after 30.
    let limits = ThrottleLimits {
        client_burst: 1_000_000,
        account_burst: 1_000_000,
        account_ceiling_burst: 1_000_000,
        ..ThrottleLimits::default()
    };
    let domains = HttpApi::with_throttle(Arc::clone(&hub), LoginThrottle::new(limits)).domains();
    let api = Arc::clone(&domains.identity);
    let started = Instant::now();
    let users: Vec<String> = (0..CLIENTS).map(|i| format!("u{i:03}")).collect();
    {
        let (api, tenant, users) = (Arc::clone(&api), tenant.clone(), users.clone());
        tokio::task::spawn_blocking(move || {
            api.create_user(
                &tenant,
                &UserCreate {
                    username: "viewer".into(),
                    password: PASSWORD.into(),
                    roles: vec![xt_mobile_api::Role::Manager],
                    warehouses: Vec::new(),
                },
            )?;
            for u in &users {
                api.create_user(
                    &tenant,
                    &UserCreate {
                        username: u.clone(),
                        password: PASSWORD.into(),
                        roles: vec![xt_mobile_api::Role::Warehouse],
                        warehouses: vec![WarehouseCode::new(WAREHOUSES[0])?],
                    },
                )?;
            }
            anyhow::Ok(())
        })
        .await??;
    }
    let users_secs = started.elapsed().as_secs_f64();

    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    let router = xt_mobile_api::router(domains).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let base = format!("http://{addr}");

    let login_body =
        |user: &str| serde_json::json!({"tenant": "bench", "username": user, "password": PASSWORD});
    let probe = reqwest::Client::new();
    let token = probe
        .post(format!("{base}/api/v1/auth/login"))
        .json(&login_body("viewer"))
        .send()
        .await?
        .error_for_status()?
        .json::<serde_json::Value>()
        .await?["access_token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no access token"))?
        .to_owned();
    let board: serde_json::Value = probe
        .get(format!("{base}/api/v1/dashboard"))
        .bearer_auth(&token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let skus: Vec<u64> = board["warehouses"]
        .as_array()
        .map(|ws| ws.iter().filter_map(|w| w["skus"].as_u64()).collect())
        .unwrap_or_default();
    anyhow::ensure!(
        skus == vec![ROWS_PER_WAREHOUSE; WAREHOUSES.len()],
        "dashboard shows {skus:?} SKUs per warehouse"
    );

    println!("api_latency: bench");
    println!(
        "  setup: {} warehouses x {ROWS_PER_WAREHOUSE} stock rows applied in {BATCH_ROWS}-row batches via Hub::apply_batch in {fill_secs:.2} s; {} users (argon2id) created in {users_secs:.2} s",
        WAREHOUSES.len(),
        CLIENTS + 1
    );
    println!(
        "  {CLIENTS} concurrent clients (tokio tasks, one keep-alive reqwest client each), loopback HTTP/1.1"
    );

    let per_client = dashboard_requests.div_ceil(CLIENTS);
    let url = format!("{base}/api/v1/dashboard");
    let t = token.clone();
    let dash = hammer(per_client, move |c, _, _| c.get(&url).bearer_auth(&t)).await?;
    dash.print("GET /api/v1/dashboard");
    println!(
        "    (a manager's access token; 60-point series; response {} bytes)",
        board.to_string().len()
    );

    let per_client = logins.div_ceil(CLIENTS);
    let url = format!("{base}/api/v1/auth/login");
    let users = Arc::new(users);
    let login = hammer(per_client, move |c, client, _| {
        c.post(&url).json(&login_body(&users[client]))
    })
    .await?;
    login.print("POST /api/v1/auth/login");
    println!(
        "    (client i signs in as user u<i> {per_client} times; throttle relaxed to a burst of {} per account and {} per address, refills as default; the default bursts are {} and {})",
        limits.account_burst,
        limits.client_burst,
        xt_hub::identity::throttle::LOGIN_ACCOUNT_BURST,
        xt_hub::identity::throttle::LOGIN_CLIENT_BURST,
    );
    Ok(())
}
