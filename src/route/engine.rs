//! The walk: what the edge does with one [`Request`], evaluated over the [`Routing`] the haproxy
//! template renders, in HAProxy's order — frontend, ACLs, the https redirect, `use_backend` in
//! order, `default_backend`, then the backend: its static answer, or the server that takes the
//! request (sticky cookie, balancing, consistent hash). The ending is a [`Verdict`]; the rest of
//! the [`Explanation`] records each step on the way.

use super::notes::header_notes;
use super::request::Request;
use super::verdict::{Reached, Verdict};
use super::{
    AclResult, BalanceView, Explanation, FORMAT_VERSION, FrontendView, Redirect, RouteError,
    ServerView, Sticky, SwitchResult,
};
use crate::rules::{self, Acl, Frontend, Routing, Scheme, Test};

/// HAProxy's spelling of an ACL test, as the template writes it ([`Test::haproxy`]).
pub fn haproxy_test(test: &Test) -> String {
    test.haproxy()
}

/// HAProxy's redirect rule, as the template writes it ([`rules::redirect_rule`]).
pub fn redirect_rule(unless: &str, port: Option<u16>) -> String {
    rules::redirect_rule(unless, port)
}

/// Evaluate one ACL test: the sample it looked at and whether it matched; `client` is the
/// address access rules see ([`super::policy::client_address`]).
fn eval(test: &Test, req: &Request, client: Option<std::net::IpAddr>) -> (Option<String>, bool) {
    match test {
        Test::Host { hosts } => {
            // `-m str` on the lower-cased host: exact.
            let field = req.host_field();
            let matched = field
                .as_deref()
                .is_some_and(|f| hosts.iter().any(|h| h.as_str() == f));
            (field, matched)
        }
        Test::PathBeg { prefixes } => (
            Some(req.path.clone()),
            prefixes.iter().any(|p| req.path.starts_with(p.as_str())),
        ),
        Test::PathEnd { suffixes } => (
            Some(req.path.clone()),
            suffixes.iter().any(|s| req.path.ends_with(s.as_str())),
        ),
        // Without `--from` the client's address is unknown: taken as in none of them (the
        // edge trusts no source by default).
        Test::Src { networks } => (
            req.from.map(|ip| ip.to_string()),
            req.from
                .is_some_and(|ip| in_networks(ip, networks).is_some()),
        ),
        Test::Client { networks } => (
            client.map(|ip| ip.to_string()),
            client.is_some_and(|ip| in_networks(ip, networks).is_some()),
        ),
    }
}

/// The first of `networks` (`ADDR/PREFIX`, as the routing table spells them) holding `ip`; an
/// IPv4-mapped IPv6 address (`::ffff:10.1.2.3`, a v4 client on a `v4v6` listener) is compared
/// as the IPv4 address, as HAProxy's `src` does.
pub(super) fn in_networks(ip: std::net::IpAddr, networks: &[String]) -> Option<&String> {
    let ip = ip.to_canonical();
    networks
        .iter()
        .find(|n| n.parse::<ipnet::IpNet>().is_ok_and(|n| n.contains(&ip)))
}

/// Explain what the edge described by `routing` does with `req`.
///
/// # Errors
///
/// [`RouteError::NoListener`] when the edge has no frontend for the request's scheme;
/// [`RouteError::Internal`] when the routing table contradicts
/// itself (a bug in edgeplan).
pub fn explain(routing: &Routing, req: &Request) -> Result<Explanation, RouteError> {
    let fe = frontend(routing, req.scheme)?;
    let client = super::policy::client_address(routing, req);
    let acls: Vec<AclResult> = fe.acls.iter().map(|a| acl_result(a, req, client)).collect();
    let mut steps = Steps::default();
    let verdict = match req.host_problem() {
        // The frontend's first rule: `http-request deny deny_status 400` when the request names
        // no host or more than one. Nothing after it runs.
        Some(reason) => Verdict::BadRequest { reason },
        None => follow_rules(routing, fe, &acls, req, client, &mut steps)?,
    };
    // On every response, proxied or haproxy's own (`http-after-response`) — but the parser's.
    let key = steps.route_key.clone();
    let host = req.host_field();
    let at = rules::Where {
        key: key.as_deref(),
        host: host.as_deref(),
    };
    if !req.host_headers_differ() {
        super::policy::headers(&fe.policies, true, &at, &mut steps.policies);
    }
    if req.from.is_none()
        && fe.policies.iter().any(|p| {
            p.scope.holds(&at)
                && matches!(
                    p.action,
                    rules::PolicyAction::Deny { .. }
                        | rules::PolicyAction::BasicAuth {
                            bypass: Some(_),
                            ..
                        }
                        | rules::PolicyAction::Maintenance {
                            bypass: Some(_),
                            ..
                        }
                )
        })
    {
        steps.notes.push(
            "a rule that tests the client's network applies (access, or a bypass of basic auth \
             or maintenance), and the client's address is not given: it was taken as in no \
             network; `--from ADDR` says what a given client gets"
                .into(),
        );
    }
    steps.notes.extend(header_notes(routing, req));
    // A rule that tests the client's address decided (or could have): say what was assumed.
    let src_acls: Vec<&str> = acls
        .iter()
        .filter(|a| matches!(a.test, Test::Src { .. }))
        .map(|a| a.name.as_str())
        .collect();
    let src_tested = steps
        .switches
        .iter()
        .any(|s| s.evaluated && s.when.iter().any(|w| src_acls.contains(&w.as_str())));
    if req.from.is_none() && src_tested {
        steps.notes.push(
            "a rule above tests the client's address, which is not given: the client was taken \
             as in none of the networks; `--from ADDR` says what a given client gets"
                .into(),
        );
    }
    Ok(assemble(req, fe, acls, steps, verdict))
}

