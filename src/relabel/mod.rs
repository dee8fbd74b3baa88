//! `write_relabel_configs` and `global.external_labels`, applied as Prometheus applies them
//! to a series before remote write (`QueueManager.StoreSeries`, HEAD):
//!
//! 1. start from the series labels of the WAL's Series record;
//! 2. add each external label whose name the series does not have, or has with an empty
//!    value (`processExternalLabels`: a label already on the series wins);
//! 3. run the rules in order (`relabel.ProcessBuilder`); a rule that drops ends it and the
//!    series is dropped: its samples, exemplars and histograms are counted as
//!    `*_dropped_total{reason="dropped_series"}`, not as failures;
//! 4. the result is sorted by name and has no empty values. Like Prometheus since v2.51,
//!    a series left with no labels at all is still sent (v2.42 dropped it).
//!
//! It runs once per series, when the series cache stores the ref; samples only look the
//! ref up. The parsing and validation of rules is in [`crate::config`]; this module
//! compiles the templates and evaluates.
//!
//! Semantics are Prometheus's `model/relabel` exactly, including the corners: regexes are
//! anchored `^(?s:…)$`; `$1x` in a template is the group named `1x` (see [`template`]);
//! a `replace` whose regex does not match, or whose expanded `target_label` is not a valid
//! label name, changes nothing; an empty expanded replacement deletes the target; a missing
//! source label is ""; `hashmod` is the last 8 bytes of the md5 of the joined value,
//! big-endian, modulo `modulus`; `lowercase`/`uppercase` use Go's simple case mappings.
//! Known differences: the `regex` crate's `\d`, `\w`, `\s`, `\b` are Unicode-aware (ASCII
//! in Go) and it has no `\Q...\E` (refused at load); label bytes that are not UTF-8 are
//! matched (and copied by templates) as U+FFFD; Prometheus refuses such labels at ingestion.

mod builder;
mod case;
mod md5;
mod template;

pub use builder::{LabelBuilder, Labels};
pub use template::Template;

use crate::config::{NameValidation, RelabelAction, RelabelConfig};
use std::borrow::Cow;

/// External labels plus compiled rules for one endpoint, with reused scratch space.
#[derive(Debug)]
pub struct Relabeler {
    /// Sorted by name, empty values left out (setting one would be a no-op delete).
    external: Vec<(Vec<u8>, Vec<u8>)>,
    rules: Vec<Rule>,
    builder: LabelBuilder,
    value: Vec<u8>,
}

impl Relabeler {
    /// Compiles `rules` (already validated by the config loader) for `external_labels`.
    pub fn new(external_labels: &[(String, String)], rules: &[RelabelConfig]) -> Relabeler {
        let mut external: Vec<(Vec<u8>, Vec<u8>)> = external_labels
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect();
        external.sort();
        external.dedup_by(|a, b| a.0 == b.0);
        Relabeler {
            external,
            rules: rules.iter().map(Rule::new).collect(),
            builder: LabelBuilder::default(),
            value: Vec::new(),
        }
    }

    /// The labels to send for a series with `labels`, or `None` if a rule dropped it.
    pub fn process<'a>(
        &mut self,
        labels: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
    ) -> Option<Labels<'_>> {
        let b = &mut self.builder;
        b.reset(labels);
        for (name, value) in &self.external {
            if b.get(name).is_empty() {
                b.set(name, value);
            }
        }
        for rule in &self.rules {
            if !rule.apply(b, &mut self.value) {
                return None;
            }
        }
        b.finish();
        Some(b.labels())
    }
}

/// One compiled `write_relabel_configs` entry.
#[derive(Debug)]
struct Rule {
    action: RelabelAction,
    source_labels: Vec<Vec<u8>>,
    separator: Vec<u8>,
    regex: regex::Regex,
    /// The `regex` key was absent (Prometheus's identity test for its fast path).
    default_regex: bool,
    modulus: u64,
    target: Template,
    replacement: Template,
    scheme: NameValidation,
}

impl Rule {
    fn new(c: &RelabelConfig) -> Rule {
        let regex = c.regex.regex().clone();
        Rule {
            action: c.action,
            source_labels: c
                .source_labels
                .iter()
                .map(|l| l.as_bytes().to_vec())
                .collect(),
            separator: c.separator.as_bytes().to_vec(),
            default_regex: c.regex.is_default(),
            modulus: c.modulus,
            target: Template::parse(&c.target_label, &regex),
            replacement: Template::parse(&c.replacement, &regex),
            regex,
            scheme: c.name_validation,
        }
    }

