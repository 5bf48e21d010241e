//! Tests of the Qimen client and callback check: signature vectors, request bodies against the
//! golden files in `hub/tests/fixtures/qimen/` (rewritten with `XT_WRITE_QIMEN_FIXTURES=1`),
//! confirm fixtures, the answer tables, and calls to a 3PL stand-in on 127.0.0.1.

use super::*;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::routing::post;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use xt_shared::command::{DeliveryLine, DeliveryReceiver};
use xt_shared::ids::Sku;
use xt_shared::model::QuantityLine;

const SECRET: &str = "sandbox-secret";
/// 2026-11-01 16:00:00 in Beijing.
const NOW: UtcMillis = UtcMillis(1_793_520_000_000);

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/qimen")
        .join(name)
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture_path(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// Compares `got` with the golden file `name`, or rewrites it under `XT_WRITE_QIMEN_FIXTURES`.
fn golden(name: &str, got: &[u8]) {
    if std::env::var_os("XT_WRITE_QIMEN_FIXTURES").is_some() {
        std::fs::write(fixture_path(name), got).unwrap();
        return;
    }
    assert_eq!(
        String::from_utf8_lossy(got),
        String::from_utf8_lossy(&fixture(name)),
        "{name} differs (XT_WRITE_QIMEN_FIXTURES=1 rewrites it)"
    );
}

fn config(endpoint: &str) -> QimenConfig {
    QimenConfig {
        endpoint: Url::parse(endpoint).unwrap(),
        app_key: "testapp".into(),
        secret: SECRET.into(),
        customer_id: "CUST01".into(),
        warehouse_code: WarehouseCode::new("QM-SH-01").unwrap(),
    }
}

fn sku(s: &str) -> Sku {
    Sku::new(s).unwrap()
}

fn doc(s: &str) -> DocNo {
    DocNo::new(s).unwrap()
}

fn delivery() -> DeliveryOrder {
    DeliveryOrder {
        delivery_no: doc("DO-20261101-0001"),
        warehouse: WarehouseCode::new("QM-SH-01").unwrap(),
        shop: doc("tm-flagship"),
        order_nos: vec![doc("4012345678901234567")],
        receiver: DeliveryReceiver {
            name: "张三".into(),
            phone: "13800001234".into(),
            province: "上海".into(),
            city: "上海市".into(),
            district: "浦东新区".into(),
            // Markup characters must be escaped; a control character has no place in XML.
            address: "世纪大道 100 号 <A&B>\u{1}座".into(),
            zip: "200120".into(),
        },
        lines: vec![
            DeliveryLine {
                sku: sku("SKU-TEA-01"),
                quantity: 2,
                title: "龙井茶 250g".into(),
            },
            DeliveryLine {
                sku: sku("SKU-CUP-02"),
                quantity: 1,
                title: "玻璃杯 \"经典\" 款".into(),
            },
        ],
        buyer_memo: Some("请尽快发货".into()),
        seller_memo: Some("  ".into()),
        // 2026-11-01 00:30:05 in Beijing (the evening before in UTC).
        created_at: UtcMillis(1_793_464_205_000),
    }
}

// ---- signing ----

/// The expected signature was computed outside this code, by the §5.1 rule with coreutils:
/// `printf '%s' 'sandbox-secretapp_keytestappcustomerIdCUST01formatxmlmethoddeliveryorder.create
/// sign_methodmd5timestamp2026-11-01 16:00:00v2.0<request><a>1</a></request>sandbox-secret'
/// | md5sum | tr a-f A-F` (one line, no newline): the secret, the parameters sorted by name as
/// name+value, the body, the secret again.
#[test]
fn request_signature_matches_a_hand_computed_vector() {
    let body = b"<request><a>1</a></request>".to_vec();
    let request = signed_request(
        &config("https://wms.example/qimen"),
        METHOD_CREATE,
        body,
        NOW,
    );
    let params: sign::Params = request.url.query_pairs().into_owned().collect();
    assert_eq!(params["sign"], "433866EF98479BD16543F6FF93318DE5");
    assert_eq!(params["timestamp"], "2026-11-01 16:00:00");
    let names: Vec<&str> = params.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "app_key",
            "customerId",
            "format",
            "method",
            "sign",
            "sign_method",
            "timestamp",
            "v"
        ]
    );
    assert_eq!(
        (
            params["format"].as_str(),
            params["v"].as_str(),
            params["sign_method"].as_str()
        ),
        ("xml", "2.0", "md5")
    );
    assert_eq!(request.url.path(), "/qimen");
    assert!(sign::verify(
        &params,
        &request.body,
        SECRET,
        &params["sign"].to_lowercase()
    ));
    assert!(!sign::verify(
        &params,
        b"<request/>",
        SECRET,
        &params["sign"]
    ));
    assert!(!sign::verify(&params, &request.body, SECRET, "not hex"));
}

