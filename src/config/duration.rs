//! Prometheus durations (`model.Duration` in prometheus/common): `30s`, `1m30s`, `5ms`, `2h`,
//! `1d`, `1w`, `1y`.
//!
//! The rules are Prometheus's `ParseDuration`, so a value that Prometheus accepts means the
//! same here and a value it rejects is rejected here too:
//! * one or more `<digits><unit>` terms, units `y` (365 d), `w`, `d`, `h`, `m`, `s`, `ms`;
//! * each unit at most once and from largest to smallest (`1h30m`, not `30m1h`);
//! * no sign, no fraction (`1.5h` is an error), no spaces;
//! * `0` without a unit is allowed; the empty string is not;
//! * the total must fit Go's `time.Duration` (about 292 years).

use std::fmt;
use std::time::Duration;

/// Nanoseconds per unit, in the order units must appear (largest first).
const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3600 * NANOS_PER_SEC),
    ("w", 7 * 24 * 3600 * NANOS_PER_SEC),
    ("d", 24 * 3600 * NANOS_PER_SEC),
    ("h", 3600 * NANOS_PER_SEC),
    ("m", 60 * NANOS_PER_SEC),
    ("s", NANOS_PER_SEC),
    ("ms", 1_000_000),
];
const NANOS_PER_SEC: u64 = 1_000_000_000;
/// Go's `time.Duration` is an `int64` of nanoseconds; Prometheus rejects anything above it.
const MAX_NANOS: u64 = (1 << 63) - 1;

/// A duration string that Prometheus would reject. Messages are Prometheus's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationError {
    /// The empty string (write `0` or `0s` for zero).
    #[error("empty duration string")]
    Empty,
    /// Not a sequence of `<digits><unit>` terms with units in decreasing order.
    #[error("not a valid duration string: {0:?} (want e.g. 30s, 1m30s, 5ms, 2h, 1d, 1w, 1y)")]
    Invalid(String),
    /// A unit other than y, w, d, h, m, s, ms.
    #[error("unknown unit {unit:?} in duration {input:?} (units: y, w, d, h, m, s, ms)")]
    UnknownUnit { unit: String, input: String },
    /// Longer than Go's `time.Duration` can hold (about 292 years).
    #[error("duration out of range: {0:?}")]
    OutOfRange(String),
}

/// Parses a Prometheus duration string.
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    match input {
        "0" => return Ok(Duration::ZERO),
        "" => return Err(DurationError::Empty),
        _ => {}
    }
    let invalid = || DurationError::Invalid(input.to_owned());
    let mut rest = input.as_bytes();
    let mut total: u64 = 0;
    // Index into UNITS of the last unit seen; the next must come strictly after it.
    let mut next_allowed = 0usize;
    while !rest.is_empty() {
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return Err(invalid());
        }
        // Digits only, so this is valid UTF-8; an overflowing number is "invalid" as in Go.
        let value: u64 = std::str::from_utf8(&rest[..digits])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(invalid)?;
        rest = &rest[digits..];
        let unit_len = rest.iter().take_while(|b| !b.is_ascii_digit()).count();
        if unit_len == 0 {
            return Err(invalid());
        }
        let unit = String::from_utf8_lossy(&rest[..unit_len]).into_owned();
        rest = &rest[unit_len..];
        let Some(pos) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(DurationError::UnknownUnit {
                unit,
                input: input.to_owned(),
            });
        };
        if pos < next_allowed {
            return Err(invalid());
        }
        next_allowed = pos + 1;
        let mult = UNITS[pos].1;
        if value > (1u64 << 63) / mult {
            return Err(DurationError::OutOfRange(input.to_owned()));
        }
        // Both terms are at most 2^63, so the sum cannot overflow u64.
        total += value * mult;
        if total > MAX_NANOS {
            return Err(DurationError::OutOfRange(input.to_owned()));
        }
    }
    Ok(Duration::from_nanos(total))
}

/// Formats a duration the way Prometheus prints one (`model.Duration.String`): millisecond
/// resolution, `y` and `w` only when they divide the value exactly, `0s` for zero.
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, nanos) in UNITS {
        let mult = u128::from(nanos / 1_000_000);
        let exact_only = matches!(unit, "y" | "w");
        if exact_only && ms % mult != 0 {
            continue;
        }
        let v = ms / mult;
        if v > 0 {
            out.push_str(&format!("{v}{unit}"));
            ms -= v * mult;
        }
    }
    out
}

