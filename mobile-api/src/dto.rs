//! The JSON bodies of the API. Field names are snake_case; times are RFC 3339 UTC strings
//! (see [`crate::utc`]). Request types reject unknown fields, so a typo is a 400, not a silent
//! default; response types accept unknown fields, so older clients keep working as fields are
//! added.

use crate::error::ApiError;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use xt_shared::ids::{AgentId, ID_BYTES_MAX, SiteId, Sku, SourceName, TenantId, WarehouseCode};
use xt_shared::protocol::AgentRole;

/// Enrollment token lifetime when the request names none: 24 hours.
pub const TOKEN_TTL_SECS_DEFAULT: u64 = 24 * 60 * 60;
/// Longest enrollment token lifetime a request may ask for: 30 days.
pub const TOKEN_TTL_SECS_MAX: u64 = 30 * 24 * 60 * 60;
/// Stock rows per page when the query names no limit.
pub const STOCK_LIMIT_DEFAULT: u32 = 100;
/// Most stock rows one page may hold.
pub const STOCK_LIMIT_MAX: u32 = 1000;
/// The role of an agent, fixed at enrollment (the OpenAPI view of `xt_shared`'s `AgentRole`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = AgentRole)]
pub enum AgentRoleSchema {
    Warehouse,
    Finance,
    Pos,
}

impl From<AgentRole> for AgentRoleSchema {
    // Exhaustive on purpose: a new agent role fails to compile until the schema has it too.
    fn from(role: AgentRole) -> AgentRoleSchema {
        match role {
            AgentRole::Warehouse => AgentRoleSchema::Warehouse,
            AgentRole::Finance => AgentRoleSchema::Finance,
            AgentRole::Pos => AgentRoleSchema::Pos,
        }
    }
}

/// Longest cursor string accepted, in bytes (two ids, base64 encoded, with room to spare).
const CURSOR_BYTES_MAX: usize = 512;

/// One enrolled agent, as an admin sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AgentView {
    #[schema(value_type = String, example = "wh-agent-1")]
    pub id: AgentId,
    #[schema(value_type = String)]
    pub tenant: TenantId,
    #[schema(value_type = String)]
    pub site: SiteId,
    #[schema(value_type = AgentRoleSchema)]
    pub role: AgentRole,
    /// Whether the agent has a live QUIC connection to this hub right now.
    pub connected: bool,
    /// When the hub last heard from the agent; `null` if never since enrollment.
    #[serde(with = "crate::utc::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_seen: Option<OffsetDateTime>,
    #[serde(with = "crate::utc")]
    #[schema(value_type = String, format = DateTime, example = "2026-01-02T03:04:05Z")]
    pub enrolled_at: OffsetDateTime,
    /// When the agent's current certificate expires (it renews before then).
    #[serde(with = "crate::utc")]
    #[schema(value_type = String, format = DateTime, example = "2026-01-02T03:04:05Z")]
    pub cert_expires_at: OffsetDateTime,
    /// When the agent was revoked; `null` while it is active.
    #[serde(with = "crate::utc::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<OffsetDateTime>,
    /// Sync state per source the agent reported.
    pub sources: Vec<SourceView>,
}

/// Sync state of one source of one agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SourceView {
    #[schema(value_type = String)]
    pub source: SourceName,
    /// Every seq up to and including this one is applied durably at the hub.
    pub applied_seq: u64,
    /// Changes applied into the hub's tables.
    pub records_applied: u64,
    /// Rows the agent refused and kept in its quarantine (as last reported).
    pub records_quarantined: u64,
    /// Changes the hub refused while applying (kept at the hub with their reason).
    pub records_rejected: u64,
    /// Changes waiting in the agent's outbox (as last reported).
    pub backlog: u64,
    /// The last error the source reported, if it is currently failing.
    pub last_error: Option<String>,
}

/// `GET /api/v1/agents` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AgentList {
    pub agents: Vec<AgentView>,
}

/// `POST /api/v1/enrollment-tokens` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// The site the enrolling agent will run at.
    #[schema(value_type = String)]
    pub site: SiteId,
    /// The role the agent gets, fixed at enrollment.
    #[schema(value_type = AgentRoleSchema)]
    pub role: AgentRole,
    /// Token lifetime in seconds; default [`TOKEN_TTL_SECS_DEFAULT`], at most
    /// [`TOKEN_TTL_SECS_MAX`]. The router fills it in before calling the hub.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_secs: Option<u64>,
}