#[test]
fn beijing_time_round_trips_and_refuses_other_shapes() {
    assert_eq!(sign::beijing(NOW), "2026-11-01 16:00:00");
    assert_eq!(sign::parse_beijing("2026-11-01 16:00:00"), Some(NOW));
    // Midnight in Beijing is 16:00 the day before in UTC.
    assert_eq!(
        sign::parse_beijing("2026-11-02 00:00:01"),
        Some(UtcMillis(1_793_548_801_000))
    );
    for bad in [
        "2026-11-01T16:00:00",
        "2026-11-01",
        "2026-13-01 00:00:00",
        "",
    ] {
        assert_eq!(sign::parse_beijing(bad), None, "{bad:?}");
    }
}

#[test]
fn the_secret_is_never_debug_printed() {
    let c = config("https://wms.example/qimen");
    let printed = format!("{c:?}");
    assert!(!printed.contains(SECRET), "{printed}");
    assert!(printed.contains("testapp"));
    let client = QimenClient::new(c, default_call_config()).unwrap();
    assert!(!format!("{client:?}").contains(SECRET));
}

#[test]
fn config_is_validated() {
    type Break = fn(&mut QimenConfig);
    let cases: [(&str, Break); 4] = [
        ("ftp endpoint", |c| {
            c.endpoint = Url::parse("ftp://wms.example/").unwrap()
        }),
        ("endpoint with a query", |c| {
            c.endpoint = Url::parse("https://wms.example/q?x=1").unwrap()
        }),
        ("no secret", |c| c.secret.clear()),
        ("no customer id", |c| c.customer_id = " ".into()),
    ];
    for (name, break_it) in cases {
        let mut c = config("https://wms.example/qimen");
        break_it(&mut c);
        assert!(matches!(c.validate(), Err(QimenError::Fatal(_))), "{name}");
    }
    // The default policy refuses a loopback endpoint: a tenant cannot aim the hub at itself.
    let err = QimenClient::new(config("http://127.0.0.1:9/q"), default_call_config()).unwrap_err();
    assert!(matches!(err, QimenError::Fatal(_)), "{err:?}");
}

// ---- request bodies ----

#[test]
fn create_body_matches_the_golden_file() {
    golden(
        "create_request.xml",
        &create_body(&delivery(), "CUST01", NOW),
    );
}

#[test]
fn create_body_names_no_platform_order_for_a_merged_delivery() {
    let mut merged = delivery();
    merged.order_nos.push(doc("4012345678901234999"));
    let body = String::from_utf8(create_body(&merged, "CUST01", NOW)).unwrap();
    assert!(!body.contains("sourceOrderCode"), "{body}");
}

#[test]
fn cancel_body_matches_the_golden_file() {
    golden(
        "cancel_request.xml",
        &cancel_body("QM-SH-01", "CUST01", "DO-20261101-0001", "买家申请退款"),
    );
}

// ---- answers ----

fn response(success: bool, code: &str) -> Response {
    Response {
        success,
        code: code.into(),
        message: "m".into(),
        delivery_order_id: None,
    }
}

