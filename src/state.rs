//! Deployment state that changes the rendered output: the active colour of each env.
//!
//! The specs give each env's default colour; the box (`/var/lib/edgeplan/`) or the command line
//! may say otherwise. Whatever is in effect is an input of the build: it is hashed with the
//! specs and templates, and rendered into the config.

use std::collections::BTreeMap;

use miette::Diagnostic;
use serde::Serialize;
use thiserror::Error;

use crate::model::{Color, Edge, Env, Ident};

/// The colour taking traffic in each env.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ActiveColors(pub BTreeMap<Ident, Color>);

impl ActiveColors {
    /// Every env at the colour its spec gives.
    pub fn from_specs(edge: &Edge) -> ActiveColors {
        ActiveColors(
            edge.envs
                .values()
                .map(|e| (e.name.clone(), e.active_color))
                .collect(),
        )
    }

    /// The colour of `env`, an env of the edge these colours were made for (its spec's colour
    /// should it be missing).
    pub fn of(&self, env: &Env) -> Color {
        self.get(&env.name).unwrap_or(env.active_color)
    }

    /// The colour of the env named `env`; `None` when these colours do not know it.
    pub fn get(&self, env: &Ident) -> Option<Color> {
        self.0.get(env).copied()
    }

    /// Set one env's colour; `false` when the env does not exist.
    pub fn set(&mut self, env: &Ident, color: Color) -> bool {
        match self.0.get_mut(env) {
            Some(c) => {
                *c = color;
                true
            }
            None => false,
        }
    }
}

/// A problem with colour state.
#[derive(Debug, Error, Diagnostic)]
pub enum StateError {
    /// A colour was given for an env the specs do not define.
    #[error("unknown env `{env}`")]
    #[diagnostic(code(edgeplan::state::unknown_env), help("envs in the specs: {known}"))]
    UnknownEnv {
        /// The env given.
        env: String,
        /// Known envs.
        known: String,
    },
}
