//! Write-backs: each platform's shipment call as the platform takes it (Taobao
//! `taobao.logistics.offline.send`, JD `jingdong.pop.order.shipment`, Shopify fulfillment
//! orders and `POST fulfillments.json`, WooCommerce `GET`/`PUT orders/{id}`), signed or
//! authenticated like the platform's other calls and subject to the shop's fault knobs.
//!
//! A write-back marks the order's lines shipped and moves its `modified`, so the next capture
//! sees the new status; a repeated one gets the platform's "already shipped" answer (Taobao and
//! JD an error, Shopify nothing left to fulfil, WooCommerce the parcel already in the order's
//! meta). Every call that reaches an order is recorded as a [`WriteBack`], read with
//! `GET /_sim/writebacks` or [`crate::SimHandle::writebacks`].
//!
//! The platforms' exact "already shipped" codes are not in the reference: the answers here are
//! the simulator's, worded so that a client reads them by their message.

mod jd;
mod shopify;
mod top;
mod woo;

use crate::model::{Family, SimOrder, Stage};
use crate::state::{Shop, Sim};
use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::Arc;
use time::OffsetDateTime;
use xt_shared::order::Platform;

/// Write-backs kept for `GET /_sim/writebacks`; older ones are dropped (and counted).
pub const RECEIVED_MAX: usize = 100_000;
/// Parcels one order keeps at most; a write-back beyond is refused.
const PARCELS_MAX: usize = 100;

/// One write-back call that reached an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteBack {
    /// Order of arrival over all shops, from 1.
    pub seq: u64,
    pub shop: String,
    pub platform: Platform,
    pub order_no: String,
    /// The carrier as the platform was told it (Taobao `company_code`, JD `logiCoprId`, Shopify
    /// `tracking_info.company`, WooCommerce the parcel's `carrier`).
    pub carrier: String,
    pub tracking_no: String,
    /// The lines named (Taobao `sub_tid`, Shopify and WooCommerce line item ids); empty for the
    /// whole order.
    pub lines: Vec<String>,
    pub outcome: Outcome,
    /// When it arrived, Unix milliseconds.
    pub received_ms: i64,
}

/// What the simulator did with a write-back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// Lines were marked shipped.
    Shipped,
    /// Nothing left to ship: answered as the platform answers a repeat.
    AlreadyShipped,
    /// Refused with this reason (closed, unpaid, held, cash on delivery, unknown line…).
    Refused { reason: String },
}

/// One parcel of an order as the simulator keeps it, to show it in later answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parcel {
    pub carrier: String,
    pub carrier_name: Option<String>,
    pub tracking_no: String,
    /// Line ids as text; empty for the whole order.
    pub lines: Vec<String>,
}

/// The write-backs received, newest last.
#[derive(Debug, Default)]
pub(crate) struct Received {
    list: VecDeque<WriteBack>,
    next_seq: u64,
    dropped: u64,
}

/// Why the simulator refuses to ship.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    NotFound,
    NotPaid,
    Held,
    Closed,
    UnknownLine(String),
    TooManyParcels,
}

impl Refusal {
    fn reason(&self) -> String {
        match self {
            Refusal::NotFound => "order not found".into(),
            Refusal::NotPaid => "order not paid".into(),
            Refusal::Held => "order on hold".into(),
            Refusal::Closed => "order closed".into(),
            Refusal::UnknownLine(l) => format!("line {l} is not in the order"),
            Refusal::TooManyParcels => format!("order has {PARCELS_MAX} parcels already"),
        }
    }
}

/// What a shipment did to an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Shipped {
    /// These lines (indexes) were marked shipped.
    Lines(Vec<usize>),
    Already,
    Refused(Refusal),
}

impl Shipped {
    fn outcome(&self) -> Outcome {
        match self {
            Shipped::Lines(_) => Outcome::Shipped,
            Shipped::Already => Outcome::AlreadyShipped,
            Shipped::Refused(r) => Outcome::Refused { reason: r.reason() },
        }
    }
}

/// The platform's id of line `i` as text (Taobao `oid`, Shopify and WooCommerce line item id).
pub(crate) fn line_id(order: &SimOrder, i: usize) -> String {
    order.lines[i].id.to_string()
}

