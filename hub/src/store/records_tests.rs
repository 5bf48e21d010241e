//! Golden bytes of every stored record: what released versions wrote (taken from the committed
//! data directories in `hub/tests/fixtures/data/`) must keep decoding to the same record.
//!
//! `hub/tests/fixtures/records/<record>.v<version>[.<n>].hex` holds the bytes, the `.txt` beside
//! it the decoded record's `Debug` form. A change to a record type that changes what old bytes
//! mean fails here; a new record version adds files (older ones stay). Regenerate (only for new
//! files, never to paper over a change) with
//! `XT_WRITE_GOLDEN_RECORDS=1 cargo test -p xt-hub --lib records_tests -- --ignored`.

use super::codec::{self, Record, decode, encode};
use super::*;
use std::fmt::Debug;
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/records")
}

/// Decodes `bytes` as `R`, checks the current version re-encodes to the same bytes, and
/// returns the `Debug` form.
fn read<R: Record + Debug>(bytes: &[u8]) -> Result<String, String> {
    let record: R = decode(bytes).map_err(|e| e.to_string())?;
    if bytes[0] == R::VERSION && encode(&record) != bytes {
        return Err(format!("{} does not re-encode to the same bytes", R::NAME));
    }
    Ok(format!("{record:#?}\n"))
}

/// Reads stored bytes into a record's `Debug` form.
type Reader = fn(&[u8]) -> Result<String, String>;

/// The reader of the record named `name` (its table's name).
fn reader(name: &str) -> Option<Reader> {
    Some(match name {
        "tenants" => read::<TenantRecord>,
        "enroll_tokens" => read::<TokenRecord>,
        "agents" => read::<AgentRecord>,
        "origins" => read::<OriginRecord>,
        "stock" => read::<StockRecord>,
        "entities" => read::<crate::agents::store::EntityRecord>,
        "tenant_log" => read::<LogEntry>,
        "tenant_rejects" => read::<crate::agents::store::RejectRecord>,
        "stock_totals" => read::<dashboard::StockTotals>,
        "minute_buckets" => read::<dashboard::MinuteBucket>,
        "users" => read::<identity::UserRecord>,
        "refresh_tokens" => read::<identity::RefreshRecord>,
        "refresh_families" => read::<identity::FamilyRecord>,
        "operator_keys" => read::<operator::OperatorKeyRecord>,
        "api_keys" => read::<api_keys::ApiKeyRecord>,
        "shops" => read::<shops::ShopRecord>,
        "orders" => read::<orders::OrderRecord>,
        "refunds" => read::<orders::RefundRecord>,
        "sku_mappings" => read::<orders::SkuMapping>,
        "members" => read::<orders::MemberRecord>,
        "shop_capture" => read::<orders::CaptureState>,
        "capture_errors" => read::<orders::CaptureErrorRecord>,
        "agent_commands" => read::<crate::agents::commands::CommandRecord>,
        "fulfilments" => read::<crate::fulfilment::records::FulfilmentRecord>,
        "deliveries" => read::<crate::fulfilment::records::DeliveryRecord>,
        "warehouses" => read::<crate::fulfilment::records::WarehouseRecord>,
        "fulfilment_settings" => read::<crate::fulfilment::records::SettingsRecord>,
        "stock_ledger" => read::<crate::fulfilment::ledger::Cell>,
        "writebacks_due" => read::<crate::fulfilment::records::WriteBackDue>,
        _ => return None,
    })
}

#[test]
fn every_golden_record_still_reads_as_it_did() {
    let mut checked = std::collections::BTreeSet::new();
    let mut stems = std::collections::BTreeSet::new();
    let mut files: Vec<_> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "hex"))
        .collect();
    files.sort();
    for path in files {
        let stem = path.file_stem().unwrap().to_str().unwrap().to_owned();
        let name = stem.split('.').next().unwrap();
        let read = reader(name).unwrap_or_else(|| panic!("{stem}: no record named {name}"));
        let bytes = hex::decode(std::fs::read_to_string(&path).unwrap().trim()).unwrap();
        let shown = read(&bytes).unwrap_or_else(|e| panic!("{stem}: {e}"));
        let expected = std::fs::read_to_string(path.with_extension("txt")).unwrap();
        assert_eq!(shown, expected, "{stem} reads differently than it did");
        checked.insert(name.to_owned());
        stems.insert(stem);
    }
    // Every record kind has golden bytes (signing keys are sealed with a key only the fixture
    // data directory has: `hub/tests/upgrade.rs` opens them there).
    for name in [
        "tenants",
        "enroll_tokens",
        "agents",
        "origins",
        "stock",
        "tenant_log",
        "entities",
        "tenant_rejects",
        "stock_totals",
        "minute_buckets",
        "users",
        "refresh_tokens",
        "refresh_families",
        "operator_keys",
        "api_keys",
        "shops",
        "orders",
        "refunds",
        "sku_mappings",
        "members",
        "shop_capture",
        "capture_errors",
        "agent_commands",
        "fulfilments",
        "deliveries",
        "warehouses",
        "fulfilment_settings",
        "stock_ledger",
        "writebacks_due",
    ] {
        assert!(checked.contains(name), "no golden bytes of {name}");
    }
    // Older versions of records that have several (shops v1: `store::shops` tests; capture
    // state v1: `orders_tests`; plain signing keys v1: `hub/tests/signing_keys.rs`).
    for stem in [
        "origins.v1",
        "api_keys.v1",
        "tenant_log.v1.command",
        "tenant_log.v1.fulfilment",
    ] {
        assert!(stems.contains(stem), "no golden bytes of {stem}");
    }
}

