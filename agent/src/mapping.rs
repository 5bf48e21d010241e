//! One legacy row → one change body of the standard model.
//!
//! A source's config binds each standard field either to a legacy column (`[source.columns]`) or
//! to a fixed value (`[source.constants]`). [`Mapping::new`] checks the bindings once; then
//! [`Mapping::map`] turns a row (column name → text) into `(version, body)` or a [`RowError`]
//! that names the field, the column and the reason. Values are trimmed before parsing.
//!
//! Fields per entity (`?` = optional; every entity also takes an optional `version`):
//! - `stock`: `warehouse`, `sku`, `on_hand`
//! - `stock_movement`: `movement_no`, `warehouse`, `sku`, `delta`, `kind`, `occurred_at`
//! - `shipment`: `delivery_no`, `warehouse`, `order_no?`, `carrier`, `tracking_no`, `shipped_at`,
//!   `sku`, `quantity` (one line per row)
//! - `pos_sale`: `store`, `sale_no`, `total`, `currency?` (CNY), `sold_at`, `sku`, `quantity`,
//!   `unit_price` (one line per row)
//! - `payment_flow`: `account`, `flow_no`, `direction`, `amount`, `fee?` (0), `currency?` (CNY),
//!   `order_ref?`, `occurred_at`
//!
//! Kinds of value: integers (`12`, `-3`, `12.000`), money (exact decimals, see
//! [`Money::parse`]), timestamps (see [`crate::timestamp`]), ids (see [`xt_shared::ids`]),
//! movement kinds (`receipt|shipment|return|adjustment|transfer|other` or
//! `入库|出库|退货|调整|调拨|其他`), directions (`in|out|收入|支出`). The `version` is an integer
//! as is, or a timestamp as UTC milliseconds.

use crate::timestamp::{UtcOffset, parse_timestamp};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use xt_shared::change::{Body, EntityKind};
use xt_shared::ids::{DocNo, IdError, Sku, WarehouseCode};
use xt_shared::model::{
    FlowDirection, MovementKind, PaymentFlow, PosSale, QuantityLine, SaleLine,
    ShipmentConfirmation, StockLevel, StockMovement, UtcMillis,
};
use xt_shared::money::{Currency, Money, MoneyError};

#[cfg(test)]
mod tests;

/// Longest free-text value (carrier, tracking number) accepted, in characters.
pub const TEXT_CHARS_MAX: usize = 128;

/// What kind of value a standard field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Id,
    Integer,
    Money,
    Currency,
    Timestamp,
    Text,
    MovementKind,
    Direction,
    Version,
}

/// One standard field of an entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    pub name: &'static str,
    pub kind: FieldKind,
    pub required: bool,
}

const fn req(name: &'static str, kind: FieldKind) -> FieldSpec {
    FieldSpec {
        name,
        kind,
        required: true,
    }
}

const fn opt(name: &'static str, kind: FieldKind) -> FieldSpec {
    FieldSpec {
        name,
        kind,
        required: false,
    }
}

use FieldKind as K;

const STOCK: &[FieldSpec] = &[
    req("warehouse", K::Id),
    req("sku", K::Id),
    req("on_hand", K::Integer),
    opt("version", K::Version),
];
const STOCK_MOVEMENT: &[FieldSpec] = &[
    req("movement_no", K::Id),
    req("warehouse", K::Id),
    req("sku", K::Id),
    req("delta", K::Integer),
    req("kind", K::MovementKind),
    req("occurred_at", K::Timestamp),
    opt("version", K::Version),
];
const SHIPMENT: &[FieldSpec] = &[
    req("delivery_no", K::Id),
    req("warehouse", K::Id),
    opt("order_no", K::Id),
    req("carrier", K::Text),
    req("tracking_no", K::Text),
    req("shipped_at", K::Timestamp),
    req("sku", K::Id),
    req("quantity", K::Integer),
    opt("version", K::Version),
];
const POS_SALE: &[FieldSpec] = &[
    req("store", K::Id),
    req("sale_no", K::Id),
    req("total", K::Money),
    opt("currency", K::Currency),
    req("sold_at", K::Timestamp),
    req("sku", K::Id),
    req("quantity", K::Integer),
    req("unit_price", K::Money),
    opt("version", K::Version),
];
const PAYMENT_FLOW: &[FieldSpec] = &[
    req("account", K::Id),
    req("flow_no", K::Id),
    req("direction", K::Direction),
    req("amount", K::Money),
    opt("fee", K::Money),
    opt("currency", K::Currency),
    opt("order_ref", K::Id),
    req("occurred_at", K::Timestamp),
    opt("version", K::Version),
];

