//! The runtime API: take one instance of a component out of rotation gracefully (`drain`), hard
//! (`maint`), or put it back (`ready`), and list every instance's state, health and sessions —
//! through HAProxy's admin socket on the edge box, over the target's transport.
//!
//! The box script's `admin` operation runs each command on the admin socket with `socat` (which
//! the box needs for this) and answers one blob per command; [`Runtime`] wraps it. Names come
//! from the specs: env + component → backend `<env>_<pool>`, instance → server name.
//!
//! HAProxy keeps such changes across reloads when the state is saved to its `server-state-file`
//! just before the reload (the box script's `save-state`, which `apply` runs before every reload)
//! and the config says `load-server-state-from-file global` (the template does).
//! A server the config renders `disabled` (the inactive colour) is left alone by `ready` and
//! `drain`: making it take traffic is `edgeplan switch`'s job.

// Diagnostics carry their help texts by design; they are cold and returned once per run.
#![allow(clippy::result_large_err)]

pub mod rotation;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use miette::Diagnostic;
use serde::Serialize;
use thiserror::Error;

use crate::model::{AdminEndpoint, Color, Component, Edge, Env, Ident, Instance};
use crate::transport::{AdminRefusal, BoxClient, TransportError};

/// Version of the JSON documents of `edgeplan server`.
pub const FORMAT_VERSION: u32 = 1;

/// A problem with `edgeplan server`.
#[derive(Debug, Error, Diagnostic)]
pub enum ServerError {
    /// The env is not in the specs.
    #[error("unknown env `{name}`")]
    #[diagnostic(code(edgeplan::server::unknown_env), help("{help}"))]
    UnknownEnv {
        /// The name given.
        name: String,
        /// Suggestion or the known names.
        help: String,
    },
    /// The component is not in the env.
    #[error("env `{env}` has no component `{name}`")]
    #[diagnostic(code(edgeplan::server::unknown_component), help("{help}"))]
    UnknownComponent {
        /// The env.
        env: String,
        /// The name given.
        name: String,
        /// Suggestion or the known names.
        help: String,
    },
    /// The instance is not in the component.
    #[error("component `{component}` of env `{env}` has no instance `{name}`")]
    #[diagnostic(code(edgeplan::server::unknown_instance), help("{help}"))]
    UnknownInstance {
        /// The env.
        env: String,
        /// The component.
        component: String,
        /// The name given.
        name: String,
        /// Suggestion or the known names.
        help: String,
    },
    /// The admin socket is not there, or haproxy does not answer on it.
    #[error("target `{target}`: {message}")]
    #[diagnostic(
        code(edgeplan::server::no_admin_socket),
        help(
            "is haproxy running on the box with the config edgeplan applied? It opens the admin socket of the specs' `admin-socket` ({endpoint})"
        )
    )]
    NoAdminSocket {
        /// Target.
        target: String,
        /// What the box said.
        message: String,
        /// The endpoint tried.
        endpoint: String,
    },
    /// socat is missing on the box.
    #[error("target `{target}`: socat is not installed on the box")]
    #[diagnostic(
        code(edgeplan::server::no_socat),
        help(
            "edgeplan talks to haproxy's admin socket with socat on the box: install it (Debian: `apt-get install socat`)"
        )
    )]
    NoSocat {
        /// Target.
        target: String,
    },
    /// The running haproxy has no such server.
    #[error("target `{target}`: the running haproxy has no server `{backend}/{server}`")]
    #[diagnostic(
        code(edgeplan::server::not_running),
        help(
            "the specs name it, but the box runs another config: apply the specs first (`edgeplan plan` shows the difference)"
        )
    )]
    NotRunning {
        /// Target.
        target: String,
        /// Backend.
        backend: String,
        /// Server.
        server: String,
    },
    /// `ready`/`drain` on a server of the inactive colour.
    #[error(
        "instance `{instance}` of {env}/{component} is in the inactive colour {color}: the config has it `disabled`"
    )]
    #[diagnostic(
        code(edgeplan::server::inactive_color),
        help(
            "`{action}` would let it take traffic next to the active colour; `edgeplan switch {env} {color}` moves traffic to it"
        )
    )]
    InactiveColor {
        /// Env.
        env: String,
        /// Component.
        component: String,
        /// Instance.
        instance: String,
        /// Its colour.
        color: String,
        /// The action refused.
        action: String,
    },
    /// haproxy refused a command or answered something unexpected.
    #[error("target `{target}`: haproxy answered `{command}` with: {answer}")]
    #[diagnostic(code(edgeplan::server::refused))]
    Refused {
        /// Target.
        target: String,
        /// The command.
        command: String,
        /// Its answer.
        answer: String,
    },
    /// `--wait` ran out of time.
    #[error("{backend}/{server}: {what} after {waited}")]
    #[diagnostic(
        code(edgeplan::server::timeout),
        help(
            "the state change is in place; wait longer (`--timeout`), or use `maint` to re-dispatch sticky clients"
        )
    )]
    Timeout {
        /// Backend.
        backend: String,
        /// Server.
        server: String,
        /// What was still not done.
        what: String,
        /// How long it waited.
        waited: String,
    },
    /// A transport problem.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Transport(#[from] TransportError),
}

