//! Colour state on the box: each env's `colors/ENV.json` — the colour taking traffic, the release
//! it runs, the last switches — read once per command that builds against the box and used as an
//! input of that build ([`build_for_box`]). A state concern, not a switch one: `plan`, `apply` and
//! `status` read it as `switch` and `rollback` do (and only `switch`/`rollback` write it, see
//! [`crate::switch`]). An env without the file is at the colour its spec gives; a file that
//! cannot be read is an error for every command that builds against the box.

// Diagnostics carry their help texts by design; they are cold and returned once per run.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;

use miette::Diagnostic;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::Build;
use crate::canary::Percent;
use crate::diag::Problems;
use crate::model::{Color, Edge, Ident};
use crate::state::Serving;
use crate::transport::{BoxClient, BoxState};

/// Version of the colour state files written: 2 added the canary (`canary`, and `percent` in
/// history entries). Version 1 files are read as they are.
pub const STATE_FORMAT_VERSION: u32 = 2;
/// Switches kept per env.
pub const HISTORY_LEN: usize = 5;
/// Where the colour state files are on the box.
pub const COLORS_DIR: &str = crate::layout::COLORS_DIR.abs();

/// The colour state is unreadable, or a release id is bad.
#[derive(Debug, Error, Diagnostic)]
pub enum ColorsError {
    /// A release id edgeplan does not store.
    #[error("bad release id `{given}`: {why}")]
    #[diagnostic(
        code(edgeplan::switch::bad_release),
        help(
            "a release id is what identifies the build the colour runs (a commit SHA, a tag): \
             1 to 100 of letters, digits and `. _ - + / : @`"
        )
    )]
    BadRelease {
        /// What was given.
        given: String,
        /// What is wrong.
        why: String,
    },
    /// A colour state file on the box cannot be read.
    #[error("target `{target}`: the colour state of env `{env}` is unreadable: {message}")]
    #[diagnostic(
        code(edgeplan::switch::corrupt_state),
        help(
            "nothing was changed. The file is /var/lib/edgeplan/colors/{env}.json on the box: \
             repair it, or \
             remove it to fall back to the colour the specs give env `{env}` (`active-color`)"
        )
    )]
    CorruptState {
        /// Target.
        target: String,
        /// Env.
        env: String,
        /// What is wrong.
        message: String,
    },
}

/// A release id: what build a colour runs (a commit SHA, a tag).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Release(String);

impl Release {
    /// 1–100 letters, digits and `. _ - + / : @`.
    pub fn parse(s: &str) -> Result<Release, ColorsError> {
        let bad = |why: &str| ColorsError::BadRelease {
            given: s.escape_debug().to_string(),
            why: why.to_string(),
        };
        if s.is_empty() {
            return Err(bad("it is empty"));
        }
        if s.len() > 100 {
            return Err(bad(&format!("it is {} characters long", s.len())));
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "._-+/:@".contains(*c)))
        {
            return Err(bad(&format!("`{}` is not allowed", c.escape_debug())));
        }
        Ok(Release(s.to_string()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Release {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What made an env change colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// `edgeplan switch`.
    Switch,
    /// `edgeplan rollback --env` (fast rollback).
    Rollback,
    /// `edgeplan rollback` to a generation that serves another colour.
    GenerationRollback,
}

impl Action {
    /// Its name in the state file.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Switch => "switch",
            Action::Rollback => "rollback",
            Action::GenerationRollback => "generation-rollback",
        }
    }
}

/// One switch of an env, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Colour it switched to.
    pub color: Color,
    /// Release that colour runs.
    pub release: Option<Release>,
    /// Colour before.
    pub previous_color: Color,
    /// Release before.
    pub previous_release: Option<Release>,
    /// What did it.
    pub action: Action,
    /// How it ended: `ok` (only switches that took effect are recorded).
    pub result: String,
    /// Generation that served it.
    pub generation: Option<u64>,
    /// When (UTC, RFC 3339).
    pub time: String,
    /// `user@host`.
    pub by: String,
    /// The health gate was skipped (`switch --force`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forced: bool,
    /// A canary step: `color` got this share of new sessions, `previous_color` kept the rest
    /// (`switch --weight`). `None`: `color` took all the traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<Percent>,
}

/// A canary in progress in an env ([`Serving::Canary`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Canary {
    /// The new colour (the other one than the env's `color`).
    pub color: Color,
    /// Its share of new sessions.
    pub percent: Percent,
    /// The release it runs, when known.
    pub release: Option<Release>,
}

/// The colour state of one env on the box: `colors/ENV.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvState {
    /// [`STATE_FORMAT_VERSION`].
    pub format_version: u32,
    /// Env.
    pub env: Ident,
    /// Colour taking traffic.
    pub color: Color,
    /// Release it runs, when known.
    pub release: Option<Release>,
    /// A canary in progress: the other colour takes a share of new sessions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary: Option<Canary>,
    /// The last switches, newest first, at most [`HISTORY_LEN`].
    pub history: Vec<Entry>,
}

/// The file as written, before checking.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawState {
    format_version: u32,
    env: String,
    color: String,
    release: Option<String>,
    #[serde(default)]
    canary: Option<RawCanary>,
    history: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCanary {
    color: String,
    percent: u32,
    release: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    color: String,
    release: Option<String>,
    previous_color: String,
    previous_release: Option<String>,
    action: Action,
    result: String,
    generation: Option<u64>,
    time: String,
    by: String,
    #[serde(default)]
    forced: bool,
    #[serde(default)]
    percent: Option<u32>,
}

