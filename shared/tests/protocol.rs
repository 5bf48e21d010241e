//! Round-trip property tests for every frame, and garbage into the decoder.

use proptest::prelude::*;
use xt_shared::change::{Body, SourceChange};
use xt_shared::ids::{AgentId, DocNo, SiteId, Sku, SourceName, TenantId, WarehouseCode};
use xt_shared::model::*;
use xt_shared::money::{Currency, Money};
use xt_shared::protocol::*;

fn id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9_.-]{0,20}"
}
fn text_id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9仓库货品][A-Za-z0-9 仓库货品_-]{0,20}[A-Za-z0-9]"
}
fn money() -> impl Strategy<Value = Money> {
    (
        any::<i64>(),
        prop_oneof![Just(Currency::CNY), Just(Currency::USD)],
    )
        .prop_map(|(m, c)| Money::new(m, c))
}
fn utc() -> impl Strategy<Value = UtcMillis> {
    any::<i64>().prop_map(UtcMillis)
}
fn qline() -> impl Strategy<Value = QuantityLine> {
    (text_id(), any::<i64>()).prop_map(|(s, q)| QuantityLine {
        sku: Sku::new(s).unwrap(),
        quantity: q,
    })
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        (text_id(), text_id(), any::<i64>()).prop_map(|(w, s, n)| Body::Stock(StockLevel {
            warehouse: WarehouseCode::new(w).unwrap(),
            sku: Sku::new(s).unwrap(),
            on_hand: n,
        })),
        (text_id(), text_id(), text_id(), any::<i64>(), utc()).prop_map(|(m, w, s, d, t)| {
            Body::StockMovement(StockMovement {
                movement_no: DocNo::new(m).unwrap(),
                warehouse: WarehouseCode::new(w).unwrap(),
                sku: Sku::new(s).unwrap(),
                delta: d,
                kind: MovementKind::Adjustment,
                occurred_at: t,
            })
        }),
        (
            text_id(),
            text_id(),
            proptest::option::of(text_id()),
            ".*",
            ".*",
            utc(),
            prop::collection::vec(qline(), 0..4)
        )
            .prop_map(
                |(d, w, o, c, t, at, lines)| Body::Shipment(ShipmentConfirmation {
                    delivery_no: DocNo::new(d).unwrap(),
                    warehouse: WarehouseCode::new(w).unwrap(),
                    order_no: o.map(|o| DocNo::new(o).unwrap()),
                    carrier: c,
                    tracking_no: t,
                    shipped_at: at,
                    lines,
                })
            ),
        (
            text_id(),
            text_id(),
            money(),
            utc(),
            prop::collection::vec((text_id(), any::<i64>(), money()), 0..4)
        )
            .prop_map(|(st, no, total, at, lines)| Body::PosSale(PosSale {
                store: WarehouseCode::new(st).unwrap(),
                sale_no: DocNo::new(no).unwrap(),
                total,
                sold_at: at,
                lines: lines
                    .into_iter()
                    .map(|(s, q, p)| SaleLine {
                        sku: Sku::new(s).unwrap(),
                        quantity: q,
                        unit_price: p
                    })
                    .collect(),
            })),
        (
            text_id(),
            text_id(),
            any::<bool>(),
            money(),
            money(),
            proptest::option::of(text_id()),
            utc()
        )
            .prop_map(
                |(a, f, dir, amount, fee, r, at)| Body::PaymentFlow(PaymentFlow {
                    account: DocNo::new(a).unwrap(),
                    flow_no: DocNo::new(f).unwrap(),
                    direction: if dir {
                        FlowDirection::In
                    } else {
                        FlowDirection::Out
                    },
                    amount,
                    fee,
                    order_ref: r.map(|r| DocNo::new(r).unwrap()),
                    occurred_at: at,
                })
            ),
        (
            text_id(),
            "[0-9]{19}",
            money(),
            utc(),
            prop::collection::vec(qline(), 0..4)
        )
            .prop_map(|(shop, no, paid, at, lines)| Body::Order(OrderSkeleton {
                shop: DocNo::new(shop).unwrap(),
                platform_order_no: DocNo::new(no).unwrap(),
                status: OrderStatus::Paid,
                paid,
                created_at: at,
                lines,
            })),
    ]
}

fn status() -> impl Strategy<Value = SourceStatus> {
    (
        id(),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        proptest::option::of(".*"),
    )
        .prop_map(|(s, d, b, q, e)| SourceStatus {
            source: SourceName::new(s).unwrap(),
            durable_seq: d,
            backlog: b,
            quarantined: q,
            last_error: e,
        })
}

