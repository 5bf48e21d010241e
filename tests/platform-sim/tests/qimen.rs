//! The simulated 3PL over real HTTP on 127.0.0.1, driven by the hub's own Qimen client, with
//! its confirms checked by the hub's own `verify_confirm` in a callback receiver.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::routing::post;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use url::Url;
use xt_hub::fulfilment::qimen::{
    CancelAnswer, ConfirmType, QimenAnswer, QimenClient, QimenConfig, QimenConfirm, QimenError,
    failure_reply, success_reply, verify_confirm,
};
use xt_hub::shops::channels::ChannelConfig;
use xt_platform_sim::qimen::{CODE_SHIPPED, DuplicateAnswer};
use xt_platform_sim::{
    ShipItem, ShipPackage, ShipRequest, SimConfig, SimHandle, ThreePlLog, ThreePlSpec,
};
use xt_shared::command::{DeliveryLine, DeliveryOrder, DeliveryReceiver};
use xt_shared::ids::{DocNo, Sku, WarehouseCode};
use xt_shared::model::UtcMillis;

const WH: &str = "QM-SH-01";

async fn sim() -> SimHandle {
    let config = SimConfig {
        seed: 1,
        history: Duration::from_secs(60),
        shops: Vec::new(),
    };
    xt_platform_sim::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// The hub's side of the callback: verifies each confirm, refuses the first `refuse` ones
/// (as a hub that failed to commit would), and hands the accepted ones to the test.
struct Receiver {
    secret: String,
    refuse: Mutex<u32>,
    /// Every delivery: the outBizCode when it verified, or the refusal.
    seen: Mutex<Vec<Result<String, String>>>,
    accepted: mpsc::UnboundedSender<QimenConfirm>,
}

async fn receive(State(r): State<Arc<Receiver>>, RawQuery(query): RawQuery, body: Bytes) -> String {
    match verify_confirm(query.as_deref().unwrap_or(""), &body, &r.secret) {
        Ok(confirm) => {
            r.seen
                .lock()
                .unwrap()
                .push(Ok(confirm.out_biz_code.clone()));
            let mut refuse = r.refuse.lock().unwrap();
            if *refuse > 0 {
                *refuse -= 1;
                return failure_reply("busy", "try again");
            }
            r.accepted.send(confirm).unwrap();
            success_reply()
        }
        Err(e) => {
            r.seen.lock().unwrap().push(Err(e.to_string()));
            failure_reply(e.code(), &e.to_string())
        }
    }
}

/// A callback receiver on 127.0.0.1: its URL, its state and the accepted confirms.
async fn receiver(
    secret: &str,
    refuse: u32,
) -> (String, Arc<Receiver>, mpsc::UnboundedReceiver<QimenConfirm>) {
    let (accepted, confirms) = mpsc::unbounded_channel();
    let r = Arc::new(Receiver {
        secret: secret.to_owned(),
        refuse: Mutex::new(refuse),
        seen: Mutex::new(Vec::new()),
        accepted,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/qimen/confirm", post(receive))
        .with_state(r.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/qimen/confirm"), r, confirms)
}

fn client(endpoint: &str, spec: &ThreePlSpec) -> QimenClient {
    let config = QimenConfig {
        endpoint: Url::parse(endpoint).unwrap(),
        app_key: spec.app_key.clone(),
        secret: spec.secret.clone(),
        customer_id: spec.customer_id.clone(),
        warehouse_code: WarehouseCode::new(&spec.code).unwrap(),
    };
    QimenClient::new(config, ChannelConfig::for_tests()).unwrap()
}

fn doc(s: &str) -> DocNo {
    DocNo::new(s).unwrap()
}

fn delivery(no: &str) -> DeliveryOrder {
    DeliveryOrder {
        delivery_no: doc(no),
        warehouse: WarehouseCode::new(WH).unwrap(),
        shop: doc("tm-1"),
        order_nos: vec![doc("4012345678901234567")],
        receiver: DeliveryReceiver {
            name: "王五".into(),
            phone: "13900002222".into(),
            province: "浙江省".into(),
            city: "杭州市".into(),
            district: "西湖区".into(),
            address: "文三路 1 号".into(),
            zip: String::new(),
        },
        lines: vec![
            DeliveryLine {
                sku: Sku::new("SKU-TEA-01").unwrap(),
                quantity: 3,
                title: "龙井茶".into(),
            },
            DeliveryLine {
                sku: Sku::new("SKU-CUP-02").unwrap(),
                quantity: 1,
                title: "玻璃杯".into(),
            },
        ],
        buyer_memo: None,
        seller_memo: Some("易碎 & 轻放".into()),
        created_at: UtcMillis(1_793_464_205_000),
    }
}

/// Polls the 3PL's log until `done` holds (bounded: a hang fails, a slow machine does not).
async fn log_until(sim: &SimHandle, code: &str, done: impl Fn(&ThreePlLog) -> bool) -> ThreePlLog {
    for _ in 0..2_000 {
        let log = sim.qimen_log(code);
        if done(&log) {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the 3pl log never got there: {:?}", sim.qimen_log(code));
}

async fn next(confirms: &mut mpsc::UnboundedReceiver<QimenConfirm>) -> QimenConfirm {
    tokio::time::timeout(Duration::from_secs(60), confirms.recv())
        .await
        .expect("a confirm arrives")
        .expect("the receiver is alive")
}

#[tokio::test]
async fn creates_are_idempotent_and_cancel_works_until_shipping() {
    let sim = sim().await;
    let spec = ThreePlSpec::new(WH, None);
    let endpoint = sim.add_3pl(spec.clone()).unwrap();
    let c = client(&endpoint, &spec);

    let first = c.create_delivery(&delivery("DO-1")).await.unwrap();
    let again = c.create_delivery(&delivery("DO-1")).await.unwrap();
    let QimenAnswer::Created {
        warehouse_order_id: Some(id),
    } = &first
    else {
        panic!("{first:?}")
    };
    assert_eq!(first, again, "a resend gets the same answer");
    let log = sim.qimen_log(WH);
    assert_eq!(log.orders.len(), 1);
    assert_eq!((log.orders[0].creates, &log.orders[0].order_id), (2, id));
    assert_eq!(log.orders[0].lines.len(), 2);
    assert!(log.orders[0].body.contains("易碎 &amp; 轻放"));

    assert_eq!(
        c.cancel(&doc("DO-1"), "买家退款").await.unwrap(),
        CancelAnswer::Cancelled
    );
    assert_eq!(
        c.cancel(&doc("DO-1"), "again").await.unwrap(),
        CancelAnswer::Cancelled
    );
    let log = sim.qimen_log(WH);
    assert_eq!(log.orders[0].status, "CANCELED");
    assert_eq!(log.orders[0].cancel_reason.as_deref(), Some("买家退款"));
    assert!(matches!(
        c.cancel(&doc("DO-404"), "").await.unwrap(),
        CancelAnswer::NotFound { .. }
    ));
    // A cancelled delivery order does not ship.
    let err = sim
        .qimen_ship(
            WH,
            &ShipRequest {
                delivery_no: "DO-1".into(),
                ..ShipRequest::default()
            },
        )
        .unwrap_err();
    assert!(err.to_string().contains("CANCELED"), "{err}");
    sim.shutdown().await;
}

#[tokio::test]
async fn an_exists_answer_is_a_success_and_503s_are_retried() {
    let sim = sim().await;
    let spec = ThreePlSpec {
        duplicate: DuplicateAnswer::Exists,
        fail_first: 2,
        ..ThreePlSpec::new(WH, None)
    };
    let c = client(&sim.add_3pl(spec.clone()).unwrap(), &spec);
    assert!(matches!(
        c.create_delivery(&delivery("DO-2")).await.unwrap(),
        QimenAnswer::Created { .. }
    ));
    assert!(matches!(
        c.create_delivery(&delivery("DO-2")).await.unwrap(),
        QimenAnswer::AlreadyExists { .. }
    ));
    let statuses: Vec<u16> = sim
        .qimen_log(WH)
        .calls
        .iter()
        .map(|c| c.http_status)
        .collect();
    assert_eq!(statuses, [503, 503, 200, 200]);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_wrong_secret_is_refused_by_the_3pl_and_not_retried() {
    let sim = sim().await;
    let spec = ThreePlSpec::new(WH, None);
    let endpoint = sim.add_3pl(spec.clone()).unwrap();
    let wrong = ThreePlSpec {
        secret: "not-the-secret".into(),
        ..spec
    };
    let err = client(&endpoint, &wrong)
        .create_delivery(&delivery("DO-3"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, QimenError::Refused { code, .. } if code == "sign-check-failure"),
        "{err:?}"
    );
    let log = sim.qimen_log(WH);
    assert_eq!(log.calls.len(), 1);
    assert!(log.orders.is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn partial_then_final_confirms_reach_the_hub_signed_with_their_own_keys() {
    let sim = sim().await;
    let secret = format!("{WH}-secret");
    let (callback, hub, mut confirms) = receiver(&secret, 0).await;
    let spec = ThreePlSpec::new(WH, Some(callback));
    let c = client(&sim.add_3pl(spec.clone()).unwrap(), &spec);
    c.create_delivery(&delivery("DO-4")).await.unwrap();

    let partial = ShipRequest {
        delivery_no: "DO-4".into(),
        partial: true,
        packages: vec![ShipPackage {
            carrier: "YUNDA".into(),
            tracking_no: String::new(),
            items: vec![ShipItem {
                sku: "SKU-TEA-01".into(),
                quantity: 1,
            }],
        }],
    };
    sim.qimen_ship(WH, &partial).unwrap();
    let first = next(&mut confirms).await;
    assert_eq!(first.confirm_type, ConfirmType::Partial);
    assert_eq!(first.delivery_no.as_str(), "DO-4");
    assert_eq!(first.packages[0].logistics_code, "YUNDA");
    let shipped: Vec<(String, i64)> = first
        .shipped()
        .into_iter()
        .map(|l| (l.sku.to_string(), l.quantity))
        .collect();
    assert_eq!(
        shipped,
        [("SKU-TEA-01".into(), 1), ("SKU-CUP-02".into(), 0)]
    );

    // Cancelling after a partial shipment is too late.
    let answer = c.cancel(&doc("DO-4"), "").await.unwrap();
    assert!(
        matches!(&answer, CancelAnswer::AlreadyShipped { code, .. } if code == CODE_SHIPPED),
        "{answer:?}"
    );

    // The rest in two parcels, over the control API.
    let rest = ShipRequest {
        delivery_no: "DO-4".into(),
        partial: false,
        packages: vec![
            ShipPackage {
                carrier: "SF".into(),
                tracking_no: "SF0000000000001".into(),
                items: vec![ShipItem {
                    sku: "SKU-TEA-01".into(),
                    quantity: 2,
                }],
            },
            ShipPackage {
                carrier: "SF".into(),
                tracking_no: "SF0000000000002".into(),
                items: vec![ShipItem {
                    sku: "SKU-CUP-02".into(),
                    quantity: 1,
                }],
            },
        ],
    };
    let http = reqwest::Client::new();
    let made = http
        .post(format!("http://{}/_sim/3pl/{WH}/ship", sim.addr()))
        .json(&rest)
        .send()
        .await
        .unwrap();
    assert!(made.status().is_success(), "{}", made.text().await.unwrap());
    let last = next(&mut confirms).await;
    assert_eq!(last.confirm_type, ConfirmType::Final);
    assert_ne!(first.out_biz_code, last.out_biz_code);
    let parcels: Vec<&str> = last
        .packages
        .iter()
        .map(|p| p.express_code.as_str())
        .collect();
    assert_eq!(parcels, ["SF0000000000001", "SF0000000000002"]);

    let log = log_until(&sim, WH, |l| l.confirms.iter().all(|c| c.acknowledged)).await;
    assert_eq!(log.orders[0].status, "DELIVERED");
    assert!(log.orders[0].lines.iter().all(|l| l.shipped == l.planned));
    assert_eq!(log.confirms.len(), 2);
    assert!(log.confirms.iter().all(|c| c.attempts == 1));
    // Nothing more to ship.
    assert!(sim.qimen_ship(WH, &partial).is_err());
    // The same log over HTTP.
    let over_http: ThreePlLog = http
        .get(format!("http://{}/_sim/3pl/{WH}", sim.addr()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(over_http, log);
    assert_eq!(hub.seen.lock().unwrap().len(), 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_confirm_is_resent_with_the_same_key_until_the_hub_says_success() {
    let sim = sim().await;
    let secret = format!("{WH}-secret");
    let (callback, hub, mut confirms) = receiver(&secret, 2).await;
    let spec = ThreePlSpec {
        ship_after_ms: Some(1),
        carrier: "ZTO".into(),
        ..ThreePlSpec::new(WH, Some(callback))
    };
    let c = client(&sim.add_3pl(spec.clone()).unwrap(), &spec);
    c.create_delivery(&delivery("DO-5")).await.unwrap();

    // Shipped by itself after the delay: one parcel, everything, final.
    let confirm = next(&mut confirms).await;
    assert_eq!(confirm.confirm_type, ConfirmType::Final);
    assert_eq!(confirm.packages.len(), 1);
    assert_eq!(confirm.packages[0].logistics_code, "ZTO");
    assert_eq!(confirm.packages[0].items.len(), 2);
    let seen = hub.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "two refusals, then the success: {seen:?}");
    assert!(seen.iter().all(|s| s.as_ref() == Ok(&confirm.out_biz_code)));
    let log = log_until(&sim, WH, |l| {
        l.confirms.first().is_some_and(|c| c.acknowledged)
    })
    .await;
    assert_eq!(log.confirms[0].attempts, 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_3pl_is_registered_over_http_and_bad_ship_calls_are_refused() {
    let sim = sim().await;
    let http = reqwest::Client::new();
    let base = format!("http://{}", sim.addr());
    let spec = ThreePlSpec::new("WH-HTTP", None);
    let answer: serde_json::Value = http
        .post(format!("{base}/_sim/3pl"))
        .json(&spec)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let endpoint = answer["endpoint"].as_str().unwrap().to_owned();
    assert_eq!(endpoint, format!("{base}/3pl/WH-HTTP/qimen"));
    let again = http
        .post(format!("{base}/_sim/3pl"))
        .json(&spec)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 400, "a code is registered once");

    let mut order = delivery("DO-6");
    order.warehouse = WarehouseCode::new("WH-HTTP").unwrap();
    client(&endpoint, &spec)
        .create_delivery(&order)
        .await
        .unwrap();
    let ship = |body: serde_json::Value| {
        http.post(format!("{base}/_sim/3pl/WH-HTTP/ship"))
            .json(&body)
            .send()
    };
    for (name, body, status) in [
        (
            "unknown delivery",
            serde_json::json!({"delivery_no": "DO-X"}),
            404,
        ),
        (
            "unknown carrier",
            serde_json::json!({"delivery_no": "DO-6", "packages": [{"carrier": "NOPE"}]}),
            400,
        ),
        (
            "more than planned",
            serde_json::json!({"delivery_no": "DO-6", "partial": true,
                "packages": [{"items": [{"sku": "SKU-CUP-02", "quantity": 2}]}]}),
            400,
        ),
        (
            "partial without items",
            serde_json::json!({"delivery_no": "DO-6", "partial": true}),
            400,
        ),
    ] {
        assert_eq!(ship(body).await.unwrap().status(), status, "{name}");
    }
    let unknown = http
        .get(format!("{base}/_sim/3pl/NOPE"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    sim.shutdown().await;
}
