//! Deployment state that changes the rendered output: what each env serves — one colour, or a
//! canary sharing new sessions between both ([`Serving`]).
//!
//! The specs give each env's default colour; the box (`/var/lib/edgeplan/`) or the command line
//! may say otherwise. Whatever is in effect is an input of the build: it is hashed with the
//! specs and templates, and rendered into the config (a canary as server weights,
//! [`crate::canary`]).

use std::collections::BTreeMap;

use miette::Diagnostic;
use serde::Serialize;
use thiserror::Error;

use crate::canary::Percent;
use crate::model::{Color, Edge, Env, Ident};

/// What an env serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serving {
    /// One colour takes all the traffic; the other is rendered `disabled`.
    Color(Color),
    /// A canary: both colours in rotation, the other colour than `from` taking `percent` % of
    /// the new (non-pinned) sessions. `from` is still the env's colour of record: the one a
    /// rollback returns to, the one sticky clients of the old colour keep.
    Canary {
        /// The colour being switched away from.
        from: Color,
        /// The new colour's share of new sessions.
        percent: Percent,
    },
}

impl Serving {
    /// The colour of record: the only one, or the one a canary moves away from.
    pub fn color(self) -> Color {
        match self {
            Serving::Color(c) | Serving::Canary { from: c, .. } => c,
        }
    }

    /// The canary's new colour and share, if this is a canary.
    pub fn canary(self) -> Option<(Color, Percent)> {
        match self {
            Serving::Color(_) => None,
            Serving::Canary { from, percent } => Some((from.other(), percent)),
        }
    }

    /// Whether `color`'s servers take traffic.
    pub fn serves(self, color: Color) -> bool {
        match self {
            Serving::Color(c) => c == color,
            Serving::Canary { .. } => true,
        }
    }

    /// For people: `blue`, or `blue 90 % / green 10 %` (the share of new sessions).
    pub fn describe(self) -> String {
        match self {
            Serving::Color(c) => c.to_string(),
            Serving::Canary { from, percent } => format!(
                "{from} {} % / {} {percent} %",
                100 - percent.get(),
                from.other()
            ),
        }
    }

    /// Read the [`Display`](std::fmt::Display) form: `blue`, or `green@10` (a canary sending
    /// 10 % of new sessions to green, the rest staying on blue).
    ///
    /// # Errors
    /// What is wrong, as text: not a colour, or not a percentage 1..=99.
    pub fn parse(s: &str) -> Result<Serving, String> {
        let color = |c: &str| Color::parse(c).map_err(|_| format!("`{c}` is not a colour"));
        match s.split_once('@') {
            None => Ok(Serving::Color(color(s)?)),
            Some((c, p)) => {
                let to = color(c)?;
                let percent = p
                    .parse::<u32>()
                    .map_err(|_| format!("`{p}` is not a percentage"))
                    .and_then(|p| Percent::new(p).map_err(|e| e.to_string()))?;
                Ok(Serving::Canary {
                    from: to.other(),
                    percent,
                })
            }
        }
    }
}

/// A recorded serving text (a manifest's or model summary's) for people: [`Serving::describe`]
/// when it reads, else as it is.
pub fn describe(text: &str) -> String {
    Serving::parse(text).map_or_else(|_| text.to_string(), Serving::describe)
}

impl std::fmt::Display for Serving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Serving::Color(c) => write!(f, "{c}"),
            Serving::Canary { from, percent } => write!(f, "{}@{percent}", from.other()),
        }
    }
}

impl Serialize for Serving {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// What each env serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ActiveColors(pub BTreeMap<Ident, Serving>);

impl ActiveColors {
    /// Every env at the colour its spec gives.
    pub fn from_specs(edge: &Edge) -> ActiveColors {
        ActiveColors(
            edge.envs
                .values()
                .map(|e| (e.name.clone(), Serving::Color(e.active_color)))
                .collect(),
        )
    }

    /// What `env` serves, an env of the edge these colours were made for (its spec's colour
    /// should it be missing).
    pub fn of(&self, env: &Env) -> Serving {
        self.get(&env.name)
            .unwrap_or(Serving::Color(env.active_color))
    }

    /// What the env named `env` serves; `None` when these colours do not know it.
    pub fn get(&self, env: &Ident) -> Option<Serving> {
        self.0.get(env).copied()
    }

    /// Set what one env serves; `false` when the env does not exist.
    pub fn set(&mut self, env: &Ident, serving: Serving) -> bool {
        match self.0.get_mut(env) {
            Some(c) => {
                *c = serving;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serving_reads_back_as_written() {
        for text in ["blue", "green", "green@10", "blue@99", "green@1"] {
            assert_eq!(Serving::parse(text).unwrap().to_string(), text);
        }
        let c = Serving::parse("green@10").unwrap();
        assert_eq!(c.color(), Color::Blue);
        assert_eq!(c.canary(), Some((Color::Green, Percent::new(10).unwrap())));
        assert!(c.serves(Color::Blue) && c.serves(Color::Green));
        assert!(!Serving::Color(Color::Blue).serves(Color::Green));
        for (bad, why) in [
            ("red", "not a colour"),
            ("green@0", "not 0 %"),
            ("green@100", "not 100 %"),
            ("green@x", "not a percentage"),
            ("green@", "not a percentage"),
        ] {
            let e = Serving::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
