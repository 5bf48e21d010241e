//! What the fulfilment routes take from people at work: query strings, action bodies,
//! delivery confirmations and exception reports, each parsed once at the edge into a checked
//! type the hub relies on (`FulfilmentQuery` → [`FulfilmentQueryChecked`],
//! `FulfilmentActionRequest` → [`FulfilmentAction`], …). A refusal is a 400 naming the field
//! and why. The configuration bodies (warehouses, settings) are in `config.rs`.

use super::views::{ActionKind, DeliveryExceptionKind, DeliveryState, FulfilmentState};
use crate::error::ApiError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use utoipa::{IntoParams, ToSchema};
use xt_shared::ids::{Sku, WarehouseCode};

/// Orders per page of `GET /api/v1/fulfilment/orders` by default and at most.
pub const FULFILMENTS_LIMIT_DEFAULT: u32 = 50;
pub const FULFILMENTS_LIMIT_MAX: u32 = 500;
/// Delivery orders per page of `GET /api/v1/deliveries` by default and at most.
pub const DELIVERIES_LIMIT_DEFAULT: u32 = 50;
pub const DELIVERIES_LIMIT_MAX: u32 = 200;
/// Longest cursor accepted, in bytes.
pub const CURSOR_BYTES_MAX: usize = 512;
/// Longest reason (hold, cancel, exception), in characters.
pub const REASON_CHARS_MAX: usize = 200;
/// Most parts a split by hand makes.
pub const SPLIT_PARTS_MAX: usize = 20;
/// Most lines in one split part or one package.
pub const LINES_MAX: usize = 200;
/// Largest quantity of one line.
pub const QUANTITY_MAX: u32 = 1_000_000;
/// Most packages in one confirmation.
pub const PACKAGES_MAX: usize = 50;
/// Longest carrier code and tracking number, in bytes.
pub const CARRIER_BYTES_MAX: usize = 16;
pub const TRACKING_NO_BYTES_MAX: usize = 40;
/// Longest confirmation id, in bytes.
pub const CONFIRMATION_ID_BYTES_MAX: usize = 64;
/// Largest 3PL callback body, and longest query string (its signature travels there), in
/// bytes. A `deliveryorder.confirm` with many packages is some tens of KiB.
pub const QIMEN_BODY_BYTES_MAX: usize = 1024 * 1024;
pub const QIMEN_QUERY_BYTES_MAX: usize = 4096;

/// The carriers the console offers (Taobao/Cainiao and Qimen codes); any code of
/// 1 to [`CARRIER_BYTES_MAX`] capitals, digits and `_` is accepted, and the hub maps it per
/// platform when writing back.
pub const COMMON_CARRIERS: &[&str] = &[
    "SF", "ZTO", "YTO", "YUNDA", "STO", "EMS", "POSTB", "JD", "JTSD", "DBKD", "HTKY", "ZJS",
];

pub(super) fn bad(message: String) -> ApiError {
    ApiError::BadRequest(message)
}

/// A person's text: trimmed, 1 to `max` characters, no control characters.
pub(super) fn human_text(field: &str, raw: &str, max: usize) -> Result<String, ApiError> {
    let text = raw.trim();
    let chars = text.chars().count();
    if chars == 0 || chars > max || text.chars().any(char::is_control) {
        return Err(bad(format!(
            "{field} must be 1 to {max} characters without control characters"
        )));
    }
    Ok(text.to_owned())
}

pub(super) fn warehouse(field: &str, raw: &str) -> Result<WarehouseCode, ApiError> {
    WarehouseCode::new(raw).map_err(|e| bad(format!("{field}: {e}")))
}

pub(super) fn sku(field: &str, raw: &str) -> Result<Sku, ApiError> {
    Sku::new(raw).map_err(|e| bad(format!("{field}: {e}")))
}

fn quantity(field: &str, q: u32) -> Result<u32, ApiError> {
    if (1..=QUANTITY_MAX).contains(&q) {
        Ok(q)
    } else {
        Err(bad(format!(
            "{field} must be between 1 and {QUANTITY_MAX}, got {q}"
        )))
    }
}

fn limit(raw: Option<u32>, default: u32, max: u32) -> Result<usize, ApiError> {
    let limit = raw.unwrap_or(default);
    if !(1..=max).contains(&limit) {
        return Err(bad(format!(
            "limit must be between 1 and {max}, got {limit}"
        )));
    }
    Ok(limit as usize)
}

/// A cursor: URL-safe base64 of the JSON of where a page ended.
fn encode_cursor<T: Serialize>(at: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(at).expect("a cursor encodes"))
}

fn decode_cursor<T: DeserializeOwned>(s: &str) -> Result<T, ApiError> {
    let invalid = || bad("invalid cursor (pass next_cursor unchanged)".into());
    if s.len() > CURSOR_BYTES_MAX {
        return Err(invalid());
    }
    let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| invalid())?;
    serde_json::from_slice(&bytes).map_err(|_| invalid())
}

