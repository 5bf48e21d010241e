//! Shops and capture: the merchant's shops on each platform (credentials sealed), each
//! platform's parser and client ([`channels`]), the capture workers that poll and backfill
//! ([`capture`]), and webhooks.
//!
//! *Owns:* the tables `shops`, `shops_by_id`, `shop_health`, and the capture cursors (kept with
//! the orders they produce, in the orders room's `capture_state`).
//! *Invariant:* a shop's credentials are stored only sealed by the master key and never
//! answered; a capture cursor advances only in the transaction that applied what it covered;
//! every payload a platform sends is either applied or kept as a capture error with its reason.
//! Decisions are pure: the platforms' payloads in [`channels`]' parsers, the capture windows,
//! backfill progress and health in [`decide`].
//! *Boundary:* `ShopsApi` for the router ([`api`]); what shops send enters through the ingest
//! pipeline as [`channels::Captured`] items; platforms are reached only through
//! [`channels::client`] under the egress policy.

pub mod api;
pub mod capture;
pub mod channels;
pub mod decide;
pub mod store;