impl TokenRequest {
    /// The lifetime to use, or `BadRequest` if the request asks for 0 or more than the maximum.
    pub fn ttl_secs_checked(&self) -> Result<u64, ApiError> {
        match self.ttl_secs {
            None => Ok(TOKEN_TTL_SECS_DEFAULT),
            Some(ttl) if (1..=TOKEN_TTL_SECS_MAX).contains(&ttl) => Ok(ttl),
            Some(ttl) => Err(ApiError::BadRequest(format!(
                "ttl_secs must be between 1 and {TOKEN_TTL_SECS_MAX} (30 days), got {ttl}"
            ))),
        }
    }
}

/// `POST /api/v1/enrollment-tokens` response (201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenCreated {
    /// The one-time secret to give to `xt-agent enroll`. Shown once; the hub keeps only a hash.
    pub token: String,
    /// The hub CA's fingerprint the agent pins (printed next to the token).
    pub ca_fingerprint: String,
    #[serde(with = "crate::utc")]
    #[schema(value_type = String, format = DateTime, example = "2026-01-02T03:04:05Z")]
    pub expires_at: OffsetDateTime,
    #[schema(value_type = String)]
    pub tenant: TenantId,
    #[schema(value_type = String)]
    pub site: SiteId,
    #[schema(value_type = AgentRoleSchema)]
    pub role: AgentRole,
    /// The UDP port the hub listens on for agents (what `xt-agent enroll --hub host:port` needs).
    /// (Defaults to 0 = unknown when read from an older hub.)
    #[serde(default)]
    pub quic_port: u16,
    /// The address agents should dial (`host:port`), when the hub was told it
    /// (`xt-hub serve --agent-address`); `null` = dial this hub's host on [`Self::quic_port`].
    #[serde(default)]
    pub agent_address: Option<String>,
}

/// `GET /api/v1/stock` query string.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StockQuery {
    /// Only this warehouse (exact code).
    pub warehouse: Option<String>,
    /// Only this SKU (exact code). Excludes `sku_prefix`.
    pub sku: Option<String>,
    /// Only SKUs starting with this (byte-wise). Excludes `sku`.
    pub sku_prefix: Option<String>,
    /// Opaque: the `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Rows per page: default [`STOCK_LIMIT_DEFAULT`], 1 to [`STOCK_LIMIT_MAX`].
    pub limit: Option<u32>,
}

impl StockQuery {
    /// Checks every field and fills in the default limit. The router calls this before the hub
    /// sees the query, so the hub can rely on a `Some` limit in range, valid ids and a cursor
    /// that decodes.
    pub fn validated(mut self) -> Result<StockQuery, ApiError> {
        let bad = |e: xt_shared::ids::IdError| ApiError::BadRequest(e.to_string());
        if let Some(w) = &self.warehouse {
            WarehouseCode::new(w.as_str()).map_err(bad)?;
        }
        if let Some(s) = &self.sku {
            Sku::new(s.as_str()).map_err(bad)?;
        }
        if let Some(p) = &self.sku_prefix {
            if p.is_empty() || p.len() > ID_BYTES_MAX || p.chars().any(char::is_control) {
                return Err(ApiError::BadRequest(format!(
                    "sku_prefix {p:?} must be 1 to {ID_BYTES_MAX} bytes without control characters"
                )));
            }
            if self.sku.is_some() {
                return Err(ApiError::BadRequest(
                    "sku and sku_prefix cannot be used together".into(),
                ));
            }
        }
        if let Some(c) = &self.cursor {
            StockCursor::decode(c)?;
        }
        let limit = self.limit.unwrap_or(STOCK_LIMIT_DEFAULT);
        if !(1..=STOCK_LIMIT_MAX).contains(&limit) {
            return Err(ApiError::BadRequest(format!(
                "limit must be between 1 and {STOCK_LIMIT_MAX}, got {limit}"
            )));
        }
        self.limit = Some(limit);
        Ok(self)
    }
}

/// One stock row: on-hand quantity of one SKU in one warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StockRow {
    #[schema(value_type = String)]
    pub warehouse: WarehouseCode,
    #[schema(value_type = String)]
    pub sku: Sku,
    pub on_hand: i64,
    /// The owning source's version of the row (its own ordering, e.g. `updated_at`).
    pub version: i64,
    /// Which origin wrote the row last (`agent/source`).
    pub origin: String,
    #[serde(with = "crate::utc")]
    #[schema(value_type = String, format = DateTime, example = "2026-01-02T03:04:05Z")]
    pub updated_at: OffsetDateTime,
}

/// `GET /api/v1/stock` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StockPage {
    pub items: Vec<StockRow>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// The position a stock page ended at: the key of its last row. Clients see it only as an opaque
/// string; the hub encodes it from the last row it returned and decodes it to resume strictly
/// after that key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockCursor {
    #[serde(rename = "w")]
    pub warehouse: WarehouseCode,
    #[serde(rename = "s")]
    pub sku: Sku,
}

