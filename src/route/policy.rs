//! The policy rules of a frontend walked for one request: which apply (by the route the request
//! took, [`crate::rules::Scope::holds`]), which fire, and the client address access rules see.
//! Every rule, scope and order comes from the routing table ([`crate::rules::PolicyRule`]).

use std::net::IpAddr;

use serde::Serialize;

use super::request::Request;
use crate::model::HeaderAction;
use crate::rules::{PolicyAction, PolicyRule, Routing, Where};

/// One policy rule and what it did to the request.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyResult {
    /// Where it comes from (`policy team-only (env staging)`).
    pub origin: String,
    /// The requests it applies to, in words.
    pub scope: String,
    /// The line as in the config.
    pub haproxy: String,
    /// Whether the request falls in its scope (and haproxy reaches it).
    pub applies: bool,
    /// Whether it acted: denied the request, or changed a header.
    pub fired: bool,
    /// What it did, in words, when it fired.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effect: Option<String>,
}

impl PolicyResult {
    /// What rule `r` did: whether it `applies`, whether it `fired`, in words.
    fn of(r: &PolicyRule, applies: bool, fired: bool, effect: Option<String>) -> PolicyResult {
        PolicyResult {
            origin: r.origin.clone(),
            scope: r.scope.describe(),
            haproxy: r.haproxy.clone(),
            applies,
            fired,
            effect,
        }
    }
}

/// The client's address as access rules see it ([`crate::rules::CLIENT_VAR`]): the last
/// `X-Forwarded-For` address when the connection comes from a trusted network and carries a
/// valid one (haproxy's `req.hdr_ip(X-Forwarded-For,-1)`: the last value of the header's
/// comma-separated list), else the connection's source (`--from`); `None` when not given.
pub fn client_address(routing: &Routing, req: &Request) -> Option<IpAddr> {
    let from = req.from?;
    let trusted = super::engine::in_networks(from, &routing.identity.trusted).is_some();
    if !trusted {
        return Some(from);
    }
    let forwarded = req
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("x-forwarded-for"))
        .flat_map(|h| h.value.split(','))
        .next_back()
        .and_then(|v| v.trim().parse::<IpAddr>().ok());
    Some(forwarded.unwrap_or(from))
}

/// The access rules in order for a request standing `at`: each recorded in `out`; the
/// first that denies ends the walk and is returned.
pub(super) fn access<'a>(
    rules: &'a [PolicyRule],
    at: &Where<'_>,
    is: &impl Fn(&str) -> bool,
    client: Option<IpAddr>,
    out: &mut Vec<PolicyResult>,
) -> Option<&'a PolicyRule> {
    for r in rules {
        let PolicyAction::Deny {
            acl, inside, file, ..
        } = &r.action
        else {
            continue;
        };
        let applies = r.scope.holds(at);
        let fired = applies && is(acl) == *inside;
        let who = client.map_or("the client (address not given)".to_string(), |c| {
            format!("client {c}")
        });
        out.push(PolicyResult::of(
            r,
            applies,
            fired,
            fired.then(|| {
                if file.is_some() {
                    format!("403: {who} is not in a trusted network")
                } else if *inside {
                    format!("403: {who} is in a denied network")
                } else {
                    format!("403: {who} is in no allowed network")
                }
            }),
        ));
        if fired {
            return Some(r);
        }
    }
    None
}

/// The rate and body limits in order for a request standing `at`, each recorded in `out`: a
/// rate limit is counted, never decided here (it depends on the client's earlier requests);
/// the first body limit that refuses (a `Content-Length` over it: 413; a chunked body where
/// those are refused: 411) ends the walk and is returned with its status and reason.
pub(super) fn limits<'a>(
    rules: &'a [PolicyRule],
    at: &Where<'_>,
    req: &Request,
    out: &mut Vec<PolicyResult>,
) -> Option<(&'a PolicyRule, u16, String)> {
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.trim().to_string())
    };
    for r in rules {
        match &r.action {
            PolicyAction::RateLimit {
                requests,
                period,
                retry_after,
                routed_only,
                ..
            } => {
                let applies = r.scope.holds(at) && !(*routed_only && at.key.is_none());
                out.push(PolicyResult::of(
                    r,
                    applies,
                    false,
                    applies.then(|| {
                        format!(
                            "counted: over {requests} requests per {period} from one client \
                             address, 429 (Retry-After {retry_after})"
                        )
                    }),
                ));
            }
            PolicyAction::BodyLimit { max, chunked, .. } => {
                let applies = r.scope.holds(at);
                let chunked_body = header("transfer-encoding").is_some();
                // With both, Transfer-Encoding frames the body and haproxy drops
                // Content-Length (RFC 9112 section 6.3).
                let length = header("content-length")
                    .and_then(|v| v.parse::<u64>().ok())
                    .filter(|_| !chunked_body);
                let refused = if !applies {
                    None
                } else if length.is_some_and(|l| l > *max) {
                    Some((
                        crate::model::BODY_TOO_LARGE,
                        format!(
                            "Content-Length {} is over the limit of {max} bytes",
                            length.unwrap_or_default()
                        ),
                    ))
                } else if chunked_body && *chunked == crate::model::Chunked::Refuse {
                    Some((
                        crate::model::LENGTH_REQUIRED,
                        "a chunked body, and chunked bodies are refused here".to_string(),
                    ))
                } else {
                    None
                };
                let effect = match (&refused, applies) {
                    (Some((status, why)), _) => Some(format!("{status}: {why}")),
                    (None, true) if chunked_body => Some(
                        "a chunked body: forwarded, its size unchecked (the upstream's limit holds)"
                            .to_string(),
                    ),
                    (None, true) => Some(format!("a body of at most {max} bytes passes")),
                    (None, false) => None,
                };
                out.push(PolicyResult::of(r, applies, refused.is_some(), effect));
                if let Some((status, why)) = refused {
                    return Some((r, status, why));
                }
            }
            _ => {}
        }
    }
    None
}