/// Writes golden files from the data directory fixtures: the first value of each record table
/// (every kind of change-log entry), for files that do not exist yet.
#[test]
#[ignore = "writes fixtures; run by hand with XT_WRITE_GOLDEN_RECORDS=1"]
fn write_golden_records() {
    if std::env::var_os("XT_WRITE_GOLDEN_RECORDS").is_none() {
        return;
    }
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/data");
    for source in ["2026-11-29-layout3", "2026-11-29"] {
        write_from(&fixtures.join(source).join("hub/hub.redb"));
    }
    // Sessions are not in the data fixtures (the demo signs nobody in): their bytes as this
    // version writes them.
    let tenant = TenantId::new("demo").unwrap();
    write_new(
        "refresh_tokens.v1",
        read::<identity::RefreshRecord>,
        &encode(&identity::RefreshRecord {
            family: "fam-0123456789abcdef".into(),
            tenant: tenant.clone(),
            username: "admin".into(),
            user_id: "u-cdfd7069070ed728".into(),
            issued_at: UtcMillis(1_795_988_520_315),
            expires_at: UtcMillis(1_797_198_120_315),
            rotated_at: Some(UtcMillis(1_795_988_620_315)),
            successor: Some(vec![0xab; 32]),
        }),
    );
    write_new(
        "refresh_families.v1",
        read::<identity::FamilyRecord>,
        &encode(&identity::FamilyRecord {
            tenant,
            created_at: UtcMillis(1_795_988_520_315),
            revoked_at: None,
        }),
    );
    // Refused changes and non-stock entities are not in the data fixtures (the demo's agents
    // send stock only, as their role allows): their bytes as this version writes them.
    let payment = xt_shared::change::Body::PaymentFlow(xt_shared::model::PaymentFlow {
        account: xt_shared::ids::DocNo::new("2088-demo").unwrap(),
        flow_no: xt_shared::ids::DocNo::new("F-20261129-0001").unwrap(),
        direction: xt_shared::model::FlowDirection::In,
        amount: xt_shared::money::Money::parse("128.50", xt_shared::money::Currency::CNY).unwrap(),
        fee: xt_shared::money::Money::parse("0.77", xt_shared::money::Currency::CNY).unwrap(),
        order_ref: Some(xt_shared::ids::DocNo::new("T-1001").unwrap()),
        occurred_at: UtcMillis(1_795_988_520_315),
    });
    write_new(
        "entities.v1",
        read::<crate::agents::store::EntityRecord>,
        &encode(&crate::agents::store::EntityRecord {
            version: 3,
            origin: "agent:ag-0123456789abcdef/alipay-bills".into(),
            body: (&payment).into(),
        }),
    );
    write_new(
        "tenant_rejects.v1",
        read::<crate::agents::store::RejectRecord>,
        &encode(&crate::agents::store::RejectRecord {
            reason: "a warehouse agent may not write payment_flow records".into(),
            change: (&xt_shared::change::SourceChange {
                seq: 17,
                version: 3,
                body: payment,
            })
                .into(),
        }),
    );
    // Fulfilment's records and log entries are in no data fixture yet: as this version writes
    // them, from an order taken from capture to a shipped parcel.
    for (stem, bytes) in crate::fulfilment::store_tests::golden_records() {
        let name = stem.split('.').next().unwrap();
        write_new(stem, reader(name).unwrap(), &bytes);
    }
    // Older versions no data fixture holds, as the hubs of their time wrote them (postcard of a
    // struct is the postcard of its fields in order).
    write_new(
        "origins.v1",
        read::<OriginRecord>,
        &codec::encode_as(
            1,
            &(42u64, 40u64, 1u64, 7u64, 1u64, Some("db down".to_owned())),
        ),
    );
    write_new(
        "api_keys.v1",
        read::<api_keys::ApiKeyRecord>,
        &api_keys::enc_key_v1(&api_keys::ApiKeyRecordV1 {
            id: "k-0123456789abcdef".into(),
            tenant: TenantId::new("demo").unwrap(),
            name: "init".into(),
            created_at: UtcMillis(1_714_557_600_000),
            revoked_at: None,
        }),
    );
}

