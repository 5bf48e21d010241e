//! The fulfilment room's service: `FulfilmentApi` over the room's store and intakes. Records
//! become views here (states, holds, timeline, dispatch explanation in both languages,
//! deliveries with packages and write-back); people's actions, phone confirmations, exception
//! reports and a 3PL's Qimen callbacks go through the ingest pipeline.
//!
//! *Invariant:* every call reads and writes only the caller's tenant (the Qimen callback: the
//! tenant its verified signature proves); a warehouse-bound caller sees only its warehouses'
//! delivery orders, any other answers `NotFound` exactly like another tenant's; no secret is
//! ever returned.

use super::decide::{
    Assignment, BlacklistEntry, Explanation, HoldReason, Lang, Line, Matched, MergeRules,
    Rejection, RepeatReceiver, ReviewRules, SplitRules,
};
use super::intake::{Act, ActError, Action, Confirm, ConfirmOutcome};
use super::machine::{Exception, State};
use super::qimen::{self, ConfirmError, ConfirmType};
use super::queries::{Refuse, RefuseOutcome};
use super::records::{
    Actor, DeliveryRecord, DeliveryState as DState, FulfilmentRecord, PlanPart, SettingsRecord,
    WarehouseChannel, WarehouseRecord, WriteBack,
};
use super::senders::qimen_aad;
use super::store::Confirmed;
use crate::api::{internal, utc};
use crate::hub::Hub;
use crate::store::StoreError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use xt_mobile_api::fulfilment::{
    ActionKind, ActorKind, BlacklistEntry as BlacklistDto, Coverage as CoverageDto,
    DeliveryConfirm, DeliveryCursor, DeliveryException, DeliveryExceptionKind,
    DeliveryExceptionView, DeliveryLineView, DeliveryPage, DeliveryQueryChecked,
    DeliveryReceiverView, DeliveryState as DeliveryStateDto, DeliveryView, DesignatedWarehouse,
    DispatchBasis, DispatchPart, FulfilmentAction, FulfilmentBoard, FulfilmentCursor,
    FulfilmentPage, FulfilmentQueryChecked, FulfilmentSettings, FulfilmentState, FulfilmentSummary,
    FulfilmentView, HoldReason as HoldCode, HoldView, LineQuantity, Localized, MergeSettings,
    MoneyInput, PackageView, QimenReply, QimenView, RejectReason, RejectedWarehouse,
    RepeatReceiver as RepeatDto, ReviewRules as ReviewDto, SplitSettings, StateCount, TimelineStep,
    WarehouseKind as KindDto, WarehouseKindChecked, WarehouseNew, WarehouseView, WritebackState,
    WritebackView,
};
use xt_mobile_api::orders::MoneyView;
use xt_mobile_api::shops::SecretSet;
use xt_mobile_api::{ApiError, FulfilmentApi, Principal};
use xt_shared::ids::{DocNo, TenantId, WarehouseCode};
use xt_shared::model::UtcMillis;

/// Rows a listing reads at most to fill one page when a filter skips rows; the page then ends
/// early with a cursor.
const SCAN_ROWS_MAX: usize = 2_000;

/// The fulfilment service.
pub struct FulfilmentService {
    hub: Arc<Hub>,
}

impl FulfilmentService {
    pub fn new(hub: Arc<Hub>) -> FulfilmentService {
        FulfilmentService { hub }
    }
}

fn now_ms() -> UtcMillis {
    UtcMillis(time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000)
}

fn store_err(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(why) => ApiError::Conflict(why),
        other => internal(other),
    }
}

fn order_not_found(shop: &str, order_no: &str) -> ApiError {
    ApiError::NotFound(format!(
        "order {order_no:?} of shop {shop:?} is not in fulfilment"
    ))
}

fn delivery_not_found(no: &str) -> ApiError {
    ApiError::NotFound(format!("delivery order {no:?} not found"))
}

fn money(minor: i64, currency: &str) -> MoneyView {
    MoneyView {
        minor,
        currency: currency.to_owned(),
    }
}

/// The API's name of a state.
pub fn state_dto(s: State) -> FulfilmentState {
    match s {
        State::Paid => FulfilmentState::Paid,
        State::Review => FulfilmentState::Review,
        State::Held => FulfilmentState::Held,
        State::Allocated => FulfilmentState::Allocated,
        State::Sent => FulfilmentState::Sent,
        State::PartlyShipped => FulfilmentState::PartlyShipped,
        State::Shipped => FulfilmentState::Shipped,
        State::Completed => FulfilmentState::Completed,
        State::Cancelled => FulfilmentState::Cancelled,
        State::Exception(Exception::InterceptFailed) => FulfilmentState::InterceptFailed,
        State::Exception(Exception::WarehouseRefused) => FulfilmentState::WarehouseRefused,
        State::Exception(Exception::OutOfStock) => FulfilmentState::OutOfStock,
        State::Exception(Exception::UnmappedSku) => FulfilmentState::UnmappedSku,
        State::Exception(Exception::AddressIncomplete) => FulfilmentState::AddressIncomplete,
    }
}

fn state_of(s: FulfilmentState) -> State {
    State::ALL
        .into_iter()
        .find(|st| state_dto(*st) == s)
        .expect("every API state is a room state")
}

/// The people's actions that apply to an order in `s` (re-route and split: not once the
/// delivery order is made, unless the warehouse refused it; the room says so when asked).
pub fn actions_in(s: State) -> Vec<ActionKind> {
    use ActionKind as A;
    match s {
        State::Held => vec![A::Approve, A::Release, A::Cancel, A::Reroute, A::Split],
        State::Review => vec![A::Approve, A::Hold, A::Cancel],
        State::Exception(Exception::AddressIncomplete) => vec![A::Approve, A::Cancel],
        State::Allocated => vec![A::Hold, A::Cancel, A::Reroute, A::Split],
        State::Exception(Exception::WarehouseRefused | Exception::OutOfStock) => {
            vec![A::Reroute, A::Split, A::Cancel]
        }
        State::Paid | State::Sent | State::PartlyShipped | State::Exception(_) => {
            vec![A::Cancel]
        }
        State::Shipped | State::Completed | State::Cancelled => Vec::new(),
    }
}

