//! `write_relabel_configs` entries: Prometheus's `relabel.Config` with its defaults and its
//! `Validate` rules. Parsed and kept here; applying them is the series cache's job.
//!
//! The regex is compiled at load time, anchored as Prometheus anchors it (`^(?s:…)$`), so a
//! bad pattern fails the load with its line and column. Prometheus uses Go's RE2 syntax; the
//! `regex` crate accepts the same syntax with two differences worth knowing: `\d`, `\w`, `\s`
//! and `\b` are Unicode-aware here and ASCII-only in Go (identical on ASCII label values),
//! and Go's `\Q...\E` literal quoting is refused here (a load error, never a silent change).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Default `separator`.
pub const DEFAULT_SEPARATOR: &str = ";";
/// Default `regex` (before anchoring).
pub const DEFAULT_REGEX: &str = "(.*)";
/// Default `replacement`.
pub const DEFAULT_REPLACEMENT: &str = "$1";

/// How label names are validated (`global.metric_name_validation_scheme`). Prometheus v3
/// defaults to `utf8`; `legacy` is the v2 rule `[a-zA-Z_][a-zA-Z0-9_]*`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NameValidation {
    Legacy,
    #[default]
    Utf8,
}

impl NameValidation {
    /// Whether `name` is a valid label name under this scheme.
    pub fn is_valid_label_name(self, name: &str) -> bool {
        match self {
            Self::Utf8 => !name.is_empty(),
            Self::Legacy => is_legacy_name(name),
        }
    }

    /// Like [`Self::is_valid_label_name`] but allowing `$1` / `${name}` references, for
    /// templated `target_label` and `labelmap` replacements.
    fn is_valid_template(self, value: &str) -> bool {
        match self {
            Self::Utf8 => !value.is_empty(),
            Self::Legacy => is_legacy_template(value),
        }
    }
}

fn is_legacy_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Prometheus's `relabelTargetLegacy`: `^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$` with
/// Go's ASCII `\w`.
fn is_legacy_template(value: &str) -> bool {
    const PATTERN: &str =
        r"^(?:(?:[a-zA-Z_]|\$(?:\{[0-9A-Za-z_]+\}|[0-9A-Za-z_]+))+[0-9A-Za-z_]*)+$";
    regex::Regex::new(PATTERN).is_ok_and(|re| re.is_match(value))
}

/// A relabel action. Parsed case-insensitively, as Prometheus does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RelabelAction {
    Drop,
    DropEqual,
    HashMod,
    Keep,
    KeepEqual,
    LabelDrop,
    LabelKeep,
    LabelMap,
    Lowercase,
    #[default]
    Replace,
    Uppercase,
}

impl RelabelAction {
    const ALL: [(&'static str, Self); 11] = [
        ("drop", Self::Drop),
        ("dropequal", Self::DropEqual),
        ("hashmod", Self::HashMod),
        ("keep", Self::Keep),
        ("keepequal", Self::KeepEqual),
        ("labeldrop", Self::LabelDrop),
        ("labelkeep", Self::LabelKeep),
        ("labelmap", Self::LabelMap),
        ("lowercase", Self::Lowercase),
        ("replace", Self::Replace),
        ("uppercase", Self::Uppercase),
    ];

    /// The name Prometheus uses in configs and messages.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, a)| *a == self)
            .map_or("replace", |(name, _)| name)
    }
}

impl fmt::Display for RelabelAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RelabelAction {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let lower = s.to_ascii_lowercase();
        Self::ALL
            .iter()
            .find(|(name, _)| *name == lower)
            .map(|(_, a)| *a)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown relabel action {s:?}")))
    }
}

/// A relabel `regex`: the pattern as written, and the anchored compiled form.
#[derive(Clone)]
pub struct RelabelRegex {
    source: String,
    anchored: regex::Regex,
    /// True only for the default (no `regex:` key). Prometheus compares its default regex
    /// by identity, so `keepequal` with an explicit `regex: (.*)` is refused there too.
    is_default: bool,
}

impl RelabelRegex {
    /// Compiles `source` anchored at both ends, as Prometheus's `relabel.NewRegexp`.
    pub fn new(source: &str) -> Result<Self, regex::Error> {
        let anchored = regex::Regex::new(&format!("^(?s:{source})$"))?;
        Ok(Self {
            source: source.to_owned(),
            anchored,
            is_default: false,
        })
    }

    /// Whether this is the default regex rather than one written in the config.
    pub fn is_default(&self) -> bool {
        self.is_default
    }

    /// The pattern as written in the config.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The anchored regex to match label values against.
    pub fn regex(&self) -> &regex::Regex {
        &self.anchored
    }
}

