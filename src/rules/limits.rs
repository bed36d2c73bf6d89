//! Limits in the routing table: a rate limit as a stick counter of its place's stick table
//! (haproxy's `track-scN` + `sc_http_req_rate(N)`, answered 429 with `Retry-After`), a body
//! limit as a `Content-Length` test (413) and, where refused, a test for a chunked body (411);
//! and the stick tables with the local `peers` section that carries them across reloads.
//!
//! Stick counters: haproxy 2.6 tracks three per request (`MAX_SESS_STKCTR`), so each level of
//! place has its own — sc0 the edge's limit, sc1 the env's or site's, sc2 the route's — and
//! validation allows one limit per place and none on a `hosts` block
//! (`crate::validate::limits`). A place's table is `rate.` and its scope (`rate.env.prod.api`),
//! one per place even when one named policy limits several: each place counts its own
//! requests.

use serde::Serialize;

use super::{CLIENT_VAR, PolicyAction, Scope};
use crate::model::{
    BODY_TOO_LARGE, BodyLimit, Chunked, LENGTH_REQUIRED, RateLimit, Rules, TOO_MANY_REQUESTS,
};

/// The local peer's name (`localpeer` in `global`, the one `peer` of [`PEERS_SECTION`]): the
/// old haproxy process teaches its stick tables to the new one through it on every reload.
pub const LOCAL_PEER: &str = "edgeplan";
/// The `peers` section of the stick tables.
pub const PEERS_SECTION: &str = "edgeplan";
/// Entries a rate-limit table holds (client addresses; about 50 bytes each, so ~5 MB).
pub const TABLE_SIZE: &str = "100k";
/// The body of a 411 answer.
pub const LENGTH_REQUIRED_TEXT: &str = "Length Required: this edge takes request bodies of a declared length only (send Content-Length).";

/// A stick table counting one place's request rate per client address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StickTable {
    /// The table's name (`rate.env.prod.api`), a backend section of its own.
    pub name: String,
    /// The rate's period and the entries' expiry (haproxy duration).
    pub period: String,
    /// Entries it holds.
    pub size: &'static str,
}

/// The stick counter of a scope's level: 0 the edge, 1 an env, site or hosts block, 2 a route.
pub fn counter(scope: &Scope) -> u8 {
    match scope {
        Scope::Edge => 0,
        Scope::Env { .. } | Scope::Site { .. } | Scope::Preview { .. } | Scope::Hosts { .. } => 1,
        Scope::Route { .. } => 2,
    }
}

/// The stick table of a scope's rate limit.
pub fn table_name(scope: &Scope) -> String {
    match scope {
        Scope::Edge => "rate.edge".into(),
        Scope::Env { env } | Scope::Preview { env } | Scope::Hosts { env, .. } => {
            format!("rate.env.{env}")
        }
        Scope::Site { site } => format!("rate.site.{site}"),
        Scope::Route { env, route } => format!("rate.env.{env}.{route}"),
    }
}

/// The limit actions of `rules` at `scope` (`cond`: the scope's condition) in a frontend
/// that is (`redirecting`) or is not the http listener of a TLS edge: the rate limit, then the
/// body limit; each with its haproxy lines and its words for the plan.
pub(super) fn limit_actions(
    rules: &Rules,
    scope: &Scope,
    cond: &str,
    redirecting: bool,
) -> Vec<(PolicyAction, String, String)> {
    let mut out = Vec::new();
    if let Some(r) = &rules.rate_limit {
        // Only the edge's scope holds requests that no rule took (they are redirected).
        let routed_only = redirecting && *scope == Scope::Edge;
        let cond = if routed_only {
            format!("{cond} {{ var({}) -m found }}", super::ROUTE_VAR)
        } else {
            cond.to_string()
        };
        out.push(rate_action(r, scope, &cond, routed_only));
    }
    if let Some(b) = &rules.body_limit {
        out.push(body_action(b, cond));
    }
    out
}

fn rate_action(
    r: &RateLimit,
    scope: &Scope,
    cond: &str,
    routed_only: bool,
) -> (PolicyAction, String, String) {
    let n = counter(scope);
    let table = table_name(scope);
    let retry_after = r.retry_after();
    let lines = vec![
        format!("http-request track-sc{n} var({CLIENT_VAR}) table {table} if {cond}"),
        format!(
            "http-request deny deny_status {TOO_MANY_REQUESTS} content-type \"text/plain; \
             charset=utf-8\" string \"Too many requests: retry in {retry_after} s.\" hdr \
             Retry-After {retry_after} if {cond} {{ sc_http_req_rate({n}) gt {} }}",
            r.requests
        ),
    ];
    let words = format!(
        "rate limit: {} requests per {} per client address, then {TOO_MANY_REQUESTS} \
         (Retry-After {retry_after})",
        r.requests, r.period
    );
    let action = PolicyAction::RateLimit {
        table,
        counter: n,
        requests: r.requests,
        period: r.period.to_string(),
        retry_after,
        routed_only,
        lines: lines.clone(),
    };
    (action, lines.join("\n"), words)
}

fn body_action(b: &BodyLimit, cond: &str) -> (PolicyAction, String, String) {
    let max = b.max.bytes();
    let mut lines = vec![format!(
        "http-request deny deny_status {BODY_TOO_LARGE} if {cond} {{ req.hdr_val(content-length) gt {max} }}"
    )];
    if b.chunked == Chunked::Refuse {
        let deny = format!(
            "http-request deny deny_status {LENGTH_REQUIRED} content-type \"text/plain; \
             charset=utf-8\" string \"{LENGTH_REQUIRED_TEXT}\" if {cond}"
        );
        // HTTP/1.1 chunked; HTTP/2 sends no Transfer-Encoding, and a body without
        // content-length cannot be told from none: a method that carries one is refused.
        lines.push(format!("{deny} {{ req.hdr(transfer-encoding) -m found }}"));
        lines.push(format!(
            "{deny} {{ req.ver 2.0 }} !{{ req.hdr(content-length) -m found }} \
             {{ method POST PUT PATCH }}"
        ));
    }
    let words = format!(
        "body over {} ({max} bytes): {BODY_TOO_LARGE}; chunked bodies {}",
        b.max,
        match b.chunked {
            Chunked::Pass => "passed to the upstream".to_string(),
            Chunked::Refuse => format!(
                "refused ({LENGTH_REQUIRED}), and HTTP/2 POST, PUT, PATCH without content-length"
            ),
        }
    );
    let action = PolicyAction::BodyLimit {
        max,
        chunked: b.chunked,
        lines: lines.clone(),
    };
    (action, lines.join("\n"), words)
}

/// The stick tables the frontends' rate limits track, each once, in name order.
pub fn stick_tables(frontends: &[super::Frontend]) -> Vec<StickTable> {
    let mut out: Vec<StickTable> = frontends
        .iter()
        .flat_map(|f| &f.policies)
        .filter_map(|p| match &p.action {
            PolicyAction::RateLimit { table, period, .. } => Some(StickTable {
                name: table.clone(),
                period: period.clone(),
                size: TABLE_SIZE,
            }),
            _ => None,
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out.dedup_by(|a, b| a.name == b.name);
    out
}
