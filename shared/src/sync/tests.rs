//! The sync state machine driven against an in-memory hub with seeded faults: disconnects,
//! agent crashes (only the outbox survives), hub crashes (an unapplied batch is lost) and
//! resends, over 10,000 seeds by default (`XT_SIM_RUNS`, from `XT_SIM_SEED`). The seed is printed
//! first; failing seeds go into `REGRESSION_SEEDS`.

use super::*;
use crate::change::{Body, SourceChange};
use crate::ids::{Sku, WarehouseCode};
use crate::model::StockLevel;
use crate::protocol::ResumePoint;
use std::collections::HashMap;

/// Seeds that once failed. Keep them forever.
const REGRESSION_SEEDS: &[u64] = &[];

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // SplitMix64: tiny, good enough, deterministic.
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn source(n: usize) -> SourceName {
    SourceName::new(format!("src{n}")).unwrap()
}

/// The agent's durable outbox: what survives an agent crash.
#[derive(Default)]
struct Outbox {
    rows: BTreeMap<SourceName, VecDeque<SourceChange>>,
    next_seq: BTreeMap<SourceName, u64>,
    acked: BTreeMap<SourceName, u64>,
}

impl Outbox {
    fn append(&mut self, src: &SourceName, body: Body, version: i64) -> u64 {
        let seq = self.next_seq.entry(src.clone()).or_insert(1);
        let change = SourceChange {
            seq: *seq,
            version,
            body,
        };
        *seq += 1;
        self.rows.entry(src.clone()).or_default().push_back(change);
        *seq - 1
    }
    fn durable(&self, src: &SourceName) -> u64 {
        self.next_seq.get(src).map_or(0, |s| s - 1)
    }
    fn trim(&mut self, src: &SourceName, up_to: u64) {
        let acked = self.acked.entry(src.clone()).or_default();
        *acked = (*acked).max(up_to);
        if let Some(q) = self.rows.get_mut(src) {
            while q.front().is_some_and(|c| c.seq <= up_to) {
                q.pop_front();
            }
        }
    }
    fn read(&self, plan: &BatchPlan) -> Vec<SourceChange> {
        self.rows
            .get(&plan.source)
            .into_iter()
            .flatten()
            .filter(|c| c.seq >= plan.from_seq && c.seq <= plan.to_seq)
            .take(plan.rows_max)
            .cloned()
            .collect()
    }
    fn state_machine(&self, limits: SyncLimits) -> AgentSync {
        let names: Vec<SourceName> = self.next_seq.keys().cloned().collect();
        AgentSync::new(
            limits,
            names.into_iter().map(|n| {
                let d = self.durable(&n);
                let a = self.acked.get(&n).copied().unwrap_or(0);
                (n, d, a)
            }),
        )
    }
}

/// The hub's durable state.
#[derive(Default)]
struct Hub {
    applied: HashMap<SourceName, u64>,
    stock: HashMap<(String, String), (i64, i64)>,
    records_applied: u64,
}

impl Hub {
    fn welcome(&self) -> Frame {
        let mut resume: Vec<ResumePoint> = self
            .applied
            .iter()
            .map(|(s, a)| ResumePoint {
                source: s.clone(),
                applied_seq: *a,
            })
            .collect();
        resume.sort_by(|a, b| a.source.cmp(&b.source));
        Frame::Welcome {
            protocol: PROTOCOL_VERSION,
            agent: crate::ids::AgentId::new("a1").unwrap(),
            resume,
        }
    }

    fn apply(&mut self, batch_id: u64, source: SourceName, changes: Vec<SourceChange>) -> Frame {
        let applied = self.applied.get(&source).copied().unwrap_or(0);
        let admission = admit(applied, &changes).expect("agent never sends gaps");
        for c in &changes[admission.first_new..] {
            let Body::Stock(s) = &c.body else {
                unreachable!()
            };
            let key = (s.warehouse.to_string(), s.sku.to_string());
            let entry = self.stock.entry(key).or_insert((i64::MIN, 0));
            if c.version >= entry.0 {
                *entry = (c.version, s.on_hand);
            }
            self.records_applied += 1;
        }
        self.applied.insert(source.clone(), admission.applied_seq);
        Frame::Ack {
            batch_id,
            source,
            applied_seq: admission.applied_seq,
            rejected: vec![],
        }
    }
}