/// Serde adapter: `#[serde(with = "crate::config::duration::serde_prometheus")]`.
pub(crate) mod serde_prometheus {
    use super::{format_duration, parse_duration};
    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};
    use std::fmt;
    use std::time::Duration;

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*d))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_any(DurationVisitor)
    }

    struct DurationVisitor;

    impl Visitor<'_> for DurationVisitor {
        type Value = Duration;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a Prometheus duration such as 30s, 1m30s, 5ms or 2h")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
            parse_duration(v).map_err(E::custom)
        }

        // YAML `0` is an integer; Go's YAML decoder hands it over as the string "0".
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
            self.visit_str(&v.to_string())
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
            self.visit_str(&v.to_string())
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
            self.visit_str(&v.to_string())
        }
    }
}

/// Displays a [`Duration`] in Prometheus format (for messages).
pub(crate) struct Display(pub Duration);

impl fmt::Display for Display {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: u64 = 1;
    const S: u64 = 1000;
    const M: u64 = 60 * S;
    const H: u64 = 60 * M;
    const D: u64 = 24 * H;

    #[test]
    fn parse_table() {
        // (input, milliseconds); cases follow prometheus/common model/time_test.go.
        let ok: &[(&str, u64)] = &[
            ("0", 0),
            ("0s", 0),
            ("0w", 0),
            ("5ms", 5 * MS),
            ("30ms", 30 * MS),
            ("324ms", 324 * MS),
            ("3s", 3 * S),
            ("30s", 30 * S),
            ("5m", 5 * M),
            ("1m30s", 90 * S),
            ("1h", H),
            ("2h", 2 * H),
            ("4d", 4 * D),
            ("1d", D),
            ("1w", 7 * D),
            ("3w", 21 * D),
            ("10y", 3650 * D),
            ("1y", 365 * D),
            ("1h30m", 90 * M),
            ("1y1w1d1h1m1s1ms", 365 * D + 7 * D + D + H + M + S + MS),
            ("14d", 14 * D),
            ("3600s", H),
            ("0100s", 100 * S),
            // Just inside Go's time.Duration range.
            ("292y1w", 292 * 365 * D + 7 * D),
        ];
        for (input, ms) in ok {
            assert_eq!(
                parse_duration(input),
                Ok(Duration::from_millis(*ms)),
                "input {input:?}"
            );
        }
    }

    #[test]
    fn parse_errors_table() {
        let invalid = |s: &str| DurationError::Invalid(s.to_owned());
        let unknown = |u: &str, s: &str| DurationError::UnknownUnit {
            unit: u.to_owned(),
            input: s.to_owned(),
        };
        let cases: Vec<(&str, DurationError)> = vec![
            ("", DurationError::Empty),
            ("30", invalid("30")),
            ("s", invalid("s")),
            ("-1s", invalid("-1s")),
            ("+1s", invalid("+1s")),
            ("1.5h", unknown(".", "1.5h")),
            ("1h 30m", unknown("h ", "1h 30m")),
            (" 1h", invalid(" 1h")),
            ("30m1h", invalid("30m1h")),
            ("1s1s", invalid("1s1s")),
            ("1m1h", invalid("1m1h")),
            ("5us", unknown("us", "5us")),
            ("5ns", unknown("ns", "5ns")),
            ("1M", unknown("M", "1M")),
            ("1H", unknown("H", "1H")),
            ("99999999999999999999s", invalid("99999999999999999999s")),
            ("300y", DurationError::OutOfRange("300y".to_owned())),
            ("292y30w", DurationError::OutOfRange("292y30w".to_owned())),
        ];
        for (input, want) in cases {
            assert_eq!(parse_duration(input), Err(want), "input {input:?}");
        }
    }

    #[test]
    fn format_table() {
        let cases: &[(u64, &str)] = &[
            (0, "0s"),
            (5 * MS, "5ms"),
            (90 * S, "1m30s"),
            (H, "1h"),
            (7 * D, "1w"),
            (8 * D, "8d"),
            (365 * D, "1y"),
            (90 * D, "90d"),
            (D + H + M + S + MS, "1d1h1m1s1ms"),
        ];
        for (ms, want) in cases {
            assert_eq!(format_duration(Duration::from_millis(*ms)), *want);
        }
    }

    proptest! {
        /// Every millisecond-resolution duration formats to a string that parses back to it.
        #[test]
        fn format_parse_round_trip(ms in 0u64..(200 * 365 * D)) {
            let d = Duration::from_millis(ms);
            prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
    }
}
