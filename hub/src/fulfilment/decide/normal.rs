//! How the decisions compare what people typed: receivers, phones and region names written in
//! different ways by different platforms and buyers are made equal here, and only here.
//!
//! *Invariant:* each function is idempotent (`f(f(s)) == f(s)`) and never fails; a key made
//! from normalised text is a SHA-256 hex digest, so it carries no personal data.

use sha2::{Digest, Sha256};

/// Trimmed, every run of whitespace (the ideographic space included) made one ASCII space,
/// full-width ASCII forms (`１００号`) made half-width, lowercased.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars().map(half_width) {
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// [`text`] with no whitespace at all: for addresses, where `世纪大道 100号` and `世纪大道100号`
/// are the same place.
pub fn compact(s: &str) -> String {
    text(s).chars().filter(|c| *c != ' ').collect()
}

/// A phone number's digits (and the `*` of a masked one), a leading `86` country code dropped
/// from a 13-digit number: `+86 138-0013-8000` and `13800138000` are the same phone.
pub fn phone(s: &str) -> String {
    let kept: String = s
        .chars()
        .map(half_width)
        .filter(|c| c.is_ascii_digit() || *c == '*')
        .collect();
    match kept.strip_prefix("86") {
        Some(rest) if rest.len() == 11 => rest.to_owned(),
        _ => kept,
    }
}

/// The administrative suffixes [`region`] drops, longest first.
const REGION_SUFFIXES: [&str; 7] = [
    "维吾尔自治区",
    "壮族自治区",
    "回族自治区",
    "特别行政区",
    "自治区",
    "省",
    "市",
];

/// A province's or city's name as coverage compares it: [`compact`], one administrative suffix
/// dropped (`上海市` → `上海`, `广西壮族自治区` → `广西`), unless nothing would be left.
pub fn region(s: &str) -> String {
    let c = compact(s);
    for suffix in REGION_SUFFIXES {
        if let Some(stem) = c.strip_suffix(suffix)
            && !stem.is_empty()
        {
            return stem.to_owned();
        }
    }
    c
}

/// SHA-256 hex of a kind tag and parts, each part on its own line (normalised text holds no
/// newline, so two different part lists never give the same bytes).
pub fn digest(kind: &str, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(kind.as_bytes());
    for p in parts {
        h.update(b"\n");
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Whether a text field is absent: `None`, or nothing but whitespace.
pub fn blank(s: &Option<String>) -> bool {
    s.as_deref().is_none_or(|s| s.trim().is_empty())
}

fn half_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}
