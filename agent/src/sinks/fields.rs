//! The delivery fields a sink writes, one row per delivery line, and the checked mapping of
//! fields to a sink's columns. Pure: no IO.
//!
//! Fields (every line of a delivery repeats its order-level fields):
//! `delivery_no`, `line_no` (1-based), `warehouse`, `shop`, `order_nos` (joined by `,`),
//! `receiver_name`, `receiver_phone`, `receiver_province`, `receiver_city`,
//! `receiver_district`, `receiver_address`, `receiver_zip`, `sku`, `quantity`, `title`,
//! `buyer_memo`, `seller_memo` (empty/NULL when absent), `created_at` (see [`TimeFormat`]),
//! `status` (sqlite only: the configured `new_value`).

use crate::timestamp::UtcOffset;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use time::OffsetDateTime;
use time::macros::format_description;
use xt_shared::command::DeliveryOrder;
use xt_shared::model::UtcMillis;

/// Longest table or column name accepted, in bytes.
pub const IDENTIFIER_BYTES_MAX: usize = 128;
/// Most lines one delivery order may have; a longer one is refused.
pub const DELIVERY_LINES_MAX: usize = 1000;
/// Most constant columns of one sink.
pub const CONSTANTS_MAX: usize = 32;

/// One field of a delivery line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    DeliveryNo,
    LineNo,
    Warehouse,
    Shop,
    OrderNos,
    ReceiverName,
    ReceiverPhone,
    ReceiverProvince,
    ReceiverCity,
    ReceiverDistrict,
    ReceiverAddress,
    ReceiverZip,
    Sku,
    Quantity,
    Title,
    BuyerMemo,
    SellerMemo,
    CreatedAt,
    Status,
}

/// Fields a sqlite sink must map.
pub const SQLITE_REQUIRED: &[Field] = &[
    Field::DeliveryNo,
    Field::Sku,
    Field::Quantity,
    Field::Status,
];
/// Fields a csv sink must map (when it maps any).
pub const CSV_REQUIRED: &[Field] = &[Field::DeliveryNo, Field::Sku, Field::Quantity];

impl Field {
    /// Every field, in the order columns are written.
    pub const ALL: &'static [Field] = &[
        Field::DeliveryNo,
        Field::LineNo,
        Field::Warehouse,
        Field::Shop,
        Field::OrderNos,
        Field::ReceiverName,
        Field::ReceiverPhone,
        Field::ReceiverProvince,
        Field::ReceiverCity,
        Field::ReceiverDistrict,
        Field::ReceiverAddress,
        Field::ReceiverZip,
        Field::Sku,
        Field::Quantity,
        Field::Title,
        Field::BuyerMemo,
        Field::SellerMemo,
        Field::CreatedAt,
        Field::Status,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Field::DeliveryNo => "delivery_no",
            Field::LineNo => "line_no",
            Field::Warehouse => "warehouse",
            Field::Shop => "shop",
            Field::OrderNos => "order_nos",
            Field::ReceiverName => "receiver_name",
            Field::ReceiverPhone => "receiver_phone",
            Field::ReceiverProvince => "receiver_province",
            Field::ReceiverCity => "receiver_city",
            Field::ReceiverDistrict => "receiver_district",
            Field::ReceiverAddress => "receiver_address",
            Field::ReceiverZip => "receiver_zip",
            Field::Sku => "sku",
            Field::Quantity => "quantity",
            Field::Title => "title",
            Field::BuyerMemo => "buyer_memo",
            Field::SellerMemo => "seller_memo",
            Field::CreatedAt => "created_at",
            Field::Status => "status",
        }
    }

    pub fn parse(name: &str) -> Option<Field> {
        Field::ALL.iter().copied().find(|f| f.name() == name)
    }
}

/// How `created_at` is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeFormat {
    /// `YYYY-MM-DD HH:MM:SS` in the agent's `timezone`, as legacy systems keep time.
    #[default]
    Local,
    /// RFC 3339 in UTC with milliseconds: `2026-03-15T08:15:00.000Z`.
    Rfc3339,
    /// Milliseconds since the epoch, an integer.
    EpochMs,
}

/// One value to write. Sqlite binds it typed; csv writes its text (`Null` is empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
}

impl Value {
    /// The text a csv cell holds.
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Value::Null => "".into(),
            Value::Int(v) => v.to_string().into(),
            Value::Text(t) => t.as_str().into(),
        }
    }
}

/// A table or column name usable in SQL once double-quoted: non-empty, no `"`, no control
/// character, no surrounding whitespace, at most [`IDENTIFIER_BYTES_MAX`] bytes. Chinese names
/// are fine.
pub fn check_identifier(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the name is empty".to_owned());
    }
    if name.len() > IDENTIFIER_BYTES_MAX {
        return Err(format!(
            "{name:?} is longer than {IDENTIFIER_BYTES_MAX} bytes"
        ));
    }
    if name.contains('"') || name.chars().any(char::is_control) || name.trim() != name {
        return Err(format!(
            "{name:?} is not a usable name (no double quote, control character or surrounding space)"
        ));
    }
    Ok(())
}

