//! Tenants (`tenant_label`, `tenant_header`, `tenant_default`, ringwrite extension keys):
//! each request carries a header (e.g. `X-Scope-OrgID`) whose value is a series label, so one
//! endpoint, one WAL read and one series cache serve many tenants of a multi-tenant receiver
//! (USERS.md item 10).
//!
//! A shard's batch is split by tenant just before sending, each group keeping the batch's
//! order (so per-series order holds: a series has one tenant). The tenant of an item is read
//! from its series' pre-encoded RW 1.0 labels, which include the external labels.

use http::{HeaderName, HeaderValue};

use super::{Item, ShardSeries};

/// How an endpoint picks the tenant of a series.
#[derive(Debug, Clone)]
pub struct Tenants {
    label: Box<[u8]>,
    header: HeaderName,
    /// For series without the label (or with a value a header cannot carry): `None` sends
    /// no tenant header.
    default: Option<HeaderValue>,
}

/// One group of a split batch: its tenant header (if any) and its items in batch order.
pub type TenantGroup = (Option<(HeaderName, HeaderValue)>, Vec<Item>);

impl Tenants {
    /// `label` names the tenant label, `header` the header to set; `default` is used for
    /// series without the label (empty: no header). `None` when `header` or `default` cannot
    /// be sent (the config layer checks both first).
    pub fn new(label: &str, header: &str, default: &str) -> Option<Tenants> {
        let header = HeaderName::from_bytes(header.as_bytes()).ok()?;
        let default = if default.is_empty() {
            None
        } else {
            Some(HeaderValue::from_str(default).ok()?)
        };
        Some(Tenants {
            label: label.as_bytes().into(),
            header,
            default,
        })
    }

    /// What a `remote_write` entry asks for (`None`: no `tenant_label`).
    pub fn from_config(c: &crate::config::RemoteWriteConfig) -> Option<std::sync::Arc<Tenants>> {
        if c.tenant_label.is_empty() {
            return None;
        }
        Self::new(&c.tenant_label, &c.tenant_header, &c.tenant_default).map(std::sync::Arc::new)
    }

    /// The tenant header value of one item.
    fn value_of(&self, item: &Item, series: &ShardSeries) -> Option<HeaderValue> {
        series
            .get(item.sref)
            .and_then(|s| label_value(s.rw1_labels(), &self.label))
            .filter(|v| !v.is_empty())
            .and_then(|v| HeaderValue::from_bytes(v).ok())
            .or_else(|| self.default.clone())
    }

    /// Splits `batch` into per-tenant groups, in order of first appearance.
    pub fn split(&self, batch: Vec<Item>, series: &ShardSeries) -> Vec<TenantGroup> {
        let mut groups: Vec<(Option<HeaderValue>, Vec<Item>)> = Vec::new();
        for item in batch {
            let value = self.value_of(&item, series);
            match groups.iter_mut().find(|(v, _)| *v == value) {
                Some((_, items)) => items.push(item),
                None => groups.push((value, vec![item])),
            }
        }
        groups
            .into_iter()
            .map(|(v, items)| (v.map(|v| (self.header.clone(), v)), items))
            .collect()
    }
}

/// The value of label `name` in RW 1.0 `Label` messages (each `0x0a len {1: name, 2: value}`).
pub fn label_value<'a>(mut rw1: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    while !rw1.is_empty() {
        let (_key, rest) = rw1.split_first()?;
        let (len, rest) = varint(rest)?;
        let body = rest.get(..len)?;
        rw1 = &rest[len..];
        let (mut n, mut v): (&[u8], &[u8]) = (&[], &[]);
        let mut b = body;
        while let Some((&tag, rest)) = b.split_first() {
            let (flen, rest) = varint(rest)?;
            let field = rest.get(..flen)?;
            match tag >> 3 {
                1 => n = field,
                2 => v = field,
                _ => {}
            }
            b = &rest[flen..];
        }
        if n == name {
            return Some(v);
        }
    }
    None
}

fn varint(buf: &[u8]) -> Option<(usize, &[u8])> {
    let mut value: u64 = 0;
    for (i, &b) in buf.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((usize::try_from(value).ok()?, &buf[i + 1..]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::encode::{EncodedSeries, SymbolInterner};

    fn series(labels: &[(&str, &str)]) -> Arc<EncodedSeries> {
        let mut interner = SymbolInterner::default();
        EncodedSeries::new(
            labels.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())),
            &mut interner,
        )
        .unwrap()
    }

    fn item(sref: u64, t: i64) -> Item {
        Item::sample(sref, t, 1.0)
    }

    #[test]
    fn label_value_table() {
        let s = series(&[
            ("__name__", "up"),
            ("empty", ""),
            ("job", "api"),
            ("tenant", "team-a"),
        ]);
        let cases: [(&str, Option<&str>); 5] = [
            ("__name__", Some("up")),
            ("job", Some("api")),
            ("tenant", Some("team-a")),
            ("empty", Some("")),
            ("missing", None),
        ];
        for (name, want) in cases {
            let got = label_value(s.rw1_labels(), name.as_bytes());
            assert_eq!(got, want.map(str::as_bytes), "{name}");
        }
        assert_eq!(label_value(&[0x0a, 0x05, 0x0a], b"x"), None, "truncated");
    }

    #[test]
    fn split_groups_by_tenant_in_order() {
        let a1 = series(&[("__name__", "m"), ("i", "1"), ("tenant", "a")]);
        let b1 = series(&[("__name__", "m"), ("i", "2"), ("tenant", "b")]);
        let none = series(&[("__name__", "m"), ("i", "3")]);
        let batch = vec![
            item(1, 1),
            item(2, 1),
            item(3, 1),
            item(1, 2),
            item(2, 2),
            item(3, 2),
        ];
        let mut table = ShardSeries::new(1);
        for (sref, s) in [(1, &a1), (2, &b1), (3, &none)] {
            table.announce(sref, Arc::clone(s));
        }
        let with_default = Tenants::new("tenant", "X-Scope-OrgID", "anonymous").unwrap();
        let groups = with_default.split(batch.clone(), &table);
        let summary: Vec<(String, Vec<i64>)> = groups
            .iter()
            .map(|(h, items)| {
                let (name, value) = h.clone().unwrap();
                assert_eq!(name, "x-scope-orgid");
                (
                    value.to_str().unwrap().to_string(),
                    items.iter().map(|i| i.t).collect(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("a".to_string(), vec![1, 2]),
                ("b".to_string(), vec![1, 2]),
                ("anonymous".to_string(), vec![1, 2]),
            ]
        );
        // Without a default, series without the label go in a group with no header.
        let groups = Tenants::new("tenant", "X-Scope-OrgID", "")
            .unwrap()
            .split(batch, &table);
        assert_eq!(groups.len(), 3);
        assert!(groups[2].0.is_none());
        assert_eq!(groups[2].1.len(), 2);
    }
}
