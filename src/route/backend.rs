//! The backend's part of the walk: what a backend reached does with the request — its static
//! answer, its redirect, no server, or the server that takes it (sticky cookie, balancing,
//! consistent hash) — recorded in the walk's steps ([`super::engine`]).

use super::chash::{chash_pick, uri_hash};
use super::engine::Steps;
use super::notes::{canary_note, foreign_cookie_notes};
use super::request::Request;
use super::verdict::{Chosen, Pick, Reached, Role, ServerChoice, Verdict};
use super::{BalanceView, RouteError, ServerView, SetCookie, Sticky, StickyResult};
use crate::model::Balance;
use crate::rules::{self, Backend, Check, Routing, Server};

/// What backend `be` does with the request: a static answer, or the server that takes it.
pub(super) fn decision(
    routing: &Routing,
    be: &Backend,
    req: &Request,
    backend: Reached,
    steps: &mut Steps,
) -> Result<Verdict, RouteError> {
    steps.health_check = be.check().map(health_check);
    let role = match &be.role {
        rules::Role::Static {
            status, body_file, ..
        } => {
            return Ok(Verdict::Static {
                status: *status,
                body_file: body_file.clone(),
                backend,
            });
        }
        rules::Role::Pool { env, component, .. } => Role::Pool {
            env: env.clone(),
            component: component.clone(),
        },
        rules::Role::Outside { .. } => Role::Outside,
        rules::Role::Acme => Role::Acme,
        rules::Role::PathRedirect {
            prefixes,
            to,
            status,
        } => {
            // The backend's rules in order: the first prefix the path begins with is replaced.
            let uri = req.uri();
            let Some(p) = prefixes.iter().find(|p| req.path.starts_with(p.as_str())) else {
                return Err(RouteError::Internal {
                    backend: be.name.clone(),
                });
            };
            return Ok(Verdict::Redirect {
                status: *status,
                location: format!("{to}{}", &uri[p.len()..]),
            });
        }
        rules::Role::Redirect {
            to,
            status,
            keep_path,
        } => {
            let rest = if *keep_path { req.uri() } else { "/".into() };
            return Ok(Verdict::Redirect {
                status: *status,
                location: format!("{to}{rest}"),
            });
        }
    };
    steps.servers = be.servers.iter().map(server_view).collect();
    if let (true, Some(env)) = (be.is_preview(), be.env()) {
        let idle: Vec<String> = be
            .servers
            .iter()
            .filter(|s| s.active)
            .filter_map(|s| s.color.map(|c| c.to_string()))
            .collect();
        steps.notes.push(format!(
            "preview of env {env}: its idle colour ({}) — the one a switch would move to, and \
             a canary's new colour — reached from trusted sources only",
            idle.first().map_or("none", String::as_str)
        ));
    }
    let balancing = steps.balance.insert(balance_view(be.balance(), req));
    steps.notes.extend(foreign_cookie_notes(routing, be, req));
    let active: Vec<&Server> = be.servers.iter().filter(|s| s.active).collect();
    steps
        .notes
        .extend(canary_note(&active, be.balance() == Some(Balance::Uri)));
    let pinned = match be.cookie() {
        Some(cookie) => {
            let (sticky, pinned) = sticky(be, cookie, req);
            steps.sticky = Some(sticky);
            pinned
        }
        None => None,
    };
    if active.is_empty() {
        // haproxy's own 503, or the backend's error page for it (`http-error status 503`).
        let page = be
            .error_pages
            .iter()
            .find(|p| p.status == 503)
            .map(|p| p.file.clone());
        return Ok(Verdict::NoServer {
            backend,
            role,
            page,
        });
    }
    let server = match pinned {
        Some(s) => ServerChoice::Pinned(chosen(s)),
        None => {
            let pick = balance(&active, balancing, req, &mut steps.notes);
            ServerChoice::Balanced {
                sets_cookie: be.cookie().map(|name| SetCookie {
                    name: name.to_string(),
                    value: pick.and_then(|s| s.cookie.clone()),
                }),
                pick: match pick {
                    Some(s) => Pick::Server(chosen(s)),
                    None => Pick::OneOf(active.iter().map(|s| s.name.clone()).collect()),
                },
            }
        }
    };
    Ok(Verdict::Forward {
        backend,
        role,
        server,
    })
}

/// A server as the explanation shows it.
fn server_view(s: &Server) -> ServerView {
    ServerView {
        name: s.name.clone(),
        address: format!("{}:{}", s.host, s.port),
        color: s.color,
        cookie: s.cookie.clone(),
        active: s.active,
        weight: s.weight,
        id: s.id,
    }
}

