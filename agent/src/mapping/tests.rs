use super::*;

/// 2024-11-26 10:05:07 in +08:00, as UTC milliseconds.
const T: i64 = 1_732_586_707_000;

fn cny(minor: i64) -> Money {
    Money::new(minor, Currency::CNY)
}

fn wh(s: &str) -> WarehouseCode {
    WarehouseCode::new(s).unwrap()
}

fn sku(s: &str) -> Sku {
    Sku::new(s).unwrap()
}

fn doc(s: &str) -> DocNo {
    DocNo::new(s).unwrap()
}

/// A mapping where every field of `entity` but `version` reads the column of the same name.
fn identity(entity: EntityKind) -> Mapping {
    let columns = fields(entity)
        .unwrap()
        .iter()
        .filter(|s| s.name != "version")
        .map(|s| (s.name.to_owned(), s.name.to_owned()))
        .collect();
    Mapping::new(entity, &columns, &BTreeMap::new(), UtcOffset::CST).unwrap()
}

/// Maps `row` (column, value pairs; columns absent from it are missing) with the identity
/// mapping and compares with `expected`: `Ok((version, body))` or `Err(error message)`.
fn check(entity: EntityKind, row: &[(&str, &str)], expected: Result<(Option<i64>, Body), &str>) {
    check_with(&identity(entity), row, expected);
}

fn check_with(
    mapping: &Mapping,
    row: &[(&str, &str)],
    expected: Result<(Option<i64>, Body), &str>,
) {
    let get = |column: &str| row.iter().find(|(c, _)| *c == column).map(|(_, v)| *v);
    let got = mapping.map(&get).map_err(|e| e.to_string());
    assert_eq!(
        got,
        expected.map_err(str::to_owned),
        "row {row:?} as {:?}",
        mapping.entity()
    );
}

/// Replaces (or with `None`, removes) one column of a row.
fn with<'a>(
    row: &[(&'a str, &'a str)],
    column: &'a str,
    value: Option<&'a str>,
) -> Vec<(&'a str, &'a str)> {
    let mut out: Vec<_> = row.iter().copied().filter(|(c, _)| *c != column).collect();
    out.extend(value.map(|v| (column, v)));
    out
}

const STOCK_ROW: &[(&str, &str)] = &[
    ("warehouse", "WH-SH"),
    ("sku", "红色T恤-L"),
    ("on_hand", "12"),
];

fn stock(on_hand: i64) -> Body {
    Body::Stock(StockLevel {
        warehouse: wh("WH-SH"),
        sku: sku("红色T恤-L"),
        on_hand,
    })
}

