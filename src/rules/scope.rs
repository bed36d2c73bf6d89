//! Which requests a policy rule applies to ([`Scope`]), decided by the route a request took
//! (its key in [`super::ROUTE_VAR`]) and, for per-host rules, its host: the condition the
//! template writes, and the test `edgeplan route` makes, from one definition.

use serde::Serialize;

use super::{ACME_KEY, ROUTE_VAR};

/// The requests a policy rule applies to, by the route key they got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Scope {
    /// Every request but ACME challenges (no route, the default 503, included).
    Edge,
    /// What an env takes: its routes and default, on its hosts and its preview host.
    Env {
        /// Env.
        env: String,
    },
    /// What one route of an env takes, on the env's hosts and its preview host.
    Route {
        /// Env.
        env: String,
        /// Route.
        route: String,
    },
    /// An outside backend's or a placeholder's hosts.
    Site {
        /// Site.
        site: String,
    },
    /// What an env takes on its preview host.
    Preview {
        /// Env.
        env: String,
    },
    /// What an env takes on some of its hosts (`hosts HOST… { rules… }`).
    Hosts {
        /// Env.
        env: String,
        /// The hosts (as [`super::HOST_VAR`] holds them: lower case, no port).
        hosts: Vec<String>,
    },
}

/// Where a request stands when a policy rule is evaluated: the route key it got (`None`: no
/// rule took it) and its host as the edge routes by it ([`super::HOST_VAR`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Where<'a> {
    /// Route key.
    pub key: Option<&'a str>,
    /// Host.
    pub host: Option<&'a str>,
}

/// The route key of a site's hosts.
pub fn site_key(site: &str) -> String {
    format!("site/{site}")
}

/// The route key of an env's route (`None`: its default), public or on its preview host.
pub fn env_key(env: &str, route: Option<&str>, preview: bool) -> String {
    let tag = if preview { "@preview" } else { "" };
    format!("env/{env}/{}{tag}", route.unwrap_or(""))
}

impl Scope {
    /// Does a request that stands `at` fall in the scope?
    pub fn holds(&self, at: &Where<'_>) -> bool {
        let key = at.key;
        match self {
            Scope::Edge => key != Some(ACME_KEY),
            Scope::Env { env } => key.is_some_and(|k| k.starts_with(&format!("env/{env}/"))),
            Scope::Route { env, route } => key.is_some_and(|k| {
                k == env_key(env, Some(route), false) || k == env_key(env, Some(route), true)
            }),
            Scope::Site { site } => key == Some(site_key(site).as_str()),
            Scope::Hosts { env, hosts } => {
                key.is_some_and(|k| k.starts_with(&format!("env/{env}/")))
                    && at.host.is_some_and(|h| hosts.iter().any(|x| x == h))
            }
            Scope::Preview { env } => key
                .is_some_and(|k| k.starts_with(&format!("env/{env}/")) && k.ends_with("@preview")),
        }
    }

    /// The scope as an haproxy condition on [`ROUTE_VAR`].
    pub fn haproxy(&self) -> String {
        match self {
            Scope::Edge => format!("!{{ var({ROUTE_VAR}) -m str {ACME_KEY} }}"),
            Scope::Env { env } => format!("{{ var({ROUTE_VAR}) -m beg env/{env}/ }}"),
            Scope::Route { env, route } => format!(
                "{{ var({ROUTE_VAR}) -m str {} {} }}",
                env_key(env, Some(route), false),
                env_key(env, Some(route), true)
            ),
            Scope::Site { site } => format!("{{ var({ROUTE_VAR}) -m str {} }}", site_key(site)),
            Scope::Hosts { env, hosts } => format!(
                "{{ var({ROUTE_VAR}) -m beg env/{env}/ }} {{ var({}) -m str {} }}",
                super::HOST_VAR,
                hosts.join(" ")
            ),
            Scope::Preview { env } => format!(
                "{{ var({ROUTE_VAR}) -m beg env/{env}/ }} {{ var({ROUTE_VAR}) -m end @preview }}"
            ),
        }
    }

    /// In words: `every request`, `env staging`, `route api of env staging`, `site git`.
    pub fn describe(&self) -> String {
        match self {
            Scope::Edge => "every request".into(),
            Scope::Env { env } => format!("env {env}"),
            Scope::Route { env, route } => format!("route {route} of env {env}"),
            Scope::Site { site } => format!("site {site}"),
            Scope::Hosts { env, hosts } => format!("hosts {} of env {env}", hosts.join(" ")),
            Scope::Preview { env } => format!("the preview host of env {env}"),
        }
    }
}
