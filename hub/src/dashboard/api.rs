//! The room's side of the HTTP API.

use crate::api::HttpApi;
use xt_mobile_api::DashboardApi;
use xt_mobile_api::{ApiError, Principal};

impl DashboardApi for HttpApi {
    fn dashboard(
        &self,
        principal: &Principal,
        minutes: u32,
    ) -> Result<xt_mobile_api::Dashboard, ApiError> {
        crate::dashboard::build(&self.hub, principal, minutes, crate::hub::now_ms())
    }
}
