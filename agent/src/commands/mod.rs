//! The hub → agent command path, agent side: the command stream, the applier and its durable
//! record.
//!
//! When the config has sinks, the sync session opens a second bidirectional stream after
//! `Welcome`, sends `CommandsReady { sinks }` and serves it ([`stream::serve`]). Each `Command
//! { seq, command }` goes through the [`applier::Applier`]:
//! 1. [`decide::plan`]: a seq already decided is answered from the record, writing nothing; a
//!    delivery already applied under another seq is `AlreadyDone`; a warehouse no sink serves is
//!    `Refused`; otherwise the serving sink applies it (finding the delivery number in the
//!    legacy system first: see [`crate::sinks`]);
//! 2. the outcome, the delivery index entry and the sink's recovery state are recorded in one
//!    durable transaction of `commands.redb` ([`store`]);
//! 3. the sink makes its staged effect visible; then `CommandResult { seq, outcome }` is sent.
//!
//! Invariant: an outcome is sent only once it is durably recorded, and a delivery number is
//! written to a legacy system at most once, whatever crashes and resends happen: a crash
//! before the record leaves either nothing visible (undone by recovery) or the delivery in the
//! legacy system, where the next attempt finds it (`AlreadyDone`). Transient failures are
//! retried, never answered. An agent without sinks never opens the stream.

pub mod applier;
pub mod decide;
pub mod frames;
pub mod store;
pub mod stream;

#[cfg(test)]
mod tests;

pub use applier::{Applier, ApplyError};
pub use stream::{ServeOptions, SharedApplier, serve};