/// The basic-auth rules in order for a request standing `at`, then the removal of the
/// `Authorization` header where one applies: each recorded in `out`; the first rule that asks for credentials (401: the
/// client not in its bypass networks, the request without a user of its userlist and the
/// right password) ends the walk and is returned.
pub(super) fn basic_auth<'a>(
    rules: &'a [PolicyRule],
    at: &Where<'_>,
    is: &impl Fn(&str) -> bool,
    req: &Request,
    out: &mut Vec<PolicyResult>,
) -> Option<&'a PolicyRule> {
    for r in rules {
        match &r.action {
            PolicyAction::BasicAuth {
                userlist, bypass, ..
            } => {
                let applies = r.scope.holds(at);
                let bypassed = bypass.as_deref().is_some_and(is);
                let good = applies
                    && !bypassed
                    && req
                        .credentials
                        .as_ref()
                        .is_some_and(|c| userlist.check(&c.user, &c.password));
                let fired = applies && !bypassed && !good;
                let effect = if fired {
                    Some(match &req.credentials {
                        Some(c) => format!(
                            "401: user {} with that password is not in userlist {}",
                            c.user, userlist.name
                        ),
                        None => "401: the request carries no Basic credentials".into(),
                    })
                } else if good {
                    let user = req.credentials.as_ref().map(|c| c.user.as_str());
                    Some(format!(
                        "authenticated as {} (userlist {})",
                        user.unwrap_or_default(),
                        userlist.name
                    ))
                } else if applies {
                    Some("bypassed: the client is in a bypass network".into())
                } else {
                    None
                };
                out.push(PolicyResult::of(r, applies, fired, effect));
                if fired {
                    return Some(r);
                }
            }
            PolicyAction::StripCredentials { scopes } => {
                let fired = scopes.iter().any(|s| s.holds(at));
                out.push(PolicyResult::of(
                    r,
                    true,
                    fired,
                    fired.then(|| format!("request {} removed", crate::rules::AUTHORIZATION)),
                ));
            }
            _ => {}
        }
    }
    None
}

/// The maintenance rules in order for a request standing `at`: each recorded in `out`;
/// the first that answers (the client not in its bypass networks) ends the walk and is
/// returned.
pub(super) fn maintenance<'a>(
    rules: &'a [PolicyRule],
    at: &Where<'_>,
    is: &impl Fn(&str) -> bool,
    out: &mut Vec<PolicyResult>,
) -> Option<&'a PolicyRule> {
    for r in rules {
        let PolicyAction::Maintenance { bypass, .. } = &r.action else {
            continue;
        };
        let applies = r.scope.holds(at);
        let bypassed = bypass.as_deref().is_some_and(is);
        let fired = applies && !bypassed;
        out.push(PolicyResult::of(
            r,
            applies,
            fired,
            if fired {
                Some("503: down for maintenance".into())
            } else if applies {
                Some("bypassed: the client is in a bypass network".into())
            } else {
                None
            },
        ));
        if fired {
            return Some(r);
        }
    }
    None
}

/// The rewrite rules for a request standing `at`, recorded in `out`: the path (and
/// query) the upstream gets when one fires — the first prefix of the route the path begins
/// with, replaced.
pub(super) fn rewrite(
    rules: &[PolicyRule],
    at: &Where<'_>,
    req: &Request,
    out: &mut Vec<PolicyResult>,
) -> Option<String> {
    let mut upstream = None;
    for r in rules {
        let PolicyAction::Rewrite { prefixes, to, .. } = &r.action else {
            continue;
        };
        let applies = r.scope.holds(at);
        let matched = prefixes.iter().find(|p| req.path.starts_with(p.as_str()));
        let new = applies
            .then_some(matched)
            .flatten()
            .map(|p| format!("{to}{}", &req.uri()[p.len()..]));
        out.push(PolicyResult::of(
            r,
            applies,
            new.is_some(),
            new.as_ref().map(|n| format!("path upstream {n}")),
        ));
        upstream = upstream.or(new);
    }
    upstream
}

/// The header rules of one side (`response`) in order for a request standing `at`,
/// recorded in `out`.
pub(super) fn headers(
    rules: &[PolicyRule],
    response: bool,
    at: &Where<'_>,
    out: &mut Vec<PolicyResult>,
) {
    for r in rules {
        let h = match &r.action {
            PolicyAction::RequestHeader(h) if !response => h,
            PolicyAction::ResponseHeader(h) if response => h,
            _ => continue,
        };
        let applies = r.scope.holds(at);
        let side = if response { "response" } else { "request" };
        out.push(PolicyResult::of(
            r,
            applies,
            applies,
            applies.then(|| match &h.action {
                HeaderAction::Set { value } => format!("{side} {}: {value}", h.name),
                HeaderAction::Add { value } => format!("{side} {}: {value} (added)", h.name),
                HeaderAction::Del => format!("{side} {} removed", h.name),
            }),
        ));
    }
}
