//! The pre-aggregated dashboard tables on a real redb file: stock totals always equal a full
//! recount (seeded random batches, stale versions, refused roles, resends, a migration), and
//! the minute buckets count changes, carry gauges and are pruned after the retention.

use super::store::*;
use crate::store::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use xt_shared::ids::{Sku, WarehouseCode};
use xt_shared::model::StockLevel;
#[allow(unused_imports)]
use xt_shared::{change::*, ids::*, model::*, protocol::*};

const WAREHOUSES: [&str; 3] = ["WH-A", "WH-B", "WH-C"];
const TENANTS: [&str; 2] = ["t1", "t2"];
/// (agent, role): the finance agent's stock changes are refused.
const AGENTS: [(&str, AgentRole); 3] = [
    ("ag-1", AgentRole::Warehouse),
    ("ag-2", AgentRole::Pos),
    ("ag-3", AgentRole::Finance),
];

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("hub.redb")).unwrap();
    (dir, store)
}

/// What the totals must be: a full scan of the stock rows.
fn recount(store: &Store, tenant: &TenantId) -> Vec<(String, StockTotals)> {
    let mut out: BTreeMap<String, StockTotals> = BTreeMap::new();
    for e in store.stock_all(tenant).unwrap() {
        let t = out.entry(e.warehouse).or_default();
        t.skus += 1;
        t.on_hand += e.record.on_hand;
        t.updated_at = t.updated_at.max(Some(e.record.updated_at));
    }
    out.into_iter().collect()
}

/// Random batches from several tenants, agents and sources into one store; versions are drawn
/// from a small range so many changes lose to a newer version already stored; some batches are
/// resent. Round `round` applies its batches at times after every earlier round's. Returns how
/// many changes were applied per tenant.
fn random_batches(
    store: &Store,
    rng: &mut StdRng,
    round: usize,
    batches: usize,
) -> BTreeMap<String, u64> {
    let mut seqs: BTreeMap<(usize, usize, &str), u64> = BTreeMap::new();
    let mut applied: BTreeMap<String, u64> = BTreeMap::new();
    let mut last: Option<(usize, usize, &str, Vec<SourceChange>)> = None;
    for i in 0..batches {
        let now = UtcMillis(1_000 * (round * 10_000 + i) as i64);
        if let Some((t, a, s, changes)) = last.take().filter(|_| rng.random_bool(0.1)) {
            // A resend: already applied, so it must change nothing.
            let out = store
                .apply_batch(
                    &TenantId::new(TENANTS[t]).unwrap(),
                    &AgentId::new(AGENTS[a].0).unwrap(),
                    AGENTS[a].1,
                    &SourceName::new(s).unwrap(),
                    changes,
                    now,
                )
                .unwrap()
                .unwrap();
            assert_eq!(out.applied, 0);
            continue;
        }
        let t = rng.random_range(0..TENANTS.len());
        let a = rng.random_range(0..AGENTS.len());
        let s = ["wms", "pos"][rng.random_range(0..2)];
        let seq = seqs.entry((t, a, s)).or_insert(0);
        let n = rng.random_range(1..=12);
        let changes: Vec<SourceChange> = (0..n)
            .map(|k| SourceChange {
                seq: *seq + 1 + k,
                version: rng.random_range(0..40),
                body: Body::Stock(StockLevel {
                    warehouse: WarehouseCode::new(WAREHOUSES[rng.random_range(0..3)]).unwrap(),
                    sku: Sku::new(format!("S{}", rng.random_range(0..25))).unwrap(),
                    on_hand: rng.random_range(-5..200),
                }),
            })
            .collect();
        *seq += n;
        let out = store
            .apply_batch(
                &TenantId::new(TENANTS[t]).unwrap(),
                &AgentId::new(AGENTS[a].0).unwrap(),
                AGENTS[a].1,
                &SourceName::new(s).unwrap(),
                changes.clone(),
                now,
            )
            .unwrap()
            .unwrap();
        *applied.entry(TENANTS[t].to_owned()).or_default() += out.applied;
        last = Some((t, a, s, changes));
    }
    applied
}

