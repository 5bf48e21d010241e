//! Sales-platform orders and refunds captured from bound shops, with per-field provenance; the
//! SKU mapping table, members (buyer identities linked across channels), each shop's capture
//! state (durable cursors, counters) and its capture errors (malformed payloads with reasons).
//!
//! Everything a shop sends goes through [`Store::apply_shop_items`], the shop's counterpart of
//! `apply_batch`: one write transaction reduces the items into the tables, appends the applied
//! ones to the change log under `Origin::Shop` and counts them. Orders are idempotent by
//! (shop, platform order no); an order whose platform `modified` is older than the stored one
//! never overwrites it, so pages repeated, webhooks duplicated and events out of order converge.
//!
//! The decisions are pure functions beside this file: [`decide`] (stale, duplicate or applied;
//! provenance; hold reason; capture errors), [`skus`] (a line's SKU, mapping keys), [`members`]
//! (which member a buyer is). Here are the records, the tables and the transactions that load
//! the state those need, call them and write what they return.

use crate::shops::channels::Captured;
use crate::stock::store::{STOCK, StockRecord};
use crate::store::codec::{self, Record};
use crate::store::table::{Table, WriteRows, WriteTx};
use crate::store::{LogEntry, LoggedBatch, Store, StoreError, dashboard};
use decide::{Applying, OrderWrite, Verdict};
use serde::{Deserialize, Serialize};
use skus::SkuSource;

pub use super::records::{OrderRecord, RefundRecord};
use super::records::{OrderRecordRef, RefundRecordRef};
use std::ops::Bound;
use xt_shared::change::{Body, Origin, SourceChange};
use xt_shared::ids::{DocNo, TenantId};
use xt_shared::model::UtcMillis;
use xt_shared::order::{Platform, StandardOrder, StandardRefund};

use super::{decide, members, skus};

/// Key: (tenant, shop, platform order no).
pub(crate) const ORDERS: Table<(&str, &str, &str), OrderRecord> = Table::new("orders");
/// Key: (tenant, platform modified ms, shop, order no): the listing order.
pub(crate) const ORDERS_BY_MODIFIED: Table<(&str, i64, &str, &str), ()> =
    Table::new("orders_by_modified");
/// Key: (tenant, shop, order no) of orders held (an unmapped line).
pub(crate) const HELD: Table<(&str, &str, &str), ()> = Table::new("orders_held");
/// Key: (tenant, shop, refund id).
pub(crate) const REFUNDS: Table<(&str, &str, &str), RefundRecord> = Table::new("refunds");
/// Key: (tenant, shop, order no, refund id).
pub(crate) const REFUNDS_BY_ORDER: Table<(&str, &str, &str, &str), ()> =
    Table::new("refunds_by_order");
/// Key: (tenant, platform, "id" | "code", value) → mapping.
pub(crate) const SKU_MAPS: Table<(&str, &str, &str, &str), SkuMapping> = Table::new("sku_mappings");
/// Key: (tenant, mapping id) → the mapping's key in [`SKU_MAPS`] (platform, kind, value), as
/// postcard bytes of the three strings (no version byte: not a record).
pub(crate) const SKU_MAP_IDS: Table<(&str, &str), Vec<u8>> = Table::new("sku_mapping_ids");
/// Key: (tenant, scope, kind, value) → member id. The scope is the shop for ids a platform
/// issues per shop or app (open uid, customer id), `*` for a hashed email (the same person
/// everywhere).
pub(crate) const IDENTITIES: Table<(&str, &str, &str, &str), String> =
    Table::new("member_identities");
/// Key: (tenant, member id).
pub(crate) const MEMBERS: Table<(&str, &str), MemberRecord> = Table::new("members");
/// Key: (tenant, member id, shop, order no).
pub(crate) const MEMBER_ORDERS: Table<(&str, &str, &str, &str), ()> = Table::new("member_orders");
/// Key: (tenant, shop) → [`CaptureState`].
pub(crate) const CAPTURE: Table<(&str, &str), CaptureState> = Table::new("shop_capture");
/// Key: (tenant, shop, error no).
pub(crate) const CAPTURE_ERRORS: Table<(&str, &str, u64), CaptureErrorRecord> =
    Table::new("capture_errors");

/// Key: (tenant, shop, SHA-256 of the raw payload) of capture errors recorded: the same bad
/// payload fetched again by the next overlapping poll is not recorded twice.
pub(crate) const CAPTURE_ERROR_SEEN: Table<(&str, &str, &[u8]), ()> =
    Table::new("capture_error_seen");