/// `name` quoted as an SQL identifier (checked by [`check_identifier`] first).
pub fn quoted(name: &str) -> String {
    format!("\"{name}\"")
}

/// A sink's checked columns: the mapped fields in [`Field::ALL`] order, then the constant
/// columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    pub mapped: Vec<(Field, String)>,
    pub constants: Vec<(String, String)>,
}

impl Columns {
    /// Checks a `[sink.columns]` / `[sink.constants]` pair: known fields only, the `required`
    /// ones present, no `forbidden` one, no column named twice; with `identifiers`, every name
    /// must be a usable SQL identifier.
    pub fn new(
        columns: &BTreeMap<String, String>,
        constants: &BTreeMap<String, String>,
        required: &[Field],
        forbidden: &[Field],
        identifiers: bool,
    ) -> Result<Columns, String> {
        let mut by_field = BTreeMap::new();
        for (name, column) in columns {
            let field = Field::parse(name).ok_or_else(|| {
                format!(
                    "columns: {name:?} is not a delivery field (fields: {})",
                    Field::ALL
                        .iter()
                        .map(|f| f.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
            if forbidden.contains(&field) {
                return Err(format!(
                    "columns: {name} is not written by this kind of sink"
                ));
            }
            by_field.insert(field, column.clone());
        }
        for field in required {
            if !by_field.contains_key(field) {
                return Err(format!("columns.{} is required", field.name()));
            }
        }
        let out = Columns {
            mapped: by_field.into_iter().collect(),
            constants: constants
                .iter()
                .map(|(c, v)| (c.clone(), v.clone()))
                .collect(),
        };
        out.check_names(identifiers)?;
        Ok(out)
    }

    /// Every field but the `forbidden` ones, each under its own name (a csv sink's default).
    pub fn every_field(
        forbidden: &[Field],
        constants: &BTreeMap<String, String>,
    ) -> Result<Columns, String> {
        let out = Columns {
            mapped: Field::ALL
                .iter()
                .filter(|f| !forbidden.contains(f))
                .map(|f| (*f, f.name().to_owned()))
                .collect(),
            constants: constants
                .iter()
                .map(|(c, v)| (c.clone(), v.clone()))
                .collect(),
        };
        out.check_names(false)?;
        Ok(out)
    }

    fn check_names(&self, identifiers: bool) -> Result<(), String> {
        if self.constants.len() > CONSTANTS_MAX {
            return Err(format!("constants: more than {CONSTANTS_MAX} columns"));
        }
        let mut seen = BTreeSet::new();
        for (what, column) in self
            .mapped
            .iter()
            .map(|(f, c)| (format!("columns.{}", f.name()), c))
            .chain(
                self.constants
                    .iter()
                    .map(|(c, _)| (format!("constants.{c}"), c)),
            )
        {
            if column.trim().is_empty() {
                return Err(format!("{what} names an empty column"));
            }
            if identifiers {
                check_identifier(column).map_err(|e| format!("{what}: {e}"))?;
            }
            if !seen.insert(column.as_str()) {
                return Err(format!("{what}: column {column:?} is written twice"));
            }
        }
        for (column, value) in &self.constants {
            if value.chars().any(char::is_control) {
                return Err(format!(
                    "constants.{column}: the value has a control character"
                ));
            }
        }
        Ok(())
    }

    /// The column of `field`, if mapped.
    pub fn column(&self, field: Field) -> Option<&str> {
        self.mapped
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, c)| c.as_str())
    }

    /// Every column written, mapped fields first, then constants.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.mapped
            .iter()
            .map(|(_, c)| c.as_str())
            .chain(self.constants.iter().map(|(c, _)| c.as_str()))
    }
}

/// What a row needs besides the order.
#[derive(Debug, Clone, Copy)]
pub struct RowContext<'a> {
    /// The status a new delivery is written with (sqlite's `new_value`).
    pub status: &'a str,
    pub time_format: TimeFormat,
    pub offset: UtcOffset,
}

/// Why a delivery order cannot be written at all: the reason of its refusal.
pub fn order_problem(order: &DeliveryOrder) -> Option<String> {
    if order.lines.is_empty() {
        return Some("the delivery order has no lines".to_owned());
    }
    if order.lines.len() > DELIVERY_LINES_MAX {
        return Some(format!(
            "the delivery order has {} lines, more than {DELIVERY_LINES_MAX}",
            order.lines.len()
        ));
    }
    if let Some(line) = order.lines.iter().find(|l| l.quantity <= 0) {
        return Some(format!(
            "line of sku {} has quantity {}: it must be positive",
            line.sku, line.quantity
        ));
    }
    None
}

