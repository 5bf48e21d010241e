//! The fulfilment room's tables and transactions: what an order, a delivery order, a warehouse
//! and the stock ledger look like stored, and the steps that move them, each inside the caller's
//! write transaction (the room's intakes, [`super::intake`], run them through the pipeline).

use super::decide::{
    self, Coverage, Explanation, Line, MergeRules, OrderView, Pending, ReceiverView, Verdict,
    Warehouse, WarehouseKind,
};
use super::ledger::{Cell, MovementKind};
use super::machine::{Event, Exception, State, next};
use super::records::{
    Actor, DeliveryLineRecord, DeliveryRecord, DeliveryState, FLine, FulfilmentRecord, Package,
    PlanPart, SettingsRecord, StoredDeliveryReceiver, WarehouseChannel, WarehouseRecord, WriteBack,
    WriteBackDue,
};
use crate::agents::commands;
use crate::orders::records::OrderRecord;
use crate::orders::store::ORDERS;
use crate::store::table::{Table, WriteTx};
use crate::store::{FulfilmentLogged, LogEntry, StoreError};
use std::collections::BTreeMap;
use xt_shared::command::{AgentCommand, DeliveryLine, DeliveryOrder, DeliveryReceiver};
use xt_shared::ids::{DocNo, Sku, TenantId, WarehouseCode};
use xt_shared::model::UtcMillis;

/// Key: (tenant, shop, order no).
pub(crate) const FULFILMENTS: Table<(&str, &str, &str), FulfilmentRecord> =
    Table::new("fulfilments");
/// Key: (tenant, state name, shop, order no): the board's lists and counts.
pub(crate) const BY_STATE: Table<(&str, &str, &str, &str), ()> = Table::new("fulfilments_by_state");
/// Key: (tenant, state name) → how many orders are in it.
pub(crate) const STATE_COUNTS: Table<(&str, &str), u64> = Table::new("fulfilment_state_counts");
/// Key: (tenant, code).
pub(crate) const WAREHOUSES: Table<(&str, &str), WarehouseRecord> = Table::new("warehouses");
/// Key: tenant.
pub(crate) const SETTINGS: Table<&str, SettingsRecord> = Table::new("fulfilment_settings");
/// Key: (tenant, warehouse, sku).
pub(crate) const LEDGER: Table<(&str, &str, &str), Cell> = Table::new("stock_ledger");
/// Key: (tenant, delivery no).
pub(crate) const DELIVERIES: Table<(&str, &str), DeliveryRecord> = Table::new("deliveries");
/// Key: (tenant, warehouse, delivery no): a warehouse's delivery orders still to ship.
pub(crate) const PENDING_BY_WAREHOUSE: Table<(&str, &str, &str), ()> =
    Table::new("deliveries_pending");
/// Key: tenant → the last delivery number given out.
pub(crate) const DELIVERY_SEQS: Table<&str, u64> = Table::new("delivery_seqs");
/// Key: (tenant, merge key or `~<shop>:<order no>` for an order merged with nobody, shop,
/// order no) → when the order entered the buffer.
pub(crate) const MERGE_BUFFER: Table<(&str, &str, &str, &str), i64> = Table::new("merge_buffer");
/// Key: (tenant, due at, merge key): when a merge group leaves the buffer.
pub(crate) const MERGE_DUE: Table<(&str, i64, &str), ()> = Table::new("merge_due");
/// Key: (tenant, shop, order no): orders waiting for stock.
pub(crate) const OUT_OF_STOCK: Table<(&str, &str, &str), ()> =
    Table::new("fulfilments_out_of_stock");
/// Key: (tenant, shipment key): confirmations already applied.
pub(crate) const SHIPMENT_KEYS: Table<(&str, &str), ()> = Table::new("shipment_keys");
/// Key: (tenant, due at, delivery no, package key).
pub(crate) const WRITEBACKS_DUE: Table<(&str, i64, &str, &str), WriteBackDue> =
    Table::new("writebacks_due");
/// Key: (tenant, delivery no, package key): write-backs the platform refused for good.
pub(crate) const WRITEBACKS_FAILED: Table<(&str, &str, &str), ()> = Table::new("writebacks_failed");
/// Key: (tenant, warehouse, delivery no) → 0 create, 1 cancel: calls a 3PL still has to get.
pub(crate) const TPL_OUTBOX: Table<(&str, &str, &str), u64> = Table::new("tpl_outbox");
/// Key: tenant → the change-log position fulfilment has read through.
pub(crate) const CURSORS: Table<&str, u64> = Table::new("fulfilment_cursors");
/// Key: (tenant, receiver key, paid at, shop, order no): recent orders per receiver (review's
/// repeat-receiver rule).
pub(crate) const BY_RECEIVER: Table<(&str, &str, i64, &str, &str), ()> =
    Table::new("fulfilments_by_receiver");

/// What an untracked warehouse is taken to hold of any SKU.
pub const UNTRACKED_AVAILABLE: i64 = 1 << 40;
/// Orders retried for stock per step at most.
pub const RETRY_BATCH_MAX: usize = 200;
/// Merge groups released per step at most.
pub const RELEASE_BATCH_MAX: usize = 500;

/// The ledger holder of an order's stock not on a delivery order yet.
pub fn holder(shop: &str, order_no: &str) -> String {
    format!("{shop}:{order_no}")
}

/// The ledger holder of an order's stock on delivery order `delivery_no` (the reservation
/// moves to it when the delivery order is made). Each delivery order holds its own, so a
/// confirmation of one (late, or redelivered after the ledger let it go) never takes what the
/// order's next delivery order holds.
pub fn delivery_holder(delivery_no: &str, shop: &str, order_no: &str) -> String {
    format!("{delivery_no}|{shop}:{order_no}")
}

/// The (shop, order no) a holder stands for. Shop ids and delivery numbers hold neither `|`
/// nor `:`; an order number may hold both.
pub fn holder_order(h: &str) -> Option<(&str, &str)> {
    let order = match h.split_once('|') {
        Some((delivery, rest)) if !delivery.contains(':') => rest,
        _ => h,
    };
    order.split_once(':')
}

/// The holders a part's stock may be under: its own ([`holder`] before its delivery order is
/// made, [`delivery_holder`] after), and for a part on a delivery order the order's, which
/// holds it in a ledger written before delivery orders held their own.
fn part_holders(shop: &str, order_no: &str, part: &PlanPart) -> Vec<String> {
    match &part.delivery_no {
        None => vec![holder(shop, order_no)],
        Some(d) => vec![delivery_holder(d, shop, order_no), holder(shop, order_no)],
    }
}

/// What a step wrote to the log and changed for the workers.
#[derive(Debug, Default)]
pub struct Effects {
    pub log: Vec<LogEntry>,
    /// Commands were put in an agent's outbox.
    pub commands: bool,
    /// Calls were put in the 3PL outbox.
    pub tpl: bool,
    /// Write-backs became due.
    pub writebacks: bool,
}

/// The context of one step: the tenant, the time, its settings and warehouses, loaded once.
pub(crate) struct Ctx<'a> {
    pub tx: &'a WriteTx,
    pub tenant: &'a TenantId,
    pub now: UtcMillis,
    pub settings: SettingsRecord,
    pub warehouses: Vec<(String, WarehouseRecord)>,
    pub effects: Effects,
    /// The ledger cells this step read, by warehouse and SKU, written back by
    /// [`Ctx::finish`]: a step touches the same few cells for many orders, so each is decoded
    /// and encoded once per step rather than once per order.
    cells: BTreeMap<String, BTreeMap<String, CachedCell>>,
}

/// A ledger cell as the step sees it (`None`: the ledger has none).
struct CachedCell {
    cell: Option<Cell>,
    dirty: bool,
}

impl<'a> Ctx<'a> {
    pub fn load(tx: &'a WriteTx, tenant: &'a TenantId, now: UtcMillis) -> Result<Self, StoreError> {
        let t = tenant.as_str();
        let settings = tx.open(SETTINGS)?.get(t)?.unwrap_or_default();
        let mut warehouses = Vec::new();
        for row in tx.open(WAREHOUSES)?.range((t, "")..)? {
            let row = row?;
            if row.key().0 != t {
                break;
            }
            warehouses.push((row.key().1.to_owned(), row.value));
        }
        Ok(Ctx {
            tx,
            tenant,
            now,
            settings,
            warehouses,
            effects: Effects::default(),
            cells: BTreeMap::new(),
        })
    }

    fn cached(&mut self, warehouse: &str, sku: &str) -> Result<&mut CachedCell, StoreError> {
        if !self
            .cells
            .get(warehouse)
            .is_some_and(|by_sku| by_sku.contains_key(sku))
        {
            let cell = self
                .tx
                .open(LEDGER)?
                .get((self.tenant.as_str(), warehouse, sku))?;
            self.cells
                .entry(warehouse.to_owned())
                .or_default()
                .insert(sku.to_owned(), CachedCell { cell, dirty: false });
        }
        Ok(self
            .cells
            .get_mut(warehouse)
            .and_then(|by_sku| by_sku.get_mut(sku))
            .expect("cached just now"))
    }

    /// The ledger cell of `warehouse` × `sku` as this step sees it.
    pub(crate) fn cell(&mut self, warehouse: &str, sku: &str) -> Result<Option<&Cell>, StoreError> {
        Ok(self.cached(warehouse, sku)?.cell.as_ref())
    }