pub(crate) fn create_tables(tx: &WriteTx) -> Result<(), StoreError> {
    tx.open(ORDERS)?;
    tx.open(ORDERS_BY_MODIFIED)?;
    tx.open(HELD)?;
    tx.open(REFUNDS)?;
    tx.open(REFUNDS_BY_ORDER)?;
    tx.open(SKU_MAPS)?;
    tx.open(SKU_MAP_IDS)?;
    tx.open(IDENTITIES)?;
    tx.open(MEMBERS)?;
    tx.open(MEMBER_ORDERS)?;
    tx.open(CAPTURE)?;
    tx.open(CAPTURE_ERRORS)?;
    tx.open(CAPTURE_ERROR_SEEN)?;
    Ok(())
}

/// Who last set one field group of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// `status`, `buyer`, `receiver`, `amounts`, `times`, `memos`, `flags`, `lines[i]`.
    pub field: String,
    pub origin: String,
    pub version: i64,
    pub at: UtcMillis,
}

/// An order as captured, with what the hub adds (provenance, SKUs, hold, member): what the
/// decisions and the API work with. Stored as an [`OrderRecord`] (see [`super::records`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedOrder {
    pub shop: String,
    pub order: StandardOrder,
    pub provenance: Vec<Provenance>,
    /// The internal SKU of each line, `None` while unmapped.
    pub internal_skus: Vec<Option<String>>,
    /// Why the order is held, if it is.
    pub held: Option<String>,
    pub member: Option<String>,
    pub first_seen: UtcMillis,
    pub updated_at: UtcMillis,
}

impl CapturedOrder {
    /// The order's version: its platform `modified`, in ms.
    pub fn version(&self) -> i64 {
        self.order.times.modified.0
    }
}

/// A refund as captured, with its origin. Stored as a [`RefundRecord`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedRefund {
    pub refund: StandardRefund,
    pub origin: String,
    pub updated_at: UtcMillis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkuMapping {
    pub id: String,
    #[serde(with = "crate::store::enums::platform")]
    pub platform: Platform,
    pub platform_sku_id: Option<String>,
    pub merchant_sku: Option<String>,
    pub sku: String,
    pub created_at: UtcMillis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    #[serde(with = "crate::store::enums::platform")]
    pub platform: Platform,
    /// The shop id, or `*` for identities that hold across shops (hashed email).
    pub scope: String,
    /// `open_uid`, `customer_id`, `email_sha256`.
    pub kind: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRecord {
    pub id: String,
    pub identities: Vec<Identity>,
    pub first_seen: UtcMillis,
    pub last_seen: UtcMillis,
}

/// A shop's capture state: the per-origin seq of its changes, its durable cursors and counters.
/// Orders and refunds are fetched apart (one failing never stops the other), so each has its
/// own cursor, backfill position and health; the orders' health is the shop's `health`.
///
/// Stored as version [`CAPTURE_STATE_V2`]; version 1 records (without the refund backfill
/// position and health) still read ([`CaptureStateV1`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureState {
    pub seq: u64,
    /// Orders with platform `modified` up to here are applied.
    pub orders_cursor: Option<UtcMillis>,
    pub refunds_cursor: Option<UtcMillis>,
    /// A backfill asked for and not finished: (to, where the orders' next window starts).
    pub backfill: Option<(UtcMillis, UtcMillis)>,
    pub orders: u64,
    pub held: u64,
    pub refunds: u64,
    pub capture_errors: u64,
    pub stale: u64,
    pub duplicates: u64,
    pub last_applied_at: Option<UtcMillis>,
    /// Where the backfill's refunds' next window starts, while `backfill` is set.
    pub refunds_backfill: Option<UtcMillis>,
    /// The refund stream's health (a refund endpoint may fail while orders are captured).
    pub refunds_health: StreamHealth,
}

/// The health of one stream of a shop's capture.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamHealth {
    pub last_poll_ok_at: Option<UtcMillis>,
    /// How far the stream's cursor is behind the poll, in milliseconds.
    pub capture_lag_ms: Option<i64>,
    pub error_count: Option<u64>,
    /// A short, sanitized reason (never a platform's body).
    pub last_error: Option<String>,
}

/// The version byte of [`CaptureState`] records; version 1 is [`CaptureStateV1`].
pub const CAPTURE_STATE_V2: u8 = 2;

