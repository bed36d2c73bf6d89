//! The explanation as text for a terminal: the request, the frontend's ACLs and rules, the
//! backend and its servers, then one result line and the notes. Colour (ANSI) only when asked.

use std::fmt::Write as _;

use super::{AclResult, Explanation, Outcome, StickyResult};
use crate::rules::{BackendKind, Test};

struct Paint(bool);

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn bold(&self, s: &str) -> String {
        self.wrap("1", s)
    }
    fn dim(&self, s: &str) -> String {
        self.wrap("2", s)
    }
    fn yes(&self) -> String {
        self.wrap("32", "✓")
    }
    fn no(&self) -> String {
        self.wrap("31", "✗")
    }
    fn mark(&self, b: bool) -> String {
        if b { self.yes() } else { self.no() }
    }
}

fn acl_reason(a: &AclResult) -> String {
    let join = |v: &[String]| v.join(" ");
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
        (Test::PathBeg { prefixes }, s) => {
            let s = s.as_deref().unwrap_or("");
            if a.matched {
                let p = prefixes.iter().find(|p| s.starts_with(p.as_str()));
                format!("path `{s}` begins with {}", p.map_or("", |p| p))
            } else {
                format!("path `{s}` begins with none of {}", join(prefixes))
            }
        }
        (Test::PathEnd { suffixes }, s) => {
            let s = s.as_deref().unwrap_or("");
            if a.matched {
                let p = suffixes.iter().find(|p| s.ends_with(p.as_str()));
                format!("path `{s}` ends with {}", p.map_or("", |p| p))
            } else {
                format!("path `{s}` ends with none of {}", join(suffixes))
            }
        }
    }
}

/// The explanation as text; ANSI colours when `color`.
pub fn render_text(ex: &Explanation, color: bool) -> String {
    let p = Paint(color);
    let mut o = String::new();
    let r = &ex.request;
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
        let _ = writeln!(o, "  header       {}: {}", h.name, h.value);
    }

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
            acl_reason(a),
        );
    }
    if let Some(rd) = &ex.redirect {
        let verdict = if rd.applies {
            format!("{} fires: {} did not match", p.yes(), rd.unless)
        } else {
            format!("{} does not fire: {} matched", p.no(), rd.unless)
        };
        let _ = writeln!(o, "  {}\n    {verdict}", rd.rule);
    }
    if ex.outcome == Outcome::Redirect {
        if !ex.switches.is_empty() {
            let _ = writeln!(
                o,
                "  {}",
                p.dim("use_backend rules: not evaluated, the redirect answers first")
            );
        }
    } else if !ex.switches.is_empty() {
        let _ = writeln!(o, "  use_backend rules, first match wins:");
    }
    let rules: Vec<String> = ex
        .switches
        .iter()
        .map(|s| format!("use_backend {} if {}", s.backend, s.when.join(" ")))
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
    if skipped > 0 && ex.outcome != Outcome::Redirect {
        let _ = writeln!(
            o,
            "    {}",
            p.dim(&format!(
                "{skipped} more rule{} not evaluated: a rule above matched",
                if skipped == 1 { "" } else { "s" }
            ))
        );
    }
    if ex.default_backend {
        let _ = writeln!(
            o,
            "  {} default_backend {}  {}",
            p.yes(),
            ex.backend.as_deref().unwrap_or(""),
            p.dim("# no use_backend rule matched")
        );
    }

    if let Some(b) = &ex.backend {
        let what = match (ex.kind, &ex.env, &ex.component) {
            (Some(BackendKind::Pool), Some(e), Some(c)) => {
                format!("pool of env {e}, component {c}")
            }
            (Some(BackendKind::Outside), _, _) => "outside backend".into(),
            (Some(BackendKind::Acme), _, _) => "ACME challenges to certbot".into(),
            (Some(BackendKind::Static), _, _) => "HAProxy answers itself".into(),
            _ => String::new(),
        };
        let _ = writeln!(o, "\n{} {b}: {what}", p.bold("backend"));
        if let (Some(st), Some(f)) = (ex.status, &ex.body_file) {
            let _ = writeln!(o, "  http-request return status {st} file {f}");
        }
        if !ex.servers.is_empty() {
            let _ = writeln!(o, "  servers:");
        }
        let nw = ex.servers.iter().map(|s| s.name.len()).max().unwrap_or(0);
        let aw = ex
            .servers
            .iter()
            .map(|s| s.address.len())
            .max()
            .unwrap_or(0);
        for s in &ex.servers {
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

    let _ = writeln!(o);
    let result = match ex.outcome {
        Outcome::Redirect => format!(
            "HAProxy answers {} Location: {}",
            ex.status.unwrap_or(301),
            ex.location.as_deref().unwrap_or("")
        ),
        Outcome::Static => format!(
            "HAProxy answers {} with the body of {}",
            ex.status.unwrap_or(0),
            ex.body_file.as_deref().unwrap_or("")
        ),
        Outcome::NoServer => "HAProxy answers 503: no server can take the request".into(),
        Outcome::BadRequest => format!(
            "HAProxy answers 400: {}",
            ex.request
                .host_problem()
                .unwrap_or("the request's host is ambiguous")
        ),
        Outcome::Forward => {
            let mut s = match (&ex.chosen_server, &ex.pinned_server) {
                (Some(c), pinned) => {
                    let addr = ex
                        .servers
                        .iter()
                        .find(|s| &s.name == c)
                        .map_or(String::new(), |s| format!(" ({})", s.address));
                    let how = if pinned.is_some() {
                        ", pinned by its cookie"
                    } else {
                        ""
                    };
                    format!("forwarded to {c}{addr}{how}")
                }
                (None, _) => {
                    let names: Vec<&str> = ex
                        .servers
                        .iter()
                        .filter(|s| s.active)
                        .map(|s| s.name.as_str())
                        .collect();
                    format!("forwarded to one of {}", names.join(", "))
                }
            };
            if let Some(sc) = &ex.sets_cookie {
                s += &format!(
                    "; the response sets {}={}",
                    sc.name,
                    sc.value.as_deref().unwrap_or("<its server's cookie>")
                );
            }
            s
        }
    };
    let _ = writeln!(o, "{} {result}", p.bold("result:"));
    for n in &ex.notes {
        let _ = writeln!(o, "  note: {n}");
    }
    o
}
