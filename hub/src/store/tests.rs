//! The apply path on a real redb file: dedupe by seq, last writer wins by version, role limits,
//! the change log.

use super::*;
use xt_shared::change::Body;
use xt_shared::ids::{Sku, WarehouseCode};
use xt_shared::model::{PaymentFlow, StockLevel};

fn stock(seq: u64, version: i64, sku: &str, on_hand: i64) -> SourceChange {
    SourceChange {
        seq,
        version,
        body: Body::Stock(StockLevel {
            warehouse: WarehouseCode::new("WH").unwrap(),
            sku: Sku::new(sku).unwrap(),
            on_hand,
        }),
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    tenant: TenantId,
    agent: AgentId,
    source: SourceName,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("hub.redb")).unwrap();
    Fixture {
        _dir: dir,
        store,
        tenant: TenantId::new("t1").unwrap(),
        agent: AgentId::new("ag-1").unwrap(),
        source: SourceName::new("wms").unwrap(),
    }
}

impl Fixture {
    fn apply(
        &self,
        role: AgentRole,
        changes: Vec<SourceChange>,
    ) -> Result<BatchOutcome, AdmitError> {
        self.store
            .apply_batch(
                &self.tenant,
                &self.agent,
                role,
                &self.source,
                changes,
                UtcMillis(0),
            )
            .unwrap()
    }
    fn on_hand(&self) -> Vec<(String, i64)> {
        self.store
            .stock_all(&self.tenant)
            .unwrap()
            .into_iter()
            .map(|e| (e.sku, e.record.on_hand))
            .collect()
    }
}

#[test]
fn resent_batches_are_applied_once() {
    let f = fixture();
    let batch = vec![stock(1, 10, "A", 1), stock(2, 11, "B", 2)];
    let first = f.apply(AgentRole::Warehouse, batch.clone()).unwrap();
    assert_eq!((first.applied, first.skipped, first.applied_seq), (2, 0, 2));
    let again = f.apply(AgentRole::Warehouse, batch).unwrap();
    assert_eq!((again.applied, again.skipped, again.applied_seq), (0, 2, 2));
    // Overlapping resend: only the new tail counts.
    let overlap = f
        .apply(
            AgentRole::Warehouse,
            vec![stock(2, 11, "B", 2), stock(3, 12, "C", 3)],
        )
        .unwrap();
    assert_eq!(
        (overlap.applied, overlap.skipped, overlap.applied_seq),
        (1, 1, 3)
    );
    let origins = f.store.origins(&f.tenant, &f.agent).unwrap();
    assert_eq!(origins[0].1.records_applied, 3);
    assert_eq!(origins[0].1.applied_seq, 3);
    assert_eq!(f.store.change_log(&f.tenant).unwrap().len(), 3);
}

#[test]
fn a_gap_is_refused_and_changes_nothing() {
    let f = fixture();
    assert!(matches!(
        f.apply(AgentRole::Warehouse, vec![stock(5, 1, "A", 1)]),
        Err(AdmitError::Gap { .. })
    ));
    assert!(f.on_hand().is_empty());
    assert!(f.store.origins(&f.tenant, &f.agent).unwrap().is_empty());
}

#[test]
fn a_stale_version_never_overwrites_a_newer_one() {
    let f = fixture();
    f.apply(AgentRole::Warehouse, vec![stock(1, 100, "A", 7)])
        .unwrap();
    f.apply(AgentRole::Warehouse, vec![stock(2, 50, "A", 1)])
        .unwrap();
    assert_eq!(f.on_hand(), vec![("A".to_owned(), 7)]);
    f.apply(AgentRole::Warehouse, vec![stock(3, 100, "A", 9)])
        .unwrap();
    assert_eq!(
        f.on_hand(),
        vec![("A".to_owned(), 9)],
        "an equal version is a later write"
    );
}

