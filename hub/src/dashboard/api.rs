//! The dashboard room's side of the HTTP API: [`DashboardService`] implements
//! [`DashboardApi`](xt_mobile_api::DashboardApi).

use crate::hub::Hub;
use std::sync::Arc;
use xt_mobile_api::DashboardApi;
use xt_mobile_api::{ApiError, Principal};

/// The dashboard room's service: the tenant at a glance, from pre-aggregates.
pub struct DashboardService {
    hub: Arc<Hub>,
}

impl DashboardService {
    pub fn new(hub: Arc<Hub>) -> DashboardService {
        DashboardService { hub }
    }
}

impl DashboardApi for DashboardService {
    fn dashboard(
        &self,
        principal: &Principal,
        minutes: u32,
    ) -> Result<xt_mobile_api::Dashboard, ApiError> {
        crate::dashboard::build(&self.hub, principal, minutes, crate::hub::now_ms())
    }
}