/// `GET /api/v1/fulfilment/orders` query string.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FulfilmentQuery {
    /// Only orders in this state (`held` is the review queue).
    pub state: Option<String>,
    /// Only orders with a part dispatched to this warehouse.
    pub warehouse: Option<String>,
    /// Opaque: the `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Rows per page: default 50, 1 to 500.
    pub limit: Option<u32>,
}

/// Where a fulfilment page ended: the listing key of its last row (oldest `since` first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FulfilmentCursor {
    /// When the row's order entered its state, in ms since the epoch.
    pub since: i64,
    pub shop: String,
    pub order_no: String,
}

impl FulfilmentCursor {
    pub fn encode(&self) -> String {
        encode_cursor(self)
    }

    pub fn decode(s: &str) -> Result<FulfilmentCursor, ApiError> {
        decode_cursor(s)
    }
}

/// A [`FulfilmentQuery`] checked: the hub relies on every field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FulfilmentQueryChecked {
    pub state: Option<FulfilmentState>,
    pub warehouse: Option<WarehouseCode>,
    pub after: Option<FulfilmentCursor>,
    pub limit: usize,
}

impl FulfilmentQuery {
    pub fn validated(&self) -> Result<FulfilmentQueryChecked, ApiError> {
        Ok(FulfilmentQueryChecked {
            state: self.state.as_deref().map(parse_state).transpose()?,
            warehouse: self
                .warehouse
                .as_deref()
                .map(|w| warehouse("warehouse", w))
                .transpose()?,
            after: self
                .cursor
                .as_deref()
                .map(FulfilmentCursor::decode)
                .transpose()?,
            limit: limit(self.limit, FULFILMENTS_LIMIT_DEFAULT, FULFILMENTS_LIMIT_MAX)?,
        })
    }
}

fn parse_state(s: &str) -> Result<FulfilmentState, ApiError> {
    FulfilmentState::ALL
        .into_iter()
        .find(|state| state.as_str() == s)
        .ok_or_else(|| bad(format!("state {s:?} is not a fulfilment state")))
}

/// `GET /api/v1/deliveries` query string.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    /// Only this warehouse. Warehouse staff see only the warehouses they are bound to
    /// (another one lists nothing); without it, all of theirs.
    pub warehouse: Option<String>,
    /// Only this state: default `pending` (what is waiting to be shipped).
    pub state: Option<String>,
    /// Opaque: the `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Rows per page: default 50, 1 to 200.
    pub limit: Option<u32>,
}

/// Where a delivery page ended: the listing key of its last row (oldest first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryCursor {
    /// When the row's delivery order was made, in ms since the epoch.
    pub created: i64,
    pub delivery_no: String,
}

impl DeliveryCursor {
    pub fn encode(&self) -> String {
        encode_cursor(self)
    }

    pub fn decode(s: &str) -> Result<DeliveryCursor, ApiError> {
        decode_cursor(s)
    }
}

/// A [`DeliveryQuery`] checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryQueryChecked {
    pub warehouse: Option<WarehouseCode>,
    pub state: DeliveryState,
    pub after: Option<DeliveryCursor>,
    pub limit: usize,
}

impl DeliveryQuery {
    pub fn validated(&self) -> Result<DeliveryQueryChecked, ApiError> {
        let state = match self.state.as_deref() {
            None => DeliveryState::Pending,
            Some(s) => serde_json::from_value(serde_json::Value::String(s.to_owned()))
                .map_err(|_| bad(format!("state {s:?} is not a delivery state")))?,
        };
        Ok(DeliveryQueryChecked {
            warehouse: self
                .warehouse
                .as_deref()
                .map(|w| warehouse("warehouse", w))
                .transpose()?,
            state,
            after: self
                .cursor
                .as_deref()
                .map(DeliveryCursor::decode)
                .transpose()?,
            limit: limit(self.limit, DELIVERIES_LIMIT_DEFAULT, DELIVERIES_LIMIT_MAX)?,
        })
    }
}

/// A SKU and a quantity as a request sends them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineInput {
    #[schema(example = "CUP-1")]
    pub sku: String,
    #[schema(example = 1)]
    pub quantity: u32,
}

/// A checked [`LineInput`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineChecked {
    pub sku: Sku,
    pub quantity: u32,
}

