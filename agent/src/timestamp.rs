//! Legacy timestamps to UTC milliseconds, without floats. The forms legacy systems write are
//! tokenized here; calendar rules come from the `time` crate.
//!
//! Accepted forms (surrounding whitespace ignored):
//! - `YYYY-MM-DD HH:MM:SS`, `YYYY-MM-DDTHH:MM:SS`, `YYYY/MM/DD HH:MM:SS`; month, day and hour may
//!   have one digit, seconds may be left out, fractional seconds (up to 9 digits, truncated to
//!   milliseconds) may follow. Interpreted in the configured [`UtcOffset`].
//! - The same followed by `Z` or an explicit offset (`+08:00`, `+0800`, `-05`): RFC 3339 and
//!   friends. The explicit offset wins over the configured one.
//! - A date alone (`YYYY-MM-DD`, `YYYY/MM/DD`): midnight in the configured offset.
//! - Digits only: 10 digits are epoch seconds, 13 digits epoch milliseconds, 8 digits `YYYYMMDD`
//!   and 14 digits `YYYYMMDDHHMMSS` in the configured offset. Other lengths are refused, because
//!   they are ambiguous.

use serde::Deserialize;
use std::fmt;
use xt_shared::model::UtcMillis;

/// Largest UTC offset accepted, in seconds (±18:00, like RFC 3339 parsers in practice).
pub const OFFSET_SECS_MAX: i32 = 18 * 3600;

/// A fixed offset from UTC, as legacy systems keep local time without a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct UtcOffset {
    secs: i32,
}

impl UtcOffset {
    pub const UTC: UtcOffset = UtcOffset { secs: 0 };
    /// China Standard Time, the default for legacy systems.
    pub const CST: UtcOffset = UtcOffset { secs: 8 * 3600 };

    pub fn from_secs(secs: i32) -> Option<UtcOffset> {
        (secs.abs() <= OFFSET_SECS_MAX).then_some(UtcOffset { secs })
    }

    pub fn secs(&self) -> i32 {
        self.secs
    }

    /// Parses `+08:00`, `+0800`, `+08`, `-05:30`, `Z` or `UTC`.
    pub fn parse(s: &str) -> Result<UtcOffset, String> {
        let bad = || format!("timezone {s:?} is not a utc offset like \"+08:00\"");
        let t = s.trim();
        if t == "Z" || t.eq_ignore_ascii_case("utc") {
            return Ok(UtcOffset::UTC);
        }
        let mut p = Parser::new(t);
        let secs = p.offset().ok_or_else(bad)?;
        if !p.at_end() {
            return Err(bad());
        }
        UtcOffset::from_secs(secs).ok_or_else(bad)
    }
}

impl Default for UtcOffset {
    fn default() -> Self {
        UtcOffset::CST
    }
}

impl TryFrom<String> for UtcOffset {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        UtcOffset::parse(&s)
    }
}

impl fmt::Display for UtcOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.secs < 0 { '-' } else { '+' };
        let abs = self.secs.unsigned_abs();
        write!(f, "{sign}{:02}:{:02}", abs / 3600, abs % 3600 / 60)
    }
}

/// Parses a legacy timestamp (see the module docs); `None` when it is none of the accepted forms.
pub fn parse_timestamp(s: &str, offset: UtcOffset) -> Option<UtcMillis> {
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return parse_digits(t, offset);
    }
    let mut p = Parser::new(t);
    let year = i64::from(p.digits(4, 4)?);
    let sep = p.one_of(b"-/")?;
    let month = p.digits(1, 2)?;
    p.expect(sep)?;
    let day = p.digits(1, 2)?;
    let mut millis_of_day: i64 = 0;
    if !p.at_end() {
        p.one_of(b" T")?;
        let hour = p.digits(1, 2)?;
        p.expect(b':')?;
        let minute = p.digits(2, 2)?;
        let mut second = 0;
        let mut millis = 0;
        if p.peek() == Some(b':') {
            p.expect(b':')?;
            second = p.digits(2, 2)?;
            if p.peek() == Some(b'.') {
                p.expect(b'.')?;
                millis = p.fraction_millis()?;
            }
        }
        if hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        millis_of_day = ((i64::from(hour) * 60 + i64::from(minute)) * 60 + i64::from(second))
            * 1000
            + i64::from(millis);
    }
    let offset_secs = if p.at_end() {
        offset.secs
    } else if p.peek() == Some(b'Z') {
        p.expect(b'Z')?;
        0
    } else {
        p.offset()?
    };
    if !p.at_end() || offset_secs.abs() > OFFSET_SECS_MAX {
        return None;
    }
    local_to_utc(year, month, day, millis_of_day, offset_secs)
}