    fn target_label(&self) -> &[u8] {
        self.target.as_str().as_bytes()
    }

    /// Applies the rule; false if the series is dropped. `value` is scratch space.
    fn apply(&self, b: &mut LabelBuilder, value: &mut Vec<u8>) -> bool {
        use RelabelAction as A;
        value.clear();
        for (i, name) in self.source_labels.iter().enumerate() {
            if i > 0 {
                value.extend_from_slice(&self.separator);
            }
            value.extend_from_slice(b.get(name));
        }
        match self.action {
            A::Drop => !self.regex.is_match(&text(value)),
            A::Keep => self.regex.is_match(&text(value)),
            A::DropEqual => b.get(self.target_label()) != value.as_slice(),
            A::KeepEqual => b.get(self.target_label()) == value.as_slice(),
            A::Replace => {
                self.replace(b, value);
                true
            }
            A::Lowercase => {
                b.set(self.target_label(), case::to_lower(&text(value)).as_bytes());
                true
            }
            A::Uppercase => {
                b.set(self.target_label(), case::to_upper(&text(value)).as_bytes());
                true
            }
            A::HashMod => {
                b.set(
                    self.target_label(),
                    hashmod(value, self.modulus).to_string().as_bytes(),
                );
                true
            }
            A::LabelMap => {
                let mapped: Vec<(String, Vec<u8>)> = b
                    .range()
                    .filter_map(|(name, v)| {
                        let name = text(name);
                        self.regex
                            .is_match(&name)
                            .then(|| (self.replace_all(&name), v.to_vec()))
                    })
                    .collect();
                for (name, v) in mapped {
                    b.set(name.as_bytes(), &v);
                }
                true
            }
            A::LabelDrop | A::LabelKeep => {
                let keep_matching = self.action == A::LabelKeep;
                let gone: Vec<Vec<u8>> = b
                    .range()
                    .filter(|(name, _)| self.regex.is_match(&text(name)) != keep_matching)
                    .map(|(name, _)| name.to_vec())
                    .collect();
                for name in gone {
                    b.del(&name);
                }
                true
            }
        }
    }

    fn replace(&self, b: &mut LabelBuilder, value: &[u8]) {
        // Prometheus's fast path: a constant label (no source value, default regex, no
        // templates) is set as written, an empty replacement deleting it.
        if value.is_empty()
            && self.default_regex
            && !self.target.has_dollar()
            && !self.replacement.has_dollar()
        {
            b.set(self.target_label(), self.replacement.as_str().as_bytes());
            return;
        }
        let value = text(value);
        let Some(caps) = self.regex.captures(&value) else {
            return;
        };
        let mut target = String::new();
        self.target.expand(&mut target, &caps);
        if !self.scheme.is_valid_label_name(&target) {
            return;
        }
        let mut replaced = String::new();
        self.replacement.expand(&mut replaced, &caps);
        // An empty value deletes (LabelBuilder::set).
        b.set(target.as_bytes(), replaced.as_bytes());
    }

    /// Go's `Regexp.ReplaceAllString(name, replacement)`: one replacement for an anchored
    /// regex, but a pattern such as `a)|(b` escapes the anchors and may match in pieces.
    fn replace_all(&self, name: &str) -> String {
        let mut out = String::new();
        let mut last = 0;
        for caps in self.regex.captures_iter(name) {
            let Some(m) = caps.get(0) else { continue };
            out.push_str(&name[last..m.start()]);
            self.replacement.expand(&mut out, &caps);
            last = m.end();
        }
        out.push_str(&name[last..]);
        out
    }
}

