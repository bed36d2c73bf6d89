//! The semantic diff of two [`ModelSummary`]s: what a plan says changes for people — hosts,
//! colours, components, routes, outside backends, placeholders, certificates — one
//! [`SemanticChange`] per fact, in a stable order.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    ComponentSummary, EnvSummary, Marker, ModelSummary, OutsideSummary, PlaceholderSummary,
    SemanticChange,
};

/// What changes from `old` to `new`, in a stable order: envs, outside backends, placeholders,
/// policies, certificates.
pub fn diff(old: &ModelSummary, new: &ModelSummary) -> Vec<SemanticChange> {
    let mut out = Out(Vec::new());
    for name in keys(&old.envs, &new.envs) {
        env(&mut out, name, old.envs.get(name), new.envs.get(name));
    }
    for name in keys(&old.outside, &new.outside) {
        outside(&mut out, name, old.outside.get(name), new.outside.get(name));
    }
    for name in keys(&old.placeholders, &new.placeholders) {
        placeholder(
            &mut out,
            name,
            old.placeholders.get(name),
            new.placeholders.get(name),
        );
    }
    if let (Some(a), Some(b)) = (&old.redirects, &new.redirects) {
        for name in keys(a, b) {
            let subject = format!("redirect {name}");
            match (a.get(name), b.get(name)) {
                (None, Some(x)) => out.push(
                    "redirect_added",
                    Marker::Add,
                    subject.clone(),
                    format!("{subject} added: {x}"),
                ),
                (Some(x), None) => out.push(
                    "redirect_removed",
                    Marker::Remove,
                    subject.clone(),
                    format!("{subject} removed: {x}"),
                ),
                (Some(x), Some(y)) if x != y => out.push(
                    "redirect_changed",
                    Marker::Change,
                    subject.clone(),
                    format!("{subject}: {x} => {y}"),
                ),
                _ => {}
            }
        }
    }
    if let (Some(a), Some(b)) = (&old.policies, &new.policies) {
        for scope in keys(a, b) {
            let none = Vec::new();
            let (x, y) = (a.get(scope).unwrap_or(&none), b.get(scope).unwrap_or(&none));
            let (added, removed) = set_diff(x, y);
            if !added.is_empty() || !removed.is_empty() {
                out.push_sets(
                    "policies_changed",
                    Marker::Change,
                    format!("policies of {scope}"),
                    format!("policies of {scope}: {}", signed(&added, &removed)),
                    added,
                    removed,
                );
            }
        }
    }
    if let (Some(a), Some(b)) = (&old.settings, &new.settings) {
        out.0.extend(super::settings::diff(a, b));
    }
    if let (Some(a), Some(b)) = (&old.userlists, &new.userlists) {
        for name in keys(a, b) {
            userlist(&mut out, name, a.get(name), b.get(name));
        }
    }
    for name in keys(&old.certificates, &new.certificates) {
        certificate(
            &mut out,
            name,
            old.certificates.get(name),
            new.certificates.get(name),
        );
    }
    out.0
}

/// A userlist's users added or removed, and whose credentials changed (never shown: the
/// summary holds fingerprints, and says only that they changed).
fn userlist(
    out: &mut Out,
    name: &str,
    old: Option<&BTreeMap<String, String>>,
    new: Option<&BTreeMap<String, String>>,
) {
    let subject = format!("userlist {name}");
    let none = BTreeMap::new();
    let (a, b) = (old.unwrap_or(&none), new.unwrap_or(&none));
    let added: Vec<String> = b.keys().filter(|u| !a.contains_key(*u)).cloned().collect();
    let removed: Vec<String> = a.keys().filter(|u| !b.contains_key(*u)).cloned().collect();
    if !added.is_empty() || !removed.is_empty() {
        out.push_sets(
            "users_changed",
            Marker::Change,
            subject.clone(),
            format!("{subject}: users {}", signed(&added, &removed)),
            added,
            removed,
        );
    }
    let changed: Vec<&str> = b
        .iter()
        .filter(|(u, f)| a.get(*u).is_some_and(|g| g != *f))
        .map(|(u, _)| u.as_str())
        .collect();
    if !changed.is_empty() {
        out.push(
            "credentials_changed",
            Marker::Change,
            subject.clone(),
            format!(
                "{subject}: credentials changed for {} (not shown)",
                changed.join(", ")
            ),
        );
    }
}

/// The names on either side, in order.
fn keys<'a, V>(a: &'a BTreeMap<String, V>, b: &'a BTreeMap<String, V>) -> BTreeSet<&'a String> {
    a.keys().chain(b.keys()).collect()
}

