//! Group commit: intakes that arrive while another holds the write transaction run, one after
//! the other, in that same transaction, and commit together (one write of the pages they share,
//! one fsync), instead of each waiting for the store's one writer and committing alone.
//!
//! - **Each member runs its own intake on its own thread**, in turn: the transaction passes from
//!   one to the next while members are waiting, up to [`BATCH_MEMBERS_MAX`] members or
//!   [`BATCH_HOLD_MAX`] since the batch began; the member that finds nobody waiting (or the
//!   batch full) commits it.
//! - **Nothing is answered before its batch commits**: a member whose intake is done waits for
//!   the commit, even one that admitted nothing (what it decided may rest on what an earlier
//!   member of the batch wrote).
//! - **A failure stays its own**: an intake that fails (or panics) leaves part of what it wrote
//!   in the transaction, so the batch is dropped unwritten and every one of its members runs
//!   again alone, in a transaction of its own ([`super::commit`]), from the copy it kept: the
//!   failing one fails alone, the others go through. A member alone in its batch just fails.

use super::{Intake, Ran, commit, run_in};
use crate::store::table::WriteTx;
use crate::store::{Store, StoreError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use xt_shared::model::UtcMillis;

/// A batch commits once this long has passed since its first member took the transaction: its
/// first member's answer waits for the whole batch.
pub const BATCH_HOLD_MAX: Duration = Duration::from_millis(40);
/// A batch commits once it has this many members.
pub const BATCH_MEMBERS_MAX: usize = 64;

/// The intakes taking turns in the open write transaction.
#[derive(Default)]
pub(super) struct Group {
    state: Mutex<State>,
    /// Signalled when the transaction is free for the next member or a batch ended.
    changed: Condvar,
    /// Batches committed (read by the tests).
    committed: AtomicU64,
}

#[derive(Default)]
struct State {
    /// The open batch, while no member is running in it.
    open: Option<Batch>,
    /// A member holds the transaction (runs its intake, opens or commits a batch).
    busy: bool,
    /// Members waiting for the transaction.
    queued: usize,
    /// The last batch's id.
    last_id: u64,
    /// How batches ended, kept until every member waiting for it has read it: the ending and
    /// how many have yet to read it.
    ended: HashMap<u64, (Ending, usize)>,
}

struct Batch {
    tx: WriteTx,
    id: u64,
    members: usize,
    began: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Committed,
    /// Dropped unwritten: every member runs again alone.
    Dropped,
}

/// How a member's turn ended.
enum Turned {
    /// This member committed the batch.
    Committed(Result<(), StoreError>),
    /// Another member waits with the transaction; the batch ends later.
    HandedOn(u64),
}

impl Group {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A member that panicked released its turn on the way out (`Turn::drop`); the state
        // it left is whole.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `intake` in the open batch (or a new one) and returns once its batch committed.
    pub(super) fn run<I: Intake + Clone>(
        &self,
        store: &Store,
        intake: I,
        now: UtcMillis,
    ) -> Result<Ran<I::Outcome>, StoreError> {
        let again = intake.clone();
        let turn = self.turn(store)?;
        let ran = run_in(&turn.batch().tx, intake, now);
        let alone = turn.batch().members == 1;
        let ran = match ran {
            Ok((ran, _admitted)) => ran,
            // Alone in its batch: the error is its own, as if it had run alone.
            Err(e) if alone => return Err(e),
            Err(_) => {
                // Part of what it wrote is in the transaction: drop the batch; all run alone.
                drop(turn);
                return commit(store, again, now);
            }
        };
        let ending = match turn.end() {
            Turned::Committed(Ok(())) => Ending::Committed,
            Turned::Committed(Err(e)) if alone => return Err(e),
            Turned::Committed(Err(_)) => Ending::Dropped,
            Turned::HandedOn(id) => self.ending(id),
        };
        match ending {
            Ending::Committed => Ok(ran),
            Ending::Dropped => commit(store, again, now),
        }
    }

    /// Waits for the transaction and takes it: the open batch, or a new one.
    fn turn(&self, store: &Store) -> Result<Turn<'_>, StoreError> {
        let mut state = self.lock();
        state.queued += 1;
        while state.busy {
            state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        state.queued -= 1;
        state.busy = true;
        let mut turn = Turn {
            group: self,
            batch: state.open.take(),
            committing: None,
            held: true,
        };
        if turn.batch.is_none() {
            state.last_id += 1;
            let id = state.last_id;
            drop(state);
            // The store's writer may be held outside the pipeline (settings, capture state):
            // wait for it without holding the group's lock. On an error `turn` frees the turn.
            let tx = store.write()?;
            turn.batch = Some(Batch {
                tx,
                id,
                members: 0,
                began: Instant::now(),
            });
        }
        turn.batch_mut().members += 1;
        Ok(turn)
    }

    /// Waits until batch `id` ended.
    fn ending(&self, id: u64) -> Ending {
        let mut state = self.lock();
        loop {
            if let Some((ending, unread)) = state.ended.get_mut(&id) {
                let ending = *ending;
                *unread -= 1;
                if *unread == 0 {
                    state.ended.remove(&id);
                }
                return ending;
            }
            state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// A member holding the transaction. Dropped without [`Turn::end`] (its intake failed or
/// panicked), it drops the batch unwritten and frees the transaction.
struct Turn<'g> {
    group: &'g Group,
    batch: Option<Batch>,
    /// The batch being committed (its id and members): a commit that panics frees the turn too.
    committing: Option<(u64, usize)>,
    /// This member still holds the transaction (`busy`): dropping the turn frees it.
    held: bool,
}

impl Turn<'_> {
    fn batch(&self) -> &Batch {
        self.batch
            .as_ref()
            .expect("a turn holds its batch until it ends")
    }

    fn batch_mut(&mut self) -> &mut Batch {
        self.batch
            .as_mut()
            .expect("a turn holds its batch until it ends")
    }

    /// Hands the batch on to a waiting member, or commits it when nobody waits or it is full.
    fn end(mut self) -> Turned {
        let batch = self
            .batch
            .take()
            .expect("a turn holds its batch until it ends");
        let mut state = self.group.lock();
        let full = batch.members >= BATCH_MEMBERS_MAX || batch.began.elapsed() >= BATCH_HOLD_MAX;
        if state.queued > 0 && !full {
            let id = batch.id;
            state.open = Some(batch);
            state.busy = false;
            self.held = false;
            drop(state);
            self.group.changed.notify_all();
            return Turned::HandedOn(id);
        }
        drop(state);
        self.committing = Some((batch.id, batch.members));
        let committed = batch.tx.commit();
        let (id, members) = self.committing.take().expect("set above");
        let ending = match committed {
            Ok(()) => {
                self.group.committed.fetch_add(1, Ordering::Relaxed);
                Ending::Committed
            }
            Err(_) => Ending::Dropped,
        };
        self.held = false;
        self.group.free(id, members, ending);
        Turned::Committed(committed)
    }
}

impl Group {
    /// Batches committed so far.
    #[cfg(test)]
    pub(super) fn committed(&self) -> u64 {
        self.committed.load(Ordering::Relaxed)
    }

    /// Members waiting for the transaction now.
    #[cfg(test)]
    pub(super) fn queued(&self) -> usize {
        self.lock().queued
    }

    /// Whether a member holds the transaction now.
    #[cfg(test)]
    pub(super) fn busy(&self) -> bool {
        self.lock().busy
    }

    /// Frees the transaction after batch `id` of `members` ended, for the others to read.
    fn free(&self, id: u64, members: usize, ending: Ending) {
        let mut state = self.lock();
        if members > 1 {
            state.ended.insert(id, (ending, members - 1));
        }
        state.busy = false;
        drop(state);
        self.changed.notify_all();
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        if !self.held {
            return;
        }
        if let Some(batch) = self.batch.take() {
            let (id, members) = (batch.id, batch.members);
            // Dropping the transaction uncommitted drops what the batch wrote.
            drop(batch.tx);
            self.group.free(id, members, Ending::Dropped);
        } else if let Some((id, members)) = self.committing.take() {
            self.group.free(id, members, Ending::Dropped);
        } else {
            // `Group::turn` could not open a transaction: there is only the turn to free.
            self.group.free(0, 0, Ending::Dropped);
        }
    }
}
