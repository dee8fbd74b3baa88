//! `target_label` and `replacement` templates, expanded with Go's `Regexp.Expand` rules
//! (Prometheus calls `ExpandString`), which differ from the `regex` crate's `expand`:
//!
//! * `$$` is a literal `$`; a `$` not followed by a valid reference stays a literal `$`
//!   (`$-`, `${`, `${}`, `${x` are all literal text);
//! * `$name` takes the longest run of letters, digits and `_` (Unicode letters and decimal
//!   digits, as Go's `unicode.IsLetter`/`IsDigit`), so `$1x` is the group named `1x`, not
//!   group 1 followed by `x`; `${1}x` is group 1 followed by `x`;
//! * an all-digit name without a leading zero is a group number, anything else a group
//!   name; a group that does not exist or did not take part in the match expands to "".
//!
//! The template is fixed per rule, so it is parsed once into literal text and group indexes.

use std::sync::OnceLock;

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    source: String,
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    /// A capture group index that exists in the rule's regex.
    Group(usize),
}

impl Template {
    /// Parses `template` against `regex`'s capture groups.
    pub fn parse(template: &str, regex: &regex::Regex) -> Template {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = template;
        while let Some(at) = rest.find('$') {
            literal.push_str(&rest[..at]);
            rest = &rest[at + 1..];
            if let Some(after) = rest.strip_prefix('$') {
                literal.push('$');
                rest = after;
                continue;
            }
            let Some((reference, after)) = extract(rest) else {
                // Malformed reference: the `$` is plain text.
                literal.push('$');
                continue;
            };
            rest = after;
            let index = match reference {
                Reference::Number(n) => Some(n),
                Reference::Name(name) => regex.capture_names().position(|n| n == Some(name)),
            };
            if let Some(index) = index.filter(|&i| i < regex.captures_len()) {
                if !literal.is_empty() {
                    pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Group(index));
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        Template {
            source: template.to_owned(),
            pieces,
        }
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the template contains a `$` at all (Prometheus's `varInRegexTemplate`,
    /// which gates the replace action's fast path).
    pub fn has_dollar(&self) -> bool {
        self.source.contains('$')
    }

    /// Appends the expansion for one match to `out`.
    pub fn expand(&self, out: &mut String, caps: &regex::Captures<'_>) {
        for piece in &self.pieces {
            match piece {
                Piece::Literal(s) => out.push_str(s),
                Piece::Group(i) => {
                    if let Some(m) = caps.get(*i) {
                        out.push_str(m.as_str());
                    }
                }
            }
        }
    }
}

enum Reference<'a> {
    Number(usize),
    Name(&'a str),
}

/// Go's `extract`: the reference after a `$` (without it), and the text after it.
fn extract(s: &str) -> Option<(Reference<'_>, &str)> {
    let (braced, body) = match s.strip_prefix('{') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let end = body
        .char_indices()
        .find(|&(_, c)| !is_name_char(c))
        .map_or(body.len(), |(i, _)| i);
    if end == 0 {
        return None;
    }
    let name = &body[..end];
    let mut rest = &body[end..];
    if braced {
        rest = rest.strip_prefix('}')?;
    }
    let is_number =
        name.bytes().all(|b| b.is_ascii_digit()) && !(name.len() > 1 && name.starts_with('0'));
    let reference = match name.parse::<usize>() {
        Ok(n) if is_number => Reference::Number(n),
        // A number too large for any regex is a group that does not exist.
        Err(_) if is_number => Reference::Number(usize::MAX),
        _ => Reference::Name(name),
    };
    Some((reference, rest))
}

/// Go's `unicode.IsLetter(c) || unicode.IsDigit(c) || c == '_'`: general categories L and
/// Nd. (`char::is_alphabetic` would also take letter-like marks and letter numerals.)
fn is_name_char(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric() || c == '_';
    }
    static NAME_CHAR: OnceLock<Option<regex::Regex>> = OnceLock::new();
    let re = NAME_CHAR.get_or_init(|| regex::Regex::new(r"^[\p{L}\p{Nd}]$").ok());
    let mut buf = [0u8; 4];
    re.as_ref()
        .is_some_and(|re| re.is_match(c.encode_utf8(&mut buf)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(template: &str, pattern: &str, haystack: &str) -> String {
        let re = regex::Regex::new(&format!("^(?s:{pattern})$")).unwrap();
        let caps = re.captures(haystack).expect("pattern matches");
        let mut out = String::new();
        Template::parse(template, &re).expand(&mut out, &caps);
        out
    }

    #[test]
    fn go_expand_rules() {
        // (template, pattern, haystack, expected)
        let cases = [
            ("$1", "(.*)", "foo", "foo"),
            ("${1}", "(.*)", "foo", "foo"),
            ("ch${1}-ch${1}", "f(.*)", "foo", "choo-choo"),
            ("$1$2$2$3", "(b).*b(.*)ba(.*)", "baz;boobam", "boooom"),
            // `$1x` is the (missing) group named "1x"; braces separate the number.
            ("$1x", "(a)", "a", ""),
            ("${1}x", "(a)", "a", "ax"),
            ("$1_$2", "(a)(b)", "ab", "b"),
            ("${1}_${2}", "(a)(b)", "ab", "a_b"),
            // Literal dollars.
            ("$$1", "(a)", "a", "$1"),
            ("a$$", "(a)", "a", "a$"),
            ("$", "(a)", "a", "$"),
            ("$-", "(a)", "a", "$-"),
            ("${", "(a)", "a", "${"),
            ("${}", "(a)", "a", "${}"),
            ("${1", "(a)", "a", "${1"),
            ("x${1 }", "(a)", "a", "x${1 }"),
            // Group 0 is the whole match; missing or non-participating groups are empty.
            ("[$0]", "a(b)?", "a", "[a]"),
            ("[$1]", "a(b)?", "a", "[]"),
            ("[$7]", "(a)", "a", "[]"),
            ("[$99999999999999999999999]", "(a)", "a", "[]"),
            // Leading zero: a name, never a number.
            ("[$01]", "(a)", "a", "[]"),
            // Named groups, both syntaxes.
            (
                "val_${second}",
                "(line1).*(?<second>line2)",
                "line1\nline2",
                "val_line2",
            ),
            (
                "val_$second",
                "(line1).*(?P<second>line2)",
                "line1\nline2",
                "val_line2",
            ),
            ("[$nope]", "(?<second>a)", "a", "[]"),
            // A name runs over Unicode letters: `$1é` is the group named "1é".
            ("[$1é]", "(a)", "a", "[]"),
            ("[${1}é]", "(a)", "a", "[aé]"),
            // A non-letter symbol ends the name.
            ("[$1→]", "(a)", "a", "[a→]"),
        ];
        for (template, pattern, haystack, want) in cases {
            assert_eq!(
                expand(template, pattern, haystack),
                want,
                "expand {template:?} with {pattern:?} on {haystack:?}"
            );
        }
    }

    #[test]
    fn has_dollar_is_about_the_text() {
        let re = regex::Regex::new("(a)").unwrap();
        assert!(Template::parse("$$", &re).has_dollar());
        assert!(Template::parse("x$", &re).has_dollar());
        assert!(!Template::parse("x", &re).has_dollar());
        assert_eq!(Template::parse("a$1", &re).as_str(), "a$1");
    }
}
