//! Human durations as written in the policy file: `90s`, `30m`, `4h`, `1h30m`, `30d`.

use serde::{Serialize, Serializer};
use std::fmt;

/// A positive span of whole seconds, written and read back in the policy's notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span(u64);

const UNITS: [(char, u64); 5] = [
    ('w', 604_800),
    ('d', 86_400),
    ('h', 3_600),
    ('m', 60),
    ('s', 1),
];

impl Span {
    pub fn from_secs(secs: u64) -> Span {
        Span(secs)
    }

    pub fn as_secs(self) -> u64 {
        self.0
    }

    pub fn to_chrono(self) -> chrono::Duration {
        chrono::Duration::seconds(i64::try_from(self.0).unwrap_or(i64::MAX / 1000))
    }

    /// Parses `<number><unit>` groups (units `w d h m s`, largest first), e.g. `1h30m`.
    pub fn parse(text: &str) -> Result<Span, String> {
        let bad = || {
            format!(
                "`{text}` is not a duration: write a number and a unit (s, m, h, d or w), e.g. \"4h\" or \"1h30m\""
            )
        };
        let mut total: u64 = 0;
        let mut rest = text.trim();
        if rest.is_empty() {
            return Err(bad());
        }
        let mut last_unit = usize::MAX;
        while !rest.is_empty() {
            let digits = rest.chars().take_while(char::is_ascii_digit).count();
            if digits == 0 {
                return Err(bad());
            }
            let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
            let unit = rest[digits..].chars().next().ok_or_else(bad)?;
            let idx = UNITS.iter().position(|(c, _)| *c == unit).ok_or_else(bad)?;
            if last_unit != usize::MAX && idx <= last_unit {
                return Err(bad());
            }
            last_unit = idx;
            total = n
                .checked_mul(UNITS[idx].1)
                .and_then(|s| total.checked_add(s))
                .ok_or_else(|| format!("`{text}` is too long a duration"))?;
            rest = &rest[digits + 1..];
        }
        if total == 0 {
            return Err(format!("`{text}` must be longer than zero"));
        }
        Ok(Span(total))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0s");
        }
        let mut rest = self.0;
        // Weeks are not printed: "14d" reads better than "2w".
        for (unit, secs) in &UNITS[1..] {
            if rest >= *secs {
                write!(f, "{}{}", rest / secs, unit)?;
                rest %= secs;
            }
        }
        Ok(())
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Span {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Span, D::Error> {
        let text = String::deserialize(d)?;
        Span::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_single_and_compound_units() {
        assert_eq!(Span::parse("4h"), Ok(Span(4 * 3600)));
        assert_eq!(Span::parse("1h30m"), Ok(Span(5400)));
        assert_eq!(Span::parse("30d"), Ok(Span(30 * 86400)));
        assert_eq!(Span::parse("2w"), Ok(Span(14 * 86400)));
        assert_eq!(Span::parse("90s"), Ok(Span(90)));
    }

    #[test]
    fn refuses_what_is_not_a_duration() {
        for bad in [
            "", "4", "h", "4x", "-4h", "4h4h", "30m1h", "0h", "4 h", "1.5h",
        ] {
            assert!(Span::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn prints_back_in_the_same_notation() {
        for text in ["4h", "1h30m", "30d", "90s", "72h", "1d2h3m4s"] {
            let span = Span::parse(text).unwrap_or(Span(0));
            assert_eq!(Span::parse(&span.to_string()), Ok(span));
        }
        assert_eq!(Span(90).to_string(), "1m30s");
        assert_eq!(Span(72 * 3600).to_string(), "3d");
    }
}
