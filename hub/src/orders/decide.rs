//! What applying one captured item decides, apart from the tables: whether an order or a refund
//! is stale, a duplicate or applies, and what the applied record is (per-field provenance, the
//! hold reason from its lines' SKUs); whether a malformed payload is a new capture error, and
//! how much of its raw payload is kept.
//!
//! *Invariant:* no IO, no clock, no randomness: the stored state, the input and `now` come in, a
//! decision value comes out. The transactions of `orders.rs` load the state, call these and write
//! what they return, nothing else; an older platform `modified` never overwrites a newer one.

use super::store::{CaptureErrorRecord, CapturedOrder, CapturedRefund, Provenance};
use sha2::{Digest, Sha256};
use xt_shared::ids::DocNo;
use xt_shared::model::UtcMillis;
use xt_shared::order::{StandardOrder, StandardRefund};

#[cfg(test)]
mod tests;

/// What to do with a captured item, given what is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict<T> {
    /// Apply it; `T` says what to write.
    Apply(T),
    /// Older than what is stored: never overwrites it.
    Stale,
    /// The same as what is stored: nothing to write.
    Duplicate,
}

impl<T> Verdict<T> {
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Verdict<U> {
        match self {
            Verdict::Apply(t) => Verdict::Apply(f(t)),
            Verdict::Stale => Verdict::Stale,
            Verdict::Duplicate => Verdict::Duplicate,
        }
    }
}

/// Who applies an item, and when.
#[derive(Debug, Clone, Copy)]
pub struct Applying<'a> {
    pub shop: &'a str,
    /// The origin's text (`shop/<shop>`), recorded in provenance and on refunds.
    pub origin: &'a str,
    pub now: UtcMillis,
}

/// Whether a captured order applies over the stored one: an older platform `modified` is stale,
/// the same `modified` with the same content a duplicate; a new order, a newer `modified` or
/// other content at the same `modified` applies.
pub fn order(stored: Option<&CapturedOrder>, order: &StandardOrder) -> Verdict<()> {
    match stored {
        Some(old) if old.version() > order.times.modified.0 => Verdict::Stale,
        Some(old) if old.version() == order.times.modified.0 && old.order == *order => {
            Verdict::Duplicate
        }
        _ => Verdict::Apply(()),
    }
}

/// What applying an order writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderWrite {
    pub record: CapturedOrder,
    /// What the stored version put in the indexes, to take out; `None` for a new order.
    pub replaces: Option<Replaced>,
}

/// The index entries of the stored version of an order that an applied one replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replaced {
    /// Its listing key's `modified`.
    pub version: i64,
    /// It was held (counted in the shop's `held`).
    pub held: bool,
    /// Its member, when the new version links to another one (or none).
    pub unlinked_member: Option<String>,
}

/// The record of an order that [`order`] let apply: `skus` are its lines' internal SKUs as the
/// mappings give them (see `skus::line_skus`), `member` the buyer's member.
pub fn apply_order(
    stored: Option<CapturedOrder>,
    order: StandardOrder,
    skus: Vec<Option<String>>,
    member: Option<String>,
    by: &Applying<'_>,
) -> OrderWrite {
    let version = order.times.modified.0;
    let record = CapturedOrder {
        shop: by.shop.to_owned(),
        provenance: provenance(stored.as_ref(), &order, by.origin, version, by.now),
        held: hold_reason(&order, &skus),
        internal_skus: skus,
        member,
        first_seen: stored.as_ref().map_or(by.now, |o| o.first_seen),
        updated_at: by.now,
        order,
    };
    let replaces = stored.map(|old| Replaced {
        version: old.version(),
        held: old.held.is_some(),
        unlinked_member: old.member.filter(|m| Some(m) != record.member.as_ref()),
    });
    OrderWrite { record, replaces }
}

/// The field groups of an order, each encoded so two versions compare cheaply.
fn field_groups(o: &StandardOrder) -> Vec<(String, Vec<u8>)> {
    let e = |v: &dyn erased::Enc| v.bytes();
    let mut out = vec![
        ("status".to_owned(), e(&(&o.status, &o.platform_status))),
        ("buyer".to_owned(), e(&o.buyer)),
        ("receiver".to_owned(), e(&o.receiver)),
        ("amounts".to_owned(), e(&o.amounts)),
        ("times".to_owned(), e(&o.times)),
        ("memos".to_owned(), e(&(&o.buyer_memo, &o.seller_memo))),
        ("flags".to_owned(), e(&o.flags)),
    ];
    for (i, line) in o.lines.iter().enumerate() {
        out.push((format!("lines[{i}]"), e(line)));
    }
    out
}

mod erased {
    /// Postcard bytes of any serializable value, behind a trait object so the field list above
    /// stays one table.
    pub trait Enc {
        fn bytes(&self) -> Vec<u8>;
    }
    impl<T: serde::Serialize> Enc for T {
        fn bytes(&self) -> Vec<u8> {
            postcard::to_allocvec(self).expect("plain data encodes")
        }
    }
}