/// What to do with an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Back in rotation.
    Ready,
    /// No new non-sticky requests; sticky clients and open sessions stay.
    Drain,
    /// No requests at all; sticky clients are re-dispatched (`option redispatch`).
    Maint,
}

impl Action {
    /// The runtime API's word.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Ready => "ready",
            Action::Drain => "drain",
            Action::Maint => "maint",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// What haproxy says about a server.

/// `srv_admin_state` bits (HAProxy's `enum srv_admin`).
mod admin_bits {
    /// Forced maintenance (`set server … state maint`, or `disabled` in the config).
    pub const FMAINT: u32 = 0x01;
    /// Maintenance inherited from a tracked server.
    pub const IMAINT: u32 = 0x02;
    /// `disabled` in the config.
    pub const CMAINT: u32 = 0x04;
    /// Forced drain (`set server … state drain`).
    pub const FDRAIN: u32 = 0x08;
    /// Drain inherited from a tracked server.
    pub const IDRAIN: u32 = 0x10;
    /// Maintenance because its name does not resolve.
    pub const RMAINT: u32 = 0x20;
    /// Maintenance because of a hostname change.
    pub const HMAINT: u32 = 0x40;
}

/// The administrative state of a server, as edgeplan names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AdminState {
    /// In rotation.
    Ready,
    /// Draining: sticky clients only.
    Drain,
    /// In maintenance.
    Maint,
    /// `disabled` in the config and not overridden: the inactive colour.
    Disabled,
}

impl AdminState {
    /// From `srv_admin_state`.
    pub fn of(bits: u32) -> AdminState {
        use admin_bits::*;
        if bits & CMAINT != 0 && bits & FMAINT != 0 {
            AdminState::Disabled
        } else if bits & (FMAINT | IMAINT | RMAINT | HMAINT) != 0 {
            AdminState::Maint
        } else if bits & (FDRAIN | IDRAIN) != 0 {
            AdminState::Drain
        } else {
            AdminState::Ready
        }
    }
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            AdminState::Ready => "ready",
            AdminState::Drain => "drain",
            AdminState::Maint => "maint",
            AdminState::Disabled => "disabled",
        }
    }
}

/// One row of `show servers state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateRow {
    /// Backend.
    pub backend: String,
    /// Server.
    pub server: String,
    /// Address haproxy uses.
    pub addr: String,
    /// Port.
    pub port: String,
    /// `srv_op_state`: 0 stopped, 1 starting, 2 running, 3 stopping.
    pub op_state: u32,
    /// `srv_admin_state` bits.
    pub admin_state: u32,
    /// Current weight (user weight).
    pub weight: u32,
    /// Configured weight.
    pub config_weight: u32,
}

