//! Fulfilment: from a captured, paid order to a parcel with a tracking number the platform
//! knows. Review, merge and split, dispatch to a warehouse with its stock reserved, delivery
//! orders to every kind of warehouse (an agent's WMS, a 3PL over Qimen, a phone), shipment
//! confirmations, tracking written back, cancellation intercepts.
//!
//! *Owns:* `fulfilments` (+ `fulfilments_by_state`, `fulfilment_state_counts`,
//! `fulfilments_by_receiver`, `fulfilments_out_of_stock`), `warehouses`,
//! `fulfilment_settings`, `stock_ledger`, `deliveries` (+ `deliveries_pending`,
//! `delivery_seqs`), `merge_buffer`, `merge_due`, `shipment_keys`, `writebacks_due`,
//! `tpl_outbox`, `fulfilment_cursors`.
//! *Invariant:* the room reads the tenant's change log from its cursor and moves the cursor in
//! the transaction that acts on what it read, so every captured order, shipment, stock change
//! and command answer is acted on exactly once; an order moves only as [`machine::next`]
//! allows, each step kept in its timeline; the ledger never reserves more than is on hand
//! ([`ledger`]); a confirmation applies once per its key.
//! *Boundary:* the change log in; commands to agents (`agents::commands`), calls to 3PLs
//! ([`qimen`]) and write-backs to platforms out; `FulfilmentApi` for the router.

pub mod api;
pub mod decide;
pub mod intake;
pub mod ledger;
pub mod machine;
pub mod qimen;
pub mod queries;
pub mod records;
pub mod senders;
pub mod store;
#[cfg(test)]
pub(crate) mod store_tests;
pub mod worker;