/// The row of line `index` of `order`: one value per column of `columns`, in its order.
/// An error (a `created_at` out of range) is the reason to refuse the order.
pub fn row(
    order: &DeliveryOrder,
    index: usize,
    columns: &Columns,
    ctx: &RowContext<'_>,
) -> Result<Vec<Value>, String> {
    let line = &order.lines[index];
    let r = &order.receiver;
    let text = |s: &str| Value::Text(s.to_owned());
    let memo = |m: &Option<String>| m.as_deref().map_or(Value::Null, text);
    let mut out = Vec::with_capacity(columns.mapped.len() + columns.constants.len());
    for (field, _) in &columns.mapped {
        out.push(match field {
            Field::DeliveryNo => text(order.delivery_no.as_str()),
            Field::LineNo => Value::Int(index as i64 + 1),
            Field::Warehouse => text(order.warehouse.as_str()),
            Field::Shop => text(order.shop.as_str()),
            Field::OrderNos => Value::Text(
                order
                    .order_nos
                    .iter()
                    .map(|n| n.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            Field::ReceiverName => text(&r.name),
            Field::ReceiverPhone => text(&r.phone),
            Field::ReceiverProvince => text(&r.province),
            Field::ReceiverCity => text(&r.city),
            Field::ReceiverDistrict => text(&r.district),
            Field::ReceiverAddress => text(&r.address),
            Field::ReceiverZip => text(&r.zip),
            Field::Sku => text(line.sku.as_str()),
            Field::Quantity => Value::Int(line.quantity),
            Field::Title => text(&line.title),
            Field::BuyerMemo => memo(&order.buyer_memo),
            Field::SellerMemo => memo(&order.seller_memo),
            Field::CreatedAt => time_value(order.created_at, ctx.time_format, ctx.offset)?,
            Field::Status => text(ctx.status),
        });
    }
    out.extend(columns.constants.iter().map(|(_, v)| text(v)));
    Ok(out)
}

fn datetime(at: UtcMillis) -> Result<OffsetDateTime, String> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(at.0) * 1_000_000)
        .map_err(|_| format!("time {} ms is out of range", at.0))
}

/// `at` written as `format` says.
pub fn time_value(at: UtcMillis, format: TimeFormat, offset: UtcOffset) -> Result<Value, String> {
    let formatted = match format {
        TimeFormat::EpochMs => return Ok(Value::Int(at.0)),
        TimeFormat::Local => {
            let offset = time::UtcOffset::from_whole_seconds(offset.secs())
                .map_err(|e| format!("timezone {offset}: {e}"))?;
            datetime(at)?.to_offset(offset).format(format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second]"
            ))
        }
        TimeFormat::Rfc3339 => datetime(at)?.format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        )),
    };
    formatted
        .map(Value::Text)
        .map_err(|e| format!("time {} ms cannot be written: {e}", at.0))
}