/// Writes `<stem>.hex` and `<stem>.txt` unless they exist.
fn write_new(stem: &str, read: Reader, bytes: &[u8]) {
    let hex_path = dir().join(format!("{stem}.hex"));
    if hex_path.exists() {
        return;
    }
    let shown = read(bytes).unwrap();
    std::fs::write(&hex_path, hex::encode(bytes) + "\n").unwrap();
    std::fs::write(dir().join(format!("{stem}.txt")), shown).unwrap();
}

fn write_from(source: &Path) {
    use redb::{Database, Key, ReadableDatabase, ReadableTable, TableDefinition};
    fn values<K: Key + 'static>(db: &Database, table: &str) -> Vec<Vec<u8>> {
        let txn = db.begin_read().unwrap();
        let def: TableDefinition<K, &[u8]> = TableDefinition::new(table);
        let Ok(t) = txn.open_table(def) else {
            return Vec::new();
        };
        t.iter()
            .unwrap()
            .map(|e| e.unwrap().1.value().to_vec())
            .collect()
    }
    let copy = tempfile::NamedTempFile::new().unwrap();
    std::fs::copy(source, copy.path()).unwrap();
    let db = Database::create(copy.path()).unwrap();
    type S = &'static str;
    let tables: Vec<(&str, &str, Vec<Vec<u8>>)> = vec![
        ("tenants", "tenants", values::<S>(&db, "tenants")),
        (
            "enroll_tokens",
            "enroll_tokens",
            values::<&[u8]>(&db, "enroll_tokens"),
        ),
        (
            "agents",
            "tenant_agents",
            values::<(S, S)>(&db, "tenant_agents"),
        ),
        (
            "origins",
            "tenant_origins",
            values::<(S, S, S)>(&db, "tenant_origins"),
        ),
        ("stock", "stock", values::<(S, S, S)>(&db, "stock")),
        ("entities", "entities", values::<(S, S)>(&db, "entities")),
        (
            "tenant_log",
            "tenant_log",
            values::<(S, u64)>(&db, "tenant_log"),
        ),
        (
            "tenant_rejects",
            "tenant_rejects",
            values::<(S, S, S, u64)>(&db, "tenant_rejects"),
        ),
        (
            "stock_totals",
            "stock_totals",
            values::<(S, S)>(&db, "stock_totals"),
        ),
        (
            "minute_buckets",
            "minute_buckets",
            values::<(S, i64)>(&db, "minute_buckets"),
        ),
        ("users", "users", values::<(S, S)>(&db, "users")),
        (
            "refresh_tokens",
            "refresh_tokens",
            values::<&[u8]>(&db, "refresh_tokens"),
        ),
        (
            "refresh_families",
            "refresh_families",
            values::<S>(&db, "refresh_families"),
        ),
        (
            "operator_keys",
            "operator_keys",
            values::<&[u8]>(&db, "operator_keys"),
        ),
        ("api_keys", "api_keys", values::<&[u8]>(&db, "api_keys")),
        ("shops", "shops", values::<(S, S)>(&db, "shops")),
        ("orders", "orders", values::<(S, S, S)>(&db, "orders")),
        ("refunds", "refunds", values::<(S, S, S)>(&db, "refunds")),
        (
            "sku_mappings",
            "sku_mappings",
            values::<(S, S, S, S)>(&db, "sku_mappings"),
        ),
        ("members", "members", values::<(S, S)>(&db, "members")),
        (
            "shop_capture",
            "shop_capture",
            values::<(S, S)>(&db, "shop_capture"),
        ),
        (
            "capture_errors",
            "capture_errors",
            values::<(S, S, u64)>(&db, "capture_errors"),
        ),
    ];
    for (name, _table, all) in tables {
        let read = reader(name).unwrap();
        // One value per version, and for the change log one per kind of entry (the enum's
        // variant index is the first payload byte).
        let mut seen = std::collections::BTreeSet::new();
        for bytes in all {
            let kind = if name == "tenant_log" {
                bytes.get(1).copied()
            } else {
                None
            };
            if !seen.insert((bytes[0], kind)) {
                continue;
            }
            let stem = match kind {
                Some(k) => format!("{name}.v{}.{k}", bytes[0]),
                None => format!("{name}.v{}", bytes[0]),
            };
            write_new(&stem, read, &bytes);
        }
    }
}
