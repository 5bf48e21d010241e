//! Sales channels: each platform's order JSON, exactly as the platform sends it, parsed into the
//! standard order ([`xt_shared::order::StandardOrder`]). The parsers are pure functions, no IO:
//! capture (polling, webhooks) hands them a payload and records a [`ParseError`] with its reason
//! when one fails. The clients that fetch those payloads from each platform ([`Channel`]) live
//! in the `*_api` modules over one HTTP layer (rate limits, retries, timeouts).
//!
//! Every platform has a status mapping table covering each value the reference lists; a value
//! outside the table is an error naming it, never a silent default. Money is parsed exactly from
//! the platforms' decimal strings; JSON numbers are refused for money, since they may be floats.

pub mod carriers;
pub mod client;
pub mod egress;
mod http;
pub mod jd;
pub mod jd_api;
pub(crate) mod reason;
pub mod refunds;
pub mod shopify;
pub mod shopify_api;
pub mod sign;
pub mod taobao;
pub mod taobao_api;
pub mod webhook;
mod wire;
pub mod woocommerce;
pub mod woocommerce_api;
pub mod writeback;

pub use client::{
    BoxFuture, Captured, Channel, ChannelConfig, ChannelStats, FetchError, Page, PageCursor,
    WebhookRefusal, Window, channel_for,
};
pub use egress::ShopUrlPolicy;
pub use refunds::{parse_jd_refund, parse_taobao_refund, refunds_in_order};
pub use webhook::parse_webhook_order;
pub use wire::capture_order;
pub use writeback::{ShipmentWriteBack, WriteBackAnswer, write_back};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use time::macros::{format_description, offset};
use time::{OffsetDateTime, PrimitiveDateTime};
use xt_shared::ids::{DocNo, IdError, Sku};
use xt_shared::model::UtcMillis;
use xt_shared::money::{Currency, Money, MoneyError};
use xt_shared::order::{ORDER_LINES_MAX, Platform, StandardOrder};

/// Parses one order of `platform` from its raw JSON. Taobao and Tmall share one format.
pub fn parse_order(platform: Platform, raw: &Value) -> Result<StandardOrder, ParseError> {
    match platform {
        Platform::Taobao | Platform::Tmall => taobao::parse_order(raw),
        Platform::Jd => jd::parse_order(raw),
        Platform::Shopify => shopify::parse_order(raw),
        Platform::Woocommerce => woocommerce::parse_order(raw),
    }
}

/// Why a platform order could not become a standard order: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{platform} order field {field}: {reason}")]
pub struct ParseError {
    pub platform: Platform,
    /// A path into the payload, e.g. `orders.order[1].price`.
    pub field: String,
    pub reason: Reason,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    #[error("is missing")]
    Missing,
    #[error("is not {0}")]
    WrongType(&'static str),
    #[error("has unknown status {0:?}")]
    UnknownStatus(String),
    #[error("{0}")]
    Money(#[from] MoneyError),
    #[error("{0}")]
    Id(#[from] IdError),
    #[error("time {value:?} is not {expected}")]
    Time {
        value: String,
        expected: &'static str,
    },
    #[error("{0}")]
    Invalid(String),
}

/// Looks `value` up in a platform's status table.
pub(crate) fn lookup<T: Copy>(table: &[(&str, T)], value: &str) -> Option<T> {
    table.iter().find(|(k, _)| *k == value).map(|(_, v)| *v)
}

/// A JSON object of a payload and where it sits, so every error names its field.
#[derive(Clone)]
pub(crate) struct Obj<'a> {
    platform: Platform,
    map: &'a Map<String, Value>,
    path: String,
}

impl<'a> Obj<'a> {
    pub(crate) fn root(platform: Platform, raw: &'a Value) -> Result<Self, ParseError> {
        match raw {
            Value::Object(map) => Ok(Obj {
                platform,
                map,
                path: String::new(),
            }),
            _ => Err(ParseError {
                platform,
                field: "(order)".into(),
                reason: Reason::WrongType("an object"),
            }),
        }
    }

    pub(crate) fn path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    pub(crate) fn err(&self, key: &str, reason: Reason) -> ParseError {
        ParseError {
            platform: self.platform,
            field: self.path(key),
            reason,
        }
    }

    /// The value at `key`; absent and `null` are both `None`.
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// A string that may be absent, `null` or empty (all `None`).
    pub(crate) fn opt_str(&self, key: &str) -> Result<Option<&'a str>, ParseError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(self.err(key, Reason::WrongType("a string"))),
        }
    }

