//! Canary weights: the server weights that keep both colours of an env in rotation and send a
//! given percentage of new sessions to the new one. The pure computation only; the future
//! `edgeplan switch ENV COLOR --weight PERCENT` renders them and hands them over.
//!
//! **Where they go.** HAProxy's `weight` on each `server` line of the component's pool (or
//! `set weight` through the runtime API): HAProxy shares new, non-pinned sessions between the
//! servers in proportion to their weights (0..=256; 0 takes no new traffic, which would silently
//! drop an instance, so a canary never uses it). The spec's own instance weights
//! ([`crate::model::Instance::weight`], 1..=[`MAX_WEIGHT`], 1 when unset) set the proportions
//! inside each colour; [`split`] rescales both colours so their totals give the wanted share.
//!
//! **URI-hashed pools.** With `balance uri` + `hash-type consistent` a weight buys a share of
//! the hash ring (16 points per weight unit, [`crate::route::chash_pick`]), not of requests: the
//! canary gets its share of the *URI space*, and the requests follow only as far as the URIs
//! are evenly used. HAProxy's documentation of `hash-type consistent` warns that the
//! distribution "will never be very smooth" and that weights or ids may need adjusting; larger
//! weights put more points on the ring, which is why [`split`] prefers the largest totals.

// Diagnostics carry their help texts by design; they are cold and returned once per run.
#![allow(clippy::result_large_err)]

use std::cmp::{Ordering, Reverse};
use std::fmt;

use miette::Diagnostic;
use thiserror::Error;

use crate::model::MAX_WEIGHT;

/// Worst share error of [`split`] when the wanted share is reachable: 1/512, about 0.2
/// percentage points.
pub const SHARE_TOLERANCE: f64 = 1.0 / 512.0;

/// A canary's share of new sessions, in percent: 1..=99 (0 % is the old colour alone, 100 % a
/// completed switch — neither is a canary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Percent(u8);

impl Percent {
    /// `percent` when it is 1..=99.
    ///
    /// # Errors
    /// [`CanaryError::Percent`] otherwise.
    pub fn new(percent: u32) -> Result<Percent, CanaryError> {
        match u8::try_from(percent) {
            Ok(p @ 1..=99) => Ok(Percent(p)),
            _ => Err(CanaryError::Percent { percent }),
        }
    }

    /// The percentage, 1..=99.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Canary weights for both colours.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// Weights of the old colour's servers, in input order, each 1..=256.
    pub old: Vec<u16>,
    /// Weights of the new colour's servers, in input order, each 1..=256.
    pub new: Vec<u16>,
    /// The share of new sessions the new colour actually gets, `sum(new) / sum(old + new)`,
    /// in 0..1 (0.1 is 10 %).
    pub effective: f64,
}

/// Which colour of a canary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The colour taking traffic now.
    Old,
    /// The colour being tried.
    New,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Old => "old",
            Side::New => "new",
        })
    }
}

/// Why canary weights cannot be computed.
#[derive(Debug, Error, Diagnostic)]
pub enum CanaryError {
    /// Not a canary percentage.
    #[error("a canary sends 1 to 99 % of new sessions to the new colour, not {percent} %")]
    #[diagnostic(
        code(edgeplan::canary::percent),
        help(
            "give --weight 1 to 99; 100 % is a plain switch (`edgeplan switch ENV COLOR`), \
             0 % keeps the old colour alone"
        )
    )]
    Percent {
        /// What was given.
        percent: u32,
    },
    /// One colour has no instance to share the traffic with.
    #[error("the {side} colour has no instances: a canary needs both colours in rotation")]
    #[diagnostic(
        code(edgeplan::canary::empty),
        help("give the component instances of both colours, or switch without --weight")
    )]
    Empty {
        /// Which colour.
        side: Side,
    },
    /// An instance weight HAProxy does not take (or that would take no traffic).
    #[error("an instance of the {side} colour has weight {weight}; instance weights are 1 to 256")]
    #[diagnostic(
        code(edgeplan::canary::weight),
        help("instance weights come from the specs, which allow 1 to 256 (1 when unset)")
    )]
    Weight {
        /// Which colour.
        side: Side,
        /// The weight given.
        weight: u16,
    },
}