/// The standard fields of `entity`, or `None` when agent sources cannot produce it.
pub fn fields(entity: EntityKind) -> Option<&'static [FieldSpec]> {
    match entity {
        EntityKind::Stock => Some(STOCK),
        EntityKind::StockMovement => Some(STOCK_MOVEMENT),
        EntityKind::Shipment => Some(SHIPMENT),
        EntityKind::PosSale => Some(POS_SALE),
        EntityKind::PaymentFlow => Some(PAYMENT_FLOW),
        EntityKind::Order | EntityKind::Refund => None,
    }
}

/// How legacy text is encoded (`encoding = "…"` in a CSV source).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum TextEncoding {
    #[default]
    #[serde(rename = "utf-8")]
    Utf8,
    #[serde(rename = "gbk")]
    Gbk,
    #[serde(rename = "gb18030")]
    Gb18030,
}

impl TextEncoding {
    pub fn as_str(&self) -> &'static str {
        match self {
            TextEncoding::Utf8 => "utf-8",
            TextEncoding::Gbk => "gbk",
            TextEncoding::Gb18030 => "gb18030",
        }
    }

    fn encoding(&self) -> &'static encoding_rs::Encoding {
        match self {
            TextEncoding::Utf8 => encoding_rs::UTF_8,
            TextEncoding::Gbk => encoding_rs::GBK,
            TextEncoding::Gb18030 => encoding_rs::GB18030,
        }
    }

    /// Decodes one field exactly: malformed bytes are an error, never a replacement character.
    pub fn decode(&self, bytes: &[u8], column: &str) -> Result<String, RowError> {
        self.encoding()
            .decode_without_bom_handling_and_without_replacement(bytes)
            .map(|text| text.into_owned())
            .ok_or_else(|| RowError::Encoding {
                column: column.to_owned(),
                encoding: self.as_str(),
            })
    }

    /// Encodes `text` for a legacy file. Every character has bytes: `gbk` is written as
    /// GB18030, its superset, which is the same bytes for every character GBK has.
    pub fn encode(&self, text: &str) -> Vec<u8> {
        match self {
            TextEncoding::Utf8 => text.as_bytes().to_vec(),
            TextEncoding::Gbk | TextEncoding::Gb18030 => {
                encoding_rs::GB18030.encode(text).0.into_owned()
            }
        }
    }

    /// Decodes for display (quarantine `raw`), replacing malformed bytes.
    pub fn decode_lossy(&self, bytes: &[u8]) -> String {
        self.encoding()
            .decode_without_bom_handling(bytes)
            .0
            .into_owned()
    }
}

/// Where a field's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Binding {
    Column(String),
    Constant(String),
}

/// Which field, and where its value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loc {
    pub field: &'static str,
    /// The legacy column, or `None` for a `[source.constants]` value.
    pub column: Option<String>,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(column) => write!(f, "{} (column {column:?})", self.field),
            None => write!(f, "{} (constant)", self.field),
        }
    }
}

/// Why one row could not become a change. The row is quarantined with this as its reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    #[error("{loc}: no such column in the row")]
    MissingColumn { loc: Loc },
    #[error("{loc} is empty")]
    Empty { loc: Loc },
    #[error("{loc}: {value:?} is not an integer")]
    NotInteger { loc: Loc, value: String },
    #[error("{loc}: {source}")]
    Money { loc: Loc, source: MoneyError },
    #[error("{loc}: {value:?} must not be negative")]
    Negative { loc: Loc, value: String },
    #[error(
        "{loc}: {value:?} is not a timestamp (expected YYYY-MM-DD HH:MM:SS, rfc 3339 or epoch seconds/milliseconds)"
    )]
    Timestamp { loc: Loc, value: String },
    #[error("{loc}: {source}")]
    Id { loc: Loc, source: IdError },
    #[error("{loc}: {value:?} is not one of {expected}")]
    Choice {
        loc: Loc,
        value: String,
        expected: &'static str,
    },
    #[error("{loc}: {chars} characters is longer than {TEXT_CHARS_MAX}")]
    TooLong { loc: Loc, chars: usize },
    #[error("invalid {encoding} bytes in column {column:?}")]
    Encoding {
        column: String,
        encoding: &'static str,
    },
    #[error("expected {expected} fields, found {found}")]
    FieldCount { expected: usize, found: usize },
    #[error("{field} is not mapped")]
    NotMapped { field: &'static str },
}