impl Default for RelabelRegex {
    fn default() -> Self {
        // INVARIANT: DEFAULT_REGEX is a constant valid pattern (covered by a unit test).
        let mut re = Self::new(DEFAULT_REGEX).expect("default relabel regex compiles");
        re.is_default = true;
        re
    }
}

impl PartialEq for RelabelRegex {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for RelabelRegex {}

impl fmt::Debug for RelabelRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RelabelRegex({:?})", self.source)
    }
}

impl Serialize for RelabelRegex {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for RelabelRegex {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // `regex:` with no value is the empty pattern in Prometheus (matches only "").
        let s: Option<String> = Option::deserialize(d)?;
        let s = s.unwrap_or_default();
        Self::new(&s).map_err(|e| {
            serde::de::Error::custom(format!("regex: invalid regex {s:?}: {}", one_line(&e)))
        })
    }
}

/// The regex crate's syntax errors span several lines (pattern, caret, message); a config
/// error message keeps only the message, e.g. "unclosed group".
fn one_line(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .unwrap_or(text.trim())
        .to_owned()
}

/// One `write_relabel_configs` entry, with Prometheus's defaults.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RelabelConfig {
    #[serde(default, deserialize_with = "null_as_default")]
    pub source_labels: Vec<String>,
    #[serde(default = "default_separator", deserialize_with = "null_as_default")]
    pub separator: String,
    #[serde(default)]
    pub regex: RelabelRegex,
    #[serde(default)]
    pub modulus: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub target_label: String,
    #[serde(default = "default_replacement", deserialize_with = "null_as_default")]
    pub replacement: String,
    #[serde(default)]
    pub action: RelabelAction,
    /// The label-name rule for templated targets; set from
    /// `global.metric_name_validation_scheme` when the entry is validated (Prometheus keeps
    /// it in each rule the same way). Not a config key.
    #[serde(skip)]
    pub name_validation: NameValidation,
}

impl Default for RelabelConfig {
    fn default() -> Self {
        Self {
            source_labels: Vec::new(),
            separator: default_separator(),
            regex: RelabelRegex::default(),
            modulus: 0,
            target_label: String::new(),
            replacement: default_replacement(),
            action: RelabelAction::default(),
            name_validation: NameValidation::default(),
        }
    }
}

/// A key written with a null value (`replacement:`, `replacement: ~`) is the empty value,
/// as Go's YAML decoder leaves a null string or list at its zero value.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn default_separator() -> String {
    DEFAULT_SEPARATOR.to_owned()
}

fn default_replacement() -> String {
    DEFAULT_REPLACEMENT.to_owned()
}

/// A relabel rule that Prometheus would refuse (`relabel.Config.Validate`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RelabelError {
    #[error("relabel configuration for hashmod requires non-zero modulus")]
    HashModModulus,
    #[error("{label:?} is invalid 'replacement' for {action} action")]
    InvalidReplacement {
        label: String,
        action: RelabelAction,
    },
    #[error("{label:?} is not a valid label name in source_labels")]
    InvalidSourceLabel { label: String },
    #[error("{label:?} is invalid 'target_label' for {action} action")]
    InvalidTargetLabel {
        label: String,
        action: RelabelAction,
    },
    #[error("relabel configuration for {action} action requires 'target_label' value")]
    MissingTargetLabel { action: RelabelAction },
    #[error("{action} action requires only 'regex', and no other fields")]
    OnlyRegex { action: RelabelAction },
    #[error(
        "{action} action requires only 'source_labels' and `target_label`, and no other fields"
    )]
    OnlySourceAndTarget { action: RelabelAction },
    #[error("'replacement' can not be set for {action} action")]
    ReplacementNotAllowed { action: RelabelAction },
}

