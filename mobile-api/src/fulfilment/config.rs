//! What the fulfilment routes take as configuration: a warehouse (kind, coverage, priority,
//! cost) and the tenant's review, merge and split settings, each checked at the edge
//! (`WarehouseInput` → [`WarehouseNew`], [`FulfilmentSettings::validated`]). A refusal is a 400
//! naming the field and why.

use super::input::{bad, human_text, sku, warehouse};
use super::views::{Coverage, WarehouseKind};
use crate::error::ApiError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use utoipa::ToSchema;
use xt_shared::ids::{AgentId, WarehouseCode};
use xt_shared::money::{Currency, Money};

/// Longest warehouse name, in characters.
pub const WAREHOUSE_NAME_CHARS_MAX: usize = 64;
/// Longest province or city of a coverage, in characters.
pub const REGION_CHARS_MAX: usize = 32;
/// Most provinces and cities of one warehouse's coverage.
pub const PROVINCES_MAX: usize = 64;
pub const CITIES_MAX: usize = 512;
/// Largest warehouse priority (lower is tried first).
pub const PRIORITY_MAX: u32 = 1000;
/// Largest amount accepted (a warehouse's cost, a review threshold), in minor units.
pub const MONEY_MINOR_MAX: i64 = 1_000_000_000_000;
/// Longest Qimen `customerId` or `ownerCode`, in bytes.
pub const QIMEN_ID_BYTES_MAX: usize = 64;
/// Most blacklist entries, and the longest field of one, in characters.
pub const BLACKLIST_MAX: usize = 200;
pub const BLACKLIST_TEXT_CHARS_MAX: usize = 128;
/// Bounds of the repeat-receiver rule: orders within the window, and the window's minutes.
pub const REPEAT_COUNT_MIN: u32 = 2;
pub const REPEAT_COUNT_MAX: u32 = 100;
pub const REPEAT_WINDOW_MINUTES_MAX: u32 = 7 * 24 * 60;
/// Longest merge buffer window, in minutes.
pub const MERGE_WINDOW_MINUTES_MAX: u32 = 24 * 60;
/// Most SKUs with a designated warehouse.
pub const DESIGNATED_MAX: usize = 500;
/// An amount as a request sends it: integer minor units, non-negative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoneyInput {
    #[schema(example = 800)]
    pub minor: i64,
    /// ISO 4217 (three capitals).
    #[schema(example = "CNY")]
    pub currency: String,
}

impl MoneyInput {
    pub fn validated(&self, field: &str) -> Result<Money, ApiError> {
        let currency = Currency::new(&self.currency).map_err(|e| bad(format!("{field}: {e}")))?;
        if !(0..=MONEY_MINOR_MAX).contains(&self.minor) {
            return Err(bad(format!(
                "{field}.minor must be between 0 and {MONEY_MINOR_MAX}, got {}",
                self.minor
            )));
        }
        Ok(Money::new(self.minor, currency))
    }
}

/// A 3PL's Qimen settings as a request sends them. `app_key` and `secret` may be left out to
/// keep the ones stored (a warehouse that is already `qimen`); they never come back.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QimenInput {
    /// The 3PL's Qimen router URL. Loopback and private addresses follow the hub's egress
    /// policy, as shop URLs do.
    #[schema(example = "https://qimen.example-3pl.com/router/qm")]
    pub endpoint: String,
    pub app_key: Option<String>,
    pub secret: Option<String>,
    #[schema(example = "C-ACME")]
    pub customer_id: String,
    #[schema(example = "ACME")]
    pub owner_code: String,
}

impl std::fmt::Debug for QimenInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QimenInput")
            .field("endpoint", &self.endpoint)
            .field("customer_id", &self.customer_id)
            .finish_non_exhaustive()
    }
}