/// What the walk records besides the ACLs and the verdict, filled as it goes.
#[derive(Default)]
pub(super) struct Steps {
    pub(super) route_key: Option<String>,
    pub(super) upstream_path: Option<String>,
    pub(super) policies: Vec<super::policy::PolicyResult>,
    pub(super) redirect: Option<Redirect>,
    pub(super) switches: Vec<SwitchResult>,
    pub(super) servers: Vec<ServerView>,
    pub(super) balance: Option<BalanceView>,
    pub(super) health_check: Option<String>,
    pub(super) sticky: Option<Sticky>,
    pub(super) notes: Vec<String>,
}

/// The explanation: the steps, and the verdict with its flat spelling for the JSON document.
fn assemble(
    req: &Request,
    fe: &Frontend,
    acls: Vec<AclResult>,
    steps: Steps,
    verdict: Verdict,
) -> Explanation {
    Explanation {
        format_version: FORMAT_VERSION,
        request: req.clone(),
        frontend: FrontendView {
            name: fe.name.clone(),
            scheme: fe.scheme,
            bind: fe.bind.clone(),
        },
        acls,
        redirect: steps.redirect,
        switches: steps.switches,
        route_key: steps.route_key,
        upstream_path: steps.upstream_path,
        policies: steps.policies,
        default_backend: verdict.backend().is_some_and(|b| b.by_default),
        outcome: verdict.outcome(),
        status: verdict.status(),
        location: verdict.location().map(str::to_string),
        backend: verdict.backend().map(|b| b.name.clone()),
        kind: verdict.kind(),
        env: verdict.pool().map(|(env, _)| env.to_string()),
        component: verdict.pool().map(|(_, component)| component.to_string()),
        body_file: verdict.body_file().map(str::to_string),
        servers: steps.servers,
        balance: steps.balance,
        health_check: steps.health_check,
        sticky: steps.sticky,
        chosen_server: verdict.chosen_server().map(|c| c.name.clone()),
        pinned_server: verdict.pinned_server().map(|c| c.name.clone()),
        sets_cookie: verdict.sets_cookie().cloned(),
        notes: steps.notes,
        verdict,
    }
}

/// The frontend that receives requests of `scheme`.
fn frontend(routing: &Routing, scheme: Scheme) -> Result<&Frontend, RouteError> {
    routing
        .frontends
        .iter()
        .find(|f| f.scheme == scheme)
        .ok_or_else(|| RouteError::NoListener {
            scheme: match scheme {
                Scheme::Http => "http".into(),
                Scheme::Https => "https".into(),
            },
        })
}

/// One ACL of the frontend, evaluated for `req` from `client`.
fn acl_result(acl: &Acl, req: &Request, client: Option<std::net::IpAddr>) -> AclResult {
    let (sample, matched) = eval(&acl.test, req, client);
    AclResult {
        name: acl.name.clone(),
        test: acl.test.clone(),
        haproxy: acl.haproxy.clone(),
        sample,
        matched,
    }
}