#[test]
fn create_answers_decide_created_exists_or_refused() {
    let cases: Vec<(&str, Response, Result<QimenAnswer, QimenError>)> = vec![
        (
            "success with the 3pl's id",
            Response {
                delivery_order_id: Some("WMS-1".into()),
                ..response(true, "0")
            },
            Ok(QimenAnswer::Created {
                warehouse_order_id: Some("WMS-1".into()),
            }),
        ),
        (
            "success again on a resend",
            response(true, ""),
            Ok(QimenAnswer::Created {
                warehouse_order_id: None,
            }),
        ),
        (
            "exists already",
            response(false, "DELIVERYORDER_EXISTS"),
            Ok(QimenAnswer::AlreadyExists {
                code: "DELIVERYORDER_EXISTS".into(),
                message: "m".into(),
            }),
        ),
        (
            "exists already in lower case",
            response(false, "order_exists"),
            Ok(QimenAnswer::AlreadyExists {
                code: "order_exists".into(),
                message: "m".into(),
            }),
        ),
        (
            "a refusal with a code",
            response(false, "ITEM_NOT_FOUND"),
            Err(QimenError::Refused {
                method: METHOD_CREATE,
                code: "ITEM_NOT_FOUND".into(),
                message: "m".into(),
            }),
        ),
        (
            "busy",
            response(false, "SYSTEM_BUSY"),
            Err(QimenError::Transient(
                "deliveryorder.create: SYSTEM_BUSY: m".into(),
            )),
        ),
    ];
    for (name, r, want) in cases {
        assert_eq!(create_outcome(&r), want, "{name}");
    }
}

#[test]
fn cancel_answers_decide_cancelled_shipped_unknown_or_refused() {
    let cases: Vec<(&str, Response, Result<CancelAnswer, QimenError>)> = vec![
        ("success", response(true, "0"), Ok(CancelAnswer::Cancelled)),
        (
            "already shipped",
            response(false, "ORDER_SHIPPED"),
            Ok(CancelAnswer::AlreadyShipped {
                code: "ORDER_SHIPPED".into(),
                message: "m".into(),
            }),
        ),
        (
            "unknown to the 3pl",
            response(false, "ORDER_NOT_EXISTS"),
            Ok(CancelAnswer::NotFound {
                code: "ORDER_NOT_EXISTS".into(),
                message: "m".into(),
            }),
        ),
        (
            "another refusal",
            response(false, "CANCEL_LOCKED"),
            Err(QimenError::Refused {
                method: METHOD_CANCEL,
                code: "CANCEL_LOCKED".into(),
                message: "m".into(),
            }),
        ),
    ];
    for (name, r, want) in cases {
        assert_eq!(cancel_outcome(&r), want, "{name}");
    }
}

#[test]
fn http_answers_are_classified_retryable_or_permanent() {
    let ok = "<response><flag>success</flag><code>0</code><message>ok</message></response>";
    let failure_page =
        "<response><flag>failure</flag><code>E1</code><message>no</message></response>";
    let cases: Vec<(&str, u16, &str, Option<bool>)> = vec![
        // (name, status, body, None = a response / Some(retryable))
        ("200 success", 200, ok, None),
        ("200 failure is an answer", 200, failure_page, None),
        ("200 not xml", 200, "<html>proxy", Some(true)),
        (
            "200 without a flag",
            200,
            "<response><code>0</code></response>",
            Some(true),
        ),
        (
            "200 odd flag",
            200,
            "<response><flag>maybe</flag></response>",
            Some(true),
        ),
        ("500", 500, "oops", Some(true)),
        ("503 with a response", 503, failure_page, Some(true)),
        ("429", 429, "", Some(true)),
        ("408", 408, "", Some(true)),
        ("400", 400, failure_page, Some(false)),
        ("401", 401, "", Some(false)),
        ("404", 404, "<html>", Some(false)),
    ];
    for (name, status, body, want) in cases {
        let got = interpret(StatusCode::from_u16(status).unwrap(), body.as_bytes());
        match (want, got) {
            (None, Ok(_)) => {}
            (Some(retryable), Err(e)) => assert_eq!(e.is_retryable(), retryable, "{name}: {e}"),
            (want, got) => panic!("{name}: want {want:?}, got {got:?}"),
        }
    }
    // An error page's own fields are named, never its body.
    let err = interpret(StatusCode::BAD_REQUEST, failure_page.as_bytes()).unwrap_err();
    assert_eq!(err, QimenError::Fatal("http 400: E1: no".into()));
    let err = interpret(StatusCode::BAD_GATEWAY, b"<html>secret=abc</html>").unwrap_err();
    assert_eq!(err, QimenError::Transient("http 502".into()));
}