/// `POST /api/v1/warehouses` and `PUT /api/v1/warehouses/{code}` body: the whole warehouse.
/// `agent_id` goes with kind `agent` (required), `qimen` with kind `qimen` (required), neither
/// with `phone`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WarehouseInput {
    /// The warehouse code its stock rows use; it never changes (a `PUT` must name the same).
    #[schema(example = "WH-SH")]
    pub code: String,
    #[schema(example = "上海仓")]
    pub name: String,
    pub kind: WarehouseKind,
    #[schema(example = "ag-7c1f")]
    pub agent_id: Option<String>,
    pub qimen: Option<QimenInput>,
    pub coverage: Coverage,
    /// Lower is tried first: 0 to 1000.
    #[schema(example = 1)]
    pub priority: u32,
    /// Cost per parcel.
    pub cost: MoneyInput,
    /// Whether dispatch may choose it (default true).
    pub enabled: Option<bool>,
}

/// A 3PL's Qimen settings, checked. `None` keys keep the stored ones.
#[derive(Clone, PartialEq, Eq)]
pub struct QimenChecked {
    pub endpoint: String,
    pub app_key: Option<String>,
    pub secret: Option<String>,
    pub customer_id: String,
    pub owner_code: String,
}

impl std::fmt::Debug for QimenChecked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QimenChecked")
            .field("endpoint", &self.endpoint)
            .field("customer_id", &self.customer_id)
            .field("owner_code", &self.owner_code)
            .finish_non_exhaustive()
    }
}

/// How a warehouse receives delivery orders, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WarehouseKindChecked {
    Agent { agent: AgentId },
    Qimen(QimenChecked),
    Phone,
}

/// A [`WarehouseInput`] checked. Coverage entries are sorted and each given once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarehouseNew {
    pub code: WarehouseCode,
    pub name: String,
    pub kind: WarehouseKindChecked,
    pub coverage: Coverage,
    pub priority: u32,
    pub cost: Money,
    pub enabled: bool,
}

fn credential(field: &str, raw: &str, max: usize) -> Result<String, ApiError> {
    if raw.is_empty() || raw.len() > max || raw.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(bad(format!(
            "{field} must be 1 to {max} bytes without spaces or control characters"
        )));
    }
    Ok(raw.to_owned())
}

fn regions(field: &str, input: &[String], max: usize) -> Result<Vec<String>, ApiError> {
    if input.len() > max {
        return Err(bad(format!("{field} holds at most {max} entries")));
    }
    let mut out = BTreeSet::new();
    for (i, r) in input.iter().enumerate() {
        out.insert(human_text(&format!("{field}[{i}]"), r, REGION_CHARS_MAX)?);
    }
    Ok(out.into_iter().collect())
}

impl Coverage {
    /// Checks and normalizes a coverage: entries trimmed, sorted, each once.
    pub fn validated(&self) -> Result<Coverage, ApiError> {
        Ok(Coverage {
            provinces: regions("coverage.provinces", &self.provinces, PROVINCES_MAX)?,
            cities: regions("coverage.cities", &self.cities, CITIES_MAX)?,
        })
    }
}