/// A server that takes the request.
fn chosen(s: &Server) -> Chosen {
    Chosen {
        name: s.name.clone(),
        address: format!("{}:{}", s.host, s.port),
    }
}

/// The health check in words: `GET /health Host …, expects status 200…`.
fn health_check(c: &Check) -> String {
    let mut s = format!("GET {}", c.path);
    if let Some(h) = &c.host {
        s += &format!(" Host {h}");
    }
    s += &format!(", expects status {}", c.expect.status);
    if let Some(b) = &c.expect.body {
        s += &format!(" and a body containing \"{b}\"");
    }
    if let Some(t) = &c.expect.timeout {
        s += &format!(", within {t}");
    }
    s
}

/// The balancing of a backend whose `balance` line is `configured`. The hash is filled in
/// later, when it decides.
fn balance_view(configured: Option<Balance>, req: &Request) -> BalanceView {
    // No `balance` line means HAProxy's default, roundrobin.
    let algorithm = configured.unwrap_or(Balance::Roundrobin);
    BalanceView {
        algorithm,
        haproxy: match (configured, algorithm) {
            (None, _) => "roundrobin (HAProxy's default)".into(),
            (_, Balance::Uri) => "balance uri whole path-only + hash-type consistent".into(),
            (_, Balance::Roundrobin) => "balance roundrobin".into(),
            (_, Balance::Leastconn) => "balance leastconn".into(),
        },
        hash_key: (algorithm == Balance::Uri).then(|| req.uri()),
        hash: None,
    }
}

/// The sticky cookie decision of backend `be`, whose cookie is named `cookie` (`cookie NAME
/// insert indirect nocache`), and the server it pins: a request cookie naming an active server
/// pins it; anything else is ignored.
fn sticky<'a>(be: &'a Backend, cookie: &str, req: &Request) -> (Sticky, Option<&'a Server>) {
    let sent = req
        .cookies
        .iter()
        .find(|c| c.name == cookie)
        .map(|c| c.value.clone());
    let mut pinned = None;
    let (result, reason) = match &sent {
        None => (
            StickyResult::Absent,
            format!("the request has no {cookie} cookie"),
        ),
        Some(v) => match be.servers.iter().find(|s| s.cookie.as_deref() == Some(v)) {
            Some(s) if s.active => {
                pinned = Some(s);
                (
                    StickyResult::Pinned,
                    format!("{cookie}={v} names server {}, which is active", s.name),
                )
            }
            Some(s) => (
                StickyResult::Ignored,
                format!(
                    "{cookie}={v} names server {}, which is disabled: the cookie is ignored",
                    s.name
                ),
            ),
            None => (
                StickyResult::Ignored,
                format!(
                    "{cookie}={v} names no server of {}: the cookie is ignored",
                    be.name
                ),
            ),
        },
    };
    let sticky = Sticky {
        cookie: cookie.to_string(),
        sent,
        result,
        reason,
    };
    (sticky, pinned)
}

/// The server the `balancing` gives the request among the `active` ones (at least one), when
/// the request fixes it; says how in the `notes`, and records the hash of a URI-hashed backend.
fn balance<'a>(
    active: &[&'a Server],
    balancing: &mut BalanceView,
    req: &Request,
    notes: &mut Vec<String>,
) -> Option<&'a Server> {
    if let [one] = active {
        return Some(one);
    }
    if balancing.algorithm == Balance::Uri {
        // HAProxy's own consistent hash, on the servers' rendered ids and weights.
        let hash = uri_hash(&req.uri());
        balancing.hash = Some(hash);
        let ring: Vec<(u32, u16)> = active
            .iter()
            .map(|s| (s.id.unwrap_or(0), s.weight.unwrap_or(1)))
            .collect();
        let pick = chash_pick(&ring, hash).map(|i| active[i]);
        if let Some(p) = pick {
            notes.push(format!(
                "server {} is where HAProxy's consistent hash puts this URI while every active \
                 server is up at its configured weight; a server that is down, drained or in \
                 maintenance hands its URIs to its neighbours on the ring",
                p.name
            ));
        }
        return pick;
    }
    let names: Vec<&str> = active.iter().map(|s| s.name.as_str()).collect();
    notes.push(format!(
        "{} takes turns among {} ({}); which one is not fixed by the request",
        match balancing.algorithm {
            Balance::Leastconn => "leastconn picks the server with the fewest connections",
            _ => "roundrobin",
        },
        names.join(", "),
        if active.iter().any(|s| s.weight.is_some()) {
            "in proportion to their weights"
        } else {
            "equal weights"
        }
    ));
    None
}
