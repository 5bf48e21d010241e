//! What the HTTP surface needs from the hub. The hub implements [`HubApi`] over its storage.

use crate::dto::{AgentView, StockPage, StockQuery, TokenCreated, TokenRequest};
use crate::error::ApiError;
use serde::{Deserialize, Serialize};
use xt_shared::ids::{AgentId, TenantId};

/// The hub as the HTTP surface sees it.
///
/// Methods are synchronous (the hub's storage answers reads in microseconds); the router calls
/// them on the blocking pool (`tokio::task::spawn_blocking`), so an implementation may block on a
/// durable commit or a slow key hash without stalling the runtime.
///
/// Every method but [`HubApi::authenticate_key`] takes the tenant of the authenticated
/// [`Principal`]: an implementation must never return or touch another tenant's data, and must
/// answer [`ApiError::NotFound`] (not `Forbidden`) for another tenant's ids, so that ids do not
/// leak across tenants.
///
/// Inputs arrive validated by the router: ids are parsed, [`TokenRequest::ttl_secs`] and
/// [`StockQuery::limit`] are `Some` and within their limits, and [`StockQuery::cursor`] decodes
/// as a [`StockCursor`](crate::dto::StockCursor).
pub trait HubApi: Send + Sync + 'static {
    /// Looks up an API key by its secret (the hub stores only hashes). `None` = unknown or revoked.
    fn authenticate_key(&self, secret: &str) -> Result<Option<Principal>, ApiError>;

    /// Every agent enrolled in `tenant`, revoked ones included.
    fn list_agents(&self, tenant: &TenantId) -> Result<Vec<AgentView>, ApiError>;

    /// Revokes `agent` and returns its view after the change. `NotFound` if it is not this
    /// tenant's agent.
    fn revoke_agent(&self, tenant: &TenantId, agent: &AgentId) -> Result<AgentView, ApiError>;

    /// Makes a one-time enrollment token for `tenant`, bound to the requested site and role.
    fn create_enrollment_token(
        &self,
        tenant: &TenantId,
        req: &TokenRequest,
    ) -> Result<TokenCreated, ApiError>;

    /// One page of `tenant`'s stock rows, ordered by `(warehouse, sku)`, starting strictly after
    /// the cursor if there is one. `next_cursor` is `Some` when more rows may follow.
    fn list_stock(&self, tenant: &TenantId, query: &StockQuery) -> Result<StockPage, ApiError>;
}

/// Who is calling: the tenant and key an API key resolved to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// The tenant the key belongs to; every request is scoped to it.
    pub tenant: TenantId,
    /// The key's public id (never the secret), for logs and audit.
    pub key_id: String,
    /// What the key may do.
    pub role: KeyRole,
}

/// What an API key may do. Only `Owner` exists for now; narrower scopes come later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyRole {
    /// Everything within its tenant: agents, enrollment tokens, data.
    Owner,
}

impl KeyRole {
    /// Whether the key may manage agents and enrollment tokens.
    pub fn may_administer(self) -> bool {
        match self {
            KeyRole::Owner => true,
        }
    }

    /// Whether the key may read the tenant's data (stock …).
    pub fn may_read(self) -> bool {
        match self {
            KeyRole::Owner => true,
        }
    }
}