/// [`CaptureState`] as hubs before separate refund health stored it (version 1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureStateV1 {
    pub seq: u64,
    pub orders_cursor: Option<UtcMillis>,
    pub refunds_cursor: Option<UtcMillis>,
    pub backfill: Option<(UtcMillis, UtcMillis)>,
    pub orders: u64,
    pub held: u64,
    pub refunds: u64,
    pub capture_errors: u64,
    pub stale: u64,
    pub duplicates: u64,
    pub last_applied_at: Option<UtcMillis>,
}

impl From<CaptureStateV1> for CaptureState {
    fn from(v1: CaptureStateV1) -> CaptureState {
        CaptureState {
            seq: v1.seq,
            orders_cursor: v1.orders_cursor,
            refunds_cursor: v1.refunds_cursor,
            // A backfill under way went both streams' way from one position.
            refunds_backfill: v1.backfill.map(|(_, next)| next),
            backfill: v1.backfill,
            orders: v1.orders,
            held: v1.held,
            refunds: v1.refunds,
            capture_errors: v1.capture_errors,
            stale: v1.stale,
            duplicates: v1.duplicates,
            last_applied_at: v1.last_applied_at,
            refunds_health: StreamHealth::default(),
        }
    }
}

impl Record for CaptureState {
    const NAME: &'static str = "shop_capture";
    const VERSION: u8 = CAPTURE_STATE_V2;
    fn read_older(version: u8, payload: &[u8]) -> Option<Result<Self, postcard::Error>> {
        match version {
            1 => codec::older::<CaptureStateV1, _>(payload),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureErrorRecord {
    pub at: UtcMillis,
    pub order_no: Option<String>,
    pub reason: String,
    pub raw: String,
}

/// What applying a shop's items did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShopOutcome {
    pub applied: u64,
    /// Older than what is stored: not applied.
    pub stale: u64,
    /// The same version and content as stored: not applied again.
    pub duplicates: u64,
    pub errors: u64,
}

/// Filters of an order listing.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub shop: Option<String>,
    pub platform: Option<Platform>,
    pub status: Option<xt_shared::order::OrderState>,
    pub modified_from: Option<i64>,
    pub modified_to: Option<i64>,
    pub order_no: Option<String>,
    /// A substring of the receiver's name or phone.
    pub receiver: Option<String>,
    pub held_only: bool,
}

/// A listing position: (modified, shop, order no) of the last row shown.
pub type OrderCursor = (i64, String, String);

/// Most orders one listing page examines (index rows read, matching or not): a filter that
/// matches little ends its page early with a cursor instead of reading the whole tenant.
pub const ORDERS_SCAN_ROWS_MAX: usize = 4096;

/// One page of a bounded order listing ([`Store::orders_scan`]).
#[derive(Debug, Clone, Default)]
pub struct OrderScan {
    /// The matching orders, newest platform `modified` first.
    pub orders: Vec<CapturedOrder>,
    /// Index rows examined (at most the budget asked for).
    pub examined: usize,
    /// Where the scan stopped when the budget ran out before `limit` orders matched and before
    /// the end: the next page starts after it. `None` when the scan ended otherwise.
    pub resume: Option<OrderCursor>,
}

/// The tables one apply touches, opened once per transaction (not once per order), and the
/// tenant's warehouses (for merchant codes that are SKUs the tenant stocks).
pub(crate) struct Tables<'t> {
    orders: WriteRows<'t, (&'static str, &'static str, &'static str), OrderRecord>,
    by_modified: WriteRows<'t, (&'static str, i64, &'static str, &'static str), ()>,
    held: WriteRows<'t, (&'static str, &'static str, &'static str), ()>,
    refunds: WriteRows<'t, (&'static str, &'static str, &'static str), RefundRecord>,
    refunds_by_order: WriteRows<'t, (&'static str, &'static str, &'static str, &'static str), ()>,
    maps: WriteRows<'t, (&'static str, &'static str, &'static str, &'static str), SkuMapping>,
    /// The stock room's table: is a merchant code a SKU the tenant stocks?
    stock: WriteRows<'t, (&'static str, &'static str, &'static str), StockRecord>,
    identities: WriteRows<'t, (&'static str, &'static str, &'static str, &'static str), String>,
    members: WriteRows<'t, (&'static str, &'static str), MemberRecord>,
    member_orders: WriteRows<'t, (&'static str, &'static str, &'static str, &'static str), ()>,
    errors: WriteRows<'t, (&'static str, &'static str, u64), CaptureErrorRecord>,
    errors_seen: WriteRows<'t, (&'static str, &'static str, &'static [u8]), ()>,
    warehouses: Vec<String>,
}

