//! Text forms of labels and values for `wal inspect --dump`, chosen to agree with
//! `promtool tsdb dump` where they overlap and to round-trip exactly.

use crate::record::{Labels, NORMAL_NAN_BITS, STALE_NAN_BITS};
use std::io::{self, Write};

/// Writes `{a="x", b="y"}` with the pairs sorted by name (Prometheus keeps them sorted;
/// sorting again costs little and makes the output canonical). Values are quoted like
/// Go's `strconv.Quote`.
pub fn write_labels(out: &mut impl Write, labels: Labels<'_>) -> io::Result<()> {
    let mut pairs: Vec<(&[u8], &[u8])> = labels.iter().collect();
    if !pairs.windows(2).all(|w| w[0].0 <= w[1].0) {
        pairs.sort_by(|a, b| a.0.cmp(b.0));
    }
    out.write_all(b"{")?;
    for (i, (n, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.write_all(b", ")?;
        }
        out.write_all(n)?;
        out.write_all(b"=")?;
        write_quoted(out, v)?;
    }
    out.write_all(b"}")
}

/// Go `strconv.Quote` of (possibly invalid UTF-8) bytes.
pub fn write_quoted(out: &mut impl Write, s: &[u8]) -> io::Result<()> {
    out.write_all(b"\"")?;
    let mut rest = s;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(valid) => {
                write_escaped_str(out, valid)?;
                break;
            }
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                // INVARIANT: `valid_up_to` bytes are valid UTF-8.
                write_escaped_str(out, std::str::from_utf8(good).unwrap_or_default())?;
                let n = e.error_len().unwrap_or(bad.len()).max(1);
                for b in &bad[..n] {
                    write!(out, "\\x{b:02x}")?;
                }
                rest = &bad[n..];
            }
        }
    }
    out.write_all(b"\"")
}

fn write_escaped_str(out: &mut impl Write, s: &str) -> io::Result<()> {
    for c in s.chars() {
        match c {
            '"' => out.write_all(b"\\\"")?,
            '\\' => out.write_all(b"\\\\")?,
            '\n' => out.write_all(b"\\n")?,
            '\t' => out.write_all(b"\\t")?,
            '\r' => out.write_all(b"\\r")?,
            '\u{07}' => out.write_all(b"\\a")?,
            '\u{08}' => out.write_all(b"\\b")?,
            '\u{0c}' => out.write_all(b"\\f")?,
            '\u{0b}' => out.write_all(b"\\v")?,
            c if (c as u32) < 0x20 || c as u32 == 0x7f => write!(out, "\\x{:02x}", c as u32)?,
            c if !is_go_printable(c) => {
                if (c as u32) < 0x10000 {
                    write!(out, "\\u{:04x}", c as u32)?
                } else {
                    write!(out, "\\U{:08x}", c as u32)?
                }
            }
            c => {
                let mut buf = [0u8; 4];
                out.write_all(c.encode_utf8(&mut buf).as_bytes())?
            }
        }
    }
    Ok(())
}

/// Go's `unicode.IsPrint` (what `strconv.Quote` leaves unescaped): letters, marks,
/// numbers, punctuation, symbols and the ASCII space. Approximated without Unicode tables:
/// controls, every space but U+0020, line/paragraph separators, the format characters
/// (Cf), private-use and non-characters are not printable. Unassigned code points (which
/// Go also escapes) are printed as they are.
fn is_go_printable(c: char) -> bool {
    let u = c as u32;
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let format_or_private = matches!(u,
        0x00AD
        | 0x0600..=0x0605
        | 0x061C
        | 0x06DD
        | 0x070F
        | 0x0890..=0x0891
        | 0x08E2
        | 0x180E
        | 0x200B..=0x200F
        | 0x202A..=0x202E
        | 0x2060..=0x2064
        | 0x2066..=0x206F
        | 0xD800..=0xDFFF
        | 0xE000..=0xF8FF
        | 0xFDD0..=0xFDEF
        | 0xFEFF
        | 0xFFF9..=0xFFFB
        | 0x110BD
        | 0x110CD
        | 0x13430..=0x1343F
        | 0x1BCA0..=0x1BCA3
        | 0x1D173..=0x1D17A
        | 0xE0001
        | 0xE0020..=0xE007F
        | 0xF0000..=0x10FFFF
    );
    // U+xxFFFE and U+xxFFFF are non-characters in every plane.
    !format_or_private && (u & 0xFFFE) != 0xFFFE
}