fn env(out: &mut Out, name: &str, old: Option<&EnvSummary>, new: Option<&EnvSummary>) {
    let subject = format!("env {name}");
    match (old, new) {
        (None, Some(e)) => out.push_sets(
            "env_added",
            Marker::Add,
            subject.clone(),
            format!(
                "{subject} added: {} (active {}), components {}",
                e.hosts.join(", "),
                e.color,
                e.components.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
            e.hosts.clone(),
            vec![],
        ),
        (Some(e), None) => out.push_sets(
            "env_removed",
            Marker::Remove,
            subject.clone(),
            format!("{subject} removed: {} no longer served", e.hosts.join(", ")),
            vec![],
            e.hosts.clone(),
        ),
        (Some(a), Some(b)) => env_changed(out, &subject, a, b),
        (None, None) => {}
    }
}

/// An env on both sides: its hosts, colour, components, routes, default.
fn env_changed(out: &mut Out, subject: &str, a: &EnvSummary, b: &EnvSummary) {
    let subject = subject.to_string();
    out.hosts(&subject, &a.hosts, &b.hosts);
    if a.color != b.color {
        out.push(
            "color_changed",
            Marker::Change,
            subject.clone(),
            format!(
                "{subject}: active colour {} -> {}",
                crate::state::describe(&a.color),
                crate::state::describe(&b.color)
            ),
        );
    }
    if a.preview != b.preview {
        let shown = |p: &Option<String>| p.clone().unwrap_or_else(|| "none".into());
        out.push(
            "preview_changed",
            Marker::Change,
            subject.clone(),
            format!(
                "{subject}: preview host {} -> {}",
                shown(&a.preview),
                shown(&b.preview)
            ),
        );
    }
    let comps: BTreeSet<&String> = a.components.keys().chain(b.components.keys()).collect();
    for c in comps {
        match (a.components.get(c), b.components.get(c)) {
            (None, Some(x)) => out.push(
                "component_added",
                Marker::Add,
                subject.clone(),
                format!("{subject}: component {c} added ({})", describe_component(x)),
            ),
            (Some(_), None) => out.push(
                "component_removed",
                Marker::Remove,
                subject.clone(),
                format!("{subject}: component {c} removed"),
            ),
            (Some(x), Some(y)) if !component_changes(x, y).is_empty() => out.push(
                "component_changed",
                Marker::Change,
                subject.clone(),
                format!(
                    "{subject}: component {c}: {}",
                    component_changes(x, y).join(", ")
                ),
            ),
            _ => {}
        }
    }
    let (added, removed) = set_diff(&a.routes, &b.routes);
    if !added.is_empty() || !removed.is_empty() {
        out.push_sets(
            "routes_changed",
            Marker::Change,
            subject.clone(),
            format!("{subject}: routes {}", signed(&added, &removed)),
            added,
            removed,
        );
    }
    if a.default != b.default {
        let show = |d: &Option<String>| d.clone().unwrap_or_else(|| "503".into());
        out.push(
            "default_changed",
            Marker::Change,
            subject.clone(),
            format!(
                "{subject}: default {} -> {}",
                show(&a.default),
                show(&b.default)
            ),
        );
    }
}

fn outside(out: &mut Out, name: &str, old: Option<&OutsideSummary>, new: Option<&OutsideSummary>) {
    let subject = format!("outside {name}");
    match (old, new) {
        (None, Some(o)) => out.push_sets(
            "outside_added",
            Marker::Add,
            subject.clone(),
            format!("{subject} added: {} -> {}", o.hosts.join(", "), o.address),
            o.hosts.clone(),
            vec![],
        ),
        (Some(o), None) => out.push_sets(
            "outside_removed",
            Marker::Remove,
            subject.clone(),
            format!("{subject} removed: {} no longer served", o.hosts.join(", ")),
            vec![],
            o.hosts.clone(),
        ),
        (Some(a), Some(b)) => {
            out.hosts(&subject, &a.hosts, &b.hosts);
            if a.address != b.address {
                out.push(
                    "outside_changed",
                    Marker::Change,
                    subject.clone(),
                    format!("{subject}: address {} -> {}", a.address, b.address),
                );
            }
        }
        (None, None) => {}
    }
}

fn placeholder(
    out: &mut Out,
    name: &str,
    old: Option<&PlaceholderSummary>,
    new: Option<&PlaceholderSummary>,
) {
    let subject = format!("placeholder {name}");
    match (old, new) {
        (None, Some(p)) => out.push_sets(
            "placeholder_added",
            Marker::Add,
            subject.clone(),
            format!(
                "{subject} added: {} answer {}",
                p.hosts.join(", "),
                p.status
            ),
            p.hosts.clone(),
            vec![],
        ),
        (Some(p), None) => out.push_sets(
            "placeholder_removed",
            Marker::Remove,
            subject.clone(),
            format!("{subject} removed: {} no longer served", p.hosts.join(", ")),
            vec![],
            p.hosts.clone(),
        ),
        (Some(a), Some(b)) => {
            out.hosts(&subject, &a.hosts, &b.hosts);
            if a.status != b.status {
                out.push(
                    "placeholder_changed",
                    Marker::Change,
                    subject.clone(),
                    format!("{subject}: status {} -> {}", a.status, b.status),
                );
            }
        }
        (None, None) => {}
    }
}

fn certificate(out: &mut Out, name: &str, old: Option<&Vec<String>>, new: Option<&Vec<String>>) {
    let subject = format!("certificate {name}");
    match (old, new) {
        (None, Some(d)) => out.push_sets(
            "certificate_added",
            Marker::Add,
            subject.clone(),
            format!("{subject} will be issued: {}", d.join(", ")),
            d.clone(),
            vec![],
        ),
        (Some(d), None) => out.push_sets(
            "certificate_removed",
            Marker::Remove,
            subject.clone(),
            format!(
                "{subject} is no longer managed: {} (certbot keeps its files)",
                d.join(", ")
            ),
            vec![],
            d.clone(),
        ),
        (Some(a), Some(b)) => {
            let (added, removed) = set_diff(a, b);
            if !added.is_empty() || !removed.is_empty() {
                out.push_sets(
                    "certificate_reissued",
                    Marker::Change,
                    subject.clone(),
                    format!("{subject} will be re-issued: {}", signed(&added, &removed)),
                    added,
                    removed,
                );
            }
        }
        (None, None) => {}
    }
}

fn set_diff(old: &[String], new: &[String]) -> (Vec<String>, Vec<String>) {
    let o: BTreeSet<&String> = old.iter().collect();
    let n: BTreeSet<&String> = new.iter().collect();
    (
        n.difference(&o).map(|s| s.to_string()).collect(),
        o.difference(&n).map(|s| s.to_string()).collect(),
    )
}

fn signed(added: &[String], removed: &[String]) -> String {
    added
        .iter()
        .map(|a| format!("+ {a}"))
        .chain(removed.iter().map(|r| format!("- {r}")))
        .collect::<Vec<_>>()
        .join(", ")
}

struct Out(Vec<SemanticChange>);

impl Out {
    fn push(&mut self, kind: &'static str, marker: Marker, subject: String, message: String) {
        self.push_sets(kind, marker, subject, message, Vec::new(), Vec::new());
    }
    fn push_sets(
        &mut self,
        kind: &'static str,
        marker: Marker,
        subject: String,
        message: String,
        added: Vec<String>,
        removed: Vec<String>,
    ) {
        self.0.push(SemanticChange {
            kind,
            marker,
            subject,
            message,
            added,
            removed,
        });
    }
    /// Hosts of an owner that exists on both sides.
    fn hosts(&mut self, subject: &str, old: &[String], new: &[String]) {
        let (added, removed) = set_diff(old, new);
        for h in &added {
            self.push_sets(
                "host_added",
                Marker::Add,
                subject.to_string(),
                format!("{subject}: host {h} added"),
                vec![h.clone()],
                vec![],
            );
        }
        for h in &removed {
            self.push_sets(
                "host_removed",
                Marker::Remove,
                subject.to_string(),
                format!("{subject}: host {h} removed"),
                vec![],
                vec![h.clone()],
            );
        }
    }
}

fn describe_component(c: &ComponentSummary) -> String {
    format!(
        "port {}, balance {}{}, health {}, pool {}",
        c.port,
        c.balance,
        match (&c.cookie, c.sticky) {
            (Some(k), _) => format!(", sticky (cookie {k})"),
            (None, true) => ", sticky".to_string(),
            (None, false) => String::new(),
        },
        c.health,
        c.pool
    )
}

fn component_changes(a: &ComponentSummary, b: &ComponentSummary) -> Vec<String> {
    let mut v = Vec::new();
    if a.port != b.port {
        v.push(format!("port {} -> {}", a.port, b.port));
    }
    if a.balance != b.balance {
        v.push(format!("balance {} -> {}", a.balance, b.balance));
    }
    if a.sticky != b.sticky {
        v.push(if b.sticky { "sticky on" } else { "sticky off" }.to_string());
    } else if let (Some(x), Some(y)) = (&a.cookie, &b.cookie)
        && x != y
    {
        v.push(format!("sticky cookie {x} -> {y}"));
    }
    if a.health != b.health {
        v.push(format!("health {} -> {}", a.health, b.health));
    }
    if a.health_expect != b.health_expect {
        let show = |e: &Option<String>| e.clone().unwrap_or_else(|| "status 200".into());
        v.push(format!(
            "health check expects {} -> {}",
            show(&a.health_expect),
            show(&b.health_expect)
        ));
    }
    if a.pool != b.pool {
        v.push(format!("pool {} -> {}", a.pool, b.pool));
    }
    if a.timeouts != b.timeouts {
        let show = |t: &Option<String>| t.clone().unwrap_or_else(|| "the edge's".into());
        v.push(format!(
            "timeouts {} -> {}",
            show(&a.timeouts),
            show(&b.timeouts)
        ));
    }
    if let (Some(x), Some(y)) = (&a.instances, &b.instances)
        && x != y
    {
        let (added, removed) = set_diff(x, y);
        v.push(format!("instances {}", signed(&added, &removed)));
    }
    v
}

/// Hosts served before and not after (whatever served them).
pub fn hosts_disappearing(old: &ModelSummary, new: &ModelSummary) -> Vec<String> {
    let n = new.hosts();
    old.hosts()
        .keys()
        .filter(|h| !n.contains_key(*h))
        .map(|h| h.to_string())
        .collect()
}
