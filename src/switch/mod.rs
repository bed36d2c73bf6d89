//! Blue/green per env on a target: which colour of each env takes traffic, the release it runs,
//! the last switches — and the switch itself.
//!
//! **State.** The box keeps one file per env, `/var/lib/edgeplan/colors/ENV.json` ([`EnvState`]):
//! the active colour, its release, and the last [`HISTORY_LEN`] switches (colour, release, time,
//! result), newest first. A switch writes it only once the config serving the new colour was
//! validated on the box, activated, reloaded and checked. An env without the file is at the
//! colour its spec gives (`active-color`, blue by default). A file that cannot be read is an
//! error for every command that builds against the box: nothing is changed until it is fixed.
//!
//! **An input of every build against the box.** `plan`, `apply`, `switch` and `status` read the
//! colours from the box and render with them ([`overrides`] → [`crate::BuildOptions::colors`]),
//! so they are part of the input hash, a plan shows a colour change as such (`env staging:
//! active colour blue -> green`), and a plain `apply` never flips an env back to its spec colour.
//!
//! **The switch** ([`switch`]) renders the specs with the env's new colour and goes through the
//! apply path ([`crate::apply::apply`]: upload, validate on the box, activate, hand traffic over
//! through the runtime API ([`crate::traffic`]), reload, check), then records the new state.
//! Only that env's servers change. It refuses to run on a box that does not match the specs
//! (a switch moves traffic; it does not ship unreviewed changes). A fast rollback is a switch
//! back to the colour and release of the env's previous history entry ([`rollback_target`]).

// Diagnostics carry their help texts by design; they are cold and returned once per run.
#![allow(clippy::result_large_err)]

mod error;
mod record;

pub use error::{SwitchError, find_env, parse_color};
use record::record;
pub use record::{record_generation_colors, rollback_target};

use crate::apply::{self, Candidate};
use crate::canary::Percent;
pub use crate::colors::{
    Action, BoxColors, ColorsError, Entry, EnvState, HISTORY_LEN, Release, STATE_FORMAT_VERSION,
    build_for_box, overrides, read, with_box_colors,
};
use crate::diag::Problems;
use crate::model::{Color, Edge, Ident};
use crate::plan;
use crate::session::{Event, Progress, Scope, Session, steps};
use crate::state::Serving;
use crate::transport::BoxClient;

/// What a switch is asked to do.
#[derive(Debug, Clone)]
pub struct Request {
    /// Env.
    pub env: Ident,
    /// Colour to take traffic (all of it, or the canary's share).
    pub color: Color,
    /// A canary step (`--weight`): `color` takes this share of new sessions, the env's colour
    /// of record keeps the rest. `None`: `color` takes all the traffic.
    pub percent: Option<Percent>,
    /// Release that colour runs.
    pub release: Option<Release>,
    /// Switch or fast rollback.
    pub action: Action,
    /// The health gate: wait this long at most for every instance of the new colour to pass
    /// its check ([`crate::gate`]; `ZERO`: one try). `None`: no gate — a fast rollback (it
    /// goes back to what served before), or `--force` ([`Request::forced`]).
    pub gate: Option<std::time::Duration>,
    /// `--force`: the gate was skipped on purpose (recorded in the history).
    pub forced: bool,
    /// When a probe of the env fails after the reload, keep the new colour (`--no-rollback`)
    /// instead of restoring the previous generation.
    pub no_rollback: bool,
}

/// How `edgeplan switch` runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The health gate's wait (`None`: `--force`, no gate).
    pub gate: Option<std::time::Duration>,
    /// Keep the new colour when a probe fails after the reload.
    pub no_rollback: bool,
    /// Generations to keep on the box.
    pub keep: usize,
}

