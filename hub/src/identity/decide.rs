//! What identity decides, apart from the tables: what presenting a refresh token does.
//!
//! *Invariant:* no IO, no clock, no randomness: the stored state, the input and `now` come in, a
//! decision comes out. The transactions of `store.rs` load the state, call these and write what
//! they return, nothing else.

use super::store::{FamilyRecord, RefreshRecord};
use xt_shared::model::UtcMillis;

#[cfg(test)]
mod tests;

/// What is stored about a presented refresh token.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RefreshState<'a> {
    /// The presented token's record, if it is known.
    pub token: Option<&'a RefreshRecord>,
    /// Its family's record, if it is stored.
    pub family: Option<&'a FamilyRecord>,
    /// The record of the successor the token was traded for before, if it was and is stored.
    pub handed_out: Option<&'a RefreshRecord>,
}

/// One presentation of a refresh token: when, the grace of a retry, and what it would trade for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Presenting<'a> {
    pub now: UtcMillis,
    /// How long after its first use a used token may come back as a retry.
    pub grace_ms: i64,
    /// Hash of the fresh successor.
    pub successor: &'a [u8; 32],
    /// When the fresh successor expires.
    pub expires_at: UtcMillis,
}

/// What presenting a refresh token does, and what to write for it.
#[derive(Debug, Clone)]
pub(crate) enum RefreshDecision {
    /// Unknown, expired, or of a revoked or missing family: nothing is written.
    Refused,
    /// A replay: the family (its id and record), revoked, is written; the token is refused.
    Revoke(String, FamilyRecord),
    /// Accepted: write the records of the rotation.
    Rotate(Box<Rotation>),
}

/// The records a rotation writes.
#[derive(Debug, Clone)]
pub(crate) struct Rotation {
    /// The presented token, marked used (at its first use) and naming the fresh successor.
    pub presented: RefreshRecord,
    /// On a retry within grace: the hash and record of the successor handed out before, marked
    /// used in favour of the fresh one, so the family stays one chain.
    pub superseded: Option<(Vec<u8>, RefreshRecord)>,
    /// The fresh successor.
    pub next: RefreshRecord,
}

/// A token is used once. A used token that comes back within the grace of its first use (a
/// client retrying a request whose answer it lost) gets a fresh successor, if the one it got
/// before was not used yet; any other reuse is a replay and revokes the family.
pub(crate) fn use_refresh(state: RefreshState<'_>, p: Presenting<'_>) -> RefreshDecision {
    let (Some(token), Some(family)) = (state.token, state.family) else {
        return RefreshDecision::Refused;
    };
    if family.revoked_at.is_some() || token.expires_at <= p.now {
        return RefreshDecision::Refused;
    }
    let superseded = match (token.rotated_at, &token.successor) {
        (None, _) => None,
        (Some(at), Some(prev)) if p.now.0 - at.0 <= p.grace_ms => match state.handed_out {
            Some(handed) if handed.rotated_at.is_none() => Some((
                prev.clone(),
                RefreshRecord {
                    rotated_at: Some(p.now),
                    successor: Some(p.successor.to_vec()),
                    ..handed.clone()
                },
            )),
            _ => return revoke(token, family, p.now),
        },
        (Some(_), _) => return revoke(token, family, p.now),
    };
    let presented = RefreshRecord {
        rotated_at: Some(token.rotated_at.unwrap_or(p.now)),
        successor: Some(p.successor.to_vec()),
        ..token.clone()
    };
    let next = RefreshRecord {
        issued_at: p.now,
        expires_at: p.expires_at,
        rotated_at: None,
        successor: None,
        ..token.clone()
    };
    RefreshDecision::Rotate(Box::new(Rotation {
        presented,
        superseded,
        next,
    }))
}

fn revoke(token: &RefreshRecord, family: &FamilyRecord, now: UtcMillis) -> RefreshDecision {
    RefreshDecision::Revoke(
        token.family.clone(),
        FamilyRecord {
            revoked_at: Some(now),
            ..family.clone()
        },
    )
}