fn actor(a: &Actor) -> (ActorKind, Option<String>) {
    match a {
        Actor::Rule(name) => (ActorKind::Rule, Some(name.clone())),
        Actor::User(id) => (ActorKind::User, Some(id.clone())),
        Actor::Platform => (ActorKind::Platform, None),
        Actor::Warehouse(code) => (ActorKind::Warehouse, Some(code.clone())),
        Actor::Hub => (ActorKind::Hub, None),
    }
}

fn params<const N: usize>(pairs: [(&str, String); N]) -> BTreeMap<String, String> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn snake<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|j| j.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A hold as codes and parameters (the console words them).
pub fn hold_view(h: &HoldReason) -> (HoldCode, BTreeMap<String, String>) {
    match h {
        HoldReason::Blacklisted { matched } => {
            (HoldCode::Blacklisted, params([("matched", snake(matched))]))
        }
        HoldReason::UnmappedSku { lines } => {
            (HoldCode::UnmappedSku, params([("lines", lines.join(","))]))
        }
        HoldReason::AddressIncomplete { missing } => (
            HoldCode::AddressIncomplete,
            params([(
                "missing",
                missing.iter().map(snake).collect::<Vec<_>>().join(","),
            )]),
        ),
        HoldReason::RepeatReceiver { count, window_ms } => (
            HoldCode::RepeatReceiver,
            params([
                ("count", count.to_string()),
                ("window_minutes", (window_ms / 60_000).to_string()),
            ]),
        ),
        HoldReason::AmountOver { paid, limit } => (
            HoldCode::AmountOver,
            params([("paid", paid.to_string()), ("limit", limit.to_string())]),
        ),
        HoldReason::Cod => (HoldCode::Cod, BTreeMap::new()),
        HoldReason::BuyerMemo => (HoldCode::BuyerMemo, BTreeMap::new()),
        HoldReason::SellerMemo => (HoldCode::SellerMemo, BTreeMap::new()),
    }
}

fn holds(f: &FulfilmentRecord) -> Result<Vec<HoldView>, ApiError> {
    let at = utc(f.since)?;
    let mut out: Vec<HoldView> = f
        .holds
        .iter()
        .map(|h| {
            let (code, params) = hold_view(h);
            HoldView { code, params, at }
        })
        .collect();
    if let Some(reason) = &f.held_by_person {
        out.push(HoldView {
            code: HoldCode::Manual,
            params: params([("reason", reason.clone())]),
            at,
        });
    }
    Ok(out)
}

fn localized(why: &Explanation) -> Localized {
    Localized {
        zh_cn: why.text(Lang::Zh),
        en: why.text(Lang::En),
    }
}

fn reject_reason(r: &Rejection, chosen_priority: u32) -> RejectReason {
    match r {
        Rejection::Disabled => RejectReason::Disabled,
        Rejection::NotCovering => RejectReason::NotCovering,
        Rejection::Short { .. } => RejectReason::ShortOfStock,
        Rejection::LostTie { priority, .. } if *priority != chosen_priority => {
            RejectReason::LowerPriority
        }
        Rejection::LostTie { .. } | Rejection::ExtraParcel => RejectReason::HigherCost,
    }
}

fn dispatch_part(
    p: &PlanPart,
    at: UtcMillis,
    warehouses: &[(String, WarehouseRecord)],
) -> Result<DispatchPart, ApiError> {
    let why = &p.why;
    let currency = warehouses
        .iter()
        .find(|(c, _)| c == &p.warehouse)
        .map_or("CNY", |(_, w)| w.currency.as_str());
    Ok(DispatchPart {
        warehouse: p.warehouse.clone(),
        lines: p
            .lines
            .iter()
            .map(|(sku, q)| LineQuantity {
                sku: sku.clone(),
                quantity: u32::try_from(*q).unwrap_or(0),
            })
            .collect(),
        basis: if why.by_hand {
            DispatchBasis::Manual
        } else if !why.designated.is_empty() {
            DispatchBasis::Designated
        } else {
            DispatchBasis::Rules
        },
        explanation: localized(why),
        matched_region: match &why.matched {
            Matched::Province(r) | Matched::City(r) => Some(r.clone()),
            Matched::Everywhere | Matched::NotAsked => None,
        },
        lines_held: why.lines_held,
        lines_total: why.lines_total,
        priority: why.priority,
        cost: Some(money(why.cost_minor, currency)),
        rejected: why
            .rejected
            .iter()
            .map(|r| RejectedWarehouse {
                warehouse: r.warehouse.clone(),
                reason: reject_reason(&r.reason, why.priority),
                text: Localized {
                    zh_cn: r.reason.text(Lang::Zh),
                    en: r.reason.text(Lang::En),
                },
            })
            .collect(),
        at: utc(at)?,
    })
}

/// A delivery order's state as the API names it.
fn delivery_state(d: &DeliveryRecord) -> DeliveryStateDto {
    match d.state {
        DState::Sending => DeliveryStateDto::Sending,
        DState::Sent => DeliveryStateDto::Pending,
        DState::PartlyShipped => DeliveryStateDto::PartlyShipped,
        DState::Shipped => DeliveryStateDto::Shipped,
        DState::Cancelling => DeliveryStateDto::Cancelling,
        DState::Cancelled => DeliveryStateDto::Cancelled,
        DState::Refused { .. } | DState::CancelFailed { .. } => DeliveryStateDto::Exception,
    }
}

/// A phone report as kept in [`DeliveryRecord::exception`].
#[derive(Serialize, Deserialize)]
struct Report {
    kind: DeliveryExceptionKind,
    reason: Option<String>,
    by: Option<String>,
}