impl<'t> Tables<'t> {
    fn open(tx: &'t WriteTx, tenant: &TenantId) -> Result<Tables<'t>, StoreError> {
        Ok(Tables {
            warehouses: dashboard::warehouses(tx, tenant)?,
            orders: tx.open(ORDERS)?,
            by_modified: tx.open(ORDERS_BY_MODIFIED)?,
            held: tx.open(HELD)?,
            refunds: tx.open(REFUNDS)?,
            refunds_by_order: tx.open(REFUNDS_BY_ORDER)?,
            maps: tx.open(SKU_MAPS)?,
            stock: tx.open(STOCK)?,
            identities: tx.open(IDENTITIES)?,
            members: tx.open(MEMBERS)?,
            member_orders: tx.open(MEMBER_ORDERS)?,
            errors: tx.open(CAPTURE_ERRORS)?,
            errors_seen: tx.open(CAPTURE_ERROR_SEEN)?,
        })
    }
}

/// Answers one source of a line's SKU (see [`skus::line_skus`]).
fn find_sku(
    t: &Tables<'_>,
    tenant: &str,
    source: SkuSource<'_>,
) -> Result<Option<String>, StoreError> {
    match source {
        SkuSource::Mapping(k) => Ok(t
            .maps
            .get((tenant, k.scope, k.kind.as_str(), k.value))?
            .map(|m| m.sku)),
        SkuSource::Stocked(code) => {
            for w in &t.warehouses {
                if t.stock.contains((tenant, w.as_str(), code))? {
                    return Ok(Some(code.to_owned()));
                }
            }
            Ok(None)
        }
    }
}

/// Links the order's buyer to a member ([`members`] decides which) and writes what linking
/// changes.
fn link_member(
    t: &mut Tables<'_>,
    tenant: &str,
    shop: &str,
    order: &StandardOrder,
    now: UtcMillis,
) -> Result<Option<String>, StoreError> {
    let ids = members::identities(shop, order);
    let mut known = Vec::with_capacity(ids.len());
    for i in &ids {
        let key = (tenant, i.scope.as_str(), i.kind.as_str(), i.value.as_str());
        known.push(t.identities.get(key)?);
    }
    let Some(member) = members::member_id(tenant, &ids, &known) else {
        return Ok(None);
    };
    let stored = t.members.get((tenant, member.as_str()))?;
    if let Some(write) = members::link(&member, stored, ids, &known, now) {
        for i in write.new_identities() {
            let key = (tenant, i.scope.as_str(), i.kind.as_str(), i.value.as_str());
            t.identities.insert(key, &member)?;
        }
        t.members.insert((tenant, member.as_str()), &write.record)?;
    }
    Ok(Some(member))
}

fn capture_state(tx: &WriteTx, tenant: &TenantId, shop: &str) -> Result<CaptureState, StoreError> {
    Ok(tx
        .open(CAPTURE)?
        .get((tenant.as_str(), shop))?
        .unwrap_or_default())
}

impl Store {
    /// Applies what a shop's capture fetched, in one durable write transaction (see the module
    /// docs). Malformed items are kept as capture errors; the rest go on.
    pub fn apply_shop_items(
        &self,
        tenant: &TenantId,
        shop: &str,
        items: Vec<Captured>,
        now: UtcMillis,
    ) -> Result<ShopOutcome, StoreError> {
        let items = super::intake::ShopItems {
            tenant,
            shop,
            items,
        };
        Ok(crate::ingest::commit(self, items, now)?.0)
    }

    /// One order of `tenant` by shop and platform order no.
    pub fn order(
        &self,
        tenant: &TenantId,
        shop: &str,
        order_no: &str,
    ) -> Result<Option<CapturedOrder>, StoreError> {
        self.read()?
            .open(ORDERS)?
            .get((tenant.as_str(), shop, order_no))?
            .map(CapturedOrder::try_from)
            .transpose()
    }

    /// The refunds of one order, by refund id.
    pub fn order_refunds(
        &self,
        tenant: &TenantId,
        shop: &str,
        order_no: &str,
    ) -> Result<Vec<CapturedRefund>, StoreError> {
        let tx = self.read()?;
        let index = tx.open(REFUNDS_BY_ORDER)?;
        let refunds = tx.open(REFUNDS)?;
        let mut out = Vec::new();
        let t = tenant.as_str();
        for k in index.keys((t, shop, order_no, "")..)? {
            let k = k?;
            let (kt, ks, ko, id) = k.value();
            if (kt, ks, ko) != (t, shop, order_no) {
                break;
            }
            if let Some(r) = refunds.get((t, shop, id))? {
                out.push(r.try_into()?);
            }
        }
        Ok(out)
    }