/// How a switch ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The env already serves that: nothing was done.
    AlreadyActive {
        /// What it serves.
        serving: Serving,
        /// The release of the colour asked for.
        release: Option<Release>,
    },
    /// The box already served it (a switch interrupted before it recorded): the state was
    /// recorded.
    Recorded {
        /// What the env served before (as recorded).
        from: Serving,
        /// What it serves now.
        to: Serving,
        /// The release recorded for the colour switched to (given, or a canary's carried over).
        release: Option<Release>,
    },
    /// Traffic moved and the state was recorded.
    Switched {
        /// What the env served before.
        from: Serving,
        /// What it serves now.
        to: Serving,
        /// The release recorded for the colour switched to (given, or a canary's carried over).
        release: Option<Release>,
        /// Generation that serves it.
        generation: u64,
    },
}

/// `edgeplan switch`: parse the arguments (every problem with them at once), then switch `env`
/// to `color` — or a `weight` % canary of it — on the session's target under its lock
/// ([`switch`]); the request and how it ended.
///
/// # Errors
/// Bad arguments (a weight outside 1..=99 among them), the lock held, the box not matching the
/// specs, the switch failing.
pub fn run(
    session: &mut Session,
    env: &str,
    color: &str,
    weight: Option<u32>,
    release: Option<&str>,
    opts: &Options,
    progress: &mut dyn Progress,
) -> Result<(Request, Outcome), Problems> {
    let env = find_env(session.edge(), env);
    let color = parse_color(color);
    let percent = weight
        .map(|w| Percent::new(w).map_err(SwitchError::from))
        .transpose();
    let release = release
        .map(|r| Release::parse(r).map_err(SwitchError::from))
        .transpose();
    let (env, color, percent, release) = match (env, color, percent, release) {
        (Ok(e), Ok(c), Ok(p), Ok(r)) => (e, c, p, r),
        (e, c, p, r) => {
            let mut all = Problems(Vec::new());
            for err in [e.err(), c.err(), p.err(), r.err()].into_iter().flatten() {
                all.0.push(Box::new(err));
            }
            return Err(all);
        }
    };
    let req = Request {
        env,
        color,
        percent,
        release,
        action: Action::Switch,
        gate: opts.gate,
        forced: opts.gate.is_none(),
        no_rollback: opts.no_rollback,
    };
    let outcome = session.locked("switch", |s| switch(s, &req, opts.keep, progress))?;
    Ok((req, outcome))
}