/// Why a source's column mapping is unusable (reported at config load).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("entity {0} cannot be read by agent sources")]
    UnsupportedEntity(&'static str),
    #[error("{field:?} is not a field of {entity} (fields: {known})")]
    UnknownField {
        field: String,
        entity: &'static str,
        known: String,
    },
    #[error(
        "{field} is required for {entity}: map it in [source.columns] or set it in [source.constants]"
    )]
    Missing {
        field: &'static str,
        entity: &'static str,
    },
    #[error("{field} is set in both [source.columns] and [source.constants]")]
    Both { field: String },
    #[error("columns.{field} names an empty column")]
    EmptyColumn { field: String },
    #[error("constants.{field}: {error}")]
    BadConstant { field: String, error: RowError },
}

/// A checked column mapping for one source.
#[derive(Debug, Clone)]
pub struct Mapping {
    entity: EntityKind,
    bindings: BTreeMap<&'static str, Binding>,
    offset: UtcOffset,
}

impl Mapping {
    /// Checks that every field is known, every required field is bound and every constant parses.
    pub fn new(
        entity: EntityKind,
        columns: &BTreeMap<String, String>,
        constants: &BTreeMap<String, String>,
        offset: UtcOffset,
    ) -> Result<Mapping, MappingError> {
        let specs = fields(entity).ok_or(MappingError::UnsupportedEntity(entity.as_str()))?;
        let spec_of = |field: &str| {
            specs
                .iter()
                .find(|s| s.name == field)
                .ok_or_else(|| MappingError::UnknownField {
                    field: field.to_owned(),
                    entity: entity.as_str(),
                    known: specs.iter().map(|s| s.name).collect::<Vec<_>>().join(", "),
                })
        };
        let mut bindings = BTreeMap::new();
        for (field, column) in columns {
            let spec = spec_of(field)?;
            if column.trim().is_empty() {
                return Err(MappingError::EmptyColumn {
                    field: field.clone(),
                });
            }
            bindings.insert(spec.name, Binding::Column(column.clone()));
        }
        for (field, value) in constants {
            let spec = spec_of(field)?;
            if bindings.contains_key(spec.name) {
                return Err(MappingError::Both {
                    field: field.clone(),
                });
            }
            bindings.insert(spec.name, Binding::Constant(value.clone()));
        }
        for spec in specs {
            if spec.required && !bindings.contains_key(spec.name) {
                return Err(MappingError::Missing {
                    field: spec.name,
                    entity: entity.as_str(),
                });
            }
        }
        let mapping = Mapping {
            entity,
            bindings,
            offset,
        };
        mapping.check_constants(specs)?;
        Ok(mapping)
    }

    fn check_constants(&self, specs: &[FieldSpec]) -> Result<(), MappingError> {
        let no_row = |_: &str| None;
        let r = Reader {
            m: self,
            row: &no_row,
        };
        for spec in specs {
            if !matches!(self.bindings.get(spec.name), Some(Binding::Constant(_))) {
                continue;
            }
            let f = spec.name;
            let checked = match spec.kind {
                K::Id => r
                    .req(f)
                    .and_then(|(v, loc)| id(v, loc, DocNo::new))
                    .map(drop),
                K::Integer => r.integer(f).map(drop),
                K::Money => r.money(f, Currency::CNY).map(drop),
                K::Currency => r.currency().map(drop),
                K::Timestamp => r.timestamp(f).map(drop),
                K::Text => r.text(f).map(drop),
                K::MovementKind => r.movement_kind().map(drop),
                K::Direction => r.direction().map(drop),
                K::Version => r.version().map(drop),
            };
            checked.map_err(|error| MappingError::BadConstant {
                field: f.to_owned(),
                error,
            })?;
        }
        Ok(())
    }

    pub fn entity(&self) -> EntityKind {
        self.entity
    }

    /// The legacy columns this mapping reads.
    pub fn columns(&self) -> impl Iterator<Item = &str> {
        self.bindings.values().filter_map(|b| match b {
            Binding::Column(c) => Some(c.as_str()),
            Binding::Constant(_) => None,
        })
    }