impl EnvState {
    /// Check the text of `colors/ENV.json` for env `env`.
    pub fn parse(env: &str, text: &str) -> Result<EnvState, String> {
        let raw: RawState = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if !(1..=STATE_FORMAT_VERSION).contains(&raw.format_version) {
            return Err(format!(
                "format_version {} (this edgeplan reads {STATE_FORMAT_VERSION})",
                raw.format_version
            ));
        }
        if raw.env != env {
            return Err(format!("it names env `{}`", raw.env));
        }
        let color = |s: &str| Color::parse(s).map_err(|_| format!("`{s}` is not a colour"));
        let release = |r: Option<String>| {
            r.map(|r| Release::parse(&r).map_err(|e| e.to_string()))
                .transpose()
        };
        let percent = |p: Option<u32>| p.map(Percent::new).transpose().map_err(|e| e.to_string());
        let history = raw
            .history
            .into_iter()
            .map(|e| {
                Ok(Entry {
                    color: color(&e.color)?,
                    release: release(e.release)?,
                    previous_color: color(&e.previous_color)?,
                    previous_release: release(e.previous_release)?,
                    action: e.action,
                    result: e.result,
                    generation: e.generation,
                    time: e.time,
                    by: e.by,
                    forced: e.forced,
                    percent: percent(e.percent)?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let own = color(&raw.color)?;
        let canary = match raw.canary {
            None => None,
            Some(c) => {
                let to = color(&c.color)?;
                if to == own {
                    return Err(format!("its canary is its own colour `{to}`"));
                }
                Some(Canary {
                    color: to,
                    percent: Percent::new(c.percent).map_err(|e| e.to_string())?,
                    release: release(c.release)?,
                })
            }
        };
        Ok(EnvState {
            format_version: STATE_FORMAT_VERSION,
            env: Ident::parse(env).map_err(|e| format!("env name {}", e.reason))?,
            color: own,
            release: release(raw.release)?,
            canary,
            history,
        })
    }

    /// The file's text.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// What the env serves.
    pub fn serving(&self) -> Serving {
        match &self.canary {
            None => Serving::Color(self.color),
            Some(c) => Serving::Canary {
                from: self.color,
                percent: c.percent,
            },
        }
    }

    /// The state after `entry` (newest first, the oldest beyond [`HISTORY_LEN`] dropped): a
    /// canary step keeps the colour of record (`entry.previous_color`) and its release.
    pub fn after(prev: Option<&EnvState>, env: &Ident, entry: Entry) -> EnvState {
        let mut history = vec![entry.clone()];
        history.extend(prev.into_iter().flat_map(|p| p.history.iter().cloned()));
        history.truncate(HISTORY_LEN);
        let (color, release, canary) = match entry.percent {
            None => (entry.color, entry.release, None),
            Some(percent) => (
                entry.previous_color,
                entry.previous_release,
                Some(Canary {
                    color: entry.color,
                    percent,
                    release: entry.release,
                }),
            ),
        };
        EnvState {
            format_version: STATE_FORMAT_VERSION,
            env: env.clone(),
            color,
            release,
            canary,
            history,
        }
    }
}

/// The colour state on a box: env → its state, for the envs of the specs that have one.
pub type BoxColors = BTreeMap<Ident, EnvState>;

/// Read the colour state of `edge`'s envs from a box state; files of envs the specs do not
/// define are ignored.
pub fn read(edge: &Edge, state: &BoxState, target: &str) -> Result<BoxColors, ColorsError> {
    let mut out = BoxColors::new();
    for (env, text) in &state.colors {
        let Some(name) = edge.envs.keys().find(|k| k.as_str() == env) else {
            continue;
        };
        let st = EnvState::parse(env, text).map_err(|message| ColorsError::CorruptState {
            target: target.to_string(),
            env: env.clone(),
            message,
        })?;
        out.insert(name.clone(), st);
    }
    Ok(out)
}

/// Overrides for a build: what the box says every env that has a state serves.
pub fn overrides(colors: &BoxColors) -> Vec<(Ident, Serving)> {
    colors
        .iter()
        .map(|(e, s)| (e.clone(), s.serving()))
        .collect()
}

/// `build` rendered with the box's colours (itself when they are those it has), from the same
/// read of the specs.
pub fn with_box_colors(
    loaded: &crate::Loaded,
    build: Build,
    colors: &BoxColors,
) -> Result<Build, Problems> {
    let o = overrides(colors);
    if o.iter().all(|(e, c)| build.colors.get(e) == Some(*c)) {
        return Ok(build);
    }
    loaded.build(&o)
}

/// Build the specs (read once, `loaded`) for the box `t` reaches: read its state (the live
/// status of every file the specs render) and its colours, and render with those.
pub fn build_for_box(
    loaded: &crate::Loaded,
    t: &mut BoxClient,
) -> Result<(Build, BoxState, BoxColors), Problems> {
    let build = loaded.build(&[])?;
    let state = t
        .read_state(&crate::plan::probe(&build))
        .map_err(Problems::one)?;
    let colors = read(&build.edge, &state, t.target()).map_err(Problems::one)?;
    let build = with_box_colors(loaded, build, &colors)?;
    Ok((build, state, colors))
}
