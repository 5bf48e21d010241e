//! Agents: enrollment tokens, the agents enrolled with the hub's CA ([`ca`]), their
//! certificates and renewals, the QUIC server they sync over ([`quic`]), each source's progress,
//! and the changes the hub refused.
//!
//! *Owns:* the tables `enroll_tokens`, `tenant_agents`, `agent_tenants`, `tenant_origins`,
//! `tenant_rejects`, `entities`.
//! *Invariant:* a batch is applied exactly once, in seq order, per (agent, source); it is
//! acknowledged only after the transaction that applied it committed; a revoked agent's
//! certificate is refused at the next handshake.
//! *Boundary:* QUIC frames from agents; agent batches enter through the ingest pipeline;
//! `AgentsApi` for the router.

pub mod api;
pub mod ca;
pub mod commands;
pub mod decide;
pub mod intake;
pub mod quic;
pub mod store;