    /// Maps one row. `row(column)` is the column's text, `None` when the row has no such column
    /// (SQL NULL is passed as an empty string).
    pub fn map<'r>(
        &'r self,
        row: &dyn Fn(&str) -> Option<&'r str>,
    ) -> Result<(Option<i64>, Body), RowError> {
        let r = Reader { m: self, row };
        let version = r.version()?;
        let body = match self.entity {
            EntityKind::Stock => Body::Stock(StockLevel {
                warehouse: r.id("warehouse", WarehouseCode::new)?,
                sku: r.id("sku", Sku::new)?,
                on_hand: r.integer("on_hand")?,
            }),
            EntityKind::StockMovement => Body::StockMovement(StockMovement {
                movement_no: r.id("movement_no", DocNo::new)?,
                warehouse: r.id("warehouse", WarehouseCode::new)?,
                sku: r.id("sku", Sku::new)?,
                delta: r.integer("delta")?,
                kind: r.movement_kind()?,
                occurred_at: r.timestamp("occurred_at")?,
            }),
            EntityKind::Shipment => Body::Shipment(ShipmentConfirmation {
                delivery_no: r.id("delivery_no", DocNo::new)?,
                warehouse: r.id("warehouse", WarehouseCode::new)?,
                order_no: r.opt_id("order_no")?,
                carrier: r.text("carrier")?,
                tracking_no: r.text("tracking_no")?,
                shipped_at: r.timestamp("shipped_at")?,
                lines: vec![QuantityLine {
                    sku: r.id("sku", Sku::new)?,
                    quantity: r.integer("quantity")?,
                }],
            }),
            EntityKind::PosSale => {
                let currency = r.currency()?;
                Body::PosSale(PosSale {
                    store: r.id("store", WarehouseCode::new)?,
                    sale_no: r.id("sale_no", DocNo::new)?,
                    total: r.money("total", currency)?,
                    sold_at: r.timestamp("sold_at")?,
                    lines: vec![SaleLine {
                        sku: r.id("sku", Sku::new)?,
                        quantity: r.integer("quantity")?,
                        unit_price: r.money("unit_price", currency)?,
                    }],
                })
            }
            EntityKind::PaymentFlow => {
                let currency = r.currency()?;
                let amount = r.money("amount", currency)?;
                if amount.minor < 0 {
                    let (value, loc) = r.req("amount")?;
                    return Err(RowError::Negative {
                        loc,
                        value: value.to_owned(),
                    });
                }
                Body::PaymentFlow(PaymentFlow {
                    account: r.id("account", DocNo::new)?,
                    flow_no: r.id("flow_no", DocNo::new)?,
                    direction: r.direction()?,
                    amount,
                    fee: match r.opt("fee")? {
                        Some((v, loc)) => money(v, loc, currency)?,
                        None => Money::new(0, currency),
                    },
                    order_ref: r.opt_id("order_ref")?,
                    occurred_at: r.timestamp("occurred_at")?,
                })
            }
            EntityKind::Order | EntityKind::Refund => {
                return Err(RowError::NotMapped { field: "entity" });
            }
        };
        Ok((version, body))
    }
}

/// Reads fields of one row through a mapping.
struct Reader<'f, 'r> {
    m: &'r Mapping,
    row: &'f dyn Fn(&str) -> Option<&'r str>,
}