    /// The ledger cell of `warehouse` × `sku` to change (a new one when there is none); it is
    /// stored by [`Ctx::finish`].
    pub(crate) fn cell_mut(&mut self, warehouse: &str, sku: &str) -> Result<&mut Cell, StoreError> {
        let cached = self.cached(warehouse, sku)?;
        cached.dirty = true;
        Ok(cached.cell.get_or_insert_with(Cell::default))
    }

    /// Ends the step: stores the ledger cells it changed and hands over its effects. Every
    /// intake that loads a `Ctx` finishes it before its transaction commits.
    pub(crate) fn finish(&mut self) -> Result<Effects, StoreError> {
        let mut ledger = self.tx.open(LEDGER)?;
        let t = self.tenant.as_str();
        for (warehouse, by_sku) in std::mem::take(&mut self.cells) {
            for (sku, cached) in by_sku {
                if let (true, Some(cell)) = (cached.dirty, &cached.cell) {
                    ledger.insert((t, warehouse.as_str(), sku.as_str()), cell)?;
                }
            }
        }
        Ok(std::mem::take(&mut self.effects))
    }

    fn t(&self) -> &str {
        self.tenant.as_str()
    }

    fn warehouse(&self, code: &str) -> Option<&WarehouseRecord> {
        self.warehouses
            .iter()
            .find(|(c, _)| c == code)
            .map(|(_, w)| w)
    }

    /// Moves `f` by `event` (when the machine allows it), keeping the step and logging it.
    pub(crate) fn transition(
        &mut self,
        shop: &str,
        order_no: &str,
        f: &mut FulfilmentRecord,
        event: Event,
        actor: Actor,
        reason: impl Into<String>,
    ) -> bool {
        let Ok(to) = next(f.state, event) else {
            return false;
        };
        let reason = reason.into();
        let from = f.state;
        if from == to && reason.is_empty() {
            return true;
        }
        self.effects
            .log
            .push(LogEntry::Fulfilment(FulfilmentLogged {
                tenant: self.tenant.clone(),
                shop: shop.to_owned(),
                order_no: order_no.to_owned(),
                from: from.as_str().to_owned(),
                to: to.as_str().to_owned(),
                actor: actor.label(),
                reason: reason.clone(),
                at: self.now,
            }));
        f.step(to, actor, reason, self.now);
        true
    }

    /// Writes `f` and keeps the state index and counts in step with it.
    fn save(
        &self,
        shop: &str,
        order_no: &str,
        old: Option<State>,
        f: &FulfilmentRecord,
    ) -> Result<(), StoreError> {
        let t = self.t();
        if old != Some(f.state) {
            let mut by_state = self.tx.open(BY_STATE)?;
            let mut counts = self.tx.open(STATE_COUNTS)?;
            if let Some(old) = old {
                by_state.remove((t, old.as_str(), shop, order_no))?;
                let n = counts.get((t, old.as_str()))?.unwrap_or(0);
                counts.insert((t, old.as_str()), &n.saturating_sub(1))?;
            }
            by_state.insert((t, f.state.as_str(), shop, order_no), &())?;
            let n = counts.get((t, f.state.as_str()))?.unwrap_or(0);
            counts.insert((t, f.state.as_str()), &(n + 1))?;
            let mut oos = self.tx.open(OUT_OF_STOCK)?;
            if f.state == State::Exception(Exception::OutOfStock) {
                oos.insert((t, shop, order_no), &())?;
            } else if old == Some(State::Exception(Exception::OutOfStock)) {
                oos.remove((t, shop, order_no))?;
            }
        }
        self.tx.open(FULFILMENTS)?.insert((t, shop, order_no), f)?;
        Ok(())
    }
}

/// The order as the decisions read it, from its stored record.
pub(crate) fn order_view(shop: &str, record: &OrderRecord) -> OrderView {
    let o = &record.order;
    let r = &o.receiver;
    let buyer = o
        .buyer
        .open_uid
        .clone()
        .or_else(|| o.buyer.customer_id.clone())
        .or_else(|| o.buyer.nick.clone())
        .unwrap_or_default();
    OrderView {
        shop: shop.to_owned(),
        order_no: o.platform_order_no.clone(),
        buyer,
        receiver: ReceiverView {
            name: r.name.clone(),
            phone: r.phone.clone(),
            province: r.province.clone(),
            city: r.city.clone(),
            district: r.district.clone(),
            address: r.address.clone(),
        },
        buyer_memo: o.buyer_memo.clone(),
        seller_memo: o.seller_memo.clone(),
        paid_minor: o.amounts.paid.minor,
        cod: o.flags.cod,
        paid_at: o.times.paid.unwrap_or(o.times.created),
        lines: o
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| decide::LineView {
                line_id: l.line_id.clone(),
                sku: record
                    .internal_skus
                    .get(i)
                    .cloned()
                    .flatten()
                    .or_else(|| l.merchant_sku.clone()),
                quantity: i64::from(l.quantity),
                title: l.title.clone(),
            })
            .collect(),
    }
}

/// The standard statuses that start fulfilment, and those that end it.
fn platform_paid(record: &OrderRecord) -> bool {
    use crate::orders::records::StoredOrderState as S;
    matches!(record.order.status, S::Paid | S::OnHold)
}

fn platform_cancelled(record: &OrderRecord) -> bool {
    use crate::orders::records::StoredOrderState as S;
    matches!(record.order.status, S::Cancelled | S::Refunded | S::Deleted)
}

fn platform_completed(record: &OrderRecord) -> bool {
    use crate::orders::records::StoredOrderState as S;
    matches!(record.order.status, S::Delivered | S::Completed)
}

/// An order was captured or changed at the platform: starts, cancels or completes its
/// fulfilment.
pub(crate) fn order_changed(
    ctx: &mut Ctx<'_>,
    shop: &str,
    order_no: &str,
) -> Result<(), StoreError> {
    let t = ctx.tenant.as_str();
    let Some(record) = ctx.tx.open(ORDERS)?.get((t, shop, order_no))? else {
        return Ok(());
    };
    let existing = ctx.tx.open(FULFILMENTS)?.get((t, shop, order_no))?;
    match existing {
        None if platform_paid(&record) => start(ctx, shop, order_no, &record),
        None => Ok(()),
        Some(mut f) => {
            let old = f.state;
            if platform_cancelled(&record) {
                cancel_order(
                    ctx,
                    shop,
                    order_no,
                    &mut f,
                    Actor::Platform,
                    "cancelled on the platform",
                )?;
            } else if platform_completed(&record) && f.state == State::Shipped {
                ctx.transition(
                    shop,
                    order_no,
                    &mut f,
                    Event::Complete,
                    Actor::Platform,
                    "received",
                );
            } else if f.state == State::Exception(Exception::UnmappedSku)
                || f.state == State::Exception(Exception::AddressIncomplete)
            {
                // The order changed (a mapping or an address may have arrived): review again.
                let view = order_view(shop, &record);
                update_lines(&mut f, &view);
                ctx.transition(
                    shop,
                    order_no,
                    &mut f,
                    Event::Review,
                    Actor::Hub,
                    "order changed",
                );
                review_and_reserve(ctx, shop, order_no, &mut f, &view)?;
            }
            ctx.save(shop, order_no, Some(old), &f)
        }
    }
}

fn update_lines(f: &mut FulfilmentRecord, view: &OrderView) {
    f.lines = view
        .lines
        .iter()
        .map(|l| FLine {
            line_id: l.line_id.clone(),
            sku: l.sku.clone(),
            title: l.title.clone(),
            quantity: l.quantity,
            shipped: 0,
        })
        .collect();
}

fn start(
    ctx: &mut Ctx<'_>,
    shop: &str,
    order_no: &str,
    record: &OrderRecord,
) -> Result<(), StoreError> {
    let view = order_view(shop, record);
    let receiver_key = decide::receiver_key(&view.receiver);
    let mut f = FulfilmentRecord {
        state: State::Paid,
        since: ctx.now,
        paid_at: UtcMillis(view.paid_at),
        lines: Vec::new(),
        holds: Vec::new(),
        held_by_person: None,
        approved: false,
        merge_key: decide::merge_key(&view, &ctx.settings.merge),
        receiver_key: receiver_key.clone(),
        plan: Vec::new(),
        no_route: None,
        timeline: Vec::new(),
    };
    update_lines(&mut f, &view);
    ctx.tx.open(BY_RECEIVER)?.insert(
        (ctx.t(), receiver_key.as_str(), view.paid_at, shop, order_no),
        &(),
    )?;
    ctx.transition(
        shop,
        order_no,
        &mut f,
        Event::Review,
        Actor::Platform,
        "paid",
    );
    review_and_reserve(ctx, shop, order_no, &mut f, &view)?;
    ctx.save(shop, order_no, None, &f)
}