fn run(seed: u64) {
    println!("sync simulation seed {seed}");
    let mut rng = Rng(seed);
    let limits = SyncLimits {
        batch_rows_max: 1 + (rng.next() % 20) as usize,
        batch_bytes_max: usize::MAX,
        in_flight_max: 1 + (rng.next() % 4) as usize,
    };
    let sources: Vec<SourceName> = (0..3).map(source).collect();
    let mut outbox = Outbox::default();
    let mut hub = Hub::default();
    let mut truth: HashMap<(String, String), (i64, i64)> = HashMap::new();
    let mut produced = 0u64;
    let mut agent = outbox.state_machine(limits);
    let mut to_hub: VecDeque<Frame> = VecDeque::new();
    let mut to_agent: VecDeque<Frame> = VecDeque::new();
    let mut connected = false;
    let mut version = 0i64;

    for step in 0..4000 {
        let calm = step >= 3000; // the last stretch has no faults so everything must converge
        // The source produces a row.
        if step < 2500 && rng.chance(40) {
            let src = &sources[(rng.next() % 3) as usize];
            let sku = format!("SKU{}", rng.next() % 30);
            version += 1;
            let on_hand = (rng.next() % 1000) as i64;
            let body = Body::Stock(StockLevel {
                warehouse: WarehouseCode::new("WH1").unwrap(),
                sku: Sku::new(sku.clone()).unwrap(),
                on_hand,
            });
            let seq = outbox.append(src, body, version);
            agent.outbox_appended(src, seq);
            truth.insert(("WH1".into(), sku), (version, on_hand));
            produced += 1;
        }
        if !calm && rng.chance(2) {
            // The connection drops: whatever is on the wire is lost.
            to_hub.clear();
            to_agent.clear();
            agent.disconnected();
            connected = false;
        }
        if !calm && rng.chance(1) {
            // The agent is killed: only the outbox survives.
            to_hub.clear();
            to_agent.clear();
            agent = outbox.state_machine(limits);
            connected = false;
        }
        if !connected {
            let hello = agent.connected("test", vec![]);
            assert!(matches!(hello, Frame::Hello { .. }));
            to_agent.push_back(hub.welcome());
            connected = true;
        }
        // The agent sends what it may.
        while let Some(plan) = agent.poll_batch() {
            let changes = outbox.read(&plan);
            let last = changes.last().map_or(0, |c| c.seq);
            agent.batch_sent(&plan, last);
            if !changes.is_empty() {
                to_hub.push_back(Frame::Batch {
                    batch_id: plan.batch_id,
                    source: plan.source,
                    changes,
                });
            }
        }
        // The hub takes one batch, unless it crashes before committing it.
        if let Some(Frame::Batch {
            batch_id,
            source,
            changes,
        }) = to_hub.pop_front()
        {
            if !calm && rng.chance(2) {
                to_hub.clear();
                to_agent.clear();
                agent.disconnected();
                connected = false;
                continue;
            }
            to_agent.push_back(hub.apply(batch_id, source, changes));
        }
        // The agent reads one control frame.
        if let Some(frame) = to_agent.pop_front() {
            agent.handle_frame(frame).expect("valid frames in order");
            while let Some(ev) = agent.poll_event() {
                if let SyncEvent::Trim { source, up_to } = ev {
                    // Agent may crash before persisting the trim: then it just resends.
                    if calm || !rng.chance(5) {
                        outbox.trim(&source, up_to);
                    }
                }
            }
        }
    }
    assert!(agent.caught_up(), "seed {seed}: agent not caught up");
    assert_eq!(
        hub.stock, truth,
        "seed {seed}: hub state differs from the source"
    );
    assert_eq!(
        hub.records_applied, produced,
        "seed {seed}: duplicates or losses"
    );
    for s in &sources {
        assert_eq!(hub.applied.get(s).copied().unwrap_or(0), outbox.durable(s));
    }
}

