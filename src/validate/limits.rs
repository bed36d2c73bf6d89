//! Limits: `max-body` and `rate-limit` — a rate of at least one request per period of one
//! second to a day, and at most one rate limit per place (haproxy 2.6 tracks three stick
//! counters per request: one for the edge's limit, one for the env's or site's, one for the
//! route's), never on a `hosts` block (which would be a fourth).

use std::collections::BTreeMap;

use super::{Checker, val};
use crate::model::{BodyLimit, Chunked, Ident, MAX_RATE_PERIOD_MS, Policy, RateLimit};
use crate::spec::{At, RulesSpec};

/// `max-body`, checked.
pub(super) fn body_limit(spec: &RulesSpec) -> Option<BodyLimit> {
    let m = &spec.max_body.as_ref()?.value;
    Some(BodyLimit {
        max: val(&m.max)?,
        chunked: val(&m.chunked).unwrap_or(Chunked::Pass),
    })
}

/// `rate-limit`, checked: at least one request, a period of 1 s to 1 day.
pub(super) fn rate_limit(c: &mut Checker<'_>, spec: &RulesSpec) -> Option<RateLimit> {
    let r = &spec.rate_limit.as_ref()?.value;
    let (requests, period) = (r.requests.as_ref()?, r.period.as_ref()?);
    let mut ok = true;
    if requests.value == 0 {
        ok = false;
        c.conflict(
            requests.at,
            "a rate limit of 0 requests".to_string(),
            "zero",
            "it would answer 429 to every request, forever; to keep clients out use `deny` (or \
             `maintenance`), else allow at least one request per period",
        );
    }
    let ms = period.value.millis();
    if !(1000..=MAX_RATE_PERIOD_MS).contains(&ms) {
        ok = false;
        c.conflict(
            period.at,
            format!("a rate-limit period of {}", period.value),
            "out of range",
            "give a period from `1s` to `1d`: haproxy counts rates over whole milliseconds, and \
             `Retry-After` says the period in seconds",
        );
    }
    ok.then_some(RateLimit {
        requests: requests.value as u32,
        period: period.value,
    })
}

/// Where the rate limits of one place are written: each used policy that has one (the
/// `policies` entry), then the inline one.
fn rate_limits_at(spec: &RulesSpec, named: &BTreeMap<Ident, Policy>) -> Vec<At> {
    let used = spec.uses.iter().filter(|u| {
        named
            .get(&u.value)
            .is_some_and(|p| p.rules.rate_limit.is_some())
    });
    used.map(|u| u.at)
        .chain(spec.rate_limit.as_ref().map(|r| r.at))
        .collect()
}

/// At most one rate limit at a place (`context`: `in env \`staging\``).
pub(super) fn one_rate_limit(
    c: &mut Checker<'_>,
    spec: &RulesSpec,
    named: &BTreeMap<Ident, Policy>,
    context: &str,
) {
    for at in rate_limits_at(spec, named).into_iter().skip(1) {
        c.conflict(
            at,
            format!("a second rate limit {context}"),
            "second rate limit",
            "a place has one rate limit (haproxy tracks one counter per place: the edge, the \
             env or site, the route); keep one, or give the route its own",
        );
    }
}

/// No rate limit on a `hosts` block (`context`: `on hosts … of env …`): the first is
/// reported here, any further one by [`one_rate_limit`].
pub(super) fn no_rate_limit_on_hosts(
    c: &mut Checker<'_>,
    spec: &RulesSpec,
    named: &BTreeMap<Ident, Policy>,
    context: &str,
) {
    if let Some(at) = rate_limits_at(spec, named).into_iter().next() {
        c.conflict(
            at,
            format!("a rate limit {context}"),
            "on a hosts block",
            "haproxy 2.6 tracks three counters per request (the edge's, the env's or site's, \
             the route's): put the limit on the env or on its routes",
        );
    }
}