/// Ships `lines` (line ids as text; `None`: every line still to ship) of the order at `index`
/// with `parcel`, at `now`: the lines are marked shipped, the stage moves on (a WooCommerce order
/// completes once every line shipped), `modified` moves to `now`, the parcel is kept.
pub(crate) fn ship(
    shop: &mut Shop,
    index: usize,
    lines: Option<&[String]>,
    parcel: Parcel,
    now: OffsetDateTime,
) -> Shipped {
    let family = shop.family;
    let order = &shop.orders[index];
    match order.stage {
        Stage::Pending | Stage::Processing | Stage::Failed => {
            return Shipped::Refused(Refusal::NotPaid);
        }
        Stage::OnHold => return Shipped::Refused(Refusal::Held),
        Stage::Cancelled | Stage::Refunded | Stage::Deleted => {
            return Shipped::Refused(Refusal::Closed);
        }
        Stage::Paid | Stage::PartShipped | Stage::Shipped | Stage::Delivered | Stage::Completed => {
        }
    }
    let open = |i: usize| !order.lines[i].shipped && !order.line_refunded(i);
    let wanted: Vec<usize> = match lines {
        None => (0..order.lines.len()).filter(|i| open(*i)).collect(),
        Some(ids) => {
            let mut wanted = Vec::new();
            for id in ids {
                match (0..order.lines.len()).find(|i| line_id(order, *i) == *id) {
                    Some(i) if open(i) => wanted.push(i),
                    Some(_) => {}
                    None => return Shipped::Refused(Refusal::UnknownLine(id.clone())),
                }
            }
            wanted
        }
    };
    if wanted.is_empty() {
        return if order.lines.iter().any(|l| l.shipped) {
            Shipped::Already
        } else {
            Shipped::Refused(Refusal::Closed)
        };
    }
    let parcels = shop.parcels.entry(order.id).or_default();
    if parcels.len() >= PARCELS_MAX {
        return Shipped::Refused(Refusal::TooManyParcels);
    }
    parcels.push(parcel);
    let order = &mut shop.orders[index];
    for i in &wanted {
        order.lines[*i].shipped = true;
    }
    let all = (0..order.lines.len()).all(|i| order.lines[i].shipped || order.line_refunded(i));
    order.stage = match (family, all) {
        (Family::Woo, true) => Stage::Completed,
        (Family::Woo, false) => order.stage,
        (_, true) if matches!(order.stage, Stage::Paid | Stage::PartShipped) => Stage::Shipped,
        (_, true) => order.stage,
        (_, false) => Stage::PartShipped,
    };
    order.touch(now);
    Shipped::Lines(wanted)
}

/// The order of `shop` with platform id `id`.
pub(crate) fn find(shop: &Shop, id: &str) -> Option<usize> {
    // Ids are numbers: compared as such (the order list holds thousands).
    let id: u64 = id.parse().ok()?;
    shop.orders.iter().position(|o| o.id == id)
}

impl Received {
    fn push(&mut self, mut w: WriteBack) {
        self.next_seq += 1;
        w.seq = self.next_seq;
        if self.list.len() >= RECEIVED_MAX {
            self.list.pop_front();
            self.dropped += 1;
        }
        self.list.push_back(w);
    }
}

/// Records one write-back: the parcel the call carried for `order_no` and what came of it.
pub(crate) fn record(
    received: &mut Received,
    shop: &Shop,
    order_no: &str,
    parcel: &Parcel,
    outcome: Outcome,
) {
    // The exact time (the platform's own times are whole seconds): latencies are measured by it.
    let now = OffsetDateTime::now_utc();
    received.push(WriteBack {
        seq: 0,
        shop: shop.spec.key.clone(),
        platform: shop.spec.platform,
        order_no: order_no.to_owned(),
        carrier: parcel.carrier.clone(),
        tracking_no: parcel.tracking_no.clone(),
        lines: parcel.lines.clone(),
        outcome,
        received_ms: (now.unix_timestamp_nanos() / 1_000_000) as i64,
    });
}

impl Sim {
    /// Every write-back received (the newest [`RECEIVED_MAX`]), oldest first; of one shop when
    /// `shop` is given.
    pub(crate) fn writebacks(&self, shop: Option<&str>) -> Vec<WriteBack> {
        self.lock()
            .received
            .list
            .iter()
            .filter(|w| shop.is_none_or(|s| w.shop == s))
            .cloned()
            .collect()
    }

    /// Records a call refused before it reached the order's lines.
    pub(crate) fn refuse_and_record(
        &self,
        key: &str,
        order_no: &str,
        parcel: &Parcel,
        reason: &str,
    ) {
        let mut guard = self.lock();
        let state = &mut *guard;
        if let Some(shop) = state.shops.iter().find(|s| s.spec.key == key) {
            let outcome = Outcome::Refused {
                reason: reason.to_owned(),
            };
            record(&mut state.received, shop, order_no, parcel, outcome);
        }
    }

    /// Ships the order `order_no` of shop `key` with `parcel` (its `lines` empty: the whole
    /// order) and records the call: the step every platform's handler takes once the request
    /// is valid. `None` when the shop is gone.
    pub(crate) fn ship_and_record(
        &self,
        key: &str,
        order_no: &str,
        parcel: Parcel,
    ) -> Option<Shipped> {
        let now = crate::clock::whole_seconds(OffsetDateTime::now_utc());
        let mut guard = self.lock();
        let state = &mut *guard;
        let s = state.shops.iter().position(|s| s.spec.key == key)?;
        let shop = &mut state.shops[s];
        let kept = parcel.clone();
        let lines = (!kept.lines.is_empty()).then_some(kept.lines.as_slice());
        let shipped = match find(shop, order_no) {
            Some(i) => ship(shop, i, lines, parcel, now),
            None => Shipped::Refused(Refusal::NotFound),
        };
        record(
            &mut state.received,
            &state.shops[s],
            order_no,
            &kept,
            shipped.outcome(),
        );
        Some(shipped)
    }
}

