//! The sync logic as a state machine with no IO and no clock reads.
//!
//! The agent side ([`AgentSync`]) decides what to send next, tracks what was acknowledged and
//! what must be resent after a reconnect. The hub side ([`admit`]) decides which changes of an
//! incoming batch are new. The agent and hub crates drive these over quinn; the tests here drive
//! them against each other in memory with seeded drops, duplicates and crashes.

use crate::change::SourceChange;
use crate::ids::SourceName;
use crate::protocol::{Frame, PROTOCOL_VERSION, Rejection, SourceStatus};
use std::collections::{BTreeMap, VecDeque};

/// Limits on what is in flight. Every queue has a named bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncLimits {
    /// Most changes in one batch.
    pub batch_rows_max: usize,
    /// Most encoded bytes in one batch (the driver stops adding rows past this).
    pub batch_bytes_max: usize,
    /// Most batches sent and not yet acknowledged.
    pub in_flight_max: usize,
}

impl Default for SyncLimits {
    fn default() -> Self {
        SyncLimits {
            batch_rows_max: 4096,
            batch_bytes_max: 2 * 1024 * 1024,
            in_flight_max: 4,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    #[error("hub speaks protocol {hub}, this agent speaks {PROTOCOL_VERSION}")]
    ProtocolVersion { hub: u16 },
    #[error("unexpected {frame} frame while {state}")]
    Unexpected {
        frame: &'static str,
        state: &'static str,
    },
    #[error("ack for batch {got} but the oldest batch in flight is {expected:?}")]
    AckOutOfOrder { got: u64, expected: Option<u64> },
    #[error("hub refused: {0}")]
    Refused(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Disconnected,
    AwaitingWelcome,
    Streaming,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::Disconnected => "disconnected",
            State::AwaitingWelcome => "awaiting welcome",
            State::Streaming => "streaming",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Progress {
    /// Highest seq durable in the outbox.
    durable: u64,
    /// Highest seq the hub acknowledged.
    acked: u64,
    /// Highest seq handed to the connection.
    sent: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct InFlight {
    batch_id: u64,
    source: SourceName,
    last_seq: u64,
}

/// What the driver should read from the outbox and send as the next batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchPlan {
    pub batch_id: u64,
    pub source: SourceName,
    /// First seq to include.
    pub from_seq: u64,
    /// Last seq that is durable; the batch may stop earlier.
    pub to_seq: u64,
    pub rows_max: usize,
    pub bytes_max: usize,
}

/// Something the driver must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncEvent {
    /// Everything up to `up_to` is durable at the hub: the outbox may drop it.
    Trim { source: SourceName, up_to: u64 },
    /// The hub has applied more of this source than the outbox ever held (the outbox was lost
    /// or restored from an old copy). New changes must be numbered after `hub_seq`, or the hub
    /// would skip them as duplicates.
    AheadOfOutbox {
        source: SourceName,
        hub_seq: u64,
        durable_seq: u64,
    },
    /// The hub refused some changes (kept there with their reasons).
    Rejected {
        source: SourceName,
        rejections: Vec<Rejection>,
    },
    /// The handshake finished; batches may flow.
    Resumed,
}

/// The agent's side of a sync connection.
#[derive(Debug)]
pub struct AgentSync {
    limits: SyncLimits,
    state: State,
    sources: BTreeMap<SourceName, Progress>,
    in_flight: VecDeque<InFlight>,
    next_batch_id: u64,
    /// Round-robin position so one busy source cannot starve the others.
    cursor: Option<SourceName>,
    events: VecDeque<SyncEvent>,
}

impl AgentSync {
    /// `sources` gives each source's durable and acknowledged seq as the outbox knows them.
    pub fn new(
        limits: SyncLimits,
        sources: impl IntoIterator<Item = (SourceName, u64, u64)>,
    ) -> Self {
        let sources = sources
            .into_iter()
            .map(|(name, durable, acked)| {
                (
                    name,
                    Progress {
                        durable,
                        acked,
                        sent: acked,
                    },
                )
            })
            .collect();
        AgentSync {
            limits: SyncLimits {
                batch_rows_max: limits.batch_rows_max.max(1),
                batch_bytes_max: limits.batch_bytes_max.max(1),
                in_flight_max: limits.in_flight_max.max(1),
            },
            state: State::Disconnected,
            sources,
            in_flight: VecDeque::new(),
            next_batch_id: 1,
            cursor: None,
            events: VecDeque::new(),
        }
    }

    /// A connection is up: send this `Hello` first.
    pub fn connected(&mut self, agent_version: &str, sources: Vec<SourceStatus>) -> Frame {
        self.reset_in_flight();
        self.state = State::AwaitingWelcome;
        Frame::Hello {
            protocol: PROTOCOL_VERSION,
            agent_version: agent_version.to_owned(),
            sources,
        }
    }

    /// The connection is gone. Whatever was in flight will be resent from the hub's resume point.
    pub fn disconnected(&mut self) {
        self.reset_in_flight();
        self.state = State::Disconnected;
    }

    fn reset_in_flight(&mut self) {
        self.in_flight.clear();
        for p in self.sources.values_mut() {
            p.sent = p.acked;
        }
    }

    pub fn is_streaming(&self) -> bool {
        self.state == State::Streaming
    }

    /// The outbox made changes durable up to `durable_seq` for `source`.
    pub fn outbox_appended(&mut self, source: &SourceName, durable_seq: u64) {
        let p = self.sources.entry(source.clone()).or_default();
        p.durable = p.durable.max(durable_seq);
    }

    /// Changes of `source` durable but not yet acknowledged.
    pub fn backlog(&self, source: &SourceName) -> u64 {
        self.sources
            .get(source)
            .map_or(0, |p| p.durable.saturating_sub(p.acked))
    }

    /// Highest acknowledged seq of `source`.
    pub fn acked(&self, source: &SourceName) -> u64 {
        self.sources.get(source).map_or(0, |p| p.acked)
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// True when every durable change is acknowledged.
    pub fn caught_up(&self) -> bool {
        self.sources.values().all(|p| p.acked >= p.durable)
    }

    /// The next batch to send, if the connection is ready, the in-flight bound allows it and
    /// some source has unsent changes. The driver must answer with [`AgentSync::batch_sent`].
    pub fn poll_batch(&mut self) -> Option<BatchPlan> {
        if self.state != State::Streaming || self.in_flight.len() >= self.limits.in_flight_max {
            return None;
        }
        let names: Vec<&SourceName> = self.sources.keys().collect();
        let start = match &self.cursor {
            Some(c) => names.iter().position(|n| *n > c).unwrap_or(0),
            None => 0,
        };
        let pick = (0..names.len())
            .map(|i| names[(start + i) % names.len()])
            .find(|n| {
                let p = &self.sources[*n];
                p.sent < p.durable
            })?
            .clone();
        let p = self.sources[&pick];
        let batch_id = self.next_batch_id;
        self.next_batch_id += 1;
        self.cursor = Some(pick.clone());
        Some(BatchPlan {
            batch_id,
            source: pick,
            from_seq: p.sent + 1,
            to_seq: p.durable,
            rows_max: self.limits.batch_rows_max,
            bytes_max: self.limits.batch_bytes_max,
        })
    }

    /// The driver sent the plan's batch ending at `last_seq` (or nothing, if `last_seq` is
    /// below the plan's `from_seq`).
    pub fn batch_sent(&mut self, plan: &BatchPlan, last_seq: u64) {
        if last_seq < plan.from_seq {
            return;
        }
        if let Some(p) = self.sources.get_mut(&plan.source) {
            p.sent = p.sent.max(last_seq);
        }
        self.in_flight.push_back(InFlight {
            batch_id: plan.batch_id,
            source: plan.source.clone(),
            last_seq,
        });
    }

    /// A frame from the hub's control stream.
    pub fn handle_frame(&mut self, frame: Frame) -> Result<(), SyncError> {
        match (self.state, frame) {
            (
                State::AwaitingWelcome,
                Frame::Welcome {
                    protocol, resume, ..
                },
            ) => {
                if protocol != PROTOCOL_VERSION {
                    return Err(SyncError::ProtocolVersion { hub: protocol });
                }
                for point in resume {
                    let p = self.sources.entry(point.source.clone()).or_default();
                    if point.applied_seq > p.durable {
                        self.events.push_back(SyncEvent::AheadOfOutbox {
                            source: point.source.clone(),
                            hub_seq: point.applied_seq,
                            durable_seq: p.durable,
                        });
                        p.durable = point.applied_seq;
                    }
                    if point.applied_seq > p.acked {
                        self.events.push_back(SyncEvent::Trim {
                            source: point.source.clone(),
                            up_to: point.applied_seq,
                        });
                    }
                    // The hub is the truth: resume right after what it applied.
                    p.acked = point.applied_seq;
                    p.sent = point.applied_seq;
                }
                self.state = State::Streaming;
                self.events.push_back(SyncEvent::Resumed);
                Ok(())
            }
            (
                State::Streaming,
                Frame::Ack {
                    batch_id,
                    source,
                    applied_seq,
                    rejected,
                },
            ) => {
                let front = self.in_flight.front().map(|f| f.batch_id);
                if front != Some(batch_id) {
                    return Err(SyncError::AckOutOfOrder {
                        got: batch_id,
                        expected: front,
                    });
                }
                let done = self.in_flight.pop_front().expect("front checked above");
                debug_assert_eq!(done.source, source);
                let p = self.sources.entry(source.clone()).or_default();
                if applied_seq > p.acked {
                    p.acked = applied_seq;
                    self.events.push_back(SyncEvent::Trim {
                        source: source.clone(),
                        up_to: applied_seq,
                    });
                }
                if applied_seq < done.last_seq {
                    // The hub did not take all of it (it refused a gap): resend from its point.
                    p.sent = p.sent.min(applied_seq.max(p.acked));
                }
                if !rejected.is_empty() {
                    self.events.push_back(SyncEvent::Rejected {
                        source,
                        rejections: rejected,
                    });
                }
                Ok(())
            }
            (_, Frame::Error { code, message }) => {
                Err(SyncError::Refused(format!("{code:?}: {message}")))
            }
            (state, frame) => Err(SyncError::Unexpected {
                frame: frame.name(),
                state: state.name(),
            }),
        }
    }

    pub fn poll_event(&mut self) -> Option<SyncEvent> {
        self.events.pop_front()
    }
}

impl Frame {
    /// The variant's name, for errors and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Frame::Hello { .. } => "hello",
            Frame::Welcome { .. } => "welcome",
            Frame::Batch { .. } => "batch",
            Frame::Ack { .. } => "ack",
            Frame::Status { .. } => "status",
            Frame::RenewRequest { .. } => "renew request",
            Frame::RenewResponse { .. } => "renew response",
            Frame::EnrollRequest { .. } => "enroll request",
            Frame::EnrollResponse { .. } => "enroll response",
            Frame::Error { .. } => "error",
            Frame::CommandsReady { .. } => "commands ready",
            Frame::Command { .. } => "command",
            Frame::CommandResult { .. } => "command result",
        }
    }
}

/// Which changes of a batch the hub should apply, given what it already applied for the origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    /// Index of the first new change; `changes[first_new..]` are all new.
    pub first_new: usize,
    /// The origin's applied seq once the new changes are applied.
    pub applied_seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdmitError {
    #[error("batch starts at seq {first} but the hub has applied only up to {applied}")]
    Gap { applied: u64, first: u64 },
    #[error("batch seqs are not consecutive at index {index} ({prev} then {next})")]
    NotConsecutive { index: usize, prev: u64, next: u64 },
}

/// Hub side of dedupe: skip what is at or below `applied_seq`, refuse gaps, require the batch to
/// be consecutive. Nothing here has side effects; the hub applies `changes[first_new..]` and
/// stores `applied_seq` in the same write transaction.
pub fn admit(applied_seq: u64, changes: &[SourceChange]) -> Result<Admission, AdmitError> {
    for (i, pair) in changes.windows(2).enumerate() {
        if pair[1].seq != pair[0].seq + 1 {
            return Err(AdmitError::NotConsecutive {
                index: i + 1,
                prev: pair[0].seq,
                next: pair[1].seq,
            });
        }
    }
    let Some(first) = changes.first() else {
        return Ok(Admission {
            first_new: 0,
            applied_seq,
        });
    };
    if first.seq > applied_seq + 1 {
        return Err(AdmitError::Gap {
            applied: applied_seq,
            first: first.seq,
        });
    }
    let first_new = changes
        .iter()
        .position(|c| c.seq > applied_seq)
        .unwrap_or(changes.len());
    let applied_seq = changes
        .last()
        .map_or(applied_seq, |c| c.seq.max(applied_seq));
    Ok(Admission {
        first_new,
        applied_seq,
    })
}

/// Capped exponential backoff with jitter. The caller supplies the randomness.
#[derive(Debug, Clone)]
pub struct Backoff {
    pub base_ms: u64,
    pub max_ms: u64,
    attempt: u32,
}

impl Backoff {
    pub fn new(base_ms: u64, max_ms: u64) -> Self {
        Backoff {
            base_ms: base_ms.max(1),
            max_ms: max_ms.max(base_ms.max(1)),
            attempt: 0,
        }
    }

    /// The delay before the next attempt: uniformly in [cap/2, cap] where cap doubles per failed
    /// attempt up to `max_ms` ("equal jitter": never zero, never above the cap).
    pub fn next_delay_ms(&mut self, random: u64) -> u64 {
        let cap = self
            .base_ms
            .saturating_mul(1u64 << self.attempt.min(32))
            .min(self.max_ms);
        self.attempt = self.attempt.saturating_add(1);
        let half = cap / 2;
        half + random % (cap - half + 1)
    }

    /// Call after a connection succeeded.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Jump to the cap: for failures that retrying soon will not fix.
    pub fn saturate(&mut self) {
        self.attempt = 32;
    }
}

/// Whether a certificate valid from `not_before` to `not_after` should be renewed at `now`
/// (all in seconds since the epoch): once two thirds of its lifetime have passed.
pub fn renewal_due(not_before: i64, not_after: i64, now: i64) -> bool {
    let lifetime = (not_after - not_before).max(0);
    now >= not_before + lifetime * 2 / 3
}

#[cfg(test)]
mod tests;