#[test]
fn replies_are_qimen_responses() {
    let ok = success_reply();
    assert_eq!(
        ok,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><response><flag>success</flag><code>0</code><message>ok</message></response>"
    );
    let r = parse_response(ok.as_bytes()).unwrap();
    assert!(r.success);
    let no = failure_reply("sign-check-failure", "bad <sign> & co");
    let r = parse_response(no.as_bytes()).unwrap();
    assert_eq!(
        (r.success, r.code.as_str(), r.message.as_str()),
        (false, "sign-check-failure", "bad <sign> & co")
    );
}

// ---- confirms ----

/// The query a 3PL sends with `body`, signed with `secret`.
fn confirm_query(body: &[u8], secret: &str) -> String {
    let params = sign::signed_params(
        "deliveryorder.confirm",
        "testapp",
        "CUST01",
        secret,
        body,
        NOW,
    );
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&params)
        .finish()
}

fn confirm(name: &str) -> QimenConfirm {
    let body = fixture(name);
    verify_confirm(&confirm_query(&body, SECRET), &body, SECRET)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn q(sku_code: &str, quantity: i64) -> QuantityLine {
    QuantityLine {
        sku: sku(sku_code),
        quantity,
    }
}

#[test]
fn a_single_package_final_confirm_is_read_whole() {
    let c = confirm("confirm_single_final.xml");
    assert_eq!(
        c,
        QimenConfirm {
            delivery_no: doc("DO-20261101-0001"),
            warehouse_order_id: Some("WMS-778812".into()),
            out_biz_code: "OBC-0001".into(),
            confirm_type: ConfirmType::Final,
            warehouse_code: WarehouseCode::new("QM-SH-01").unwrap(),
            status: Some("DELIVERED".into()),
            // 2026-11-02 09:15:00 in Beijing is 01:15:00 UTC.
            order_confirm_time: UtcMillis(1_793_582_100_000),
            packages: vec![Package {
                logistics_code: "SF".into(),
                express_code: "SF1234567890123".into(),
                items: vec![q("SKU-TEA-01", 2), q("SKU-CUP-02", 1)],
            }],
            lines: vec![
                ConfirmLine {
                    line_no: Some("1".into()),
                    sku: sku("SKU-TEA-01"),
                    planned: Some(2),
                    actual: 2,
                },
                ConfirmLine {
                    line_no: Some("2".into()),
                    sku: sku("SKU-CUP-02"),
                    planned: Some(1),
                    actual: 1,
                },
            ],
        }
    );
    assert_eq!(c.shipped(), [q("SKU-TEA-01", 2), q("SKU-CUP-02", 1)]);
    assert!(is_known_carrier(&c.packages[0].logistics_code));
}

#[test]
fn a_multi_package_confirm_keeps_each_parcel() {
    let c = confirm("confirm_multi_package.xml");
    assert_eq!(c.confirm_type, ConfirmType::Final);
    let parcels: Vec<(&str, &str, usize)> = c
        .packages
        .iter()
        .map(|p| {
            (
                p.logistics_code.as_str(),
                p.express_code.as_str(),
                p.items.len(),
            )
        })
        .collect();
    assert_eq!(
        parcels,
        [("ZTO", "75300000000001", 1), ("ZTO", "75300000000002", 2)]
    );
    // No order lines: what shipped is summed from the parcels.
    assert!(c.lines.is_empty());
    assert_eq!(c.shipped(), [q("SKU-TEA-01", 3), q("SKU-CUP-02", 4)]);
}

#[test]
fn a_partial_then_a_final_confirm_each_carry_their_batch_and_key() {
    let first = confirm("confirm_partial_1.xml");
    let last = confirm("confirm_partial_2_final.xml");
    assert_eq!(first.delivery_no, last.delivery_no);
    assert_eq!(
        (first.confirm_type, first.out_biz_code.as_str()),
        (ConfirmType::Partial, "OBC-0003-1")
    );
    assert_eq!(
        (last.confirm_type, last.out_biz_code.as_str()),
        (ConfirmType::Final, "OBC-0003-2")
    );
    assert_eq!(first.status.as_deref(), Some("PARTDELIVERED"));
    // 23:59:59 and 00:00:01 the next day in Beijing: two seconds apart, one UTC day.
    assert_eq!(first.order_confirm_time, UtcMillis(1_793_548_799_000));
    assert_eq!(last.order_confirm_time, UtcMillis(1_793_548_801_000));
    assert_eq!(first.shipped(), [q("SKU-TEA-01", 1), q("SKU-CUP-02", 0)]);
    assert_eq!(last.shipped(), [q("SKU-TEA-01", 1), q("SKU-CUP-02", 1)]);
}

#[test]
fn a_final_confirm_without_out_biz_code_is_keyed_by_its_delivery() {
    let body = String::from_utf8(fixture("confirm_multi_package.xml"))
        .unwrap()
        .replace("<outBizCode>OBC-0002</outBizCode>", "");
    let c = verify_confirm(
        &confirm_query(body.as_bytes(), SECRET),
        body.as_bytes(),
        SECRET,
    )
    .unwrap();
    assert_eq!(c.out_biz_code, "DO-20261101-0002#final");
}

#[test]
fn a_bad_signature_is_refused_before_the_body_is_read() {
    let body = fixture("confirm_single_final.xml");
    let query = confirm_query(&body, SECRET);
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let other_secret = confirm_query(&body, "not-the-secret");
    let no_sign: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(url::form_urlencoded::parse(query.as_bytes()).filter(|(k, _)| k != "sign"))
        .finish();
    let repeated = format!("{query}&customerId=OTHER");
    let wrong_method = {
        let params = sign::signed_params("order.cancel", "testapp", "CUST01", SECRET, &body, NOW);
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&params)
            .finish()
    };
    let cases: Vec<(&str, &str, &[u8], &str, ConfirmError)> = vec![
        (
            "body changed",
            &query,
            &tampered,
            SECRET,
            ConfirmError::BadSignature,
        ),
        (
            "signed with another secret",
            &other_secret,
            &body,
            SECRET,
            ConfirmError::BadSignature,
        ),
        (
            "our secret empty",
            &query,
            &body,
            "",
            ConfirmError::BadSignature,
        ),
        (
            "no sign",
            &no_sign,
            &body,
            SECRET,
            ConfirmError::MissingSignature,
        ),
        (
            "a repeated parameter",
            &repeated,
            &body,
            SECRET,
            ConfirmError::RepeatedParameter("customerId".into()),
        ),
        (
            "another method",
            &wrong_method,
            &body,
            SECRET,
            ConfirmError::WrongMethod("order.cancel".into()),
        ),
    ];
    for (name, query, body, secret, want) in cases {
        assert_eq!(verify_confirm(query, body, secret), Err(want), "{name}");
    }
    let huge = vec![b' '; CONFIRM_BYTES_MAX + 1];
    assert_eq!(
        verify_confirm(&query, &huge, SECRET),
        Err(ConfirmError::TooLarge(CONFIRM_BYTES_MAX + 1))
    );
    assert_eq!(ConfirmError::BadSignature.code(), "sign-check-failure");
}