impl StockCursor {
    /// The opaque string form (URL-safe base64 of a small JSON object).
    pub fn encode(&self) -> String {
        // Serializing two validated strings cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    /// Parses the string form; `BadRequest` if it is not one this crate made.
    pub fn decode(s: &str) -> Result<StockCursor, ApiError> {
        let invalid = || ApiError::BadRequest("invalid cursor (pass next_cursor unchanged)".into());
        if s.len() > CURSOR_BYTES_MAX {
            return Err(invalid());
        }
        let json = URL_SAFE_NO_PAD.decode(s).map_err(|_| invalid())?;
        serde_json::from_slice(&json).map_err(|_| invalid())
    }
}

/// Minutes of chart series a dashboard shows when the query names none.
pub const DASHBOARD_MINUTES_DEFAULT: u32 = 60;
/// Most minutes a dashboard may ask for: the hub keeps 24 hours of minute buckets.
pub const DASHBOARD_MINUTES_MAX: u32 = 24 * 60;
/// The length of one series bucket.
pub const DASHBOARD_BUCKET_SECS: u32 = 60;

/// `GET /api/v1/dashboard` query string.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DashboardQuery {
    /// Minutes of series to return, ending with the current minute: default
    /// [`DASHBOARD_MINUTES_DEFAULT`], 1 to [`DASHBOARD_MINUTES_MAX`].
    pub minutes: Option<u32>,
}

impl DashboardQuery {
    /// The minutes to use, or `BadRequest` if out of range.
    pub fn minutes_checked(&self) -> Result<u32, ApiError> {
        match self.minutes {
            None => Ok(DASHBOARD_MINUTES_DEFAULT),
            Some(m) if (1..=DASHBOARD_MINUTES_MAX).contains(&m) => Ok(m),
            Some(m) => Err(ApiError::BadRequest(format!(
                "minutes must be between 1 and {DASHBOARD_MINUTES_MAX}, got {m}"
            ))),
        }
    }
}

/// `GET /api/v1/dashboard` response: the caller's tenant at a glance, from data the hub keeps
/// pre-aggregated (the cost of a request does not grow with the number of stock rows).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Dashboard {
    #[schema(value_type = String, example = "acme")]
    pub tenant: TenantId,
    #[serde(with = "crate::utc")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-26T11:00:00Z")]
    pub generated_at: OffsetDateTime,
    /// All zero without `agents:read`.
    pub agents: DashboardAgents,
    /// Every source of every agent of the tenant, ordered by agent then source; empty without
    /// `agents:read`.
    pub sources: Vec<DashboardSource>,
    /// Sum of `quarantined` over `sources`.
    pub quarantined_total: u64,
    /// Stock totals per warehouse, ordered by warehouse; a warehouse-bound user gets only its
    /// warehouses.
    pub warehouses: Vec<DashboardWarehouse>,
    pub series: DashboardSeries,
    /// Capture health of every bound shop, oldest shop first; empty without `shops:read`.
    #[serde(default)]
    pub shops: Vec<DashboardShop>,
}

/// One shop's capture health on the dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DashboardShop {
    pub id: String,
    pub name: String,
    #[schema(value_type = String, example = "taobao")]
    pub platform: xt_shared::order::Platform,
    pub enabled: bool,
    pub health: crate::shops::ShopHealth,
    pub orders: u64,
    pub held: u64,
    pub capture_errors: u64,
}

/// The tenant's agents by state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DashboardAgents {
    /// Not revoked, with a live connection to this hub.
    pub online: u64,
    /// Not revoked, not connected.
    pub offline: u64,
    pub revoked: u64,
}

/// Sync health of one source of one agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DashboardSource {
    #[schema(value_type = String, example = "wh-agent-1")]
    pub agent: AgentId,
    #[schema(value_type = String, example = "sh")]
    pub site: SiteId,
    #[schema(value_type = String, example = "inventory")]
    pub source: SourceName,
    /// Whether the agent has a live connection right now.
    pub connected: bool,
    /// Every seq up to and including this one is applied at the hub.
    pub applied_seq: u64,
    /// Changes applied into the hub's tables.
    pub records_applied: u64,
    /// Changes waiting in the agent's outbox, as the agent last reported (stale while it is
    /// disconnected).
    pub backlog: u64,
    /// How long, in seconds, the oldest change known to wait at the agent has been waiting:
    /// since the first status report in which the agent said it held that change durably
    /// (agents report every 10 s by default, so that is the resolution). 0 when every change
    /// the agent reported is applied. It keeps growing while the agent is disconnected with
    /// reported changes unapplied; changes made after its last report are unknown to the hub.
    pub lag_secs: u64,
    /// Rows the agent refused and kept in its quarantine (as last reported).
    pub quarantined: u64,
    /// Changes the hub refused while applying.
    pub rejected: u64,
    /// The last error the source reported, if it is currently failing.
    pub last_error: Option<String>,
    /// When the hub last applied changes from this source; `null` if never (or not since the
    /// hub was upgraded to record it).
    #[serde(with = "crate::utc::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_applied_at: Option<OffsetDateTime>,
}

