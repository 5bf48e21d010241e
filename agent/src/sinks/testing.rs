//! Test fixtures shared by the sinks' and the applier's tests: delivery orders, a legacy WMS
//! database and sink configs parsed the way the agent parses them.

use crate::config::{AgentConfig, SinkConfig};
use crate::sinks::{self, Sink};
use crate::timestamp::UtcOffset;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use xt_shared::command::{AgentCommand, DeliveryLine, DeliveryOrder, DeliveryReceiver};
use xt_shared::ids::{DocNo, Sku, WarehouseCode};
use xt_shared::model::UtcMillis;

/// 2026-03-15T08:15:00Z.
pub const T0: UtcMillis = UtcMillis(1_773_562_500_000);

pub fn order(no: &str, warehouse: &str) -> DeliveryOrder {
    DeliveryOrder {
        delivery_no: DocNo::new(no).unwrap(),
        warehouse: WarehouseCode::new(warehouse).unwrap(),
        shop: DocNo::new("tmall-旗舰店").unwrap(),
        order_nos: vec![DocNo::new("T1001").unwrap(), DocNo::new("T1002").unwrap()],
        receiver: DeliveryReceiver {
            name: "张三".into(),
            phone: "13800000000".into(),
            province: "上海".into(),
            city: "上海市".into(),
            district: "浦东新区".into(),
            address: "世纪大道 100 号, 8 楼".into(),
            zip: "200120".into(),
        },
        lines: vec![
            DeliveryLine {
                sku: Sku::new("SKU-RED").unwrap(),
                quantity: 2,
                title: "红色保温杯 \"经典\"".into(),
            },
            DeliveryLine {
                sku: Sku::new("SKU-BLUE").unwrap(),
                quantity: 1,
                title: "蓝色杯盖".into(),
            },
        ],
        buyer_memo: Some("周末送货".into()),
        seller_memo: None,
        created_at: T0,
    }
}

pub fn create(no: &str, warehouse: &str) -> AgentCommand {
    AgentCommand::CreateDelivery(Box::new(order(no, warehouse)))
}

pub fn cancel(no: &str, warehouse: &str) -> AgentCommand {
    AgentCommand::CancelDelivery {
        delivery_no: DocNo::new(no).unwrap(),
        warehouse: WarehouseCode::new(warehouse).unwrap(),
        reason: "买家申请退款".into(),
    }
}

/// The legacy WMS's delivery table: NOT NULL columns, a positive quantity, one row per line.
pub const WMS_SCHEMA: &str = "
CREATE TABLE delivery_lines (
    id INTEGER PRIMARY KEY,
    delivery_no TEXT NOT NULL,
    line_no INTEGER NOT NULL,
    wh_code TEXT NOT NULL,
    order_nos TEXT,
    receiver TEXT,
    address TEXT,
    item_code TEXT NOT NULL,
    qty INTEGER NOT NULL CHECK (qty > 0),
    item_name TEXT,
    buyer_memo TEXT,
    created TEXT,
    status TEXT NOT NULL,
    creator TEXT NOT NULL,
    UNIQUE (delivery_no, line_no)
);";

/// A new WMS database in `dir`.
pub fn wms_db(dir: &Path) -> PathBuf {
    let path = dir.join("wms.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch(WMS_SCHEMA)
        .unwrap();
    path
}

/// A `[[sink]]` of kind sqlite writing to `path` for warehouse WH-1; `extra` is appended to
/// `[sink.sqlite]`.
pub fn sqlite_sink_toml(path: &Path, extra: &str) -> String {
    format!(
        r#"
[[sink]]
name = "wms"
kind = "sqlite"
warehouses = ["WH-1"]
[sink.columns]
delivery_no = "delivery_no"
line_no = "line_no"
warehouse = "wh_code"
order_nos = "order_nos"
receiver_name = "receiver"
receiver_address = "address"
sku = "item_code"
quantity = "qty"
title = "item_name"
buyer_memo = "buyer_memo"
created_at = "created"
status = "status"
[sink.constants]
creator = "xietong"
[sink.sqlite]
path = {path:?}
table = "delivery_lines"
new_value = "NEW"
cancelled_value = "CANCELLED"
shipped_values = ["SHIPPED", "DONE"]
{extra}
"#
    )
}

/// A `[[sink]]` of kind csv into `folder` for warehouse WH-1; `csv` is appended to
/// `[sink.csv]`.
pub fn csv_sink_toml(folder: &Path, csv: &str) -> String {
    format!(
        r#"
[[sink]]
name = "drop"
kind = "csv"
warehouses = ["WH-1"]
[sink.csv]
folder = {folder:?}
{csv}
"#
    )
}

/// The sinks of `toml` (one or more `[[sink]]`), parsed and validated like the agent's config.
pub fn parse_sinks(toml: &str) -> Vec<SinkConfig> {
    let text = format!("data_dir = \"/x\"\n{toml}");
    AgentConfig::parse(&text, Path::new("agent.toml"))
        .unwrap_or_else(|e| panic!("{e}"))
        .sinks
}

/// The runtime sink of the first `[[sink]]` in `toml`.
pub fn build(toml: &str) -> Box<dyn Sink> {
    sinks::build(&parse_sinks(toml)[0], UtcOffset::CST).unwrap()
}

/// Rows of the WMS table as `(delivery_no, line_no, item_code, qty, status)`.
pub fn wms_rows(path: &Path) -> Vec<(String, i64, String, i64, String)> {
    let conn = Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT delivery_no, line_no, item_code, qty, status FROM delivery_lines ORDER BY delivery_no, line_no",
        )
        .unwrap();
    stmt.query_map([], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}