/// `at` as a compact UTC time for file names: `20260315T081500Z`.
pub fn file_time(at: UtcMillis) -> Result<String, String> {
    datetime(at)?
        .format(format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .map_err(|e| format!("time {} ms cannot name a file: {e}", at.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use xt_shared::command::{DeliveryLine, DeliveryReceiver};
    use xt_shared::ids::{DocNo, Sku, WarehouseCode};

    fn order() -> DeliveryOrder {
        DeliveryOrder {
            delivery_no: DocNo::new("D-1").unwrap(),
            warehouse: WarehouseCode::new("WH-1").unwrap(),
            shop: DocNo::new("tmall-1").unwrap(),
            order_nos: vec![DocNo::new("T1").unwrap(), DocNo::new("T2").unwrap()],
            receiver: DeliveryReceiver {
                name: "张三".into(),
                ..Default::default()
            },
            lines: vec![
                DeliveryLine {
                    sku: Sku::new("SKU-A").unwrap(),
                    quantity: 2,
                    title: "红色杯子".into(),
                },
                DeliveryLine {
                    sku: Sku::new("SKU-B").unwrap(),
                    quantity: 1,
                    title: "蓝色".into(),
                },
            ],
            buyer_memo: None,
            seller_memo: Some("urgent".into()),
            created_at: UtcMillis(1_773_562_500_000), // 2026-03-15T08:15:00Z
        }
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Each mapping and what `Columns::new` says of it (for a sqlite sink).
    #[test]
    fn column_mappings_are_checked() {
        let base = [
            ("delivery_no", "单号"),
            ("sku", "sku"),
            ("quantity", "qty"),
            ("status", "st"),
        ];
        /// Name, `[sink.columns]`, `[sink.constants]`, and `Ok` or a part of the error.
        type Case<'a> = (
            &'a str,
            Vec<(&'a str, &'a str)>,
            Vec<(&'a str, &'a str)>,
            Result<(), &'a str>,
        );
        let cases: &[Case] = &[
            ("valid", base.to_vec(), vec![], Ok(())),
            (
                "unknown field",
                [base.as_slice(), &[("skuu", "x")]].concat(),
                vec![],
                Err("\"skuu\" is not a delivery field"),
            ),
            (
                "required missing",
                base[..3].to_vec(),
                vec![],
                Err("columns.status is required"),
            ),
            (
                "quote in a column",
                [base.as_slice(), &[("title", "a\"b")]].concat(),
                vec![],
                Err("columns.title: \"a\\\"b\" is not a usable name"),
            ),
            (
                "two fields, one column",
                [base.as_slice(), &[("title", "qty")]].concat(),
                vec![],
                Err("column \"qty\" is written twice"),
            ),
            (
                "constant on a mapped column",
                base.to_vec(),
                vec![("qty", "1")],
                Err("constants.qty: column \"qty\" is written twice"),
            ),
            (
                "empty column",
                [base.as_slice(), &[("title", " ")]].concat(),
                vec![],
                Err("columns.title names an empty column"),
            ),
        ];
        for (name, columns, constants, expected) in cases {
            let got = Columns::new(&map(columns), &map(constants), SQLITE_REQUIRED, &[], true);
            match (got, expected) {
                (Ok(_), Ok(())) => {}
                (Err(e), Err(want)) => assert!(e.contains(want), "{name}: {e}"),
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
        let csv = Columns::new(
            &map(&[
                ("delivery_no", "a"),
                ("sku", "b"),
                ("quantity", "c"),
                ("status", "d"),
            ]),
            &BTreeMap::new(),
            CSV_REQUIRED,
            &[Field::Status],
            false,
        );
        assert!(csv.unwrap_err().contains("status is not written"));
    }

    #[test]
    fn rows_repeat_the_order_per_line() {
        let columns = Columns::every_field(&[], &map(&[("creator", "xt")])).unwrap();
        let ctx = RowContext {
            status: "NEW",
            time_format: TimeFormat::Local,
            offset: UtcOffset::CST,
        };
        let o = order();
        let first = row(&o, 0, &columns, &ctx).unwrap();
        let second = row(&o, 1, &columns, &ctx).unwrap();
        let get = |row: &[Value], field: Field| {
            let i = columns
                .mapped
                .iter()
                .position(|(f, _)| *f == field)
                .unwrap();
            row[i].clone()
        };
        let t = |s: &str| Value::Text(s.into());
        assert_eq!(get(&first, Field::DeliveryNo), t("D-1"));
        assert_eq!(get(&second, Field::DeliveryNo), t("D-1"));
        assert_eq!(get(&first, Field::LineNo), Value::Int(1));
        assert_eq!(get(&second, Field::LineNo), Value::Int(2));
        assert_eq!(get(&first, Field::OrderNos), t("T1,T2"));
        assert_eq!(get(&second, Field::Sku), t("SKU-B"));
        assert_eq!(get(&first, Field::Quantity), Value::Int(2));
        assert_eq!(get(&first, Field::BuyerMemo), Value::Null);
        assert_eq!(get(&first, Field::SellerMemo), t("urgent"));
        assert_eq!(get(&first, Field::CreatedAt), t("2026-03-15 16:15:00"));
        assert_eq!(get(&first, Field::Status), t("NEW"));
        assert_eq!(first.last(), Some(&t("xt")), "constants come last");
        assert_eq!(first.len(), Field::ALL.len() + 1);
    }

    #[test]
    fn times_are_written_as_configured() {
        let at = UtcMillis(1_773_562_500_123);
        let cases = [
            (TimeFormat::Local, Value::Text("2026-03-15 16:15:00".into())),
            (
                TimeFormat::Rfc3339,
                Value::Text("2026-03-15T08:15:00.123Z".into()),
            ),
            (TimeFormat::EpochMs, Value::Int(1_773_562_500_123)),
        ];
        for (format, expected) in cases {
            assert_eq!(
                time_value(at, format, UtcOffset::CST),
                Ok(expected),
                "{format:?}"
            );
        }
        assert_eq!(file_time(at).unwrap(), "20260315T081500Z");
        assert!(time_value(UtcMillis(i64::MAX), TimeFormat::Local, UtcOffset::CST).is_err());
    }

    #[test]
    fn orders_that_cannot_be_written_are_named() {
        let mut o = order();
        assert_eq!(order_problem(&o), None);
        o.lines[1].quantity = 0;
        assert!(order_problem(&o).unwrap().contains("quantity 0"));
        o.lines.clear();
        assert!(order_problem(&o).unwrap().contains("no lines"));
    }
}