#[test]
fn malformed_confirms_are_refused_with_their_reason() {
    let good = String::from_utf8(fixture("confirm_single_final.xml")).unwrap();
    let edit = |from: &str, to: &str| {
        assert!(good.contains(from), "{from}");
        good.replacen(from, to, 1)
    };
    let invalid = |field: &str, reason: &str| ConfirmError::Invalid {
        field: field.into(),
        reason: reason.into(),
    };
    let missing = |field: &str| ConfirmError::Missing(field.into());
    let cases: Vec<(&str, String, ConfirmError)> = vec![
        (
            "no delivery order code",
            edit(
                "<deliveryOrderCode>DO-20261101-0001</deliveryOrderCode>",
                "",
            ),
            missing("deliveryOrder.deliveryOrderCode"),
        ),
        (
            "blank warehouse code",
            edit(
                "<warehouseCode>QM-SH-01</warehouseCode>",
                "<warehouseCode> </warehouseCode>",
            ),
            missing("deliveryOrder.warehouseCode"),
        ),
        (
            "confirm type 2",
            edit(
                "<confirmType>0</confirmType>",
                "<confirmType>2</confirmType>",
            ),
            invalid("deliveryOrder.confirmType", "\"2\" is not 0 or 1"),
        ),
        (
            "partial without outBizCode",
            edit("<outBizCode>OBC-0001</outBizCode>", "").replace(
                "<confirmType>0</confirmType>",
                "<confirmType>1</confirmType>",
            ),
            missing("deliveryOrder.outBizCode"),
        ),
        (
            "a time in another shape",
            edit("2026-11-02 09:15:00", "2026-11-02T09:15:00+08:00"),
            invalid(
                "deliveryOrder.orderConfirmTime",
                "\"2026-11-02T09:15:00+08:00\" is not a yyyy-MM-dd HH:mm:ss time",
            ),
        ),
        (
            "no tracking number",
            edit("<expressCode>SF1234567890123</expressCode>", ""),
            missing("packages.package[0].expressCode"),
        ),
        (
            "a negative quantity",
            edit("<quantity>2</quantity>", "<quantity>-2</quantity>"),
            invalid(
                "packages.package[0].items.item[0].quantity",
                "\"-2\" is not a whole number of at least 0",
            ),
        ),
        (
            "a fractional actual quantity",
            edit("<actualQty>1</actualQty>", "<actualQty>1.5</actualQty>"),
            invalid(
                "orderLines.orderLine[1].actualQty",
                "\"1.5\" is not a whole number of at least 0",
            ),
        ),
        (
            "no packages",
            {
                let start = good.find("<packages>").unwrap();
                let end = good.find("</packages>").unwrap() + "</packages>".len();
                format!("{}{}", &good[..start], &good[end..])
            },
            missing("packages.package"),
        ),
        (
            "no delivery order",
            "<request><packages/></request>".into(),
            missing("deliveryOrder"),
        ),
    ];
    for (name, body, want) in cases {
        let got = verify_confirm(
            &confirm_query(body.as_bytes(), SECRET),
            body.as_bytes(),
            SECRET,
        );
        assert_eq!(got, Err(want), "{name}");
    }
    // Broken XML: the reason is the parser's; the kind and code are ours.
    for (name, body) in [
        ("cut short", &good[..good.len() / 2]),
        ("mismatched tags", "<request><deliveryOrder></request>"),
        ("not xml", "deliveryOrderCode=1"),
        (
            "an undeclared entity",
            "<request><deliveryOrder><status>&boom;</status></deliveryOrder></request>",
        ),
    ] {
        let got = verify_confirm(
            &confirm_query(body.as_bytes(), SECRET),
            body.as_bytes(),
            SECRET,
        );
        match got {
            Err(e @ ConfirmError::MalformedXml(_)) => assert_eq!(e.code(), "invalid-xml", "{name}"),
            other => panic!("{name}: {other:?}"),
        }
    }
    let not_utf8 = b"<request>\xff</request>";
    assert!(matches!(
        verify_confirm(&confirm_query(not_utf8, SECRET), not_utf8, SECRET),
        Err(ConfirmError::MalformedXml(_))
    ));
}

