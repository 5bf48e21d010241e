//! Money as integer minor units with a currency. Never floats.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An ISO 4217 currency code (three ASCII capitals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Currency([u8; 3]);

impl Currency {
    pub const CNY: Currency = Currency(*b"CNY");
    pub const USD: Currency = Currency(*b"USD");

    pub fn new(code: &str) -> Result<Self, MoneyError> {
        let b = code.as_bytes();
        if b.len() != 3 || !b.iter().all(u8::is_ascii_uppercase) {
            return Err(MoneyError::Currency(code.to_owned()));
        }
        Ok(Currency([b[0], b[1], b[2]]))
    }

    pub fn as_str(&self) -> &str {
        // Only ever built from ASCII capitals.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// Digits after the decimal point. Zero-decimal currencies are listed; the rest use two.
    pub fn exponent(&self) -> u32 {
        match &self.0 {
            b"JPY" | b"KRW" | b"VND" | b"CLP" | b"ISK" => 0,
            _ => 2,
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("currency {0:?} is not a three-letter ISO 4217 code")]
    Currency(String),
    #[error("amount {0:?} is not a decimal number")]
    NotDecimal(String),
    #[error("amount {value:?} has more than {exponent} decimal places")]
    TooPrecise { value: String, exponent: u32 },
    #[error("amount {0:?} is out of range")]
    Overflow(String),
}

/// An amount in minor units (fen, cents) of a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Self {
        Money { minor, currency }
    }

    /// Parses a decimal string such as `"12.30"`, `"-0.5"` or `"7"` exactly into minor units.
    /// Rejects more decimal places than the currency has, exponents, and anything not a number.
    pub fn parse(value: &str, currency: Currency) -> Result<Self, MoneyError> {
        let exponent = currency.exponent();
        let s = value.trim();
        let (negative, digits) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let (int_part, frac_part) = match digits.split_once('.') {
            Some((i, f)) => (i, f),
            None => (digits, ""),
        };
        let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if (int_part.is_empty() && frac_part.is_empty())
            || !all_digits(int_part)
            || !all_digits(frac_part)
            || (digits.contains('.') && frac_part.is_empty() && int_part.is_empty())
        {
            return Err(MoneyError::NotDecimal(value.to_owned()));
        }
        let frac_trimmed = frac_part.trim_end_matches('0');
        if frac_trimmed.len() as u32 > exponent {
            return Err(MoneyError::TooPrecise {
                value: value.to_owned(),
                exponent,
            });
        }
        let overflow = || MoneyError::Overflow(value.to_owned());
        let mut minor: i64 = 0;
        for b in int_part.bytes() {
            minor = minor
                .checked_mul(10)
                .and_then(|m| m.checked_add(i64::from(b - b'0')))
                .ok_or_else(overflow)?;
        }
        let mut frac = frac_trimmed.bytes();
        for _ in 0..exponent {
            let d = frac.next().map_or(0, |b| i64::from(b - b'0'));
            minor = minor
                .checked_mul(10)
                .and_then(|m| m.checked_add(d))
                .ok_or_else(overflow)?;
        }
        Ok(Money {
            minor: if negative { -minor } else { minor },
            currency,
        })
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exp = self.currency.exponent();
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        if exp == 0 {
            return write!(f, "{sign}{abs} {}", self.currency);
        }
        let unit = 10u64.pow(exp);
        write!(
            f,
            "{sign}{}.{:0width$} {}",
            abs / unit,
            abs % unit,
            self.currency,
            width = exp as usize
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cny(s: &str) -> Result<i64, MoneyError> {
        Money::parse(s, Currency::CNY).map(|m| m.minor)
    }

    #[test]
    fn parses_decimal_strings_exactly() {
        assert_eq!(cny("12.30"), Ok(1230));
        assert_eq!(cny("0.01"), Ok(1));
        assert_eq!(cny("7"), Ok(700));
        assert_eq!(cny("-0.5"), Ok(-50));
        assert_eq!(cny(".5"), Ok(50));
        assert_eq!(cny("19.990"), Ok(1999));
        assert_eq!(cny("92233720368547758.07"), Ok(i64::MAX));
        assert!(matches!(cny("1.234"), Err(MoneyError::TooPrecise { .. })));
        assert!(matches!(cny("1e3"), Err(MoneyError::NotDecimal(_))));
        assert!(matches!(cny(""), Err(MoneyError::NotDecimal(_))));
        assert!(matches!(cny("."), Err(MoneyError::NotDecimal(_))));
        assert!(matches!(
            cny("99999999999999999999"),
            Err(MoneyError::Overflow(_))
        ));
        assert_eq!(
            Money::parse("100", Currency::new("JPY").unwrap())
                .unwrap()
                .minor,
            100
        );
    }

    #[test]
    fn displays_with_currency() {
        assert_eq!(Money::new(-1205, Currency::CNY).to_string(), "-12.05 CNY");
        assert!(Currency::new("cny").is_err());
    }
}