/// How many orders went to the same receiver within `window_ms` before `paid_at` (this one
/// excluded).
fn recent_to_receiver(
    ctx: &Ctx<'_>,
    key: &str,
    paid_at: i64,
    window_ms: i64,
    order_no: &str,
) -> Result<u32, StoreError> {
    let t = ctx.t();
    let from = paid_at.saturating_sub(window_ms);
    let mut n = 0u32;
    for row in ctx
        .tx
        .open(BY_RECEIVER)?
        .keys((t, key, from, "", "")..=(t, key, paid_at, "\u{10ffff}", "\u{10ffff}"))?
    {
        let row = row?;
        if row.value().4 != order_no {
            n = n.saturating_add(1);
        }
    }
    Ok(n)
}

/// Reviews `f` by the tenant's rules (unless a person approved it), routes and reserves its
/// stock, and moves it to held, allocated (into the merge buffer) or an exception.
pub(crate) fn review_and_reserve(
    ctx: &mut Ctx<'_>,
    shop: &str,
    order_no: &str,
    f: &mut FulfilmentRecord,
    view: &OrderView,
) -> Result<(), StoreError> {
    let rules = &ctx.settings.review;
    let recent = match &rules.repeat_receiver {
        Some(repeat) => recent_to_receiver(
            ctx,
            &f.receiver_key,
            view.paid_at,
            repeat.window_ms,
            order_no,
        )?,
        None => 0,
    };
    let holds = match decide::review(view, &ctx.settings.review, recent) {
        Verdict::Approve => Vec::new(),
        Verdict::Hold(reasons) => reasons,
    };
    f.holds = if f.approved {
        Vec::new()
    } else {
        holds.clone()
    };
    // Faults only a fix upstream clears: nothing to reserve. A person's approval ships an
    // incomplete address as it is, never an unmapped SKU.
    for fault in [Exception::UnmappedSku, Exception::AddressIncomplete] {
        let found = holds.iter().any(|h| match fault {
            Exception::UnmappedSku => matches!(h, decide::HoldReason::UnmappedSku { .. }),
            _ => !f.approved && matches!(h, decide::HoldReason::AddressIncomplete { .. }),
        });
        if found {
            let rule = Actor::Rule(fault.as_str().into());
            ctx.transition(
                shop,
                order_no,
                f,
                Event::Fault(fault),
                rule,
                hold_text(&holds),
            );
            return Ok(());
        }
    }
    if !reserve(ctx, shop, order_no, f, view)? {
        return Ok(());
    }
    if !f.holds.is_empty() || f.held_by_person.is_some() {
        let why = f
            .held_by_person
            .clone()
            .unwrap_or_else(|| hold_text(&f.holds));
        ctx.transition(
            shop,
            order_no,
            f,
            Event::Hold,
            Actor::Rule("review".into()),
            why,
        );
        return Ok(());
    }
    let actor = if f.approved {
        Actor::Hub
    } else {
        Actor::Rule("review".into())
    };
    let why = plan_text(&f.plan);
    ctx.transition(shop, order_no, f, Event::Allocate, actor, why);
    buffer(ctx, shop, order_no, f)
}

fn hold_text(holds: &[decide::HoldReason]) -> String {
    holds
        .iter()
        .map(|h| h.text(decide::Lang::En))
        .collect::<Vec<_>>()
        .join("; ")
}

