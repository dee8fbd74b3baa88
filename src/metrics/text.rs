//! Pieces of the Prometheus text exposition format 0.0.4 that need care: Go-style floats,
//! label-value escaping and HELP escaping. Pure functions over strings, table-tested below.
//!
//! Values are written as Go's `client_golang` writes them (`expfmt.writeFloat`): `+Inf`,
//! `-Inf`, `NaN`, and otherwise `strconv.FormatFloat(f, 'g', -1, 64)`: the shortest digits that
//! round-trip, in exponent form when the decimal exponent is below -4 or at least 6
//! (`1e+06`, `1.5e-05`), plain otherwise (`100000`, `0.0001`). Matching Go byte for byte keeps
//! `promtool` and diff-based tests happy and makes our output look like Prometheus's own.

use std::fmt::Write as _;

/// Appends `v` to `out` the way Go's `expfmt` does.
pub fn write_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else if v == 0.0 {
        // Also -0.0: Go's writeFloat special-cases `f == 0`.
        out.push('0');
    } else {
        write_go_g(out, v);
    }
}

/// `v` formatted as [`write_float`] does, as a new string.
pub fn format_float(v: f64) -> String {
    let mut s = String::new();
    write_float(&mut s, v);
    s
}

/// Go's `%g` with precision -1 for a finite, non-zero `v`.
fn write_go_g(out: &mut String, v: f64) {
    // Rust's `{:e}` prints the shortest round-tripping digits, like Go's shortest mode:
    // "1.234567e6", "5e-5". Split it into digits and exponent and re-lay it out.
    let sci = format!("{:e}", v.abs());
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (sci.as_str(), 0),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if v < 0.0 {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let sign = if exp < 0 { '-' } else { '+' };
        // Go prints at least two exponent digits.
        let _ = write!(out, "e{sign}{:02}", exp.unsigned_abs());
    } else if exp >= 0 {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', int_len - digits.len()));
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    } else {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
        out.push_str(&digits);
    }
}

/// Appends a label value with `\`, `"` and newline escaped (the only escapes 0.0.4 defines).
pub fn write_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Appends HELP text with `\` and newline escaped (quotes stay as they are in HELP).
pub fn write_help(out: &mut String, help: &str) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`: the legacy metric-name charset every scraper accepts.
pub fn is_valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, and not starting with `__` (reserved for Prometheus's own use).
pub fn is_valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    !name.starts_with("__")
        && matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_match_go_strconv_g() {
        // Expected strings are what Go's strconv.FormatFloat(v, 'g', -1, 64) prints.
        let table: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "0"),
            (1.0, "1"),
            (-1.0, "-1"),
            (42.0, "42"),
            (0.5, "0.5"),
            (0.005, "0.005"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.000012345, "1.2345e-05"),
            (123.45, "123.45"),
            (100000.0, "100000"),
            (999999.0, "999999"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (-2.5e7, "-2.5e+07"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (0.1 + 0.2, "0.30000000000000004"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
            (1e21, "1e+21"),
            (1.5e100, "1.5e+100"),
        ];
        for &(v, want) in table {
            assert_eq!(format_float(v), want, "formatting {v:?}");
        }
    }

    #[test]
    fn formatted_floats_parse_back_exactly() {
        for v in [
            0.1,
            1.0 / 3.0,
            6.02214076e23,
            1e-300,
            123456.789,
            9.999999e5,
        ] {
            let s = format_float(v);
            assert_eq!(s.parse::<f64>().map(f64::to_bits), Ok(v.to_bits()), "{s}");
        }
    }

    #[test]
    fn label_values_escape_backslash_quote_newline() {
        let table = [
            ("plain", "plain"),
            ("a\"b", "a\\\"b"),
            ("a\\b", "a\\\\b"),
            ("a\nb", "a\\nb"),
            ("tab\tstays", "tab\tstays"),
            ("ünïcode", "ünïcode"),
        ];
        for (input, want) in table {
            let mut s = String::new();
            write_label_value(&mut s, input);
            assert_eq!(s, want, "escaping {input:?}");
        }
    }

    #[test]
    fn help_escapes_backslash_and_newline_but_not_quotes() {
        let mut s = String::new();
        write_help(&mut s, "say \"hi\"\\\nbye");
        assert_eq!(s, "say \"hi\"\\\\\\nbye");
    }

    #[test]
    fn names_are_checked() {
        let metric = [
            ("prometheus_remote_storage_samples_total", true),
            ("a:b", true),
            ("_x", true),
            ("9lives", false),
            ("", false),
            ("has-dash", false),
            ("spa ce", false),
        ];
        for (name, ok) in metric {
            assert_eq!(is_valid_metric_name(name), ok, "metric name {name:?}");
        }
        let label = [
            ("remote_name", true),
            ("_x", true),
            ("__name__", false),
            ("a:b", false),
            ("1a", false),
            ("", false),
        ];
        for (name, ok) in label {
            assert_eq!(is_valid_label_name(name), ok, "label name {name:?}");
        }
    }
}
