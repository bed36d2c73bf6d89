//! Which path routes of an env can ever match. The routes of an env are tried in the spec's order
//! and the first that matches wins (haproxy's `use_backend` rules, rendered in that order), so a
//! route whose every path an earlier route already takes never gets a request — and neither does
//! one of its prefixes or suffixes that an earlier route takes. [`crate::validate`] refuses both
//! (`edgeplan::validate::unreachable`): the order stays what the spec says, and a mistake such as
//! `prefix "/api/"` before `prefix "/api/v2/"` is named instead of silently starving a component.
//!
//! A route matches a path when (it has no prefix, or the path begins with one of them) and (it has
//! no suffix, or the path ends with one of them). Route `j` is covered on the pair (prefix `p`,
//! suffix `s`) by an earlier route `i` when every path beginning with `p` and ending with `s`
//! matches `i`: `i` has no prefix or one that `p` begins with, and no suffix or one that `s` ends
//! with. A route, a prefix or a suffix is unreachable when every pair it takes part in is covered
//! (by one earlier route or by several together).

/// One route's path matchers.
#[derive(Debug, Clone)]
pub struct Matchers<'a> {
    /// Path prefixes (any).
    pub prefixes: Vec<&'a str>,
    /// Path suffixes (any).
    pub suffixes: Vec<&'a str>,
}

/// What of a route can never match, and which earlier routes take it (indexes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreachable {
    /// The whole route.
    Route {
        /// The route.
        route: usize,
        /// The earlier routes that take its paths.
        by: Vec<usize>,
    },
    /// One of its prefixes.
    Prefix {
        /// The route.
        route: usize,
        /// Index of the prefix in the route.
        prefix: usize,
        /// The earlier routes that take its paths.
        by: Vec<usize>,
    },
    /// One of its suffixes.
    Suffix {
        /// The route.
        route: usize,
        /// Index of the suffix in the route.
        suffix: usize,
        /// The earlier routes that take its paths.
        by: Vec<usize>,
    },
}

/// The earliest route before `j` that takes every path beginning with `p` (None: any path) and
/// ending with `s`.
fn covered_by(
    routes: &[Matchers<'_>],
    j: usize,
    p: Option<&str>,
    s: Option<&str>,
) -> Option<usize> {
    routes[..j].iter().position(|r| {
        let prefix =
            r.prefixes.is_empty() || p.is_some_and(|p| r.prefixes.iter().any(|q| p.starts_with(q)));
        let suffix =
            r.suffixes.is_empty() || s.is_some_and(|s| r.suffixes.iter().any(|t| s.ends_with(t)));
        prefix && suffix
    })
}

fn options<'a>(v: &[&'a str]) -> Vec<Option<&'a str>> {
    if v.is_empty() {
        vec![None]
    } else {
        v.iter().map(|x| Some(*x)).collect()
    }
}

/// Everything of `routes` (in rule order) that can never match.
pub fn unreachable(routes: &[Matchers<'_>]) -> Vec<Unreachable> {
    let mut out = Vec::new();
    for j in 0..routes.len() {
        let (ps, ss) = (options(&routes[j].prefixes), options(&routes[j].suffixes));
        // cover[a][b]: the route covering pair (ps[a], ss[b]).
        let cover: Vec<Vec<Option<usize>>> = ps
            .iter()
            .map(|p| ss.iter().map(|s| covered_by(routes, j, *p, *s)).collect())
            .collect();
        let by = |cells: &mut dyn Iterator<Item = Option<usize>>| -> Option<Vec<usize>> {
            let mut v: Vec<usize> = Vec::new();
            for c in cells {
                v.push(c?);
            }
            v.sort_unstable();
            v.dedup();
            Some(v)
        };
        if let Some(by) = by(&mut cover.iter().flatten().copied()) {
            out.push(Unreachable::Route { route: j, by });
            continue;
        }
        if !routes[j].prefixes.is_empty() {
            for (a, row) in cover.iter().enumerate() {
                if let Some(by) = by(&mut row.iter().copied()) {
                    out.push(Unreachable::Prefix {
                        route: j,
                        prefix: a,
                        by,
                    });
                }
            }
        }
        if !routes[j].suffixes.is_empty() {
            for b in 0..ss.len() {
                if let Some(by) = by(&mut cover.iter().map(|row| row[b])) {
                    out.push(Unreachable::Suffix {
                        route: j,
                        suffix: b,
                        by,
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m<'a>(p: &[&'a str], s: &[&'a str]) -> Matchers<'a> {
        Matchers {
            prefixes: p.to_vec(),
            suffixes: s.to_vec(),
        }
    }

    #[test]
    fn a_longer_prefix_after_a_shorter_one_is_unreachable() {
        let r = [m(&["/api/"], &[]), m(&["/api/v2/"], &[])];
        assert_eq!(
            unreachable(&r),
            [Unreachable::Route {
                route: 1,
                by: vec![0]
            }]
        );
        // The other order is what one means: both reachable.
        let r = [m(&["/api/v2/"], &[]), m(&["/api/"], &[])];
        assert!(unreachable(&r).is_empty());
    }

    #[test]
    fn several_earlier_routes_together_and_single_prefixes() {
        let r = [
            m(&["/a/"], &[]),
            m(&["/b/"], &[]),
            m(&["/a/x", "/b/y"], &[]),
        ];
        assert_eq!(
            unreachable(&r),
            [Unreachable::Route {
                route: 2,
                by: vec![0, 1]
            }]
        );
        let r = [m(&["/a/"], &[]), m(&["/a/x", "/c/"], &[])];
        assert_eq!(
            unreachable(&r),
            [Unreachable::Prefix {
                route: 1,
                prefix: 0,
                by: vec![0]
            }]
        );
    }

    #[test]
    fn suffixes_and_mixed_routes() {
        let r = [m(&[], &[".m3u8"]), m(&[], &["/index.m3u8"])];
        assert_eq!(
            unreachable(&r),
            [Unreachable::Route {
                route: 1,
                by: vec![0]
            }]
        );
        // A prefix-and-suffix route is narrower than its prefix alone: reachable after it is not.
        let r = [m(&["/hls/"], &[".ts"]), m(&["/hls/"], &[])];
        assert!(unreachable(&r).is_empty());
        let r = [m(&["/hls/"], &[]), m(&["/hls/live/"], &[".ts"])];
        assert_eq!(
            unreachable(&r),
            [Unreachable::Route {
                route: 1,
                by: vec![0]
            }]
        );
        // A suffix-only route does not take a prefix-only route's paths.
        let r = [m(&[], &[".ts"]), m(&["/hls/"], &[])];
        assert!(unreachable(&r).is_empty());
        let r = [
            m(&["/a/"], &[".ts", ".m3u8"]),
            m(&["/a/b/"], &[".ts", ".mp4"]),
        ];
        assert_eq!(
            unreachable(&r),
            [Unreachable::Suffix {
                route: 1,
                suffix: 0,
                by: vec![0]
            }]
        );
    }
}