fn plan_text(plan: &[PlanPart]) -> String {
    plan.iter()
        .map(|p| p.why.text(decide::Lang::En))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// The decisions' view of the tenant's warehouses.
fn route_warehouses(ctx: &Ctx<'_>) -> Vec<Warehouse> {
    ctx.warehouses
        .iter()
        .map(|(code, w)| Warehouse {
            code: code.clone(),
            kind: match w.channel {
                WarehouseChannel::Agent { .. } => WarehouseKind::Agent,
                WarehouseChannel::Qimen { .. } => WarehouseKind::ThirdParty,
                WarehouseChannel::Phone => WarehouseKind::Phone,
            },
            coverage: w.coverage.clone(),
            priority: w.priority,
            cost_minor: w.cost_minor,
            enabled: w.enabled,
        })
        .collect()
}

/// Routes `f` (its own reservation released first, so it counts as available to itself) and
/// reserves every part's lines; `false` (and the out-of-stock exception) when no warehouse can.
fn reserve(
    ctx: &mut Ctx<'_>,
    shop: &str,
    order_no: &str,
    f: &mut FulfilmentRecord,
    view: &OrderView,
) -> Result<bool, StoreError> {
    if hand_plan_stands(ctx, f)? {
        return Ok(true);
    }
    release_unsettled(ctx, shop, order_no, f)?;
    let wanted = unplaced(ctx, f)?;
    let lines: Vec<Line> = wanted
        .iter()
        .filter(|(_, q)| **q > 0)
        .map(|(sku, q)| Line {
            sku: sku.clone(),
            quantity: *q,
        })
        .collect();
    let warehouses = route_warehouses(ctx);
    let mut available: BTreeMap<(String, String), i64> = BTreeMap::new();
    {
        let now = ctx.now.0;
        for w in &warehouses {
            let tracked = ctx.warehouse(&w.code).is_none_or(|r| r.stock_tracked);
            for l in &lines {
                let cell = ctx.cell(&w.code, &l.sku)?;
                let a = match cell {
                    // Untracked: holds everything, unless its staff just said it has none.
                    Some(c) if !tracked => match c.reported_short() {
                        Some(at) if now.saturating_sub(at) < SHORT_UNTRACKED_MS => 0,
                        _ => UNTRACKED_AVAILABLE,
                    },
                    None if !tracked => UNTRACKED_AVAILABLE,
                    cell => cell.map_or(0, |c| c.available()),
                };
                available.insert((w.code.clone(), l.sku.clone()), a);
            }
        }
    }
    let lookup = |w: &str, sku: &str| {
        available
            .get(&(w.to_owned(), sku.to_owned()))
            .copied()
            .unwrap_or(0)
    };
    let plan = decide::route(
        &lines,
        &view.receiver,
        &warehouses,
        &lookup,
        &ctx.settings.split,
    );
    match plan {
        Ok(plan) => {
            let h = holder(shop, order_no);
            for part in &plan.parts {
                if ctx
                    .warehouse(&part.warehouse)
                    .is_some_and(|w| !w.stock_tracked)
                {
                    continue;
                }
                for (sku, qty) in part.lines.iter().map(|l| (&l.sku, l.quantity)) {
                    let cell = ctx.cell_mut(&part.warehouse, sku)?;
                    let prior = cell.reserved_by(&h);
                    if cell.reserve(&h, prior + qty).is_err() {
                        // The plan was made from these very cells: it cannot be short.
                        return Err(StoreError::Conflict(format!(
                            "stock of {sku} in {} moved while routing",
                            part.warehouse
                        )));
                    }
                }
            }
            f.plan.extend(plan.parts.into_iter().map(plan_part));
            f.no_route = None;
            Ok(true)
        }
        Err(no_route) => {
            let why = format!("{no_route:?}");
            f.no_route = Some(why.clone());
            ctx.transition(
                shop,
                order_no,
                f,
                Event::Fault(Exception::OutOfStock),
                Actor::Rule("dispatch".into()),
                why,
            );
            Ok(false)
        }
    }
}

fn plan_part(p: decide::Part) -> PlanPart {
    PlanPart {
        warehouse: p.warehouse,
        lines: p.lines.into_iter().map(|l| (l.sku, l.quantity)).collect(),
        why: p.why,
        delivery_no: None,
    }
}

/// Whether a part of a plan stands: its delivery order is made and neither refused nor
/// cancelled (sent, shipping or shipped). A new plan keeps it; the other parts move.
fn settled(ctx: &Ctx<'_>, part: &PlanPart) -> Result<bool, StoreError> {
    let Some(dn) = &part.delivery_no else {
        return Ok(false);
    };
    let d = ctx.tx.open(DELIVERIES)?.get((ctx.t(), dn.as_str()))?;
    Ok(d.is_some_and(|d| {
        !matches!(
            d.state,
            DeliveryState::Refused { .. } | DeliveryState::Cancelled
        )
    }))
}

/// What a new plan of `f` must place, by SKU: its unshipped lines less what its settled parts
/// carry (positive quantities only).
fn unplaced(ctx: &Ctx<'_>, f: &FulfilmentRecord) -> Result<BTreeMap<String, i64>, StoreError> {
    let mut wanted: BTreeMap<String, i64> = BTreeMap::new();
    for l in &f.lines {
        if let Some(sku) = &l.sku {
            *wanted.entry(sku.clone()).or_default() += l.quantity - l.shipped;
        }
    }
    for part in &f.plan {
        if settled(ctx, part)? {
            for (sku, qty) in &part.lines {
                if let Some(w) = wanted.get_mut(sku) {
                    *w -= qty;
                }
            }
        }
    }
    wanted.retain(|_, q| *q > 0);
    Ok(wanted)
}

/// Whether `f`'s unsettled parts are a person's (a re-route or a split by hand) still waiting
/// for their delivery orders and place exactly its unplaced lines: routing keeps them (their
/// stock is reserved) rather than undoing the person's choice when a held order is approved or
/// released. A part on a refused or cancelled delivery order never stands.
fn hand_plan_stands(ctx: &Ctx<'_>, f: &FulfilmentRecord) -> Result<bool, StoreError> {
    let mut placed: BTreeMap<String, i64> = BTreeMap::new();
    let mut any = false;
    for part in &f.plan {
        if settled(ctx, part)? {
            continue;
        }
        if !part.why.by_hand || part.delivery_no.is_some() {
            return Ok(false);
        }
        any = true;
        for (sku, qty) in &part.lines {
            *placed.entry(sku.clone()).or_default() += qty;
        }
    }
    Ok(any && placed == unplaced(ctx, f)?)
}

/// Releases the reservations of `f`'s parts that are not settled and drops those parts from
/// its plan (a new plan places their lines again).
fn release_unsettled(
    ctx: &mut Ctx<'_>,
    shop: &str,
    order_no: &str,
    f: &mut FulfilmentRecord,
) -> Result<(), StoreError> {
    let mut kept = Vec::new();
    let mut moving = Vec::new();
    for part in std::mem::take(&mut f.plan) {
        if settled(ctx, &part)? {
            kept.push(part);
        } else {
            moving.push(part);
        }
    }
    f.plan = moving;
    release_all(ctx, shop, order_no, f)?;
    f.plan = kept;
    Ok(())
}

/// Releases every reservation of `f`'s plan.
fn release_all(
    ctx: &mut Ctx<'_>,
    shop: &str,
    order_no: &str,
    f: &mut FulfilmentRecord,
) -> Result<(), StoreError> {
    for part in &f.plan {
        let holders = part_holders(shop, order_no, part);
        for (sku, _) in &part.lines {
            let holds = ctx
                .cell(&part.warehouse, sku)?
                .is_some_and(|c| holders.iter().any(|h| c.reserved_by(h) > 0));
            if holds {
                let cell = ctx.cell_mut(&part.warehouse, sku)?;
                for h in &holders {
                    cell.release(h);
                }
            }
        }
    }
    Ok(())
}

/// Puts an allocated order in the merge buffer: with its merge group, or alone (due now).
fn buffer(
    ctx: &mut Ctx<'_>,
    shop: &str,
    order_no: &str,
    f: &FulfilmentRecord,
) -> Result<(), StoreError> {
    let t = ctx.tenant.as_str();
    let alone = format!("~{shop}:{order_no}");
    let key = f.merge_key.clone().unwrap_or(alone);
    let mut buf = ctx.tx.open(MERGE_BUFFER)?;
    let grouped = match buf.keys((t, key.as_str(), "", "")..)?.next() {
        Some(row) => {
            let row = row?;
            let k = row.value();
            k.0 == t && k.1 == key
        }
        None => false,
    };
    if !grouped {
        let window = if f.merge_key.is_some() {
            ctx.settings.merge.window_ms
        } else {
            0
        };
        ctx.tx
            .open(MERGE_DUE)?
            .insert((t, ctx.now.0.saturating_add(window), key.as_str()), &())?;
    }
    buf.insert((t, key.as_str(), shop, order_no), &ctx.now.0)?;
    Ok(())
}

/// Releases the merge groups that are due: each group's orders become delivery orders, one per
/// warehouse, sent to the warehouse's channel.
pub(crate) fn release_due(ctx: &mut Ctx<'_>) -> Result<usize, StoreError> {
    let t = ctx.tenant.as_str().to_owned();
    let due: Vec<(i64, String)> = {
        let table = ctx.tx.open(MERGE_DUE)?;
        let mut out = Vec::new();
        for row in table.keys((t.as_str(), i64::MIN, "")..=(t.as_str(), ctx.now.0, "\u{10ffff}"))? {
            if out.len() >= RELEASE_BATCH_MAX {
                break;
            }
            let row = row?;
            let (_, at, key) = row.value();
            out.push((at, key.to_owned()));
        }
        out
    };
    for (at, key) in &due {
        ctx.tx
            .open(MERGE_DUE)?
            .remove((t.as_str(), *at, key.as_str()))?;
        let members: Vec<(String, String, i64)> = {
            let buf = ctx.tx.open(MERGE_BUFFER)?;
            let mut out = Vec::new();
            for row in buf.range((t.as_str(), key.as_str(), "", "")..)? {
                let row = row?;
                let (rt, rk, shop, no) = row.key();
                if rt != t || rk != key {
                    break;
                }
                out.push((shop.to_owned(), no.to_owned(), row.value));
            }
            out
        };
        ctx.tx.open(MERGE_BUFFER)?.remove_range(
            (t.as_str(), key.as_str(), "", "")
                ..=(t.as_str(), key.as_str(), "\u{10ffff}", "\u{10ffff}"),
        )?;
        let pending: Vec<Pending> = members
            .iter()
            .map(|(shop, no, at)| Pending {
                order_no: holder(shop, no),
                key: Some(key.clone()),
                paid_at: *at,
            })
            .collect();
        // Everything in a due group leaves now; the decision says how it groups.
        let rules = MergeRules {
            window_ms: 0,
            ..ctx.settings.merge.clone()
        };
        for group in decide::release(&pending, &rules, ctx.now.0) {
            let orders: Vec<(String, String)> = group
                .order_nos
                .iter()
                .filter_map(|h| h.split_once(':').map(|(s, o)| (s.to_owned(), o.to_owned())))
                .collect();
            dispatch_group(ctx, &orders)?;
        }
    }
    Ok(due.len())
}

/// Makes the delivery orders of a group of allocated orders (one per warehouse of their plans)
/// and hands each to its warehouse's channel.
fn dispatch_group(ctx: &mut Ctx<'_>, orders: &[(String, String)]) -> Result<(), StoreError> {
    let t = ctx.tenant.as_str().to_owned();
    let mut loaded = Vec::new();
    for (shop, no) in orders {
        let Some(f) = ctx
            .tx
            .open(FULFILMENTS)?
            .get((t.as_str(), shop.as_str(), no.as_str()))?
        else {
            continue;
        };
        // Cancelled or held again while buffered: not sent.
        if f.state != State::Allocated {
            continue;
        }
        let Some(order) = ctx
            .tx
            .open(ORDERS)?
            .get((t.as_str(), shop.as_str(), no.as_str()))?
        else {
            continue;
        };
        loaded.push((shop.clone(), no.clone(), f, order));
    }
    // Per warehouse: its lines from every order of the group.
    let mut by_warehouse: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, (_, _, f, _)) in loaded.iter().enumerate() {
        for part in &f.plan {
            if part.delivery_no.is_none() {
                by_warehouse
                    .entry(part.warehouse.clone())
                    .or_default()
                    .push(i);
            }
        }
    }
    for (warehouse, members) in by_warehouse {
        let delivery_no = next_delivery_no(ctx)?;
        let first = &loaded[members[0]];
        let r = &first.3.order.receiver;
        let receiver = StoredDeliveryReceiver {
            name: r.name.clone().unwrap_or_default(),
            phone: r.phone.clone().unwrap_or_default(),
            province: r.province.clone().unwrap_or_default(),
            city: r.city.clone().unwrap_or_default(),
            district: r.district.clone().unwrap_or_default(),
            address: r.address.clone().unwrap_or_default(),
            zip: r.zip.clone().unwrap_or_default(),
        };
        let mut lines: Vec<DeliveryLineRecord> = Vec::new();
        let mut order_nos = Vec::new();
        for &i in &members {
            let (_, no, f, _) = &loaded[i];
            order_nos.push(no.clone());
            for part in f.plan.iter().filter(|p| p.warehouse == warehouse) {
                for (sku, qty) in &part.lines {
                    let title = f
                        .lines
                        .iter()
                        .find(|l| l.sku.as_deref() == Some(sku))
                        .map(|l| l.title.clone())
                        .unwrap_or_default();
                    match lines.iter_mut().find(|l| &l.sku == sku) {
                        Some(l) => l.quantity += qty,
                        None => lines.push(DeliveryLineRecord {
                            sku: sku.clone(),
                            title,
                            quantity: *qty,
                            shipped: 0,
                        }),
                    }
                }
            }
        }
        let o = &first.3.order;
        let record = DeliveryRecord {
            warehouse: warehouse.clone(),
            shop: first.0.clone(),
            orders: order_nos,
            receiver,
            lines,
            buyer_memo: o.buyer_memo.clone(),
            seller_memo: o.seller_memo.clone(),
            state: DeliveryState::Sending,
            packages: Vec::new(),
            created_at: ctx.now,
            updated_at: ctx.now,
            exception: None,
        };
        for &i in &members {
            let (shop, no, f, _) = &mut loaded[i];
            let (from, to) = (holder(shop, no), delivery_holder(&delivery_no, shop, no));
            for part in f
                .plan
                .iter_mut()
                .filter(|p| p.warehouse == warehouse && p.delivery_no.is_none())
            {
                part.delivery_no = Some(delivery_no.clone());
                // The delivery order holds its own stock from now on.
                for (sku, _) in &part.lines {
                    if ctx
                        .cell(&warehouse, sku)?
                        .is_some_and(|c| c.reserved_by(&from) > 0)
                    {
                        ctx.cell_mut(&warehouse, sku)?.transfer(&from, &to);
                    }
                }
            }
        }
        send_delivery(ctx, &delivery_no, record)?;
    }
    for (shop, no, mut f, _) in loaded {
        let old = f.state;
        // A phone warehouse has it the moment it is made.
        let all_sent = every_part(ctx, &f, |_, r| {
            r.is_some_and(|r| r.state == DeliveryState::Sent)
        })?;
        if all_sent {
            let to = deliveries_text(&f);
            ctx.transition(&shop, &no, &mut f, Event::Send, Actor::Hub, to);
        }
        ctx.save(&shop, &no, Some(old), &f)?;
    }
    Ok(())
}