fn parse_digits(t: &str, offset: UtcOffset) -> Option<UtcMillis> {
    let n = |range: std::ops::Range<usize>| t.get(range)?.parse::<u32>().ok();
    match t.len() {
        10 => Some(UtcMillis(t.parse::<i64>().ok()?.checked_mul(1000)?)),
        13 => Some(UtcMillis(t.parse::<i64>().ok()?)),
        8 => local_to_utc(i64::from(n(0..4)?), n(4..6)?, n(6..8)?, 0, offset.secs),
        14 => {
            let (hour, minute, second) = (n(8..10)?, n(10..12)?, n(12..14)?);
            if hour > 23 || minute > 59 || second > 59 {
                return None;
            }
            let millis_of_day = i64::from((hour * 60 + minute) * 60 + second) * 1000;
            local_to_utc(
                i64::from(n(0..4)?),
                n(4..6)?,
                n(6..8)?,
                millis_of_day,
                offset.secs,
            )
        }
        _ => None,
    }
}

fn local_to_utc(
    year: i64,
    month: u32,
    day: u32,
    millis_of_day: i64,
    offset_secs: i32,
) -> Option<UtcMillis> {
    // Calendar validation (month lengths, leap years) and day counting come from `time`.
    let month = time::Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date =
        time::Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?)
            .ok()?;
    let days = i64::from(
        date.to_julian_day()
            - time::Date::from_calendar_date(1970, time::Month::January, 1)
                .ok()?
                .to_julian_day(),
    );
    Some(UtcMillis(
        days * 86_400_000 + millis_of_day - i64::from(offset_secs) * 1000,
    ))
}

