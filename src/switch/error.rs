//! What can go wrong with a switch or a fast rollback ([`SwitchError`]), and the checks of its
//! arguments that produce the first of them (an env of the specs, a colour).

use miette::Diagnostic;
use thiserror::Error;

use super::ColorsError;
use crate::model::{Color, Edge, Ident};
use crate::transport::TransportError;

/// A problem with a switch or a fast rollback.
#[derive(Debug, Error, Diagnostic)]
pub enum SwitchError {
    /// The env is not in the specs.
    #[error("unknown env `{name}`")]
    #[diagnostic(code(edgeplan::switch::unknown_env), help("{help}"))]
    UnknownEnv {
        /// The name given.
        name: String,
        /// A suggestion or the known envs.
        help: String,
    },
    /// Not a colour.
    #[error("unknown colour `{given}`")]
    #[diagnostic(
        code(edgeplan::switch::unknown_color),
        help("the colours are `blue` and `green`")
    )]
    UnknownColor {
        /// What was given.
        given: String,
    },
    /// The box does not serve what the specs render: a switch would ship those changes too.
    #[error("target `{target}` does not match the specs: {summary}; a switch only moves traffic")]
    #[diagnostic(
        code(edgeplan::switch::not_applied),
        help(
            "review the differences with `edgeplan plan --target {target}` and apply them \
             (`edgeplan apply`) first; nothing was changed"
        )
    )]
    NotApplied {
        /// Target.
        target: String,
        /// What differs.
        summary: String,
    },
    /// The new colour did not pass the health gate: nothing changed.
    #[error(
        "env `{env}`: {failing} of {total} instances of {color} failed their health check \
         from the box ({tries} tries); nothing changed"
    )]
    #[diagnostic(
        code(edgeplan::switch::unhealthy),
        help(
            "traffic stays where it is. Fix the instances (the report above says what each \
             answered), or give them time with `--wait 60s`; `--force` switches without the \
             gate (recorded in the history)"
        )
    )]
    Unhealthy {
        /// Env.
        env: String,
        /// Colour.
        color: String,
        /// Instances that failed.
        failing: usize,
        /// Instances checked.
        total: usize,
        /// Tries made.
        tries: u32,
    },
    /// `--weight` toward the colour that already has the env's traffic.
    #[error("env `{env}` is on {color}: a canary moves a share of it to {other}, not to {color}")]
    #[diagnostic(
        code(edgeplan::switch::canary_to_own_color),
        help(
            "`edgeplan switch {env} {other} --weight PERCENT` starts or changes a canary; \
             `edgeplan switch {env} {color}` ends one and keeps {color} alone"
        )
    )]
    CanaryToOwnColor {
        /// Env.
        env: String,
        /// Its colour of record.
        color: String,
        /// The other colour.
        other: String,
    },
    /// A component of the env cannot share traffic between the colours.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Canary(#[from] crate::canary::CanaryError),
    /// A canary step's component cannot share (named).
    #[error("env `{env}`, component `{component}`: {source}")]
    #[diagnostic(
        code(edgeplan::switch::canary_impossible),
        help(
            "a canary keeps both colours of every component of the env in rotation: give \
             `{component}` instances of both colours, or switch without --weight; nothing changed"
        )
    )]
    CanaryImpossible {
        /// Env.
        env: String,
        /// Component.
        component: String,
        /// Why.
        source: crate::canary::CanaryError,
    },
    /// No earlier state to go back to.
    #[error("env `{env}` has no switch recorded on target `{target}`: nothing to roll back")]
    #[diagnostic(
        code(edgeplan::switch::no_history),
        help(
            "`edgeplan switch {env} COLOR` moves it to a colour; `edgeplan status` shows the history"
        )
    )]
    NoHistory {
        /// Env.
        env: String,
        /// Target.
        target: String,
    },
    /// The switch took effect but its state could not be written.
    #[error("target `{target}` serves {env} {color} now, but recording that failed: {message}")]
    #[diagnostic(
        code(edgeplan::switch::not_recorded),
        help(
            "run the same command again: it finds the box already serving {color} and records \
             it (until then, plan and apply still see the colour recorded before)"
        )
    )]
    NotRecorded {
        /// Target.
        target: String,
        /// Env.
        env: String,
        /// Colour.
        color: String,
        /// What failed.
        message: String,
    },
    /// Reaching the box failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Transport(#[from] TransportError),
    /// The colour state is unreadable, or a release id is bad.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Colors(#[from] ColorsError),
}

fn suggest(name: &str, known: &[&str]) -> String {
    match crate::diag::closest(name, known) {
        Some(k) => format!("did you mean `{k}`? The envs: {}", known.join(", ")),
        None if known.is_empty() => "the specs define no env".into(),
        None => format!("the envs of the specs: {}", known.join(", ")),
    }
}

/// The env named `name` in the specs.
pub fn find_env(edge: &Edge, name: &str) -> Result<Ident, SwitchError> {
    edge.envs
        .keys()
        .find(|k| k.as_str() == name)
        .cloned()
        .ok_or_else(|| SwitchError::UnknownEnv {
            name: name.escape_debug().to_string(),
            help: suggest(
                name,
                &edge.envs.keys().map(Ident::as_str).collect::<Vec<_>>(),
            ),
        })
}

/// `blue` or `green`.
pub fn parse_color(s: &str) -> Result<Color, SwitchError> {
    Color::parse(s).map_err(|_| SwitchError::UnknownColor {
        given: s.escape_debug().to_string(),
    })
}