    /// Orders of `tenant`, newest platform `modified` first, after `after`, filtered (every
    /// matching one up to `limit`, however many rows that reads: tests and tools).
    pub fn orders_page(
        &self,
        tenant: &TenantId,
        filter: &OrderFilter,
        after: Option<&OrderCursor>,
        limit: usize,
    ) -> Result<Vec<CapturedOrder>, StoreError> {
        Ok(self
            .orders_scan(tenant, filter, after, limit, usize::MAX)?
            .orders)
    }

    /// Like [`Store::orders_page`], but examining at most `rows_max` index rows: the page ends
    /// early with [`OrderScan::resume`] when they run out.
    pub fn orders_scan(
        &self,
        tenant: &TenantId,
        filter: &OrderFilter,
        after: Option<&OrderCursor>,
        limit: usize,
        rows_max: usize,
    ) -> Result<OrderScan, StoreError> {
        let tx = self.read()?;
        let index = tx.open(ORDERS_BY_MODIFIED)?;
        let orders = tx.open(ORDERS)?;
        let t = tenant.as_str();
        let lo = (t, filter.modified_from.unwrap_or(i64::MIN), "", "");
        let hi_modified = filter.modified_to.unwrap_or(i64::MAX);
        let upper = match after {
            Some((m, s, o)) if *m <= hi_modified => {
                Bound::Excluded((t, *m, s.as_str(), o.as_str()))
            }
            _ if hi_modified == i64::MAX => Bound::Excluded((t, i64::MAX, "", "")),
            _ => Bound::Excluded((t, hi_modified + 1, "", "")),
        };
        let mut out = OrderScan::default();
        let mut last = None;
        for k in index
            .keys::<(&str, i64, &str, &str)>((Bound::Included(lo), upper))?
            .rev()
        {
            let k = k?;
            let (_, modified, shop, no) = k.value();
            if out.examined >= rows_max {
                out.resume = last;
                break;
            }
            out.examined += 1;
            last = Some((modified, shop.to_owned(), no.to_owned()));
            if filter.shop.as_deref().is_some_and(|want| want != shop)
                || filter.order_no.as_deref().is_some_and(|want| want != no)
            {
                continue;
            }
            let Some(r) = orders.get((t, shop, no))? else {
                continue;
            };
            let r = CapturedOrder::try_from(r)?;
            if filter.platform.is_some_and(|p| p != r.order.platform)
                || filter.status.is_some_and(|s| s != r.order.status)
                || (filter.held_only && r.held.is_none())
                || filter.receiver.as_deref().is_some_and(|want| {
                    let rc = &r.order.receiver;
                    ![&rc.name, &rc.phone]
                        .iter()
                        .any(|f| f.as_deref().is_some_and(|f| f.contains(want)))
                })
            {
                continue;
            }
            out.orders.push(r);
            if out.orders.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    pub fn member(&self, tenant: &TenantId, id: &str) -> Result<Option<MemberRecord>, StoreError> {
        self.read()?.open(MEMBERS)?.get((tenant.as_str(), id))
    }

    /// The orders of a member, at most `limit`, by (shop, order no).
    pub fn member_orders(
        &self,
        tenant: &TenantId,
        member: &str,
        limit: usize,
    ) -> Result<Vec<CapturedOrder>, StoreError> {
        let tx = self.read()?;
        let index = tx.open(MEMBER_ORDERS)?;
        let orders = tx.open(ORDERS)?;
        let t = tenant.as_str();
        let mut out = Vec::new();
        for k in index.keys((t, member, "", "")..)? {
            let k = k?;
            let (kt, km, shop, no) = k.value();
            if (kt, km) != (t, member) || out.len() >= limit {
                break;
            }
            if let Some(r) = orders.get((t, shop, no))? {
                out.push(r.try_into()?);
            }
        }
        Ok(out)
    }

    pub fn capture_state(&self, tenant: &TenantId, shop: &str) -> Result<CaptureState, StoreError> {
        Ok(self
            .read()?
            .open(CAPTURE)?
            .get((tenant.as_str(), shop))?
            .unwrap_or_default())
    }

    /// Changes a shop's capture state (cursors, backfill) in its own transaction.
    pub fn update_capture_state<R>(
        &self,
        tenant: &TenantId,
        shop: &str,
        f: impl FnOnce(&mut CaptureState) -> R,
    ) -> Result<R, StoreError> {
        let tx = self.write()?;
        let mut state = capture_state(&tx, tenant, shop)?;
        let out = f(&mut state);
        tx.open(CAPTURE)?.insert((tenant.as_str(), shop), &state)?;
        tx.commit()?;
        Ok(out)
    }

    /// The newest capture errors of a shop, newest first.
    pub fn capture_errors(
        &self,
        tenant: &TenantId,
        shop: &str,
        limit: usize,
    ) -> Result<Vec<CaptureErrorRecord>, StoreError> {
        let tx = self.read()?;
        let table = tx.open(CAPTURE_ERRORS)?;
        let t = tenant.as_str();
        let mut out = Vec::new();
        for row in table.range((t, shop, 0)..=(t, shop, u64::MAX))?.rev() {
            out.push(row?.value);
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    pub fn sku_mappings(&self, tenant: &TenantId) -> Result<Vec<SkuMapping>, StoreError> {
        let tx = self.read()?;
        let table = tx.open(SKU_MAPS)?;
        let t = tenant.as_str();
        let mut out = Vec::new();
        for row in table.range((t, "", "", "")..)? {
            let row = row?;
            if row.key().0 != t {
                break;
            }
            out.push(row.value);
        }
        Ok(out)
    }

    /// Adds a mapping (refusing a second one for the same platform SKU id or merchant code),
    /// then re-maps the tenant's held orders: those it completes are released.
    pub fn add_sku_mapping(
        &self,
        tenant: &TenantId,
        mapping: &SkuMapping,
    ) -> Result<u64, StoreError> {
        let refused = |e: skus::MappingRefused| StoreError::Conflict(e.to_string());
        let key = skus::mapping_key(mapping).map_err(refused)?;
        let (p, kind, value) = (key.scope, key.kind.as_str(), key.value);
        let t = tenant.as_str();
        let tx = self.write()?;
        {
            let mut maps = tx.open(SKU_MAPS)?;
            let taken = maps.contains((t, p, kind, value))?;
            skus::admit(key, taken).map_err(refused)?;
            maps.insert((t, p, kind, value), mapping)?;
        }
        // Three strings always encode.
        let key = postcard::to_allocvec(&(p, kind, value)).expect("strings encode");
        tx.open(SKU_MAP_IDS)?
            .insert((t, mapping.id.as_str()), &key)?;
        let released = remap_held(&tx, tenant)?;
        tx.commit()?;
        Ok(released)
    }

    /// Deletes a mapping; `false` if the tenant has none with that id. Orders already mapped
    /// keep their SKUs (they may be dispatched); new orders are held again.
    pub fn delete_sku_mapping(&self, tenant: &TenantId, id: &str) -> Result<bool, StoreError> {
        let t = tenant.as_str();
        let tx = self.write()?;
        let key = tx.open(SKU_MAP_IDS)?.take((t, id))?;
        let found = match key {
            Some(key) => {
                let (p, kind, value): (String, String, String) = postcard::from_bytes(&key)
                    .map_err(|e| StoreError::Corrupt {
                        table: SKU_MAP_IDS.name(),
                        reason: e.to_string(),
                    })?;
                tx.open(SKU_MAPS)?
                    .remove((t, p.as_str(), kind.as_str(), value.as_str()))?;
                true
            }
            None => false,
        };
        tx.commit()?;
        Ok(found)
    }
}

/// Applies a shop's items in the ingest pipeline's transaction `tx` (see
/// [`super::intake::ShopItems`]): each order, refund or malformed payload decided and written,
/// the shop's capture state advanced. Returns the outcome and the change-log entries.
pub(crate) fn apply_items(
    tx: &WriteTx,
    tenant: &TenantId,
    shop: &str,
    shop_no: DocNo,
    items: Vec<Captured>,
    now: UtcMillis,
) -> Result<(ShopOutcome, Vec<LogEntry>), StoreError> {
    let origin = Origin::Shop {
        shop: shop_no.clone(),
    };
    let origin_text = origin.to_string();
    let mut outcome = ShopOutcome::default();
    let mut log = Vec::new();
    {
        let mut state = capture_state(tx, tenant, shop)?;
        let mut tables = Tables::open(tx, tenant)?;
        let ctx = Ctx {
            tenant,
            by: Applying {
                shop,
                origin: &origin_text,
                now,
            },
        };
        let mut logged = Vec::new();
        let mut errors = Vec::new();
        for item in items {
            let (version, put) = match item {
                Captured::Malformed {
                    raw,
                    order_no,
                    reason,
                } => {
                    match put_error(&mut tables, &ctx, raw, order_no, reason, &mut state)? {
                        Verdict::Apply(kept) => {
                            outcome.errors += 1;
                            errors.push(kept);
                        }
                        Verdict::Stale | Verdict::Duplicate => outcome.duplicates += 1,
                    }
                    continue;
                }
                Captured::Order { order, .. } => (
                    order.times.modified.0,
                    put_order(&mut tables, &ctx, order, &mut state)?.map(|order| {
                        Body::PlatformOrder {
                            shop: shop_no.clone(),
                            order: Box::new(order),
                        }
                    }),
                ),
                Captured::Refund { refund, .. } => (
                    refund.modified.0,
                    put_refund(&mut tables, &ctx, refund, &mut state)?.map(|refund| {
                        Body::PlatformRefund {
                            shop: shop_no.clone(),
                            refund,
                        }
                    }),
                ),
            };
            match put {
                Verdict::Apply(body) => {
                    state.seq += 1;
                    logged.push(SourceChange {
                        seq: state.seq,
                        version,
                        body,
                    });
                }
                Verdict::Stale => outcome.stale += 1,
                Verdict::Duplicate => outcome.duplicates += 1,
            }
        }
        outcome.applied = logged.len() as u64;
        state.stale += outcome.stale;
        state.duplicates += outcome.duplicates;
        if !logged.is_empty() {
            state.last_applied_at = Some(now);
            dashboard::count_changes(tx, tenant, now, outcome.applied)?;
            let entry = LogEntry::Batch(LoggedBatch::new(tenant.clone(), &origin, now, logged));
            log.push(entry);
        }
        for (order_no, reason) in errors {
            let entry = LogEntry::CaptureError(crate::store::CaptureErrorLogged {
                tenant: tenant.clone(),
                shop: shop.to_owned(),
                order_no,
                reason,
                at: now,
            });
            log.push(entry);
        }
        tx.open(CAPTURE)?.insert((tenant.as_str(), shop), &state)?;
    }
    Ok((outcome, log))
}

/// Applies one order: loads the stored version, lets [`decide::order`] rule, looks up its lines'
/// SKUs and its buyer's member, and writes what [`decide::apply_order`] returns.
fn put_order(
    t: &mut Tables<'_>,
    ctx: &Ctx<'_>,
    order: StandardOrder,
    state: &mut CaptureState,
) -> Result<Verdict<StandardOrder>, StoreError> {
    let (tenant, shop) = (ctx.tenant.as_str(), ctx.by.shop);
    let no = order.platform_order_no.to_string();
    let key = (tenant, shop, no.as_str());
    let stored = t
        .orders
        .get(key)?
        .map(CapturedOrder::try_from)
        .transpose()?;
    match decide::order(stored.as_ref(), &order) {
        Verdict::Apply(()) => {}
        Verdict::Stale => return Ok(Verdict::Stale),
        Verdict::Duplicate => return Ok(Verdict::Duplicate),
    }
    let skus = skus::line_skus(&order, |source| find_sku(t, tenant, source))?;
    let member = link_member(t, tenant, shop, &order, ctx.by.now)?;
    let OrderWrite { record, replaces } = decide::apply_order(stored, order, skus, member, &ctx.by);
    let Tables {
        by_modified,
        held,
        member_orders,
        orders,
        ..
    } = t;
    match replaces {
        None => state.orders += 1,
        Some(old) => {
            by_modified.remove((tenant, old.version, shop, no.as_str()))?;
            if old.held {
                held.remove(key)?;
                state.held -= 1;
            }
            if let Some(m) = &old.unlinked_member {
                member_orders.remove((tenant, m.as_str(), shop, no.as_str()))?;
            }
        }
    }
    by_modified.insert((tenant, record.version(), shop, no.as_str()), &())?;
    if record.held.is_some() {
        held.insert(key, &())?;
        state.held += 1;
    }
    if let Some(m) = &record.member {
        member_orders.insert((tenant, m.as_str(), shop, no.as_str()), &())?;
    }
    orders.insert_view(key, &OrderRecordRef::from(&record))?;
    Ok(Verdict::Apply(record.order))
}

/// Who is applying: the tenant, and the shop, its origin text and the apply time.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'a> {
    tenant: &'a TenantId,
    by: Applying<'a>,
}

/// Keeps a payload that did not parse, with its reason; the same payload twice is one error.
/// Applied, it gives the order no and reason to log.
fn put_error(
    t: &mut Tables<'_>,
    ctx: &Ctx<'_>,
    raw: String,
    order_no: Option<String>,
    reason: String,
    state: &mut CaptureState,
) -> Result<Verdict<(Option<String>, String)>, StoreError> {
    let (tenant, shop) = (ctx.tenant.as_str(), ctx.by.shop);
    let digest = decide::payload_digest(&raw);
    let seen_key = (tenant, shop, digest.as_slice());
    let seen = t.errors_seen.contains(seen_key)?;
    let recorded = state.capture_errors;
    let write = match decide::capture_error(seen, recorded, raw, order_no, reason, ctx.by.now) {
        Verdict::Apply(write) => write,
        Verdict::Stale => return Ok(Verdict::Stale),
        Verdict::Duplicate => return Ok(Verdict::Duplicate),
    };
    t.errors_seen.insert(seen_key, &())?;
    t.errors.insert((tenant, shop, write.no), &write.record)?;
    if let Some(dropped) = write.drops {
        t.errors.remove((tenant, shop, dropped))?;
    }
    state.capture_errors += 1;
    Ok(Verdict::Apply((write.record.order_no, write.record.reason)))
}

/// Applies one refund: loads the stored version and writes what [`decide::refund`] returns.
fn put_refund(
    t: &mut Tables<'_>,
    ctx: &Ctx<'_>,
    refund: StandardRefund,
    state: &mut CaptureState,
) -> Result<Verdict<StandardRefund>, StoreError> {
    let (tenant, shop) = (ctx.tenant.as_str(), ctx.by.shop);
    let id = refund.refund_id.to_string();
    let key = (tenant, shop, id.as_str());
    let stored = t
        .refunds
        .get(key)?
        .map(CapturedRefund::try_from)
        .transpose()?;
    let write = match decide::refund(stored, refund, &ctx.by) {
        Verdict::Apply(write) => write,
        Verdict::Stale => return Ok(Verdict::Stale),
        Verdict::Duplicate => return Ok(Verdict::Duplicate),
    };
    let index = &mut t.refunds_by_order;
    match &write.replaces_order_no {
        None => state.refunds += 1,
        Some(old_no) => {
            index.remove((tenant, shop, old_no.as_str(), id.as_str()))?;
        }
    }
    let record = write.record;
    index.insert(
        (
            tenant,
            shop,
            record.refund.platform_order_no.as_str(),
            id.as_str(),
        ),
        &(),
    )?;
    t.refunds
        .insert_view(key, &RefundRecordRef::from(&record))?;
    Ok(Verdict::Apply(record.refund))
}

/// Re-maps every held order of `tenant` ([`decide::remap`]); returns how many were released.
fn remap_held(tx: &WriteTx, tenant: &TenantId) -> Result<u64, StoreError> {
    let t = tenant.as_str();
    let held: Vec<(String, String)> = {
        let table = tx.open(HELD)?;
        let mut v = Vec::new();
        for k in table.keys((t, "", "")..)? {
            let k = k?;
            let (kt, s, o) = k.value();
            if kt != t {
                break;
            }
            v.push((s.to_owned(), o.to_owned()));
        }
        v
    };
    let mut released = 0;
    let mut tables = Tables::open(tx, tenant)?;
    let mut capture = tx.open(CAPTURE)?;
    for (shop, no) in held {
        let key = (t, shop.as_str(), no.as_str());
        let Some(record) = tables.orders.get(key)? else {
            continue;
        };
        let record = CapturedOrder::try_from(record)?;
        let skus = skus::line_skus(&record.order, |source| find_sku(&tables, t, source))?;
        let remapped = decide::remap(record, skus);
        if remapped.released {
            tables.held.remove(key)?;
            if let Some(mut state) = capture.get((t, shop.as_str()))? {
                state.held = state.held.saturating_sub(1);
                capture.insert((t, shop.as_str()), &state)?;
            }
            released += 1;
        }
        tables
            .orders
            .insert_view(key, &OrderRecordRef::from(&remapped.record))?;
    }
    Ok(released)
}

/// A new SKU mapping id: `map-` and 16 random hex digits.
pub fn new_mapping_id() -> String {
    format!("map-{}", hex::encode(rand::random::<[u8; 8]>()))
}
