//! The walk: what the edge does with one [`Request`], evaluated over the [`Routing`] the haproxy
//! template renders, in HAProxy's order — frontend, ACLs, the https redirect, `use_backend` in
//! order, `default_backend`, then the backend: its static answer, or the server that takes the
//! request (sticky cookie, balancing, consistent hash).

use super::chash::{chash_pick, uri_hash};
use super::request::{HOST_VAR, Request};
use super::{
    AclResult, BalanceView, Explanation, FORMAT_VERSION, FrontendView, Outcome, Redirect,
    RouteError, ServerView, SetCookie, Sticky, StickyResult, SwitchResult,
};
use crate::model::Balance;
use crate::rules::{Backend, BackendKind, Frontend, Routing, Scheme, Test};

/// HAProxy's spelling of an ACL test, as `templates/haproxy.cfg.j2` writes it.
pub fn haproxy_test(test: &Test) -> String {
    match test {
        Test::Host { hosts } => {
            let h: Vec<&str> = hosts.iter().map(|h| h.as_str()).collect();
            format!("var({HOST_VAR}) -m str {}", h.join(" "))
        }
        Test::PathBeg { prefixes } => format!("path_beg {}", prefixes.join(" ")),
        Test::PathEnd { suffixes } => format!("path_end {}", suffixes.join(" ")),
    }
}

/// HAProxy's redirect rule, as the template writes it.
pub fn redirect_rule(unless: &str, port: Option<u16>) -> String {
    let port = port.map(|p| format!(":{p}")).unwrap_or_default();
    format!(
        "http-request redirect location https://%[var({HOST_VAR})]{port}%[pathq] code 301 unless {unless}"
    )
}

/// Evaluate one ACL test: the sample it looked at and whether it matched.
fn eval(test: &Test, req: &Request) -> (Option<String>, bool) {
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
    }
}

/// Explain what the edge described by `routing` does with `req`.
pub fn explain(routing: &Routing, req: &Request) -> Result<Explanation, RouteError> {
    let fe: &Frontend = routing
        .frontends
        .iter()
        .find(|f| f.scheme == req.scheme)
        .ok_or_else(|| RouteError::NoListener {
            scheme: match req.scheme {
                Scheme::Http => "http".into(),
                Scheme::Https => "https".into(),
            },
        })?;
    let acls: Vec<AclResult> = fe
        .acls
        .iter()
        .map(|a| {
            let (sample, matched) = eval(&a.test, req);
            AclResult {
                name: a.name.clone(),
                test: a.test.clone(),
                haproxy: haproxy_test(&a.test),
                sample,
                matched,
            }
        })
        .collect();
    // An ACL that is used but never declared is false in this model; HAProxy would refuse the
    // config, and the template declares every ACL a rule names.
    let is = |name: &str| acls.iter().any(|a| a.name == name && a.matched);
    let refused = req.host_problem().is_some();

    let mut ex = Explanation {
        format_version: FORMAT_VERSION,
        request: req.clone(),
        frontend: FrontendView {
            name: fe.name.clone(),
            scheme: fe.scheme,
            bind: fe.bind.clone(),
        },
        acls: Vec::new(),
        redirect: None,
        switches: Vec::new(),
        default_backend: false,
        outcome: Outcome::Forward,
        status: None,
        location: None,
        backend: None,
        kind: None,
        env: None,
        component: None,
        body_file: None,
        servers: Vec::new(),
        balance: None,
        health_check: None,
        sticky: None,
        chosen_server: None,
        pinned_server: None,
        sets_cookie: None,
        notes: Vec::new(),
    };
    // The frontend's first rule: `http-request deny deny_status 400` when the request names no
    // host or more than one. Nothing after it runs.
    if refused {
        ex.outcome = Outcome::BadRequest;
        ex.status = Some(400);
        ex.acls = acls;
        note_headers(routing, &mut ex);
        return Ok(ex);
    }

    let redirected = match &fe.redirect_unless {
        Some(unless) => {
            let applies = !is(unless);
            // The rendered rule: "https://" + the Host header up to its first `:` + the https
            // port when it is not 443 + the URI (path and query).
            let location = applies.then(|| {
                let host = req.host_field().unwrap_or_default();
                let port = fe
                    .redirect_port
                    .map(|p| format!(":{p}"))
                    .unwrap_or_default();
                format!("https://{host}{port}{}", req.uri())
            });
            ex.redirect = Some(Redirect {
                rule: redirect_rule(unless, fe.redirect_port),
                unless: unless.clone(),
                applies,
                status: 301,
                location: location.clone(),
            });
            if applies {
                ex.outcome = Outcome::Redirect;
                ex.status = Some(301);
                ex.location = location;
            }
            applies
        }
        None => false,
    };

    let mut chosen: Option<&str> = None;
    for sw in &fe.switches {
        let matched = sw.when.iter().all(|w| is(w));
        let evaluated = !redirected && chosen.is_none();
        let this = evaluated && matched;
        if this {
            chosen = Some(&sw.backend);
        }
        ex.switches.push(SwitchResult {
            backend: sw.backend.clone(),
            when: sw.when.clone(),
            why: sw.why.clone(),
            matched,
            evaluated,
            chosen: this,
        });
    }
    ex.acls = acls;
    if redirected {
        note_headers(routing, &mut ex);
        return Ok(ex);
    }
    let name = match chosen {
        Some(b) => b.to_string(),
        None => {
            ex.default_backend = true;
            fe.default_backend.clone()
        }
    };
    let be = routing
        .backends
        .iter()
        .find(|b| b.name == name)
        .ok_or(RouteError::Internal {
            backend: name.clone(),
        })?;
    backend_decision(routing, be, req, &mut ex);
    note_headers(routing, &mut ex);
    Ok(ex)
}

