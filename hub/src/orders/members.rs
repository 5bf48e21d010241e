//! Which member an order's buyer is: the buyer's identities, the member they link to, and what
//! linking writes (identities new to the index, the member's record).
//!
//! *Invariant:* no IO, no clock: the transaction looks each identity up and passes what it found
//! with `now`. A buyer is the member of its first known identity; a buyer with none known is a
//! new member whose id derives from the tenant and its first identity, so a replay yields the
//! same ids. An identity links to one member for good, and `last_seen` only moves forward.

use super::store::{Identity, MemberRecord};
use sha2::{Digest, Sha256};
use xt_shared::model::UtcMillis;
use xt_shared::order::StandardOrder;

#[cfg(test)]
mod tests;

/// The scope of identities that hold across shops (a hashed email is the same person
/// everywhere); ids a platform issues per shop or app are scoped by the shop.
pub const ANY_SHOP: &str = "*";

/// The buyer's identities, in the order they are tried: open uid, customer id (both scoped by
/// `shop`), hashed email ([`ANY_SHOP`]). Empty values are no identity.
pub fn identities(shop: &str, order: &StandardOrder) -> Vec<Identity> {
    let b = &order.buyer;
    let mut out = Vec::new();
    let mut push = |scope: &str, kind: &str, v: &Option<String>| {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            out.push(Identity {
                platform: order.platform,
                scope: scope.to_owned(),
                kind: kind.to_owned(),
                value: v.to_owned(),
            });
        }
    };
    push(shop, "open_uid", &b.open_uid);
    push(shop, "customer_id", &b.customer_id);
    push(ANY_SHOP, "email_sha256", &b.email_sha256);
    out
}

/// The member of a buyer with identities `ids`, `known[i]` being the member `ids[i]` is linked
/// to already: the first known one's, else `mem-` and a hash of the tenant and the first
/// identity. `None` for a buyer without identities.
pub fn member_id(tenant: &str, ids: &[Identity], known: &[Option<String>]) -> Option<String> {
    let first = ids.first()?;
    Some(match known.iter().flatten().next() {
        Some(member) => member.clone(),
        None => format!(
            "mem-{}",
            hash16(&[tenant, &first.scope, &first.kind, &first.value])
        ),
    })
}

fn hash16(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..8])
}

/// What linking a buyer to its member writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberWrite {
    /// The member's record.
    pub record: MemberRecord,
    /// How many of the record's identities, at its end, are new: each goes into the identity
    /// index, pointing at the member.
    pub new_identities: usize,
}

impl MemberWrite {
    /// The identities to add to the index.
    pub fn new_identities(&self) -> &[Identity] {
        &self.record.identities[self.record.identities.len() - self.new_identities..]
    }
}

/// Links identities `ids` (`known[i]`: the member `ids[i]` is linked to, if any) to `member`
/// (from [`member_id`]), whose record is `stored`, if any: the unknown identities are added to
/// it, and it is seen at `now` if that is later. `None` when nothing changes.
pub fn link(
    member: &str,
    stored: Option<MemberRecord>,
    ids: Vec<Identity>,
    known: &[Option<String>],
    now: UtcMillis,
) -> Option<MemberWrite> {
    assert_eq!(ids.len(), known.len(), "one lookup per identity");
    let mut record = stored.unwrap_or_else(|| MemberRecord {
        id: member.to_owned(),
        identities: Vec::new(),
        first_seen: now,
        last_seen: now,
    });
    let before = record.identities.len();
    record.identities.extend(
        ids.into_iter()
            .zip(known)
            .filter(|(_, known)| known.is_none())
            .map(|(i, _)| i),
    );
    let new_identities = record.identities.len() - before;
    if new_identities == 0 && record.last_seen >= now {
        return None;
    }
    record.last_seen = record.last_seen.max(now);
    Some(MemberWrite {
        record,
        new_identities,
    })
}