#[test]
fn a_role_writes_only_its_entities_and_refusals_are_kept() {
    let f = fixture();
    let flow = SourceChange {
        seq: 2,
        version: 1,
        body: Body::PaymentFlow(PaymentFlow {
            account: "acct".parse().unwrap(),
            flow_no: "F1".parse().unwrap(),
            direction: xt_shared::model::FlowDirection::In,
            amount: xt_shared::money::Money::new(100, xt_shared::money::Currency::CNY),
            fee: xt_shared::money::Money::new(0, xt_shared::money::Currency::CNY),
            order_ref: None,
            occurred_at: UtcMillis(0),
        }),
    };
    let out = f
        .apply(AgentRole::Warehouse, vec![stock(1, 1, "A", 1), flow])
        .unwrap();
    assert_eq!(out.applied, 1);
    assert_eq!(
        out.applied_seq, 2,
        "a refused change still advances the seq"
    );
    assert_eq!(out.rejected.len(), 1);
    assert!(
        out.rejected[0]
            .reason
            .contains("may not write payment_flow"),
        "{:?}",
        out.rejected
    );
    let origin = &f.store.origins(&f.tenant, &f.agent).unwrap()[0].1;
    assert_eq!((origin.records_applied, origin.records_rejected), (1, 1));
}

#[test]
fn tokens_are_single_use_and_expire() {
    let f = fixture();
    let token = TokenRecord {
        tenant: f.tenant.clone(),
        site: SiteId::new("s").unwrap(),
        role: AgentRole::Pos,
        created_at: UtcMillis(0),
        expires_at: UtcMillis(1_000),
        used_by: None,
    };
    f.store.insert_token("xte_secret", &token).unwrap();
    let record = |t: &TokenRecord| AgentRecord {
        tenant: t.tenant.clone(),
        site: t.site.clone(),
        role: t.role,
        enrolled_at: UtcMillis(0),
        cert_serial: "01".into(),
        cert_not_after: UtcMillis(0),
        prev_cert_serial: None,
        revoked_at: None,
        last_seen: None,
    };
    let a2 = AgentId::new("ag-2").unwrap();
    assert!(matches!(
        f.store
            .redeem_token("nope", &f.agent, record, UtcMillis(1))
            .unwrap(),
        Err(TokenRefusal::Unknown)
    ));
    assert!(matches!(
        f.store
            .redeem_token("xte_secret", &f.agent, record, UtcMillis(2_000))
            .unwrap(),
        Err(TokenRefusal::Expired)
    ));
    assert!(
        f.store
            .redeem_token("xte_secret", &f.agent, record, UtcMillis(1))
            .unwrap()
            .is_ok()
    );
    assert!(matches!(
        f.store
            .redeem_token("xte_secret", &a2, record, UtcMillis(1))
            .unwrap(),
        Err(TokenRefusal::Used)
    ));
    assert!(f.store.agent(&a2).unwrap().is_none());
}

#[test]
fn agent_entries_share_the_log_but_not_change_log() {
    let f = fixture();
    f.apply(AgentRole::Warehouse, vec![stock(1, 1, "A", 1)])
        .unwrap();
    let key = f
        .store
        .log_agent_event(AgentLogged {
            tenant: f.tenant.clone(),
            agent: f.agent.clone(),
            site: SiteId::new("s1").unwrap(),
            connected: true,
            at: UtcMillis(0),
        })
        .unwrap();
    assert_eq!(key, 2);
    f.apply(AgentRole::Warehouse, vec![stock(2, 2, "B", 2)])
        .unwrap();
    assert_eq!(f.store.last_log_position(&f.tenant).unwrap(), 3);
    assert_eq!(f.store.change_log(&f.tenant).unwrap().len(), 2);
    let page = |after, limit| f.store.tenant_log_page(&f.tenant, after, limit).unwrap();
    let first = page(0, 2).entries;
    assert_eq!(first.iter().map(|(k, _)| *k).collect::<Vec<_>>(), [1, 2]);
    assert!(matches!(first[1].1, LogEntry::Agent(ref a) if a.connected));
    let rest = page(2, 10).entries;
    assert_eq!(rest.len(), 1);
    assert!(matches!(rest[0].1, LogEntry::Batch(_)));
    assert!(page(3, 10).entries.is_empty());
    assert!(page(u64::MAX, 10).entries.is_empty());
    // Another tenant's log is its own.
    let other = TenantId::new("t2").unwrap();
    assert!(
        f.store
            .tenant_log_page(&other, 0, 10)
            .unwrap()
            .entries
            .is_empty()
    );
}
