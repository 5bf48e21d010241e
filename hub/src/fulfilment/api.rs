//! PLACEHOLDER of the fulfilment room's service: answers every call "not found" until the
//! room's real service replaces this file. Keeps the router's `Domains` complete meanwhile.

use crate::hub::Hub;
use std::sync::Arc;
use xt_mobile_api::fulfilment::{
    DeliveryConfirm, DeliveryException, DeliveryPage, DeliveryQueryChecked, DeliveryView,
    FulfilmentAction, FulfilmentBoard, FulfilmentPage, FulfilmentQueryChecked, FulfilmentSettings,
    FulfilmentView, QimenReply, WarehouseNew, WarehouseView,
};
use xt_mobile_api::{ApiError, FulfilmentApi, Principal};
use xt_shared::ids::{DocNo, TenantId, WarehouseCode};

/// The fulfilment service (placeholder: nothing is in fulfilment yet).
pub struct FulfilmentService {
    _hub: Arc<Hub>,
}

impl FulfilmentService {
    pub fn new(hub: Arc<Hub>) -> FulfilmentService {
        FulfilmentService { _hub: hub }
    }
}

fn unavailable() -> ApiError {
    ApiError::NotFound("fulfilment is not available on this hub yet".into())
}

impl FulfilmentApi for FulfilmentService {
    fn board(&self, _: &TenantId) -> Result<FulfilmentBoard, ApiError> {
        Err(unavailable())
    }

    fn fulfilments(
        &self,
        _: &TenantId,
        _: &FulfilmentQueryChecked,
    ) -> Result<FulfilmentPage, ApiError> {
        Err(unavailable())
    }

    fn fulfilment(&self, _: &TenantId, _: &str, _: &str) -> Result<FulfilmentView, ApiError> {
        Err(unavailable())
    }

    fn act(
        &self,
        _: &Principal,
        _: &str,
        _: &str,
        _: &FulfilmentAction,
    ) -> Result<FulfilmentView, ApiError> {
        Err(unavailable())
    }

    fn warehouses(&self, _: &Principal) -> Result<Vec<WarehouseView>, ApiError> {
        Err(unavailable())
    }

    fn create_warehouse(&self, _: &TenantId, _: &WarehouseNew) -> Result<WarehouseView, ApiError> {
        Err(unavailable())
    }

    fn update_warehouse(&self, _: &TenantId, _: &WarehouseNew) -> Result<WarehouseView, ApiError> {
        Err(unavailable())
    }

    fn settings(&self, _: &TenantId) -> Result<FulfilmentSettings, ApiError> {
        Err(unavailable())
    }

    fn put_settings(
        &self,
        _: &TenantId,
        _: &FulfilmentSettings,
    ) -> Result<FulfilmentSettings, ApiError> {
        Err(unavailable())
    }

    fn deliveries(
        &self,
        _: &Principal,
        _: &DeliveryQueryChecked,
    ) -> Result<DeliveryPage, ApiError> {
        Err(unavailable())
    }

    fn delivery(&self, _: &Principal, _: &DocNo) -> Result<DeliveryView, ApiError> {
        Err(unavailable())
    }

    fn confirm_delivery(
        &self,
        _: &Principal,
        _: &DocNo,
        _: &DeliveryConfirm,
    ) -> Result<DeliveryView, ApiError> {
        Err(unavailable())
    }

    fn report_delivery_exception(
        &self,
        _: &Principal,
        _: &DocNo,
        _: &DeliveryException,
    ) -> Result<DeliveryView, ApiError> {
        Err(unavailable())
    }

    fn qimen_callback(&self, _: &TenantId, _: &WarehouseCode, _: &str, _: &[u8]) -> QimenReply {
        QimenReply {
            status: 401,
            content_type: "application/xml; charset=utf-8".into(),
            body: b"<response><flag>failure</flag><code>unknown-warehouse</code>\
<message>no such qimen warehouse</message></response>"
                .to_vec(),
        }
    }
}