#[test]
fn stock_totals_equal_a_recount_after_random_batches() {
    for seed in 0..6u64 {
        println!("seed {seed}");
        let (_dir, store) = store();
        let mut rng = StdRng::seed_from_u64(seed);
        for round in 0..10 {
            random_batches(&store, &mut rng, round, 30);
            for t in TENANTS {
                let tenant = TenantId::new(t).unwrap();
                assert_eq!(
                    store.stock_totals(&tenant, None).unwrap(),
                    recount(&store, &tenant),
                    "seed {seed}, tenant {t}"
                );
            }
        }
    }
}

#[test]
fn scoped_totals_hold_only_the_asked_warehouses() {
    let (_dir, store) = store();
    random_batches(&store, &mut StdRng::seed_from_u64(7), 0, 60);
    let tenant = TenantId::new("t1").unwrap();
    let all = recount(&store, &tenant);
    let only = [
        WarehouseCode::new("WH-B").unwrap(),
        WarehouseCode::new("WH-NONE").unwrap(),
    ];
    let scoped = store.stock_totals(&tenant, Some(&only)).unwrap();
    let want: Vec<_> = all.into_iter().filter(|(w, _)| w == "WH-B").collect();
    assert_eq!(scoped, want);
    assert!(
        store
            .stock_totals(&TenantId::new("nobody").unwrap(), None)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_hub_without_totals_builds_them_once_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.redb");
    {
        let store = Store::open(&path).unwrap();
        random_batches(&store, &mut StdRng::seed_from_u64(11), 0, 80);
        store.forget_totals().unwrap();
        // A table never written (or dropped) reads as empty.
        assert!(
            store
                .stock_totals(&TenantId::new("t1").unwrap(), None)
                .unwrap()
                .is_empty()
        );
    }
    let store = Store::open(&path).unwrap();
    for t in TENANTS {
        let tenant = TenantId::new(t).unwrap();
        let totals = store.stock_totals(&tenant, None).unwrap();
        assert!(!totals.is_empty());
        assert_eq!(totals, recount(&store, &tenant));
    }
    // And they keep up afterwards.
    random_batches(&store, &mut StdRng::seed_from_u64(12), 1, 40);
    let tenant = TenantId::new("t2").unwrap();
    assert_eq!(
        store.stock_totals(&tenant, None).unwrap(),
        recount(&store, &tenant)
    );
}

#[test]
fn minute_buckets_count_changes_carry_gauges_and_are_pruned() {
    let (_dir, store) = store();
    let t1 = TenantId::new("t1").unwrap();
    let t2 = TenantId::new("t2").unwrap();
    store.create_tenant(&t1, UtcMillis(0)).unwrap();
    store.create_tenant(&t2, UtcMillis(0)).unwrap();
    let base = 100 * BUCKET_RETENTION_MINUTES;
    let at = |minute: i64, secs: i64| UtcMillis(minute * MINUTE_MS + secs * 1_000);
    let stock = |seq: u64, sku: &str| SourceChange {
        seq,
        version: seq as i64,
        body: Body::Stock(StockLevel {
            warehouse: WarehouseCode::new("WH").unwrap(),
            sku: Sku::new(sku).unwrap(),
            on_hand: 1,
        }),
    };
    let apply = |tenant: &TenantId, agent: &str, changes, now| {
        store
            .apply_batch(
                tenant,
                &AgentId::new(agent).unwrap(),
                AgentRole::Warehouse,
                &SourceName::new("wms").unwrap(),
                changes,
                now,
            )
            .unwrap()
            .unwrap()
    };
    apply(&t1, "ag-1", vec![stock(1, "A"), stock(2, "B")], at(base, 5));
    apply(&t1, "ag-1", vec![stock(3, "A")], at(base, 59));
    apply(&t1, "ag-1", vec![stock(4, "C")], at(base + 2, 0));
    apply(&t2, "ag-2", vec![stock(1, "A")], at(base, 30));
    let gauges = BTreeMap::from([(
        t1.clone(),
        Gauges {
            backlog: 7,
            agents_online: 1,
        },
    )]);
    store.record_gauges(&gauges, at(base + 1, 10)).unwrap();

    let w = store.minute_buckets(&t1, base, base + 3).unwrap();
    assert_eq!(w.gauges_before, None);
    let counts: Vec<(i64, u64)> = w.buckets.iter().map(|(m, b)| (*m, b.changes)).collect();
    assert_eq!(counts, [(base, 3), (base + 1, 0), (base + 2, 1)]);
    assert_eq!(
        w.buckets[1].1.gauges(),
        Some(Gauges {
            backlog: 7,
            agents_online: 1
        })
    );
    let later = store.minute_buckets(&t1, base + 2, base + 3).unwrap();
    assert_eq!(later.gauges_before.map(|g| g.backlog), Some(7));
    let other = store.minute_buckets(&t2, base, base + 3).unwrap();
    assert_eq!(other.buckets.len(), 1);
    assert_eq!(other.buckets[0].1.changes, 1);

    // A tick a full retention later drops every bucket older than the retention, all tenants.
    let dropped = store
        .record_gauges(&gauges, at(base + BUCKET_RETENTION_MINUTES + 1, 0))
        .unwrap();
    assert_eq!(dropped, 3, "t1's minutes base and base + 1, t2's base");
    let left = store
        .minute_buckets(&t1, base, base + BUCKET_RETENTION_MINUTES + 1)
        .unwrap();
    let minutes: Vec<i64> = left.buckets.iter().map(|(m, _)| *m).collect();
    assert_eq!(minutes, [base + 2, base + BUCKET_RETENTION_MINUTES + 1]);
    assert!(
        store
            .minute_buckets(&t2, 0, i64::MAX - 1)
            .unwrap()
            .buckets
            .is_empty()
    );
}

#[test]
fn lag_is_the_age_of_the_oldest_change_reported_durable_and_not_applied() {
    let (_dir, store) = store();
    let tenant = TenantId::new("t1").unwrap();
    let agent = AgentId::new("ag-1").unwrap();
    let source = SourceName::new("wms").unwrap();
    let status = |durable_seq, now| {
        store
            .record_status(
                &tenant,
                &agent,
                &[SourceStatus {
                    source: source.clone(),
                    durable_seq,
                    backlog: 0,
                    quarantined: 0,
                    last_error: None,
                }],
                UtcMillis(now),
            )
            .unwrap();
    };
    let apply = |from: u64, to: u64, now| {
        let changes = (from..=to)
            .map(|seq| SourceChange {
                seq,
                version: seq as i64,
                body: Body::Stock(StockLevel {
                    warehouse: WarehouseCode::new("WH").unwrap(),
                    sku: Sku::new("A").unwrap(),
                    on_hand: 1,
                }),
            })
            .collect();
        store
            .apply_batch(
                &tenant,
                &agent,
                AgentRole::Warehouse,
                &source,
                changes,
                UtcMillis(now),
            )
            .unwrap()
            .unwrap();
    };
    let origin = || store.origins(&tenant, &agent).unwrap()[0].1.clone();
    status(0, 1_000);
    assert_eq!(origin().lag_ms(UtcMillis(9_000)), 0, "nothing waiting");
    status(5, 10_000);
    status(8, 20_000);
    status(8, 30_000);
    assert_eq!(
        origin().lag_ms(UtcMillis(35_000)),
        25_000,
        "seq 1..=5 wait since 10 s"
    );
    apply(1, 5, 36_000);
    assert_eq!(origin().last_applied_at, Some(UtcMillis(36_000)));
    assert_eq!(
        origin().lag_ms(UtcMillis(40_000)),
        20_000,
        "seq 6..=8 wait since 20 s"
    );
    apply(6, 8, 41_000);
    assert_eq!(origin().lag_ms(UtcMillis(50_000)), 0);
    // Many reports while nothing is applied: the marks stay bounded and the oldest time stays.
    for i in 0..100u64 {
        status(8 + i + 1, 60_000 + 1_000 * i as i64);
    }
    let o = origin();
    assert!(o.pending.len() <= PENDING_MARKS_MAX);
    assert_eq!(o.lag_ms(UtcMillis(200_000)), 140_000);
}
