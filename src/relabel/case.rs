//! `lowercase` / `uppercase` as Go's `strings.ToLower` / `strings.ToUpper`: each character
//! maps through its *simple* case mapping (one character to one character, no context).
//! Rust's `str::to_lowercase` differs (full mappings such as `ß` -> `SS`, and a final-sigma
//! rule), so the mapping is done per `char`, keeping Go's results where Rust's full mapping
//! has more than one character.

/// Go's `strings.ToLower`.
pub fn to_lower(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    s.chars().map(simple_lower).collect()
}

/// Go's `strings.ToUpper`.
pub fn to_upper(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_uppercase();
    }
    s.chars().map(simple_upper).collect()
}

fn simple_lower(c: char) -> char {
    let mut it = c.to_lowercase();
    match (it.next(), it.next()) {
        (Some(l), None) => l,
        // Only U+0130 (İ) lowercases to two characters; its simple mapping is the first, `i`.
        (Some(l), Some(_)) => l,
        _ => c,
    }
}

fn simple_upper(c: char) -> char {
    let mut it = c.to_uppercase();
    match (it.next(), it.next()) {
        (Some(u), None) => u,
        // Several characters to one: the simple mapping is the character itself (`ß`, `ŉ`,
        // ligatures...) except for the Greek letters with ypogegrammeni, whose simple
        // uppercase is their titlecase form.
        _ => greek_iota_subscript_upper(c).unwrap_or(c),
    }
}

/// Simple uppercase of the lowercase Greek letters with ypogegrammeni (UnicodeData.txt).
fn greek_iota_subscript_upper(c: char) -> Option<char> {
    let code = u32::from(c);
    let upper = match code {
        0x1F80..=0x1F87 | 0x1F90..=0x1F97 | 0x1FA0..=0x1FA7 => code + 8,
        0x1FB3 | 0x1FC3 | 0x1FF3 => code + 9,
        _ => return None,
    };
    char::from_u32(upper)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_case_mapping_table() {
        // (input, Go ToLower, Go ToUpper)
        let cases = [
            ("bAr123Foo", "bar123foo", "BAR123FOO"),
            ("", "", ""),
            ("ÄÖÜäöü", "äöüäöü", "ÄÖÜÄÖÜ"),
            // Full mappings Go does not apply.
            ("straße", "straße", "STRAßE"),
            ("ﬀ", "ﬀ", "ﬀ"),
            // No final-sigma rule in Go: Σ always lowercases to σ.
            ("ΟΔΟΣ", "οδοσ", "ΟΔΟΣ"),
            ("İ", "i", "İ"),
            // Simple uppercase of ᾳ is its titlecase ᾼ; ᾀ -> ᾈ.
            ("ᾳᾀ", "ᾳᾀ", "ᾼᾈ"),
            // Titlecase digraph: both directions have simple mappings.
            ("ǅ", "ǆ", "Ǆ"),
        ];
        for (input, lower, upper) in cases {
            assert_eq!(to_lower(input), lower, "lower {input:?}");
            assert_eq!(to_upper(input), upper, "upper {input:?}");
        }
    }
}
