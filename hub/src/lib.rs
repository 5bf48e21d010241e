//! Xietong hub: the centre. Takes agents' changes over QUIC (mutual TLS with its own CA) and
//! shops' orders from the platforms, applies them exactly once through one ingest pipeline into
//! redb, and serves the HTTP API.
//!
//! One folder per room (domain): [`identity`], [`agents`], [`stock`], [`shops`], [`orders`],
//! [`dashboard`], [`events`]; each `mod.rs` says what the room owns, its invariant and its
//! boundary. [`store`] is the storage base every room stores through; [`ingest`] the one path
//! every change takes; [`cli::start`] the composition root.

pub mod admin_client;
pub mod agents;
pub mod api;
pub mod cli;
pub mod dashboard;
pub mod events;
pub mod fulfilment;
pub mod http;
pub mod hub;
pub mod identity;
pub mod ingest;
pub mod master_key;
pub mod metrics;
pub mod orders;
pub mod shops;
pub mod stock;
pub mod store;
pub mod supervisor;
