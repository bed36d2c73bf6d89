//! Cross-file validation: turns a decoded [`Spec`] into the checked [`Edge`] model.
//!
//! Decoding already checked every value on its own; here we check how values relate: a host
//! served in one place only, certificate coverage, routes naming real components, distinct
//! cookie and backend names, loopback-only management endpoints, required settings and their
//! defaults. Every problem is collected; the model is built only when there are none, so an
//! `Edge` always describes a consistent edge.

mod backends;
mod certs;
mod edge;
mod error;
mod hosts;
mod names;
mod targets;

use std::collections::BTreeMap;

use miette::SourceSpan;

use crate::model::{
    Balance, Color, Component, CookieName, Edge, Env, HealthPath, Ident, Instance, NamePattern,
    Route,
};
use crate::spec::{At, ComponentSpec, EnvSpec, Note, Spanned, Spec, Src};

pub use error::ValidateError;

use hosts::HostOwners;
use names::BackendNames;

/// Collects problems while the model is built.
struct Checker<'s> {
    spec: &'s Spec,
    errors: Vec<ValidateError>,
}

impl Checker<'_> {
    fn src(&self, at: At) -> Src {
        self.spec.src(at)
    }
    fn note(&self, at: At, message: impl Into<String>) -> Vec<Note> {
        vec![Note {
            message: message.into(),
            src: self.src(at),
            span: at.span,
        }]
    }
    fn missing(&mut self, at: At, what: impl Into<String>, help: impl Into<String>) {
        let e = ValidateError::MissingSetting {
            src: self.src(at),
            span: at.span,
            what: what.into(),
            help: help.into(),
        };
        self.errors.push(e);
    }
    fn conflict(
        &mut self,
        at: At,
        what: impl Into<String>,
        label: impl Into<String>,
        help: impl Into<String>,
    ) {
        let e = ValidateError::Conflict {
            src: self.src(at),
            span: at.span,
            what: what.into(),
            label: label.into(),
            help: help.into(),
        };
        self.errors.push(e);
    }

    /// Report a second definition of a name.
    fn unique<T: std::fmt::Display>(
        &mut self,
        seen: &mut BTreeMap<String, At>,
        name: &Spanned<T>,
        kind: &'static str,
    ) -> bool {
        let key = name.value.to_string();
        if let Some(first) = seen.get(&key) {
            let first = self.note(*first, format!("{kind} `{key}` first defined here"));
            self.errors.push(ValidateError::DuplicateName {
                src: self.src(name.at),
                span: name.at.span,
                kind,
                name: key,
                first,
            });
            false
        } else {
            seen.insert(key, name.at);
            true
        }
    }

    fn unknown(&mut self, at: At, kind: &'static str, name: &str, context: String, known: &[&str]) {
        let help = match known
            .iter()
            .map(|k| (strsim::jaro_winkler(name, k), *k))
            .filter(|s| s.0 > 0.7)
            .max_by(|a, b| a.0.total_cmp(&b.0))
        {
            Some((_, k)) => format!("did you mean `{k}`?"),
            None if known.is_empty() => format!("no {kind} is defined"),
            None => format!(
                "known: {}",
                known
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        self.errors.push(ValidateError::UnknownReference {
            src: self.src(at),
            span: at.span,
            kind,
            name: name.to_string(),
            context,
            help,
        });
    }
}

fn val<T: Clone>(o: &Option<Spanned<T>>) -> Option<T> {
    o.as_ref().map(|s| s.value.clone())
}

/// The start of the first file (edge.kdl), for problems about something missing altogether.
fn top() -> At {
    At {
        file: 0,
        span: SourceSpan::from(0..0),
    }
}

/// Check the whole spec and build the model, or return every problem.
pub fn validate(spec: &Spec) -> Result<Edge, Vec<ValidateError>> {
    let mut c = Checker {
        spec,
        errors: Vec::new(),
    };
    let edge = build(&mut c);
    if c.errors.is_empty() {
        names::acl_names_unique(&mut c, &edge);
    }
    if c.errors.is_empty() {
        Ok(edge)
    } else {
        Err(c.errors)
    }
}

fn build(c: &mut Checker<'_>) -> Edge {
    let spec = c.spec;
    let name = val(&spec.edge).unwrap_or_else(|| Ident::parse("edge").unwrap());

    let (listen, tls) = edge::listen(c);
    let timeouts = edge::timeouts(c);
    let health = edge::health(c);
    let stats = edge::stats(c);
    let admin = edge::admin(c);

    let sticky_cookie =
        val(&spec.sticky_cookie).unwrap_or_else(|| CookieName::parse("SERVERID").unwrap());

    let mut hosts = HostOwners::default();

    // Environments.
    let mut envs = BTreeMap::new();
    let mut env_names = BTreeMap::new();
    let mut cookies: BTreeMap<String, (String, At)> = BTreeMap::new();
    // Every component's sticky cookie: name → (owner, its env); and each env's cookie.
    let mut component_cookies: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut env_cookies: BTreeMap<String, String> = BTreeMap::new();
    let mut backends = BackendNames::reserved();
    for e in &spec.envs {
        if !c.unique(&mut env_names, &e.name, "env") {
            continue;
        }
        let env_name = e.name.value.clone();
        for h in &e.hosts {
            hosts.claim(c, h, "env", &env_name);
        }
        if e.hosts.is_empty() {
            c.missing(
                e.name.at,
                format!("env `{env_name}` has no `hosts`"),
                "add `hosts \"staging.example.org\"` to the env",
            );
        }
        // The pattern names the servers of every component without explicit `instance`s.
        let needs_pattern = e.components.iter().any(|k| k.instance_list.is_empty());
        let pattern = match &e.container_pattern {
            Some(p) => Some(p.value.clone()),
            None if needs_pattern => {
                c.missing(
                    e.name.at,
                    format!("env `{env_name}` has no `container-pattern`"),
                    "add e.g. `container-pattern \"app-{component}-{color}.lxd\"`",
                );
                None
            }
            None => None,
        };
        let cookie = match &e.cookie {
            Some(ck) => ck.value.clone(),
            None => {
                let derived = format!("{sticky_cookie}_{env_name}");
                CookieName::parse(&derived).unwrap_or_else(|inv| {
                    c.conflict(
                        e.name.at,
                        format!(
                            "the sticky cookie of env `{env_name}` would be `{derived}`, which {}",
                            inv.reason
                        ),
                        "cookie name derived from this env",
                        "shorten `sticky-cookie`, or give the env its own `cookie`",
                    );
                    sticky_cookie.clone()
                })
            }
        };
        let cookie_at = e.cookie.as_ref().map_or(e.name.at, |ck| ck.at);
        if let Some((first_env, _)) = cookies.get(cookie.as_str()) {
            let err = ValidateError::SharedCookie {
                src: c.src(cookie_at),
                span: cookie_at.span,
                cookie: cookie.to_string(),
                env: env_name.to_string(),
                first_env: first_env.clone(),
            };
            c.errors.push(err);
        } else {
            cookies.insert(cookie.to_string(), (env_name.to_string(), cookie_at));
        }

        let cookie_of_env = cookie.to_string();
        env_cookies.insert(env_name.to_string(), cookie_of_env.clone());
        let sticky_components = e
            .components
            .iter()
            .filter(|comp| val(&comp.sticky).unwrap_or(false))
            .count();
        let mut components = BTreeMap::new();
        let mut comp_names = BTreeMap::new();
        let mut pools = BTreeMap::new();
        // One report per pattern: every component and colour would repeat it.
        let mut pattern_reported = false;
        for comp in &e.components {
            if !c.unique(&mut comp_names, &comp.name, "component") {
                continue;
            }
            let pool = val(&comp.pool).unwrap_or_else(|| {
                Ident::parse(&format!("{}_pool", comp.name.value))
                    .unwrap_or_else(|_| comp.name.value.clone())
            });
            if let Some(p) = &comp.pool {
                c.unique(&mut pools, p, "pool");
            }
            let backend = format!("{env_name}_{pool}");
            let producer = format!("env `{env_name}` component `{}`", comp.name.value);
            backends.claim(c, backend, producer, comp.name.at);
            let active = val(&e.active_color).unwrap_or(Color::Blue);
            let instances = if comp.instance_list.is_empty() {
                pattern_instances(c, e, comp, pattern.as_ref(), &mut pattern_reported)
            } else {
                explicit_instances(c, &env_name, comp, active)
            };
            let balance = val(&comp.balance).unwrap_or(Balance::Roundrobin);
            let sticky = val(&comp.sticky).unwrap_or(false);
            let cookie = sticky.then(|| {
                if sticky_components == 1 {
                    return cookie.clone();
                }
                let derived = format!("{cookie}_{}", comp.name.value);
                CookieName::parse(&derived).unwrap_or_else(|inv| {
                    c.conflict(
                        comp.name.at,
                        format!(
                            "the sticky cookie of env `{env_name}` component `{}` would be \
                             `{derived}`, which {}",
                            comp.name.value, inv.reason
                        ),
                        "cookie name derived from this component",
                        "shorten the env's cookie or the component's name",
                    );
                    cookie.clone()
                })
            });
            if let Some(name) = &cookie {
                let owner = format!("env `{env_name}` component `{}`", comp.name.value);
                match component_cookies.get(name.as_str()) {
                    // Two envs with one cookie are reported once, as such (`shared_cookie`).
                    Some((first, first_env))
                        if first_env != env_name.as_str()
                            && env_cookies.get(first_env) != Some(&cookie_of_env) =>
                    {
                        c.errors.push(ValidateError::CookieClash {
                            src: c.src(comp.name.at),
                            span: comp.name.at.span,
                            cookie: name.to_string(),
                            owner,
                            first: first.clone(),
                        });
                    }
                    Some(_) => {}
                    None => {
                        component_cookies.insert(name.to_string(), (owner, env_name.to_string()));
                    }
                }
            }
            if sticky
                && balance == Balance::Uri
                && let Some(s) = &comp.sticky
            {
                c.conflict(
                    s.at,
                    format!("component `{}` is sticky and URI-hashed", comp.name.value),
                    "pick one",
                    "URI hashing already pins a path to a server; drop `sticky` or use `balance=\"roundrobin\"`",
                );
            }
            if balance == Balance::Uri {
                check_hash_ids(c, &env_name, comp, &instances);
            }
            // Without `port=`, explicit instances gave theirs: the component's is the first one's.
            let Some(port) = val(&comp.port).or_else(|| instances.first().map(|i| i.port)) else {
                continue;
            };
            components.insert(
                comp.name.value.clone(),
                Component {
                    name: comp.name.value.clone(),
                    port,
                    health: val(&comp.health).unwrap_or_else(|| HealthPath::parse("/").unwrap()),
                    expect: expect_of(&comp.expect),
                    balance,
                    cookie,
                    pool,
                    instances,
                },
            );
        }
        if e.components.is_empty() {
            c.missing(
                e.name.at,
                format!("env `{env_name}` has no `component`"),
                "add e.g. `component \"web\" port=3000`",
            );
        }
        let known: Vec<&str> = comp_names.keys().map(String::as_str).collect();
        let mut routes = Vec::new();
        let mut route_names = BTreeMap::new();
        for r in &e.routes {
            c.unique(&mut route_names, &r.name, "route");
            if let Some(to) = &r.to
                && !comp_names.contains_key(to.value.as_str())
            {
                c.unknown(
                    to.at,
                    "component",
                    to.value.as_str(),
                    format!(" in env `{env_name}`"),
                    &known,
                );
            }
            if r.prefixes.is_empty() && r.suffixes.is_empty() {
                c.missing(
                    r.name.at,
                    format!("route `{}` matches nothing", r.name.value),
                    "add a `prefix \"/api/\"` or `suffix \".m3u8\"` child",
                );
            }
            if let Some(to) = &r.to {
                routes.push(Route {
                    name: r.name.value.clone(),
                    to: to.value.clone(),
                    prefixes: r.prefixes.iter().map(|p| p.value.clone()).collect(),
                    suffixes: r.suffixes.iter().map(|p| p.value.clone()).collect(),
                });
            }
        }
        check_reach(c, &env_name, e);
        if let Some(d) = &e.default
            && !comp_names.contains_key(d.value.as_str())
        {
            c.unknown(
                d.at,
                "component",
                d.value.as_str(),
                format!(" in env `{env_name}`"),
                &known,
            );
        }
        if needs_pattern && pattern.is_none() {
            continue;
        }
        let container_pattern = pattern;
        envs.insert(
            env_name.clone(),
            Env {
                name: env_name,
                hosts: e.hosts.iter().map(|h| h.value.clone()).collect(),
                active_color: val(&e.active_color).unwrap_or(Color::Blue),
                container_pattern,
                cookie,
                components,
                routes,
                // An env of one component sends it everything its routes do not take.
                default: val(&e.default).or_else(|| {
                    (e.components.len() == 1).then(|| e.components[0].name.value.clone())
                }),
            },
        );
    }

    let outside = backends::sites(c, &mut hosts, &mut backends, &spec.outside);
    let placeholders = backends::sites(c, &mut hosts, &mut backends, &spec.placeholders);
    names::site_names_unique(c);

    let acme = certs::acme(c, &hosts, tls.is_some());
    certs::tls_has_certificates(c, tls.is_some(), acme.as_ref());
    edge::port_clashes(c, &listen, stats.as_ref(), acme.as_ref(), &admin);
    let targets = targets::targets(c);

    Edge {
        name,
        listen,
        tls,
        acme,
        stats,
        admin,
        timeouts,
        health,
        sticky_cookie,
        trusted: edge::trusted(spec),
        envs,
        outside,
        placeholders,
        targets,
    }
}

/// The servers of a component named by the env's pattern: `instances=N` per colour (default 1),
/// `blue`/`green` for one, `blue-1`, `blue-2`… for several.
fn pattern_instances(
    c: &mut Checker<'_>,
    e: &EnvSpec,
    comp: &ComponentSpec,
    pattern: Option<&NamePattern>,
    reported: &mut bool,
) -> Vec<Instance> {
    let env_name = &e.name.value;
    let n = val(&comp.instances).unwrap_or(1);
    let (Some(pattern), Some(port)) = (pattern, val(&comp.port)) else {
        return Vec::new();
    };
    let pattern_at = e.container_pattern.as_ref().map_or(e.name.at, |p| p.at);
    if n > 1
        && !pattern.has_index()
        && let Some(at) = comp.instances.as_ref().map(|i| i.at)
    {
        c.conflict(
            at,
            format!(
                "component `{}` has {n} instances per colour, but the container pattern of env `{env_name}` has no `{{index}}`",
                comp.name.value
            ),
            "several instances",
            format!(
                "add `{{index}}` (1, 2, …) to the pattern, e.g. `container-pattern \"{}\"`, or list the instances as `instance \"NAME\" color=… address=…` children",
                suggest_index(pattern)
            ),
        );
        return Vec::new();
    }
    let mut out = Vec::new();
    for color in Color::ALL {
        for i in 1..=n {
            match pattern.fill(env_name, &comp.name.value, color, i) {
                Ok(host) => {
                    let name = if n == 1 {
                        color.to_string()
                    } else {
                        format!("{color}-{i}")
                    };
                    out.push(Instance {
                        name: Ident::parse(&name).unwrap(),
                        color,
                        host: host.to_string(),
                        port,
                        weight: None,
                        index: Some(i),
                    });
                }
                // One report per pattern: every component and colour would repeat it.
                Err(inv) if !*reported => {
                    *reported = true;
                    c.conflict(
                        pattern_at,
                        format!(
                            "container name of `{}` ({color}{}) is not a valid host: {}",
                            comp.name.value,
                            if n > 1 {
                                format!(" {i}")
                            } else {
                                String::new()
                            },
                            inv.reason
                        ),
                        "filled from this pattern",
                        "shorten the pattern or the component name",
                    );
                    return Vec::new();
                }
                Err(_) => return Vec::new(),
            }
        }
    }
    out
}

/// The pattern with `-{index}` added before its first dot (or at the end), for help texts.
fn suggest_index(p: &NamePattern) -> String {
    let s = p.as_str();
    match s.find('.') {
        Some(dot) => format!("{}-{{index}}{}", &s[..dot], &s[dot..]),
        None => format!("{s}-{{index}}"),
    }
}

/// The servers of a component listed as `instance` children: names unique, each colour has
/// one, `instances=` not given as well, every instance has a port.
fn explicit_instances(
    c: &mut Checker<'_>,
    env_name: &Ident,
    comp: &ComponentSpec,
    active: Color,
) -> Vec<Instance> {
    if let Some(n) = &comp.instances {
        c.conflict(
            n.at,
            format!(
                "component `{}` has both `instances=` and `instance` children",
                comp.name.value
            ),
            "instances numbered by the pattern",
            "list the instances as `instance` children, or number them with `instances=` and the pattern's `{index}`, not both",
        );
    }
    let mut names = BTreeMap::new();
    let mut out = Vec::new();
    for i in &comp.instance_list {
        if !c.unique(&mut names, &i.name, "instance") {
            continue;
        }
        let (Some(color), Some(addr)) = (&i.color, &i.address) else {
            continue;
        };
        let Some(port) = addr.value.port.or_else(|| val(&comp.port)) else {
            c.missing(
                addr.at,
                format!(
                    "instance `{}` of component `{}` has no port",
                    i.name.value, comp.name.value
                ),
                format!(
                    "write `address=\"{}:PORT\"`, or give the component a `port=` for instances without one",
                    addr.value.host
                ),
            );
            continue;
        };
        out.push(Instance {
            name: i.name.value.clone(),
            color: color.value,
            host: addr.value.host.clone(),
            port,
            weight: val(&i.weight),
            index: None,
        });
    }
    for color in Color::ALL {
        let declared = comp
            .instance_list
            .iter()
            .any(|i| i.color.as_ref().is_some_and(|k| k.value == color));
        if !declared {
            let which = if color == active {
                format!("{color}, the active colour")
            } else {
                format!("{color}, the colour a switch would activate")
            };
            c.missing(
                comp.name.at,
                format!(
                    "component `{}` of env `{env_name}` has no instance of colour {which}",
                    comp.name.value
                ),
                format!(
                    "add `instance \"NAME\" color=\"{color}\" address=\"HOST:PORT\"`: each colour needs at least one, or its pool would be empty when it is active"
                ),
            );
        }
    }
    // Blue first, each colour in spec order.
    out.sort_by_key(|i| i.color);
    out
}

/// URI-hashed pools place each server on the hash ring by an id derived from its name; two
/// names with the same id would share their places.
fn check_hash_ids(c: &mut Checker<'_>, env_name: &Ident, comp: &ComponentSpec, list: &[Instance]) {
    let mut seen: BTreeMap<u32, &Ident> = BTreeMap::new();
    for i in list {
        let id = i.hash_id();
        if let Some(first) = seen.insert(id, &i.name) {
            c.conflict(
                comp.name.at,
                format!(
                    "instances `{first}` and `{}` of env `{env_name}` component `{}` get the same hash-ring id {id}",
                    i.name, comp.name.value
                ),
                "URI-hashed pool",
                "rename one of the instances",
            );
        }
    }
}

/// Routes, prefixes and suffixes of env `e` that can never match ([`crate::reach`]), and
/// components that nothing reaches.
fn check_reach(c: &mut Checker<'_>, env_name: &Ident, e: &crate::spec::EnvSpec) {
    use crate::reach::{Matchers, Unreachable};
    // A route that matches nothing is reported as such; reasoning about the rest would be noise.
    if e.routes
        .iter()
        .any(|r| r.prefixes.is_empty() && r.suffixes.is_empty())
    {
        return;
    }
    let matchers: Vec<Matchers<'_>> = e
        .routes
        .iter()
        .map(|r| Matchers {
            prefixes: r.prefixes.iter().map(|p| p.value.as_str()).collect(),
            suffixes: r.suffixes.iter().map(|p| p.value.as_str()).collect(),
        })
        .collect();
    let found = crate::reach::unreachable(&matchers);
    let mut dead_routes = Vec::new();
    for u in &found {
        let (route, by) = match u {
            Unreachable::Route { route, by }
            | Unreachable::Prefix { route, by, .. }
            | Unreachable::Suffix { route, by, .. } => (&e.routes[*route], by),
        };
        let names: Vec<String> = by
            .iter()
            .map(|i| format!("route `{}`", e.routes[*i].name.value))
            .collect();
        let first = by
            .iter()
            .map(|i| Note {
                message: format!("route `{}` comes first", e.routes[*i].name.value),
                src: c.src(e.routes[*i].name.at),
                span: e.routes[*i].name.at.span,
            })
            .collect();
        let (what, at) = match u {
            Unreachable::Route { route: j, .. } => {
                dead_routes.push(*j);
                (
                    format!("route `{}` of env `{env_name}`", route.name.value),
                    route.name.at,
                )
            }
            Unreachable::Prefix { prefix, .. } => (
                format!(
                    "prefix `{}` of route `{}`",
                    route.prefixes[*prefix].value, route.name.value
                ),
                route.prefixes[*prefix].at,
            ),
            Unreachable::Suffix { suffix, .. } => (
                format!(
                    "suffix `{}` of route `{}`",
                    route.suffixes[*suffix].value, route.name.value
                ),
                route.suffixes[*suffix].at,
            ),
        };
        c.errors.push(ValidateError::Unreachable {
            src: c.src(at),
            span: at.span,
            what,
            by: names.join(" and "),
            help: format!(
                "routes are tried in the order of the spec and the first match wins: put route \
                 `{}` before {}, or remove what it cannot match",
                route.name.value,
                names.join(" and ")
            ),
            first,
        });
    }
    // Components: the default, or a target of a route that can match. Not while a route or the
    // default names an unknown component (that is reported, and the rest would be noise).
    let names: Vec<&str> = e.components.iter().map(|c| c.name.value.as_str()).collect();
    let unknown = e
        .routes
        .iter()
        .filter_map(|r| r.to.as_ref())
        .chain(e.default.as_ref())
        .any(|t| !names.contains(&t.value.as_str()))
        || e.routes.iter().any(|r| r.to.is_none());
    if unknown {
        return;
    }
    for comp in &e.components {
        let reached = e.components.len() == 1
            || e.default
                .as_ref()
                .is_some_and(|d| d.value == comp.name.value)
            || e.routes.iter().enumerate().any(|(j, r)| {
                !dead_routes.contains(&j)
                    && r.to.as_ref().is_some_and(|t| t.value == comp.name.value)
            });
        if !reached {
            c.errors.push(ValidateError::UnreachedComponent {
                src: c.src(comp.name.at),
                span: comp.name.at.span,
                component: comp.name.value.to_string(),
                env: env_name.to_string(),
            });
        }
    }
}

/// What a health check expects, from `health-status=`, `health-body=`, `health-timeout=`.
fn expect_of(e: &crate::spec::ExpectSpec) -> crate::model::HealthExpect {
    crate::model::HealthExpect {
        status: val(&e.status).unwrap_or_else(crate::model::StatusSet::ok),
        body: val(&e.body),
        timeout: val(&e.timeout),
    }
}