/// Stock totals of one warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DashboardWarehouse {
    #[schema(value_type = String, example = "WH-SH")]
    pub warehouse: WarehouseCode,
    /// Stock rows (SKUs) in the warehouse.
    pub skus: u64,
    /// Sum of their on-hand quantities.
    pub on_hand: i64,
    /// When a change last reached a row of the warehouse; `null` if the hub does not know.
    #[serde(with = "crate::utc::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub updated_at: Option<OffsetDateTime>,
}

/// The time series behind the charts: one point per bucket, oldest first, ending with the
/// current minute, so the x axis is fixed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DashboardSeries {
    /// Always [`DASHBOARD_BUCKET_SECS`].
    #[schema(example = 60)]
    pub bucket_secs: u32,
    pub points: Vec<DashboardPoint>,
}

/// One bucket of the series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DashboardPoint {
    /// The start of the bucket.
    #[serde(with = "crate::utc")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-26T10:59:00Z")]
    pub at: OffsetDateTime,
    /// Changes applied in the bucket, all of the tenant's sources (0 if none); for a
    /// warehouse-bound user only the stock changes of its warehouses.
    pub changes: u64,
    /// Total backlog the agents reported, as sampled once a minute (carried forward from the
    /// last sample when a bucket has none, 0 before the first; the current minute shows the
    /// value now). 0 without `agents:read`.
    pub backlog: u64,
    /// Agents online, sampled and carried forward like `backlog`; 0 without `agents:read`.
    pub agents_online: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = StockCursor {
            warehouse: WarehouseCode::new("WH 1").unwrap(),
            sku: Sku::new("红-1").unwrap(),
        };
        assert_eq!(StockCursor::decode(&c.encode()).unwrap(), c);
        assert!(StockCursor::decode("not a cursor").is_err());
        assert!(StockCursor::decode(&URL_SAFE_NO_PAD.encode(b"{\"w\":\"\",\"s\":\"a\"}")).is_err());
    }

    #[test]
    fn stock_query_limits() {
        let q = StockQuery::default().validated().unwrap();
        assert_eq!(q.limit, Some(STOCK_LIMIT_DEFAULT));
        for limit in [0, STOCK_LIMIT_MAX + 1] {
            let q = StockQuery {
                limit: Some(limit),
                ..StockQuery::default()
            };
            assert!(matches!(q.validated(), Err(ApiError::BadRequest(_))));
        }
    }

    #[test]
    fn agent_role_schema_serializes_like_agent_role() {
        for role in [AgentRole::Warehouse, AgentRole::Finance, AgentRole::Pos] {
            assert_eq!(
                serde_json::to_value(role).unwrap(),
                serde_json::to_value(AgentRoleSchema::from(role)).unwrap()
            );
        }
    }

    #[test]
    fn dashboard_minutes_limits() {
        let q = |minutes| DashboardQuery { minutes };
        assert_eq!(
            q(None).minutes_checked().unwrap(),
            DASHBOARD_MINUTES_DEFAULT
        );
        assert_eq!(q(Some(1)).minutes_checked().unwrap(), 1);
        assert_eq!(
            q(Some(DASHBOARD_MINUTES_MAX)).minutes_checked().unwrap(),
            DASHBOARD_MINUTES_MAX
        );
        for bad in [0, DASHBOARD_MINUTES_MAX + 1] {
            assert!(matches!(
                q(Some(bad)).minutes_checked(),
                Err(ApiError::BadRequest(_))
            ));
        }
    }

    #[test]
    fn token_ttl_limits() {
        let mut req = TokenRequest {
            site: SiteId::new("s1").unwrap(),
            role: AgentRole::Warehouse,
            ttl_secs: None,
        };
        assert_eq!(req.ttl_secs_checked().unwrap(), TOKEN_TTL_SECS_DEFAULT);
        req.ttl_secs = Some(TOKEN_TTL_SECS_MAX);
        assert_eq!(req.ttl_secs_checked().unwrap(), TOKEN_TTL_SECS_MAX);
        req.ttl_secs = Some(TOKEN_TTL_SECS_MAX + 1);
        assert!(req.ttl_secs_checked().is_err());
        req.ttl_secs = Some(0);
        assert!(req.ttl_secs_checked().is_err());
    }
}