/// Whether every part of `f`'s plan has a delivery order for which `holds` (given its number
/// and its record, if stored) is true; a part without one is not. A store error fails the step
/// rather than reading as "not yet".
fn every_part(
    ctx: &Ctx<'_>,
    f: &FulfilmentRecord,
    holds: impl Fn(&str, Option<&DeliveryRecord>) -> bool,
) -> Result<bool, StoreError> {
    let deliveries = ctx.tx.open(DELIVERIES)?;
    for part in &f.plan {
        let Some(dn) = &part.delivery_no else {
            return Ok(false);
        };
        let record = deliveries.get((ctx.tenant.as_str(), dn.as_str()))?;
        if !holds(dn, record.as_ref()) {
            return Ok(false);
        }
    }
    Ok(true)
}

fn deliveries_text(f: &FulfilmentRecord) -> String {
    f.plan
        .iter()
        .filter_map(|p| {
            p.delivery_no
                .as_ref()
                .map(|d| format!("{d} → {}", p.warehouse))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The tenant's next delivery number: `DO` and ten digits.
fn next_delivery_no(ctx: &Ctx<'_>) -> Result<String, StoreError> {
    let mut seqs = ctx.tx.open(DELIVERY_SEQS)?;
    let n = seqs.get(ctx.tenant.as_str())?.unwrap_or(0) + 1;
    seqs.insert(ctx.tenant.as_str(), &n)?;
    Ok(format!("DO{n:010}"))
}

/// The wire form of a delivery order.
pub(crate) fn delivery_order(
    delivery_no: &str,
    d: &DeliveryRecord,
) -> Result<DeliveryOrder, StoreError> {
    let bad = |e: xt_shared::ids::IdError| StoreError::Conflict(e.to_string());
    Ok(DeliveryOrder {
        delivery_no: DocNo::new(delivery_no).map_err(bad)?,
        warehouse: WarehouseCode::new(d.warehouse.as_str()).map_err(bad)?,
        shop: DocNo::new(d.shop.as_str()).map_err(bad)?,
        order_nos: d
            .orders
            .iter()
            .map(|o| DocNo::new(o.as_str()))
            .collect::<Result<_, _>>()
            .map_err(bad)?,
        receiver: DeliveryReceiver {
            name: d.receiver.name.clone(),
            phone: d.receiver.phone.clone(),
            province: d.receiver.province.clone(),
            city: d.receiver.city.clone(),
            district: d.receiver.district.clone(),
            address: d.receiver.address.clone(),
            zip: d.receiver.zip.clone(),
        },
        lines: d
            .lines
            .iter()
            .map(|l| {
                Ok(DeliveryLine {
                    sku: Sku::new(l.sku.as_str()).map_err(bad)?,
                    quantity: l.quantity,
                    title: l.title.clone(),
                })
            })
            .collect::<Result<_, StoreError>>()?,
        buyer_memo: d.buyer_memo.clone(),
        seller_memo: d.seller_memo.clone(),
        created_at: d.created_at,
    })
}

/// Stores the delivery order and hands it to its warehouse: a command in the agent's outbox, a
/// call in the 3PL outbox, or (a phone warehouse) straight to the staff's pending list.
fn send_delivery(
    ctx: &mut Ctx<'_>,
    delivery_no: &str,
    mut record: DeliveryRecord,
) -> Result<(), StoreError> {
    let t = ctx.tenant.as_str().to_owned();
    let channel = ctx.warehouse(&record.warehouse).map(|w| w.channel.clone());
    match channel {
        Some(WarehouseChannel::Agent { agent }) => {
            let command =
                AgentCommand::CreateDelivery(Box::new(delivery_order(delivery_no, &record)?));
            commands::enqueue(ctx.tx, ctx.tenant, &agent, &command, ctx.now)?;
            ctx.effects.commands = true;
        }
        Some(WarehouseChannel::Qimen { .. }) => {
            ctx.tx
                .open(TPL_OUTBOX)?
                .insert((t.as_str(), record.warehouse.as_str(), delivery_no), &0)?;
            ctx.effects.tpl = true;
        }
        Some(WarehouseChannel::Phone) => record.state = DeliveryState::Sent,
        None => {
            record.state = DeliveryState::Refused {
                reason: format!("warehouse {} is not configured", record.warehouse),
            }
        }
    }
    ctx.tx
        .open(PENDING_BY_WAREHOUSE)?
        .insert((t.as_str(), record.warehouse.as_str(), delivery_no), &())?;
    ctx.tx
        .open(DELIVERIES)?
        .insert((t.as_str(), delivery_no), &record)?;
    Ok(())
}

/// The warehouse answered about a delivery order: it has it (`Ok`), or refused it. A refusal
/// for want of stock (`out_of_stock`: the phone's report kind, or
/// [`decide::says_out_of_stock`] of the warehouse's words) also tells the ledger that warehouse
/// has none of the delivery's SKUs ([`report_short`]) and routes its orders again
/// ([`reroute_short`]); any other refusal leaves them `warehouse_refused` for a person.
pub(crate) fn delivery_answered(
    ctx: &mut Ctx<'_>,
    delivery_no: &str,
    cancel: bool,
    refused: Option<String>,
    out_of_stock: bool,
) -> Result<(), StoreError> {
    let t = ctx.tenant.as_str().to_owned();
    let Some(mut d) = ctx.tx.open(DELIVERIES)?.get((t.as_str(), delivery_no))? else {
        return Ok(());
    };
    let warehouse = d.warehouse.clone();
    match (cancel, refused) {
        (false, None) => {
            if d.state == DeliveryState::Sending {
                d.state = DeliveryState::Sent;
            }
        }
        (false, Some(reason)) => {
            d.state = DeliveryState::Refused {
                reason: reason.clone(),
            };
            ctx.tx.open(PENDING_BY_WAREHOUSE)?.remove((
                t.as_str(),
                warehouse.as_str(),
                delivery_no,
            ))?;
            if out_of_stock {
                report_short(ctx, delivery_no, &d)?;
            }
        }
        (true, None) => {
            d.state = DeliveryState::Cancelled;
            ctx.tx.open(PENDING_BY_WAREHOUSE)?.remove((
                t.as_str(),
                warehouse.as_str(),
                delivery_no,
            ))?;
        }
        (true, Some(reason)) => d.state = DeliveryState::CancelFailed { reason },
    }
    d.updated_at = ctx.now;
    ctx.tx
        .open(DELIVERIES)?
        .insert((t.as_str(), delivery_no), &d)?;
    for no in d.orders.clone() {
        let key = (t.as_str(), d.shop.as_str(), no.as_str());
        let Some(mut f) = ctx.tx.open(FULFILMENTS)?.get(key)? else {
            continue;
        };
        let old = f.state;
        let actor = Actor::Warehouse(warehouse.clone());
        match &d.state {
            DeliveryState::Sent => {
                let all_sent = every_part(ctx, &f, |dn, r| {
                    dn == delivery_no
                        || r.is_some_and(|r| !matches!(r.state, DeliveryState::Sending))
                })?;
                if all_sent {
                    ctx.transition(
                        &d.shop,
                        &no,
                        &mut f,
                        Event::Send,
                        actor,
                        format!("{delivery_no} accepted"),
                    );
                }
            }
            DeliveryState::Refused { reason } if out_of_stock => {
                let reason = reason.clone();
                reroute_short(ctx, &d.shop, &no, &mut f, &warehouse, &reason)?;
            }
            DeliveryState::Refused { reason } => {
                let reason = reason.clone();
                ctx.transition(&d.shop, &no, &mut f, Event::Refuse, actor, reason);
            }
            DeliveryState::CancelFailed { reason } => {
                let reason = reason.clone();
                f.state = State::Exception(Exception::InterceptFailed);
                f.step(
                    State::Exception(Exception::InterceptFailed),
                    actor,
                    reason,
                    ctx.now,
                );
            }
            _ => {}
        }
        ctx.save(&d.shop, &no, Some(old), &f)?;
    }
    Ok(())
}

/// How long a stock-out report keeps an untracked warehouse (whose stock no WMS reports, so
/// no snapshot ever covers the report) from being chosen for the SKU: a day.
pub const SHORT_UNTRACKED_MS: i64 = 24 * 60 * 60 * 1000;

/// Warehouse `d.warehouse` refused delivery order `delivery_no` for want of stock: its orders'
/// reservations there are released and each of its SKUs is reported short in the ledger
/// ([`Cell::report_short`]), so routing does not choose it for them again until its WMS says
/// otherwise (an untracked warehouse: for [`SHORT_UNTRACKED_MS`]).
fn report_short(
    ctx: &mut Ctx<'_>,
    delivery_no: &str,
    d: &DeliveryRecord,
) -> Result<(), StoreError> {
    let mut gave_up = Vec::new();
    let now = ctx.now.0;
    for line in &d.lines {
        let cell = ctx.cell_mut(&d.warehouse, &line.sku)?;
        for no in &d.orders {
            cell.release(&delivery_holder(delivery_no, &d.shop, no));
            cell.release(&holder(&d.shop, no));
        }
        gave_up.extend(cell.report_short(delivery_no, now).evicted);
    }
    evicted(ctx, &d.warehouse, gave_up)
}

/// `f`'s delivery order at `warehouse` was refused for want of stock (the ledger already says
/// so): the order steps to `warehouse_refused` and is routed again at once, to another
/// warehouse (allocated, "re-routed: … reported out of stock") or, when none has the stock,
/// to out of stock, tried again when stock arrives.
fn reroute_short(
    ctx: &mut Ctx<'_>,
    shop: &str,
    order_no: &str,
    f: &mut FulfilmentRecord,
    warehouse: &str,
    reason: &str,
) -> Result<(), StoreError> {
    let actor = Actor::Warehouse(warehouse.to_owned());
    let refused = format!("{warehouse} reported out of stock: {reason}");
    if !ctx.transition(shop, order_no, f, Event::Refuse, actor, refused)
        || f.state != State::Exception(Exception::WarehouseRefused)
    {
        return Ok(());
    }
    let Some(order) = ctx.tx.open(ORDERS)?.get((ctx.t(), shop, order_no))? else {
        return Ok(());
    };
    let view = order_view(shop, &order);
    if !reserve(ctx, shop, order_no, f, &view)? {
        return Ok(());
    }
    let new: Vec<PlanPart> = f
        .plan
        .iter()
        .filter(|p| p.delivery_no.is_none())
        .cloned()
        .collect();
    let why = format!(
        "re-routed: {warehouse} reported out of stock; {}",
        plan_text(&new)
    );
    let dispatcher = Actor::Rule("dispatch".into());
    ctx.transition(shop, order_no, f, Event::Reroute, dispatcher, why);
    buffer(ctx, shop, order_no, f)
}

/// Cancels `f`: its stock released, its delivery orders intercepted.
pub(crate) fn cancel_order(
    ctx: &mut Ctx<'_>,
    shop: &str,
    order_no: &str,
    f: &mut FulfilmentRecord,
    actor: Actor,
    reason: &str,
) -> Result<(), StoreError> {
    if f.state.is_final() || f.state == State::Exception(Exception::InterceptFailed) {
        return Ok(());
    }
    let t = ctx.tenant.as_str().to_owned();
    // Out of the merge buffer if it is still there.
    let key = f
        .merge_key
        .clone()
        .unwrap_or_else(|| format!("~{shop}:{order_no}"));
    ctx.tx
        .open(MERGE_BUFFER)?
        .remove((t.as_str(), key.as_str(), shop, order_no))?;
    if matches!(f.state, State::PartlyShipped | State::Shipped) {
        ctx.transition(
            shop,
            order_no,
            f,
            Event::Cancel,
            actor,
            format!("{reason}; already shipped"),
        );
        return Ok(());
    }
    release_all(ctx, shop, order_no, f)?;
    for part in f.plan.clone() {
        let Some(dn) = part.delivery_no else { continue };
        let Some(mut d) = ctx.tx.open(DELIVERIES)?.get((t.as_str(), dn.as_str()))? else {
            continue;
        };
        if !d.state.pending() {
            continue;
        }
        let channel = ctx.warehouse(&d.warehouse).map(|w| w.channel.clone());
        match channel {
            Some(WarehouseChannel::Agent { agent }) => {
                let command = AgentCommand::CancelDelivery {
                    delivery_no: DocNo::new(dn.as_str())
                        .map_err(|e| StoreError::Conflict(e.to_string()))?,
                    warehouse: WarehouseCode::new(d.warehouse.as_str())
                        .map_err(|e| StoreError::Conflict(e.to_string()))?,
                    reason: reason.to_owned(),
                };
                commands::enqueue(ctx.tx, ctx.tenant, &agent, &command, ctx.now)?;
                ctx.effects.commands = true;
                d.state = DeliveryState::Cancelling;
            }
            Some(WarehouseChannel::Qimen { .. }) => {
                ctx.tx
                    .open(TPL_OUTBOX)?
                    .insert((t.as_str(), d.warehouse.as_str(), dn.as_str()), &1)?;
                ctx.effects.tpl = true;
                d.state = DeliveryState::Cancelling;
            }
            _ => {
                d.state = DeliveryState::Cancelled;
                ctx.tx.open(PENDING_BY_WAREHOUSE)?.remove((
                    t.as_str(),
                    d.warehouse.as_str(),
                    dn.as_str(),
                ))?;
            }
        }
        d.updated_at = ctx.now;
        ctx.tx
            .open(DELIVERIES)?
            .insert((t.as_str(), dn.as_str()), &d)?;
    }
    ctx.transition(shop, order_no, f, Event::Cancel, actor, reason.to_owned());
    Ok(())
}

/// A confirmed package of a delivery order: from the agent's WMS, a 3PL or a phone.
#[derive(Debug, Clone)]
pub struct Confirmed {
    /// The confirmation's own idempotency key.
    pub key: String,
    pub delivery_no: String,
    pub carrier: String,
    pub tracking_no: String,
    /// (sku, quantity); empty = every line not shipped yet.
    pub lines: Vec<(String, i64)>,
    pub shipped_at: UtcMillis,
    /// Whether the warehouse says this is the last package.
    pub last: bool,
}

/// Applies a confirmed package: idempotent by its key; the delivery's lines, each order's
/// state, the ledger's reservations (consumed) and the write-back queue move in one step.
/// `Ok(false)` when the key was applied before or the delivery is unknown.
pub(crate) fn shipped(ctx: &mut Ctx<'_>, c: Confirmed, actor: Actor) -> Result<bool, StoreError> {
    let t = ctx.tenant.as_str().to_owned();
    let key = format!("{}/{}", c.delivery_no, c.key);
    if ctx
        .tx
        .open(SHIPMENT_KEYS)?
        .contains((t.as_str(), key.as_str()))?
    {
        return Ok(false);
    }
    let Some(mut d) = ctx
        .tx
        .open(DELIVERIES)?
        .get((t.as_str(), c.delivery_no.as_str()))?
    else {
        return Ok(false);
    };
    ctx.tx
        .open(SHIPMENT_KEYS)?
        .insert((t.as_str(), key.as_str()), &())?;
    let lines: Vec<(String, i64)> = if c.lines.is_empty() {
        d.lines
            .iter()
            .map(|l| (l.sku.clone(), l.quantity - l.shipped))
            .filter(|(_, q)| *q > 0)
            .collect()
    } else {
        c.lines.clone()
    };
    for (sku, qty) in &lines {
        if let Some(l) = d.lines.iter_mut().find(|l| &l.sku == sku) {
            l.shipped += qty;
        }
    }
    let complete = c.last || d.lines.iter().all(|l| l.shipped >= l.quantity);
    let was_cancelled = matches!(
        d.state,
        DeliveryState::Cancelling | DeliveryState::Cancelled
    );
    d.state = if was_cancelled {
        DeliveryState::CancelFailed {
            reason: "shipped before the cancel reached the warehouse".into(),
        }
    } else if complete {
        DeliveryState::Shipped
    } else {
        DeliveryState::PartlyShipped
    };
    if complete || was_cancelled {
        ctx.tx.open(PENDING_BY_WAREHOUSE)?.remove((
            t.as_str(),
            d.warehouse.as_str(),
            c.delivery_no.as_str(),
        ))?;
    }
    // A parcel reported one row per line (a WMS table) is one package: its write-back (the
    // whole order's tracking) goes once, not once per line.
    let same_parcel = d
        .packages
        .iter_mut()
        .find(|p| p.carrier == c.carrier && p.tracking_no == c.tracking_no);
    let new_parcel = same_parcel.is_none();
    match same_parcel {
        Some(p) => {
            for (sku, qty) in &lines {
                match p.lines.iter_mut().find(|(s, _)| s == sku) {
                    Some((_, q)) => *q += qty,
                    None => p.lines.push((sku.clone(), *qty)),
                }
            }
        }
        None => d.packages.push(Package {
            key: c.key.clone(),
            carrier: c.carrier.clone(),
            tracking_no: c.tracking_no.clone(),
            lines: lines.clone(),
            shipped_at: c.shipped_at,
            write_back: WriteBack::Pending {
                attempts: 0,
                last_error: None,
            },
        }),
    }
    d.updated_at = ctx.now;
    let mut orders = Vec::new();
    for no in d.orders.clone() {
        let okey = (t.as_str(), d.shop.as_str(), no.as_str());
        if let Some(f) = ctx.tx.open(FULFILMENTS)?.get(okey)? {
            orders.push((no, f));
        }
    }
    // The ledger: every unit of the package leaves once. Each order takes its share from what
    // its holder on this delivery order holds, in the delivery's order of orders; what is
    // left (more than was reserved, an untracked warehouse) counts against the last order.
    let mut gave_up = Vec::new();
    {
        for (sku, qty) in &lines {
            let cell = ctx.cell_mut(&d.warehouse, sku)?;
            let mut left = *qty;
            for (i, (no, f)) in orders.iter().enumerate() {
                let h = shipping_holder(cell, &c.delivery_no, &d, no, f);
                let share = if i + 1 == orders.len() {
                    left
                } else {
                    left.min(cell.reserved_by(&h))
                };
                if share <= 0 {
                    continue;
                }
                left -= share;
                let shipped = cell.ship(&format!("{key}/{no}"), &h, share, c.shipped_at.0);
                gave_up.extend(shipped.evicted);
            }
        }
    }
    // The orders: each one's share of the shipped lines, in the delivery's order of orders.
    let mut left: BTreeMap<String, i64> = lines.iter().cloned().collect();
    for (no, mut f) in orders {
        let old = f.state;
        for line in f.lines.iter_mut() {
            let Some(sku) = line.sku.clone() else {
                continue;
            };
            let Some(avail) = left.get_mut(&sku) else {
                continue;
            };
            let take = (*avail).min(line.quantity - line.shipped).max(0);
            *avail -= take;
            line.shipped += take;
        }
        let all = f.lines.iter().all(|l| l.shipped >= l.quantity);
        let event = if all { Event::ShipAll } else { Event::ShipPart };
        let why = format!("{} {} {}", c.delivery_no, c.carrier, c.tracking_no);
        ctx.transition(&d.shop, &no, &mut f, event, actor.clone(), why);
        ctx.save(&d.shop, &no, Some(old), &f)?;
    }
    let warehouse = d.warehouse.clone();
    evicted(ctx, &warehouse, gave_up)?;
    if new_parcel {
        ctx.tx.open(WRITEBACKS_DUE)?.insert(
            (
                t.as_str(),
                ctx.now.0,
                c.delivery_no.as_str(),
                c.key.as_str(),
            ),
            &WriteBackDue { attempts: 0 },
        )?;
        ctx.effects.writebacks = true;
    }
    ctx.tx
        .open(DELIVERIES)?
        .insert((t.as_str(), c.delivery_no.as_str()), &d)?;
    Ok(true)
}

/// The holder a package of delivery order `delivery_no` ships against for order `order_no`:
/// the delivery order's own ([`delivery_holder`]); in a ledger written before delivery orders
/// held their own, the order's, when it holds the stock and no part of the order at that
/// warehouse is still waiting for its delivery order.
fn shipping_holder(
    cell: &Cell,
    delivery_no: &str,
    d: &DeliveryRecord,
    order_no: &str,
    f: &FulfilmentRecord,
) -> String {
    let own = delivery_holder(delivery_no, &d.shop, order_no);
    let order = holder(&d.shop, order_no);
    let waiting = f
        .plan
        .iter()
        .any(|p| p.warehouse == d.warehouse && p.delivery_no.is_none());
    if cell.reserved_by(&own) == 0 && cell.reserved_by(&order) > 0 && !waiting {
        order
    } else {
        own
    }
}

/// A WMS stock snapshot of (warehouse, sku) at source version `version`.
pub(crate) fn stock_snapshot(
    ctx: &mut Ctx<'_>,
    warehouse: &str,
    sku: &str,
    on_hand: i64,
    version: i64,
) -> Result<bool, StoreError> {
    let effect = ctx
        .cell_mut(warehouse, sku)?
        .snapshot(on_hand, version, version);
    evicted(ctx, warehouse, effect.evicted)?;
    Ok(!effect.stale)
}

/// A WMS stock movement.
pub(crate) fn stock_movement(
    ctx: &mut Ctx<'_>,
    warehouse: &str,
    sku: &str,
    movement_no: &str,
    delta: i64,
    kind: MovementKind,
    occurred_at: i64,
) -> Result<(), StoreError> {
    let effect = ctx
        .cell_mut(warehouse, sku)?
        .movement(movement_no, delta, occurred_at, kind);
    evicted(ctx, warehouse, effect.evicted)
}

/// Orders whose reservations the ledger gave up (on hand fell below what was reserved): out of
/// stock until stock arrives, unless they were already at the warehouse.
fn evicted(
    ctx: &mut Ctx<'_>,
    warehouse: &str,
    holders: Vec<(String, i64)>,
) -> Result<(), StoreError> {
    for (h, _) in holders {
        let Some((shop, no)) = holder_order(&h) else {
            continue;
        };
        let key = (ctx.tenant.as_str(), shop, no);
        let Some(mut f) = ctx.tx.open(FULFILMENTS)?.get(key)? else {
            continue;
        };
        if f.state.at_warehouse() {
            continue;
        }
        let old = f.state;
        if matches!(f.state, State::Allocated | State::Held | State::Review) {
            release_all(ctx, shop, no, &mut f)?;
            f.plan.clear();
            let why = format!("stock in {warehouse} fell below what was reserved");
            f.step(
                State::Exception(Exception::OutOfStock),
                Actor::Warehouse(warehouse.to_owned()),
                why.clone(),
                ctx.now,
            );
            ctx.effects.log.push(LogEntry::Fulfilment(FulfilmentLogged {
                tenant: ctx.tenant.clone(),
                shop: shop.to_owned(),
                order_no: no.to_owned(),
                from: old.as_str().to_owned(),
                to: f.state.as_str().to_owned(),
                actor: format!("warehouse:{warehouse}"),
                reason: why,
                at: ctx.now,
            }));
            ctx.save(shop, no, Some(old), &f)?;
        }
    }
    Ok(())
}

/// Tries the oldest out-of-stock orders again (stock may have arrived).
pub(crate) fn retry_out_of_stock(ctx: &mut Ctx<'_>) -> Result<usize, StoreError> {
    let t = ctx.tenant.as_str().to_owned();
    let waiting: Vec<(String, String)> = {
        let table = ctx.tx.open(OUT_OF_STOCK)?;
        let mut out = Vec::new();
        for row in table.keys((t.as_str(), "", "")..)? {
            let row = row?;
            let (rt, shop, no) = row.value();
            if rt != t || out.len() >= RETRY_BATCH_MAX {
                break;
            }
            out.push((shop.to_owned(), no.to_owned()));
        }
        out
    };
    let mut moved = 0;
    for (shop, no) in &waiting {
        let Some(mut f) =
            ctx.tx
                .open(FULFILMENTS)?
                .get((t.as_str(), shop.as_str(), no.as_str()))?
        else {
            continue;
        };
        let Some(order) = ctx
            .tx
            .open(ORDERS)?
            .get((t.as_str(), shop.as_str(), no.as_str()))?
        else {
            continue;
        };
        let old = f.state;
        let view = order_view(shop, &order);
        // Quietly: a retry that finds no stock again is not a new step (and wrote nothing).
        let before = ctx.effects.log.len();
        let mut trial = f.clone();
        ctx.transition(
            shop,
            no,
            &mut trial,
            Event::Review,
            Actor::Hub,
            "stock arrived",
        );
        review_and_reserve(ctx, shop, no, &mut trial, &view)?;
        if trial.state == State::Exception(Exception::OutOfStock) {
            ctx.effects.log.truncate(before);
            continue;
        }
        f = trial;
        ctx.save(shop, no, Some(old), &f)?;
        moved += 1;
    }
    Ok(moved)
}

/// The decisions' coverage of a warehouse, from the API's lists.
pub fn coverage(provinces: Vec<String>, cities: Vec<String>) -> Coverage {
    Coverage { provinces, cities }
}

/// Writes `f` (see [`Ctx::save`]).
pub(crate) fn save(
    ctx: &Ctx<'_>,
    shop: &str,
    order_no: &str,
    old: Option<State>,
    f: &FulfilmentRecord,
) -> Result<(), StoreError> {
    ctx.save(shop, order_no, old, f)
}

/// Places `f`'s unplaced lines ([`unplaced`]) on `warehouse` by hand: see [`place_by_hand`].
pub(crate) fn reroute(
    ctx: &mut Ctx<'_>,
    shop: &str,
    order_no: &str,
    f: &mut FulfilmentRecord,
    warehouse: &str,
    actor: Actor,
) -> Result<Result<(), String>, StoreError> {
    let wanted = unplaced(ctx, f)?;
    let (priority, cost_minor) = ctx
        .warehouse(warehouse)
        .map_or((0, 0), |w| (w.priority, w.cost_minor));
    let why = Explanation {
        warehouse: warehouse.to_owned(),
        matched: decide::Matched::Everywhere,
        designated: Vec::new(),
        by_hand: true,
        lines_held: wanted.len() as u32,
        lines_total: wanted.len() as u32,
        split_skus: Vec::new(),
        priority,
        cost_minor,
        rejected: Vec::new(),
    };
    let part = decide::Part {
        warehouse: warehouse.to_owned(),
        lines: wanted
            .into_iter()
            .map(|(sku, quantity)| Line { sku, quantity })
            .collect(),
        why,
    };
    let text = format!("re-routed to {warehouse}");
    place_by_hand(ctx, shop, order_no, f, vec![part], actor, text)
}

/// Splits `f`'s unplaced lines ([`unplaced`]) across warehouses as a person assigned them
/// ([`decide::split_by_hand`]): see [`place_by_hand`]. `Ok(Err(why))` when the assignment does
/// not add up to the order or a warehouse is short; nothing changed.
pub(crate) fn split(
    ctx: &mut Ctx<'_>,
    shop: &str,
    order_no: &str,
    f: &mut FulfilmentRecord,
    assignment: &[decide::Assignment],
    by: &str,
) -> Result<Result<(), String>, StoreError> {
    let lines: Vec<Line> = unplaced(ctx, f)?
        .into_iter()
        .map(|(sku, quantity)| Line { sku, quantity })
        .collect();
    let parts = match decide::split_by_hand(&lines, assignment, &route_warehouses(ctx)) {
        Ok(parts) => parts,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let text = format!(
        "split by hand by {by}: {}",
        parts
            .iter()
            .map(|p| {
                let lines = p
                    .lines
                    .iter()
                    .map(|l| format!("{}×{}", l.sku, l.quantity))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("{} ({lines})", p.warehouse)
            })
            .collect::<Vec<_>>()
            .join("; ")
    );
    place_by_hand(
        ctx,
        shop,
        order_no,
        f,
        parts,
        Actor::User(by.to_owned()),
        text,
    )
}

/// Puts `f`'s unplaced lines on `parts` a person chose: every tracked warehouse must hold its
/// part (what this order holds there counts as its own), else `Ok(Err(why))` naming the
/// warehouse, the SKU and what it holds, and nothing changed. Otherwise the order's unsettled
/// reservations move to the parts, the plan keeps its settled parts and gains these, and the
/// order steps (held stays held; otherwise allocated, into the merge buffer) with `text`.
fn place_by_hand(
    ctx: &mut Ctx<'_>,
    shop: &str,
    order_no: &str,
    f: &mut FulfilmentRecord,
    parts: Vec<decide::Part>,
    actor: Actor,
    text: String,
) -> Result<Result<(), String>, StoreError> {
    let h = holder(shop, order_no);
    let untracked: std::collections::BTreeSet<String> = ctx
        .warehouses
        .iter()
        .filter(|(_, w)| !w.stock_tracked)
        .map(|(code, _)| code.clone())
        .collect();
    let tracked = |w: &str| !untracked.contains(w);
    // What this order's moving parts hold, per warehouse: theirs to take again.
    let mut own: BTreeMap<&str, std::collections::BTreeSet<String>> = BTreeMap::new();
    for part in &f.plan {
        if !settled(ctx, part)? {
            own.entry(part.warehouse.as_str())
                .or_default()
                .extend(part_holders(shop, order_no, part));
        }
    }
    {
        for part in parts.iter().filter(|p| tracked(&p.warehouse)) {
            for l in &part.lines {
                let empty = Cell::default();
                let cell = ctx.cell(&part.warehouse, &l.sku)?.unwrap_or(&empty);
                let mine: i64 = own
                    .get(part.warehouse.as_str())
                    .into_iter()
                    .flatten()
                    .map(|h| cell.reserved_by(h))
                    .sum();
                let can = cell.available() + mine;
                if can < l.quantity {
                    return Ok(Err(format!(
                        "{} holds {} of {} available, {} asked",
                        part.warehouse,
                        can.max(0),
                        l.sku,
                        l.quantity
                    )));
                }
            }
        }
    }
    release_unsettled(ctx, shop, order_no, f)?;
    for part in parts.iter().filter(|p| tracked(&p.warehouse)) {
        for l in &part.lines {
            let cell = ctx.cell_mut(&part.warehouse, &l.sku)?;
            let prior = cell.reserved_by(&h);
            cell.reserve(&h, prior + l.quantity).map_err(|_| {
                StoreError::Conflict(format!("stock of {} in {} moved", l.sku, part.warehouse))
            })?;
        }
    }
    f.plan.extend(parts.into_iter().map(plan_part));
    f.no_route = None;
    if f.state == State::Held {
        ctx.transition(shop, order_no, f, Event::Hold, actor, text);
        return Ok(Ok(()));
    }
    ctx.transition(
        shop,
        order_no,
        f,
        Event::Reroute,
        actor.clone(),
        text.clone(),
    );
    if f.state != State::Allocated {
        ctx.transition(shop, order_no, f, Event::Allocate, actor, text);
    }
    buffer(ctx, shop, order_no, f)?;
    Ok(Ok(()))
}

/// A page of one state's orders: (shop, order no, record).
pub type FulfilmentRow = (String, String, FulfilmentRecord);

impl crate::store::Store {
    /// Runs fulfilment for `tenant` until its log is read through and nothing is due (tests and
    /// tools; the served hub's worker does this through the pipeline, which also wakes).
    pub fn fulfilment_step(
        &self,
        tenant: &TenantId,
        now: UtcMillis,
    ) -> Result<super::intake::Worked, StoreError> {
        let mut all = super::intake::Worked::default();
        loop {
            let (w, _) = crate::ingest::commit(self, super::intake::Tail { tenant }, now)?;
            all.entries += w.entries;
            all.released += w.released;
            all.commands |= w.commands;
            all.tpl |= w.tpl;
            all.writebacks |= w.writebacks;
            if !w.more && w.released < RELEASE_BATCH_MAX {
                return Ok(all);
            }
        }
    }

    /// Creates or replaces warehouse `code` of `tenant`.
    pub fn put_warehouse(
        &self,
        tenant: &TenantId,
        code: &str,
        record: &WarehouseRecord,
    ) -> Result<(), StoreError> {
        let tx = self.write()?;
        tx.open(WAREHOUSES)?
            .insert((tenant.as_str(), code), record)?;
        tx.commit()
    }

    /// Every warehouse of `tenant`, by code.
    pub fn warehouses(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<(String, WarehouseRecord)>, StoreError> {
        let tx = self.read()?;
        let t = tenant.as_str();
        let mut out = Vec::new();
        for row in tx.open(WAREHOUSES)?.range((t, "")..)? {
            let row = row?;
            if row.key().0 != t {
                break;
            }
            out.push((row.key().1.to_owned(), row.value));
        }
        Ok(out)
    }

    /// The tenant's fulfilment settings (defaults until set).
    pub fn fulfilment_settings(&self, tenant: &TenantId) -> Result<SettingsRecord, StoreError> {
        Ok(self
            .read()?
            .open(SETTINGS)?
            .get(tenant.as_str())?
            .unwrap_or_default())
    }

    pub fn put_fulfilment_settings(
        &self,
        tenant: &TenantId,
        settings: &SettingsRecord,
    ) -> Result<(), StoreError> {
        let tx = self.write()?;
        tx.open(SETTINGS)?.insert(tenant.as_str(), settings)?;
        tx.commit()
    }

    /// One order's fulfilment.
    pub fn fulfilment(
        &self,
        tenant: &TenantId,
        shop: &str,
        order_no: &str,
    ) -> Result<Option<FulfilmentRecord>, StoreError> {
        self.read()?
            .open(FULFILMENTS)?
            .get((tenant.as_str(), shop, order_no))
    }

    /// One delivery order.
    pub fn delivery(
        &self,
        tenant: &TenantId,
        delivery_no: &str,
    ) -> Result<Option<DeliveryRecord>, StoreError> {
        self.read()?
            .open(DELIVERIES)?
            .get((tenant.as_str(), delivery_no))
    }

    /// How many orders are in each state (states with none left out).
    pub fn fulfilment_counts(&self, tenant: &TenantId) -> Result<Vec<(State, u64)>, StoreError> {
        let tx = self.read()?;
        let counts = tx.open(STATE_COUNTS)?;
        let mut out = Vec::new();
        for state in State::ALL {
            let n = counts.get((tenant.as_str(), state.as_str()))?.unwrap_or(0);
            if n > 0 {
                out.push((state, n));
            }
        }
        Ok(out)
    }

    /// Up to `limit` orders in `state` after (shop, order no) `after`, in key order.
    pub fn fulfilments_in(
        &self,
        tenant: &TenantId,
        state: State,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<FulfilmentRow>, StoreError> {
        let tx = self.read()?;
        let t = tenant.as_str();
        let s = state.as_str();
        let (a_shop, a_no) = after.unwrap_or(("", ""));
        let index = tx.open(BY_STATE)?;
        let records = tx.open(FULFILMENTS)?;
        let mut out = Vec::new();
        for row in index.keys((t, s, a_shop, a_no)..)? {
            let row = row?;
            let (rt, rs, shop, no) = row.value();
            if rt != t || rs != s || out.len() >= limit {
                break;
            }
            if after == Some((shop, no)) {
                continue;
            }
            if let Some(f) = records.get((t, shop, no))? {
                out.push((shop.to_owned(), no.to_owned(), f));
            }
        }
        Ok(out)
    }

    /// Up to `limit` delivery orders of `warehouse` still to ship, after `after`.
    pub fn deliveries_pending(
        &self,
        tenant: &TenantId,
        warehouse: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, DeliveryRecord)>, StoreError> {
        let tx = self.read()?;
        let t = tenant.as_str();
        let index = tx.open(PENDING_BY_WAREHOUSE)?;
        let records = tx.open(DELIVERIES)?;
        let mut out = Vec::new();
        for row in index.keys((t, warehouse, after.unwrap_or(""))..)? {
            let row = row?;
            let (rt, w, no) = row.value();
            if rt != t || w != warehouse || out.len() >= limit {
                break;
            }
            if after == Some(no) {
                continue;
            }
            if let Some(d) = records.get((t, no))? {
                out.push((no.to_owned(), d));
            }
        }
        Ok(out)
    }

    /// The ledger cell of (warehouse, sku).
    pub fn ledger_cell(
        &self,
        tenant: &TenantId,
        warehouse: &str,
        sku: &str,
    ) -> Result<Cell, StoreError> {
        Ok(self
            .read()?
            .open(LEDGER)?
            .get((tenant.as_str(), warehouse, sku))?
            .unwrap_or_default())
    }
}
