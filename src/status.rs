//! `edgeplan status`'s report: what a target runs — each env's colour, release and last switches (see
//! [`crate::switch`]), the active generation and its input hash, drift, and whether the specs
//! would change anything.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::colors::{self, Entry, Release};
use crate::diag::Problems;
use crate::server::{AdminState, InstanceStatus};
use crate::session::{Scope, Session};
use crate::transport::Lock;

/// Version of the JSON document: 2 added each env's `canary` (its `color` is the colour of
/// record).
pub const FORMAT_VERSION: u32 = 2;

/// One env.
#[derive(Debug, Serialize)]
pub struct EnvStatus {
    /// Colour of record: taking all the traffic, or the rest of a canary's.
    pub color: String,
    /// A canary in progress: the other colour's share of new sessions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary: Option<colors::Canary>,
    /// Its release, when recorded.
    pub release: Option<Release>,
    /// `box` (recorded by a switch) or `specs` (nothing recorded: the spec's `active-color`).
    pub source: &'static str,
    /// The last switches, newest first.
    pub history: Vec<Entry>,
}

/// The whole report.
#[derive(Debug, Serialize)]
pub struct Status {
    pub format_version: u32,
    pub target: String,
    pub transport: String,
    /// Active generation (`null`: nothing applied).
    pub generation: Option<u64>,
    pub tree_hash: Option<String>,
    /// Input hash of the active generation's build.
    pub input_hash: Option<String>,
    pub applied: Option<String>,
    pub applied_by: Option<String>,
    /// Files of the active generation changed outside edgeplan.
    pub drift: bool,
    pub drift_files: Vec<String>,
    /// True when `apply` would change nothing.
    pub in_sync: bool,
    /// Input hash of the specs built for this box (its colours).
    pub specs_input_hash: String,
    pub pending_reload: bool,
    pub lock: Option<Lock>,
    pub envs: BTreeMap<String, EnvStatus>,
    /// Every instance as the running haproxy sees it (`edgeplan server list`); `null` when it
    /// does not answer on its admin socket.
    pub instances: Option<Vec<InstanceStatus>>,
    /// Every certificate group as the box has it ([`crate::cert_status`]).
    pub certificates: Vec<crate::cert_status::CertStatus>,
}

