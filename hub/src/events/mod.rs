//! Events: each tenant's change log ([`log`]) and the event stream people and partners follow
//! (`GET /api/v1/events`).
//!
//! *Owns:* the tables `tenant_log`, `tenant_log_heads`.
//! *Invariant:* an entry is appended only by the ingest pipeline, in the transaction that made
//! the change; a tenant's positions only grow; a reader resuming from a trimmed position is told
//! to reset.
//! *Boundary:* `EventsApi` for the router ([`api`]); the pipeline appends; the trimmer trims.

pub mod api;
pub mod log;
