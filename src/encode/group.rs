//! The merging rule shared by both encoders: which items may join the `TimeSeries`
//! that is currently open (see the module docs of [`super`]).

use super::wire::LenSlot;

/// The kind of item being pushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Item {
    Sample,
    Histogram,
    Exemplar,
}

/// Which main list the open `TimeSeries` carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Main {
    /// Only exemplars so far.
    Empty,
    Samples,
    Histograms,
}

/// The `TimeSeries` being written: where its length goes and what it holds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OpenSeries {
    pub(crate) series: u64,
    pub(crate) slot: LenSlot,
    main: Main,
    last_main_t: i64,
    last_exemplar_t: Option<i64>,
}

impl OpenSeries {
    pub(crate) fn new(series: u64, slot: LenSlot, item: Item, t: i64) -> OpenSeries {
        let mut open = OpenSeries {
            series,
            slot,
            main: Main::Empty,
            last_main_t: i64::MIN,
            last_exemplar_t: None,
        };
        open.record(item, t);
        open
    }

    /// Whether an `item` of `series` at time `t` may be appended to this `TimeSeries`.
    #[inline]
    pub(crate) fn accepts(&self, series: u64, item: Item, t: i64) -> bool {
        if self.series != series {
            return false;
        }
        match (item, self.main) {
            (Item::Exemplar, _) => self.last_exemplar_t.is_none_or(|last| t >= last),
            (_, Main::Empty) => true,
            (Item::Sample, Main::Samples) | (Item::Histogram, Main::Histograms) => {
                t >= self.last_main_t
            }
            _ => false,
        }
    }

    /// Notes that an accepted item was appended.
    #[inline]
    pub(crate) fn record(&mut self, item: Item, t: i64) {
        match item {
            Item::Exemplar => self.last_exemplar_t = Some(t),
            Item::Sample => {
                self.main = Main::Samples;
                self.last_main_t = t;
            }
            Item::Histogram => {
                self.main = Main::Histograms;
                self.last_main_t = t;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot() -> LenSlot {
        LenSlot::reserve(&mut Vec::new(), 0)
    }

    #[test]
    fn accepts_table() {
        // (first item, first t, next series, next item, next t, accepted)
        let cases = [
            (Item::Sample, 10, 1, Item::Sample, 10, true),
            (Item::Sample, 10, 1, Item::Sample, 11, true),
            (Item::Sample, 10, 1, Item::Sample, 9, false),
            (Item::Sample, 10, 2, Item::Sample, 11, false),
            (Item::Sample, 10, 1, Item::Histogram, 11, false),
            (Item::Histogram, 10, 1, Item::Sample, 11, false),
            (Item::Histogram, 10, 1, Item::Histogram, 10, true),
            (Item::Sample, 10, 1, Item::Exemplar, 5, true),
            (Item::Exemplar, 10, 1, Item::Exemplar, 9, false),
            (Item::Exemplar, 10, 1, Item::Sample, 3, true),
            (Item::Exemplar, 10, 1, Item::Histogram, 3, true),
        ];
        for (first, t0, series, next, t1, want) in cases {
            let open = OpenSeries::new(1, slot(), first, t0);
            assert_eq!(
                open.accepts(series, next, t1),
                want,
                "{first:?}@{t0} then series {series} {next:?}@{t1}"
            );
        }
    }

    #[test]
    fn exemplar_first_then_sample_fixes_the_kind() {
        let mut open = OpenSeries::new(1, slot(), Item::Exemplar, 10);
        assert!(open.accepts(1, Item::Sample, 1));
        open.record(Item::Sample, 1);
        assert!(!open.accepts(1, Item::Histogram, 2));
        assert!(!open.accepts(1, Item::Sample, 0));
    }
}