/// Server weights that send `percent` % of new sessions to the `new` servers and the rest to
/// the `old` ones, keeping the proportions of each side's own weights.
///
/// **Algorithm.** A side whose weights `w` sum to `S` (largest `M`, `n` servers) can take any
/// integer total `N` in `n..=⌊256·S/M⌋`: the total is shared by largest remainders
/// (Hamilton) in proportion to `w`, a server whose quota `N·w/S` is below 1 getting 1 and
/// the rest sharing what is left. So every weight is within 1 of `c·w` for one scale `c` per
/// side (the floored ones had `c·w < 1`), and never above 256. [`split`] tries every old
/// total `A` with the two new totals nearest `A·p/(1−p)` and keeps the pair with the smallest
/// share error `|B/(A+B) − p|`; among equals, the one closest to the inputs' proportions (the
/// largest relative deviation of any weight from its quota), then the largest totals (finer
/// proportions, more points on a consistent-hash ring). Exact arithmetic throughout.
///
/// **Error bound.** Let `H` be each side's largest total and `n` its server count. The shares
/// the 1..=256 bounds allow are `lo = n_new/(n_new+H_old)` to `hi = H_new/(H_new+n_old)`.
/// If `p` is in that range, `|effective − p| ≤ 1/512` ([`SHARE_TOLERANCE`]): the line
/// `B = A·p/(1−p)` leaves the box of totals at `A = H_old` or at `B = H_new`, both ≥ 256;
/// rounding the other total there moves the share by at most `0.5/256`. Otherwise no weights
/// do better than the nearer end, and `effective` is exactly `lo` or `hi` (one side all at 1).
///
/// # Errors
/// `percent` outside 1..=99, a side without servers, an input weight outside 1..=256.
pub fn split(old: &[u16], new: &[u16], percent: Percent) -> Result<Split, CanaryError> {
    check(old, Side::Old)?;
    check(new, Side::New)?;
    let (a, b) = totals(old, new, u64::from(percent.get()));
    Ok(Split {
        old: apportion(old, a),
        new: apportion(new, b),
        effective: b as f64 / (a + b) as f64,
    })
}

/// [`split`] for a component's instances: `to`'s instances are the new side, the other
/// colour's the old one (spec weights, 1 when unset), each in instance order.
///
/// # Errors
/// As [`split`]: a colour without instances.
pub fn split_component(
    comp: &crate::model::Component,
    to: crate::model::Color,
    percent: Percent,
) -> Result<Split, CanaryError> {
    let side = |c: crate::model::Color| -> Vec<u16> {
        comp.instances
            .iter()
            .filter(|i| i.color == c)
            .map(|i| i.weight.unwrap_or(1))
            .collect()
    };
    split(&side(to.other()), &side(to), percent)
}

fn check(weights: &[u16], side: Side) -> Result<(), CanaryError> {
    if weights.is_empty() {
        return Err(CanaryError::Empty { side });
    }
    match weights.iter().find(|w| !(1..=MAX_WEIGHT).contains(*w)) {
        Some(&weight) => Err(CanaryError::Weight { side, weight }),
        None => Ok(()),
    }
}

/// A non-negative fraction, ordered exactly.
#[derive(Debug, Clone, Copy)]
struct Ratio(u64, u64);

impl Ord for Ratio {
    fn cmp(&self, other: &Self) -> Ordering {
        (u128::from(self.0) * u128::from(other.1)).cmp(&(u128::from(other.0) * u128::from(self.1)))
    }
}