#[test]
fn stock_rows() {
    use EntityKind::Stock;
    check(Stock, STOCK_ROW, Ok((None, stock(12))));
    check(
        Stock,
        &with(STOCK_ROW, "on_hand", Some(" -3 ")),
        Ok((None, stock(-3))),
    );
    check(
        Stock,
        &with(STOCK_ROW, "on_hand", Some("+7")),
        Ok((None, stock(7))),
    );
    check(
        Stock,
        &with(STOCK_ROW, "on_hand", Some("12.000")),
        Ok((None, stock(12))),
    );
    check(
        Stock,
        &with(STOCK_ROW, "on_hand", Some("12.5")),
        Err(r#"on_hand (column "on_hand"): "12.5" is not an integer"#),
    );
    check(
        Stock,
        &with(STOCK_ROW, "on_hand", Some("1e3")),
        Err(r#"on_hand (column "on_hand"): "1e3" is not an integer"#),
    );
    check(
        Stock,
        &with(STOCK_ROW, "on_hand", Some("99999999999999999999")),
        Err(r#"on_hand (column "on_hand"): "99999999999999999999" is not an integer"#),
    );
    check(
        Stock,
        &with(STOCK_ROW, "on_hand", None),
        Err(r#"on_hand (column "on_hand"): no such column in the row"#),
    );
    check(
        Stock,
        &with(STOCK_ROW, "sku", Some("  ")),
        Err(r#"sku (column "sku") is empty"#),
    );
    check(
        Stock,
        &with(STOCK_ROW, "sku", Some(&*"x".repeat(65))),
        Err(&format!(
            r#"sku (column "sku"): sku "{}" is longer than 64 bytes"#,
            "x".repeat(65)
        )),
    );
    check(
        Stock,
        &with(STOCK_ROW, "warehouse", Some("WH\u{7}")),
        Err(
            r#"warehouse (column "warehouse"): warehouse code "WH\u{7}" contains a control character or surrounding whitespace"#,
        ),
    );
}

#[test]
fn versions() {
    let columns: BTreeMap<String, String> = ["warehouse", "sku", "on_hand", "version"]
        .into_iter()
        .map(|f| (f.to_owned(), f.to_owned()))
        .collect();
    let m = Mapping::new(
        EntityKind::Stock,
        &columns,
        &BTreeMap::new(),
        UtcOffset::CST,
    )
    .unwrap();
    let check = |_: EntityKind, row: &[(&str, &str)], expected| check_with(&m, row, expected);
    use EntityKind::Stock;
    let row = |v: &'static str| {
        let mut r = STOCK_ROW.to_vec();
        r.push(("version", v));
        r
    };
    check(Stock, &row("42"), Ok((Some(42), stock(12))));
    check(Stock, &row(""), Ok((None, stock(12))));
    check(Stock, &row("2024-11-26 10:05:07"), Ok((Some(T), stock(12))));
    check(
        Stock,
        &row("2024-11-26T02:05:07Z"),
        Ok((Some(T), stock(12))),
    );
    check(Stock, &row("1732586707000"), Ok((Some(T), stock(12))));
    check(
        Stock,
        &row("yesterday"),
        Err(
            r#"version (column "version"): "yesterday" is not a timestamp (expected YYYY-MM-DD HH:MM:SS, rfc 3339 or epoch seconds/milliseconds)"#,
        ),
    );
}

#[test]
fn stock_movement_rows() {
    use EntityKind::StockMovement as M;
    let row: &[(&str, &str)] = &[
        ("movement_no", "MV-1"),
        ("warehouse", "WH-SH"),
        ("sku", "SKU1"),
        ("delta", "-5"),
        ("kind", "出库"),
        ("occurred_at", "2024/11/26 10:05:07"),
    ];
    let body = |kind| {
        Body::StockMovement(StockMovement {
            movement_no: doc("MV-1"),
            warehouse: wh("WH-SH"),
            sku: sku("SKU1"),
            delta: -5,
            kind,
            occurred_at: UtcMillis(T),
        })
    };
    check(M, row, Ok((None, body(MovementKind::Shipment))));
    for (text, kind) in [
        ("receipt", MovementKind::Receipt),
        ("Receipt", MovementKind::Receipt),
        ("入库", MovementKind::Receipt),
        ("return", MovementKind::Return),
        ("退货", MovementKind::Return),
        ("调整", MovementKind::Adjustment),
        ("adjustment", MovementKind::Adjustment),
        ("调拨", MovementKind::Transfer),
        ("transfer", MovementKind::Transfer),
        ("other", MovementKind::Other),
    ] {
        check(M, &with(row, "kind", Some(text)), Ok((None, body(kind))));
    }
    check(
        M,
        &with(row, "kind", Some("盘点")),
        Err(
            r#"kind (column "kind"): "盘点" is not one of receipt, shipment, return, adjustment, transfer, other, 入库, 出库, 退货, 调整, 调拨, 其他"#,
        ),
    );
    check(
        M,
        &with(row, "occurred_at", Some("2024-11-31 10:00:00")),
        Err(
            r#"occurred_at (column "occurred_at"): "2024-11-31 10:00:00" is not a timestamp (expected YYYY-MM-DD HH:MM:SS, rfc 3339 or epoch seconds/milliseconds)"#,
        ),
    );
    check(
        M,
        &with(row, "movement_no", Some("")),
        Err(r#"movement_no (column "movement_no") is empty"#),
    );
}

#[test]
fn shipment_rows() {
    use EntityKind::Shipment as S;
    let row: &[(&str, &str)] = &[
        ("delivery_no", "DO-9"),
        ("warehouse", "WH-SH"),
        ("order_no", "TB123"),
        ("carrier", "顺丰"),
        ("tracking_no", "SF100"),
        ("shipped_at", "1732586707"),
        ("sku", "SKU1"),
        ("quantity", "2"),
    ];
    let body = |order_no: Option<DocNo>| {
        Body::Shipment(ShipmentConfirmation {
            delivery_no: doc("DO-9"),
            warehouse: wh("WH-SH"),
            order_no,
            carrier: "顺丰".into(),
            tracking_no: "SF100".into(),
            shipped_at: UtcMillis(T),
            lines: vec![QuantityLine {
                sku: sku("SKU1"),
                quantity: 2,
            }],
        })
    };
    check(S, row, Ok((None, body(Some(doc("TB123"))))));
    check(S, &with(row, "order_no", Some("")), Ok((None, body(None))));
    check(
        S,
        &with(row, "order_no", None),
        Err(r#"order_no (column "order_no"): no such column in the row"#),
    );
    check(
        S,
        &with(row, "tracking_no", Some(&*"9".repeat(129))),
        Err(r#"tracking_no (column "tracking_no"): 129 characters is longer than 128"#),
    );
    check(
        S,
        &with(row, "quantity", Some("two")),
        Err(r#"quantity (column "quantity"): "two" is not an integer"#),
    );
}

#[test]
fn pos_sale_rows() {
    use EntityKind::PosSale as P;
    let row: &[(&str, &str)] = &[
        ("store", "S01"),
        ("sale_no", "R-1"),
        ("total", "39.80"),
        ("currency", ""),
        ("sold_at", "2024-11-26 10:05:07"),
        ("sku", "SKU1"),
        ("quantity", "2"),
        ("unit_price", "19.9"),
    ];
    let body = |total: Money, unit_price: Money| {
        Body::PosSale(PosSale {
            store: wh("S01"),
            sale_no: doc("R-1"),
            total,
            sold_at: UtcMillis(T),
            lines: vec![SaleLine {
                sku: sku("SKU1"),
                quantity: 2,
                unit_price,
            }],
        })
    };
    check(P, row, Ok((None, body(cny(3980), cny(1990)))));
    let usd = |minor| Money::new(minor, Currency::USD);
    check(
        P,
        &with(row, "currency", Some("usd")),
        Ok((None, body(usd(3980), usd(1990)))),
    );
    check(
        P,
        &with(row, "total", Some("12.345")),
        Err(r#"total (column "total"): amount "12.345" has more than 2 decimal places"#),
    );
    check(
        P,
        &with(row, "unit_price", Some("¥19.9")),
        Err(r#"unit_price (column "unit_price"): amount "¥19.9" is not a decimal number"#),
    );
    check(
        P,
        &with(row, "currency", Some("RMB1")),
        Err(r#"currency (column "currency"): currency "RMB1" is not a three-letter ISO 4217 code"#),
    );
    check(
        P,
        &with(row, "total", Some("99999999999999999999")),
        Err(r#"total (column "total"): amount "99999999999999999999" is out of range"#),
    );
}

#[test]
fn payment_flow_rows() {
    use EntityKind::PaymentFlow as F;
    let row: &[(&str, &str)] = &[
        ("account", "alipay-2088"),
        ("flow_no", "F1"),
        ("direction", "收入"),
        ("amount", "100"),
        ("fee", "0.60"),
        ("currency", "CNY"),
        ("order_ref", ""),
        ("occurred_at", "2024-11-26T10:05:07+08:00"),
    ];
    let body = |direction, fee: Money, order_ref: Option<DocNo>| {
        Body::PaymentFlow(PaymentFlow {
            account: doc("alipay-2088"),
            flow_no: doc("F1"),
            direction,
            amount: cny(10000),
            fee,
            order_ref,
            occurred_at: UtcMillis(T),
        })
    };
    check(F, row, Ok((None, body(FlowDirection::In, cny(60), None))));
    check(
        F,
        &with(row, "direction", Some("OUT")),
        Ok((None, body(FlowDirection::Out, cny(60), None))),
    );
    check(
        F,
        &with(row, "fee", Some("")),
        Ok((None, body(FlowDirection::In, cny(0), None))),
    );
    check(
        F,
        &with(row, "order_ref", Some("TB1")),
        Ok((None, body(FlowDirection::In, cny(60), Some(doc("TB1"))))),
    );
    check(
        F,
        &with(row, "direction", Some("refund")),
        Err(r#"direction (column "direction"): "refund" is not one of in, out, 收入, 支出"#),
    );
    check(
        F,
        &with(row, "amount", Some("-1.00")),
        Err(r#"amount (column "amount"): "-1.00" must not be negative"#),
    );
}

#[test]
fn renamed_columns_and_constants() {
    let columns = [("sku", "item_code"), ("on_hand", "qty")]
        .into_iter()
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect();
    let constants = [("warehouse".to_owned(), "WH-SH".to_owned())].into();
    let m = Mapping::new(EntityKind::Stock, &columns, &constants, UtcOffset::CST).unwrap();
    assert_eq!(m.columns().collect::<Vec<_>>(), ["qty", "item_code"]);
    check_with(
        &m,
        &[("item_code", "红色T恤-L"), ("qty", "12")],
        Ok((None, stock(12))),
    );
    check_with(
        &m,
        &[("item_code", "红色T恤-L"), ("qty", "")],
        Err(r#"on_hand (column "qty") is empty"#),
    );
}

#[test]
fn bad_mappings() {
    let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    };
    let err = |entity, columns: &[(&str, &str)], constants: &[(&str, &str)]| {
        Mapping::new(entity, &map(columns), &map(constants), UtcOffset::CST)
            .unwrap_err()
            .to_string()
    };
    let full = [("warehouse", "w"), ("sku", "s"), ("on_hand", "q")];
    assert_eq!(
        err(EntityKind::Stock, &full[..2], &[]),
        "on_hand is required for stock: map it in [source.columns] or set it in [source.constants]"
    );
    assert_eq!(
        err(EntityKind::Stock, &[("qty", "q"), ("warehouse", "w")], &[]),
        r#""qty" is not a field of stock (fields: warehouse, sku, on_hand, version)"#
    );
    assert_eq!(
        err(EntityKind::Stock, &full, &[("warehouse", "WH")]),
        "warehouse is set in both [source.columns] and [source.constants]"
    );
    assert_eq!(
        err(
            EntityKind::Stock,
            &[("warehouse", " "), ("sku", "s"), ("on_hand", "q")],
            &[]
        ),
        "columns.warehouse names an empty column"
    );
    assert_eq!(
        err(EntityKind::Stock, &full[1..], &[("warehouse", "")]),
        "constants.warehouse: warehouse (constant) is empty"
    );
    let pos_columns: Vec<(&str, &str)> = fields(EntityKind::PosSale)
        .unwrap()
        .iter()
        .filter(|s| s.required)
        .map(|s| (s.name, s.name))
        .collect();
    assert_eq!(
        err(EntityKind::PosSale, &pos_columns, &[("currency", "yuan")]),
        r#"constants.currency: currency (constant): currency "YUAN" is not a three-letter ISO 4217 code"#
    );
    assert_eq!(
        err(EntityKind::Order, &[], &[]),
        "entity order cannot be read by agent sources"
    );
}

#[test]
fn decoding() {
    let gbk = b"\xba\xec\xc9\xab"; // 红色
    assert_eq!(TextEncoding::Gbk.decode(gbk, "sku").unwrap(), "红色");
    assert_eq!(TextEncoding::Gb18030.decode(gbk, "sku").unwrap(), "红色");
    assert_eq!(
        TextEncoding::Gbk
            .decode(b"\xba", "sku")
            .unwrap_err()
            .to_string(),
        r#"invalid gbk bytes in column "sku""#
    );
    assert_eq!(
        TextEncoding::Utf8
            .decode(gbk, "name")
            .unwrap_err()
            .to_string(),
        r#"invalid utf-8 bytes in column "name""#
    );
    assert_eq!(TextEncoding::Gbk.decode_lossy(b"A\xba"), "A\u{fffd}");
    assert_eq!(
        RowError::FieldCount {
            expected: 3,
            found: 4
        }
        .to_string(),
        "expected 3 fields, found 4"
    );
}
