//! The simulator's state: shops with their orders, the seeded RNG and the counters.

use crate::faults::RequestFault;
use crate::model::{self, Family, SimOrder};
use crate::webhooks::{self, Delivery};
use crate::{STREAK_MAX, ShopSpec, SimConfig, clock, jd, shopify, taobao, woo};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};
use time::{Duration, OffsetDateTime};

/// Ids of one stored order, as `GET /_sim/truth/{key}` lists them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthOrder {
    pub order_no: String,
    /// The order's current platform JSON.
    pub raw: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthRefund {
    pub refund_id: String,
    pub order_no: String,
    /// Taobao/JD: the refund record of the refund API; Shopify/WooCommerce: the refund object
    /// inside the order.
    pub raw: Value,
}

/// What a shop holds: every well-formed order, every refund, and the malformed orders' numbers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    pub orders: Vec<TruthOrder>,
    pub refunds: Vec<TruthRefund>,
    pub malformed: Vec<String>,
}

/// Counters over the simulator's life (all shops).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub requests: u64,
    /// Refused for a bad signature, app key, session/token or password.
    pub auth_failures: u64,
    /// Refused for bad parameters (a window over the platform's maximum, a bad page size…).
    pub bad_requests: u64,
    pub rate_limited: u64,
    pub server_errors: u64,
    pub slow: u64,
    /// Pages that repeated rows of the previous page, and the rows repeated.
    pub repeated_pages: u64,
    pub repeated_rows: u64,
    pub updates: u64,
    pub late_updates: u64,
    pub orders_created: u64,
    pub malformed_orders: u64,
    pub webhooks_sent: u64,
    pub webhooks_failed: u64,
    pub webhooks_duplicated: u64,
    pub webhooks_reordered: u64,
    pub webhooks_dropped: u64,
    pub webhooks_forged: u64,
}

pub(crate) struct Shop {
    pub spec: ShopSpec,
    pub family: Family,
    pub orders: Vec<SimOrder>,
    ids: model::Ids,
    /// Failed requests in a row; at [`STREAK_MAX`] the next one is served.
    streak: u32,
    pub forged_left: usize,
    /// Parcels written back, by order id.
    pub(crate) parcels: BTreeMap<u64, Vec<crate::writeback::Parcel>>,
}

pub(crate) struct State {
    pub rng: StdRng,
    pub shops: Vec<Shop>,
    pub stats: Stats,
    pub(crate) received: crate::writeback::Received,
}

pub(crate) struct Sim {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    pub qimen: crate::qimen::ThreePls,
    state: Mutex<State>,
}

/// Caps on webhook delivery: one attempt, this long at most.
const WEBHOOK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

