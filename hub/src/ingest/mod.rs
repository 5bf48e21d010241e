//! The one path every change takes into the hub: **admit** (idempotency: what of this input is
//! new) → **apply** each change to the room that owns it → **append** what was applied to the
//! tenant's change log → **commit**, all in one write transaction → **wake** the event streams.
//! Intakes that arrive while another holds the transaction join it and commit with it, each
//! still answered only once that commit is durable ([`group`]).
//!
//! An input kind is an [`Intake`]: an agent's batch ([`crate::agents::intake::AgentBatch`]), an
//! agent connecting or leaving ([`crate::agents::intake::AgentPresence`]), a shop's captured
//! items from a poll or a webhook ([`crate::orders::intake::ShopItems`]), and next the results
//! of the hub's commands. A new kind is one more `Intake`; it never opens its own transaction,
//! never appends to the log itself and never wakes anyone.
//!
//! *Invariant:* nothing is acknowledged (the outcome returned) before the transaction that
//! applied it and logged it committed; a change and its log entry commit together or not at
//! all; an intake that admits nothing writes nothing.

mod group;
#[cfg(test)]
mod group_tests;

use crate::events::log;
use crate::store::table::WriteTx;
use crate::store::{LogEntry, Store, StoreError};
use xt_shared::model::UtcMillis;

/// One kind of input to the hub. The served hub's pipeline also needs it `Clone`: a member of a
/// group commit whose batch was dropped (another member failed) runs again from its copy.
pub trait Intake: Sized {
    /// What admission lets through to [`Intake::apply`].
    type Admitted;
    /// What the sender learns (an agent's ack, a capture page's counts).
    type Outcome;

    /// Decides, from what the store holds, what of this input is new. `Err(outcome)`: nothing
    /// to apply; the outcome is answered and the transaction is dropped unwritten.
    fn admit(self, tx: &WriteTx) -> Result<Result<Self::Admitted, Self::Outcome>, StoreError>;

    /// Applies the admitted changes to their rooms' tables in `tx`; returns the entries for the
    /// tenant's change log (appended by the pipeline, in order) and the outcome.
    fn apply(
        admitted: Self::Admitted,
        tx: &WriteTx,
        now: UtcMillis,
    ) -> Result<Applied<Self::Outcome>, StoreError>;
}

/// What an intake applied.
pub struct Applied<O> {
    /// Change-log entries, each for its tenant.
    pub log: Vec<LogEntry>,
    pub outcome: O,
}

/// An intake's outcome and the log positions of what it appended (none: nobody needs waking).
pub type Ran<O> = (O, Vec<u64>);

/// Runs `intake` through admit → apply → append → commit, in a transaction of its own. Returns
/// the outcome and the log positions of what was appended; [`Pipeline::run`] is the served
/// hub's way in, which commits intakes arriving together as one ([`group`]) and wakes.
pub fn commit<I: Intake>(
    store: &Store,
    intake: I,
    now: UtcMillis,
) -> Result<Ran<I::Outcome>, StoreError> {
    let tx = store.write()?;
    let (ran, admitted) = run_in(&tx, intake, now)?;
    // Nothing admitted, nothing written: the transaction is dropped unwritten.
    if admitted {
        tx.commit()?;
    }
    Ok(ran)
}

/// Admit → apply → append, in `tx`; whether anything was admitted (if not, nothing was
/// written).
fn run_in<I: Intake>(
    tx: &WriteTx,
    intake: I,
    now: UtcMillis,
) -> Result<(Ran<I::Outcome>, bool), StoreError> {
    let admitted = match intake.admit(tx)? {
        Ok(admitted) => admitted,
        Err(outcome) => return Ok(((outcome, Vec::new()), false)),
    };
    let Applied {
        log: entries,
        outcome,
    } = I::apply(admitted, tx, now)?;
    let positions = log::append(tx, &entries)?;
    Ok(((outcome, positions), true))
}

/// The served hub's ingest: intakes arriving together commit together ([`group`]), then the
/// event streams are woken when the log grew.
pub struct Pipeline {
    grew: tokio::sync::watch::Sender<u64>,
    group: group::Group,
}

impl Default for Pipeline {
    fn default() -> Self {
        Pipeline {
            grew: tokio::sync::watch::Sender::new(0),
            group: group::Group::default(),
        }
    }
}

impl Pipeline {
    /// Runs `intake` into `store` at `now` and wakes subscribers if it logged anything.
    pub fn run<I: Intake + Clone>(
        &self,
        store: &Store,
        intake: I,
        now: UtcMillis,
    ) -> Result<I::Outcome, StoreError> {
        let (outcome, positions) = self.group.run(store, intake, now)?;
        if !positions.is_empty() {
            self.wake();
        }
        Ok(outcome)
    }

    /// Wakes event streams: a tenant's change log grew (or a stream should look again).
    pub fn wake(&self) {
        self.grew.send_modify(|k| *k = k.wrapping_add(1));
    }

    /// A receiver that changes whenever a change log grows (its value counts the wake-ups).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.grew.subscribe()
    }
}
