//! What shops send, through the ingest pipeline ([`crate::ingest`]): the items of a capture page
//! or a webhook ([`ShopItems`]).

use super::store::{ShopOutcome, apply_items};
use crate::ingest::{Applied, Intake};
use crate::shops::channels::Captured;
use crate::store::StoreError;
use crate::store::table::WriteTx;
use xt_shared::ids::{DocNo, TenantId};
use xt_shared::model::UtcMillis;

/// A shop's captured items: orders, refunds and payloads kept with why they could not be read.
#[derive(Clone)]
pub struct ShopItems<'a> {
    pub tenant: &'a TenantId,
    pub shop: &'a str,
    pub items: Vec<Captured>,
}

impl<'a> Intake for ShopItems<'a> {
    type Admitted = (ShopItems<'a>, DocNo);
    type Outcome = ShopOutcome;

    /// Each item is idempotent by itself (shop, order no and `modified`: an older one is stale,
    /// the same one a duplicate; [`super::decide`]), so admission only checks the shop names a
    /// document number the orders can carry.
    fn admit(self, _tx: &WriteTx) -> Result<Result<Self::Admitted, ShopOutcome>, StoreError> {
        let shop_no = DocNo::new(self.shop).map_err(|e| StoreError::Conflict(e.to_string()))?;
        Ok(Ok((self, shop_no)))
    }

    fn apply(
        (items, shop_no): Self::Admitted,
        tx: &WriteTx,
        now: UtcMillis,
    ) -> Result<Applied<ShopOutcome>, StoreError> {
        let (outcome, log) = apply_items(tx, items.tenant, items.shop, shop_no, items.items, now)?;
        Ok(Applied { log, outcome })
    }
}