impl Sim {
    pub(crate) fn new(config: &SimConfig, addr: SocketAddr, now: OffsetDateTime) -> Sim {
        let now = clock::whole_seconds(now);
        let mut rng = StdRng::seed_from_u64(config.seed);
        let history = Duration::seconds(config.history.as_secs().min(i64::MAX as u64) as i64);
        let mut stats = Stats::default();
        let shops = config
            .shops
            .iter()
            .map(|spec| {
                let family = Family::of(spec.platform);
                let mut ids = model::Ids::new(family, &mut rng);
                let orders = crate::generate::generate_shop(
                    family,
                    &mut ids,
                    &mut rng,
                    spec.orders,
                    spec.faults.malformed.min(spec.orders),
                    now,
                    history,
                );
                stats.malformed_orders += spec.faults.malformed.min(spec.orders) as u64;
                Shop {
                    spec: spec.clone(),
                    family,
                    orders,
                    ids,
                    streak: 0,
                    forged_left: spec.faults.webhook_forged,
                    parcels: BTreeMap::new(),
                }
            })
            .collect();
        let http = reqwest::Client::builder()
            .timeout(WEBHOOK_TIMEOUT)
            .build()
            .expect("a reqwest client without TLS roots to load");
        Sim {
            addr,
            http,
            qimen: Default::default(),
            state: Mutex::new(State {
                rng,
                shops,
                stats,
                received: Default::default(),
            }),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn stats(&self) -> Stats {
        self.lock().stats.clone()
    }

    pub(crate) fn truth(&self, key: &str) -> Option<Truth> {
        let state = self.lock();
        let shop = state.shop(key)?;
        let mut truth = Truth::default();
        for order in &shop.orders {
            let no = order.id.to_string();
            if order.malformed.is_some() {
                truth.malformed.push(no);
                continue;
            }
            truth.orders.push(TruthOrder {
                order_no: no.clone(),
                raw: shop.render(order),
            });
            for (refund_id, raw) in shop.render_refunds(order) {
                truth.refunds.push(TruthRefund {
                    refund_id,
                    order_no: no.clone(),
                    raw,
                });
            }
        }
        Some(truth)
    }

    /// Adds `n` new orders to shop `key`, paid at `now` and ready to ship (no COD, no memo: an
    /// order no review rule holds), and returns their numbers and the webhooks to deliver.
    /// `None` for an unknown key.
    pub(crate) fn add_paid(
        &self,
        key: &str,
        n: usize,
        now: OffsetDateTime,
    ) -> Option<(Vec<String>, Vec<Delivery>)> {
        let now = clock::whole_seconds(now);
        let mut guard = self.lock();
        let state = &mut *guard;
        let s = state.shops.iter().position(|shop| shop.spec.key == key)?;
        let mut numbers = Vec::with_capacity(n);
        let mut deliveries = Vec::new();
        for _ in 0..n {
            let shop = &mut state.shops[s];
            if shop.orders.len() >= model::ORDERS_MAX {
                break;
            }
            let family = shop.family;
            let mut order =
                crate::generate::generate(family, &mut shop.ids, &mut state.rng, now, now, true);
            order.cod = false;
            order.memo = None;
            order.seller_memo = None;
            crate::generate::set_stage(
                &mut order,
                family,
                model::Stage::Paid,
                &mut shop.ids,
                &mut state.rng,
                now,
            );
            numbers.push(order.id.to_string());
            shop.orders.push(order);
            state.stats.orders_created += 1;
            if shop.spec.webhook_url.is_some() {
                let raw = shop.render(shop.orders.last().expect("just pushed"));
                deliveries.push(webhooks::Pending {
                    shop: s,
                    change: crate::updates::Change::Paid,
                    body: serde_json::to_vec(&raw).expect("JSON values serialize"),
                });
            }
        }
        Some((numbers, webhooks::prepare(state, deliveries)))
    }

    /// Applies `n` updates at `now` and returns the webhooks to deliver.
    pub(crate) fn update_round(&self, n: usize, now: OffsetDateTime) -> Vec<Delivery> {
        let now = clock::whole_seconds(now);
        let mut guard = self.lock();
        let state = &mut *guard;
        let mut deliveries = Vec::new();
        if state.shops.is_empty() {
            return Vec::new();
        }
        for _ in 0..n {
            let s = state.rng.random_range(0..state.shops.len());
            let shop = &mut state.shops[s];
            let late = shop.spec.faults.late_updates > 0.0
                && state.rng.random_bool(shop.spec.faults.late_updates);
            let at = if late {
                now - Duration::seconds(shop.spec.faults.late_by_secs as i64)
            } else {
                now
            };
            // A few tries to find an order that can still move.
            let mut done = None;
            for _ in 0..8 {
                done = crate::updates::update(
                    &mut shop.orders,
                    shop.family,
                    &mut shop.ids,
                    &mut state.rng,
                    at,
                );
                if done.is_some() {
                    break;
                }
            }
            let Some((i, change)) = done else { continue };
            state.stats.updates += 1;
            state.stats.late_updates += u64::from(late);
            if change == crate::updates::Change::Created {
                state.stats.orders_created += 1;
            }
            let shop = &state.shops[s];
            if shop.spec.webhook_url.is_some() {
                let raw = shop.render(&shop.orders[i]);
                deliveries.push(webhooks::Pending {
                    shop: s,
                    change,
                    body: serde_json::to_vec(&raw).expect("JSON values serialize"),
                });
            }
        }
        webhooks::prepare(state, deliveries)
    }

    /// Counts a request to `key` and rolls its fault. `None`: serve it normally.
    pub(crate) fn roll_fault(&self, key: &str) -> Option<RequestFault> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let i = state.shops.iter().position(|s| s.spec.key == key)?;
        let faults = state.shops[i].spec.faults.clone();
        let roll: f64 = state.rng.random();
        let shop = &mut state.shops[i];
        let fault = if shop.streak >= STREAK_MAX {
            None
        } else if roll < faults.rate_limit {
            Some(RequestFault::RateLimited)
        } else if roll < faults.rate_limit + faults.server_error {
            Some(RequestFault::ServerError)
        } else if roll < faults.rate_limit + faults.server_error + faults.slow {
            Some(RequestFault::Slow(faults.slow_ms))
        } else {
            None
        };
        match fault {
            Some(RequestFault::RateLimited) => {
                shop.streak += 1;
                state.stats.rate_limited += 1;
            }
            Some(RequestFault::ServerError) => {
                shop.streak += 1;
                state.stats.server_errors += 1;
            }
            Some(RequestFault::Slow(_)) => {
                shop.streak = 0;
                state.stats.slow += 1;
            }
            None => shop.streak = 0,
        }
        fault
    }

    /// How many rows of the previous page to repeat at the top of page `page` (from 1).
    pub(crate) fn roll_repeat(&self, key: &str, page: usize) -> usize {
        if page <= 1 {
            return 0;
        }
        let mut guard = self.lock();
        let state = &mut *guard;
        let Some(shop) = state.shops.iter().find(|s| s.spec.key == key) else {
            return 0;
        };
        let rate = shop.spec.faults.repeat_rows;
        if rate <= 0.0 || !state.rng.random_bool(rate) {
            return 0;
        }
        let rows = state.rng.random_range(1..=3);
        state.stats.repeated_pages += 1;
        rows
    }

    pub(crate) fn count_repeated(&self, rows: usize) {
        self.lock().stats.repeated_rows += rows as u64;
    }

    pub(crate) fn count_request(&self) {
        self.lock().stats.requests += 1;
    }

    pub(crate) fn count_auth_failure(&self) {
        self.lock().stats.auth_failures += 1;
    }

    pub(crate) fn count_bad_request(&self) {
        self.lock().stats.bad_requests += 1;
    }
}

impl State {
    pub(crate) fn shop(&self, key: &str) -> Option<&Shop> {
        self.shops.iter().find(|s| s.spec.key == key)
    }
}

impl Shop {
    /// The order in the platform's JSON, corrupted when the order is a malformed one.
    /// The order as the shop serves it: lines of its [`ShopSpec::uncoded`] products without
    /// their merchant code.
    pub(crate) fn served<'o>(&self, order: &'o SimOrder) -> std::borrow::Cow<'o, SimOrder> {
        let uncoded = |sku: &str| self.spec.uncoded.iter().any(|u| u == sku);
        if !order.lines.iter().any(|l| uncoded(l.sku)) {
            return std::borrow::Cow::Borrowed(order);
        }
        let mut order = order.clone();
        for l in &mut order.lines {
            if uncoded(l.sku) {
                l.sku = "";
            }
        }
        std::borrow::Cow::Owned(order)
    }

    pub(crate) fn render(&self, order: &SimOrder) -> Value {
        let order = &*self.served(order);
        let mut raw = match self.family {
            Family::Top => taobao::render(self, order),
            Family::Jd => jd::render(order),
            Family::Shopify => shopify::render(order),
            Family::Woo => woo::render(order),
        };
        crate::writeback::decorate(self, order, &mut raw);
        raw
    }

    /// The order's refunds as (refund id, JSON).
    pub(crate) fn render_refunds(&self, order: &SimOrder) -> Vec<(String, Value)> {
        let order = &*self.served(order);
        order
            .refunds
            .iter()
            .filter(|r| {
                // Shopify and WooCommerce only show refunds that are done.
                matches!(self.family, Family::Top | Family::Jd)
                    || r.stage == model::RefundStage::Success
            })
            .map(|r| {
                let raw = match self.family {
                    Family::Top => taobao::render_refund(self, order, r),
                    Family::Jd => jd::render_refund(order, r),
                    Family::Shopify => shopify::render_refund(order, r),
                    Family::Woo => woo::render_refund(r),
                };
                (r.id.to_string(), raw)
            })
            .collect()
    }
}

/// Sorts `(modified, id)` keys ascending: the platforms' stable page order.
pub(crate) fn page_order(rows: &mut [(OffsetDateTime, u64, Value)]) {
    rows.sort_by_key(|r| (r.0, r.1));
}

/// Formats minor units as a 2-decimal string (`"12.50"`, `"-5.00"`).
pub(crate) fn money(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}