// ---- over loopback ----

/// What the stand-in received, and the answers it gives in turn (the last one repeats).
#[derive(Default)]
struct StandIn {
    received: Mutex<Vec<(String, Vec<u8>)>>,
    answers: Mutex<Vec<(u16, &'static str)>>,
}

async fn answer(
    State(s): State<Arc<StandIn>>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> (axum::http::StatusCode, String) {
    s.received
        .lock()
        .unwrap()
        .push((query.unwrap_or_default(), body.to_vec()));
    let mut answers = s.answers.lock().unwrap();
    let (status, text) = if answers.len() > 1 {
        answers.remove(0)
    } else {
        answers[0]
    };
    (
        axum::http::StatusCode::from_u16(status).unwrap(),
        text.to_owned(),
    )
}

async fn stand_in(answers: Vec<(u16, &'static str)>) -> (Arc<StandIn>, QimenClient) {
    let s = Arc::new(StandIn {
        answers: Mutex::new(answers),
        ..StandIn::default()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/qimen", post(answer))
        .with_state(s.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = QimenClient::new(
        config(&format!("http://{addr}/qimen")),
        ChannelConfig::for_tests(),
    )
    .unwrap();
    (s, client)
}

const EXISTS: &str = "<response><flag>failure</flag><code>DELIVERYORDER_EXISTS</code><message>单据已存在</message></response>";

#[tokio::test]
async fn create_retries_a_5xx_and_takes_exists_as_success_over_loopback() {
    let (s, client) = stand_in(vec![(503, "busy"), (200, EXISTS)]).await;
    let answer = client.create_delivery(&delivery()).await.unwrap();
    assert_eq!(
        answer,
        QimenAnswer::AlreadyExists {
            code: "DELIVERYORDER_EXISTS".into(),
            message: "单据已存在".into()
        }
    );
    let received = s.received.lock().unwrap();
    assert_eq!(received.len(), 2, "one retry after the 503");
    for (query, body) in received.iter() {
        let params: sign::Params = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(params["method"], METHOD_CREATE);
        assert!(
            sign::verify(&params, body, SECRET, &params["sign"]),
            "signed"
        );
        let text = String::from_utf8(body.clone()).unwrap();
        assert!(text.contains("<deliveryOrderCode>DO-20261101-0001</deliveryOrderCode>"));
    }
}

#[tokio::test]
async fn a_refusal_is_not_retried_and_cancel_maps_shipped_over_loopback() {
    let (s, client) = stand_in(vec![(
        200,
        "<response><flag>failure</flag><code>ITEM_NOT_FOUND</code><message>no such item</message></response>",
    )])
    .await;
    let err = client.create_delivery(&delivery()).await.unwrap_err();
    assert!(!err.is_retryable());
    assert_eq!(s.received.lock().unwrap().len(), 1);

    let (_, client) = stand_in(vec![(
        200,
        "<response><flag>failure</flag><code>ORDER_SHIPPED</code><message>已发货</message></response>",
    )])
    .await;
    let answer = client
        .cancel(&doc("DO-20261101-0001"), "refund")
        .await
        .unwrap();
    assert!(
        matches!(answer, CancelAnswer::AlreadyShipped { .. }),
        "{answer:?}"
    );
}

#[tokio::test]
async fn retries_stop_at_the_cap_and_say_why() {
    let (s, client) = stand_in(vec![(500, "down")]).await;
    let err = client.cancel(&doc("DO-1"), "").await.unwrap_err();
    assert_eq!(err, QimenError::Transient("http 500".into()));
    let attempts = s.received.lock().unwrap().len() as u32;
    assert_eq!(attempts, ChannelConfig::for_tests().max_retries + 1);
}