#[test]
fn simulation_converges_under_faults() {
    let base = std::env::var("XT_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0xC0FFEE);
    let runs = std::env::var("XT_SIM_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000u64);
    for seed in REGRESSION_SEEDS
        .iter()
        .copied()
        .chain((0..runs).map(|i| base + i))
    {
        run(seed);
    }
}

fn stock_change(seq: u64) -> SourceChange {
    SourceChange {
        seq,
        version: seq as i64,
        body: Body::Stock(StockLevel {
            warehouse: WarehouseCode::new("W").unwrap(),
            sku: Sku::new("S").unwrap(),
            on_hand: 1,
        }),
    }
}

#[test]
fn admit_skips_applied_and_refuses_gaps() {
    let batch: Vec<_> = (5..=9).map(stock_change).collect();
    assert_eq!(
        admit(4, &batch),
        Ok(Admission {
            first_new: 0,
            applied_seq: 9
        })
    );
    assert_eq!(
        admit(6, &batch),
        Ok(Admission {
            first_new: 2,
            applied_seq: 9
        })
    );
    assert_eq!(
        admit(12, &batch),
        Ok(Admission {
            first_new: 5,
            applied_seq: 12
        })
    );
    assert_eq!(
        admit(2, &batch),
        Err(AdmitError::Gap {
            applied: 2,
            first: 5
        })
    );
    let holey = vec![stock_change(1), stock_change(3)];
    assert!(matches!(
        admit(0, &holey),
        Err(AdmitError::NotConsecutive { .. })
    ));
    assert_eq!(
        admit(3, &[]),
        Ok(Admission {
            first_new: 0,
            applied_seq: 3
        })
    );
}

#[test]
fn ack_out_of_order_is_an_error() {
    let s = source(0);
    let mut agent = AgentSync::new(SyncLimits::default(), [(s.clone(), 10, 0)]);
    agent.connected("t", vec![]);
    agent
        .handle_frame(Frame::Welcome {
            protocol: PROTOCOL_VERSION,
            agent: crate::ids::AgentId::new("a").unwrap(),
            resume: vec![],
        })
        .unwrap();
    let plan = agent.poll_batch().unwrap();
    agent.batch_sent(&plan, 4);
    let err = agent
        .handle_frame(Frame::Ack {
            batch_id: 99,
            source: s,
            applied_seq: 4,
            rejected: vec![],
        })
        .unwrap_err();
    assert!(matches!(err, SyncError::AckOutOfOrder { got: 99, .. }));
}

#[test]
fn hub_ahead_of_outbox_is_reported() {
    let s = source(0);
    let mut agent = AgentSync::new(SyncLimits::default(), [(s.clone(), 3, 3)]);
    agent.connected("t", vec![]);
    agent
        .handle_frame(Frame::Welcome {
            protocol: PROTOCOL_VERSION,
            agent: crate::ids::AgentId::new("a").unwrap(),
            resume: vec![ResumePoint {
                source: s.clone(),
                applied_seq: 50,
            }],
        })
        .unwrap();
    assert_eq!(
        agent.poll_event(),
        Some(SyncEvent::AheadOfOutbox {
            source: s.clone(),
            hub_seq: 50,
            durable_seq: 3
        })
    );
    assert_eq!(agent.acked(&s), 50);
}

#[test]
fn welcome_with_other_protocol_is_refused() {
    let mut agent = AgentSync::new(SyncLimits::default(), []);
    agent.connected("t", vec![]);
    let err = agent
        .handle_frame(Frame::Welcome {
            protocol: PROTOCOL_VERSION + 1,
            agent: crate::ids::AgentId::new("a").unwrap(),
            resume: vec![],
        })
        .unwrap_err();
    assert!(matches!(err, SyncError::ProtocolVersion { .. }));
}

#[test]
fn backoff_is_capped_and_jittered() {
    let mut b = Backoff::new(100, 5000);
    let delays: Vec<u64> = (0..10).map(|i| b.next_delay_ms(i * 7919)).collect();
    assert!(delays.iter().all(|d| *d >= 50 && *d <= 5000), "{delays:?}");
    assert!(delays[9] >= 2500);
    b.reset();
    assert!(b.next_delay_ms(u64::MAX) <= 100);
    b.saturate();
    assert!(
        b.next_delay_ms(0) >= 2500,
        "a saturated backoff waits at least half the cap"
    );
}

#[test]
fn renewal_happens_after_two_thirds() {
    assert!(!renewal_due(0, 90, 59));
    assert!(renewal_due(0, 90, 60));
}
