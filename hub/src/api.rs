//! The hub's side of the HTTP surface: [`HttpApi`] builds the router's [`Domains`], one service
//! per room (each room's `api.rs` implements its domain trait), and the operator's service.

use crate::agents::api::AgentsService;
use crate::dashboard::api::DashboardService;
use crate::events::api::EventsService;
use crate::fulfilment::api::FulfilmentService;
use crate::hub::Hub;
use crate::identity::api::IdentityService;
use crate::identity::throttle::LoginThrottle;
use crate::orders::api::OrdersService;
use crate::shops::api::ShopsService;
use crate::stock::api::StockService;
use std::sync::Arc;
use std::time::Duration;
use xt_mobile_api::ApiError;
use xt_mobile_api::time::OffsetDateTime;
use xt_mobile_api::{Domains, OperationsApi};
use xt_shared::model::UtcMillis;

/// What the HTTP surface is built from: the hub and the settings of its services;
/// [`HttpApi::domains`] makes one service per room.
pub struct HttpApi {
    hub: Arc<Hub>,
    throttle: LoginThrottle,
    agents_dial: AgentsDial,
    /// See [`HttpApi::with_stock_delay`]; zero in a served hub.
    stock_delay: Duration,
}

/// Where agents reach this hub, as told to whoever makes an enrollment token.
#[derive(Debug, Clone, Default)]
pub struct AgentsDial {
    /// The UDP port QUIC is bound to (0 = not serving QUIC, e.g. a router under test).
    pub quic_port: u16,
    /// `host:port` agents should dial, when the operator said (`serve --agent-address`).
    pub address: Option<String>,
}

impl HttpApi {
    /// The router's [`Domains`]: one service per room.
    pub fn domains(self) -> Domains {
        let HttpApi {
            hub,
            throttle,
            agents_dial,
            stock_delay,
        } = self;
        Domains {
            identity: Arc::new(IdentityService::new(Arc::clone(&hub), throttle)),
            agents: Arc::new(AgentsService::new(Arc::clone(&hub), agents_dial)),
            stock: Arc::new(StockService::new(Arc::clone(&hub), stock_delay)),
            dashboard: Arc::new(DashboardService::new(Arc::clone(&hub))),
            shops: Arc::new(ShopsService::new(Arc::clone(&hub))),
            orders: Arc::new(OrdersService::new(Arc::clone(&hub))),
            fulfilment: Arc::new(FulfilmentService::new(Arc::clone(&hub))),
            events: Arc::new(EventsService::new(Arc::clone(&hub))),
            operations: Arc::new(OperationsService { hub }),
        }
    }
}

impl HttpApi {
    pub fn new(hub: Arc<Hub>) -> HttpApi {
        HttpApi::with_throttle(hub, LoginThrottle::default())
    }

    /// With a sign-in throttle of other budgets (benchmarks and tests).
    pub fn with_throttle(hub: Arc<Hub>, throttle: LoginThrottle) -> HttpApi {
        HttpApi {
            hub,
            throttle,
            agents_dial: AgentsDial::default(),
            stock_delay: Duration::ZERO,
        }
    }

    /// For tests of the router's budgets: every stock listing first holds its blocking thread
    /// this long, as a slow disk would. Never set by `serve`.
    pub fn with_stock_delay(mut self, delay: Duration) -> HttpApi {
        self.stock_delay = delay;
        self
    }

    /// Tells enrollment-token makers where agents reach this hub.
    pub fn with_agents_dial(mut self, dial: AgentsDial) -> HttpApi {
        self.agents_dial = dial;
        self
    }
}

pub(crate) fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(e.to_string())
}

/// The hub's one conversion of a stored time for the API ([`xt_mobile_api::utc::from_unix_ms`]):
/// a time out of range is an error naming it, never shown as 1970.
pub(crate) fn utc(ms: UtcMillis) -> Result<OffsetDateTime, ApiError> {
    xt_mobile_api::utc::from_unix_ms(ms.0)
}

/// [`utc`] of a time that may be absent.
pub(crate) fn utc_opt(ms: Option<UtcMillis>) -> Result<Option<OffsetDateTime>, ApiError> {
    ms.map(utc).transpose()
}

/// The operator's service: Prometheus metrics of the whole hub.
pub struct OperationsService {
    hub: Arc<Hub>,
}

impl OperationsApi for OperationsService {
    fn metrics_text(&self) -> Result<String, ApiError> {
        Ok(self.hub.metrics().encode())
    }

    fn observe_http(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.hub
            .metrics()
            .observe_http(method, route, status, seconds);
    }
}

#[cfg(test)]
mod time_tests {
    use super::*;

    #[test]
    fn a_stored_time_out_of_range_is_an_error_never_1970() {
        assert_eq!(
            utc(UtcMillis(1_700_000_000_123)).unwrap(),
            OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_000_000).unwrap()
        );
        for ms in [i64::MAX, i64::MIN] {
            let e = utc(UtcMillis(ms)).unwrap_err();
            assert!(e.to_string().contains("out of range"), "{e}");
            assert!(utc_opt(Some(UtcMillis(ms))).is_err());
        }
        assert_eq!(utc_opt(None).unwrap(), None);
    }
}