fn frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        (any::<u16>(), ".*", prop::collection::vec(status(), 0..4)).prop_map(|(p, v, s)| {
            Frame::Hello {
                protocol: p,
                agent_version: v,
                sources: s,
            }
        }),
        (
            any::<u16>(),
            id(),
            prop::collection::vec((id(), any::<u64>()), 0..4)
        )
            .prop_map(|(p, a, r)| {
                Frame::Welcome {
                    protocol: p,
                    agent: AgentId::new(a).unwrap(),
                    resume: r
                        .into_iter()
                        .map(|(s, seq)| ResumePoint {
                            source: SourceName::new(s).unwrap(),
                            applied_seq: seq,
                        })
                        .collect(),
                }
            }),
        (
            any::<u64>(),
            id(),
            prop::collection::vec((any::<u64>(), any::<i64>(), body()), 0..6)
        )
            .prop_map(|(b, s, c)| Frame::Batch {
                batch_id: b,
                source: SourceName::new(s).unwrap(),
                changes: c
                    .into_iter()
                    .map(|(seq, version, body)| SourceChange { seq, version, body })
                    .collect(),
            }),
        (
            any::<u64>(),
            id(),
            any::<u64>(),
            prop::collection::vec((any::<u64>(), ".*"), 0..3)
        )
            .prop_map(|(b, s, a, r)| Frame::Ack {
                batch_id: b,
                source: SourceName::new(s).unwrap(),
                applied_seq: a,
                rejected: r
                    .into_iter()
                    .map(|(seq, reason)| Rejection { seq, reason })
                    .collect(),
            }),
        prop::collection::vec(status(), 0..4).prop_map(|s| Frame::Status { sources: s }),
        prop::collection::vec(any::<u8>(), 0..64).prop_map(|c| Frame::RenewRequest { csr_der: c }),
        prop::collection::vec(any::<u8>(), 0..64)
            .prop_map(|c| Frame::RenewResponse { cert_der: c }),
        (".*", prop::collection::vec(any::<u8>(), 0..64)).prop_map(|(t, c)| Frame::EnrollRequest {
            token: t,
            csr_der: c
        }),
        (
            id(),
            id(),
            id(),
            prop::collection::vec(any::<u8>(), 0..64),
            prop::collection::vec(any::<u8>(), 0..64)
        )
            .prop_map(|(a, t, s, c, ca)| Frame::EnrollResponse {
                agent: AgentId::new(a).unwrap(),
                tenant: TenantId::new(t).unwrap(),
                site: SiteId::new(s).unwrap(),
                role: AgentRole::Pos,
                cert_der: c,
                ca_der: ca,
            }),
        ".*".prop_map(|m| Frame::Error {
            code: ErrorCode::BadRequest,
            message: m
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_frame_round_trips(frames in prop::collection::vec(frame(), 1..5)) {
        let mut bytes = Vec::new();
        for f in &frames {
            encode_frame(f, &mut bytes).unwrap();
        }
        prop_assert_eq!(decode_all(&bytes).unwrap(), frames.clone());
        // Byte by byte through the incremental decoder gives the same frames.
        let mut d = FrameDecoder::new();
        let mut out = Vec::new();
        for b in &bytes {
            d.push(std::slice::from_ref(b));
            while let Some(f) = d.next_frame().unwrap() {
                out.push(f);
            }
        }
        d.finish().unwrap();
        prop_assert_eq!(out, frames);
    }

    #[test]
    fn truncated_frames_are_errors(f in frame(), cut in any::<prop::sample::Index>()) {
        let bytes = frame_bytes(&f).unwrap();
        let cut = 1 + cut.index(bytes.len() - 1);
        let err = decode_all(&bytes[..cut]).unwrap_err();
        prop_assert!(matches!(err, DecodeError::Truncated { .. } | DecodeError::Garbage(_)), "{err:?}");
    }
}

#[test]
fn oversized_prefix_is_refused_before_buffering() {
    let mut d = FrameDecoder::new();
    d.push(&((FRAME_BYTES_MAX as u32) + 1).to_be_bytes());
    assert!(matches!(d.next_frame(), Err(DecodeError::Oversized { .. })));
    // Poisoned: stays an error.
    d.push(&[0; 10]);
    assert!(d.next_frame().is_err());
}

#[test]
fn trailing_bytes_inside_a_frame_are_refused() {
    let good = Frame::Status { sources: vec![] };
    let mut bytes = frame_bytes(&good).unwrap();
    bytes.push(0); // trailing garbage inside the length
    let len = (bytes.len() - FRAME_PREFIX_BYTES) as u32;
    bytes[..4].copy_from_slice(&len.to_be_bytes());
    assert_eq!(
        decode_all(&bytes).unwrap_err(),
        DecodeError::TrailingBytes(1)
    );
}

#[test]
fn invalid_ids_inside_frames_are_refused() {
    // A valid frame whose source name is then patched on the wire into one with a space:
    // decoding validates ids, so the frame is refused instead of smuggling the id in.
    let frame = Frame::Status {
        sources: vec![SourceStatus {
            source: SourceName::new("abcxyz").unwrap(),
            durable_seq: 1,
            backlog: 0,
            quarantined: 0,
            last_error: None,
        }],
    };
    let mut bytes = frame_bytes(&frame).unwrap();
    assert!(decode_all(&bytes).is_ok());
    let at = bytes.windows(6).position(|w| w == b"abcxyz").unwrap();
    bytes[at + 2] = b' ';
    assert!(
        matches!(decode_all(&bytes), Err(DecodeError::Garbage(_))),
        "an invalid source name must not decode"
    );
}

/// 10,000 random byte strings: every one is an error or a frame, never a panic.
#[test]
fn random_bytes_never_panic() {
    let mut state = 0x5EED_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut errors = 0;
    for i in 0..10_000 {
        let len = (next() % 512) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if i % 2 == 0 && bytes.len() >= 4 {
            // Half of them get a plausible length prefix so the body parser is exercised too.
            let body_len = (bytes.len() - 4) as u32;
            bytes[..4].copy_from_slice(&body_len.to_be_bytes());
        }
        if decode_all(&bytes).is_err() {
            errors += 1;
        }
        let _ = decode_body(&bytes);
    }
    assert!(
        errors > 9_000,
        "random input decoded as frames too often: {errors} errors"
    );
}