/// Label bytes as text for the regex (Go decodes invalid UTF-8 as U+FFFD too).
fn text(bytes: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

/// Prometheus's `hashmod`: md5 of the value, the digest's last 8 bytes as a big-endian
/// u64, modulo `modulus` (validated non-zero).
pub fn hashmod(value: &[u8], modulus: u64) -> u64 {
    let digest = md5::digest(value);
    let mut tail = [0u8; 8];
    tail.copy_from_slice(&digest[8..]);
    u64::from_be_bytes(tail) % modulus.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `write_relabel_configs` YAML -> validated rules (UTF-8 names, Prometheus v3).
    fn rules(yaml: &str) -> Vec<RelabelConfig> {
        rules_with(yaml, NameValidation::Utf8)
    }

    fn rules_with(yaml: &str, scheme: NameValidation) -> Vec<RelabelConfig> {
        let mut rules: Vec<RelabelConfig> = match serde_yaml_ng::from_str(yaml) {
            Ok(r) => r,
            Err(e) => panic!("rules {yaml}: {e}"),
        };
        for r in &mut rules {
            if let Err(e) = r.validate(scheme) {
                panic!("invalid rule in {yaml}: {e}");
            }
            r.name_validation = scheme;
        }
        rules
    }

    /// Runs `rules` (with `external` labels) on `input`: `None` if dropped, else the
    /// labels as `name=value` joined by `,`.
    fn run(
        external: &[(&str, &str)],
        rules: &[RelabelConfig],
        input: &[(&str, &str)],
    ) -> Option<String> {
        let external: Vec<(String, String)> = external
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        let mut r = Relabeler::new(&external, rules);
        let labels = r.process(input.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())))?;
        let pairs: Vec<String> = labels
            .map(|(n, v)| {
                format!(
                    "{}={}",
                    String::from_utf8_lossy(n),
                    String::from_utf8_lossy(v)
                )
            })
            .collect();
        Some(pairs.join(","))
    }

    struct Case {
        name: &'static str,
        input: &'static [(&'static str, &'static str)],
        rules: &'static str,
        /// `None`: the series is dropped.
        want: Option<&'static str>,
    }

    /// Prometheus's `TestRelabel` (model/relabel/relabel_test.go), case by case. The Go
    /// cases are unnamed; the names here say what each one checks. Expected outputs follow
    /// from the semantics (hashmod values were checked against an independent md5).
    const PROMETHEUS_CASES: &[Case] = &[
        Case {
            name: "replace_with_group_template",
            input: &[("a", "foo"), ("b", "bar"), ("c", "baz")],
            rules: "[{source_labels: [a], regex: 'f(.*)', target_label: d, replacement: 'ch${1}-ch${1}'}]",
            want: Some("a=foo,b=bar,c=baz,d=choo-choo"),
        },
        Case {
            name: "replace_chained_rules_see_earlier_results",
            input: &[("a", "foo"), ("b", "bar"), ("c", "baz")],
            rules: "[{source_labels: [a, b], regex: 'f(.*);(.*)r', target_label: a, replacement: 'b${1}${2}m'},
                     {source_labels: [c, a], regex: '(b).*b(.*)ba(.*)', target_label: d, replacement: '$1$2$2$3'}]",
            want: Some("a=boobam,b=bar,c=baz,d=boooom"),
        },
        Case {
            name: "drop_stops_before_later_rules",
            input: &[("a", "foo")],
            rules: "[{source_labels: [a], regex: '.*o.*', action: drop},
                     {source_labels: [a], regex: 'f(.*)', target_label: d, replacement: 'ch$1-ch$1'}]",
            want: None,
        },
        Case {
            name: "drop_on_match",
            input: &[("a", "foo"), ("b", "bar")],
            rules: "[{source_labels: [a], regex: '.*o.*', action: drop}]",
            want: None,
        },
        Case {
            name: "replace_inner_group",
            input: &[("a", "abc")],
            rules: "[{source_labels: [a], regex: '.*(b).*', target_label: d, replacement: '$1'}]",
            want: Some("a=abc,d=b"),
        },
        Case {
            name: "drop_no_match_keeps",
            input: &[("a", "foo")],
            rules: "[{source_labels: [a], regex: no-match, action: drop}]",
            want: Some("a=foo"),
        },
        Case {
            name: "drop_regex_is_anchored",
            input: &[("a", "foo")],
            rules: "[{source_labels: [a], regex: 'f|o', action: drop}]",
            want: Some("a=foo"),
        },
        Case {
            name: "keep_no_match_drops",
            input: &[("a", "foo")],
            rules: "[{source_labels: [a], regex: no-match, action: keep}]",
            want: None,
        },
        Case {
            name: "keep_match_keeps",
            input: &[("a", "foo")],
            rules: "[{source_labels: [a], regex: 'f.*', action: keep}]",
            want: Some("a=foo"),
        },
        Case {
            name: "replace_without_match_changes_nothing",
            input: &[("a", "boo")],
            rules: "[{source_labels: [a], regex: f, target_label: b, replacement: bar}]",
            want: Some("a=boo"),
        },
        Case {
            name: "replace_blank_replacement_deletes_target",
            input: &[("a", "foo"), ("f", "baz")],
            rules: "[{source_labels: [a], regex: '(f).*', target_label: '$1', replacement: '$2'}]",
            want: Some("a=foo"),
        },
        Case {
            name: "hashmod",
            input: &[("a", "foo"), ("b", "bar"), ("c", "baz")],
            rules: "[{source_labels: [c], target_label: d, action: hashmod, modulus: 1000}]",
            want: Some("a=foo,b=bar,c=baz,d=976"),
        },
        Case {
            name: "hashmod_newline_value",
            input: &[("a", "foo\nbar")],
            rules: "[{source_labels: [a], target_label: b, action: hashmod, modulus: 1000}]",
            want: Some("a=foo\nbar,b=734"),
        },
        Case {
            name: "labelmap_prefix",
            input: &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
            rules: "[{regex: '(b.*)', replacement: 'bar_${1}', action: labelmap}]",
            want: Some("a=foo,b1=bar,b2=baz,bar_b1=bar,bar_b2=baz"),
        },
        Case {
            name: "labelmap_strip_meta_prefix",
            input: &[
                ("a", "foo"),
                ("__meta_my_bar", "aaa"),
                ("__meta_my_baz", "bbb"),
                ("__meta_other", "ccc"),
            ],
            rules: "[{regex: '__meta_(my.*)', replacement: '${1}', action: labelmap}]",
            want: Some("__meta_my_bar=aaa,__meta_my_baz=bbb,__meta_other=ccc,a=foo,my_bar=aaa,my_baz=bbb"),
        },
        Case {
            name: "replace_templated_target",
            input: &[("a", "some-name-value")],
            rules: "[{source_labels: [a], regex: 'some-([^-]+)-([^,]+)', action: replace, replacement: '${2}', target_label: '${1}'}]",
            want: Some("a=some-name-value,name=value"),
        },
        Case {
            name: "replace_missing_group_replacement_deletes",
            input: &[("a", "some-name-value")],
            rules: "[{source_labels: [a], regex: 'some-([^-]+)-([^,]+)', action: replace, replacement: '${3}', target_label: '${1}'}]",
            want: Some("a=some-name-value"),
        },
        Case {
            name: "replace_invalid_expanded_target_is_skipped",
            input: &[("a", "some-name-0")],
            rules: "[{source_labels: [a], regex: 'some-([^-]+)-([^,]+)', action: replace, replacement: '${1}', target_label: '${3}'},
                     {source_labels: [a], regex: 'some-([^-]+)-([^,]+)', action: replace, replacement: '${1}', target_label: '${3}'},
                     {source_labels: [a], regex: 'some-([^-]+)(-[^,]+)', action: replace, replacement: '${1}', target_label: '${3}'}]",
            want: Some("a=some-name-0"),
        },
        Case {
            name: "replace_real_life_sd_tags",
            input: &[("__meta_sd_tags", "path:/secret,job:some-job,label:foo=bar")],
            rules: "[{source_labels: [__meta_sd_tags], regex: '(?:.+,|^)path:(/[^,]+).*', action: replace, replacement: '${1}', target_label: __metrics_path__},
                     {source_labels: [__meta_sd_tags], regex: '(?:.+,|^)job:([^,]+).*', action: replace, replacement: '${1}', target_label: job},
                     {source_labels: [__meta_sd_tags], regex: '(?:.+,|^)label:([^=]+)=([^,]+).*', action: replace, replacement: '${2}', target_label: '${1}'}]",
            want: Some("__meta_sd_tags=path:/secret,job:some-job,label:foo=bar,__metrics_path__=/secret,foo=bar,job=some-job"),
        },
        Case {
            name: "issue_12283_labeldrop_then_set_again",
            input: &[
                ("__meta_kubernetes_pod_container_port_name", "foo"),
                ("__meta_kubernetes_pod_annotation_XXX_metrics_port", "9091"),
            ],
            rules: "[{regex: '^__meta_kubernetes_pod_container_port_name$', action: labeldrop},
                     {source_labels: [__meta_kubernetes_pod_annotation_XXX_metrics_port], regex: '(.+)', action: replace, replacement: metrics, target_label: __meta_kubernetes_pod_container_port_name},
                     {source_labels: [__meta_kubernetes_pod_container_port_name], regex: '^metrics$', action: keep}]",
            want: Some("__meta_kubernetes_pod_annotation_XXX_metrics_port=9091,__meta_kubernetes_pod_container_port_name=metrics"),
        },
        Case {
            name: "labelkeep",
            input: &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
            rules: "[{regex: '(b.*)', action: labelkeep}]",
            want: Some("b1=bar,b2=baz"),
        },
        Case {
            name: "labeldrop",
            input: &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
            rules: "[{regex: '(b.*)', action: labeldrop}]",
            want: Some("a=foo"),
        },
        Case {
            name: "uppercase_and_lowercase",
            input: &[("foo", "bAr123Foo")],
            rules: "[{source_labels: [foo], action: uppercase, target_label: foo_uppercase},
                     {source_labels: [foo], action: lowercase, target_label: foo_lowercase}]",
            want: Some("foo=bAr123Foo,foo_lowercase=bar123foo,foo_uppercase=BAR123FOO"),
        },
        Case {
            name: "keepequal_equal_keeps",
            input: &[("__tmp_port", "1234"), ("__port1", "1234"), ("__port2", "5678")],
            rules: "[{source_labels: [__tmp_port], action: keepequal, target_label: __port1}]",
            want: Some("__port1=1234,__port2=5678,__tmp_port=1234"),
        },
        Case {
            name: "dropequal_equal_drops",
            input: &[("__tmp_port", "1234"), ("__port1", "1234"), ("__port2", "5678")],
            rules: "[{source_labels: [__tmp_port], action: dropequal, target_label: __port1}]",
            want: None,
        },
        Case {
            name: "dropequal_different_keeps",
            input: &[("__tmp_port", "1234"), ("__port1", "1234"), ("__port2", "5678")],
            rules: "[{source_labels: [__tmp_port], action: dropequal, target_label: __port2}]",
            want: Some("__port1=1234,__port2=5678,__tmp_port=1234"),
        },
        Case {
            name: "keepequal_different_drops",
            input: &[("__tmp_port", "1234"), ("__port1", "1234"), ("__port2", "5678")],
            rules: "[{source_labels: [__tmp_port], action: keepequal, target_label: __port2}]",
            want: None,
        },
        Case {
            name: "replace_dot_matches_newline",
            input: &[("a", "line1\nline2"), ("b", "bar"), ("c", "baz")],
            rules: "[{source_labels: [a], regex: 'line1.*line2', target_label: d, replacement: 'match${1}'}]",
            want: Some("a=line1\nline2,b=bar,c=baz,d=match"),
        },
        Case {
            name: "replace_utf8_source_label",
            input: &[("utf-8.label", "line1\nline2"), ("b", "bar"), ("c", "baz")],
            rules: "[{source_labels: [utf-8.label], regex: 'line1.*line2', target_label: d, replacement: 'match${1}'}]",
            want: Some("b=bar,c=baz,d=match,utf-8.label=line1\nline2"),
        },
        Case {
            name: "replace_utf8_target_label",
            input: &[("a", "line1\nline2"), ("b", "bar"), ("c", "baz")],
            rules: "[{source_labels: [a], regex: 'line1.*line2', target_label: utf-8.label, replacement: 'match${1}'}]",
            want: Some("a=line1\nline2,b=bar,c=baz,utf-8.label=match"),
        },
        Case {
            name: "replace_utf8_target_label_with_variable",
            input: &[("a", "line1\nline2"), ("b", "bar"), ("c", "baz")],
            rules: "[{source_labels: [a], regex: 'line1.*line2', target_label: 'utf-8.label${1}', replacement: 'match${1}'}]",
            want: Some("a=line1\nline2,b=bar,c=baz,utf-8.label=match"),
        },
        Case {
            name: "replace_named_groups_both_styles",
            input: &[("a", "line1\nline2"), ("b", "bar"), ("c", "baz")],
            rules: "[{source_labels: [a], regex: '(line1).*(?<second>line2)', target_label: 'label1_${1}', replacement: 'val_${second}'},
                     {source_labels: [a], regex: '(line1).*(?<second>line2)', target_label: 'label2_$1', replacement: 'val_$second'}]",
            want: Some("a=line1\nline2,b=bar,c=baz,label1_line1=val_line2,label2_line1=val_line2"),
        },
        Case {
            name: "replace_type_label_from_name",
            input: &[("__name__", "http_requests_total")],
            rules: "[{source_labels: [__name__], regex: '.*_total$', target_label: __type__, replacement: counter}]",
            want: Some("__name__=http_requests_total,__type__=counter"),
        },
        Case {
            name: "replace_unit_label_from_name",
            input: &[("__name__", "disk_usage_bytes")],
            rules: "[{source_labels: [__name__], regex: '.*_bytes$', target_label: __unit__, replacement: bytes}]",
            want: Some("__name__=disk_usage_bytes,__unit__=bytes"),
        },
    ];

    /// Corners of the same semantics that Prometheus's table does not cover.
    const MORE_CASES: &[Case] = &[
        Case {
            name: "defaults_copy_source_to_target",
            input: &[("a", "x")],
            rules: "[{source_labels: [a], target_label: b}]",
            want: Some("a=x,b=x"),
        },
        Case {
            name: "static_label_fast_path",
            input: &[("a", "x")],
            rules: "[{target_label: env, replacement: prod}]",
            want: Some("a=x,env=prod"),
        },
        Case {
            name: "static_empty_replacement_deletes",
            input: &[("a", "x"), ("env", "dev")],
            rules: "[{target_label: env, replacement: ''}]",
            want: Some("a=x"),
        },
        Case {
            name: "missing_source_is_empty_string",
            input: &[("a", "x")],
            rules: "[{source_labels: [nope, a], regex: ';x', action: keep}]",
            want: Some("a=x"),
        },
        Case {
            name: "custom_separator",
            input: &[("a", "1"), ("b", "2")],
            rules: "[{source_labels: [a, b], separator: '/', target_label: c}]",
            want: Some("a=1,b=2,c=1/2"),
        },
        Case {
            name: "dollar_one_x_is_a_group_name",
            input: &[("a", "v")],
            rules: "[{source_labels: [a], regex: '(.*)', target_label: b, replacement: '$1x'},
                     {source_labels: [a], regex: '(.*)', target_label: c, replacement: '${1}x'}]",
            want: Some("a=v,c=vx"),
        },
        Case {
            name: "static_pair_benchmark_rules",
            input: &[("job", "foo")],
            rules: "[{replacement: dropped, target_label: '${0}'},
                     {replacement: '${0}', target_label: dropped},
                     {source_labels: [something], target_label: with_source_labels, replacement: value}]",
            want: Some("job=foo,with_source_labels=value"),
        },
        Case {
            name: "labelmap_collision_last_in_range_order_wins",
            // Range order: base labels sorted (x_a, y_a), so y_a's value is set last.
            input: &[("x_a", "1"), ("y_a", "2")],
            rules: "[{regex: '[xy]_(a)', replacement: 'm_$1', action: labelmap}]",
            want: Some("m_a=2,x_a=1,y_a=2"),
        },
        Case {
            name: "labelmap_sees_labels_set_by_earlier_rules",
            input: &[("b", "1")],
            rules: "[{target_label: tmp_z, replacement: new},
                     {regex: 'tmp_(.*)', replacement: '$1', action: labelmap},
                     {regex: 'tmp_.*', action: labeldrop}]",
            want: Some("b=1,z=new"),
        },
        Case {
            name: "labelkeep_must_keep_name_or_it_goes",
            input: &[("__name__", "up"), ("job", "x")],
            rules: "[{regex: job, action: labelkeep}]",
            want: Some("job=x"),
        },
        Case {
            name: "every_label_removed_still_sent",
            input: &[("a", "x")],
            rules: "[{regex: '.*', action: labeldrop}]",
            want: Some(""),
        },
        Case {
            name: "lowercase_of_nothing_deletes_target",
            input: &[("a", "x"), ("t", "old")],
            rules: "[{source_labels: [nope], action: lowercase, target_label: t}]",
            want: Some("a=x"),
        },
        Case {
            name: "dropequal_missing_target_equals_empty_source",
            input: &[("a", "x")],
            rules: "[{source_labels: [nope], action: dropequal, target_label: also_nope}]",
            want: None,
        },
        Case {
            name: "hashmod_keep_one_shard",
            // md5("b") % 4 == 3, md5("a") % 4 == 1 (independently computed).
            input: &[("instance", "b")],
            rules: "[{source_labels: [instance], target_label: __tmp_hash, modulus: 4, action: hashmod},
                     {source_labels: [__tmp_hash], regex: '3', action: keep},
                     {regex: __tmp_hash, action: labeldrop}]",
            want: Some("instance=b"),
        },
        Case {
            name: "hashmod_keep_other_shard_drops",
            input: &[("instance", "a")],
            rules: "[{source_labels: [instance], target_label: __tmp_hash, modulus: 4, action: hashmod},
                     {source_labels: [__tmp_hash], regex: '3', action: keep}]",
            want: None,
        },
        Case {
            name: "broken_anchor_labelmap_replaces_pieces",
            // `^(?s:a)|(b)$`: matches a leading `a` and a trailing `b` separately.
            input: &[("axb", "1")],
            rules: "[{regex: 'a)|(b', replacement: 'Z', action: labelmap}]",
            want: Some("ZxZ=1,axb=1"),
        },
    ];

    #[test]
    fn prometheus_relabel_cases() {
        for c in PROMETHEUS_CASES.iter().chain(MORE_CASES) {
            let got = run(&[], &rules(c.rules), c.input);
            assert_eq!(got.as_deref(), c.want, "case {}", c.name);
        }
    }

    #[test]
    fn external_labels_precedence_then_rules() {
        let ext = [("cluster", "eu"), ("job", "ext"), ("empty", "")];
        // The series' own label wins; a missing one is added.
        assert_eq!(
            run(&ext, &[], &[("__name__", "up"), ("job", "node")]).as_deref(),
            Some("__name__=up,cluster=eu,job=node")
        );
        // A series label with an empty value counts as absent (Builder.Get returns "").
        assert_eq!(
            run(&ext, &[], &[("job", "")]).as_deref(),
            Some("cluster=eu,job=ext")
        );
        // External labels are there before relabeling: rules can drop on them, map them,
        // and remove them.
        let drop_eu = rules("[{source_labels: [cluster], regex: eu, action: drop}]");
        assert_eq!(run(&ext, &drop_eu, &[("a", "1")]), None);
        let rm = rules("[{regex: cluster, action: labeldrop}]");
        assert_eq!(
            run(&ext, &rm, &[("a", "1")]).as_deref(),
            Some("a=1,job=ext")
        );
    }

    #[test]
    fn legacy_scheme_skips_invalid_expanded_target() {
        let input = [("a", "some-na.me-v")];
        let yaml = "[{source_labels: [a], regex: 'some-([^-]+)-(.+)', target_label: '${1}', replacement: '$2'}]";
        // "na.me" is a valid UTF-8 label name but not a legacy one.
        assert_eq!(
            run(&[], &rules(yaml), &input).as_deref(),
            Some("a=some-na.me-v,na.me=v")
        );
        assert_eq!(
            run(&[], &rules_with(yaml, NameValidation::Legacy), &input).as_deref(),
            Some("a=some-na.me-v")
        );
    }

    #[test]
    fn hashmod_is_md5_tail_big_endian() {
        // Values from an independent md5 implementation (Python's hashlib).
        assert_eq!(hashmod(b"baz", 1000), 976);
        assert_eq!(hashmod(b"foo\nbar", 1000), 734);
        assert_eq!(hashmod(b"a", 4), 1);
        assert_eq!(hashmod(b"b", 4), 3);
        // md5("") = d41d8cd98f00b204 e9800998ecf8427e: the tail, whole.
        assert_eq!(hashmod(b"", u64::MAX), 0xe980_0998_ecf8_427e);
    }

    #[test]
    fn relabeler_is_reusable_across_series() {
        let r = rules("[{source_labels: [a], regex: drop-me, action: drop}, {target_label: t, replacement: x}]");
        let mut relabeler = Relabeler::new(&[("ext".into(), "e".into())], &r);
        let as_text = |l: Option<Labels<'_>>| {
            l.map(|it| {
                it.map(|(n, v)| {
                    format!(
                        "{}={}",
                        String::from_utf8_lossy(n),
                        String::from_utf8_lossy(v)
                    )
                })
                .collect::<Vec<_>>()
                .join(",")
            })
        };
        let first = as_text(relabeler.process([(&b"a"[..], &b"drop-me"[..])]));
        assert_eq!(first, None);
        let second = as_text(relabeler.process([(&b"b"[..], &b"1"[..])]));
        assert_eq!(second.as_deref(), Some("b=1,ext=e,t=x"));
    }
}