impl PartialOrd for Ratio {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Ratio {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Ratio {}

fn sum(weights: &[u16]) -> u64 {
    weights.iter().map(|&w| u64::from(w)).sum()
}

/// The largest total a side can take with no weight above 256: `⌊256·S/M⌋`.
fn max_total(weights: &[u16]) -> u64 {
    let top = weights.iter().copied().max().map_or(1, u64::from);
    u64::from(MAX_WEIGHT) * sum(weights) / top
}

/// `|B/(A+B) − k/100|`.
fn share_error(a: u64, b: u64, k: u64) -> Ratio {
    Ratio((100 * b).abs_diff(k * (a + b)), 100 * (a + b))
}

/// The largest relative deviation of a weight from its exact quota `N·w/S`.
fn deviation(weights: &[u16], out: &[u16]) -> Ratio {
    let (s, n) = (sum(weights), sum(out));
    weights
        .iter()
        .zip(out)
        .map(|(&w, &o)| {
            Ratio(
                (u64::from(o) * s).abs_diff(n * u64::from(w)),
                n * u64::from(w),
            )
        })
        .max()
        .unwrap_or(Ratio(0, 1))
}

/// The side totals `(A, B)`: smallest share error, then proportions, then largest totals.
fn totals(old: &[u16], new: &[u16], k: u64) -> (u64, u64) {
    let (lo_b, hi_b) = (new.len() as u64, max_total(new));
    let candidates: Vec<(u64, u64)> = (old.len() as u64..=max_total(old))
        .flat_map(|a| {
            let b = k * a / (100 - k);
            [b, b + 1].map(|b| (a, b.clamp(lo_b, hi_b)))
        })
        .collect();
    let best = candidates
        .iter()
        .map(|&(a, b)| share_error(a, b, k))
        .min()
        .unwrap_or(Ratio(0, 1));
    candidates
        .into_iter()
        .filter(|&(a, b)| share_error(a, b, k) == best)
        .min_by_key(|&(a, b)| {
            let off = deviation(old, &apportion(old, a)).max(deviation(new, &apportion(new, b)));
            (off, Reverse(a + b), a)
        })
        .unwrap_or((old.len() as u64, new.len() as u64))
}

/// Share `total` (`weights.len()..=max_total(weights)`) in proportion to `weights` by largest
/// remainders, each server getting at least 1.
fn apportion(weights: &[u16], total: u64) -> Vec<u16> {
    let w: Vec<u64> = weights.iter().map(|&w| u64::from(w)).collect();
    let mut floored = vec![false; w.len()];
    // Quotas below 1 are raised to 1; the others share what is left, which only lowers their
    // quotas, so repeat until none is below 1.
    let (left, rest) = loop {
        let free = || (0..w.len()).filter(|&i| !floored[i]);
        let left = total - floored.iter().filter(|&&f| f).count() as u64;
        let rest: u64 = free().map(|i| w[i]).sum();
        let small: Vec<usize> = free().filter(|&i| left * w[i] < rest).collect();
        if small.is_empty() {
            break (left, rest.max(1));
        }
        small.into_iter().for_each(|i| floored[i] = true);
    };
    let mut out: Vec<u64> = (0..w.len())
        .map(|i| if floored[i] { 1 } else { left * w[i] / rest })
        .collect();
    let mut free: Vec<usize> = (0..w.len()).filter(|&i| !floored[i]).collect();
    let extra = left - free.iter().map(|&i| out[i]).sum::<u64>();
    free.sort_by_key(|&i| (Reverse(left * w[i] % rest), i));
    free.iter().take(extra as usize).for_each(|&i| out[i] += 1);
    out.into_iter()
        .map(|o| u16::try_from(o).unwrap_or(MAX_WEIGHT).min(MAX_WEIGHT))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(old: &[u16], new: &[u16], percent: u8) -> Split {
        split(old, new, Percent::new(percent.into()).unwrap()).unwrap()
    }

    #[test]
    fn canary_worked_examples() {
        // 1 + 1 at 10 %: exactly 9:1, at the largest totals.
        let s = ok(&[1], &[1], 10);
        assert_eq!((s.old, s.new, s.effective), (vec![252], vec![28], 0.1));
        // Two equal old servers stay equal.
        let s = ok(&[1, 1], &[1], 10);
        assert_eq!((s.old, s.new, s.effective), (vec![252, 252], vec![56], 0.1));
        // 1:2:3 and 1:1 kept exactly at 50 %.
        let s = ok(&[1, 2, 3], &[1, 1], 50);
        assert_eq!(
            (s.old, s.new, s.effective),
            (vec![85, 170, 255], vec![255, 255], 0.5)
        );
        // The extremes.
        let s = ok(&[1], &[1], 1);
        assert_eq!((s.old, s.new, s.effective), (vec![198], vec![2], 0.01));
        let s = ok(&[1], &[1], 99);
        assert_eq!((s.old, s.new, s.effective), (vec![2], vec![198], 0.99));
        // Many instances: 20 equal old servers, 1 % to the new one.
        let s = ok(&[5; 20], &[1], 1);
        assert_eq!((s.old, s.new, s.effective), (vec![198; 20], vec![40], 0.01));
        // Unequal weights on both sides, a percentage that does not divide evenly.
        let s = ok(&[1, 256], &[3, 7, 7], 37);
        assert!((s.effective - 0.37).abs() <= SHARE_TOLERANCE, "{s:?}");
        assert_eq!(s.old[0], 1);
    }

    #[test]
    fn canary_unreachable_share_gives_the_nearest_end() {
        // 20 old servers at weight 1 and one new one at 256 is the most the new side can get.
        let s = ok(&[256; 20], &[1], 99);
        assert_eq!((s.old, s.new), (vec![1; 20], vec![256]));
        assert_eq!(s.effective, 256.0 / 276.0);
        let s = ok(&[1], &[1; 20], 1);
        assert_eq!((s.old, s.new), (vec![256], vec![1; 20]));
        assert_eq!(s.effective, 20.0 / 276.0);
    }

    #[test]
    fn canary_bad_input() {
        for percent in [0, 100, 255, 1000] {
            assert!(matches!(
                Percent::new(percent),
                Err(CanaryError::Percent { percent: p }) if p == percent
            ));
        }
        let ten = Percent::new(10).unwrap();
        assert!(matches!(
            split(&[], &[1], ten),
            Err(CanaryError::Empty { side: Side::Old })
        ));
        assert!(matches!(
            split(&[1], &[], ten),
            Err(CanaryError::Empty { side: Side::New })
        ));
        assert!(matches!(
            split(&[1, 0], &[1], ten),
            Err(CanaryError::Weight {
                side: Side::Old,
                weight: 0
            })
        ));
        assert!(matches!(
            split(&[1], &[257], ten),
            Err(CanaryError::Weight {
                side: Side::New,
                weight: 257
            })
        ));
        let code = Percent::new(0).unwrap_err().code().unwrap().to_string();
        assert_eq!(code, "edgeplan::canary::percent");
    }

    /// Some scale `c` has every output within 1 of `c·w` (strictly), or at 1 with `c·w < 2`:
    /// pairwise, `(o_i − 1)/w_i < (o_j + 1)/w_j`.
    fn proportional(weights: &[u16], out: &[u16]) -> bool {
        let pairs = weights
            .iter()
            .zip(out)
            .map(|(&w, &o)| (u64::from(w), u64::from(o)));
        pairs
            .clone()
            .all(|(wi, oi)| oi == 1 || pairs.clone().all(|(wj, oj)| (oi - 1) * wj < (oj + 1) * wi))
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256),
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn canary_split_properties(
            old in prop::collection::vec(1..=256u16, 1..=20),
            new in prop::collection::vec(1..=256u16, 1..=20),
            percent in 1..=99u8,
        ) {
            let s = ok(&old, &new, percent);
            prop_assert_eq!((s.old.len(), s.new.len()), (old.len(), new.len()));
            prop_assert!(s.old.iter().chain(&s.new).all(|w| (1..=256).contains(w)));
            prop_assert!(proportional(&old, &s.old), "old {:?} -> {:?}", old, s.old);
            prop_assert!(proportional(&new, &s.new), "new {:?} -> {:?}", new, s.new);
            let (a, b) = (sum(&s.old) as f64, sum(&s.new) as f64);
            prop_assert!((s.effective - b / (a + b)).abs() < 1e-12);
            // The reachable range, from the inputs alone.
            let top = |w: &[u16]| 256.0 * sum(w) as f64 / f64::from(*w.iter().max().unwrap());
            let (h_old, h_new) = (top(&old).floor(), top(&new).floor());
            let (n_old, n_new) = (old.len() as f64, new.len() as f64);
            let (lo, hi) = (n_new / (n_new + h_old), h_new / (h_new + n_old));
            let p = f64::from(percent) / 100.0;
            let want = p.clamp(lo, hi);
            let bound = if want == p { SHARE_TOLERANCE } else { 0.0 };
            prop_assert!(
                (s.effective - want).abs() <= bound + 1e-12,
                "effective {} for {} % (reachable {}..{})", s.effective, percent, lo, hi
            );
        }
    }
}
