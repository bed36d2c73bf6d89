//! `edgeplan apply` end to end: read a saved plan (when given), open the target, and under its
//! lock plan against the box's state and colours (or check that the saved plan is still
//! current), have it approved, then apply it ([`super::apply`]) — or finish an apply that stopped
//! before its reload ([`super::finish_pending`]).

use std::path::PathBuf;

use super::{ApplyError, Candidate};
use crate::colors;
use crate::diag::Problems;
use crate::plan::{self, Counts, saved::SavedPlan};
use crate::session::{Approve, Event, Progress, Scope, Session, steps};
use crate::{Build, BuildOptions};

/// What to apply, and where.
#[derive(Debug, Clone)]
pub struct Request {
    /// The inputs.
    pub inputs: BuildOptions,
    /// Target (default: the saved plan's, or the only one).
    pub target: Option<String>,
    /// A plan saved by `edgeplan plan --out-plan`, applied exactly or refused if stale.
    pub plan_file: Option<PathBuf>,
    /// Generations to keep on the box, the active one included.
    pub keep: usize,
    /// When a probe fails after the reload, keep the new generation (`--no-rollback`) instead
    /// of restoring the previous one.
    pub no_rollback: bool,
}

/// How an apply ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to change.
    NoChanges,
    /// An apply that stopped before its reload was finished (reloaded, recorded).
    FinishedPending,
    /// A new generation is active.
    Applied {
        /// Its number.
        generation: u64,
        /// The file changes.
        counts: Counts,
    },
}

/// Apply (see the module doc).
///
/// # Errors
/// Unreadable inputs or saved plan, a stale plan, the lock held, not approved, the box refusing
/// or failing the apply.
pub fn run(req: &Request, progress: &mut dyn Progress) -> Result<Outcome, Problems> {
    let saved = match &req.plan_file {
        Some(p) => Some(SavedPlan::read(p).map_err(Problems::one)?),
        None => None,
    };
    let loaded = crate::load_inputs(&req.inputs)?;
    let build = loaded.build(&[])?;
    let name = req
        .target
        .as_deref()
        .or(saved.as_ref().map(|s| s.target.as_str()));
    let mut session = Session::with(loaded, name, &req.inputs.specs)?;
    if let Some(s) = &saved
        && s.target != session.target().name.as_str()
    {
        return Err(Problems::one(ApplyError::StalePlan {
            reason: format!(
                "it was made for target `{}`, not `{}`",
                s.target,
                session.target().name
            ),
        }));
    }
    session.locked("apply", |s| locked(s, req, build, saved.as_ref(), progress))
}

fn locked(
    s: Scope<'_>,
    req: &Request,
    build: Build,
    saved: Option<&SavedPlan>,
    progress: &mut dyn Progress,
) -> Result<Outcome, Problems> {
    let Scope { loaded, target, t } = s;
    let state = t
        .read_state(&crate::plan::probe(&build))
        .map_err(Problems::one)?;
    // The colours the box runs (read under the lock) are inputs of the build: a plain apply
    // keeps them.
    let box_colors = colors::read(&build.edge, &state, t.target()).map_err(Problems::one)?;
    let build = &colors::with_box_colors(loaded, build, &box_colors)?;
    let mut plan = plan::make_from(build, t, &state).map_err(Problems::one)?;
    // The state was read under this apply's own lock: not a note for the reader.
    plan.lock = None;
    match saved {
        Some(s) => {
            if s.state_hash != plan.state_hash {
                return Err(Problems::one(ApplyError::StalePlan {
                    reason: format!(
                        "target `{}` changed since the plan was made (generation then {}, now {})",
                        target.name,
                        s.base_generation.map_or("none".into(), |g| g.to_string()),
                        state.generation.map_or("none".into(), |g| g.to_string()),
                    ),
                }));
            }
            if s.tree_hash != build.manifest.tree_hash {
                return Err(Problems::one(ApplyError::StalePlan {
                    reason: "the build changed since the plan was made (its tree hash differs)"
                        .into(),
                }));
            }
            progress.event(Event::Plan {
                plan: &plan,
                saved: req.plan_file.as_deref(),
            });
        }
        None => {
            progress.event(Event::Plan {
                plan: &plan,
                saved: None,
            });
            if plan.has_changes() {
                progress
                    .approve(
                        Approve::Apply,
                        &format!(
                            "Do you want to perform these actions on target {}?",
                            target.name
                        ),
                    )
                    .map_err(Problems::one)?;
            }
        }
    }
    if !plan.has_changes() {
        return Ok(Outcome::NoChanges);
    }
    let mut log = steps(progress);
    if plan.changes.is_empty() {
        super::finish_pending(
            t,
            target,
            &build.edge.admin.endpoint,
            state.generation,
            req.keep,
            &mut log,
        )
        .map_err(Problems::one)?;
        return Ok(Outcome::FinishedPending);
    }
    // A saved plan's tree is the current build's (its tree hash was checked above): the
    // build's check copies are the plan's.
    let from_plan = saved.map(|s| {
        let mut r = s.rendered();
        r.checks = build.rendered.checks.clone();
        r
    });
    let probes = crate::probes::plan(&build.edge, None, !req.no_rollback);
    let candidate = Candidate {
        probes: probes.as_ref(),
        manifest: saved.map_or(&build.manifest, |s| &s.manifest),
        rendered: from_plan.as_ref().unwrap_or(&build.rendered),
        model: saved.map_or(&plan.model, |s| &s.model),
    };
    let generation = super::apply(
        t,
        target,
        &build.edge.admin.endpoint,
        state.generation,
        &state.expected(),
        &candidate,
        req.keep,
        &mut log,
    )
    .map_err(Problems::one)?;
    Ok(Outcome::Applied {
        generation,
        counts: plan.counts(),
    })
}