/// The frontend's rules after the 400 check: the route (the first switch that matches), the
/// access rules, rate and body limits, basic auth, maintenance, the redirect, the request headers, the `use_backend` of the route or
/// `default_backend`, then the backend's decision.
fn follow_rules(
    routing: &Routing,
    fe: &Frontend,
    acls: &[AclResult],
    req: &Request,
    client: Option<std::net::IpAddr>,
    steps: &mut Steps,
) -> Result<Verdict, RouteError> {
    // An ACL that is used but never declared is false in this model; HAProxy would refuse the
    // config, and the template declares every ACL a rule names.
    let is = |name: &str| acls.iter().any(|a| a.name == name && a.matched);
    let chosen = switches(fe, &is, &mut steps.switches);
    steps.route_key = chosen.map(|sw| sw.key.clone());
    let key = steps.route_key.clone();
    let host = req.host_field();
    let at = rules::Where {
        key: key.as_deref(),
        host: host.as_deref(),
    };
    if let Some(rule) = super::policy::access(&fe.policies, &at, &is, client, &mut steps.policies) {
        let body_file = match &rule.action {
            rules::PolicyAction::Deny { file, .. } => file.clone(),
            _ => None,
        };
        return Ok(Verdict::Denied {
            status: rules::DENY_STATUS,
            by: rule.origin.clone(),
            body_file,
        });
    }
    if let Some((rule, status, reason)) =
        super::policy::limits(&fe.policies, &at, req, &mut steps.policies)
    {
        return Ok(Verdict::BodyRefused {
            status,
            by: rule.origin.clone(),
            reason,
        });
    }
    if let Some(rule) = super::policy::basic_auth(&fe.policies, &at, &is, req, &mut steps.policies)
        && let rules::PolicyAction::BasicAuth { realm, .. } = &rule.action
    {
        return Ok(Verdict::Unauthorized {
            realm: realm.clone(),
            by: rule.origin.clone(),
        });
    }
    if let Some(rule) = super::policy::maintenance(&fe.policies, &at, &is, &mut steps.policies)
        && let rules::PolicyAction::Maintenance {
            file, retry_after, ..
        } = &rule.action
    {
        return Ok(Verdict::Maintenance {
            body_file: file.clone(),
            retry_after: *retry_after,
            by: rule.origin.clone(),
        });
    }
    if let Some(unless) = &fe.redirect_unless {
        let (rule, fired) = redirect(fe, unless, key.is_none(), req);
        steps.redirect = Some(rule);
        if let Some(verdict) = fired {
            return Ok(verdict);
        }
    }
    steps.upstream_path = super::policy::rewrite(&fe.policies, &at, req, &mut steps.policies);
    super::policy::headers(&fe.policies, false, &at, &mut steps.policies);
    let reached = match chosen {
        Some(sw) => Reached {
            name: sw.backend.clone(),
            by_default: false,
        },
        None => Reached {
            name: fe.default_backend.clone(),
            by_default: true,
        },
    };
    let be = routing
        .backends
        .iter()
        .find(|b| b.name == reached.name)
        .ok_or_else(|| RouteError::Internal {
            backend: reached.name.clone(),
        })?;
    // The backend sees the rewritten path (`balance uri` hashes it).
    match steps.upstream_path.clone() {
        Some(upstream) => {
            let mut rewritten = req.clone();
            rewritten.path = upstream.split('?').next().unwrap_or_default().to_string();
            super::backend::decision(routing, be, &rewritten, reached, steps)
        }
        None => super::backend::decision(routing, be, req, reached, steps),
    }
}

/// The http → https redirect rule `unless`, and the verdict when it fires (`applies`).
fn redirect(
    fe: &Frontend,
    unless: &str,
    applies: bool,
    req: &Request,
) -> (Redirect, Option<Verdict>) {
    // The rendered rule: "https://" + the Host header up to its first `:` + the https port when
    // it is not 443 + the URI (path and query).
    let location = applies.then(|| {
        let host = req.host_field().unwrap_or_default();
        let port = fe
            .redirect_port
            .map(|p| format!(":{p}"))
            .unwrap_or_default();
        format!("https://{host}{port}{}", req.uri())
    });
    let rule = Redirect {
        rule: fe
            .redirect
            .clone()
            .unwrap_or_else(|| redirect_rule(unless, fe.redirect_port)),
        unless: unless.to_string(),
        applies,
        status: 301,
        location: location.clone(),
    };
    let fired = location.map(|location| Verdict::Redirect {
        status: rule.status,
        location,
    });
    (rule, fired)
}

/// Every rule that takes requests ([`rules::Switch`]), recorded in `out`: the first that
/// matches names the route (`txn.route`); HAProxy evaluates none after it.
fn switches<'a>(
    fe: &'a Frontend,
    is: &impl Fn(&str) -> bool,
    out: &mut Vec<SwitchResult>,
) -> Option<&'a rules::Switch> {
    let mut chosen: Option<&rules::Switch> = None;
    for sw in &fe.switches {
        let matched = sw.when.iter().all(|w| is(w));
        let evaluated = chosen.is_none();
        let this = evaluated && matched;
        if this {
            chosen = Some(sw);
        }
        out.push(SwitchResult {
            key: sw.key.clone(),
            backend: sw.backend.clone(),
            when: sw.when.clone(),
            why: sw.why.clone(),
            matched,
            evaluated,
            chosen: this,
        });
    }
    chosen
}
