//! Orders, members, SKU mappings and capture errors over the store, as API views.

use crate::api::{internal, utc, utc_opt};
use crate::hub::Hub;
use crate::store::{
    CaptureErrorRecord, CapturedOrder, CapturedRefund, MemberRecord, ORDERS_SCAN_ROWS_MAX,
    OrderFilter, SkuMapping, StoreError, new_mapping_id,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use xt_mobile_api::orders::{
    AmountsView, BuyerView, CaptureErrorView, FlagsView, IdentityView, MemberView, MoneyView,
    OrderCursor, OrderDetail, OrderLineView, OrderPage, OrderQueryChecked, OrderSummary,
    ProvenanceView, ReceiverView, RefundView, SkuMappingNew, SkuMappingView,
};
use xt_mobile_api::{ApiError, OrdersApi};
use xt_shared::ids::TenantId;
use xt_shared::money::Money;

/// Most orders a member view lists.
const MEMBER_ORDERS_MAX: usize = 200;

fn money(m: &Money) -> MoneyView {
    MoneyView {
        minor: m.minor,
        currency: m.currency.as_str().to_owned(),
    }
}

/// Shop names of a tenant, for listings.
type ShopNames = BTreeMap<String, String>;

fn summary(r: &CapturedOrder, names: &ShopNames) -> Result<OrderSummary, ApiError> {
    let o = &r.order;
    Ok(OrderSummary {
        id: format!("{}:{}", r.shop, o.platform_order_no),
        shop_id: r.shop.clone(),
        shop_name: names.get(&r.shop).cloned(),
        platform: o.platform,
        order_no: o.platform_order_no.to_string(),
        status: o.status,
        platform_status: o.platform_status.clone(),
        receiver_name: o.receiver.name.clone(),
        receiver_masked: o.receiver.masked,
        paid: money(&o.amounts.paid),
        lines: o.lines.len(),
        created_at: utc(o.times.created)?,
        modified_at: utc(o.times.modified)?,
        held: r.held.clone(),
    })
}

fn detail(
    r: CapturedOrder,
    refunds: Vec<CapturedRefund>,
    names: &ShopNames,
) -> Result<OrderDetail, ApiError> {
    let summary = summary(&r, names)?;
    let o = r.order;
    let a = &o.amounts;
    let rc = o.receiver;
    Ok(OrderDetail {
        summary,
        member_id: r.member,
        buyer: BuyerView {
            platform: o.buyer.platform,
            open_uid: o.buyer.open_uid,
            customer_id: o.buyer.customer_id,
            email_sha256: o.buyer.email_sha256,
            nick: o.buyer.nick,
        },
        receiver: ReceiverView {
            name: rc.name,
            phone: rc.phone,
            masked: rc.masked,
            country: rc.country,
            province: rc.province,
            city: rc.city,
            district: rc.district,
            town: rc.town,
            address: rc.address,
            zip: rc.zip,
        },
        amounts: AmountsView {
            goods: money(&a.goods),
            discount: money(&a.discount),
            freight: money(&a.freight),
            paid: money(&a.paid),
            cod_receivable: money(&a.cod_receivable),
            refunded: money(&a.refunded),
        },
        paid_at: utc_opt(o.times.paid)?,
        buyer_memo: o.buyer_memo,
        seller_memo: o.seller_memo,
        flags: FlagsView {
            cod: o.flags.cod,
            presale: o.flags.presale,
            test: o.flags.test,
        },
        lines: o
            .lines
            .into_iter()
            .zip(r.internal_skus.into_iter().chain(std::iter::repeat(None)))
            .map(|(l, sku)| OrderLineView {
                line_id: l.line_id.to_string(),
                platform_sku_id: l.platform_sku_id,
                merchant_sku: l.merchant_sku.map(|s| s.to_string()),
                internal_sku: sku,
                title: l.title,
                quantity: l.quantity,
                unit_price: money(&l.unit_price),
                discount: money(&l.discount),
                paid: l.paid.as_ref().map(money),
                status: l.status,
                refund: l.refund,
            })
            .collect(),
        refunds: refunds
            .into_iter()
            .map(|r| {
                Ok(RefundView {
                    refund_id: r.refund.refund_id.to_string(),
                    line_id: r.refund.line_id.map(|l| l.to_string()),
                    state: r.refund.state,
                    platform_status: r.refund.platform_status,
                    amount: money(&r.refund.amount),
                    reason: r.refund.reason,
                    modified_at: utc(r.refund.modified)?,
                })
            })
            .collect::<Result<_, ApiError>>()?,
        provenance: r
            .provenance
            .into_iter()
            .map(|p| {
                Ok(ProvenanceView {
                    field: p.field,
                    origin: p.origin,
                    version: p.version,
                    at: utc(p.at)?,
                })
            })
            .collect::<Result<_, ApiError>>()?,
    })
}

fn mapping_view(m: SkuMapping) -> Result<SkuMappingView, ApiError> {
    Ok(SkuMappingView {
        id: m.id,
        platform: m.platform,
        platform_sku_id: m.platform_sku_id,
        merchant_sku: m.merchant_sku,
        sku: m.sku,
        created_at: utc(m.created_at)?,
    })
}

fn member_view(m: MemberRecord, orders: Vec<OrderSummary>) -> Result<MemberView, ApiError> {
    Ok(MemberView {
        id: m.id,
        identities: m
            .identities
            .into_iter()
            .map(|i| IdentityView {
                platform: i.platform,
                kind: i.kind,
                value: i.value,
                shop_id: (i.scope != "*").then_some(i.scope),
            })
            .collect(),
        orders,
        first_seen: utc(m.first_seen)?,
        last_seen: utc(m.last_seen)?,
    })
}

pub(crate) fn capture_error_view(e: CaptureErrorRecord) -> Result<CaptureErrorView, ApiError> {
    Ok(CaptureErrorView {
        at: utc(e.at)?,
        order_no: e.order_no,
        reason: e.reason,
        raw: e.raw,
    })
}

/// The orders room's service: order listings and details, members, the SKU mapping table.
pub struct OrdersService {
    hub: Arc<Hub>,
}

impl OrdersService {
    pub fn new(hub: Arc<Hub>) -> OrdersService {
        OrdersService { hub }
    }
}

impl OrdersService {
    fn shop_names(&self, tenant: &TenantId) -> Result<ShopNames, ApiError> {
        let shops = self.hub.store().shops(tenant).map_err(internal)?;
        Ok(shops.into_iter().map(|s| (s.id, s.name)).collect())
    }

    pub(super) fn order_page(
        &self,
        tenant: &TenantId,
        q: &OrderQueryChecked,
    ) -> Result<OrderPage, ApiError> {
        let filter = OrderFilter {
            shop: q.shop.clone(),
            platform: q.platform,
            status: q.status,
            modified_from: q.modified_from,
            modified_to: q.modified_to,
            order_no: q.order_no.clone(),
            receiver: q.receiver.clone(),
            held_only: q.held_only,
        };
        let after = q
            .after
            .as_ref()
            .map(|c| (c.modified, c.shop.clone(), c.order_no.clone()));
        let scan = self
            .hub
            .store()
            .orders_scan(
                tenant,
                &filter,
                after.as_ref(),
                q.limit + 1,
                ORDERS_SCAN_ROWS_MAX,
            )
            .map_err(internal)?;
        let mut rows = scan.orders;
        let more = rows.len() > q.limit;
        rows.truncate(q.limit);
        // A full page goes on after its last row; a page cut short by the scan budget goes on
        // from where the scan stopped (it may hold fewer rows than the limit, even none).
        let next = if more {
            rows.last().map(|r| {
                (
                    r.version(),
                    r.shop.clone(),
                    r.order.platform_order_no.to_string(),
                )
            })
        } else {
            scan.resume
        };
        let next_cursor = next.map(|(modified, shop, order_no)| {
            OrderCursor {
                modified,
                shop,
                order_no,
            }
            .encode()
        });
        let names = self.shop_names(tenant)?;
        Ok(OrderPage {
            orders: rows
                .iter()
                .map(|r| summary(r, &names))
                .collect::<Result<_, _>>()?,
            next_cursor,
        })
    }

    pub(super) fn order_detail(
        &self,
        tenant: &TenantId,
        shop: &str,
        no: &str,
    ) -> Result<OrderDetail, ApiError> {
        let store = &self.hub.store();
        let record = store.order(tenant, shop, no).map_err(internal)?;
        let record =
            record.ok_or_else(|| ApiError::NotFound(format!("order {shop}:{no} not found")))?;
        let refunds = store.order_refunds(tenant, shop, no).map_err(internal)?;
        detail(record, refunds, &self.shop_names(tenant)?)
    }

    pub(super) fn member_detail(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<MemberView, ApiError> {
        let store = &self.hub.store();
        let member = store.member(tenant, id).map_err(internal)?;
        let member =
            member.ok_or_else(|| ApiError::NotFound(format!("member {id:?} not found")))?;
        let orders = store
            .member_orders(tenant, id, MEMBER_ORDERS_MAX)
            .map_err(internal)?;
        let names = self.shop_names(tenant)?;
        let orders = orders
            .iter()
            .map(|r| summary(r, &names))
            .collect::<Result<_, _>>()?;
        member_view(member, orders)
    }

    pub(super) fn mappings(&self, tenant: &TenantId) -> Result<Vec<SkuMappingView>, ApiError> {
        let all = self.hub.store().sku_mappings(tenant).map_err(internal)?;
        all.into_iter().map(mapping_view).collect()
    }

    pub(super) fn add_mapping(
        &self,
        tenant: &TenantId,
        new: &SkuMappingNew,
    ) -> Result<SkuMappingView, ApiError> {
        let mapping = SkuMapping {
            id: new_mapping_id(),
            platform: new.platform,
            platform_sku_id: new.platform_sku_id.clone(),
            merchant_sku: new.merchant_sku.clone(),
            sku: new.sku.to_string(),
            created_at: crate::hub::now_ms(),
        };
        match self.hub.store().add_sku_mapping(tenant, &mapping) {
            Ok(released) => {
                tracing::info!(mapping = %mapping.id, released, "held orders re-mapped");
                mapping_view(mapping)
            }
            Err(StoreError::Conflict(msg)) => Err(ApiError::Conflict(msg)),
            Err(e) => Err(internal(e)),
        }
    }

    pub(super) fn drop_mapping(&self, tenant: &TenantId, id: &str) -> Result<(), ApiError> {
        match self
            .hub
            .store()
            .delete_sku_mapping(tenant, id)
            .map_err(internal)?
        {
            true => Ok(()),
            false => Err(ApiError::NotFound(format!("mapping {id:?} not found"))),
        }
    }
}

impl OrdersApi for OrdersService {
    fn orders(&self, tenant: &TenantId, query: &OrderQueryChecked) -> Result<OrderPage, ApiError> {
        self.order_page(tenant, query)
    }

    fn order(
        &self,
        tenant: &TenantId,
        shop: &str,
        order_no: &str,
    ) -> Result<OrderDetail, ApiError> {
        self.order_detail(tenant, shop, order_no)
    }

    fn member(&self, tenant: &TenantId, id: &str) -> Result<MemberView, ApiError> {
        self.member_detail(tenant, id)
    }

    fn sku_mappings(&self, tenant: &TenantId) -> Result<Vec<SkuMappingView>, ApiError> {
        self.mappings(tenant)
    }

    fn create_sku_mapping(
        &self,
        tenant: &TenantId,
        new: &SkuMappingNew,
    ) -> Result<SkuMappingView, ApiError> {
        self.add_mapping(tenant, new)
    }

    fn delete_sku_mapping(&self, tenant: &TenantId, id: &str) -> Result<(), ApiError> {
        self.drop_mapping(tenant, id)
    }
}