/// Parse `show servers state [BACKEND]` (format version 1).
pub fn parse_servers_state(text: &str) -> Result<Vec<StateRow>, String> {
    let mut lines = text.lines();
    match lines.next().map(str::trim) {
        Some("1") => {}
        Some(other) => return Err(format!("unknown `show servers state` format `{other}`")),
        None => return Err("`show servers state` answered nothing".into()),
    }
    let header = lines
        .next()
        .and_then(|h| h.strip_prefix("# "))
        .ok_or("`show servers state` has no header line")?;
    let cols: Vec<&str> = header.split_whitespace().collect();
    let col = |name: &str| {
        cols.iter()
            .position(|c| *c == name)
            .ok_or(format!("`show servers state` has no column {name}"))
    };
    let (be, srv, addr, op, adm, uw, iw, port) = (
        col("be_name")?,
        col("srv_name")?,
        col("srv_addr")?,
        col("srv_op_state")?,
        col("srv_admin_state")?,
        col("srv_uweight")?,
        col("srv_iweight")?,
        col("srv_port")?,
    );
    let mut out = Vec::new();
    for l in lines.filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = l.split_whitespace().collect();
        let get = |i: usize| f.get(i).copied().unwrap_or_default();
        let num = |i: usize| {
            get(i)
                .parse::<u32>()
                .map_err(|_| format!("bad number `{}` in `{l}`", get(i)))
        };
        out.push(StateRow {
            backend: get(be).to_string(),
            server: get(srv).to_string(),
            addr: get(addr).to_string(),
            port: get(port).to_string(),
            op_state: num(op)?,
            admin_state: num(adm)?,
            weight: num(uw)?,
            config_weight: num(iw)?,
        });
    }
    Ok(out)
}

