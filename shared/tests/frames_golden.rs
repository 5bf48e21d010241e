//! Golden bytes of frames: what an agent in the field sends and reads must not change.
//!
//! Each case's encoding (length prefix included) is pinned in
//! `tests/fixtures/frames/<case>.hex`; the test fails when the encoding differs and when the
//! pinned bytes no longer decode to the same frame. A missing fixture fails too; run with
//! `XT_WRITE_GOLDEN_FRAMES=1` to write the missing ones (never to overwrite one).

use std::path::{Path, PathBuf};
use xt_shared::command::{
    AgentCommand, CommandOutcome, DeliveryLine, DeliveryOrder, DeliveryReceiver,
};
use xt_shared::ids::{DocNo, Sku, SourceName, WarehouseCode};
use xt_shared::model::UtcMillis;
use xt_shared::protocol::{Frame, SourceStatus, decode_all, frame_bytes};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/frames")
}

fn hello() -> Frame {
    Frame::Hello {
        protocol: 1,
        agent_version: "0.1.0".into(),
        sources: vec![SourceStatus {
            source: SourceName::new("wms-stock").unwrap(),
            durable_seq: 42,
            backlog: 3,
            quarantined: 1,
            last_error: None,
        }],
    }
}

fn delivery() -> DeliveryOrder {
    DeliveryOrder {
        delivery_no: DocNo::new("DO-20260315-0001").unwrap(),
        warehouse: WarehouseCode::new("WH-SH").unwrap(),
        shop: DocNo::new("tmall-flagship").unwrap(),
        order_nos: vec![DocNo::new("T1001").unwrap(), DocNo::new("T1002").unwrap()],
        receiver: DeliveryReceiver {
            name: "张三".into(),
            phone: "13800000000".into(),
            province: "上海".into(),
            city: "上海市".into(),
            district: "浦东新区".into(),
            address: "世纪大道 100 号".into(),
            zip: "200120".into(),
        },
        lines: vec![
            DeliveryLine {
                sku: Sku::new("SKU-RED").unwrap(),
                quantity: 2,
                title: "红色保温杯".into(),
            },
            DeliveryLine {
                sku: Sku::new("SKU-BLUE").unwrap(),
                quantity: 1,
                title: "蓝色杯盖".into(),
            },
        ],
        buyer_memo: Some("周末送货".into()),
        seller_memo: None,
        created_at: UtcMillis(1_773_562_500_000),
    }
}

/// Every pinned frame: its fixture name and the frame.
fn cases() -> Vec<(&'static str, Frame)> {
    vec![
        ("hello", hello()),
        (
            "commands_ready",
            Frame::CommandsReady {
                sinks: vec!["csv".into(), "sqlite".into()],
            },
        ),
        (
            "command_create_delivery",
            Frame::Command {
                seq: 300,
                command: AgentCommand::CreateDelivery(Box::new(delivery())),
            },
        ),
        (
            "command_cancel_delivery",
            Frame::Command {
                seq: 301,
                command: AgentCommand::CancelDelivery {
                    delivery_no: DocNo::new("DO-20260315-0001").unwrap(),
                    warehouse: WarehouseCode::new("WH-SH").unwrap(),
                    reason: "买家申请退款".into(),
                },
            },
        ),
        (
            "command_result_done",
            Frame::CommandResult {
                seq: 300,
                outcome: CommandOutcome::Done,
            },
        ),
        (
            "command_result_already_done",
            Frame::CommandResult {
                seq: 300,
                outcome: CommandOutcome::AlreadyDone,
            },
        ),
        (
            "command_result_refused",
            Frame::CommandResult {
                seq: 301,
                outcome: CommandOutcome::Refused {
                    reason: "already shipped: status \"SHIPPED\"".into(),
                },
            },
        ),
    ]
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn bytes_of(hex: &str) -> Vec<u8> {
    let hex: String = hex.split_whitespace().collect();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn frames_encode_to_their_pinned_bytes_and_back() {
    let write = std::env::var_os("XT_WRITE_GOLDEN_FRAMES").is_some();
    let mut missing = Vec::new();
    for (name, frame) in cases() {
        let path = fixtures().join(format!("{name}.hex"));
        let bytes = frame_bytes(&frame).unwrap();
        let pinned = match std::fs::read_to_string(&path) {
            Ok(text) => bytes_of(&text),
            Err(_) if write => {
                std::fs::create_dir_all(fixtures()).unwrap();
                std::fs::write(&path, format!("{}\n", hex_of(&bytes))).unwrap();
                continue;
            }
            Err(_) => {
                missing.push(name);
                continue;
            }
        };
        assert_eq!(
            hex_of(&bytes),
            hex_of(&pinned),
            "{name}: the encoding changed; a frame already in the field must keep its bytes"
        );
        assert_eq!(decode_all(&pinned).unwrap(), vec![frame], "{name}");
    }
    assert!(
        missing.is_empty(),
        "no golden bytes of {missing:?}: run with XT_WRITE_GOLDEN_FRAMES=1"
    );
}

/// `Hello` as the first agents sent it, spelled out from postcard's format: appending the
/// command frames did not move it.
#[test]
fn hello_keeps_the_bytes_of_the_first_protocol() {
    let expected = [
        "00000017",              // length prefix: 23 bytes
        "00",                    // variant 0: Hello
        "01",                    // protocol 1
        "05 302e312e30",         // agent_version "0.1.0"
        "01",                    // one source
        "09 776d732d73746f636b", // source "wms-stock"
        "2a 03 01",              // durable_seq 42, backlog 3, quarantined 1
        "00",                    // last_error: None
    ]
    .join(" ");
    assert_eq!(
        hex_of(&frame_bytes(&hello()).unwrap()),
        hex_of(&bytes_of(&expected))
    );
}

/// The command frames are variants 10, 11 and 12: after every frame that existed before them.
#[test]
fn command_frames_are_appended_variants() {
    for (name, frame) in cases().into_iter().skip(1) {
        let bytes = frame_bytes(&frame).unwrap();
        let variant = bytes[4];
        let expected = match frame {
            Frame::CommandsReady { .. } => 10,
            Frame::Command { .. } => 11,
            Frame::CommandResult { .. } => 12,
            other => panic!("{name}: {other:?} is not a command frame"),
        };
        assert_eq!(variant, expected, "{name}");
    }
}
