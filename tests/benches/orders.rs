//! Orders benchmark: orders/s through parse → normalize → apply (durable), one platform format at
//! a time, against the target of 30,000 orders/s. For each platform (Taobao, JD, Shopify,
//! WooCommerce) it builds N distinct raw payloads as JSON text from the platform's order fixtures
//! (`hub/tests/fixtures/channels/<platform>/`, each copy with its own order number and `modified`
//! time; not timed), then times in the same run:
//!
//! - end to end: `serde_json::from_str` → `parse_order` → `apply_shop_items` in batches, one
//!   durable redb write transaction per batch, into a fresh hub store on disk;
//! - parse only: `serde_json::from_str` → `parse_order`, nothing applied;
//! - apply only: the pre-parsed orders applied the same way into another fresh store;
//! - raw redb: the same orders postcard-encoded and inserted keyed into a single redb table with
//!   the same batches and durable commits, the floor of any store design on this disk.
//!
//! After each apply the store must hold exactly N orders for the shop, else the bench fails.
//!
//! `cargo bench -p xt-tests --bench orders` (XT_BENCH_ORDERS changes N per platform,
//! XT_BENCH_BATCH the orders per write transaction).

use redb::{Database, ReadableDatabase, ReadableTableMetadata, TableDefinition};
use serde_json::Value;
use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use xt_hub::shops::channels::Captured;
use xt_hub::shops::channels::parse_order;
use xt_hub::store::Store;
use xt_shared::ids::TenantId;
use xt_shared::model::UtcMillis;
use xt_shared::order::{Platform, StandardOrder};

const ORDERS_DEFAULT: usize = 50_000;
const BATCH_DEFAULT: usize = 1_000;
const TARGET: f64 = 30_000.0;
/// 2026-12-01 00:00:00 UTC: after every fixture's creation time. Copy `i` is modified `i` s later.
const MODIFIED_BASE: i64 = 1_796_083_200;
/// Beijing time (UTC+8), in which Taobao and JD write their times.
const BEIJING: i64 = 8 * 3600;

const PLATFORMS: [(Platform, &str); 4] = [
    (Platform::Taobao, "taobao"),
    (Platform::Jd, "jd"),
    (Platform::Shopify, "shopify"),
    (Platform::Woocommerce, "woocommerce"),
];

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&v| v > 0)
        .unwrap_or(default)
}

