//! The explanation as text for a terminal: the request, the frontend's ACLs and rules, the
//! backend and its servers, then one result line and the notes. Colour (ANSI) only when asked.
//! What happened in the end is read from the [`Verdict`], so every line has its data.

use std::fmt::Write as _;

use super::verdict::{Pick, Reached, Role, ServerChoice, Verdict};
use super::{AclResult, Explanation, Request, ServerView, StickyResult};
use crate::rules::Test;
use crate::style;

/// Styling ([`crate::style`]) when on, or none.
struct Paint(bool);

impl Paint {
    fn bold(&self, s: &str) -> String {
        style::paint(s, style::HEADING, self.0)
    }
    fn dim(&self, s: &str) -> String {
        style::paint(s, style::ASIDE, self.0)
    }
    fn yes(&self) -> String {
        style::paint("✓", style::ADDED, self.0)
    }
    fn no(&self) -> String {
        style::paint("✗", style::REMOVED, self.0)
    }
    fn mark(&self, b: bool) -> String {
        if b { self.yes() } else { self.no() }
    }
}

/// Why an ACL matched or not, in words; `path` is the request's (what path tests look at).
fn acl_reason(a: &AclResult, path: &str) -> String {
    match (&a.test, &a.sample) {
        (Test::Host { .. }, None) => "no Host header".to_string(),
        (Test::Host { hosts }, Some(s)) => {
            match hosts.iter().find(|h| h.as_str().eq_ignore_ascii_case(s)) {
                Some(h) if a.matched => format!("host `{s}` matches {h}"),
                _ => {
                    let list: Vec<&str> = hosts.iter().map(|h| h.as_str()).collect();
                    format!("host `{s}` is not {}", list.join(" or "))
                }
            }
        }
        (Test::PathBeg { prefixes }, _) => {
            match prefixes.iter().find(|p| path.starts_with(p.as_str())) {
                Some(p) if a.matched => format!("path `{path}` begins with {p}"),
                _ => format!(
                    "path `{path}` begins with none of {}",
                    prefixes
                        .iter()
                        .map(|p| p.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            }
        }
        (Test::Src { networks } | Test::Client { networks }, None) => format!(
            "the client's address is not given (`--from ADDR`): taken as in none of {}",
            networks.join(" ")
        ),
        (Test::Src { networks } | Test::Client { networks }, Some(ip)) => {
            match ip
                .parse()
                .ok()
                .and_then(|ip| super::engine::in_networks(ip, networks))
            {
                Some(n) => format!("client {ip} is in {n}"),
                None => format!("client {ip} is in none of {}", networks.join(" ")),
            }
        }
        (Test::PathEnd { suffixes }, _) => {
            match suffixes.iter().find(|p| path.ends_with(p.as_str())) {
                Some(p) if a.matched => format!("path `{path}` ends with {p}"),
                _ => format!(
                    "path `{path}` ends with none of {}",
                    suffixes
                        .iter()
                        .map(|p| p.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            }
        }
    }
}

/// The explanation as text; ANSI colours when `color`.
pub fn render_text(ex: &Explanation, color: bool) -> String {
    let p = Paint(color);
    let mut o = String::new();
    write_request(&mut o, &p, &ex.request);
    write_frontend(&mut o, &p, ex);
    write_switches(&mut o, &p, ex);
    write_redirect(&mut o, &p, ex);
    write_policies(&mut o, &p, ex, false);
    write_backend(&mut o, &p, ex);
    write_policies(&mut o, &p, ex, true);
    let _ = writeln!(o);
    let _ = writeln!(o, "{} {}", p.bold("result:"), result(&ex.verdict));
    for n in &ex.notes {
        let _ = writeln!(o, "  note: {n}");
    }
    o
}

/// The request as the edge receives it.
fn write_request(o: &mut String, p: &Paint, r: &Request) {
    let _ = writeln!(o, "{} {}", p.bold("request"), r.url);
    match (&r.host_header, r.host_field()) {
        (Some(h), Some(f)) if *h == f => {
            let _ = writeln!(o, "  Host header  {h}");
        }
        (Some(h), Some(f)) => {
            let _ = writeln!(o, "  Host header  {h}  (routing compares `{f}`)");
        }
        _ => {
            let _ = writeln!(o, "  Host header  none");
        }
    }
    for h in &r.extra_host_headers {
        let _ = writeln!(o, "  Host header  {h}  (again)");
    }
    let _ = writeln!(o, "  path         {}", r.path);
    if let Some(q) = &r.query {
        let _ = writeln!(o, "  query        {q}  (not part of the path ACLs test)");
    }
    for c in &r.cookies {
        let _ = writeln!(o, "  cookie       {}={}", c.name, c.value);
    }
    for h in &r.headers {
        let _ = writeln!(o, "  header       {}: {}", h.name, h.shown());
    }
}

/// The frontend, its ACLs and the redirect rule.
fn write_frontend(o: &mut String, p: &Paint, ex: &Explanation) {
    let _ = writeln!(
        o,
        "\n{} {} (bind {})",
        p.bold("frontend"),
        ex.frontend.name,
        ex.frontend.bind
    );
    let _ = writeln!(o, "  ACLs:");
    let w = ex.acls.iter().map(|a| a.name.len()).max().unwrap_or(0);
    for a in &ex.acls {
        let _ = writeln!(
            o,
            "    {} {:w$}  {}",
            p.mark(a.matched),
            a.name,
            acl_reason(a, &ex.request.path),
        );
    }
}

/// The http → https redirect rule, when the frontend has one.
fn write_redirect(o: &mut String, p: &Paint, ex: &Explanation) {
    if let Some(rd) = &ex.redirect {
        let verdict = if rd.applies {
            format!("{} fires: no rule above took the request", p.yes())
        } else {
            format!("{} does not fire: a rule above took the request", p.no())
        };
        let _ = writeln!(o, "  {}\n    {verdict}", rd.rule);
    }
}

/// The rules that take requests HAProxy evaluates (the first match names the route and its
/// `use_backend`), and `default_backend` when it takes the request.
fn write_switches(o: &mut String, p: &Paint, ex: &Explanation) {
    if !ex.switches.is_empty() {
        let _ = writeln!(o, "  routes (txn.route), first match wins:");
    }
    let rules: Vec<String> = ex
        .switches
        .iter()
        .map(|s| format!("{} -> {} if {}", s.key, s.backend, s.when.join(" ")))
        .collect();
    let rw = rules
        .iter()
        .zip(&ex.switches)
        .filter(|(_, s)| s.evaluated)
        .map(|(r, _)| r.len())
        .max()
        .unwrap_or(0);
    let mut skipped = 0;
    for (rule, s) in rules.iter().zip(&ex.switches) {
        if !s.evaluated {
            skipped += 1;
            continue;
        }
        let _ = writeln!(
            o,
            "    {} {rule:rw$}  {}",
            p.mark(s.matched),
            p.dim(&format!("# {}", s.why))
        );
    }
    if skipped > 0 {
        let _ = writeln!(
            o,
            "    {}",
            p.dim(&format!(
                "{skipped} more rule{} not evaluated: a rule above matched",
                if skipped == 1 { "" } else { "s" }
            ))
        );
    }
    if let Some(Reached {
        name,
        by_default: true,
    }) = ex.verdict.backend()
    {
        let _ = writeln!(
            o,
            "  {} default_backend {name}  {}",
            p.yes(),
            p.dim("# no use_backend rule matched")
        );
    }
}

/// The policy rules of one side that apply to the request, each with whether it acted.
fn write_policies(o: &mut String, p: &Paint, ex: &Explanation, response: bool) {
    let side: Vec<_> = ex
        .policies
        .iter()
        .filter(|r| r.applies && r.haproxy.starts_with("http-after-response") == response)
        .collect();
    if side.is_empty() {
        return;
    }
    let what = if response {
        "policies on the response"
    } else {
        "policies on the request"
    };
    let _ = writeln!(o, "  {what}:");
    for r in side {
        let effect = r.effect.as_deref().unwrap_or("no effect");
        let _ = writeln!(
            o,
            "    {} {effect}  {}",
            p.mark(r.fired),
            p.dim(&format!("# {}", r.origin))
        );
    }
}

/// The backend the request reached, if it reached one: what it is, its static answer or its
/// servers, health check, balancing and sticky cookie.
fn write_backend(o: &mut String, p: &Paint, ex: &Explanation) {
    let (backend, what) = match &ex.verdict {
        Verdict::BadRequest { .. }
        | Verdict::Redirect { .. }
        | Verdict::Denied { .. }
        | Verdict::BodyRefused { .. }
        | Verdict::Unauthorized { .. }
        | Verdict::Maintenance { .. } => return,
        Verdict::Static { backend, .. } => (backend, "HAProxy answers itself".to_string()),
        Verdict::NoServer { backend, role, .. } | Verdict::Forward { backend, role, .. } => {
            let what = match role {
                Role::Pool { env, component } => {
                    format!("pool of env {env}, component {component}")
                }
                Role::Outside => "outside backend".into(),
                Role::Acme => "ACME challenges to certbot".into(),
            };
            (backend, what)
        }
    };
    let _ = writeln!(o, "\n{} {}: {what}", p.bold("backend"), backend.name);
    if let Verdict::Static {
        status, body_file, ..
    } = &ex.verdict
    {
        let _ = writeln!(o, "  http-request return status {status} file {body_file}");
    }
    write_servers(o, p, &ex.servers);
    if let Some(hc) = &ex.health_check {
        let _ = writeln!(o, "  health check {hc}");
    }
    if let Some(bal) = &ex.balance {
        let mut line = format!("  balance {}", bal.haproxy.trim_start_matches("balance "));
        if let Some(k) = &bal.hash_key {
            line += &format!(": the same URI always goes to the same server (key `{k}`");
            if let Some(h) = bal.hash {
                line += &format!(", hash {h:#010x}");
            }
            line += ")";
        }
        let _ = writeln!(o, "{line}");
    }
    if let Some(st) = &ex.sticky {
        let _ = writeln!(
            o,
            "  sticky cookie {} (insert indirect nocache)\n    {} {}",
            st.cookie,
            match st.result {
                StickyResult::Pinned => p.yes(),
                _ => p.no(),
            },
            st.reason
        );
    }
}

/// The backend's servers, in columns.
fn write_servers(o: &mut String, p: &Paint, servers: &[ServerView]) {
    if !servers.is_empty() {
        let _ = writeln!(o, "  servers:");
    }
    let nw = servers.iter().map(|s| s.name.len()).max().unwrap_or(0);
    let aw = servers.iter().map(|s| s.address.len()).max().unwrap_or(0);
    for s in servers {
        let mut state = if s.active {
            "active".to_string()
        } else {
            "disabled (takes nothing)".to_string()
        };
        if let Some(c) = &s.cookie {
            state += &format!(", cookie {c}");
        }
        if let Some(w) = s.weight {
            state += &format!(", weight {w}");
        }
        if let Some(id) = s.id {
            state += &format!(", id {id}");
        }
        let _ = writeln!(
            o,
            "    {} {:nw$}  {:aw$}  {state}",
            p.mark(s.active),
            s.name,
            s.address
        );
    }
}

/// The result line: what answers the request.
fn result(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Redirect { status, location } => {
            format!("HAProxy answers {status} Location: {location}")
        }
        Verdict::Static {
            status, body_file, ..
        } => format!("HAProxy answers {status} with the body of {body_file}"),
        Verdict::NoServer { page: None, .. } => {
            "HAProxy answers 503: no server can take the request".into()
        }
        Verdict::NoServer {
            page: Some(page), ..
        } => format!(
            "HAProxy answers 503 with the error page {page}: no server can take the request"
        ),
        Verdict::BadRequest { reason } => format!("HAProxy answers 400: {reason}"),
        Verdict::Denied {
            status,
            by,
            body_file: None,
        } => format!("HAProxy answers {status}: denied by {by}"),
        Verdict::Denied {
            status,
            by,
            body_file: Some(file),
        } => format!("HAProxy answers {status} with the body of {file}: denied by {by}"),
        Verdict::BodyRefused { status, by, reason } => {
            format!("HAProxy answers {status} before any of the body goes on, {reason}: {by}")
        }
        Verdict::Unauthorized { realm, by } => format!(
            "HAProxy answers 401 (WWW-Authenticate: Basic realm=\"{realm}\"): credentials \
             asked by {by}"
        ),
        Verdict::Maintenance {
            body_file,
            retry_after,
            by,
        } => format!(
            "HAProxy answers 503 (Retry-After {retry_after}) with the maintenance page \
             {body_file}: {by}"
        ),
        Verdict::Forward { server, .. } => forwarded(server),
    }
}

/// Where a forwarded request goes, and the cookie the response sets.
fn forwarded(server: &ServerChoice) -> String {
    let (mut s, sets_cookie) = match server {
        ServerChoice::Pinned(c) => (
            format!(
                "forwarded to {} ({}), pinned by its cookie",
                c.name, c.address
            ),
            None,
        ),
        ServerChoice::Balanced { pick, sets_cookie } => {
            let s = match pick {
                Pick::Server(c) => format!("forwarded to {} ({})", c.name, c.address),
                Pick::OneOf(names) => format!("forwarded to one of {}", names.join(", ")),
            };
            (s, sets_cookie.as_ref())
        }
    };
    if let Some(sc) = sets_cookie {
        // Unknown when the request does not fix the server: each server sets its own.
        let value = match &sc.value {
            Some(v) => v.as_str(),
            None => "<its server's cookie>",
        };
        s += &format!("; the response sets {}={value}", sc.name);
    }
    s
}