impl RelabelConfig {
    /// Prometheus's `relabel.Config.Validate`, rule for rule and in the same order.
    pub fn validate(&self, scheme: NameValidation) -> Result<(), RelabelError> {
        use RelabelAction as A;
        let action = self.action;
        let target = &self.target_label;
        let invalid_target = || RelabelError::InvalidTargetLabel {
            label: target.clone(),
            action,
        };
        if let Some(label) = self
            .source_labels
            .iter()
            .find(|l| !scheme.is_valid_label_name(l))
        {
            return Err(RelabelError::InvalidSourceLabel {
                label: label.clone(),
            });
        }
        if action == A::HashMod && self.modulus == 0 {
            return Err(RelabelError::HashModModulus);
        }
        let needs_target = matches!(
            action,
            A::Replace | A::HashMod | A::Lowercase | A::Uppercase | A::KeepEqual | A::DropEqual
        );
        if needs_target && target.is_empty() {
            return Err(RelabelError::MissingTargetLabel { action });
        }
        if action == A::Replace {
            let valid = if target.contains('$') {
                scheme.is_valid_template(target)
            } else {
                scheme.is_valid_label_name(target)
            };
            if !valid {
                return Err(invalid_target());
            }
        }
        let case_or_equal = matches!(
            action,
            A::Lowercase | A::Uppercase | A::KeepEqual | A::DropEqual
        );
        if case_or_equal && !scheme.is_valid_label_name(target) {
            return Err(invalid_target());
        }
        if case_or_equal && self.replacement != DEFAULT_REPLACEMENT {
            return Err(RelabelError::ReplacementNotAllowed { action });
        }
        if action == A::LabelMap && !scheme.is_valid_template(&self.replacement) {
            return Err(RelabelError::InvalidReplacement {
                label: self.replacement.clone(),
                action,
            });
        }
        if action == A::HashMod && !scheme.is_valid_label_name(target) {
            return Err(invalid_target());
        }
        let other_fields_default = self.modulus == 0
            && self.separator == DEFAULT_SEPARATOR
            && self.replacement == DEFAULT_REPLACEMENT;
        if matches!(action, A::DropEqual | A::KeepEqual)
            && !(other_fields_default && self.regex.is_default())
        {
            return Err(RelabelError::OnlySourceAndTarget { action });
        }
        if matches!(action, A::LabelDrop | A::LabelKeep)
            && !(other_fields_default && self.source_labels.is_empty() && target.is_empty())
        {
            return Err(RelabelError::OnlyRegex { action });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> RelabelConfig {
        match serde_yaml_ng::from_str(yaml) {
            Ok(c) => c,
            Err(e) => panic!("parse {yaml:?}: {e}"),
        }
    }

    #[test]
    fn defaults_are_prometheus_defaults() {
        let c = parse("source_labels: [a]\ntarget_label: b");
        assert_eq!(c.separator, ";");
        assert_eq!(c.regex.as_str(), "(.*)");
        assert_eq!(c.replacement, "$1");
        assert_eq!(c.modulus, 0);
        assert_eq!(c.action, RelabelAction::Replace);
        assert_eq!(
            c,
            RelabelConfig {
                source_labels: vec!["a".into()],
                target_label: "b".into(),
                ..RelabelConfig::default()
            }
        );
    }

    #[test]
    fn null_values_are_empty_as_in_go_yaml() {
        for yaml in ["replacement:", "replacement: ~", "replacement: null"] {
            assert_eq!(parse(yaml).replacement, "", "{yaml}");
        }
        assert_eq!(parse("separator: ~").separator, "");
        assert_eq!(parse("target_label: null").target_label, "");
        assert!(parse("source_labels: ~").source_labels.is_empty());
        // Unquoted numbers are strings where Prometheus expects strings.
        assert_eq!(parse("replacement: 1").replacement, "1");
        assert!(parse("regex: 0").regex.regex().is_match("0"));
    }

    #[test]
    fn action_is_case_insensitive_and_unknown_is_an_error() {
        assert_eq!(
            parse("action: LabelDrop\nregex: x").action,
            RelabelAction::LabelDrop
        );
        assert_eq!(parse("action: HASHMOD").action, RelabelAction::HashMod);
        let err = serde_yaml_ng::from_str::<RelabelConfig>("action: explode").map(|_| ());
        let msg = err.map_err(|e| e.to_string()).unwrap_err();
        assert!(msg.contains("unknown relabel action \"explode\""), "{msg}");
        for (name, action) in RelabelAction::ALL {
            assert_eq!(action.as_str(), name);
        }
    }

    #[test]
    fn regex_is_anchored_and_dotall() {
        let c = parse("regex: 'foo.*'");
        assert!(c.regex.regex().is_match("foobar"));
        assert!(!c.regex.regex().is_match("xfoobar"));
        assert!(c.regex.regex().is_match("foo\nbar"));
        // `a|b` must not become `^a|b$`.
        let alt = parse("regex: 'a|b'");
        assert!(!alt.regex.regex().is_match("ab"));
        assert!(alt.regex.regex().is_match("b"));
        // `regex:` with no value is the empty pattern, as in Prometheus.
        let empty = parse("regex:");
        assert!(empty.regex.regex().is_match(""));
        assert!(!empty.regex.regex().is_match("x"));
        let bad = serde_yaml_ng::from_str::<RelabelConfig>("regex: '(unclosed'");
        let msg = bad.map(|_| ()).map_err(|e| e.to_string()).unwrap_err();
        assert_eq!(msg, "regex: invalid regex \"(unclosed\": unclosed group");
    }

    #[test]
    fn validate_table() {
        use RelabelAction as A;
        use RelabelError as E;
        let utf8 = NameValidation::Utf8;
        let legacy = NameValidation::Legacy;
        // (yaml, scheme, expected)
        let cases: Vec<(&str, NameValidation, Result<(), RelabelError>)> = vec![
            ("source_labels: [a]\ntarget_label: b", utf8, Ok(())),
            (
                "action: keep\nsource_labels: [__name__]\nregex: up",
                utf8,
                Ok(()),
            ),
            ("action: drop\nsource_labels: [job]", legacy, Ok(())),
            (
                "action: hashmod\ntarget_label: h",
                utf8,
                Err(E::HashModModulus),
            ),
            ("action: hashmod\ntarget_label: h\nmodulus: 4", utf8, Ok(())),
            (
                "action: hashmod\ntarget_label: 'a-b'\nmodulus: 4",
                legacy,
                Err(E::InvalidTargetLabel {
                    label: "a-b".into(),
                    action: A::HashMod,
                }),
            ),
            (
                "action: replace",
                utf8,
                Err(E::MissingTargetLabel { action: A::Replace }),
            ),
            (
                "action: lowercase",
                utf8,
                Err(E::MissingTargetLabel {
                    action: A::Lowercase,
                }),
            ),
            (
                "action: uppercase",
                utf8,
                Err(E::MissingTargetLabel {
                    action: A::Uppercase,
                }),
            ),
            (
                "action: keepequal",
                utf8,
                Err(E::MissingTargetLabel {
                    action: A::KeepEqual,
                }),
            ),
            (
                "action: dropequal",
                utf8,
                Err(E::MissingTargetLabel {
                    action: A::DropEqual,
                }),
            ),
            (
                "target_label: 'a-b'",
                legacy,
                Err(E::InvalidTargetLabel {
                    label: "a-b".into(),
                    action: A::Replace,
                }),
            ),
            ("target_label: 'a-b'", utf8, Ok(())),
            ("target_label: '${1}_x'", legacy, Ok(())),
            ("target_label: '$1'", legacy, Ok(())),
            (
                "target_label: '$-1'",
                legacy,
                Err(E::InvalidTargetLabel {
                    label: "$-1".into(),
                    action: A::Replace,
                }),
            ),
            (
                "action: lowercase\ntarget_label: x\nreplacement: y",
                utf8,
                Err(E::ReplacementNotAllowed {
                    action: A::Lowercase,
                }),
            ),
            (
                "action: uppercase\ntarget_label: 'a b'",
                legacy,
                Err(E::InvalidTargetLabel {
                    label: "a b".into(),
                    action: A::Uppercase,
                }),
            ),
            (
                "action: labelmap\nregex: 'k8s_(.+)'\nreplacement: '$1'",
                legacy,
                Ok(()),
            ),
            (
                "action: labelmap\nreplacement: 'a-$1'",
                legacy,
                Err(E::InvalidReplacement {
                    label: "a-$1".into(),
                    action: A::LabelMap,
                }),
            ),
            (
                "action: keepequal\ntarget_label: a\nsource_labels: [b]",
                utf8,
                Ok(()),
            ),
            (
                "action: keepequal\ntarget_label: a\nseparator: ','",
                utf8,
                Err(E::OnlySourceAndTarget {
                    action: A::KeepEqual,
                }),
            ),
            (
                "action: dropequal\ntarget_label: a\nregex: x",
                utf8,
                Err(E::OnlySourceAndTarget {
                    action: A::DropEqual,
                }),
            ),
            (
                // Prometheus compares the default regex by identity: written out, it counts
                // as a regex that keepequal does not take.
                "action: keepequal\ntarget_label: a\nregex: '(.*)'",
                utf8,
                Err(E::OnlySourceAndTarget {
                    action: A::KeepEqual,
                }),
            ),
            ("action: labeldrop\nregex: 'tmp_.*'", utf8, Ok(())),
            (
                "action: labeldrop\nregex: x\nsource_labels: [a]",
                utf8,
                Err(E::OnlyRegex {
                    action: A::LabelDrop,
                }),
            ),
            (
                "action: labelkeep\nregex: x\ntarget_label: a",
                utf8,
                Err(E::OnlyRegex {
                    action: A::LabelKeep,
                }),
            ),
            (
                "action: labelkeep\nregex: x\nmodulus: 2",
                utf8,
                Err(E::OnlyRegex {
                    action: A::LabelKeep,
                }),
            ),
            (
                "source_labels: ['a.b']\ntarget_label: c",
                legacy,
                Err(E::InvalidSourceLabel {
                    label: "a.b".into(),
                }),
            ),
            ("source_labels: ['a.b']\ntarget_label: c", utf8, Ok(())),
        ];
        for (yaml, scheme, want) in cases {
            assert_eq!(parse(yaml).validate(scheme), want, "{yaml}");
        }
    }

    #[test]
    fn default_regex_compiles() {
        assert!(RelabelRegex::new(DEFAULT_REGEX).is_ok());
    }
}
