//! The platforms' time formats.

use time::format_description::well_known::Rfc3339;
use time::macros::{format_description, offset};
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// Shopify renders times in the shop's time zone; this one is US Eastern (standard time).
pub(crate) const SHOPIFY_OFFSET: UtcOffset = offset!(-5);
/// WooCommerce's plain `date_*` fields are shop-local without an offset; this shop is UTC+1.
pub(crate) const WOO_OFFSET: UtcOffset = offset!(+1);

/// `yyyy-MM-dd HH:mm:ss` in Beijing time (Taobao, JD).
pub(crate) fn beijing(t: OffsetDateTime) -> String {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    t.to_offset(offset!(+8))
        .format(format)
        .expect("a formattable time")
}

pub(crate) fn parse_beijing(s: &str) -> Option<OffsetDateTime> {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    PrimitiveDateTime::parse(s.trim(), format)
        .ok()
        .map(|t| t.assume_offset(offset!(+8)))
}

/// ISO 8601 with the shop's offset, e.g. `2026-11-01T07:00:00-05:00` (Shopify).
pub(crate) fn shopify(t: OffsetDateTime) -> String {
    let format = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][offset_hour sign:mandatory]:[offset_minute]"
    );
    t.to_offset(SHOPIFY_OFFSET)
        .format(format)
        .expect("a formattable time")
}

pub(crate) fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s.trim(), &Rfc3339).ok()
}

/// ISO 8601 without an offset at `offset` (WooCommerce; UTC for the `*_gmt` fields).
pub(crate) fn naive(t: OffsetDateTime, offset: UtcOffset) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    t.to_offset(offset)
        .format(format)
        .expect("a formattable time")
}

/// A WooCommerce query time: naive (GMT, since the client sends `dates_are_gmt=true`) or with
/// an offset.
pub(crate) fn parse_woo(s: &str) -> Option<OffsetDateTime> {
    let format = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    match PrimitiveDateTime::parse(s.trim(), format) {
        Ok(t) => Some(t.assume_utc()),
        Err(_) => parse_rfc3339(s),
    }
}

/// Drops the sub-second part: every platform here speaks whole seconds.
pub(crate) fn whole_seconds(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0).expect("0 is a valid nanosecond")
}