/// The provenance of `new` given the stored record (if any): groups that changed are set by
/// `origin` at `version`; the others keep who set them before.
fn provenance(
    old: Option<&CapturedOrder>,
    new: &StandardOrder,
    origin: &str,
    version: i64,
    now: UtcMillis,
) -> Vec<Provenance> {
    let old_groups: Vec<(String, Vec<u8>)> =
        old.map(|r| field_groups(&r.order)).unwrap_or_default();
    field_groups(new)
        .into_iter()
        .map(|(field, bytes)| {
            let unchanged = old_groups.iter().any(|(f, b)| *f == field && *b == bytes);
            let kept = unchanged
                .then(|| old.and_then(|r| r.provenance.iter().find(|p| p.field == field)))
                .flatten();
            match kept {
                Some(p) => p.clone(),
                None => Provenance {
                    field,
                    origin: origin.to_owned(),
                    version,
                    at: now,
                },
            }
        })
        .collect()
}

/// Why an order is held, given its lines' internal SKUs (`skus[i]` of line `i`): every line
/// without one is named with its platform SKU id and merchant code. `None` when all are mapped.
pub fn hold_reason(order: &StandardOrder, skus: &[Option<String>]) -> Option<String> {
    let unmapped: Vec<String> = order
        .lines
        .iter()
        .zip(skus)
        .filter(|(_, sku)| sku.is_none())
        .map(|(line, _)| {
            format!(
                "line {} (platform SKU {}, merchant code {})",
                line.line_id,
                line.platform_sku_id.as_deref().unwrap_or("—"),
                line.merchant_sku.as_ref().map_or("—", |s| s.as_str()),
            )
        })
        .collect();
    (!unmapped.is_empty()).then(|| format!("unmapped SKU: {}", unmapped.join("; ")))
}

/// A held order re-mapped after a mapping was added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remapped {
    pub record: CapturedOrder,
    /// Every line is mapped now: the order leaves the held ones.
    pub released: bool,
}

/// A held order with its lines' SKUs as the mappings give them now.
pub fn remap(mut record: CapturedOrder, skus: Vec<Option<String>>) -> Remapped {
    record.held = hold_reason(&record.order, &skus);
    record.internal_skus = skus;
    Remapped {
        released: record.held.is_none(),
        record,
    }
}

/// What applying a refund writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundWrite {
    pub record: CapturedRefund,
    /// The order no the stored version is indexed under, to take out; `None` for a new refund.
    pub replaces_order_no: Option<DocNo>,
}

/// Whether a captured refund applies over the stored one, and its record: an older `modified`
/// is stale, the same content a duplicate.
pub fn refund(
    stored: Option<CapturedRefund>,
    refund: StandardRefund,
    by: &Applying<'_>,
) -> Verdict<RefundWrite> {
    if let Some(old) = &stored {
        if old.refund.modified > refund.modified {
            return Verdict::Stale;
        }
        if old.refund == refund {
            return Verdict::Duplicate;
        }
    }
    Verdict::Apply(RefundWrite {
        replaces_order_no: stored.map(|old| old.refund.platform_order_no),
        record: CapturedRefund {
            refund,
            origin: by.origin.to_owned(),
            updated_at: by.now,
        },
    })
}

/// What identifies a malformed payload among the capture errors already recorded: the SHA-256
/// of its raw bytes.
pub fn payload_digest(raw: &str) -> [u8; 32] {
    Sha256::digest(raw.as_bytes()).into()
}

/// Capture errors kept per shop; older ones are dropped (the count keeps growing).
pub const CAPTURE_ERRORS_KEPT: u64 = 1000;
/// Longest raw payload kept with a capture error.
pub const RAW_KEPT_MAX: usize = 64 * 1024;

/// What recording a capture error writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorWrite {
    /// Its number among the shop's capture errors.
    pub no: u64,
    pub record: CaptureErrorRecord,
    /// The error that falls out of the [`CAPTURE_ERRORS_KEPT`] newest, to delete.
    pub drops: Option<u64>,
}

/// Whether a malformed payload is a new capture error: `seen` when one with its
/// [`payload_digest`] is recorded already (the next overlapping poll fetches the same bad
/// payload), a duplicate then. `recorded` is how many the shop has recorded, the new one's
/// number.
pub fn capture_error(
    seen: bool,
    recorded: u64,
    raw: String,
    order_no: Option<String>,
    reason: String,
    now: UtcMillis,
) -> Verdict<ErrorWrite> {
    if seen {
        return Verdict::Duplicate;
    }
    Verdict::Apply(ErrorWrite {
        no: recorded,
        record: CaptureErrorRecord {
            at: now,
            order_no,
            reason,
            raw: clip(raw, RAW_KEPT_MAX),
        },
        drops: recorded.checked_sub(CAPTURE_ERRORS_KEPT),
    })
}

/// `raw` cut to at most `kept_max` bytes at a char boundary, with a note of its full length.
pub fn clip(raw: String, kept_max: usize) -> String {
    if raw.len() <= kept_max {
        return raw;
    }
    let mut end = kept_max;
    while !raw.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…(truncated, {} bytes)", &raw[..end], raw.len())
}