fn exception_view(d: &DeliveryRecord) -> Result<Option<DeliveryExceptionView>, ApiError> {
    let at = utc(d.updated_at)?;
    if let Some(text) = &d.exception {
        let r = serde_json::from_str::<Report>(text).unwrap_or(Report {
            kind: DeliveryExceptionKind::Other,
            reason: Some(text.clone()),
            by: None,
        });
        return Ok(Some(DeliveryExceptionView {
            kind: r.kind,
            reason: r.reason,
            by: r.by,
            at,
        }));
    }
    Ok(match &d.state {
        DState::Refused { reason } | DState::CancelFailed { reason } => {
            Some(DeliveryExceptionView {
                kind: DeliveryExceptionKind::Other,
                reason: Some(reason.clone()),
                by: Some(d.warehouse.clone()),
                at,
            })
        }
        _ => None,
    })
}

fn none_blank(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

fn kind_of(w: Option<&WarehouseRecord>) -> KindDto {
    match w.map(|w| &w.channel) {
        Some(WarehouseChannel::Agent { .. }) => KindDto::Agent,
        Some(WarehouseChannel::Qimen { .. }) => KindDto::Qimen,
        Some(WarehouseChannel::Phone) | None => KindDto::Phone,
    }
}

fn delivery_view(
    no: &str,
    d: &DeliveryRecord,
    warehouses: &[(String, WarehouseRecord)],
) -> Result<DeliveryView, ApiError> {
    let w = warehouses
        .iter()
        .find(|(c, _)| c == &d.warehouse)
        .map(|(_, w)| w);
    let order_ids: Vec<String> = d.orders.iter().map(|o| format!("{}:{o}", d.shop)).collect();
    let packages = d
        .packages
        .iter()
        .map(|p| {
            let (state, attempts, last_error, ack) = match &p.write_back {
                WriteBack::Pending {
                    attempts,
                    last_error,
                } => (WritebackState::Pending, *attempts, last_error.clone(), None),
                WriteBack::Acknowledged { at } => {
                    (WritebackState::Acknowledged, 0, None, Some(utc(*at)?))
                }
                WriteBack::Failed { attempts, error } => {
                    (WritebackState::Failed, *attempts, Some(error.clone()), None)
                }
            };
            let confirmed_by = if p.key.starts_with("phone:") {
                ActorKind::User
            } else {
                ActorKind::Warehouse
            };
            Ok(PackageView {
                carrier: p.carrier.clone(),
                tracking_no: p.tracking_no.clone(),
                lines: p
                    .lines
                    .iter()
                    .map(|(sku, q)| LineQuantity {
                        sku: sku.clone(),
                        quantity: u32::try_from(*q).unwrap_or(0),
                    })
                    .collect(),
                shipped_at: utc(p.shipped_at)?,
                confirmed_by,
                confirmed_by_id: None,
                writeback: order_ids
                    .iter()
                    .map(|id| WritebackView {
                        order_id: id.clone(),
                        state,
                        attempts,
                        last_error: last_error.clone(),
                        last_attempt_at: None,
                        next_attempt_at: None,
                        acknowledged_at: ack,
                    })
                    .collect(),
            })
        })
        .collect::<Result<_, ApiError>>()?;
    let r = &d.receiver;
    Ok(DeliveryView {
        delivery_no: no.to_owned(),
        warehouse: d.warehouse.clone(),
        warehouse_kind: kind_of(w),
        state: delivery_state(d),
        shop_id: d.shop.clone(),
        order_ids,
        receiver: DeliveryReceiverView {
            name: none_blank(&r.name),
            phone: none_blank(&r.phone),
            province: none_blank(&r.province),
            city: none_blank(&r.city),
            district: none_blank(&r.district),
            address: none_blank(&r.address),
            zip: none_blank(&r.zip),
        },
        lines: d
            .lines
            .iter()
            .map(|l| DeliveryLineView {
                sku: l.sku.clone(),
                title: l.title.clone(),
                quantity: u32::try_from(l.quantity).unwrap_or(0),
                shipped: u32::try_from(l.shipped).unwrap_or(0),
            })
            .collect(),
        buyer_memo: d.buyer_memo.clone(),
        seller_memo: d.seller_memo.clone(),
        packages,
        exception: exception_view(d)?,
        created_at: utc(d.created_at)?,
        updated_at: utc(d.updated_at)?,
    })
}

fn mask(id: &str) -> String {
    xt_mobile_api::shops::mask(id)
}

fn warehouse_view(
    code: &str,
    w: &WarehouseRecord,
    open_deliveries: u64,
) -> Result<WarehouseView, ApiError> {
    let (kind, agent_id, qimen) = match &w.channel {
        WarehouseChannel::Agent { agent } => (KindDto::Agent, Some(agent.clone()), None),
        WarehouseChannel::Qimen {
            endpoint,
            app_key,
            sealed_secret,
            customer_id,
            owner_code,
        } => (
            KindDto::Qimen,
            None,
            Some(QimenView {
                endpoint: endpoint.clone(),
                app_key: mask(app_key),
                secret: SecretSet {
                    configured: !sealed_secret.is_empty(),
                },
                customer_id: customer_id.clone(),
                owner_code: owner_code.clone(),
            }),
        ),
        WarehouseChannel::Phone => (KindDto::Phone, None, None),
    };
    Ok(WarehouseView {
        code: code.to_owned(),
        name: w.name.clone(),
        kind,
        agent_id,
        qimen,
        coverage: CoverageDto {
            provinces: w.coverage.provinces.clone(),
            cities: w.coverage.cities.clone(),
        },
        priority: w.priority,
        cost: money(w.cost_minor, &w.currency),
        enabled: w.enabled,
        open_deliveries,
        updated_at: utc(w.updated_at)?,
    })
}

/// The stored settings as the API shows them (amounts in the tenant's currency, CNY).
pub fn settings_dto(s: &SettingsRecord) -> FulfilmentSettings {
    let r = &s.review;
    FulfilmentSettings {
        review: ReviewDto {
            hold_buyer_memo: r.hold_buyer_memo,
            hold_seller_memo: r.hold_seller_memo,
            amount_over: r.amount_over_minor.map(|minor| MoneyInput {
                minor,
                currency: "CNY".into(),
            }),
            hold_address_incomplete: r.hold_incomplete_address,
            hold_cod: r.hold_cod,
            hold_unmapped_sku: r.hold_unmapped_sku,
            repeat_receiver: r.repeat_receiver.as_ref().map(|rr| RepeatDto {
                count: rr.count,
                window_minutes: u32::try_from(rr.window_ms / 60_000).unwrap_or(u32::MAX),
            }),
            blacklist: r
                .blacklist
                .iter()
                .map(|e| match e {
                    BlacklistEntry::Buyer(b) => BlacklistDto {
                        name: Some(b.clone()),
                        phone: None,
                        address: None,
                    },
                    BlacklistEntry::Phone(p) => BlacklistDto {
                        name: None,
                        phone: Some(p.clone()),
                        address: None,
                    },
                    BlacklistEntry::NameAndAddress { name, address } => BlacklistDto {
                        name: Some(name.clone()),
                        phone: None,
                        address: Some(address.clone()),
                    },
                })
                .collect(),
        },
        merge: MergeSettings {
            enabled: s.merge.enabled,
            window_minutes: u32::try_from(s.merge.window_ms / 60_000).unwrap_or(u32::MAX),
        },
        split: SplitSettings {
            by_stock: s.split.split_by_stock,
            designated: s
                .split
                .designated
                .iter()
                .map(|(sku, warehouse)| DesignatedWarehouse {
                    sku: sku.clone(),
                    warehouse: warehouse.clone(),
                })
                .collect(),
        },
    }
}

/// The API's settings as stored: a blacklist entry with a phone matches by phone, one with a
/// name and an address by both, one with a name only by the buyer.
pub fn settings_record(s: &FulfilmentSettings) -> Result<SettingsRecord, ApiError> {
    let r = &s.review;
    let mut blacklist = Vec::new();
    for (i, e) in r.blacklist.iter().enumerate() {
        if let Some(p) = &e.phone {
            blacklist.push(BlacklistEntry::Phone(p.clone()));
        }
        match (&e.name, &e.address) {
            (Some(name), Some(address)) => blacklist.push(BlacklistEntry::NameAndAddress {
                name: name.clone(),
                address: address.clone(),
            }),
            (Some(name), None) => blacklist.push(BlacklistEntry::Buyer(name.clone())),
            (None, Some(_)) => {
                return Err(ApiError::BadRequest(format!(
                    "review.blacklist[{i}]: an address is matched together with a name"
                )));
            }
            (None, None) => {}
        }
    }
    let review = ReviewRules {
        hold_buyer_memo: r.hold_buyer_memo,
        hold_seller_memo: r.hold_seller_memo,
        amount_over_minor: r.amount_over.as_ref().map(|m| m.minor),
        hold_incomplete_address: r.hold_address_incomplete,
        hold_cod: r.hold_cod,
        hold_unmapped_sku: r.hold_unmapped_sku,
        repeat_receiver: r.repeat_receiver.as_ref().map(|rr| RepeatReceiver {
            count: rr.count,
            window_ms: i64::from(rr.window_minutes) * 60_000,
        }),
        blacklist,
        ..ReviewRules::default()
    };
    review
        .validate()
        .map_err(|e| ApiError::BadRequest(format!("review: {e}")))?;
    Ok(SettingsRecord {
        review,
        merge: MergeRules {
            enabled: s.merge.enabled,
            window_ms: i64::from(s.merge.window_minutes) * 60_000,
        },
        split: SplitRules {
            split_by_stock: s.split.by_stock,
            designated: s
                .split
                .designated
                .iter()
                .map(|d| (d.sku.clone(), d.warehouse.clone()))
                .collect(),
        },
    })
}

/// The idempotency key of a phone package: the request's confirmation id, else a digest of
/// what identifies the parcel, so a double tap is one package.
fn phone_key(
    confirmation_id: Option<&str>,
    i: usize,
    delivery_no: &str,
    carrier: &str,
    tracking_no: &str,
) -> String {
    match confirmation_id {
        Some(id) => format!("phone:{id}#{i}"),
        None => {
            let digest = Sha256::digest(format!("{delivery_no}\n{carrier}\n{tracking_no}"));
            format!("phone:{}", &hex::encode(digest)[..32])
        }
    }
}

fn qimen_failure(status: u16, code: &str, message: &str) -> QimenReply {
    QimenReply {
        status,
        content_type: "application/xml; charset=utf-8".into(),
        body: qimen::failure_reply(code, message).into_bytes(),
    }
}

fn qimen_unknown() -> QimenReply {
    qimen_failure(401, "sign-check-failure", "the signature does not match")
}

impl FulfilmentService {
    fn store(&self) -> &crate::store::Store {
        self.hub.store()
    }

    fn warehouses_of(&self, tenant: &TenantId) -> Result<Vec<(String, WarehouseRecord)>, ApiError> {
        self.store().warehouses(tenant).map_err(store_err)
    }

    fn summary(
        &self,
        tenant: &TenantId,
        shop: &str,
        no: &str,
        f: &FulfilmentRecord,
        names: &BTreeMap<String, String>,
    ) -> Result<FulfilmentSummary, ApiError> {
        let order = self
            .store()
            .order(tenant, shop, no)
            .map_err(store_err)?
            .ok_or_else(|| order_not_found(shop, no))?;
        let o = &order.order;
        let mut warehouses: Vec<String> = Vec::new();
        for p in &f.plan {
            if !warehouses.contains(&p.warehouse) {
                warehouses.push(p.warehouse.clone());
            }
        }
        Ok(FulfilmentSummary {
            id: format!("{shop}:{no}"),
            shop_id: shop.to_owned(),
            shop_name: names.get(shop).cloned(),
            platform: o.platform,
            order_no: no.to_owned(),
            state: state_dto(f.state),
            since: utc(f.since)?,
            holds: holds(f)?,
            warehouses,
            receiver_name: o.receiver.name.clone(),
            paid: money(o.amounts.paid.minor, o.amounts.paid.currency.as_str()),
            lines: u32::try_from(f.lines.len()).unwrap_or(u32::MAX),
        })
    }

    fn shop_names(&self, tenant: &TenantId) -> Result<BTreeMap<String, String>, ApiError> {
        Ok(self
            .store()
            .shops(tenant)
            .map_err(store_err)?
            .into_iter()
            .map(|s| (s.id, s.name))
            .collect())
    }

    fn view(&self, tenant: &TenantId, shop: &str, no: &str) -> Result<FulfilmentView, ApiError> {
        let f = self
            .store()
            .fulfilment(tenant, shop, no)
            .map_err(store_err)?
            .ok_or_else(|| order_not_found(shop, no))?;
        let names = self.shop_names(tenant)?;
        let summary = self.summary(tenant, shop, no, &f, &names)?;
        let warehouses = self.warehouses_of(tenant)?;
        let dispatched_at = f
            .timeline
            .iter()
            .rev()
            .find(|s| s.to == State::Allocated)
            .map_or(f.since, |s| s.at);
        let dispatch = f
            .plan
            .iter()
            .map(|p| dispatch_part(p, dispatched_at, &warehouses))
            .collect::<Result<_, _>>()?;
        let mut deliveries = Vec::new();
        let mut merged: BTreeSet<String> = BTreeSet::new();
        for dn in f.plan.iter().filter_map(|p| p.delivery_no.as_deref()) {
            if let Some(d) = self.store().delivery(tenant, dn).map_err(store_err)? {
                for o in d.orders.iter().filter(|o| o.as_str() != no) {
                    merged.insert(format!("{}:{o}", d.shop));
                }
                deliveries.push(delivery_view(dn, &d, &warehouses)?);
            }
        }
        let timeline = f
            .timeline
            .iter()
            .map(|s| {
                let (actor, actor_id) = actor(&s.actor);
                Ok(TimelineStep {
                    at: utc(s.at)?,
                    from: (s.from != s.to).then(|| state_dto(s.from)),
                    to: state_dto(s.to),
                    actor,
                    actor_id,
                    reason: s.reason.clone(),
                })
            })
            .collect::<Result<_, ApiError>>()?;
        Ok(FulfilmentView {
            summary,
            timeline,
            dispatch,
            deliveries,
            merged_with: merged.into_iter().collect(),
            actions: actions_in(f.state),
        })
    }

    /// Delivery order `no` if the caller may see it; `NotFound` otherwise.
    fn visible_delivery(
        &self,
        principal: &Principal,
        no: &str,
    ) -> Result<DeliveryRecord, ApiError> {
        let d = self
            .store()
            .delivery(&principal.tenant, no)
            .map_err(store_err)?
            .ok_or_else(|| delivery_not_found(no))?;
        if may_see(principal, &d.warehouse) {
            Ok(d)
        } else {
            Err(delivery_not_found(no))
        }
    }

    fn delivery_out(&self, principal: &Principal, no: &str) -> Result<DeliveryView, ApiError> {
        let d = self.visible_delivery(principal, no)?;
        let warehouses = self.warehouses_of(&principal.tenant)?;
        delivery_view(no, &d, &warehouses)
    }

    fn warehouse_record(
        &self,
        tenant: &TenantId,
        new: &WarehouseNew,
        old: Option<&WarehouseRecord>,
    ) -> Result<WarehouseRecord, ApiError> {
        let code = new.code.as_str();
        let (channel, stock_tracked) = match &new.kind {
            WarehouseKindChecked::Agent { agent } => {
                if !self
                    .store()
                    .agent_enrolled(tenant, agent.as_str())
                    .map_err(store_err)?
                {
                    return Err(ApiError::BadRequest(format!(
                        "agent_id: agent {agent} is not enrolled in this tenant"
                    )));
                }
                (
                    WarehouseChannel::Agent {
                        agent: agent.to_string(),
                    },
                    true,
                )
            }
            WarehouseKindChecked::Qimen(q) => {
                let url = url::Url::parse(&q.endpoint).map_err(|e| {
                    ApiError::BadRequest(format!("qimen.endpoint is not a URL: {e}"))
                })?;
                self.hub
                    .settings()
                    .shop_urls
                    .check_url(&url)
                    .map_err(|refused| {
                        ApiError::BadRequest(format!("qimen.endpoint: {refused}"))
                    })?;
                let (old_key, old_secret) = match old.map(|o| &o.channel) {
                    Some(WarehouseChannel::Qimen {
                        app_key,
                        sealed_secret,
                        ..
                    }) => (Some(app_key.clone()), Some(sealed_secret.clone())),
                    _ => (None, None),
                };
                let app_key = q.app_key.clone().or(old_key).ok_or_else(|| {
                    ApiError::BadRequest("a qimen warehouse needs qimen.app_key".into())
                })?;
                let sealed_secret = match &q.secret {
                    Some(secret) => self.hub.master_key().seal(
                        qimen_aad(tenant.as_str(), code).as_bytes(),
                        secret.as_bytes(),
                    ),
                    None => old_secret.ok_or_else(|| {
                        ApiError::BadRequest("a qimen warehouse needs qimen.secret".into())
                    })?,
                };
                (
                    WarehouseChannel::Qimen {
                        endpoint: q.endpoint.clone(),
                        app_key,
                        sealed_secret,
                        customer_id: q.customer_id.clone(),
                        owner_code: q.owner_code.clone(),
                    },
                    false,
                )
            }
            WarehouseKindChecked::Phone => (WarehouseChannel::Phone, false),
        };
        Ok(WarehouseRecord {
            name: new.name.clone(),
            channel,
            coverage: super::store::coverage(
                new.coverage.provinces.clone(),
                new.coverage.cities.clone(),
            ),
            priority: new.priority,
            cost_minor: new.cost.minor,
            currency: new.cost.currency.as_str().to_owned(),
            enabled: new.enabled,
            stock_tracked,
            updated_at: now_ms(),
        })
    }

    fn put_warehouse(
        &self,
        tenant: &TenantId,
        new: &WarehouseNew,
        exists: bool,
    ) -> Result<WarehouseView, ApiError> {
        let code = new.code.as_str();
        let old = self
            .warehouses_of(tenant)?
            .into_iter()
            .find(|(c, _)| c == code)
            .map(|(_, w)| w);
        match (exists, old.is_some()) {
            (false, true) => {
                return Err(ApiError::Conflict(format!(
                    "warehouse {code} is configured already"
                )));
            }
            (true, false) => {
                return Err(ApiError::NotFound(format!("warehouse {code:?} not found")));
            }
            _ => {}
        }
        let record = self.warehouse_record(tenant, new, old.as_ref())?;
        self.store()
            .put_warehouse(tenant, code, &record)
            .map_err(store_err)?;
        let open = self
            .store()
            .open_deliveries(tenant, code)
            .map_err(store_err)?;
        warehouse_view(code, &record, open)
    }

    fn qimen(
        &self,
        tenant: &TenantId,
        warehouse: &WarehouseCode,
        query: &str,
        body: &[u8],
    ) -> Result<QimenReply, ApiError> {
        let code = warehouse.as_str();
        let Some((_, w)) = self
            .warehouses_of(tenant)?
            .into_iter()
            .find(|(c, _)| c == code)
        else {
            return Ok(qimen_unknown());
        };
        let WarehouseChannel::Qimen { sealed_secret, .. } = &w.channel else {
            return Ok(qimen_unknown());
        };
        let secret = self
            .hub
            .master_key()
            .open(qimen_aad(tenant.as_str(), code).as_bytes(), sealed_secret)
            .map_err(internal)?;
        let secret = String::from_utf8(secret).map_err(internal)?;
        let confirm = match qimen::verify_confirm(query, body, &secret) {
            Ok(c) => c,
            Err(e @ (ConfirmError::MissingSignature | ConfirmError::BadSignature)) => {
                return Ok(qimen_failure(401, e.code(), &e.to_string()));
            }
            Err(e) => return Ok(qimen_failure(400, e.code(), &e.to_string())),
        };
        if confirm.warehouse_code.as_str() != code {
            return Ok(qimen_failure(
                400,
                "invalid-field",
                "warehouseCode is not this warehouse",
            ));
        }
        let dn = confirm.delivery_no.as_str();
        match self.store().delivery(tenant, dn).map_err(store_err)? {
            Some(d) if d.warehouse == code => {}
            _ => {
                return Ok(qimen_failure(
                    400,
                    "invalid-field",
                    "deliveryOrderCode is not a delivery order of this warehouse",
                ));
            }
        }
        let shipped: Vec<(String, i64)> = confirm
            .shipped()
            .into_iter()
            .map(|l| (l.sku.to_string(), l.quantity))
            .collect();
        let several = confirm.packages.len() > 1;
        let itemized = confirm.packages.iter().all(|p| !p.items.is_empty());
        let last = confirm.packages.len() - 1;
        for (i, p) in confirm.packages.iter().enumerate() {
            let lines = if several && itemized {
                p.items
                    .iter()
                    .map(|l| (l.sku.to_string(), l.quantity))
                    .collect()
            } else if i == 0 {
                shipped.clone()
            } else {
                // What left went with the first parcel; this one ships nothing more.
                shipped.iter().map(|(sku, _)| (sku.clone(), 0)).collect()
            };
            let key = if several {
                format!("{}#{i}", confirm.out_biz_code)
            } else {
                confirm.out_biz_code.clone()
            };
            let outcome = self
                .hub
                .ingest()
                .run(
                    self.store(),
                    Confirm {
                        tenant,
                        confirmed: Confirmed {
                            key,
                            delivery_no: dn.to_owned(),
                            carrier: p.logistics_code.clone(),
                            tracking_no: p.express_code.clone(),
                            lines,
                            shipped_at: confirm.order_confirm_time,
                            last: i == last && confirm.confirm_type == ConfirmType::Final,
                        },
                        actor: Actor::Warehouse(code.to_owned()),
                    },
                    now_ms(),
                )
                .map_err(store_err)?;
            if outcome == ConfirmOutcome::Unknown {
                return Ok(qimen_failure(
                    400,
                    "invalid-field",
                    "deliveryOrderCode is not a delivery order of this warehouse",
                ));
            }
        }
        self.hub.fulfilment_work();
        Ok(QimenReply {
            status: 200,
            content_type: "application/xml; charset=utf-8".into(),
            body: qimen::success_reply().into_bytes(),
        })
    }
}

/// Whether `principal` may see the delivery orders of `warehouse`.
fn may_see(principal: &Principal, warehouse: &str) -> bool {
    principal.warehouses.is_empty() || principal.warehouses.iter().any(|w| w.as_str() == warehouse)
}

fn by(principal: &Principal) -> String {
    principal
        .username
        .clone()
        .unwrap_or_else(|| principal.subject.clone())
}

impl FulfilmentApi for FulfilmentService {
    fn board(&self, tenant: &TenantId) -> Result<FulfilmentBoard, ApiError> {
        let counts = self.store().fulfilment_counts(tenant).map_err(store_err)?;
        let states = FulfilmentState::ALL
            .into_iter()
            .map(|state| StateCount {
                state,
                count: counts
                    .iter()
                    .find(|(s, _)| state_dto(*s) == state)
                    .map_or(0, |(_, n)| *n),
                exception: state.is_exception(),
            })
            .collect();
        let (failed, waiting) = self.store().writeback_counts(tenant).map_err(store_err)?;
        Ok(FulfilmentBoard {
            states,
            writeback_failed: failed,
            writeback_pending: waiting,
        })
    }

    fn fulfilments(
        &self,
        tenant: &TenantId,
        query: &FulfilmentQueryChecked,
    ) -> Result<FulfilmentPage, ApiError> {
        let names = self.shop_names(tenant)?;
        let mut after = query
            .after
            .as_ref()
            .map(|c| (c.shop.clone(), c.order_no.clone()));
        let mut orders = Vec::new();
        let mut scanned = 0;
        let mut next_cursor = None;
        'pages: loop {
            let want = query.limit.max(1);
            let key = after.as_ref().map(|(s, n)| (s.as_str(), n.as_str()));
            let rows = match query.state {
                Some(state) => self
                    .store()
                    .fulfilments_in(tenant, state_of(state), key, want)
                    .map_err(store_err)?,
                None => self
                    .store()
                    .fulfilments_after(tenant, key, want)
                    .map_err(store_err)?,
            };
            let full = rows.len() == want;
            for (shop, no, f) in rows {
                scanned += 1;
                after = Some((shop.clone(), no.clone()));
                let keep = query
                    .warehouse
                    .as_ref()
                    .is_none_or(|w| f.plan.iter().any(|p| p.warehouse == w.as_str()));
                if keep {
                    orders.push(self.summary(tenant, &shop, &no, &f, &names)?);
                }
                if orders.len() >= query.limit || scanned >= SCAN_ROWS_MAX {
                    next_cursor = Some(FulfilmentCursor {
                        since: f.since.0,
                        shop,
                        order_no: no,
                    });
                    break 'pages;
                }
            }
            if !full {
                break;
            }
        }
        Ok(FulfilmentPage {
            orders,
            next_cursor: next_cursor.map(|c| c.encode()),
        })
    }

    fn fulfilment(
        &self,
        tenant: &TenantId,
        shop: &str,
        order_no: &str,
    ) -> Result<FulfilmentView, ApiError> {
        self.view(tenant, shop, order_no)
    }

    fn act(
        &self,
        principal: &Principal,
        shop: &str,
        order_no: &str,
        action: &FulfilmentAction,
    ) -> Result<FulfilmentView, ApiError> {
        let action = match action {
            FulfilmentAction::Approve => Action::Approve,
            FulfilmentAction::Hold { reason } => Action::Hold {
                reason: reason.clone(),
            },
            FulfilmentAction::Release => Action::Release,
            FulfilmentAction::Cancel { reason } => Action::Cancel {
                reason: reason.clone(),
            },
            FulfilmentAction::Reroute { warehouse } => Action::Reroute {
                warehouse: warehouse.to_string(),
            },
            FulfilmentAction::Split { parts } => Action::Split {
                parts: parts
                    .iter()
                    .map(|p| Assignment {
                        warehouse: p.warehouse.to_string(),
                        lines: p
                            .lines
                            .iter()
                            .map(|l| Line {
                                sku: l.sku.to_string(),
                                quantity: i64::from(l.quantity),
                            })
                            .collect(),
                    })
                    .collect(),
            },
        };
        let tenant = &principal.tenant;
        let outcome = self
            .hub
            .ingest()
            .run(
                self.store(),
                Act {
                    tenant,
                    shop,
                    order_no,
                    action,
                    by: by(principal),
                },
                now_ms(),
            )
            .map_err(store_err)?;
        match outcome {
            Ok(worked) => {
                if worked.commands {
                    self.hub.commands_enqueued();
                }
                if worked.tpl {
                    self.hub.fulfilment_work();
                }
            }
            Err(ActError::NotFound) => return Err(order_not_found(shop, order_no)),
            Err(ActError::NotAllowed(why)) => return Err(ApiError::Conflict(why)),
        }
        self.view(tenant, shop, order_no)
    }

    fn warehouses(&self, principal: &Principal) -> Result<Vec<WarehouseView>, ApiError> {
        let tenant = &principal.tenant;
        self.warehouses_of(tenant)?
            .into_iter()
            .filter(|(code, _)| may_see(principal, code))
            .map(|(code, w)| {
                let open = self
                    .store()
                    .open_deliveries(tenant, &code)
                    .map_err(store_err)?;
                warehouse_view(&code, &w, open)
            })
            .collect()
    }

    fn create_warehouse(
        &self,
        tenant: &TenantId,
        warehouse: &WarehouseNew,
    ) -> Result<WarehouseView, ApiError> {
        self.put_warehouse(tenant, warehouse, false)
    }

    fn update_warehouse(
        &self,
        tenant: &TenantId,
        warehouse: &WarehouseNew,
    ) -> Result<WarehouseView, ApiError> {
        self.put_warehouse(tenant, warehouse, true)
    }

    fn settings(&self, tenant: &TenantId) -> Result<FulfilmentSettings, ApiError> {
        let s = self
            .store()
            .fulfilment_settings(tenant)
            .map_err(store_err)?;
        Ok(settings_dto(&s))
    }

    fn put_settings(
        &self,
        tenant: &TenantId,
        settings: &FulfilmentSettings,
    ) -> Result<FulfilmentSettings, ApiError> {
        let record = settings_record(settings)?;
        self.store()
            .put_fulfilment_settings(tenant, &record)
            .map_err(store_err)?;
        Ok(settings_dto(&record))
    }

    fn deliveries(
        &self,
        principal: &Principal,
        query: &DeliveryQueryChecked,
    ) -> Result<DeliveryPage, ApiError> {
        let tenant = &principal.tenant;
        let warehouses = self.warehouses_of(tenant)?;
        if let Some(w) = &query.warehouse
            && !may_see(principal, w.as_str())
        {
            return Ok(DeliveryPage {
                deliveries: Vec::new(),
                next_cursor: None,
            });
        }
        let mut after = query.after.as_ref().map(|c| c.delivery_no.clone());
        let mut out = Vec::new();
        let mut scanned = 0;
        let mut next_cursor = None;
        'pages: loop {
            let want = query.limit.max(1);
            let rows = match (&query.warehouse, query.state) {
                (Some(w), DeliveryStateDto::Pending) => self
                    .store()
                    .deliveries_pending(tenant, w.as_str(), after.as_deref(), want)
                    .map_err(store_err)?,
                _ => self
                    .store()
                    .deliveries_after(tenant, after.as_deref(), want)
                    .map_err(store_err)?,
            };
            let full = rows.len() == want;
            for (no, d) in rows {
                scanned += 1;
                after = Some(no.clone());
                let keep = delivery_state(&d) == query.state
                    && may_see(principal, &d.warehouse)
                    && query
                        .warehouse
                        .as_ref()
                        .is_none_or(|w| w.as_str() == d.warehouse);
                if keep {
                    out.push(delivery_view(&no, &d, &warehouses)?);
                }
                if out.len() >= query.limit || scanned >= SCAN_ROWS_MAX {
                    next_cursor = Some(DeliveryCursor {
                        created: d.created_at.0,
                        delivery_no: no,
                    });
                    break 'pages;
                }
            }
            if !full {
                break;
            }
        }
        Ok(DeliveryPage {
            deliveries: out,
            next_cursor: next_cursor.map(|c| c.encode()),
        })
    }

    fn delivery(
        &self,
        principal: &Principal,
        delivery_no: &DocNo,
    ) -> Result<DeliveryView, ApiError> {
        self.delivery_out(principal, delivery_no.as_str())
    }

    fn confirm_delivery(
        &self,
        principal: &Principal,
        delivery_no: &DocNo,
        confirm: &DeliveryConfirm,
    ) -> Result<DeliveryView, ApiError> {
        let tenant = &principal.tenant;
        let no = delivery_no.as_str();
        let d = self.visible_delivery(principal, no)?;
        let warehouses = self.warehouses_of(tenant)?;
        let w = warehouses
            .iter()
            .find(|(c, _)| c == &d.warehouse)
            .map(|(_, w)| w);
        if kind_of(w) != KindDto::Phone || w.is_none() {
            return Err(ApiError::Conflict(format!(
                "delivery order {no} is not of a phone warehouse: its warehouse confirms it"
            )));
        }
        // Each package's key and canonical carrier; those applied before are a double tap.
        let mut fresh = Vec::new();
        for (i, p) in confirm.packages.iter().enumerate() {
            let carrier = crate::shops::channels::carriers::parse_carrier(&p.carrier)
                .map_err(|_| {
                    ApiError::BadRequest(format!("carrier {:?} is not a known carrier", p.carrier))
                })?
                .code();
            let key = phone_key(
                confirm.confirmation_id.as_deref(),
                i,
                no,
                carrier,
                &p.tracking_no,
            );
            if !self
                .store()
                .shipment_applied(tenant, no, &key)
                .map_err(store_err)?
            {
                fresh.push((key, carrier, p));
            }
        }
        if fresh.is_empty() {
            return delivery_view(no, &d, &warehouses);
        }
        if !matches!(
            d.state,
            DState::Sending | DState::Sent | DState::PartlyShipped
        ) {
            return Err(ApiError::Conflict(format!(
                "delivery order {no} is {}: nothing is left to confirm",
                delivery_state(&d).as_str()
            )));
        }
        let mut left: BTreeMap<&str, i64> = d
            .lines
            .iter()
            .map(|l| (l.sku.as_str(), l.quantity - l.shipped))
            .collect();
        for (_, _, p) in &fresh {
            for l in p.lines.iter().flatten() {
                let rest = left.get_mut(l.sku.as_str()).ok_or_else(|| {
                    ApiError::Conflict(format!("sku {} is not on delivery order {no}", l.sku))
                })?;
                *rest -= i64::from(l.quantity);
                if *rest < 0 {
                    return Err(ApiError::Conflict(format!(
                        "sku {}: more than is left to ship on delivery order {no}",
                        l.sku
                    )));
                }
            }
        }
        let by = by(principal);
        let last = fresh.len() - 1;
        for (i, (key, carrier, p)) in fresh.iter().enumerate() {
            let lines = p
                .lines
                .iter()
                .flatten()
                .map(|l| (l.sku.to_string(), i64::from(l.quantity)))
                .collect();
            self.hub
                .ingest()
                .run(
                    self.store(),
                    Confirm {
                        tenant,
                        confirmed: Confirmed {
                            key: key.clone(),
                            delivery_no: no.to_owned(),
                            carrier: (*carrier).to_owned(),
                            tracking_no: p.tracking_no.clone(),
                            lines,
                            shipped_at: now_ms(),
                            last: i == last && p.lines.is_none(),
                        },
                        actor: Actor::User(by.clone()),
                    },
                    now_ms(),
                )
                .map_err(store_err)?;
        }
        self.hub.fulfilment_work();
        self.delivery_out(principal, no)
    }

    fn report_delivery_exception(
        &self,
        principal: &Principal,
        delivery_no: &DocNo,
        report: &DeliveryException,
    ) -> Result<DeliveryView, ApiError> {
        let no = delivery_no.as_str();
        self.visible_delivery(principal, no)?;
        let who = by(principal);
        let kind = snake(&report.kind);
        let reason = match &report.reason {
            Some(r) => format!("{kind}: {r} (by {who})"),
            None => format!("{kind} (by {who})"),
        };
        let exception = serde_json::to_string(&Report {
            kind: report.kind,
            reason: report.reason.clone(),
            by: Some(who),
        })
        .map_err(internal)?;
        let outcome = self
            .hub
            .ingest()
            .run(
                self.store(),
                Refuse {
                    tenant: &principal.tenant,
                    delivery_no: no,
                    exception,
                    reason,
                    out_of_stock: report.kind == DeliveryExceptionKind::OutOfStock,
                },
                now_ms(),
            )
            .map_err(store_err)?;
        match outcome {
            // Its orders may be routed again: their new delivery orders go out on the next step.
            RefuseOutcome::Refused => self.hub.fulfilment_work(),
            RefuseOutcome::Unknown => return Err(delivery_not_found(no)),
            RefuseOutcome::NotPending => {
                return Err(ApiError::Conflict(format!(
                    "delivery order {no} is not waiting to ship"
                )));
            }
        }
        self.delivery_out(principal, no)
    }

    fn qimen_callback(
        &self,
        tenant: &TenantId,
        warehouse: &WarehouseCode,
        query: &str,
        body: &[u8],
    ) -> QimenReply {
        match self.qimen(tenant, warehouse, query, body) {
            Ok(reply) => reply,
            Err(e) => {
                tracing::warn!(tenant = %tenant, warehouse = %warehouse, error = %e, "qimen callback failed");
                qimen_failure(
                    500,
                    "system-error",
                    "the hub could not take the callback now",
                )
            }
        }
    }
}

#[cfg(test)]
mod tests;