    pub(crate) fn str(&self, key: &str) -> Result<&'a str, ParseError> {
        self.opt_str(key)?
            .ok_or_else(|| self.err(key, Reason::Missing))
    }

    pub(crate) fn opt_string(&self, key: &str) -> Result<Option<String>, ParseError> {
        Ok(self.opt_str(key)?.map(str::to_owned))
    }

    /// An id given as a string or an integer; kept as its decimal text so 19 digits stay exact.
    /// A JSON float is refused: it may already have lost digits.
    pub(crate) fn opt_id(&self, key: &str) -> Result<Option<String>, ParseError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) if n.is_u64() => Ok(Some(n.to_string())),
            Some(_) => Err(self.err(
                key,
                Reason::WrongType("a string or non-negative integer id"),
            )),
        }
    }

    pub(crate) fn id(&self, key: &str) -> Result<String, ParseError> {
        self.opt_id(key)?
            .ok_or_else(|| self.err(key, Reason::Missing))
    }

    /// An id that is an order or line number: present, and a valid [`DocNo`].
    pub(crate) fn doc_no(&self, key: &str) -> Result<DocNo, ParseError> {
        DocNo::new(self.id(key)?).map_err(|e| self.err(key, e.into()))
    }

    /// A count given as an integer or a decimal-digit string (JD gives strings).
    pub(crate) fn count(&self, key: &str) -> Result<u64, ParseError> {
        match self.get(key) {
            None => Err(self.err(key, Reason::Missing)),
            Some(Value::Number(n)) => n
                .as_u64()
                .ok_or_else(|| self.err(key, Reason::WrongType("a non-negative integer"))),
            Some(Value::String(s)) => s
                .trim()
                .parse::<u64>()
                .map_err(|_| self.err(key, Reason::WrongType("a non-negative integer"))),
            Some(_) => Err(self.err(key, Reason::WrongType("a non-negative integer"))),
        }
    }

    /// A line quantity: 1 ..= u32::MAX.
    pub(crate) fn quantity(&self, key: &str) -> Result<u32, ParseError> {
        let n = self.count(key)?;
        match u32::try_from(n) {
            Ok(q) if q > 0 => Ok(q),
            _ => Err(self.err(
                key,
                Reason::Invalid(format!("quantity {n} is not 1 or more")),
            )),
        }
    }

    pub(crate) fn opt_bool(&self, key: &str) -> Result<Option<bool>, ParseError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.err(key, Reason::WrongType("a boolean"))),
        }
    }

    /// Money as a decimal string; absent, `null` or empty is an error.
    pub(crate) fn money(&self, key: &str, currency: Currency) -> Result<Money, ParseError> {
        self.opt_money(key, currency)?
            .ok_or_else(|| self.err(key, Reason::Missing))
    }

    /// Money as a decimal string that may be absent, `null` or empty.
    pub(crate) fn opt_money(
        &self,
        key: &str,
        currency: Currency,
    ) -> Result<Option<Money>, ParseError> {
        if matches!(self.get(key), Some(v) if !v.is_string()) {
            return Err(self.err(key, Reason::WrongType("a decimal string")));
        }
        match self.opt_str(key)? {
            None => Ok(None),
            Some(s) => Money::parse(s, currency)
                .map(Some)
                .map_err(|e| self.err(key, e.into())),
        }
    }

    /// Money that counts as zero when absent.
    pub(crate) fn money_or_zero(&self, key: &str, currency: Currency) -> Result<Money, ParseError> {
        Ok(self
            .opt_money(key, currency)?
            .unwrap_or(Money::new(0, currency)))
    }

    /// A naive `yyyy-MM-dd HH:mm:ss` in Beijing time (Taobao, JD), as UTC.
    pub(crate) fn opt_beijing_time(&self, key: &str) -> Result<Option<UtcMillis>, ParseError> {
        let Some(s) = self.opt_str(key)? else {
            return Ok(None);
        };
        let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
        PrimitiveDateTime::parse(s.trim(), format)
            .map(|t| Some(millis(t.assume_offset(offset!(+8)))))
            .map_err(|_| {
                self.err(
                    key,
                    Reason::Time {
                        value: s.to_owned(),
                        expected: "yyyy-MM-dd HH:mm:ss",
                    },
                )
            })
    }

    pub(crate) fn beijing_time(&self, key: &str) -> Result<UtcMillis, ParseError> {
        self.opt_beijing_time(key)?
            .ok_or_else(|| self.err(key, Reason::Missing))
    }

    /// An ISO 8601 time with an offset (Shopify), as UTC.
    pub(crate) fn opt_rfc3339(&self, key: &str) -> Result<Option<UtcMillis>, ParseError> {
        let Some(s) = self.opt_str(key)? else {
            return Ok(None);
        };
        OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339)
            .map(|t| Some(millis(t)))
            .map_err(|_| {
                self.err(
                    key,
                    Reason::Time {
                        value: s.to_owned(),
                        expected: "ISO 8601 with an offset",
                    },
                )
            })
    }

    pub(crate) fn rfc3339(&self, key: &str) -> Result<UtcMillis, ParseError> {
        self.opt_rfc3339(key)?
            .ok_or_else(|| self.err(key, Reason::Missing))
    }

    /// An ISO 8601 time without an offset that is UTC by name (WooCommerce `*_gmt` fields).
    pub(crate) fn opt_gmt_time(&self, key: &str) -> Result<Option<UtcMillis>, ParseError> {
        let Some(s) = self.opt_str(key)? else {
            return Ok(None);
        };
        let format = format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
        );
        PrimitiveDateTime::parse(s.trim(), format)
            .map(|t| Some(millis(t.assume_utc())))
            .map_err(|_| {
                self.err(
                    key,
                    Reason::Time {
                        value: s.to_owned(),
                        expected: "yyyy-MM-ddTHH:mm:ss (GMT)",
                    },
                )
            })
    }

    pub(crate) fn gmt_time(&self, key: &str) -> Result<UtcMillis, ParseError> {
        self.opt_gmt_time(key)?
            .ok_or_else(|| self.err(key, Reason::Missing))
    }

    pub(crate) fn opt_obj(&self, key: &str) -> Result<Option<Obj<'a>>, ParseError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Obj {
                platform: self.platform,
                map,
                path: self.path(key),
            })),
            Some(_) => Err(self.err(key, Reason::WrongType("an object"))),
        }
    }

    pub(crate) fn obj(&self, key: &str) -> Result<Obj<'a>, ParseError> {
        self.opt_obj(key)?
            .ok_or_else(|| self.err(key, Reason::Missing))
    }

    /// An array of objects; absent or `null` is empty. At most [`ORDER_LINES_MAX`] items.
    pub(crate) fn objects(&self, key: &str) -> Result<Vec<Obj<'a>>, ParseError> {
        let items = match self.get(key) {
            None => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(_) => return Err(self.err(key, Reason::WrongType("an array"))),
        };
        if items.len() > ORDER_LINES_MAX {
            return Err(self.err(
                key,
                Reason::Invalid(format!(
                    "{} items, more than {ORDER_LINES_MAX}",
                    items.len()
                )),
            ));
        }
        items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::Object(map) => Ok(Obj {
                    platform: self.platform,
                    map,
                    path: format!("{}[{i}]", self.path(key)),
                }),
                _ => Err(self.err(&format!("{key}[{i}]"), Reason::WrongType("an object"))),
            })
            .collect()
    }

    /// A merchant SKU code; absent or empty is `None`.
    pub(crate) fn opt_sku(&self, key: &str) -> Result<Option<Sku>, ParseError> {
        self.opt_str(key)?
            .map(|s| Sku::new(s).map_err(|e| self.err(key, e.into())))
            .transpose()
    }

    /// Maps the status at `key` through `table`; an unknown value is an error naming it.
    pub(crate) fn status<T: Copy>(&self, key: &str, table: &[(&str, T)]) -> Result<T, ParseError> {
        let value = self.str(key)?;
        lookup(table, value).ok_or_else(|| self.err(key, Reason::UnknownStatus(value.to_owned())))
    }

    pub(crate) fn opt_status<T: Copy>(
        &self,
        key: &str,
        table: &[(&str, T)],
    ) -> Result<Option<T>, ParseError> {
        self.opt_str(key)?
            .map(|value| {
                lookup(table, value)
                    .ok_or_else(|| self.err(key, Reason::UnknownStatus(value.to_owned())))
            })
            .transpose()
    }
}

fn millis(t: OffsetDateTime) -> UtcMillis {
    // Platform times are whole seconds or milliseconds; i64 millis covers ±292 million years.
    UtcMillis((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// The lower-case hex SHA-256 of a trimmed, lower-cased e-mail address.
pub(crate) fn email_sha256(email: &str) -> String {
    hex::encode(Sha256::digest(email.trim().to_lowercase().as_bytes()))
}

/// True when a name or phone arrived masked by the platform (`张**`, `138****1234`).
pub(crate) fn is_masked(values: &[&Option<String>]) -> bool {
    values
        .iter()
        .any(|v| v.as_deref().is_some_and(|s| s.contains('*')))
}

/// Sums money of one currency; `None` on overflow.
pub(crate) fn sum(currency: Currency, items: impl IntoIterator<Item = Money>) -> Option<Money> {
    items
        .into_iter()
        .try_fold(0i64, |acc, m| acc.checked_add(m.minor))
        .map(|minor| Money::new(minor, currency))
}

/// Joins the non-empty parts with a space (address lines, first and last name).
pub(crate) fn join(parts: &[Option<&str>]) -> Option<String> {
    let joined = parts
        .iter()
        .flatten()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    (!joined.is_empty()).then_some(joined)
}
