//! The history side of a switch: recording it in the env's colour state (`colors/ENV.json`),
//! recording the colours a generation rollback brings back, and where a fast rollback goes.

use std::collections::BTreeMap;

use super::{Action, BoxColors, Entry, EnvState, Release, Request, SwitchError};
use crate::apply;
use crate::diag::Problems;
use crate::model::{Color, Edge, Ident};
use crate::session::{Event, Progress};
use crate::transport::{BoxClient, TransportError};

/// Colour and release a fast rollback of `env` goes back to: those of its previous history
/// entry, or what the oldest kept entry switched away from.
pub fn rollback_target(
    state: Option<&EnvState>,
    env: &Ident,
    target: &str,
) -> Result<(Color, Option<Release>), SwitchError> {
    let h = state.map_or(&[][..], |s| &s.history[..]);
    match h {
        [] => Err(SwitchError::NoHistory {
            env: env.to_string(),
            target: target.to_string(),
        }),
        [only] => Ok((only.previous_color, only.previous_release.clone())),
        [_, prev, ..] => Ok((prev.color, prev.release.clone())),
    }
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
    progress.event(Event::Step(format!(
        "Recorded: {} {} → {}{}.",
        req.env,
        from,
        req.color,
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
            .and_then(|c| Color::parse(c).ok())
        else {
            continue;
        };
        let prev = colors.get(&env.name);
        let was = prev.map_or(env.active_color, |s| s.color);
        if was == now {
            continue;
        }
        let release = prev.and_then(|s| {
            s.history
                .iter()
                .find(|e| e.generation == Some(generation) && e.color == now)
                .and_then(|e| e.release.clone())
        });
        let entry = Entry {
            color: now,
            release,
            previous_color: was,
            previous_release: prev.and_then(|s| s.release.clone()),
            action: Action::GenerationRollback,
            result: "ok".into(),
            generation: Some(generation),
            time: apply::utc_now(),
            by: apply::who(),
            forced: false,
        };
        let next = EnvState::after(prev, &env.name, entry);
        t.record_color(env.name.as_str(), &next.to_json())?;
        log(format!(
            "Recorded: {} {was} → {now} (generation {generation} serves it).",
            env.name
        ));
    }
    Ok(())
}
