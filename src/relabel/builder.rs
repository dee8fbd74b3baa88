//! A label set under construction, with the semantics of Prometheus's `labels.Builder`,
//! which relabeling is defined against:
//!
//! * the set is the base labels, minus deleted names, plus set names (a map, one value per
//!   name); setting an empty value deletes the name;
//! * [`LabelBuilder::range`] lists the labels the way `Builder.Range` does — base labels
//!   in base order, then set labels in the order they were first set — which decides who
//!   wins when a `labelmap` maps two names onto one;
//! * the result is sorted by name.
//!
//! Base labels live in one reused byte arena, so resetting for the next series allocates
//! nothing once the buffers have grown.

use std::ops::Range;

/// See the module docs.
#[derive(Debug, Default)]
pub struct LabelBuilder {
    arena: Vec<u8>,
    /// (name, value) ranges into `arena`, sorted by name.
    base: Vec<(Range<usize>, Range<usize>)>,
    /// Set labels in first-set order (sorted by [`LabelBuilder::finish`]).
    add: Vec<(Vec<u8>, Vec<u8>)>,
    del: Vec<Vec<u8>>,
}

impl LabelBuilder {
    /// Starts over from `labels` (sorted by name, as every Prometheus label set is; sorted
    /// here if not).
    pub fn reset<'a>(&mut self, labels: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) {
        self.arena.clear();
        self.base.clear();
        self.add.clear();
        self.del.clear();
        for (n, v) in labels {
            let start = self.arena.len();
            self.arena.extend_from_slice(n);
            let mid = self.arena.len();
            self.arena.extend_from_slice(v);
            self.base.push((start..mid, mid..self.arena.len()));
        }
        let arena = &self.arena;
        if !self
            .base
            .windows(2)
            .all(|w| arena[w[0].0.clone()] <= arena[w[1].0.clone()])
        {
            self.base
                .sort_by(|a, b| arena[a.0.clone()].cmp(&arena[b.0.clone()]));
        }
    }

    fn base_get(&self, name: &[u8]) -> Option<&[u8]> {
        let arena = &self.arena;
        self.base
            .binary_search_by(|(n, _)| arena[n.clone()].cmp(name))
            .ok()
            .map(|i| &arena[self.base[i].1.clone()])
    }

    /// The value of `name`; "" when absent (Prometheus does not tell the two apart).
    pub fn get(&self, name: &[u8]) -> &[u8] {
        if let Some((_, v)) = self.add.iter().find(|(n, _)| n == name) {
            return v;
        }
        if self.del.iter().any(|n| n == name) {
            return b"";
        }
        self.base_get(name).unwrap_or(b"")
    }

    /// Sets `name` to `value`; an empty value deletes the label.
    pub fn set(&mut self, name: &[u8], value: &[u8]) {
        if value.is_empty() {
            self.del(name);
            return;
        }
        match self.add.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => {
                v.clear();
                v.extend_from_slice(value);
            }
            None => self.add.push((name.to_vec(), value.to_vec())),
        }
    }

    /// Deletes `name`.
    pub fn del(&mut self, name: &[u8]) {
        self.add.retain(|(n, _)| n != name);
        if !self.del.iter().any(|n| n == name) {
            self.del.push(name.to_vec());
        }
    }

    /// The current labels in `Builder.Range` order (see the module docs). Collect what to
    /// change first, then change it: Prometheus's `Range` walks a copy taken at the start.
    pub fn range(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        let base = self.base.iter().filter_map(move |(n, v)| {
            let name = &self.arena[n.clone()];
            let overridden =
                self.del.iter().any(|d| d == name) || self.add.iter().any(|(a, _)| a == name);
            (!overridden).then(|| (name, &self.arena[v.clone()]))
        });
        base.chain(self.add.iter().map(|(n, v)| (n.as_slice(), v.as_slice())))
    }

    /// Sorts the set labels; call once after the last change, before [`Self::labels`].
    pub fn finish(&mut self) {
        self.add.sort_by(|a, b| a.0.cmp(&b.0));
    }

    /// The resulting labels, sorted by name, without empty values.
    pub fn labels(&self) -> Labels<'_> {
        Labels {
            b: self,
            base: 0,
            add: 0,
        }
    }
}

/// Iterator over [`LabelBuilder::labels`]: a merge of the base and the set labels.
pub struct Labels<'a> {
    b: &'a LabelBuilder,
    base: usize,
    add: usize,
}

