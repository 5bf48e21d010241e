//! Orders with their refunds, members and SKU mapping: the standard model of every captured
//! order, which member bought it, which of the merchant's SKUs each line is.
//!
//! *Owns:* the tables `orders`, `orders_by_modified`, `orders_held`, `refunds`,
//! `refunds_by_order`, `members`, `member_identities`, `member_orders`, `sku_mappings`,
//! `capture_state`, `capture_errors`.
//! *Invariant:* an order is stored once per (tenant, shop, order no); an older `modified` never
//! overwrites a newer one; a line whose SKU is not mapped holds its order with that reason until
//! a mapping releases it. Decisions are pure ([`decide`], [`skus`], [`members`]): state, input
//! and time in, a decision out; [`store`] loads, decides, writes. Orders and refunds are stored
//! as [`records`], mirrors of the shared model laid out as the model was when first stored.
//! *Boundary:* `OrdersApi` for the router ([`api`]); shop items come in through the ingest
//! pipeline; the dashboard's counters are bumped in the same transaction.

pub mod api;
#[cfg(test)]
pub(crate) mod cases;
pub mod decide;
pub mod intake;
pub mod members;
pub mod records;
pub mod skus;
pub mod store;
#[cfg(test)]
mod store_tests;
