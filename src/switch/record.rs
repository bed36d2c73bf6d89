//! The history side of a switch: recording it in the env's colour state (`colors/ENV.json`),
//! recording the colours a generation rollback brings back, and where a fast rollback goes.

use std::collections::BTreeMap;

use super::{Action, BoxColors, Entry, EnvState, Release, Request, SwitchError};
use crate::apply;
use crate::diag::Problems;
use crate::model::{Color, Edge, Ident};
use crate::session::{Event, Progress};
use crate::state::Serving;
use crate::transport::{BoxClient, TransportError};

/// Colour and release a fast rollback of `env` goes back to: during a canary, the colour of
/// record alone (the canary ends); otherwise the colour before the current one — the newest
/// history entry (canary steps aside) that switched to the other colour, else the newest that
/// switched away from it.
pub fn rollback_target(
    state: Option<&EnvState>,
    env: &Ident,
    target: &str,
) -> Result<(Color, Option<Release>), SwitchError> {
    let no_history = || SwitchError::NoHistory {
        env: env.to_string(),
        target: target.to_string(),
    };
    let state = state.ok_or_else(no_history)?;
    if state.canary.is_some() {
        return Ok((state.color, state.release.clone()));
    }
    // The colours the env was switched to, newest first (the releases as recorded with them),
    // then the ones it was switched away from.
    let done = state.history.iter().filter(|e| e.percent.is_none());
    done.clone()
        .map(|e| (e.color, &e.release))
        .chain(
            state
                .history
                .iter()
                .map(|e| (e.previous_color, &e.previous_release)),
        )
        .find(|(c, _)| *c != state.color)
        .map(|(c, r)| (c, r.clone()))
        .ok_or_else(no_history)
}

/// The release `color` last ran in the env, as recorded: the state's own when it is the colour
/// of record, else that of the newest history entry that switched to it.
fn last_release(state: &EnvState, color: Color) -> Option<Release> {
    if state.color == color {
        return state.release.clone();
    }
    state
        .history
        .iter()
        .find(|e| e.color == color && e.percent.is_none())
        .and_then(|e| e.release.clone())
}

/// Record the switch in the env's colour state (`colors/ENV.json`) with its `result` (`ok`,
/// or `probes-failed` when kept with `--no-rollback`).
#[allow(clippy::too_many_arguments)]
pub(super) fn record(
    t: &mut BoxClient,
    target: &crate::model::Target,
    req: &Request,
    from: Color,
    prev: Option<&EnvState>,
    generation: Option<u64>,
    result: &str,
    progress: &mut dyn Progress,
) -> Result<(), Problems> {
    let entry = Entry {
        color: req.color,
        release: req.release.clone(),
        previous_color: from,
        previous_release: prev.and_then(|s| s.release.clone()),
        action: req.action,
        result: result.into(),
        generation,
        time: apply::utc_now(),
        by: apply::who(),
        forced: req.forced,
        percent: req.percent,
    };
    let next = EnvState::after(prev, &req.env, entry);
    t.record_color(req.env.as_str(), &next.to_json())
        .map_err(|e| {
            Problems::one(SwitchError::NotRecorded {
                target: target.name.to_string(),
                env: req.env.to_string(),
                color: req.color.to_string(),
                message: e.to_string(),
            })
        })?;
    let to = match req.percent {
        Some(percent) => Serving::Canary { from, percent },
        None => Serving::Color(req.color),
    };
    progress.event(Event::Step(format!(
        "Recorded: {} {from} → {}{}.",
        req.env,
        to.describe(),
        req.release
            .as_ref()
            .map_or(String::new(), |r| format!(" (release {r})"))
    )));
    Ok(())
}

/// After `edgeplan rollback` made `generation` active: record, for every env whose colour it
/// serves differs from the recorded one, that the env is at that colour now — with the release
/// of the switch that made that generation, when the history still has it.
pub fn record_generation_colors(
    t: &mut BoxClient,
    edge: &Edge,
    colors: &BoxColors,
    served: &BTreeMap<String, String>,
    generation: u64,
    log: &mut dyn FnMut(String),
) -> Result<(), TransportError> {
    for env in edge.envs.values() {
        let Some(now) = served
            .get(env.name.as_str())
            .and_then(|c| Serving::parse(c).ok())
        else {
            continue;
        };
        let prev = colors.get(&env.name);
        let was = prev.map_or(Serving::Color(env.active_color), EnvState::serving);
        if was == now {
            continue;
        }
        let (color, percent) = match now.canary() {
            Some((to, percent)) => (to, Some(percent)),
            None => (now.color(), None),
        };
        let release = prev.and_then(|s| {
            s.history
                .iter()
                .find(|e| {
                    e.generation == Some(generation) && e.color == color && e.percent == percent
                })
                .and_then(|e| e.release.clone())
        });
        // A canary entry's previous colour is its colour of record (see [`EnvState::after`]).
        let previous_color = if percent.is_some() {
            now.color()
        } else {
            was.color()
        };
        let entry = Entry {
            color,
            release,
            previous_color,
            previous_release: prev.and_then(|s| last_release(s, previous_color)),
            action: Action::GenerationRollback,
            result: "ok".into(),
            generation: Some(generation),
            time: apply::utc_now(),
            by: apply::who(),
            forced: false,
            percent,
        };
        let next = EnvState::after(prev, &env.name, entry);
        t.record_color(env.name.as_str(), &next.to_json())?;
        log(format!(
            "Recorded: {} {} → {} (generation {generation} serves it).",
            env.name,
            was.describe(),
            now.describe()
        ));
    }
    Ok(())
}