/// Year, month, day of a count of days since 1970-01-01 (proleptic Gregorian).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `YYYY-MM-DD`, `sep`, `HH:MM:SS` of unix seconds.
fn datetime(secs: i64, sep: char) -> String {
    let (y, m, d) = civil(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}{sep}{:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// The platform's order fixtures (a file holds one order or an array of them), leaving out the
/// malformed ones and the expected outputs; only those that parse, so every copy is applied.
fn templates(platform: Platform, name: &str) -> anyhow::Result<Vec<Value>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../hub/tests/fixtures/channels/{name}"));
    let mut files: Vec<_> = std::fs::read_dir(&dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let file = path.file_name().and_then(|f| f.to_str()).unwrap_or("");
        if !file.ends_with(".json")
            || file.ends_with(".expected.json")
            || file.starts_with("malformed")
        {
            continue;
        }
        match serde_json::from_str(&std::fs::read_to_string(&path)?)? {
            Value::Array(orders) => out.extend(orders),
            order => out.push(order),
        }
    }
    out.retain(|raw| parse_order(platform, raw).is_ok());
    anyhow::ensure!(!out.is_empty(), "no {name} order fixture parses");
    Ok(out)
}

/// N distinct payloads as JSON text: the templates in turn, copy `i` with its own order number
/// and a `modified` time `i` seconds after the base.
fn payloads(platform: Platform, templates: &[Value], n: usize) -> anyhow::Result<Vec<String>> {
    (0..n)
        .map(|i| {
            let mut raw = templates[i % templates.len()].clone();
            let o = raw
                .as_object_mut()
                .ok_or_else(|| anyhow::anyhow!("not an object"))?;
            let at = MODIFIED_BASE + i as i64;
            match platform {
                Platform::Taobao | Platform::Tmall => {
                    let tid = 5_000_000_000_000_000u64 + i as u64;
                    o.insert("tid".into(), tid.into());
                    o.insert("tid_str".into(), tid.to_string().into());
                    o.insert("modified".into(), datetime(at + BEIJING, ' ').into());
                }
                Platform::Jd => {
                    o.insert(
                        "orderId".into(),
                        (400_000_000_000u64 + i as u64).to_string().into(),
                    );
                    o.insert("modified".into(), datetime(at + BEIJING, ' ').into());
                }
                Platform::Shopify => {
                    o.insert("id".into(), (9_000_000_000_000u64 + i as u64).into());
                    o.insert(
                        "updated_at".into(),
                        format!("{}Z", datetime(at, 'T')).into(),
                    );
                }
                Platform::Woocommerce => {
                    o.insert("id".into(), (1_000_000u64 + i as u64).into());
                    o.insert("date_modified_gmt".into(), datetime(at, 'T').into());
                }
            }
            Ok(serde_json::to_string(&raw)?)
        })
        .collect()
}

fn now() -> UtcMillis {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    UtcMillis(ms)
}

/// Applies `items` in batches of `batch`, one durable write transaction each; the orders applied.
fn apply(
    store: &Store,
    tenant: &TenantId,
    shop: &str,
    items: impl Iterator<Item = anyhow::Result<StandardOrder>>,
    batch: usize,
) -> anyhow::Result<u64> {
    let mut applied = 0;
    let mut pending = Vec::with_capacity(batch);
    for order in items {
        pending.push(Captured::Order {
            raw: String::new(),
            order: order?,
        });
        if pending.len() == batch {
            let items = std::mem::replace(&mut pending, Vec::with_capacity(batch));
            applied += store.apply_shop_items(tenant, shop, items, now())?.applied;
        }
    }
    if !pending.is_empty() {
        applied += store
            .apply_shop_items(tenant, shop, pending, now())?
            .applied;
    }
    Ok(applied)
}

/// The shop's stored order count must be exactly `n`: a bench that applies nothing is worthless.
fn verify(
    store: &Store,
    tenant: &TenantId,
    shop: &str,
    applied: u64,
    n: usize,
) -> anyhow::Result<()> {
    let stored = store.capture_state(tenant, shop)?.orders;
    anyhow::ensure!(
        applied == n as u64 && stored == n as u64,
        "{shop}: {applied} applied, {stored} stored, expected {n}"
    );
    Ok(())
}

fn parse(platform: Platform, text: &str) -> anyhow::Result<StandardOrder> {
    let raw: Value = serde_json::from_str(text)?;
    Ok(parse_order(platform, &raw)?)
}

/// The same orders inserted keyed (tenant, shop, order no) into one redb table as postcard, in
/// the same batches, one durable commit each: what the store's own work adds on top of redb.
fn raw_redb(shop: &str, orders: &[StandardOrder], batch: usize) -> anyhow::Result<f64> {
    const ORDERS: TableDefinition<(&str, &str, &str), &[u8]> = TableDefinition::new("orders");
    let dir = tempfile::tempdir()?;
    let db = Database::create(dir.path().join("raw.redb"))?;
    let started = Instant::now();
    for chunk in orders.chunks(batch) {
        let txn = db.begin_write()?;
        {
            let mut table = txn.open_table(ORDERS)?;
            for order in chunk {
                let no = order.platform_order_no.to_string();
                let value = postcard::to_allocvec(order)?;
                table.insert(("bench", shop, no.as_str()), value.as_slice())?;
            }
        }
        txn.commit()?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let stored = db.begin_read()?.open_table(ORDERS)?.len()?;
    anyhow::ensure!(stored == orders.len() as u64, "raw redb: {stored} stored");
    Ok(orders.len() as f64 / seconds)
}

struct Figures {
    name: &'static str,
    templates: usize,
    bytes: usize,
    seconds: f64,
    end_to_end: f64,
    parse_only: f64,
    apply_only: f64,
    raw_redb: f64,
}

fn run(platform: Platform, name: &'static str, n: usize, batch: usize) -> anyhow::Result<Figures> {
    let tenant = TenantId::new("bench")?;
    let shop = format!("shop-bench-{name}");
    let templates = templates(platform, name)?;
    let texts = payloads(platform, &templates, n)?;
    let bytes = texts.iter().map(String::len).sum::<usize>();

    // End to end: text → Value → standard order → batch → durable apply.
    let dir = tempfile::tempdir()?;
    let store = Store::open(&dir.path().join("hub.redb"))?;
    let started = Instant::now();
    let applied = apply(
        &store,
        &tenant,
        &shop,
        texts.iter().map(|t| parse(platform, t)),
        batch,
    )?;
    let seconds = started.elapsed().as_secs_f64();
    verify(&store, &tenant, &shop, applied, n)?;
    drop(store);
    drop(dir);

    // Parse only: the same payloads, nothing applied.
    let started = Instant::now();
    let parsed = texts
        .iter()
        .map(|t| parse(platform, t))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let parse_seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(parsed.len() == n, "{name}: {} parsed of {n}", parsed.len());

    let raw_redb = raw_redb(&shop, &parsed, batch)?;

    // Apply only: the pre-parsed orders into a fresh store.
    let dir = tempfile::tempdir()?;
    let store = Store::open(&dir.path().join("hub.redb"))?;
    let started = Instant::now();
    let applied = apply(&store, &tenant, &shop, parsed.into_iter().map(Ok), batch)?;
    let apply_seconds = started.elapsed().as_secs_f64();
    verify(&store, &tenant, &shop, applied, n)?;

    Ok(Figures {
        name,
        templates: templates.len(),
        bytes,
        seconds,
        end_to_end: n as f64 / seconds,
        parse_only: n as f64 / parse_seconds,
        apply_only: n as f64 / apply_seconds,
        raw_redb,
    })
}

fn main() -> anyhow::Result<()> {
    let n = env_count("XT_BENCH_ORDERS", ORDERS_DEFAULT);
    let batch = env_count("XT_BENCH_BATCH", BATCH_DEFAULT);
    println!(
        "orders: parse → normalize → apply (durable redb on disk), {n} orders per platform, \
         batch {batch}, target {TARGET:.0} orders/s end to end"
    );
    let mut min: Option<(f64, &str)> = None;
    for (platform, name) in PLATFORMS {
        let f = run(platform, name, n, batch)?;
        println!(
            "{:<12} orders {n}  batch {batch}  fixtures {}  avg payload {} B  total {:.2} s  \
             end to end {:.0}/s  parse only {:.0}/s  apply only {:.0}/s  raw redb {:.0}/s  target {}",
            f.name,
            f.templates,
            f.bytes / n,
            f.seconds,
            f.end_to_end,
            f.parse_only,
            f.apply_only,
            f.raw_redb,
            if f.end_to_end >= TARGET {
                "met"
            } else {
                "NOT met"
            },
        );
        if min.is_none_or(|(rate, _)| f.end_to_end < rate) {
            min = Some((f.end_to_end, f.name));
        }
    }
    if let Some((rate, name)) = min {
        println!(
            "minimum end to end over platforms: {rate:.0} orders/s ({name}), target {TARGET:.0}: {}",
            if rate >= TARGET { "met" } else { "NOT met" }
        );
    }
    Ok(())
}
