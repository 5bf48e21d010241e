//! The fulfilment service's extra reads and its one write of its own: the board's write-back
//! counts, bounded scans of orders and delivery orders for listings, whether a confirmation key
//! was applied, and [`Refuse`], a warehouse person's report that a delivery order cannot ship.
//!
//! *Invariant:* every read is bounded by the caller's limit or a cap here; a refusal moves the
//! delivery order and its orders through the pipeline, so its steps reach the change log in
//! the transaction that made them.

use super::records::{DeliveryRecord, DeliveryState, FulfilmentRecord};
use super::store::{self as fs, Ctx, DELIVERIES, FULFILMENTS, PENDING_BY_WAREHOUSE};
use crate::ingest::{Applied, Intake};
use crate::store::table::WriteTx;
use crate::store::{Store, StoreError};
use xt_shared::ids::TenantId;
use xt_shared::model::UtcMillis;

/// Most rows one count reads; a count that reaches it says "at least this many".
pub const COUNT_CAP: u64 = 100_000;

impl Store {
    /// Write-backs of `tenant` the platform refused for good, and those waiting (due or
    /// retrying), each counted over the tenant's range of its table (capped at [`COUNT_CAP`]).
    pub fn writeback_counts(&self, tenant: &TenantId) -> Result<(u64, u64), StoreError> {
        let tx = self.read()?;
        let t = tenant.as_str();
        let mut failed = 0;
        for row in tx.open(fs::WRITEBACKS_FAILED)?.keys((t, "", "")..)? {
            if row?.value().0 != t || failed >= COUNT_CAP {
                break;
            }
            failed += 1;
        }
        let mut waiting = 0;
        for row in tx.open(fs::WRITEBACKS_DUE)?.keys((t, i64::MIN, "", "")..)? {
            if row?.value().0 != t || waiting >= COUNT_CAP {
                break;
            }
            waiting += 1;
        }
        Ok((failed, waiting))
    }

    /// How many delivery orders `warehouse` still has to ship (capped at [`COUNT_CAP`]).
    pub fn open_deliveries(&self, tenant: &TenantId, warehouse: &str) -> Result<u64, StoreError> {
        let tx = self.read()?;
        let t = tenant.as_str();
        let mut n = 0;
        for row in tx.open(PENDING_BY_WAREHOUSE)?.keys((t, warehouse, "")..)? {
            let row = row?;
            let (rt, w, _) = row.value();
            if rt != t || w != warehouse || n >= COUNT_CAP {
                break;
            }
            n += 1;
        }
        Ok(n)
    }

    /// Up to `limit` of the tenant's orders in fulfilment after (shop, order no) `after`, in key
    /// order, whatever their state.
    pub fn fulfilments_after(
        &self,
        tenant: &TenantId,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<(String, String, FulfilmentRecord)>, StoreError> {
        let tx = self.read()?;
        let t = tenant.as_str();
        let (shop, no) = after.unwrap_or(("", ""));
        let mut out = Vec::new();
        for row in tx.open(FULFILMENTS)?.range((t, shop, no)..)? {
            let row = row?;
            let (rt, s, n) = row.key();
            if rt != t || out.len() >= limit {
                break;
            }
            if after == Some((s, n)) {
                continue;
            }
            out.push((s.to_owned(), n.to_owned(), row.value));
        }
        Ok(out)
    }

    /// Up to `limit` of the tenant's delivery orders after number `after`, in number order.
    pub fn deliveries_after(
        &self,
        tenant: &TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, DeliveryRecord)>, StoreError> {
        let tx = self.read()?;
        let t = tenant.as_str();
        let mut out = Vec::new();
        for row in tx.open(DELIVERIES)?.range((t, after.unwrap_or(""))..)? {
            let row = row?;
            let (rt, no) = row.key();
            if rt != t || out.len() >= limit {
                break;
            }
            if after == Some(no) {
                continue;
            }
            out.push((no.to_owned(), row.value));
        }
        Ok(out)
    }

    /// Whether confirmation `key` of delivery order `delivery_no` was applied.
    pub fn shipment_applied(
        &self,
        tenant: &TenantId,
        delivery_no: &str,
        key: &str,
    ) -> Result<bool, StoreError> {
        let k = format!("{delivery_no}/{key}");
        self.read()?
            .open(fs::SHIPMENT_KEYS)?
            .contains((tenant.as_str(), k.as_str()))
    }
}

/// A warehouse person cannot ship delivery order `delivery_no`: it is refused with `exception`
/// kept on it (the service's encoding of the report) and its orders go to
/// `warehouse_refused`, where a person re-routes or cancels them; when the goods are not there
/// (`out_of_stock`) the hub routes them again itself.
#[derive(Clone)]
pub struct Refuse<'a> {
    pub tenant: &'a TenantId,
    pub delivery_no: &'a str,
    /// Stored in [`DeliveryRecord::exception`].
    pub exception: String,
    /// The reason kept in the orders' timelines.
    pub reason: String,
    /// The goods are not there: the warehouse is reported short of the delivery's SKUs and
    /// its orders are routed again (`fulfilment::store::delivery_answered`).
    pub out_of_stock: bool,
}

/// What became of a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefuseOutcome {
    Refused,
    Unknown,
    /// The delivery order is not waiting to ship (shipped in part or whole, cancelled, refused).
    NotPending,
}

impl<'a> Intake for Refuse<'a> {
    type Admitted = Refuse<'a>;
    type Outcome = RefuseOutcome;

    fn admit(self, tx: &WriteTx) -> Result<Result<Refuse<'a>, RefuseOutcome>, StoreError> {
        let Some(d) = tx
            .open(DELIVERIES)?
            .get((self.tenant.as_str(), self.delivery_no))?
        else {
            return Ok(Err(RefuseOutcome::Unknown));
        };
        if !matches!(d.state, DeliveryState::Sending | DeliveryState::Sent) {
            return Ok(Err(RefuseOutcome::NotPending));
        }
        Ok(Ok(self))
    }

    fn apply(
        r: Refuse<'a>,
        tx: &WriteTx,
        now: UtcMillis,
    ) -> Result<Applied<RefuseOutcome>, StoreError> {
        let key = (r.tenant.as_str(), r.delivery_no);
        let mut d = tx
            .open(DELIVERIES)?
            .get(key)?
            .ok_or(StoreError::Conflict("delivery order vanished".into()))?;
        d.exception = Some(r.exception);
        tx.open(DELIVERIES)?.insert(key, &d)?;
        let mut ctx = Ctx::load(tx, r.tenant, now)?;
        fs::delivery_answered(
            &mut ctx,
            r.delivery_no,
            false,
            Some(r.reason),
            r.out_of_stock,
        )?;
        Ok(Applied {
            log: ctx.finish()?.log,
            outcome: RefuseOutcome::Refused,
        })
    }
}
