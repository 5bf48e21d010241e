//! Xietong hub: the centre. Takes agents' changes over QUIC (mutual TLS with its own CA),
//! applies them exactly once into redb, and serves the HTTP API.

pub mod admin_client;
pub mod api;
pub mod auth;
pub mod ca;
pub mod capture;
pub mod channels;
pub mod cli;
pub mod dashboard;
pub mod http;
pub mod hub;
pub mod master_key;
pub mod metrics;
pub mod quic;
pub mod store;
pub mod supervisor;