/// What the session's target runs (see the module doc). Read only: no lock is taken.
///
/// # Errors
/// The box cannot be read; its colour state is unreadable; rendering fails.
pub fn gather(session: &mut Session) -> Result<Status, Problems> {
    let Scope { loaded, t, .. } = session.scope();
    let (build, state, colors) = colors::build_for_box(loaded, t)?;
    let plan = crate::plan::make_from(&build, t, &state).map_err(Problems::one)?;
    // Runtime changes (drain, maint) and health, when the running haproxy answers.
    let instances = {
        let mut rt = crate::server::Runtime::new(t, &build.edge);
        crate::server::status(&mut rt, &build.edge, None).ok()
    };
    let certificates = crate::cert_status::gather(t, &build.edge, jiff::Timestamp::now())
        .map_err(Problems::one)?;
    let meta: Option<serde_json::Value> = state
        .meta
        .as_deref()
        .and_then(|m| serde_json::from_str(m).ok());
    let meta_str = |k: &str| {
        meta.as_ref()
            .and_then(|m| m.get(k))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let envs = build
        .edge
        .envs
        .values()
        .map(|e| {
            let st = colors.get(&e.name);
            (
                e.name.to_string(),
                EnvStatus {
                    color: build.colors.of(e).color().to_string(),
                    canary: st.and_then(|s| s.canary.clone()),
                    release: st.and_then(|s| s.release.clone()),
                    source: if st.is_some() { "box" } else { "specs" },
                    history: st.map(|s| s.history.clone()).unwrap_or_default(),
                },
            )
        })
        .collect();
    Ok(Status {
        format_version: FORMAT_VERSION,
        target: plan.target.clone(),
        transport: plan.transport.clone(),
        generation: state.generation,
        tree_hash: meta_str("tree_hash"),
        input_hash: meta_str("input_hash"),
        applied: meta_str("created"),
        applied_by: meta_str("by"),
        drift: !plan.drift.is_empty(),
        drift_files: plan.drift.iter().map(|d| d.path.clone()).collect(),
        in_sync: !plan.has_changes(),
        specs_input_hash: build.input_hash.clone(),
        pending_reload: plan.pending_reload,
        lock: plan.lock.clone(),
        envs,
        instances,
        certificates,
    })
}

fn short(h: &Option<String>) -> String {
    h.as_deref()
        .map_or("-".into(), |h| h.get(..16).unwrap_or(h).to_string())
}

/// The report as text.
pub fn text(s: &Status) -> String {
    let mut o = format!("Target {} ({})\n", s.target, s.transport);
    match s.generation {
        Some(g) => {
            o += &format!(
                "  generation {g}: tree {}, input {}",
                short(&s.tree_hash),
                short(&s.input_hash)
            );
            if let (Some(at), Some(by)) = (&s.applied, &s.applied_by) {
                o += &format!(", applied {at} by {by}");
            }
            o += "\n";
        }
        None => o += "  nothing applied yet\n",
    }
    o += &format!(
        "  drift: {}\n",
        if s.drift {
            format!("yes ({})", s.drift_files.join(", "))
        } else {
            "no".into()
        }
    );
    o += &format!(
        "  specs: {}\n",
        if s.in_sync {
            "in sync (apply would change nothing)".to_string()
        } else {
            "differ (see `edgeplan plan`)".to_string()
        }
    );
    if s.pending_reload {
        o += "  a reload is pending (an apply stopped before it; the next apply reloads)\n";
    }
    if let Some(l) = &s.lock {
        o += &format!("  locked by {}\n", l.describe());
    }
    o += "\nEnvs:\n";
    let width = s.envs.keys().map(String::len).max().unwrap_or(0);
    for (name, e) in &s.envs {
        let mut line = format!("  {name:width$}  {:5}", e.color);
        match (&e.release, e.source) {
            (Some(r), _) => line += &format!("  release {r}"),
            (None, "specs") => line += "  (no switch recorded: the specs' colour)",
            (None, _) => {}
        }
        o += line.trim_end();
        if let Some(c) = &e.canary {
            o += &format!(
                "\n  {:width$}  canary: {} takes {} % of new sessions, {} {} %{}",
                "",
                c.color,
                c.percent,
                e.color,
                100 - c.percent.get(),
                c.release
                    .as_ref()
                    .map_or(String::new(), |r| format!(" (release {r})"))
            );
        }
        o += "\n";
        for h in &e.history {
            o += &format!(
                "      {}  {:19}  {} → {}{}{}  {}  by {}{}\n",
                h.time,
                h.action.as_str(),
                h.previous_color,
                h.color,
                h.percent.map_or(String::new(), |p| format!(" {p} %")),
                h.release
                    .as_ref()
                    .map_or(String::new(), |r| format!(" {r}")),
                h.result,
                h.by,
                if h.forced {
                    "  (forced: health gate skipped)"
                } else {
                    ""
                }
            );
        }
    }
    o += &instances_text(s.instances.as_deref());
    if !s.certificates.is_empty() {
        o += "\nCertificates:\n";
        o += &crate::cert_status::render(&s.certificates);
    }
    o
}

/// The instances of the active colours: how many take traffic, and each one that does not
/// (drained, in maintenance, down) with its state, health and sessions.
fn instances_text(list: Option<&[InstanceStatus]>) -> String {
    let Some(list) = list else {
        return "\nInstances: unknown (no answer on haproxy's admin socket)\n".into();
    };
    let active: Vec<&InstanceStatus> = list
        .iter()
        .filter(|i| i.state != Some(AdminState::Disabled))
        .collect();
    // Right after a switch, reload or rollback the newly enabled servers have had no health
    // check yet (`INI`): haproxy assumes them up (`UP 0/3`) and sends them traffic — "checking",
    // not a failure.
    let checking =
        |i: &InstanceStatus| i.checking && i.status.as_deref().is_some_and(|s| s.starts_with("UP"));
    let ok = |i: &InstanceStatus| {
        i.state == Some(AdminState::Ready)
            && (matches!(i.status.as_deref(), Some("UP" | "no check")) || checking(i))
    };
    let pending = active.iter().filter(|i| ok(i) && checking(i)).count();
    let mut o = format!(
        "\nInstances: {} of {} in rotation and up{}\n",
        active.iter().filter(|i| ok(i)).count(),
        active.len(),
        if pending > 0 {
            format!(" ({pending} awaiting their first health check)")
        } else {
            String::new()
        }
    );
    for i in active.iter().filter(|i| !ok(i) || checking(i)) {
        o += &format!(
            "  {}/{}/{}  {}  {}  {}  {} session{}\n",
            i.env,
            i.component,
            i.instance,
            i.color,
            i.state.map_or("not running", AdminState::as_str),
            if checking(i) {
                "checking (first health check pending)"
            } else {
                i.status.as_deref().unwrap_or("-")
            },
            i.sessions,
            if i.sessions == 1 { "" } else { "s" }
        );
    }
    o
}