/// Checks lines: 1 to [`LINES_MAX`], each SKU once, quantities 1 to [`QUANTITY_MAX`].
fn lines(field: &str, input: &[LineInput]) -> Result<Vec<LineChecked>, ApiError> {
    if input.is_empty() || input.len() > LINES_MAX {
        return Err(bad(format!("{field} must hold 1 to {LINES_MAX} lines")));
    }
    let mut seen = BTreeSet::new();
    input
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let sku = sku(&format!("{field}[{i}].sku"), &l.sku)?;
            if !seen.insert(sku.clone()) {
                return Err(bad(format!("{field}: sku {sku} is listed twice")));
            }
            Ok(LineChecked {
                sku,
                quantity: quantity(&format!("{field}[{i}].quantity"), l.quantity)?,
            })
        })
        .collect()
}

/// One part of a split by hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SplitPartInput {
    #[schema(example = "WH-SH")]
    pub warehouse: String,
    pub lines: Vec<LineInput>,
}

/// `POST /api/v1/fulfilment/orders/{id}/actions` body. `reason` goes with `hold` and
/// `cancel` (required), `warehouse` with `reroute`, `parts` with `split` (2 or more, the
/// order's lines shared among them); no field goes with another action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FulfilmentActionRequest {
    pub action: ActionKind,
    #[schema(example = "买家要求改地址，等客服确认")]
    pub reason: Option<String>,
    #[schema(example = "WH-SH")]
    pub warehouse: Option<String>,
    pub parts: Option<Vec<SplitPartInput>>,
}

/// A checked split part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitPart {
    pub warehouse: WarehouseCode,
    pub lines: Vec<LineChecked>,
}

/// What a person does to an order, checked. Whether it applies in the order's state, and
/// whether a split's parts add up to the order's lines, the hub decides (`Conflict` /
/// `BadRequest` with the reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FulfilmentAction {
    Approve,
    Hold { reason: String },
    Release,
    Cancel { reason: String },
    Reroute { warehouse: WarehouseCode },
    Split { parts: Vec<SplitPart> },
}

impl FulfilmentActionRequest {
    pub fn validated(&self) -> Result<FulfilmentAction, ApiError> {
        let action = self.action;
        let name = action.as_str();
        let takes = |field: &str, given: bool, wanted: bool| -> Result<(), ApiError> {
            match (given, wanted) {
                (true, false) => Err(bad(format!("{field} does not go with {name}"))),
                (false, true) => Err(bad(format!("{name} needs {field}"))),
                _ => Ok(()),
            }
        };
        let with_reason = matches!(action, ActionKind::Hold | ActionKind::Cancel);
        takes("reason", self.reason.is_some(), with_reason)?;
        takes(
            "warehouse",
            self.warehouse.is_some(),
            action == ActionKind::Reroute,
        )?;
        takes("parts", self.parts.is_some(), action == ActionKind::Split)?;
        let reason = || {
            human_text(
                "reason",
                self.reason.as_deref().unwrap_or(""),
                REASON_CHARS_MAX,
            )
        };
        Ok(match action {
            ActionKind::Approve => FulfilmentAction::Approve,
            ActionKind::Release => FulfilmentAction::Release,
            ActionKind::Hold => FulfilmentAction::Hold { reason: reason()? },
            ActionKind::Cancel => FulfilmentAction::Cancel { reason: reason()? },
            ActionKind::Reroute => FulfilmentAction::Reroute {
                warehouse: warehouse("warehouse", self.warehouse.as_deref().unwrap_or(""))?,
            },
            ActionKind::Split => {
                let parts = self.parts.as_deref().unwrap_or_default();
                if !(2..=SPLIT_PARTS_MAX).contains(&parts.len()) {
                    return Err(bad(format!(
                        "a split makes 2 to {SPLIT_PARTS_MAX} parts, got {}",
                        parts.len()
                    )));
                }
                let parts = parts
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        Ok(SplitPart {
                            warehouse: warehouse(&format!("parts[{i}].warehouse"), &p.warehouse)?,
                            lines: lines(&format!("parts[{i}].lines"), &p.lines)?,
                        })
                    })
                    .collect::<Result<_, ApiError>>()?;
                FulfilmentAction::Split { parts }
            }
        })
    }
}

/// One parcel of a confirmation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PackageInput {
    #[schema(example = "SF")]
    pub carrier: String,
    #[schema(example = "SF1234567890123")]
    pub tracking_no: String,
    /// What is in it; may be left out only when the confirmation is this one package (then
    /// it holds every line not shipped yet).
    pub lines: Option<Vec<LineInput>>,
}

/// `POST /api/v1/deliveries/{delivery_no}/confirm` body: either `carrier` and `tracking_no`
/// (one parcel with everything not shipped yet) or `packages` (several parcels, or part of
/// the lines: a partial shipment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfirmRequest {
    #[schema(example = "SF")]
    pub carrier: Option<String>,
    #[schema(example = "SF1234567890123")]
    pub tracking_no: Option<String>,
    pub packages: Option<Vec<PackageInput>>,
    /// Chosen by the client, one per confirmation: sending it again (a retry after a lost
    /// answer) answers the same without shipping twice. Without it, a package whose carrier
    /// and tracking number the delivery already has is taken as the same package.
    #[schema(example = "c-5f0c2a9e")]
    pub confirmation_id: Option<String>,
}

