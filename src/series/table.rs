//! A map from series ref to a value, for Prometheus's dense refs.
//!
//! Prometheus hands out `HeadSeriesRef`s from a counter, and a scrape's samples come in
//! ref order, so a paged array indexed by ref turns the per-sample lookup into a nearly
//! sequential memory access, where a hash map costs a cache miss on its control bytes and
//! another on the bucket. Pages are allocated on first use and freed when emptied, so a
//! long-running WAL whose refs climb into the millions costs memory only for live ranges.

const PAGE_BITS: u32 = 10;
const PAGE: usize = 1 << PAGE_BITS;

struct Page<T> {
    slots: Box<[Option<T>]>,
    used: usize,
}

/// Paged array of `Option<T>` indexed by `u64`.
pub struct RefTable<T> {
    pages: Vec<Option<Page<T>>>,
    len: usize,
}

impl<T> Default for RefTable<T> {
    fn default() -> Self {
        RefTable {
            pages: Vec::new(),
            len: 0,
        }
    }
}

impl<T> RefTable<T> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    fn split(key: u64) -> (usize, usize) {
        ((key >> PAGE_BITS) as usize, (key as usize) & (PAGE - 1))
    }

    #[inline]
    pub fn get(&self, key: u64) -> Option<&T> {
        let (p, i) = Self::split(key);
        self.pages.get(p)?.as_ref()?.slots[i].as_ref()
    }

    #[inline]
    pub fn get_mut(&mut self, key: u64) -> Option<&mut T> {
        let (p, i) = Self::split(key);
        self.pages.get_mut(p)?.as_mut()?.slots[i].as_mut()
    }

    pub fn contains_key(&self, key: u64) -> bool {
        self.get(key).is_some()
    }

    /// Inserts, returning the previous value.
    pub fn insert(&mut self, key: u64, value: T) -> Option<T> {
        let (p, i) = Self::split(key);
        if self.pages.len() <= p {
            self.pages.resize_with(p + 1, || None);
        }
        let page = self.pages[p].get_or_insert_with(|| Page {
            slots: (0..PAGE).map(|_| None).collect(),
            used: 0,
        });
        let old = page.slots[i].replace(value);
        if old.is_none() {
            page.used += 1;
            self.len += 1;
        }
        old
    }

    pub fn remove(&mut self, key: u64) -> Option<T> {
        let (p, i) = Self::split(key);
        let page = self.pages.get_mut(p)?.as_mut()?;
        let old = page.slots[i].take();
        if old.is_some() {
            page.used -= 1;
            self.len -= 1;
            if page.used == 0 {
                self.pages[p] = None;
            }
        }
        old
    }

    /// Keeps the entries for which `keep` returns true.
    pub fn retain(&mut self, mut keep: impl FnMut(u64, &mut T) -> bool) {
        for (p, slot) in self.pages.iter_mut().enumerate() {
            let Some(page) = slot else { continue };
            for (i, v) in page.slots.iter_mut().enumerate() {
                if let Some(t) = v {
                    if !keep(((p as u64) << PAGE_BITS) | i as u64, t) {
                        *v = None;
                        page.used -= 1;
                        self.len -= 1;
                    }
                }
            }
            if page.used == 0 {
                *slot = None;
            }
        }
        while matches!(self.pages.last(), Some(None)) {
            self.pages.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    proptest! {
        /// Behaves like a HashMap under random inserts, removes and retains.
        #[test]
        fn matches_a_hash_map(ops in prop::collection::vec((0u8..3, 0u64..5000, any::<u32>()), 0..400)) {
            let mut t = RefTable::default();
            let mut m = HashMap::new();
            for (op, k, v) in ops {
                match op {
                    0 => prop_assert_eq!(t.insert(k, v), m.insert(k, v)),
                    1 => prop_assert_eq!(t.remove(k), m.remove(&k)),
                    _ => {
                        t.retain(|k, v| (k + *v as u64) % 3 != 0);
                        m.retain(|k, v| (k + *v as u64) % 3 != 0);
                    }
                }
                prop_assert_eq!(t.len(), m.len());
            }
            for (k, v) in &m {
                prop_assert_eq!(t.get(*k), Some(v));
            }
        }
    }

    #[test]
    fn pages_are_freed() {
        let mut t = RefTable::default();
        t.insert(5_000_000, 1u8);
        t.insert(3, 2);
        assert_eq!(t.remove(5_000_000), Some(1));
        t.retain(|_, _| true);
        assert_eq!(t.pages.len(), 1);
        assert_eq!(t.get(3), Some(&2));
    }
}