/// Switch `req.env` to `req.color` on the scope's target, under its lock (taken by the
/// caller): the plan is reported ([`Event::Plan`]) before anything changes, then each step.
///
/// # Errors
/// The box not matching the specs, the apply failing, the state not recorded.
pub fn switch(
    s: Scope<'_>,
    req: &Request,
    keep: usize,
    progress: &mut dyn Progress,
) -> Result<Outcome, Problems> {
    let Scope { loaded, target, t } = s;
    let (current_build, state, colors) = build_for_box(loaded, t)?;
    let prev = colors.get(&req.env);
    let from = current_build.colors.get(&req.env).ok_or_else(|| {
        Problems::one(SwitchError::UnknownEnv {
            name: req.env.to_string(),
            help: "the build has no colour for it".into(),
        })
    })?;
    let to = next_serving(from, req).map_err(Problems::one)?;
    if to == from && req.action == Action::Switch {
        return Ok(Outcome::AlreadyActive {
            serving: from,
            release: prev.and_then(|s| release_of(s, req.color)),
        });
    }
    check_canary(&current_build.edge, &req.env, to).map_err(Problems::one)?;
    // Raising or completing a canary keeps the release it was started with unless told, and
    // ending one keeps the release of the colour of record.
    let req = &Request {
        release: req
            .release
            .clone()
            .or_else(|| prev.and_then(|s| release_of(s, req.color))),
        // Ending a canary goes back to the colour that never stopped serving: no gate.
        gate: req.gate.filter(|_| req.color != from.color()),
        ..req.clone()
    };
    let mut wanted = overrides(&colors);
    wanted.retain(|(e, _)| *e != req.env);
    wanted.push((req.env.clone(), to));
    let build = loaded.build(&wanted)?;
    let mut plan = plan::make_from(&build, t, &state).map_err(Problems::one)?;
    plan.lock = None; // ours
    let generation = if plan.changes.is_empty() {
        // The box's files already serve the new colour: a switch that stopped before it
        // recorded, or before its reload — which is owed now.
        progress.event(Event::Plan {
            plan: &plan,
            saved: None,
        });
        if plan.pending_reload {
            apply::finish_pending(
                t,
                target,
                &build.edge.admin.endpoint,
                state.generation,
                keep,
                &mut steps(progress),
            )
            .map_err(Problems::one)?;
        }
        None
    } else {
        // Anything but the colour to change would ship unreviewed changes.
        applied_only(t, target, &current_build, &state)?;
        with_checks(&mut plan, &build.edge, req);
        progress.event(Event::Plan {
            plan: &plan,
            saved: None,
        });
        // Nothing has moved yet: the new colour must be healthy before it takes traffic.
        if let Some(wait) = req.gate {
            health_gate(t, &build.edge, req, wait, progress)?;
        }
        let probes = crate::probes::plan(
            &build.edge,
            Some(std::slice::from_ref(&req.env)),
            !req.no_rollback,
        );
        let candidate = Candidate {
            probes: probes.as_ref(),
            manifest: &build.manifest,
            rendered: &build.rendered,
            model: &plan.model,
        };
        let applied = apply::apply(
            t,
            target,
            &build.edge.admin.endpoint,
            state.generation,
            &state.expected(),
            &candidate,
            keep,
            &mut steps(progress),
        );
        match applied {
            Ok(n) => Some(n),
            // Kept after failed probes (`--no-rollback`): the box serves the new colour, so the
            // state says so — with the result — and the command still fails.
            Err(
                e @ apply::ApplyError::ProbeFailed {
                    kept: true,
                    generation,
                    ..
                },
            ) => {
                record(
                    t,
                    target,
                    req,
                    from.color(),
                    prev,
                    Some(generation),
                    "probes-failed",
                    progress,
                )?;
                return Err(Problems::one(e));
            }
            Err(e) => return Err(Problems::one(e)),
        }
    };
    record(
        t,
        target,
        req,
        from.color(),
        prev,
        generation.or(state.generation),
        "ok",
        progress,
    )?;
    Ok(match generation {
        Some(generation) => Outcome::Switched {
            from,
            to,
            release: req.release.clone(),
            generation,
        },
        None => Outcome::Recorded {
            from,
            to,
            release: req.release.clone(),
        },
    })
}

/// What the env serves after `req` when it serves `now`.
///
/// # Errors
/// [`SwitchError::CanaryToOwnColor`]: a canary toward the colour of record.
fn next_serving(now: Serving, req: &Request) -> Result<Serving, SwitchError> {
    match req.percent {
        None => Ok(Serving::Color(req.color)),
        Some(_) if req.color == now.color() => Err(SwitchError::CanaryToOwnColor {
            env: req.env.to_string(),
            color: now.color().to_string(),
            other: now.color().other().to_string(),
        }),
        Some(percent) => Ok(Serving::Canary {
            from: now.color(),
            percent,
        }),
    }
}

/// The release `color` runs in the env, as recorded.
fn release_of(state: &EnvState, color: Color) -> Option<Release> {
    match &state.canary {
        Some(c) if c.color == color => c.release.clone(),
        _ if state.color == color => state.release.clone(),
        _ => None,
    }
}

/// A canary keeps both colours of every component of the env in rotation: each must have
/// instances of both, with weights HAProxy takes ([`crate::canary::split`]).
fn check_canary(edge: &Edge, env: &Ident, to: Serving) -> Result<(), SwitchError> {
    let (Some((color, percent)), Some(e)) = (to.canary(), edge.envs.get(env)) else {
        return Ok(());
    };
    for comp in e.components.values() {
        if let Err(source) = crate::canary::split_component(comp, color, percent) {
            return Err(SwitchError::CanaryImpossible {
                env: env.to_string(),
                component: comp.name.to_string(),
                source,
            });
        }
    }
    Ok(())
}

