//! Instances by name ([`find`]: env, component, instance → backend and server, with
//! did-you-mean help) and the state of every instance as the running haproxy sees it
//! ([`status`], [`render_list`]).

use std::fmt::Write as _;

use serde::Serialize;

use super::*;
use crate::model::{Color, Component, Edge, Env, Ident, Instance};

/// An instance of the specs, with the names haproxy knows it by.
#[derive(Debug, Clone)]
pub struct Named<'e> {
    /// Its env.
    pub env: &'e Env,
    /// Its component.
    pub component: &'e Component,
    /// The instance.
    pub instance: &'e Instance,
    /// Backend name.
    pub backend: String,
}

fn suggest(name: &str, known: &[&str], what: &str) -> String {
    match crate::diag::closest(name, known) {
        Some(k) => format!("did you mean `{k}`?"),
        None if known.is_empty() => format!("the specs define no {what}"),
        None => format!("{what}s: {}", known.join(", ")),
    }
}

/// Find `env` / `component` / `instance` in the specs.
pub fn find<'e>(
    edge: &'e Edge,
    env: &str,
    component: &str,
    instance: &str,
) -> Result<Named<'e>, ServerError> {
    let e = edge
        .envs
        .values()
        .find(|e| e.name.as_str() == env)
        .ok_or_else(|| {
            let known: Vec<&str> = edge.envs.keys().map(Ident::as_str).collect();
            ServerError::UnknownEnv {
                name: env.to_string(),
                help: suggest(env, &known, "env"),
            }
        })?;
    let c = e
        .components
        .values()
        .find(|c| c.name.as_str() == component)
        .ok_or_else(|| {
            let known: Vec<&str> = e.components.keys().map(Ident::as_str).collect();
            ServerError::UnknownComponent {
                env: env.to_string(),
                name: component.to_string(),
                help: suggest(component, &known, "component"),
            }
        })?;
    let i = c.instance(instance).ok_or_else(|| {
        let known: Vec<&str> = c.instances.iter().map(|i| i.name.as_str()).collect();
        ServerError::UnknownInstance {
            env: env.to_string(),
            component: component.to_string(),
            name: instance.to_string(),
            help: suggest(instance, &known, "instance"),
        }
    })?;
    Ok(Named {
        env: e,
        component: c,
        instance: i,
        backend: format!("{}_{}", e.name, c.pool),
    })
}

/// One instance as the running haproxy sees it.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceStatus {
    /// Env.
    pub env: String,
    /// Component.
    pub component: String,
    /// Instance (server name).
    pub instance: String,
    /// Backend.
    pub backend: String,
    /// Colour.
    pub color: Color,
    /// `host:port` of the specs.
    pub address: String,
    /// False when the running haproxy has no such server (specs not applied).
    pub running: bool,
    /// Administrative state: `ready`, `drain`, `maint`, `disabled` (the inactive colour).
    pub state: Option<AdminState>,
    /// `show stat`'s status: `UP`, `DOWN`, `UP 1/3` (going down), `DOWN 1/2` (going up),
    /// `MAINT`, `DRAIN`, `NOLB`, `no check`.
    pub status: Option<String>,
    /// Last health check: `L7OK`, `L4CON`, `L7STS`… with its code and time when known.
    pub check: Option<String>,
    /// Current sessions.
    pub sessions: u64,
    /// Sessions since start.
    pub total_sessions: u64,
    /// Effective weight now (ramps up during slowstart).
    pub weight: Option<u32>,
    /// Weight of the config.
    pub config_weight: Option<u32>,
    /// Seconds since the last state change.
    pub since: Option<u64>,
    /// No health check has completed since haproxy (re)loaded or the server was enabled (`show
    /// stat`'s check status `INI`): `status` is haproxy's assumption (`UP 0/3` right after a
    /// switch), not a result — the first check comes within one check interval.
    pub checking: bool,
}