/// One parcel, checked. `lines: None`: every line not shipped yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageConfirm {
    pub carrier: String,
    pub tracking_no: String,
    pub lines: Option<Vec<LineChecked>>,
}

/// A [`DeliveryConfirmRequest`] checked: 1 to [`PACKAGES_MAX`] packages, lines left out only
/// when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryConfirm {
    pub confirmation_id: Option<String>,
    pub packages: Vec<PackageConfirm>,
}

fn carrier(field: &str, raw: &str) -> Result<String, ApiError> {
    let ok = !raw.is_empty()
        && raw.len() <= CARRIER_BYTES_MAX
        && raw
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if !ok {
        return Err(bad(format!(
            "{field} must be a carrier code of 1 to {CARRIER_BYTES_MAX} capitals, digits or _ \
             (SF, ZTO, YTO, YUNDA, …)"
        )));
    }
    Ok(raw.to_owned())
}

fn tracking_no(field: &str, raw: &str) -> Result<String, ApiError> {
    let ok = !raw.is_empty()
        && raw.len() <= TRACKING_NO_BYTES_MAX
        && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !ok {
        return Err(bad(format!(
            "{field} must be 1 to {TRACKING_NO_BYTES_MAX} letters, digits or -"
        )));
    }
    Ok(raw.to_owned())
}

impl DeliveryConfirmRequest {
    pub fn validated(&self) -> Result<DeliveryConfirm, ApiError> {
        let confirmation_id = self
            .confirmation_id
            .as_deref()
            .map(|id| {
                let ok = !id.is_empty()
                    && id.len() <= CONFIRMATION_ID_BYTES_MAX
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
                if ok {
                    Ok(id.to_owned())
                } else {
                    Err(bad(format!(
                        "confirmation_id must be 1 to {CONFIRMATION_ID_BYTES_MAX} letters, \
                         digits, -, _ or ."
                    )))
                }
            })
            .transpose()?;
        let packages = match (&self.carrier, &self.tracking_no, &self.packages) {
            (Some(c), Some(t), None) => vec![PackageConfirm {
                carrier: carrier("carrier", c)?,
                tracking_no: tracking_no("tracking_no", t)?,
                lines: None,
            }],
            (None, None, Some(packages)) => {
                if packages.is_empty() || packages.len() > PACKAGES_MAX {
                    return Err(bad(format!(
                        "packages must hold 1 to {PACKAGES_MAX} packages"
                    )));
                }
                let several = packages.len() > 1;
                let mut seen = BTreeSet::new();
                packages
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        let checked = PackageConfirm {
                            carrier: carrier(&format!("packages[{i}].carrier"), &p.carrier)?,
                            tracking_no: tracking_no(
                                &format!("packages[{i}].tracking_no"),
                                &p.tracking_no,
                            )?,
                            lines: match &p.lines {
                                Some(l) => Some(lines(&format!("packages[{i}].lines"), l)?),
                                None if several => {
                                    return Err(bad(format!(
                                        "packages[{i}].lines: with several packages each lists \
                                         its lines"
                                    )));
                                }
                                None => None,
                            },
                        };
                        if !seen.insert((checked.carrier.clone(), checked.tracking_no.clone())) {
                            return Err(bad(format!(
                                "packages[{i}]: tracking number {} of {} is given twice",
                                checked.tracking_no, checked.carrier
                            )));
                        }
                        Ok(checked)
                    })
                    .collect::<Result<_, ApiError>>()?
            }
            _ => {
                return Err(bad(
                    "give either carrier and tracking_no, or packages".into()
                ));
            }
        };
        Ok(DeliveryConfirm {
            confirmation_id,
            packages,
        })
    }
}

/// `POST /api/v1/deliveries/{delivery_no}/exception` body: why it cannot be shipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryExceptionRequest {
    pub kind: DeliveryExceptionKind,
    /// Required for `other`.
    #[schema(example = "货架上只有 1 件")]
    pub reason: Option<String>,
}

/// A [`DeliveryExceptionRequest`] checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryException {
    pub kind: DeliveryExceptionKind,
    pub reason: Option<String>,
}

impl DeliveryExceptionRequest {
    pub fn validated(&self) -> Result<DeliveryException, ApiError> {
        let reason = self
            .reason
            .as_deref()
            .map(|r| human_text("reason", r, REASON_CHARS_MAX))
            .transpose()?;
        if reason.is_none() && self.kind == DeliveryExceptionKind::Other {
            return Err(bad("an exception of kind other needs a reason".into()));
        }
        Ok(DeliveryException {
            kind: self.kind,
            reason,
        })
    }
}