fn note_headers(routing: &Routing, ex: &mut Explanation) {
    let id = &routing.identity;
    for h in &ex.request.headers {
        let identity = id.headers.iter().any(|i| i.eq_ignore_ascii_case(&h.name));
        ex.notes.push(if !identity {
            format!(
                "header `{}` is forwarded; no rule of the edge reads it",
                h.name
            )
        } else if id.trusted.is_empty() {
            format!(
                "header `{}` is removed: the edge sets the client's identity from the connection \
                 (no network is trusted)",
                h.name
            )
        } else {
            format!(
                "header `{}` is removed unless the client connects from a trusted network ({}); \
                 the edge sets the client's identity from the connection",
                h.name,
                id.trusted.join(" ")
            )
        });
    }
}

fn backend_decision(routing: &Routing, be: &Backend, req: &Request, ex: &mut Explanation) {
    ex.backend = Some(be.name.clone());
    ex.health_check = be.check.as_ref().map(|c| {
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
    });
    ex.kind = Some(be.kind);
    ex.env = be.env.clone();
    ex.component = be.component.clone();
    if be.kind == BackendKind::Static {
        ex.outcome = Outcome::Static;
        ex.status = be.status;
        ex.body_file = be.body_file.clone();
        return;
    }
    ex.servers = be
        .servers
        .iter()
        .map(|s| ServerView {
            name: s.name.clone(),
            address: format!("{}:{}", s.host, s.port),
            color: s.color,
            cookie: s.cookie.clone(),
            active: s.active,
            weight: s.weight,
            id: s.id,
        })
        .collect();
    // No `balance` line means HAProxy's default, roundrobin.
    let algorithm = be.balance.unwrap_or(Balance::Roundrobin);
    ex.balance = Some(BalanceView {
        algorithm,
        haproxy: match (be.balance, algorithm) {
            (None, _) => "roundrobin (HAProxy's default)".into(),
            (_, Balance::Uri) => "balance uri whole path-only + hash-type consistent".into(),
            (_, Balance::Roundrobin) => "balance roundrobin".into(),
            (_, Balance::Leastconn) => "balance leastconn".into(),
        },
        hash_key: (algorithm == Balance::Uri).then(|| req.uri()),
        hash: None,
    });
    let active: Vec<_> = be.servers.iter().filter(|s| s.active).collect();

    // Cookies of other backends (another env's session cookie) play no part here.
    for c in &req.cookies {
        if be.cookie.as_deref() == Some(c.name.as_str()) {
            continue;
        }
        if let Some(other) = routing
            .backends
            .iter()
            .find(|b| b.cookie.as_deref() == Some(c.name.as_str()))
        {
            let owner = other.env.as_deref().unwrap_or(&other.name);
            ex.notes.push(format!(
                "cookie {} belongs to env {owner}; backend {} {}, so it is ignored",
                c.name,
                be.name,
                match &be.cookie {
                    Some(n) => format!("reads {n} only"),
                    None => "has no sticky cookie".into(),
                }
            ));
        }
    }

    let mut pinned = None;
    if let Some(cookie) = &be.cookie {
        let sent = req
            .cookies
            .iter()
            .find(|c| &c.name == cookie)
            .map(|c| c.value.clone());
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
        ex.sticky = Some(Sticky {
            cookie: cookie.clone(),
            sent,
            result,
            reason,
        });
    }

    let chosen = match (pinned, active.as_slice()) {
        (Some(p), _) => Some(p),
        (None, [one]) => Some(*one),
        (None, []) => None,
        (None, several) if algorithm == Balance::Uri => {
            // HAProxy's own consistent hash, on the servers' rendered ids and weights.
            let key = req.uri();
            let hash = uri_hash(&key);
            if let Some(b) = ex.balance.as_mut() {
                b.hash = Some(hash);
            }
            let ring: Vec<(u32, u16)> = several
                .iter()
                .map(|s| (s.id.unwrap_or(0), s.weight.unwrap_or(1)))
                .collect();
            let pick = chash_pick(&ring, hash).map(|i| several[i]);
            if let Some(p) = pick {
                ex.notes.push(format!(
                    "server {} is where HAProxy's consistent hash puts this URI while every active server is up at its configured weight; a server that is down, drained or in maintenance hands its URIs to its neighbours on the ring",
                    p.name
                ));
            }
            pick
        }
        (None, several) => {
            let names: Vec<&str> = several.iter().map(|s| s.name.as_str()).collect();
            ex.notes.push(format!(
                "{} takes turns among {} ({}); which one is not fixed by the request",
                match algorithm {
                    Balance::Leastconn => "leastconn picks the server with the fewest connections",
                    _ => "roundrobin",
                },
                names.join(", "),
                if several.iter().any(|s| s.weight.is_some()) {
                    "in proportion to their weights"
                } else {
                    "equal weights"
                }
            ));
            None
        }
    };
    ex.pinned_server = pinned.map(|s| s.name.clone());
    ex.chosen_server = chosen.map(|s| s.name.clone());
    if active.is_empty() {
        ex.outcome = Outcome::NoServer;
        ex.status = Some(503);
        return;
    }
    ex.outcome = Outcome::Forward;
    if let (Some(cookie), None) = (&be.cookie, pinned) {
        ex.sets_cookie = Some(SetCookie {
            name: cookie.clone(),
            value: chosen.and_then(|s| s.cookie.clone()),
        });
    }
}