/// `show stat` rows: column → value. The answer is CSV (HAProxy management guide, "show
/// stat": a `# ` before the header line); fields may be quoted, so it is read with a CSV reader.
pub fn parse_stat(text: &str) -> Vec<BTreeMap<String, String>> {
    let Some(body) = text.strip_prefix("# ") else {
        return Vec::new();
    };
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(body.as_bytes());
    let Ok(cols) = reader.headers().cloned() else {
        return Vec::new();
    };
    reader
        .records()
        .filter_map(Result::ok)
        .filter(|r| !(r.len() == 1 && r[0].is_empty()))
        .map(|r| {
            cols.iter()
                .zip(r.iter())
                .map(|(c, v)| (c.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Talking to the admin socket.

/// The admin socket of a target, through its transport.
pub struct Runtime<'t> {
    t: &'t mut BoxClient,
    endpoint: AdminEndpoint,
}

impl<'t> Runtime<'t> {
    /// The admin socket the specs name, on the box `t` reaches.
    pub fn new(t: &'t mut BoxClient, edge: &Edge) -> Runtime<'t> {
        Runtime::at(t, &edge.admin.endpoint)
    }

    /// The admin socket at `endpoint`, on the box `t` reaches.
    pub fn at(t: &'t mut BoxClient, endpoint: &AdminEndpoint) -> Runtime<'t> {
        Runtime {
            t,
            endpoint: endpoint.clone(),
        }
    }

    /// The endpoint, as shown in messages (`/run/haproxy/admin.sock`, `127.0.0.1:9999`).
    pub fn shown_endpoint(&self) -> String {
        self.endpoint.shown()
    }

    /// Run `commands` on the admin socket in one round trip; their answers.
    pub fn run(&mut self, commands: &[String]) -> Result<Vec<String>, ServerError> {
        let target = self.t.target().to_string();
        match self.t.admin(&self.endpoint, commands)? {
            Ok(answers) => Ok(answers),
            Err(AdminRefusal::NoSocket(message)) => Err(ServerError::NoAdminSocket {
                target,
                message,
                endpoint: self.shown_endpoint(),
            }),
            Err(AdminRefusal::NoSocat) => Err(ServerError::NoSocat { target }),
        }
    }

    /// The target's name.
    pub fn target(&self) -> &str {
        self.t.target()
    }
}

/// The PID of the haproxy process answering on the admin socket (`show info`'s `Pid:`, the
/// worker's in master-worker mode); `None` when nothing answers there or socat is missing.
pub fn worker_pid(rt: &mut Runtime<'_>) -> Option<u32> {
    let info = rt.run(&["show info".to_string()]).ok()?;
    info.first()?
        .lines()
        .find_map(|l| l.strip_prefix("Pid: "))
        .and_then(|p| p.trim().parse().ok())
}

/// Before a reload: save the running haproxy's server states into the server-state-file of the
/// live config (the box script's `save-state`); a sentence saying what was done or why not.
pub fn save_state(t: &mut BoxClient) -> Result<String, TransportError> {
    let r = t.call("save-state", &[], b"")?;
    let text = r.text().trim().to_string();
    Ok(match text.strip_prefix("skipped: ") {
        Some(why) => format!("Server states not saved before the reload: {why}."),
        None => {
            let mut s = text;
            if let Some(first) = s.get(..1) {
                s = first.to_uppercase() + &s[1..];
            }
            format!("{s}.")
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Instances by name.

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

// ---------------------------------------------------------------------------------------------
// Status of instances.

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

// ---------------------------------------------------------------------------------------------
// Changing one instance.

/// What `set` did.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// Backend.
    pub backend: String,
    /// Server.
    pub server: String,
    /// State before.
    pub before: AdminState,
    /// State after.
    pub after: AdminState,
    /// Sessions when the change was made.
    pub sessions: u64,
}

/// The state row of one server, or [`ServerError::NotRunning`].
fn row_of(rt: &mut Runtime<'_>, backend: &str, server: &str) -> Result<StateRow, ServerError> {
    let cmd = format!("show servers state {backend}");
    let answer = rt.run(std::slice::from_ref(&cmd))?.remove(0);
    let target = rt.target().to_string();
    let not_running = || ServerError::NotRunning {
        target: target.clone(),
        backend: backend.to_string(),
        server: server.to_string(),
    };
    // An unknown backend is answered with a message, not a table.
    if answer.contains("Can't find backend") {
        return Err(not_running());
    }
    let rows = parse_servers_state(&answer).map_err(|m| ServerError::Refused {
        target: target.clone(),
        command: cmd.clone(),
        answer: m,
    })?;
    rows.into_iter()
        .find(|r| r.server == server)
        .ok_or_else(not_running)
}

/// Current sessions of one server (`show stat`'s `scur`).
pub fn sessions(rt: &mut Runtime<'_>, backend: &str, server: &str) -> Result<u64, ServerError> {
    let answer = rt.run(&[format!("show stat {backend} 4 -1")])?.remove(0);
    Ok(parse_stat(&answer)
        .iter()
        .find(|r| r.get("svname").map(String::as_str) == Some(server))
        .and_then(|r| r.get("scur"))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

/// Set `n`'s server to `action` on the running haproxy.
pub fn set(rt: &mut Runtime<'_>, n: &Named<'_>, action: Action) -> Result<Change, ServerError> {
    let server = n.instance.name.as_str();
    let before = row_of(rt, &n.backend, server)?;
    let before_state = AdminState::of(before.admin_state);
    let config_disabled = before.admin_state & admin_bits::CMAINT != 0;
    if config_disabled && action != Action::Maint {
        return Err(ServerError::InactiveColor {
            env: n.env.name.to_string(),
            component: n.component.name.to_string(),
            instance: server.to_string(),
            color: n.instance.color.to_string(),
            action: action.as_str().to_string(),
        });
    }
    let cmd = format!(
        "set server {}/{server} state {}",
        n.backend,
        action.as_str()
    );
    let answers = rt.run(&[
        cmd.clone(),
        format!("show servers state {}", n.backend),
        format!("show stat {} 4 -1", n.backend),
    ])?;
    // The runtime API answers nothing when a `set server` worked.
    if !answers[0].is_empty() {
        return Err(ServerError::Refused {
            target: rt.target().to_string(),
            command: cmd,
            answer: answers[0].clone(),
        });
    }
    let after = parse_servers_state(&answers[1])
        .ok()
        .and_then(|rows| rows.into_iter().find(|r| r.server == server))
        .map_or(before_state, |r| AdminState::of(r.admin_state));
    let sessions = parse_stat(&answers[2])
        .iter()
        .find(|r| r.get("svname").map(String::as_str) == Some(server))
        .and_then(|r| r.get("scur"))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Ok(Change {
        backend: n.backend.clone(),
        server: server.to_string(),
        before: before_state,
        after,
        sessions,
    })
}

/// Wait until `n`'s server has no sessions left (`drain`, `maint`) or is up (`ready`),
/// polling every `every`; the time it took, or [`ServerError::Timeout`].
pub fn wait(
    rt: &mut Runtime<'_>,
    n: &Named<'_>,
    action: Action,
    timeout: Duration,
    every: Duration,
    progress: &mut dyn FnMut(String),
) -> Result<Duration, ServerError> {
    let server = n.instance.name.as_str();
    let start = Instant::now();
    let mut last = String::new();
    loop {
        let answer = rt
            .run(&[format!("show stat {} 4 -1", n.backend)])?
            .remove(0);
        let row = parse_stat(&answer)
            .into_iter()
            .find(|r| r.get("svname").map(String::as_str) == Some(server));
        let get = |k: &str| {
            row.as_ref()
                .and_then(|r| r.get(k))
                .cloned()
                .unwrap_or_default()
        };
        let (done, what) = match action {
            Action::Ready => {
                let status = get("status");
                (
                    status == "UP" || status == "no check",
                    format!("health {status}"),
                )
            }
            Action::Drain | Action::Maint => {
                let scur: u64 = get("scur").parse().unwrap_or(0);
                (
                    scur == 0,
                    format!("{scur} session{} left", if scur == 1 { "" } else { "s" }),
                )
            }
        };
        if done {
            return Ok(start.elapsed());
        }
        if what != last {
            progress(what.clone());
            last = what.clone();
        }
        if start.elapsed() >= timeout {
            return Err(ServerError::Timeout {
                backend: n.backend.clone(),
                server: server.to_string(),
                what: match action {
                    Action::Ready => format!("not up ({what})"),
                    _ => what,
                },
                waited: format!("{:.1}s", timeout.as_secs_f64()),
            });
        }
        std::thread::sleep(every.min(timeout.saturating_sub(start.elapsed())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATE: &str = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n\
2 b 5 blue-1 127.0.0.1 0 1 1 1 0 1 0 0 0 0 0 1 - 1 - 0 0 - - 0\n\
2 b 2 blue-2 127.0.0.1 2 8 20 20 0 1 0 2 0 0 0 0 - 2 - 0 0 - - 0\n\
2 b 3 green-1 127.0.0.1 0 5 1 1 1 1 0 0 8 0 0 0 - 3 - 0 0 - - 0\n\
2 b 4 green-2 127.0.0.1 2 4 1 1 1 1 0 0 8 0 0 0 - 3 - 0 0 - - 0\n\n";

    #[test]
    fn servers_state_parses_and_names_admin_states() {
        let rows = parse_servers_state(STATE).unwrap();
        let got: Vec<(&str, AdminState, u32)> = rows
            .iter()
            .map(|r| (r.server.as_str(), AdminState::of(r.admin_state), r.weight))
            .collect();
        assert_eq!(
            got,
            [
                ("blue-1", AdminState::Maint, 1),
                ("blue-2", AdminState::Drain, 20),
                ("green-1", AdminState::Disabled, 1),
                // `ready` on a disabled server: it takes traffic despite the config.
                ("green-2", AdminState::Ready, 1),
            ]
        );
        assert!(parse_servers_state("").is_err());
        assert!(parse_servers_state("2\n# x\n").is_err());
        assert!(parse_servers_state("Can't find backend.\n").is_err());
    }

    #[test]
    fn stat_csv_parses() {
        let rows = parse_stat("# pxname,svname,scur,status\nb,blue-1,3,UP\nb,blue-2,0,DRAIN\n");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1]["status"], "DRAIN");
        assert!(parse_stat("nothing").is_empty());
    }

    #[test]
    fn names_are_found_with_suggestions() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/specs/valid/lab_topology");
        let edge = crate::load(&dir).map_err(|p| format!("{p:?}")).unwrap().1;
        let n = find(&edge, "lab", "backend", "backend-api-2").unwrap();
        assert_eq!(n.backend, "lab_api_pool");
        assert_eq!(n.instance.color, Color::Blue);
        let e = find(&edge, "lba", "backend", "x").unwrap_err();
        assert!(matches!(&e, ServerError::UnknownEnv { help, .. } if help.contains("lab")));
        let e = find(&edge, "lab", "api", "x").unwrap_err();
        assert!(
            matches!(&e, ServerError::UnknownComponent { help, .. } if help.contains("backend, stream"))
        );
        let e = find(&edge, "lab", "stream", "stream-srv-9").unwrap_err();
        assert!(
            matches!(&e, ServerError::UnknownInstance { help, .. } if help.contains("did you mean"))
        );
    }
}