/// Shows an order's parcels in its platform JSON where the platform shows them: JD `waybill`
/// and `logisticsId`, Shopify `fulfillments`, WooCommerce our meta. Taobao's trade here has no
/// waybill field.
pub(crate) fn decorate(shop: &Shop, order: &SimOrder, raw: &mut Value) {
    let Some(parcels) = shop.parcels.get(&order.id).filter(|p| !p.is_empty()) else {
        return;
    };
    match shop.family {
        Family::Top => {}
        Family::Jd => jd::decorate(parcels, raw),
        Family::Shopify => shopify::decorate(order, parcels, raw),
        Family::Woo => woo::decorate(order, parcels, raw),
    }
}

#[derive(Deserialize)]
struct Filter {
    shop: Option<String>,
}

/// The routes of the write-backs that have paths of their own (Shopify, WooCommerce; Taobao and
/// JD share their routers' one path) and `GET /_sim/writebacks[?shop=key]`.
pub(crate) fn routes() -> Router<Arc<Sim>> {
    Router::new()
        .route("/_sim/writebacks", get(list))
        .merge(shopify::routes())
        .merge(woo::routes())
}

async fn list(State(sim): State<Arc<Sim>>, Query(filter): Query<Filter>) -> Json<Value> {
    let writebacks = sim.writebacks(filter.shop.as_deref());
    let dropped = sim.lock().received.dropped;
    Json(json!({"writebacks": writebacks, "dropped": dropped}))
}

pub(crate) use jd::shipment as jd_shipment;
pub(crate) use top::offline_send as top_offline_send;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ShopSpec, SimConfig};

    /// A simulator with one shop whose first orders are paid, unshipped, without refunds and
    /// of two lines or more.
    fn sim(platform: Platform) -> Sim {
        let config = SimConfig {
            seed: 11,
            history: std::time::Duration::from_secs(3600),
            shops: vec![ShopSpec::new("s", platform, 60)],
        };
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        let sim = Sim::new(&config, "127.0.0.1:9".parse().unwrap(), now);
        {
            let mut state = sim.lock();
            let shop = &mut state.shops[0];
            shop.orders.retain(|o| o.lines.len() >= 2);
            assert!(shop.orders.len() >= 3, "seed 11 gives multi-line orders");
            for o in &mut shop.orders {
                o.stage = Stage::Paid;
                o.refunds.clear();
                for l in &mut o.lines {
                    l.shipped = false;
                }
            }
        }
        sim
    }

    fn parcel(tracking_no: &str) -> Parcel {
        Parcel {
            carrier: "SF".into(),
            carrier_name: None,
            tracking_no: tracking_no.into(),
            lines: Vec::new(),
        }
    }

    #[test]
    fn shipping_moves_the_stage_and_modified_and_a_repeat_is_already_shipped() {
        let later =
            OffsetDateTime::now_utc().replace_nanosecond(0).unwrap() + time::Duration::minutes(5);
        for (platform, part, whole) in [
            (Platform::Taobao, Stage::PartShipped, Stage::Shipped),
            (Platform::Shopify, Stage::PartShipped, Stage::Shipped),
            (Platform::Woocommerce, Stage::Paid, Stage::Completed),
        ] {
            let family = Family::of(platform);
            let sim = sim(platform);
            let mut state = sim.lock();
            let s = &mut state.shops[0];
            let first = line_id(&s.orders[0], 0);
            let got = ship(
                s,
                0,
                Some(std::slice::from_ref(&first)),
                parcel("T1"),
                later,
            );
            assert_eq!(got, Shipped::Lines(vec![0]), "{family:?}");
            assert_eq!(s.orders[0].stage, part, "{family:?}");
            assert_eq!(s.orders[0].modified, later);
            assert_eq!(
                ship(s, 0, Some(&[first]), parcel("T1"), later),
                Shipped::Already
            );
            let rest = ship(s, 0, None, parcel("T2"), later);
            assert!(
                matches!(rest, Shipped::Lines(ref l) if !l.contains(&0)),
                "{rest:?}"
            );
            assert_eq!(s.orders[0].stage, whole, "{family:?}");
            assert_eq!(ship(s, 0, None, parcel("T3"), later), Shipped::Already);
            assert_eq!(s.parcels[&s.orders[0].id].len(), 2);
        }
    }

    #[test]
    fn refusals() {
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        let sim = sim(Platform::Taobao);
        let mut state = sim.lock();
        let s = &mut state.shops[0];
        assert_eq!(
            ship(s, 0, Some(&["1".into()]), parcel("T"), now),
            Shipped::Refused(Refusal::UnknownLine("1".into()))
        );
        for (stage, refusal) in [
            (Stage::Pending, Refusal::NotPaid),
            (Stage::OnHold, Refusal::Held),
            (Stage::Cancelled, Refusal::Closed),
        ] {
            s.orders[1].stage = stage;
            assert_eq!(
                ship(s, 1, None, parcel("T"), now),
                Shipped::Refused(refusal)
            );
        }
        assert!(s.parcels.is_empty(), "a refusal keeps no parcel");
    }
}