/// What a switch's plan adds: the probes of its env only, and its health gate.
fn with_checks(plan: &mut plan::Plan, edge: &Edge, req: &Request) {
    plan.probes = plan::probe_lines(edge, Some(&req.env));
    if req.gate.is_some() {
        plan.gate = crate::gate::targets(edge, &req.env, req.color)
            .iter()
            .map(|g| g.describe())
            .collect();
    }
}

/// Refuse a switch on a box that does not serve what the specs render with its colours: a
/// switch moves traffic, it does not ship unreviewed changes.
fn applied_only(
    t: &mut BoxClient,
    target: &crate::model::Target,
    current_build: &crate::Build,
    state: &crate::transport::BoxState,
) -> Result<(), Problems> {
    let now = plan::make_from(current_build, t, state).map_err(Problems::one)?;
    if now.has_changes() {
        let c = now.counts();
        let mut summary = c.summary();
        if !now.drift.is_empty() {
            summary += &format!(", {} changed outside edgeplan", now.drift.len());
        }
        if now.pending_reload {
            summary += ", a reload pending";
        }
        return Err(Problems::one(SwitchError::NotApplied {
            target: target.name.to_string(),
            summary,
        }));
    }
    Ok(())
}

/// The health gate ([`crate::gate`]): every instance of `req.color` in `req.env` healthy from
/// the box within `wait`, each try reported.
fn health_gate(
    t: &mut BoxClient,
    edge: &Edge,
    req: &Request,
    wait: std::time::Duration,
    progress: &mut dyn Progress,
) -> Result<(), Problems> {
    let report = crate::gate::wait(t, edge, &req.env, req.color, wait, &mut |r| {
        progress.event(Event::Gate {
            report: r,
            last: false,
        })
    })
    .map_err(Problems::one)?;
    progress.event(Event::Gate {
        report: &report,
        last: true,
    });
    if report.passed() {
        return Ok(());
    }
    Err(Problems::one(SwitchError::Unhealthy {
        env: req.env.to_string(),
        color: req.color.to_string(),
        failing: report.instances.iter().filter(|i| !i.healthy).count(),
        total: report.instances.len(),
        tries: report.tries,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(color: Color, release: &str, prev: Color) -> Entry {
        Entry {
            color,
            release: Some(Release::parse(release).unwrap()),
            previous_color: prev,
            previous_release: None,
            action: Action::Switch,
            result: "ok".into(),
            generation: Some(1),
            time: "2026-11-25T19:12:14Z".into(),
            by: "ops@laptop".into(),
            forced: false,
            percent: None,
        }
    }

    fn env() -> Ident {
        Ident::parse("staging").unwrap()
    }

    #[test]
    fn history_keeps_the_last_five_newest_first() {
        let mut st: Option<EnvState> = None;
        let mut color = Color::Blue;
        for i in 1..=7 {
            let next = color.other();
            st = Some(EnvState::after(
                st.as_ref(),
                &env(),
                entry(next, &format!("r{i}"), color),
            ));
            color = next;
        }
        let st = st.unwrap();
        assert_eq!(st.history.len(), HISTORY_LEN);
        let releases: Vec<&str> = st
            .history
            .iter()
            .map(|e| e.release.as_ref().unwrap().as_str())
            .collect();
        assert_eq!(releases, ["r7", "r6", "r5", "r4", "r3"]);
        assert_eq!(st.color, Color::Green);
        assert_eq!(st.release.as_ref().unwrap().as_str(), "r7");
        // The file reads back as written.
        assert_eq!(EnvState::parse("staging", &st.to_json()).unwrap(), st);
    }

    #[test]
    fn rollback_goes_to_the_previous_entry_or_what_the_first_switch_left() {
        let none = rollback_target(None, &env(), "box").unwrap_err();
        assert!(matches!(none, SwitchError::NoHistory { .. }));
        let one = EnvState::after(None, &env(), entry(Color::Green, "a", Color::Blue));
        assert_eq!(
            rollback_target(Some(&one), &env(), "box").unwrap(),
            (Color::Blue, None)
        );
        let two = EnvState::after(Some(&one), &env(), entry(Color::Blue, "b", Color::Green));
        let (c, r) = rollback_target(Some(&two), &env(), "box").unwrap();
        assert_eq!((c, r.unwrap().as_str()), (Color::Green, "a"));
    }

    #[test]
    fn unreadable_state_files_say_why() {
        let good = EnvState::after(None, &env(), entry(Color::Green, "a", Color::Blue)).to_json();
        for (text, why) in [
            ("{", "EOF while parsing"),
            (
                &good.replace("\"staging\"", "\"prod\"") as &str,
                "names env `prod`",
            ),
            (
                &good.replace("\"color\": \"green\"", "\"color\": \"red\""),
                "`red` is not a colour",
            ),
            (
                &good.replace("\"format_version\": 2", "\"format_version\": 9"),
                "format_version 9",
            ),
            (
                &good.replace(
                    "\"history\"",
                    "\"canary\": {\"color\": \"green\", \"percent\": 10, \"release\": null}, \"history\"",
                ),
                "its canary is its own colour `green`",
            ),
            (
                &good.replace(
                    "\"history\"",
                    "\"canary\": {\"color\": \"blue\", \"percent\": 100, \"release\": null}, \"history\"",
                ),
                "not 100 %",
            ),
            (
                &good.replace("\"release\": \"a\"", "\"release\": \"a b\""),
                "bad release id",
            ),
            (&good.replace("\"result\"", "\"rezult\""), "unknown field"),
        ] {
            let e = EnvState::parse("staging", text).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
        }
    }

    #[test]
    fn canary_steps_keep_the_colour_of_record_and_rollback_ends_them() {
        let p = |n| Some(Percent::new(n).unwrap());
        let canary = |n, prev: Color| Entry {
            percent: p(n),
            previous_release: Some(Release::parse("r1").unwrap()),
            ..entry(prev.other(), "r2", prev)
        };
        let first = EnvState::after(None, &env(), entry(Color::Blue, "r1", Color::Green));
        let ten = EnvState::after(Some(&first), &env(), canary(10, Color::Blue));
        assert_eq!(
            (ten.color, ten.release.as_ref().unwrap().as_str()),
            (Color::Blue, "r1")
        );
        assert_eq!(ten.serving().to_string(), "green@10");
        assert_eq!(
            ten.canary
                .as_ref()
                .unwrap()
                .release
                .as_ref()
                .unwrap()
                .as_str(),
            "r2"
        );
        // A rollback during the canary ends it: the colour of record alone.
        let (c, r) = rollback_target(Some(&ten), &env(), "box").unwrap();
        assert_eq!((c, r.unwrap().as_str()), (Color::Blue, "r1"));
        // Raised, then completed: a rollback goes back to blue, not to a canary step.
        let fifty = EnvState::after(Some(&ten), &env(), canary(50, Color::Blue));
        let done = EnvState::after(
            Some(&fifty),
            &env(),
            Entry {
                previous_release: Some(Release::parse("r1").unwrap()),
                ..entry(Color::Green, "r2", Color::Blue)
            },
        );
        assert_eq!(done.serving().to_string(), "green");
        assert!(done.canary.is_none());
        let (c, r) = rollback_target(Some(&done), &env(), "box").unwrap();
        assert_eq!((c, r.unwrap().as_str()), (Color::Blue, "r1"));
        // Written and read back, canary included.
        assert_eq!(EnvState::parse("staging", &fifty.to_json()).unwrap(), fifty);
        // A state file of format 1 (before canaries) reads as it is.
        let v1 = first
            .to_json()
            .replace("\"format_version\": 2", "\"format_version\": 1");
        assert_eq!(EnvState::parse("staging", &v1).unwrap(), first);
    }

    #[test]
    fn release_ids() {
        assert!(Release::parse("3f2a9c1").is_ok());
        assert!(Release::parse("v1.2.3+build/7").is_ok());
        for bad in ["", "a b", "x;rm", &"a".repeat(101)] {
            assert!(Release::parse(bad).is_err(), "{bad}");
        }
    }
}
