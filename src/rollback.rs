//! `rollback`: re-activate an earlier generation kept on the box (validated, activated
//! atomically, reloaded, checked — [`crate::apply::rollback`]), recording the colours it serves;
//! or roll one env back to the colour and release of its previous switch (a switch back,
//! [`crate::switch`]). Under the box's lock; what it is about to do is reported
//! ([`GenerationPreview`], [`EnvPreview`]) and approved through [`Progress`] before anything
//! changes.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::apply::{self, ApplyError};
use crate::colors::{self, Release};
use crate::diag::Problems;
use crate::model::{Color, Ident};
use crate::session::{Approve, Event, Progress, Scope, Session, steps};
use crate::state::Serving;
use crate::switch;
use crate::transport::parse_sha256_list;

/// What to roll back.
#[derive(Debug, Clone)]
pub enum Request {
    /// The whole box to a generation (`None`: the newest one older than the active one).
    Generation(Option<u64>),
    /// One env to its previous switch (the name as given).
    Env(String),
}

/// A generation rollback, before it happens.
#[derive(Debug, Clone, Serialize)]
pub struct GenerationPreview {
    /// Target.
    pub target: String,
    /// Active generation.
    pub from: u64,
    /// Generation to activate.
    pub to: u64,
    /// Envs whose colour changes: env, colour now, colour after.
    pub colors: Vec<(String, String, String)>,
    /// Files that change: `+` added, `-` removed, `~` changed; path.
    pub files: Vec<(char, String)>,
}

/// An env's fast rollback, before it happens.
#[derive(Debug, Clone, Serialize)]
pub struct EnvPreview {
    /// Target.
    pub target: String,
    /// Env.
    pub env: Ident,
    /// What the env serves now and the release of its colour of record (as recorded).
    pub from: Option<(Serving, Option<Release>)>,
    /// Colour and release after.
    pub to: (Color, Option<Release>),
}

/// How a rollback ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The generation is active.
    Generation {
        /// Its number.
        to: u64,
    },
    /// The env is back.
    Env {
        /// What was done.
        preview: EnvPreview,
        /// The switch back's outcome.
        switched: switch::Outcome,
    },
}

/// Roll back on the session's target (see the module doc); `keep` generations are kept.
///
/// # Errors
/// An unknown env, nothing to roll back to, the lock held, not approved, the box refusing or
/// failing the rollback.
pub fn run(
    session: &mut Session,
    req: &Request,
    keep: usize,
    progress: &mut dyn Progress,
) -> Result<Outcome, Problems> {
    let env = match req {
        Request::Env(name) => Some(switch::find_env(session.edge(), name).map_err(Problems::one)?),
        Request::Generation(_) => None,
    };
    session.locked("rollback", |s| match (req, env) {
        (_, Some(env)) => env_rollback(s, &env, keep, progress),
        (Request::Generation(to), None) => generation(s, *to, keep, progress),
        (Request::Env(_), None) => unreachable!("an env request has its env"),
    })
}

fn env_rollback(
    s: Scope<'_>,
    env: &Ident,
    keep: usize,
    progress: &mut dyn Progress,
) -> Result<Outcome, Problems> {
    let state = s.t.read_state(&[]).map_err(Problems::one)?;
    let colors = colors::read(&s.loaded.edge, &state, s.t.target()).map_err(Problems::one)?;
    let prev = colors.get(env);
    let (color, release) =
        switch::rollback_target(prev, env, s.t.target()).map_err(Problems::one)?;
    let preview = EnvPreview {
        target: s.target.name.to_string(),
        env: env.clone(),
        from: prev.map(|p| (p.serving(), p.release.clone())),
        to: (color, release.clone()),
    };
    progress.event(Event::EnvRollback(&preview));
    progress
        .approve(
            Approve::Rollback,
            &format!(
                "Roll back env {env} on target {} to {}?",
                s.target.name,
                shown(color, release.as_ref())
            ),
        )
        .map_err(Problems::one)?;
    let req = switch::Request {
        env: env.clone(),
        color,
        percent: None,
        release,
        action: switch::Action::Rollback,
        // A rollback goes back to what served before: it is not held up by a health gate, nor
        // undone by its probes (they fail it, saying what they found).
        gate: None,
        forced: false,
        no_rollback: true,
    };
    let switched = switch::switch(s, &req, keep, progress)?;
    Ok(Outcome::Env { preview, switched })
}

/// `COLOR` or `COLOR (release R)`.
pub fn shown(color: Color, release: Option<&Release>) -> String {
    shown_serving(Serving::Color(color), release)
}

