//! A generated legacy WMS: an SQLite `inventory` table with local-time `updated_at` strings, an
//! `outbound` table of delivery lines (written by the agent's sink, shipped by the WMS's own
//! staff, read back by the agent's shipment source), and a drop folder of GBK-encoded CSV stock
//! snapshots with Chinese headers. Its staff ship waiting delivery orders after a while
//! ([`ShippingStaff`]).

use anyhow::Context;
use rand::Rng;
use rusqlite::{Connection, params};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const DB_FILE: &str = "wms.db";
pub const DROP_DIR: &str = "drop";
pub const CSV_HEADER: &str = "仓库,货品编码,货品名称,数量";

/// The legacy WMS's own timestamps: local time (+08:00), millisecond precision.
pub fn local_timestamp(unix_ms: i64) -> String {
    use xt_mobile_api::time::{OffsetDateTime, UtcOffset};
    let local = OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_ms) * 1_000_000)
        .expect("timestamp in range")
        .to_offset(UtcOffset::from_hms(8, 0, 0).expect("valid offset"));
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
        local.year(),
        u8::from(local.month()),
        local.day(),
        local.hour(),
        local.minute(),
        local.second(),
        local.millisecond()
    )
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The generated legacy system.
pub struct LegacyWms {
    pub dir: PathBuf,
    conn: Connection,
    /// Last timestamp handed out, so every write gets a strictly later `updated_at`.
    clock_ms: i64,
}

