//! Stock: each warehouse's on-hand quantity per SKU, as the warehouses' agents report it.
//!
//! *Owns:* the table `stock` (key (tenant, warehouse, sku)).
//! *Invariant:* a row changes only by a newer source version (last writer wins by version);
//! the dashboard's totals change in the same transaction.
//! *Boundary:* stock changes come in with agent batches through the ingest pipeline;
//! `StockApi` for the router.

pub mod api;
pub mod decide;
pub mod store;