/// A byte cursor over an ASCII timestamp.
struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Parser<'a> {
    fn new(s: &'a str) -> Self {
        Parser {
            bytes: s.as_bytes(),
            at: 0,
        }
    }

    fn at_end(&self) -> bool {
        self.at == self.bytes.len()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        (self.peek()? == b).then(|| self.at += 1)
    }

    fn one_of(&mut self, set: &[u8]) -> Option<u8> {
        let b = self.peek()?;
        set.contains(&b).then(|| {
            self.at += 1;
            b
        })
    }

    /// Between `min` and `max` ASCII digits (greedy).
    fn digits(&mut self, min: usize, max: usize) -> Option<u32> {
        let start = self.at;
        let mut value: u32 = 0;
        while self.at - start < max {
            match self.peek() {
                Some(b @ b'0'..=b'9') => {
                    value = value * 10 + u32::from(b - b'0');
                    self.at += 1;
                }
                _ => break,
            }
        }
        (self.at - start >= min).then_some(value)
    }

    /// 1 to 9 digits after the decimal point, as whole milliseconds (truncated).
    fn fraction_millis(&mut self) -> Option<u32> {
        let start = self.at;
        let mut millis = 0;
        while let Some(b @ b'0'..=b'9') = self.peek() {
            if self.at - start < 3 {
                millis = millis * 10 + u32::from(b - b'0');
            }
            self.at += 1;
        }
        let len = self.at - start;
        if len == 0 || len > 9 {
            return None;
        }
        Some(millis * 10u32.pow(3usize.saturating_sub(len) as u32))
    }

    /// `+HH:MM`, `+HHMM` or `+HH` (or `-`), in seconds east of UTC.
    fn offset(&mut self) -> Option<i32> {
        let sign = match self.one_of(b"+-")? {
            b'-' => -1,
            _ => 1,
        };
        let hours = self.digits(2, 2)?;
        let minutes = if self.at_end() {
            0
        } else {
            if self.peek() == Some(b':') {
                self.expect(b':')?;
            }
            self.digits(2, 2)?
        };
        if hours > 18 || minutes > 59 {
            return None;
        }
        Some(sign * (hours * 3600 + minutes * 60) as i32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-11-26 00:00:00 UTC in milliseconds.
    const DAY: i64 = 1_732_579_200_000;
    const HOUR: i64 = 3_600_000;

    fn check(input: &str, expected: Option<i64>) {
        assert_eq!(
            parse_timestamp(input, UtcOffset::CST).map(|t| t.0),
            expected,
            "input {input:?}"
        );
    }

    #[test]
    fn accepted_forms() {
        let t = DAY + 10 * HOUR + 5 * 60_000 + 7_000 - 8 * HOUR;
        check("2024-11-26 10:05:07", Some(t));
        check("2024-11-26T10:05:07", Some(t));
        check("2024/11/26 10:05:07", Some(t));
        check(" 2024/11/26 10:05:07 ", Some(t));
        check("2024-11-26 10:05:07.5", Some(t + 500));
        check("2024-11-26 10:05:07.123456789", Some(t + 123));
        check("2024-11-26 10:05", Some(t - 7_000));
        check("2024/1/5 9:03:00", Some(1_704_416_580_000));
        check("2024-11-26", Some(DAY - 8 * HOUR));
        check("2024-11-26T02:05:07Z", Some(t));
        check("2024-11-26T10:05:07+08:00", Some(t));
        check("2024-11-26T03:05:07.250+01:00", Some(t + 250));
        check("2024-11-25T21:05:07-0500", Some(t));
        check("1732579200", Some(DAY));
        check("1732579200123", Some(DAY + 123));
        check("20241126", Some(DAY - 8 * HOUR));
        check("20241126100507", Some(t));
        check("1970-01-01 08:00:00", Some(0));
        check("1960-03-01 08:00:00", Some(-310_435_200_000));
        check("2024-02-29 08:00:00", Some(1_709_164_800_000));
    }

    #[test]
    fn refused_forms() {
        for bad in [
            "",
            "abc",
            "2024-13-01 00:00:00",
            "2023-02-29 00:00:00",
            "2024-11-31",
            "2024-11-26 24:00:00",
            "2024-11-26 10:60:00",
            "2024-11-26 10:05:60",
            "2024-11-26 10:05:07.",
            "2024-11-26 10:05:07.1234567890",
            "2024-11/26 10:05:07",
            "2024-11-26 10:05:07 +08:00",
            "2024-11-26T10:05:07+19:00",
            "2024-11-26X10:05:07",
            "24-11-26",
            "123456789012",
            "123",
            "1.5",
            "-1732579200",
        ] {
            check(bad, None);
        }
    }

    #[test]
    fn offsets_parse_and_display() {
        assert_eq!(UtcOffset::parse("+08:00"), Ok(UtcOffset::CST));
        assert_eq!(UtcOffset::parse("+0800"), Ok(UtcOffset::CST));
        assert_eq!(UtcOffset::parse("UTC"), Ok(UtcOffset::UTC));
        assert_eq!(UtcOffset::parse("-05:30").map(|o| o.secs()), Ok(-19_800));
        assert_eq!(UtcOffset::parse("-05:30").unwrap().to_string(), "-05:30");
        assert!(UtcOffset::parse("8").is_err());
        assert!(UtcOffset::parse("+25:00").is_err());
        assert!(UtcOffset::parse("+08:00x").is_err());
    }
}