impl LegacyWms {
    /// Creates the database with `skus` items in each of `warehouses`.
    pub fn create(dir: &Path, warehouses: &[&str], skus: usize) -> anyhow::Result<LegacyWms> {
        std::fs::create_dir_all(dir.join(DROP_DIR))?;
        let conn = Connection::open(dir.join(DB_FILE)).context("open legacy sqlite")?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             CREATE TABLE IF NOT EXISTS inventory (
                id INTEGER PRIMARY KEY,
                wh_code TEXT NOT NULL,
                item_code TEXT NOT NULL,
                item_name TEXT,
                qty INTEGER NOT NULL,
                updated_at TEXT NOT NULL,
                UNIQUE (wh_code, item_code));
             CREATE INDEX IF NOT EXISTS inventory_cursor ON inventory (updated_at, id);
             CREATE TABLE IF NOT EXISTS outbound (
                id INTEGER PRIMARY KEY,
                delivery_no TEXT NOT NULL,
                line_no INTEGER NOT NULL,
                wh_code TEXT NOT NULL,
                order_nos TEXT,
                receiver TEXT,
                phone TEXT,
                province TEXT,
                city TEXT,
                district TEXT,
                address TEXT,
                item_code TEXT NOT NULL,
                item_name TEXT,
                qty INTEGER NOT NULL,
                status TEXT NOT NULL,
                created_at TEXT,
                carrier TEXT,
                tracking_no TEXT,
                shipped_at TEXT,
                UNIQUE (delivery_no, line_no));
             CREATE INDEX IF NOT EXISTS outbound_shipped ON outbound (shipped_at, id);
             CREATE INDEX IF NOT EXISTS outbound_status ON outbound (status);",
        )?;
        let mut wms = LegacyWms {
            dir: dir.to_owned(),
            conn,
            clock_ms: now_ms() - 86_400_000,
        };
        let mut rng = rand::rng();
        let tx = wms.conn.transaction()?;
        {
            let mut insert = tx.prepare(
                "INSERT OR IGNORE INTO inventory (wh_code, item_code, item_name, qty, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for wh in warehouses {
                for i in 0..skus {
                    wms.clock_ms += 1;
                    insert.execute(params![
                        wh,
                        format!("SKU-{i:06}"),
                        format!("商品{i}号 红色"),
                        rng.random_range(0..500i64),
                        local_timestamp(wms.clock_ms)
                    ])?;
                }
            }
        }
        tx.commit()?;
        Ok(wms)
    }

    /// Opens an existing generated database (e.g. from another thread).
    pub fn open(dir: &Path) -> anyhow::Result<LegacyWms> {
        let conn = Connection::open(dir.join(DB_FILE)).context("open legacy sqlite")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        Ok(LegacyWms {
            dir: dir.to_owned(),
            conn,
            clock_ms: now_ms(),
        })
    }

    /// Starts a thread that changes `rows_per_tick` random rows every `tick` until the returned
    /// guard is stopped: the source keeps moving while agents and hubs are being killed.
    pub fn keep_changing(
        &self,
        rows_per_tick: usize,
        tick: std::time::Duration,
    ) -> anyhow::Result<Churn> {
        let mut wms = LegacyWms::open(&self.dir)?;
        wms.clock_ms = wms.clock_ms.max(self.clock_ms) + 1_000;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut ticks = 0u64;
            while !flag.load(std::sync::atomic::Ordering::SeqCst) {
                wms.change_random(rows_per_tick).expect("legacy write");
                ticks += 1;
                std::thread::sleep(tick);
            }
            (ticks, wms.clock_ms)
        });
        Ok(Churn {
            stop,
            thread: Some(thread),
        })
    }

    /// Changes `n` random rows (new quantity, new `updated_at`), in one transaction.
    pub fn change_random(&mut self, n: usize) -> anyhow::Result<()> {
        self.change_random_with_prefix(n, "")
    }

    /// Changes `n` random rows whose item code starts with `prefix` (new quantity, new
    /// `updated_at`), in one transaction; other rows keep theirs.
    pub fn change_random_with_prefix(&mut self, n: usize, prefix: &str) -> anyhow::Result<()> {
        let ids: Vec<i64> = {
            let mut stmt = self
                .conn
                .prepare("SELECT id FROM inventory WHERE substr(item_code, 1, ?1) = ?2")?;
            let rows =
                stmt.query_map(params![prefix.chars().count() as i64, prefix], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        if ids.is_empty() {
            return Ok(());
        }
        let mut rng = rand::rng();
        self.clock_ms = self.clock_ms.max(now_ms());
        let tx = self.conn.transaction()?;
        {
            let mut update =
                tx.prepare("UPDATE inventory SET qty = ?1, updated_at = ?2 WHERE id = ?3")?;
            for _ in 0..n {
                self.clock_ms += 1;
                update.execute(params![
                    rng.random_range(0..500i64),
                    local_timestamp(self.clock_ms),
                    ids[rng.random_range(0..ids.len())]
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Sets one row's quantity (with a new `updated_at`), as a stock count would.
    pub fn set_qty(&mut self, warehouse: &str, sku: &str, qty: i64) -> anyhow::Result<()> {
        self.clock_ms = self.clock_ms.max(now_ms()) + 1;
        let changed = self.conn.execute(
            "UPDATE inventory SET qty = ?1, updated_at = ?2 WHERE wh_code = ?3 AND item_code = ?4",
            params![qty, local_timestamp(self.clock_ms), warehouse, sku],
        )?;
        anyhow::ensure!(changed == 1, "no legacy row {warehouse}/{sku}");
        Ok(())
    }

    /// Adds items (or sets their quantity) in `warehouse`: (sku, name, qty).
    pub fn put_items(
        &mut self,
        warehouse: &str,
        items: &[(&str, &str, i64)],
    ) -> anyhow::Result<()> {
        self.clock_ms = self.clock_ms.max(now_ms());
        let tx = self.conn.transaction()?;
        {
            let mut upsert = tx.prepare(
                "INSERT INTO inventory (wh_code, item_code, item_name, qty, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (wh_code, item_code) DO UPDATE SET qty = ?4, updated_at = ?5",
            )?;
            for (sku, name, qty) in items {
                self.clock_ms += 1;
                upsert.execute(params![
                    warehouse,
                    sku,
                    name,
                    qty,
                    local_timestamp(self.clock_ms)
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Every delivery line the agent wrote, in insertion order.
    pub fn outbound(&self) -> anyhow::Result<Vec<OutboundLine>> {
        let mut stmt = self.conn.prepare(
            "SELECT delivery_no, line_no, wh_code, item_code, qty, status, tracking_no
             FROM outbound ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(OutboundLine {
                delivery_no: r.get(0)?,
                line_no: r.get(1)?,
                warehouse: r.get(2)?,
                sku: r.get(3)?,
                qty: r.get(4)?,
                status: r.get(5)?,
                tracking_no: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The WMS's staff ship delivery order `delivery_no` with `carrier` and `tracking_no`: its
    /// NEW lines become SHIPPED with the time, and the inventory goes down by what left, in one
    /// transaction. Returns the lines shipped (0 when it is not waiting).
    pub fn ship(
        &mut self,
        delivery_no: &str,
        carrier: &str,
        tracking_no: &str,
    ) -> anyhow::Result<usize> {
        self.clock_ms = self.clock_ms.max(now_ms()) + 1;
        let at = local_timestamp(self.clock_ms);
        let tx = self.conn.transaction()?;
        let lines: Vec<(String, String, i64)> = {
            let mut stmt = tx.prepare(
                "SELECT wh_code, item_code, qty FROM outbound
                 WHERE delivery_no = ?1 AND status = 'NEW' ORDER BY line_no",
            )?;
            let rows = stmt.query_map([delivery_no], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        tx.execute(
            "UPDATE outbound SET status = 'SHIPPED', carrier = ?2, tracking_no = ?3, shipped_at = ?4
             WHERE delivery_no = ?1 AND status = 'NEW'",
            params![delivery_no, carrier, tracking_no, at],
        )?;
        for (warehouse, sku, qty) in &lines {
            tx.execute(
                "UPDATE inventory SET qty = qty - ?3, updated_at = ?4
                 WHERE wh_code = ?1 AND item_code = ?2",
                params![warehouse, sku, qty, at],
            )?;
        }
        tx.commit()?;
        Ok(lines.len())
    }

    /// The delivery numbers with lines still NEW, oldest first.
    pub fn waiting(&self) -> anyhow::Result<Vec<String>> {
        let mut stmt = self.conn.prepare(
            "SELECT delivery_no FROM outbound WHERE status = 'NEW'
             GROUP BY delivery_no ORDER BY min(id)",
        )?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The table as the hub should end up holding it: (warehouse, sku) → qty.
    pub fn stock(&self) -> anyhow::Result<BTreeMap<(String, String), i64>> {
        let mut stmt = self
            .conn
            .prepare("SELECT wh_code, item_code, qty FROM inventory")?;
        let rows = stmt.query_map([], |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn rows(&self) -> anyhow::Result<u64> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM inventory", [], |r| r.get::<_, i64>(0))?
            as u64)
    }
}

/// Carriers the demo warehouses ship with (codes every platform's write-back maps).
pub const CARRIERS: [&str; 3] = ["SF", "ZTO", "YTO"];

/// A new tracking number of `carrier`: its code and 12 random digits.
pub fn tracking_no(carrier: &str) -> String {
    format!(
        "{carrier}{:012}",
        rand::rng().random_range(0..1_000_000_000_000u64)
    )
}

/// The WMS's shipping staff: a delivery order they have seen waiting for `after` is shipped
/// with a carrier and a new tracking number, as the warehouse confirms it in its own system.
/// They ship through the caller's [`LegacyWms`], so one connection keeps writing the
/// `updated_at` and `shipped_at` cursors in order.
pub struct ShippingStaff {
    after: std::time::Duration,
    /// Waiting delivery numbers, and when the staff first saw each.
    seen: BTreeMap<String, std::time::Instant>,
    /// Delivery orders shipped so far.
    pub shipped: u64,
}

impl ShippingStaff {
    pub fn new(after: std::time::Duration) -> ShippingStaff {
        ShippingStaff {
            after,
            seen: BTreeMap::new(),
            shipped: 0,
        }
    }

    /// Looks at the waiting delivery orders and ships those due; returns how many it shipped.
    pub fn ship_due(&mut self, wms: &mut LegacyWms) -> anyhow::Result<usize> {
        let now = std::time::Instant::now();
        let waiting = wms.waiting()?;
        self.seen.retain(|no, _| waiting.contains(no));
        let mut n = 0;
        for no in waiting {
            let since = *self.seen.entry(no.clone()).or_insert(now);
            if now.duration_since(since) < self.after {
                continue;
            }
            let carrier = CARRIERS[rand::rng().random_range(0..CARRIERS.len())];
            if wms.ship(&no, carrier, &tracking_no(carrier))? > 0 {
                n += 1;
            }
            self.seen.remove(&no);
        }
        self.shipped += n as u64;
        Ok(n)
    }
}

/// One row of the `outbound` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundLine {
    pub delivery_no: String,
    pub line_no: i64,
    pub warehouse: String,
    pub sku: String,
    pub qty: i64,
    pub status: String,
    pub tracking_no: Option<String>,
}

/// A running writer started by [`LegacyWms::keep_changing`].
pub struct Churn {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<(u64, i64)>>,
}

impl Churn {
    /// Stops the writer; returns how many ticks it ran.
    pub fn stop(mut self, wms: &mut LegacyWms) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let (ticks, clock) = self
            .thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or((0, 0));
        wms.clock_ms = wms.clock_ms.max(clock);
        ticks
    }
}

impl Drop for Churn {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One line of a GBK CSV snapshot.
pub struct CsvRow {
    pub warehouse: String,
    pub sku: String,
    pub name: String,
    pub qty: String,
}

/// Writes `rows` (plus raw `malformed` lines, inserted at the given positions) as a GBK CSV file
/// into the drop folder, atomically (written under a temporary name, then renamed).
pub fn write_gbk_csv(
    drop: &Path,
    file: &str,
    rows: &[CsvRow],
    malformed: &[(usize, Vec<u8>)],
) -> anyhow::Result<()> {
    let mut bytes = gbk(CSV_HEADER);
    bytes.extend_from_slice(b"\r\n");
    for (i, r) in rows.iter().enumerate() {
        for (at, raw) in malformed {
            if *at == i {
                bytes.extend_from_slice(raw);
                bytes.extend_from_slice(b"\r\n");
            }
        }
        bytes.extend(gbk(&format!(
            "{},{},{},{}",
            r.warehouse, r.sku, r.name, r.qty
        )));
        bytes.extend_from_slice(b"\r\n");
    }
    let tmp = drop.join(format!(".{file}.part"));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, drop.join(file))?;
    Ok(())
}

pub fn gbk(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::GBK.encode(text);
    assert!(!unmappable, "{text:?} is not representable in GBK");
    bytes.into_owned()
}