/// A float that parses back to the same bits: the shortest decimal, `+Inf`/`-Inf`,
/// `StaleNaN` for Prometheus's staleness marker, `NaN` for Go's `math.NaN()`, and
/// `NaN(0x<bits>)` for any other NaN payload.
pub fn format_float(out: &mut impl Write, v: f64) -> io::Result<()> {
    if v.is_nan() {
        return match v.to_bits() {
            STALE_NAN_BITS => out.write_all(b"StaleNaN"),
            NORMAL_NAN_BITS => out.write_all(b"NaN"),
            bits => write!(out, "NaN(0x{bits:016x})"),
        };
    }
    if v.is_infinite() {
        return out.write_all(if v > 0.0 { b"+Inf" } else { b"-Inf" });
    }
    let a = v.abs();
    if a != 0.0 && !(1e-5..1e16).contains(&a) {
        write!(out, "{v:e}")
    } else {
        write!(out, "{v}")
    }
}

/// Parses what [`format_float`] writes (and plain decimals); used by tests and tools.
pub fn parse_float(s: &str) -> Option<f64> {
    match s {
        "StaleNaN" => Some(f64::from_bits(STALE_NAN_BITS)),
        "NaN" => Some(f64::from_bits(NORMAL_NAN_BITS)),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => {
            if let Some(hex) = s.strip_prefix("NaN(0x").and_then(|r| r.strip_suffix(')')) {
                return u64::from_str_radix(hex, 16).ok().map(f64::from_bits);
            }
            s.parse().ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fmt(v: f64) -> String {
        let mut b = Vec::new();
        format_float(&mut b, v).unwrap();
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn special_values() {
        for (v, s) in [
            (f64::from_bits(STALE_NAN_BITS), "StaleNaN"),
            (f64::from_bits(NORMAL_NAN_BITS), "NaN"),
            (
                f64::from_bits(0x7ff8_0000_0000_0000),
                "NaN(0x7ff8000000000000)",
            ),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (1.0, "1"),
            (0.25, "0.25"),
            (-0.0, "-0"),
            (1e21, "1e21"),
            (1.5e-7, "1.5e-7"),
            (123456.789, "123456.789"),
        ] {
            assert_eq!(fmt(v), s);
        }
    }

    proptest! {
        #[test]
        fn floats_round_trip_bit_exactly(bits in any::<u64>()) {
            let v = f64::from_bits(bits);
            let back = parse_float(&fmt(v)).unwrap();
            prop_assert_eq!(back.to_bits(), bits);
        }
    }

    #[test]
    fn quoting_matches_go() {
        let q = |s: &[u8]| {
            let mut b = Vec::new();
            write_quoted(&mut b, s).unwrap();
            String::from_utf8(b).unwrap()
        };
        assert_eq!(q(b"plain"), r#""plain""#);
        assert_eq!(q(b"a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(q(b"line\nnext\ttab"), r#""line\nnext\ttab""#);
        assert_eq!(q("ünïcödé ☃".as_bytes()), "\"ünïcödé ☃\"");
        assert_eq!(q(b"\x01\x7f"), r#""\x01\x7f""#);
        // Like Go: non-ASCII spaces and format characters are escaped.
        assert_eq!(
            q("a\u{a0}b\u{200b}c\u{e0001}".as_bytes()),
            r#""a\u00a0b\u200bc\U000e0001""#
        );
        assert_eq!(q(b"bad\xffutf8"), r#""bad\xffutf8""#);
    }
}
