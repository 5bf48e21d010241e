//! The Xietong agent: reads legacy systems (SQL databases, CSV drop folders) into a durable
//! outbox and syncs the outbox to the hub over QUIC.
//!
//! Data path: [`sources`] poll the legacy systems and [`mapping`] turns each row into a change
//! body of the standard model; each chunk of changes, the rows refused (quarantined, with their
//! reason) and the source's new cursor are committed in one durable [`outbox`] transaction, so a
//! crash anywhere neither loses nor duplicates a row. The network side reads the outbox, sends
//! batches and trims what the hub acknowledged.

pub mod cli;
pub mod commands;
pub mod config;
pub mod enroll;
pub mod identity;
pub mod mapping;
pub mod net;
pub mod outbox;
pub mod sinks;
pub mod sources;
pub mod timestamp;
pub mod tls;
