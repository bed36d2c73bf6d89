//! `edgeplan server drain|ready|maint` end to end: find the instance in the specs (before the
//! box is reached), change its state on the running haproxy ([`super::set`]) and, when asked,
//! wait until it has no session left or is up ([`super::wait`]). Progress lines go through
//! [`Progress`]; the outcome is typed (the command prints it, or its JSON document).

use std::time::Duration;

use serde::Serialize;

use super::{Action, Change, Runtime};
use crate::diag::Problems;
use crate::session::{Event, Progress, Session, steps};

/// What to do to which instance.
#[derive(Debug, Clone)]
pub struct Request {
    /// Env, component and instance (server) names, as given.
    pub env: String,
    /// Component.
    pub component: String,
    /// Instance.
    pub instance: String,
    /// Drain, ready or maint.
    pub action: Action,
    /// Then wait this long at most for the instance to empty (drain, maint) or come up (ready).
    pub wait: Option<Duration>,
}

/// What was done.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Target.
    pub target: String,
    /// Env.
    pub env: String,
    /// Component.
    pub component: String,
    /// Instance (server name).
    pub instance: String,
    /// Its colour.
    pub color: String,
    /// Drain, ready or maint.
    pub action: Action,
    /// The change on the running haproxy (in the env's pool, or — for an instance of the idle
    /// colour — in its preview pool).
    #[serde(flatten)]
    pub change: Change,
    /// The same change in the env's preview pool, when the instance takes traffic there too.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<Change>,
    /// How long the wait took, when asked to wait (milliseconds in JSON).
    #[serde(rename = "waited_ms", serialize_with = "millis")]
    pub waited: Option<Duration>,
}

fn millis<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&d.as_millis()),
        None => s.serialize_none(),
    }
}

/// Carry out `req` on the session's target (see the module doc).
///
/// # Errors
/// An instance the specs do not have; haproxy not answering; a colour that is not active; the
/// wait timing out.
pub fn run(
    session: &mut Session,
    req: &Request,
    progress: &mut dyn Progress,
) -> Result<Outcome, Problems> {
    let target = session.target().name.to_string();
    let s = session.scope();
    let edge = &s.loaded.edge;
    let named =
        super::find(edge, &req.env, &req.component, &req.instance).map_err(Problems::one)?;
    let mut rt = Runtime::new(s.t, edge);
    // The instance is a server of its env's pool and, with a `preview` host, of the preview
    // pool too: the change goes wherever the config does not keep it `disabled` (the idle
    // colour serves previews only; the active one the public only).
    let mut backends = vec![named.backend.clone()];
    if named.env.preview.is_some() {
        backends.push(crate::rules::preview_backend(&named.backend));
    }
    let mut changes = Vec::new();
    let mut refused = None;
    for backend in backends {
        let n = super::Named {
            backend,
            ..named.clone()
        };
        match super::set(&mut rt, &n, req.action) {
            Ok(c) => changes.push(c),
            Err(e @ super::ServerError::InactiveColor { .. }) => {
                refused.get_or_insert(e);
            }
            Err(e) => return Err(Problems::one(e)),
        }
    }
    if changes.is_empty() {
        return Err(Problems::one(refused.expect("a pool was tried")));
    }
    for change in &changes {
        progress.event(Event::Step(format!(
            "{}/{} (env {}, component {}, {}) on target {target}: {} -> {}, {} session{}",
            change.backend,
            change.server,
            named.env.name,
            named.component.name,
            named.instance.color,
            change.before.as_str(),
            change.after.as_str(),
            change.sessions,
            if change.sessions == 1 { "" } else { "s" }
        )));
    }
    let change = changes.remove(0);
    let named = super::Named {
        backend: change.backend.clone(),
        ..named
    };
    let mut waited = None;
    if let Some(timeout) = req.wait {
        progress.event(Event::Step(format!(
            "Waiting until it {} (timeout {:.1}s)…",
            match req.action {
                Action::Ready => "is up",
                _ => "has no session left",
            },
            timeout.as_secs_f64()
        )));
        let took = {
            let mut log = steps(progress);
            let mut indented = |s: String| log(format!("  {s}"));
            super::wait(
                &mut rt,
                &named,
                req.action,
                timeout,
                Duration::from_millis(250),
                &mut indented,
            )
            .map_err(Problems::one)?
        };
        progress.event(Event::Step(format!(
            "Done after {:.1}s.",
            took.as_secs_f64()
        )));
        waited = Some(took);
    }
    Ok(Outcome {
        target,
        env: named.env.name.to_string(),
        component: named.component.name.to_string(),
        instance: named.instance.name.to_string(),
        color: named.instance.color.to_string(),
        action: req.action,
        change,
        also: changes,
        waited,
    })
}
