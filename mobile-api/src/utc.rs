//! Timestamps on the wire: RFC 3339 strings, always in UTC (`2024-05-01T10:00:00.123Z`).
//!
//! Use as `#[serde(with = "xt_mobile_api::utc")]` on an `OffsetDateTime` field and
//! `#[serde(with = "xt_mobile_api::utc::option")]` on an `Option<OffsetDateTime>` field.
//! Whatever offset a value carries, it is converted to UTC before formatting and after parsing.

use crate::error::ApiError;
use serde::{Deserialize, Deserializer, Serializer};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// Formats `t` as an RFC 3339 string in UTC.
pub fn format(t: OffsetDateTime) -> Result<String, time::error::Format> {
    t.to_offset(UtcOffset::UTC).format(&Rfc3339)
}

/// Parses an RFC 3339 string (any offset) into a UTC time.
pub fn parse(s: &str) -> Result<OffsetDateTime, time::error::Parse> {
    Ok(OffsetDateTime::parse(s, &Rfc3339)?.to_offset(UtcOffset::UTC))
}

/// The UTC time `ms` milliseconds after the Unix epoch (how the hub stores time).
pub fn from_unix_ms(ms: i64) -> Result<OffsetDateTime, ApiError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|e| ApiError::Internal(format!("timestamp {ms} ms is out of range: {e}")))
}

/// Serde `serialize` for `#[serde(with = "utc")]`.
pub fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
    let text = format(*t).map_err(serde::ser::Error::custom)?;
    s.serialize_str(&text)
}

/// Serde `deserialize` for `#[serde(with = "utc")]`.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
    let text = String::deserialize(d)?;
    parse(&text).map_err(|e| serde::de::Error::custom(format!("invalid time {text:?}: {e}")))
}

/// The same, for `Option<OffsetDateTime>` (`null` when absent).
pub mod option {
    use super::*;

    /// Serde `serialize` for `#[serde(with = "utc::option")]`.
    pub fn serialize<S: Serializer>(t: &Option<OffsetDateTime>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    /// Serde `deserialize` for `#[serde(with = "utc::option")]`.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<OffsetDateTime>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(text) => parse(&text)
                .map(Some)
                .map_err(|e| serde::de::Error::custom(format!("invalid time {text:?}: {e}"))),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_in_utc_and_round_trips() {
        let t = from_unix_ms(1_714_557_600_123).unwrap();
        assert_eq!(format(t).unwrap(), "2024-05-01T10:00:00.123Z");
        let shifted = t.to_offset(UtcOffset::from_hms(8, 0, 0).unwrap());
        assert_eq!(format(shifted).unwrap(), "2024-05-01T10:00:00.123Z");
        assert_eq!(parse("2024-05-01T18:00:00.123+08:00").unwrap(), t);
        assert_eq!(
            parse("2024-05-01T10:00:00.123Z").unwrap().offset(),
            UtcOffset::UTC
        );
    }
}