impl WarehouseInput {
    pub fn validated(&self) -> Result<WarehouseNew, ApiError> {
        use WarehouseKind as K;
        let code = warehouse("code", &self.code)?;
        let name = human_text("name", &self.name, WAREHOUSE_NAME_CHARS_MAX)?;
        let with = |field: &str, given: bool, wanted: bool| -> Result<(), ApiError> {
            match (given, wanted) {
                (true, false) => Err(bad(format!(
                    "{field} does not go with kind {}",
                    self.kind.as_str()
                ))),
                (false, true) => Err(bad(format!("kind {} needs {field}", self.kind.as_str()))),
                _ => Ok(()),
            }
        };
        with("agent_id", self.agent_id.is_some(), self.kind == K::Agent)?;
        with("qimen", self.qimen.is_some(), self.kind == K::Qimen)?;
        let kind = match (self.kind, &self.agent_id, &self.qimen) {
            (K::Agent, Some(agent), _) => WarehouseKindChecked::Agent {
                agent: AgentId::new(agent.as_str()).map_err(|e| bad(format!("agent_id: {e}")))?,
            },
            (K::Qimen, _, Some(q)) => {
                crate::shops::check_url(&q.endpoint).map_err(|e| {
                    bad(e.to_string().replacen("api_base_url", "qimen.endpoint", 1))
                })?;
                let key = |field: &str, v: &Option<String>| {
                    v.as_deref()
                        .map(|s| credential(field, s, crate::shops::CREDENTIAL_BYTES_MAX))
                        .transpose()
                };
                WarehouseKindChecked::Qimen(QimenChecked {
                    endpoint: q.endpoint.clone(),
                    app_key: key("qimen.app_key", &q.app_key)?,
                    secret: key("qimen.secret", &q.secret)?,
                    customer_id: credential(
                        "qimen.customer_id",
                        &q.customer_id,
                        QIMEN_ID_BYTES_MAX,
                    )?,
                    owner_code: credential("qimen.owner_code", &q.owner_code, QIMEN_ID_BYTES_MAX)?,
                })
            }
            _ => WarehouseKindChecked::Phone,
        };
        if self.priority > PRIORITY_MAX {
            return Err(bad(format!(
                "priority must be between 0 and {PRIORITY_MAX}, got {}",
                self.priority
            )));
        }
        Ok(WarehouseNew {
            code,
            name,
            kind,
            coverage: self.coverage.validated()?,
            priority: self.priority,
            cost: self.cost.validated("cost")?,
            enabled: self.enabled.unwrap_or(true),
        })
    }
}

/// Hold orders to one receiver when this many arrive within the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RepeatReceiver {
    /// 2 to 100 orders.
    #[schema(example = 3)]
    pub count: u32,
    /// 1 minute to 7 days.
    #[schema(example = 60)]
    pub window_minutes: u32,
}

/// A receiver never shipped to without review: every field given must match (name and phone
/// exactly, address as a part of it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlacklistEntry {
    pub name: Option<String>,
    #[schema(example = "13800000000")]
    pub phone: Option<String>,
    pub address: Option<String>,
}

/// The review rules: an order matching any enabled rule is held with that reason; otherwise
/// it is approved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRules {
    pub hold_buyer_memo: bool,
    pub hold_seller_memo: bool,
    /// Hold orders paying more than this; `null`: no threshold.
    pub amount_over: Option<MoneyInput>,
    pub hold_address_incomplete: bool,
    pub hold_cod: bool,
    pub hold_unmapped_sku: bool,
    /// `null`: no repeat-receiver rule.
    pub repeat_receiver: Option<RepeatReceiver>,
    pub blacklist: Vec<BlacklistEntry>,
}

/// Merging unshipped orders of the same shop, buyer and receiver into one delivery order
/// (never cash on delivery).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeSettings {
    pub enabled: bool,
    /// How long a reviewed order waits for others to merge with: 0 to 1440 minutes.
    #[schema(example = 10)]
    pub window_minutes: u32,
}

/// A SKU always shipped from one warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DesignatedWarehouse {
    #[schema(example = "FROZEN-1")]
    pub sku: String,
    #[schema(example = "WH-COLD")]
    pub warehouse: String,
}

/// Splitting an order across warehouses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SplitSettings {
    /// Split by stock when no one warehouse holds every line (fewest parcels first).
    pub by_stock: bool,
    /// SKUs with a designated warehouse, each SKU once.
    pub designated: Vec<DesignatedWarehouse>,
}

/// `GET` and `PUT /api/v1/fulfilment/settings`: the tenant's review, merge and split rules,
/// as a whole (the body is at most [`REQUEST_BODY_BYTES_MAX`](crate::REQUEST_BODY_BYTES_MAX)).
/// [`Default`] is what a tenant starts with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FulfilmentSettings {
    pub review: ReviewRules,
    pub merge: MergeSettings,
    pub split: SplitSettings,
}