/// The status of every instance of `edge` (optionally of one env) on the running haproxy, in
/// one round trip.
pub fn status(
    rt: &mut Runtime<'_>,
    edge: &Edge,
    env: Option<&str>,
) -> Result<Vec<InstanceStatus>, ServerError> {
    if let Some(e) = env
        && !edge.envs.keys().any(|k| k.as_str() == e)
    {
        let known: Vec<&str> = edge.envs.keys().map(Ident::as_str).collect();
        return Err(ServerError::UnknownEnv {
            name: e.to_string(),
            help: suggest(e, &known, "env"),
        });
    }
    let answers = rt.run(&["show servers state".into(), "show stat -1 4 -1".into()])?;
    let target = rt.target().to_string();
    let refused = |command: &str, answer: String| ServerError::Refused {
        target: target.clone(),
        command: command.to_string(),
        answer,
    };
    let states = parse_servers_state(&answers[0]).map_err(|m| refused("show servers state", m))?;
    let stats = parse_stat(&answers[1]);
    let mut out = Vec::new();
    for e in edge
        .envs
        .values()
        .filter(|e| env.is_none_or(|n| e.name.as_str() == n))
    {
        for c in e.components.values() {
            let backend = format!("{}_{}", e.name, c.pool);
            for i in &c.instances {
                let st = states
                    .iter()
                    .find(|r| r.backend == backend && r.server == i.name.as_str());
                let row = stats.iter().find(|r| {
                    r.get("pxname") == Some(&backend)
                        && r.get("svname") == Some(&i.name.to_string())
                });
                let field = |k: &str| row.and_then(|r| r.get(k)).filter(|v| !v.is_empty());
                let num = |k: &str| field(k).and_then(|v| v.parse::<u64>().ok());
                let checking = field("check_status")
                    .is_some_and(|s| s.trim_start_matches('*').trim() == "INI");
                let check = field("check_status").map(|s| {
                    let mut s = s.trim_start_matches('*').to_string();
                    if let Some(code) = field("check_code") {
                        s += &format!(" {code}");
                    }
                    if let Some(ms) = field("check_duration") {
                        s += &format!(" in {ms}ms");
                    }
                    s
                });
                out.push(InstanceStatus {
                    env: e.name.to_string(),
                    component: c.name.to_string(),
                    instance: i.name.to_string(),
                    backend: backend.clone(),
                    color: i.color,
                    address: format!("{}:{}", i.host, i.port),
                    running: st.is_some(),
                    state: st.map(|s| AdminState::of(s.admin_state)),
                    status: field("status").cloned(),
                    check,
                    sessions: num("scur").unwrap_or(0),
                    total_sessions: num("stot").unwrap_or(0),
                    weight: num("weight").map(|w| w as u32),
                    config_weight: st.map(|s| s.config_weight),
                    since: num("lastchg"),
                    checking,
                });
            }
        }
    }
    Ok(out)
}

/// `edgeplan server list`'s JSON document.
#[derive(Debug, Serialize)]
pub struct ListDoc<'a> {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Target.
    pub target: &'a str,
    /// Every instance.
    pub instances: &'a [InstanceStatus],
}

/// The status table as text.
pub fn render_list(list: &[InstanceStatus]) -> String {
    let head = [
        "ENV",
        "COMPONENT",
        "INSTANCE",
        "COLOR",
        "STATE",
        "HEALTH",
        "CHECK",
        "SESSIONS",
        "WEIGHT",
        "ADDRESS",
    ];
    let rows: Vec<[String; 10]> = list
        .iter()
        .map(|s| {
            [
                s.env.clone(),
                s.component.clone(),
                s.instance.clone(),
                s.color.to_string(),
                match s.state {
                    Some(st) => st.as_str().to_string(),
                    None => "not running".into(),
                },
                match (&s.status, s.checking) {
                    (Some(st), true) if st.starts_with("UP") => "checking".into(),
                    (Some(st), _) => st.clone(),
                    (None, _) => "-".into(),
                },
                if s.checking {
                    "first check pending".into()
                } else {
                    s.check.clone().unwrap_or_else(|| "-".into())
                },
                if s.running {
                    format!("{} ({} total)", s.sessions, s.total_sessions)
                } else {
                    "-".into()
                },
                match (s.weight, s.config_weight) {
                    (Some(w), Some(c)) if w != c => format!("{w}/{c}"),
                    (Some(w), _) => w.to_string(),
                    _ => "-".into(),
                },
                s.address.clone(),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut o = String::new();
    let line = |cells: Vec<&str>, o: &mut String| {
        let mut l = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                l += c;
            } else {
                let _ = write!(l, "{c:w$}  ");
            }
        }
        let _ = writeln!(o, "{}", l.trim_end());
    };
    line(head.to_vec(), &mut o);
    for r in &rows {
        line(r.iter().map(String::as_str).collect(), &mut o);
    }
    o
}