impl<'a> Iterator for Labels<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let b = self.b;
        loop {
            let base = b
                .base
                .get(self.base)
                .map(|(n, v)| (&b.arena[n.clone()], &b.arena[v.clone()]));
            let add = b
                .add
                .get(self.add)
                .map(|(n, v)| (n.as_slice(), v.as_slice()));
            match (base, add) {
                (None, None) => return None,
                (Some((bn, _)), Some((an, av))) if an <= bn => {
                    self.add += 1;
                    if an == bn {
                        self.base += 1;
                    }
                    return Some((an, av));
                }
                (None, Some(a)) => {
                    self.add += 1;
                    return Some(a);
                }
                (Some((bn, bv)), _) => {
                    self.base += 1;
                    if !bv.is_empty() && !b.del.iter().any(|d| d == bn) {
                        return Some((bn, bv));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder(pairs: &[(&str, &str)]) -> LabelBuilder {
        let mut b = LabelBuilder::default();
        b.reset(pairs.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())));
        b
    }

    fn text(b: &mut LabelBuilder) -> String {
        b.finish();
        b.labels()
            .map(|(n, v)| {
                format!(
                    "{}={}",
                    String::from_utf8_lossy(n),
                    String::from_utf8_lossy(v)
                )
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    #[test]
    fn map_semantics_and_sorted_result() {
        let mut b = builder(&[("a", "1"), ("c", "3"), ("e", "5")]);
        b.set(b"d", b"4");
        b.set(b"a", b"one");
        b.del(b"c");
        b.set(b"0", b"zero");
        assert_eq!(b.get(b"a"), b"one");
        assert_eq!(b.get(b"c"), b"");
        assert_eq!(b.get(b"missing"), b"");
        assert_eq!(text(&mut b), "0=zero,a=one,d=4,e=5");
    }

    #[test]
    fn delete_then_set_again_and_empty_value_deletes() {
        let mut b = builder(&[("a", "1"), ("b", "2")]);
        b.del(b"a");
        b.set(b"a", b"again");
        assert_eq!(b.get(b"a"), b"again");
        b.set(b"b", b"");
        b.set(b"new", b"x");
        b.set(b"new", b"");
        assert_eq!(text(&mut b), "a=again");
    }

    #[test]
    fn range_is_base_order_then_first_set_order() {
        let mut b = builder(&[("a", "1"), ("b", "2"), ("c", "3")]);
        b.set(b"z", b"26");
        b.set(b"b", b"two");
        b.set(b"m", b"13");
        b.del(b"a");
        let names: Vec<String> = b
            .range()
            .map(|(n, v)| {
                format!(
                    "{}={}",
                    String::from_utf8_lossy(n),
                    String::from_utf8_lossy(v)
                )
            })
            .collect();
        assert_eq!(names, ["c=3", "z=26", "b=two", "m=13"]);
    }

    #[test]
    fn unsorted_base_is_sorted_and_reset_forgets_everything() {
        let mut b = builder(&[("b", "2"), ("a", "1")]);
        b.set(b"c", b"3");
        assert_eq!(text(&mut b), "a=1,b=2,c=3");
        b.reset([(&b"x"[..], &b"9"[..])]);
        assert_eq!(b.get(b"c"), b"");
        assert_eq!(text(&mut b), "x=9");
    }

    proptest::proptest! {
        /// Under random sets and deletes, the builder is a map from name to value: `get`,
        /// the sorted `labels()` and `range()` (as a set) all agree with a BTreeMap.
        #[test]
        fn behaves_like_a_sorted_map(
            base in proptest::collection::btree_map("[a-e]", "[xy]{0,2}", 0..5),
            ops in proptest::collection::vec((proptest::bool::ANY, "[a-f]", "[xy]{0,2}"), 0..20),
        ) {
            let pairs: Vec<(&str, &str)> =
                base.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let mut b = builder(&pairs);
            let mut model: std::collections::BTreeMap<String, String> = base
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .collect();
            for (set, name, value) in ops {
                if set {
                    b.set(name.as_bytes(), value.as_bytes());
                    if value.is_empty() {
                        model.remove(&name);
                    } else {
                        model.insert(name.clone(), value.clone());
                    }
                } else {
                    b.del(name.as_bytes());
                    model.remove(&name);
                }
                let want = model.get(&name).map_or("", String::as_str);
                proptest::prop_assert_eq!(b.get(name.as_bytes()), want.as_bytes());
            }
            let mut ranged: Vec<(Vec<u8>, Vec<u8>)> = b
                .range()
                .filter(|(_, v)| !v.is_empty())
                .map(|(n, v)| (n.to_vec(), v.to_vec()))
                .collect();
            ranged.sort();
            let want: Vec<(Vec<u8>, Vec<u8>)> = model
                .iter()
                .map(|(n, v)| (n.clone().into_bytes(), v.clone().into_bytes()))
                .collect();
            proptest::prop_assert_eq!(&ranged, &want);
            b.finish();
            let got: Vec<(Vec<u8>, Vec<u8>)> =
                b.labels().map(|(n, v)| (n.to_vec(), v.to_vec())).collect();
            proptest::prop_assert_eq!(&got, &want);
        }
    }

    #[test]
    fn base_empty_values_are_left_out() {
        let mut b = builder(&[("a", ""), ("b", "2")]);
        assert_eq!(text(&mut b), "b=2");
    }
}