/// What an env serves ([`Serving::describe`]), with the release of its colour of record.
pub fn shown_serving(serving: Serving, release: Option<&Release>) -> String {
    format!(
        "{}{}",
        serving.describe(),
        release.map_or(String::new(), |r| format!(" (release {r})"))
    )
}

fn generation(
    s: Scope<'_>,
    to: Option<u64>,
    keep: usize,
    progress: &mut dyn Progress,
) -> Result<Outcome, Problems> {
    let Scope { loaded, target, t } = s;
    let edge = &loaded.edge;
    // Colour state first: an unreadable one stops the rollback before anything changes.
    let state = t.read_state(&[]).map_err(Problems::one)?;
    let colors = colors::read(edge, &state, t.target()).map_err(Problems::one)?;
    let gens = t.generations().map_err(Problems::one)?;
    let err = |message: String| {
        Problems::one(ApplyError::Generation {
            target: target.name.to_string(),
            message,
        })
    };
    let Some(from) = gens.current else {
        return Err(err("no generation is active: nothing to roll back".into()));
    };
    let known: Vec<u64> = gens.list.iter().map(|g| g.number).collect();
    let to = match to {
        Some(n) if n == from => return Err(err(format!("generation {n} is already active"))),
        Some(n) if known.contains(&n) => n,
        Some(n) => {
            return Err(err(format!(
                "there is no generation {n} on the box (kept: {})",
                known
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        None => known
            .iter()
            .copied()
            .filter(|n| *n < from)
            .max()
            .ok_or_else(|| err(format!("no generation older than {from} is kept")))?,
    };
    let of = |n: u64| gens.list.iter().find(|g| g.number == n);
    let sums = |n: u64| parse_sha256_list(of(n).and_then(|g| g.files.as_deref()).unwrap_or(""));
    let (from_sums, to_sums) = (sums(from), sums(to));
    // The colours each generation serves (its manifest's): what the rollback moves, first.
    let served = |n: u64| -> BTreeMap<String, String> {
        of(n)
            .and_then(|g| g.manifest.as_deref())
            .and_then(|m| crate::output::Manifest::parse(m).ok())
            .map(|m| m.colors)
            .unwrap_or_default()
    };
    let (served_from, served_to) = (served(from), served(to));
    let preview = GenerationPreview {
        target: target.name.to_string(),
        from,
        to,
        colors: edge
            .envs
            .keys()
            .filter_map(|env| {
                let (a, b) = (served_from.get(env.as_str())?, served_to.get(env.as_str())?);
                (a != b).then(|| {
                    (
                        env.to_string(),
                        crate::state::describe(a),
                        crate::state::describe(b),
                    )
                })
            })
            .collect(),
        files: from_sums
            .keys()
            .chain(to_sums.keys())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter_map(|p| {
                let mark = match (from_sums.get(p), to_sums.get(p)) {
                    (None, Some(_)) => '+',
                    (Some(_), None) => '-',
                    (Some(a), Some(b)) if a != b => '~',
                    _ => return None,
                };
                Some((mark, p.clone()))
            })
            .collect(),
    };
    progress.event(Event::GenerationRollback(&preview));
    progress
        .approve(
            Approve::Rollback,
            &format!("Roll back target {} to generation {to}?", target.name),
        )
        .map_err(Problems::one)?;
    let mut log = steps(progress);
    apply::rollback(
        t,
        target,
        &edge.admin.endpoint,
        from,
        to,
        &from_sums,
        &to_sums,
        keep,
        &mut log,
    )
    .map_err(Problems::one)?;
    // The generation serves the colours it was rendered with: record them where they differ
    // from the box's colour state, so plan and apply keep them.
    switch::record_generation_colors(t, edge, &colors, &served_to, to, &mut log)
        .map_err(Problems::one)?;
    probe_after(t, edge, to, &mut log)?;
    Ok(Outcome::Generation { to })
}

/// The probes after a generation rollback (see [`generation`]): reported, never undone.
fn probe_after(
    t: &mut crate::transport::BoxClient,
    edge: &crate::model::Edge,
    to: u64,
    log: &mut dyn FnMut(String),
) -> Result<(), Problems> {
    // The probes run after a rollback too, but only say what they found: a rollback is what
    // one does when the newer generation is the broken one, so it is not undone by itself.
    let Some(plan) = crate::probes::plan(edge, None, false) else {
        return Ok(());
    };
    match crate::probes::check(t, &edge.admin.endpoint, &plan, log).map_err(Problems::one)? {
        Some(report) if !report.passed() => Err(Problems::one(ApplyError::ProbeFailed {
            generation: to,
            failures: report.failures(),
            outcome: format!(
                "Generation {to} stays active: a rollback is not undone by its probes."
            ),
            kept: true,
        })),
        _ => Ok(()),
    }
}