impl<'r> Reader<'_, 'r> {
    fn loc(&self, field: &'static str) -> Loc {
        Loc {
            field,
            column: match self.m.bindings.get(field) {
                Some(Binding::Column(c)) => Some(c.clone()),
                _ => None,
            },
        }
    }

    /// The trimmed value, `None` when the field is not bound.
    fn raw(&self, field: &'static str) -> Result<Option<&'r str>, RowError> {
        match self.m.bindings.get(field) {
            None => Ok(None),
            Some(Binding::Constant(v)) => Ok(Some(v.trim())),
            Some(Binding::Column(c)) => match (self.row)(c) {
                Some(v) => Ok(Some(v.trim())),
                None => Err(RowError::MissingColumn {
                    loc: self.loc(field),
                }),
            },
        }
    }

    fn req(&self, field: &'static str) -> Result<(&'r str, Loc), RowError> {
        match self.raw(field)? {
            None => Err(RowError::NotMapped { field }),
            Some("") => Err(RowError::Empty {
                loc: self.loc(field),
            }),
            Some(v) => Ok((v, self.loc(field))),
        }
    }

    /// `None` when the field is not bound or its value is empty.
    fn opt(&self, field: &'static str) -> Result<Option<(&'r str, Loc)>, RowError> {
        Ok(match self.raw(field)? {
            None | Some("") => None,
            Some(v) => Some((v, self.loc(field))),
        })
    }

    fn id<T>(
        &self,
        field: &'static str,
        new: fn(String) -> Result<T, IdError>,
    ) -> Result<T, RowError> {
        let (v, loc) = self.req(field)?;
        id(v, loc, new)
    }

    fn opt_id(&self, field: &'static str) -> Result<Option<DocNo>, RowError> {
        self.opt(field)?
            .map(|(v, loc)| id(v, loc, DocNo::new))
            .transpose()
    }

    fn integer(&self, field: &'static str) -> Result<i64, RowError> {
        let (v, loc) = self.req(field)?;
        parse_integer(v).ok_or_else(|| RowError::NotInteger {
            loc,
            value: v.to_owned(),
        })
    }

    fn money(&self, field: &'static str, currency: Currency) -> Result<Money, RowError> {
        let (v, loc) = self.req(field)?;
        money(v, loc, currency)
    }

    fn currency(&self) -> Result<Currency, RowError> {
        match self.opt("currency")? {
            None => Ok(Currency::CNY),
            Some((v, loc)) => Currency::new(&v.to_ascii_uppercase())
                .map_err(|source| RowError::Money { loc, source }),
        }
    }

    fn timestamp(&self, field: &'static str) -> Result<UtcMillis, RowError> {
        let (v, loc) = self.req(field)?;
        parse_timestamp(v, self.m.offset).ok_or_else(|| RowError::Timestamp {
            loc,
            value: v.to_owned(),
        })
    }

    fn text(&self, field: &'static str) -> Result<String, RowError> {
        let (v, loc) = self.req(field)?;
        let chars = v.chars().count();
        if chars > TEXT_CHARS_MAX {
            return Err(RowError::TooLong { loc, chars });
        }
        Ok(v.to_owned())
    }

    fn movement_kind(&self) -> Result<MovementKind, RowError> {
        let (v, loc) = self.req("kind")?;
        Ok(match v.to_ascii_lowercase().as_str() {
            "receipt" | "入库" => MovementKind::Receipt,
            "shipment" | "出库" => MovementKind::Shipment,
            "return" | "退货" => MovementKind::Return,
            "adjustment" | "调整" => MovementKind::Adjustment,
            "transfer" | "调拨" => MovementKind::Transfer,
            "other" | "其他" => MovementKind::Other,
            _ => {
                return Err(RowError::Choice {
                    loc,
                    value: v.to_owned(),
                    expected: "receipt, shipment, return, adjustment, transfer, other, 入库, 出库, 退货, 调整, 调拨, 其他",
                });
            }
        })
    }

    fn direction(&self) -> Result<FlowDirection, RowError> {
        let (v, loc) = self.req("direction")?;
        match v.to_ascii_lowercase().as_str() {
            "in" | "收入" => Ok(FlowDirection::In),
            "out" | "支出" => Ok(FlowDirection::Out),
            _ => Err(RowError::Choice {
                loc,
                value: v.to_owned(),
                expected: "in, out, 收入, 支出",
            }),
        }
    }

    /// An integer as is, or a timestamp as UTC milliseconds.
    fn version(&self) -> Result<Option<i64>, RowError> {
        let Some((v, loc)) = self.opt("version")? else {
            return Ok(None);
        };
        if let Some(n) = parse_integer(v) {
            return Ok(Some(n));
        }
        match parse_timestamp(v, self.m.offset) {
            Some(t) => Ok(Some(t.0)),
            None => Err(RowError::Timestamp {
                loc,
                value: v.to_owned(),
            }),
        }
    }
}

fn id<T>(v: &str, loc: Loc, new: fn(String) -> Result<T, IdError>) -> Result<T, RowError> {
    new(v.to_owned()).map_err(|source| RowError::Id { loc, source })
}

fn money(v: &str, loc: Loc, currency: Currency) -> Result<Money, RowError> {
    Money::parse(v, currency).map_err(|source| RowError::Money { loc, source })
}

/// `12`, `-3`, `+3`, and `12.000` (a decimal with an all-zero fraction, as SQL reals and
/// DECIMAL columns print). Anything else, including `12.5` and `1e3`, is not an integer.
pub fn parse_integer(v: &str) -> Option<i64> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if v.contains('.') && (frac.is_empty() || !frac.bytes().all(|b| b == b'0')) {
        return None;
    }
    let digits = int.strip_prefix(['-', '+']).unwrap_or(int);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    int.parse().ok()
}