impl Default for FulfilmentSettings {
    fn default() -> Self {
        FulfilmentSettings {
            review: ReviewRules {
                hold_buyer_memo: true,
                hold_seller_memo: false,
                amount_over: None,
                hold_address_incomplete: true,
                hold_cod: true,
                hold_unmapped_sku: true,
                repeat_receiver: None,
                blacklist: Vec::new(),
            },
            merge: MergeSettings {
                enabled: true,
                window_minutes: 10,
            },
            split: SplitSettings {
                by_stock: true,
                designated: Vec::new(),
            },
        }
    }
}

impl FulfilmentSettings {
    /// Checks every bound and id; returns the settings with texts trimmed.
    pub fn validated(&self) -> Result<FulfilmentSettings, ApiError> {
        let r = &self.review;
        let amount_over = match &r.amount_over {
            Some(m) => {
                m.validated("review.amount_over")?;
                Some(m.clone())
            }
            None => None,
        };
        if let Some(rr) = &r.repeat_receiver {
            if !(REPEAT_COUNT_MIN..=REPEAT_COUNT_MAX).contains(&rr.count) {
                return Err(bad(format!(
                    "review.repeat_receiver.count must be between {REPEAT_COUNT_MIN} and \
                     {REPEAT_COUNT_MAX}, got {}",
                    rr.count
                )));
            }
            if !(1..=REPEAT_WINDOW_MINUTES_MAX).contains(&rr.window_minutes) {
                return Err(bad(format!(
                    "review.repeat_receiver.window_minutes must be between 1 and \
                     {REPEAT_WINDOW_MINUTES_MAX}, got {}",
                    rr.window_minutes
                )));
            }
        }
        if r.blacklist.len() > BLACKLIST_MAX {
            return Err(bad(format!(
                "review.blacklist holds at most {BLACKLIST_MAX} entries"
            )));
        }
        let blacklist = r
            .blacklist
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let field = |name: &str, v: &Option<String>| {
                    v.as_deref()
                        .map(|s| {
                            human_text(
                                &format!("review.blacklist[{i}].{name}"),
                                s,
                                BLACKLIST_TEXT_CHARS_MAX,
                            )
                        })
                        .transpose()
                };
                let entry = BlacklistEntry {
                    name: field("name", &e.name)?,
                    phone: field("phone", &e.phone)?,
                    address: field("address", &e.address)?,
                };
                if entry.name.is_none() && entry.phone.is_none() && entry.address.is_none() {
                    return Err(bad(format!(
                        "review.blacklist[{i}] needs a name, a phone or an address"
                    )));
                }
                Ok(entry)
            })
            .collect::<Result<_, ApiError>>()?;
        if self.merge.window_minutes > MERGE_WINDOW_MINUTES_MAX {
            return Err(bad(format!(
                "merge.window_minutes must be between 0 and {MERGE_WINDOW_MINUTES_MAX}, got {}",
                self.merge.window_minutes
            )));
        }
        if self.split.designated.len() > DESIGNATED_MAX {
            return Err(bad(format!(
                "split.designated holds at most {DESIGNATED_MAX} entries"
            )));
        }
        let mut skus = BTreeSet::new();
        for (i, d) in self.split.designated.iter().enumerate() {
            let s = sku(&format!("split.designated[{i}].sku"), &d.sku)?;
            warehouse(&format!("split.designated[{i}].warehouse"), &d.warehouse)?;
            if !skus.insert(s.clone()) {
                return Err(bad(format!(
                    "split.designated: sku {s} has two designated warehouses"
                )));
            }
        }
        Ok(FulfilmentSettings {
            review: ReviewRules {
                amount_over,
                blacklist,
                ..r.clone()
            },
            merge: self.merge.clone(),
            split: self.split.clone(),
        })
    }
}
