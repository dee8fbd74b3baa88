//! Dividing series refs by the shard count, once per item on both sides of the queues: a
//! 64-bit division costs tens of cycles, a multiply-high a few.

use crate::record::SeriesRef;

/// `sref / n` and `sref % n` for a fixed `n >= 1`. Exact for refs below 2^32 by a
/// multiply-high (Lemire et al., "Faster remainder by direct computation", 2019); larger
/// refs divide.
#[derive(Clone, Copy, Debug)]
pub struct RefDivisor {
    n: u64,
    /// ceil(2^64 / n); unused when `n == 1`.
    reciprocal: u64,
}

impl RefDivisor {
    pub fn new(n: usize) -> RefDivisor {
        let n = n.max(1) as u64;
        RefDivisor {
            n,
            reciprocal: (u64::MAX / n).wrapping_add(1),
        }
    }

    #[inline]
    pub fn div(&self, sref: SeriesRef) -> u64 {
        if self.n == 1 {
            sref
        } else if sref <= u64::from(u32::MAX) {
            ((u128::from(self.reciprocal) * u128::from(sref)) >> 64) as u64
        } else {
            sref / self.n
        }
    }

    #[inline]
    pub fn rem(&self, sref: SeriesRef) -> u64 {
        sref - self.div(sref) * self.n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn divides_exactly() {
        for n in 1..=70u64 {
            let d = RefDivisor::new(n as usize);
            let refs = (0..5000u64)
                .chain((0..64).map(|b| 1u64 << b))
                .chain((0..64).map(|b| (1u64 << b) - 1))
                .chain([u64::from(u32::MAX) - 1, u64::from(u32::MAX), u64::MAX]);
            for r in refs {
                assert_eq!(d.div(r), r / n, "{r} / {n}");
                assert_eq!(d.rem(r), r % n, "{r} % {n}");
            }
        }
        for n in [1000u64, 65_537, u64::from(u32::MAX)] {
            let d = RefDivisor::new(n as usize);
            for r in [
                0,
                1,
                n - 1,
                n,
                n + 1,
                7 * n + 3,
                u64::from(u32::MAX),
                u64::MAX,
            ] {
                assert_eq!((d.div(r), d.rem(r)), (r / n, r % n), "{r} by {n}");
            }
        }
    }
}
