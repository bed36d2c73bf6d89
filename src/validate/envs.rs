//! Environments and their components: hosts, the container pattern, sticky cookies, pools and
//! backends, with the servers from [`super::instances`] and the routes from [`super::routes`].
//!
//! Envs are checked in spec order and share state across one another: the hosts they claim
//! ([`HostOwners`]), the backend names their pools produce ([`BackendNames`]), and the sticky
//! cookies they set ([`Cookies`]): a session cookie must never cross envs, nor pin a client to
//! two components at once. An env missing its container pattern is reported and left out of
//! the model, but its components and routes are still checked.

use std::collections::BTreeMap;

use crate::model::{
    Balance, Color, Component, CookieName, Env, HealthPath, Ident, NamePattern, PROBE_TRIES, Probe,
};
use crate::spec::{At, ComponentSpec, EnvSpec};

use super::hosts::HostOwners;
use super::instances::{check_hash_ids, explicit_instances, pattern_instances};
use super::names::BackendNames;
use super::{Checker, Problem, ValidateError, expect_of, routes, val};

/// The sticky cookies set so far, across envs.
#[derive(Default)]
struct Cookies {
    /// Each env's cookie → the first env that set it.
    first_env: BTreeMap<String, String>,
    /// Each env → its cookie.
    of_env: BTreeMap<String, String>,
    /// Each component's cookie → (the component, its env).
    components: BTreeMap<String, (String, String)>,
}

/// What the components of one env share while they are checked.
struct EnvContext<'a> {
    e: &'a EnvSpec,
    /// The container pattern, if the env has one.
    pattern: Option<&'a NamePattern>,
    /// A bad pattern is reported once: every component and colour would repeat it.
    pattern_reported: bool,
    /// The env's sticky cookie.
    cookie: CookieName,
    /// How many components are sticky: one keeps the env's cookie, several derive their own.
    sticky_components: usize,
    /// Pool names given with `pool=`.
    pools: BTreeMap<String, At>,
}

/// Every env with a unique name that could be built.
pub(super) fn envs(
    c: &mut Checker<'_>,
    hosts: &mut HostOwners,
    backends: &mut BackendNames,
    sticky_cookie: &CookieName,
) -> BTreeMap<Ident, Env> {
    let spec = c.spec;
    let mut envs = BTreeMap::new();
    let mut names = BTreeMap::new();
    let mut cookies = Cookies::default();
    for e in &spec.envs {
        if !c.unique(&mut names, &e.name, "env") {
            continue;
        }
        if let Some(env) = env(c, e, hosts, backends, &mut cookies, sticky_cookie) {
            envs.insert(env.name.clone(), env);
        }
    }
    envs
}

/// Env `e`, its hosts claimed; `None` when it needs a container pattern and has none.
fn env(
    c: &mut Checker<'_>,
    e: &EnvSpec,
    hosts: &mut HostOwners,
    backends: &mut BackendNames,
    cookies: &mut Cookies,
    sticky_cookie: &CookieName,
) -> Option<Env> {
    let env_name = e.name.value.clone();
    for h in &e.hosts {
        hosts.claim(c, h, "env", &env_name);
    }
    if let Some(p) = &e.preview {
        // Its own host: a certificate must cover it, nothing else may serve it.
        hosts.claim(c, p, "the preview of env", &env_name);
        backends.claim(
            c,
            crate::rules::preview_denied_backend(env_name.as_str()),
            format!("the preview of env `{env_name}`"),
            p.at,
        );
        if c.spec.trusted.as_ref().is_none_or(|t| t.value.is_empty()) {
            c.missing(
                p.at,
                format!(
                    "the preview of env `{env_name}` is open to trusted networks only, and the \
                     edge trusts none"
                ),
                "add your team's networks, e.g. `trusted \"10.0.10.0/24\"` (no source is allowed by \
                 default: behind a balancer or an incus proxy device every client may look local, \
                 and a balancer listed in `trusted` lets every client it forwards reach the preview)",
            );
        }
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
    let mut cx = EnvContext {
        e,
        pattern: pattern.as_ref(),
        pattern_reported: false,
        cookie: env_cookie(c, e, sticky_cookie, cookies),
        sticky_components: e
            .components
            .iter()
            .filter(|comp| val(&comp.sticky).unwrap_or(false))
            .count(),
        pools: BTreeMap::new(),
    };
    let mut components = BTreeMap::new();
    let mut comp_names = BTreeMap::new();
    for comp in &e.components {
        if !c.unique(&mut comp_names, &comp.name, "component") {
            continue;
        }
        if let Some(k) = component(c, &mut cx, comp, backends, cookies) {
            components.insert(k.name.clone(), k);
        }
    }
    if e.components.is_empty() {
        c.missing(
            e.name.at,
            format!("env `{env_name}` has no `component`"),
            "add e.g. `component \"web\" port=3000`",
        );
    }
    let routes = routes::routes(c, e, &comp_names);
    for r in &routes {
        if matches!(r.to, crate::model::RouteTarget::Redirect { .. })
            && let Some(spec) = e.routes.iter().find(|s| s.name.value == r.name)
        {
            backends.claim(
                c,
                crate::rules::path_redirect_backend(env_name.as_str(), &r.name),
                format!("env `{env_name}` redirect route `{}`", r.name),
                spec.name.at,
            );
        }
    }
    let probes = probes(c, e);
    if needs_pattern && pattern.is_none() {
        return None;
    }
    Some(Env {
        name: env_name,
        hosts: e.hosts.iter().map(|h| h.value.clone()).collect(),
        active_color: val(&e.active_color).unwrap_or(Color::Blue),
        cookie: cx.cookie,
        container_pattern: pattern,
        components,
        routes,
        // An env of one component sends it everything its routes do not take.
        default: val(&e.default)
            .or_else(|| (e.components.len() == 1).then(|| e.components[0].name.value.clone())),
        probes,
        preview: val(&e.preview),
        policy: Default::default(),
        plain_http: e.plain_http.iter().map(|h| h.value.clone()).collect(),
        host_policies: Vec::new(),
    })
}

/// The env's probes; a `host=` must be one of the env's hosts (a probe goes through the box's
/// haproxy, which routes by host).
fn probes(c: &mut Checker<'_>, e: &EnvSpec) -> Vec<Probe> {
    let hosts: Vec<&str> = e.hosts.iter().map(|h| h.value.as_str()).collect();
    let mut out = Vec::new();
    for p in &e.probes {
        let host = match &p.host {
            Some(h) if !hosts.contains(&h.value.as_str()) => {
                c.unknown(
                    h.at,
                    "host",
                    h.value.as_str(),
                    format!(" among the hosts of env `{}`", e.name.value),
                    &hosts,
                );
                continue;
            }
            Some(h) => h.value.clone(),
            None => match e.hosts.first() {
                Some(h) => h.value.clone(),
                None => continue,
            },
        };
        out.push(Probe {
            path: p.path.value.clone(),
            host,
            expect: expect_of(&p.expect),
            tries: val(&p.tries).map_or(PROBE_TRIES, |t| t as u32),
        });
    }
    out
}

/// The sticky cookie of env `e`: its own `cookie`, or `<sticky-cookie>_<env>`. Two envs with
/// one cookie are reported.
fn env_cookie(
    c: &mut Checker<'_>,
    e: &EnvSpec,
    sticky_cookie: &CookieName,
    cookies: &mut Cookies,
) -> CookieName {
    let env_name = &e.name.value;
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
    if let Some(first_env) = cookies.first_env.get(cookie.as_str()) {
        let err = ValidateError::at(
            c.src(cookie_at),
            cookie_at.span,
            Problem::SharedCookie {
                cookie: cookie.to_string(),
                env: env_name.to_string(),
                first_env: first_env.clone(),
            },
        );
        c.errors.push(err);
    } else {
        cookies
            .first_env
            .insert(cookie.to_string(), env_name.to_string());
    }
    cookies
        .of_env
        .insert(env_name.to_string(), cookie.to_string());
    cookie
}

/// Component `comp` of the env in `cx`: its pool and backend name, servers, balance and
/// cookie. `None` when it has no port at all (reported with its instances).
fn component(
    c: &mut Checker<'_>,
    cx: &mut EnvContext<'_>,
    comp: &ComponentSpec,
    backends: &mut BackendNames,
    cookies: &mut Cookies,
) -> Option<Component> {
    let e = cx.e;
    let env_name = &e.name.value;
    let pool = val(&comp.pool).unwrap_or_else(|| {
        Ident::parse(&format!("{}_pool", comp.name.value))
            .unwrap_or_else(|_| comp.name.value.clone())
    });
    if let Some(p) = &comp.pool {
        c.unique(&mut cx.pools, p, "pool");
    }
    let backend = format!("{env_name}_{pool}");
    let producer = format!("env `{env_name}` component `{}`", comp.name.value);
    if e.preview.is_some() {
        let preview = crate::rules::preview_backend(&backend);
        backends.claim(
            c,
            preview,
            format!("the preview of {producer}"),
            comp.name.at,
        );
    }
    backends.claim(c, backend, producer, comp.name.at);
    let active = val(&e.active_color).unwrap_or(Color::Blue);
    let instances = if comp.instance_list.is_empty() {
        pattern_instances(c, e, comp, cx.pattern, &mut cx.pattern_reported)
    } else {
        explicit_instances(c, env_name, comp, active)
    };
    let balance = val(&comp.balance).unwrap_or(Balance::Roundrobin);
    let sticky = val(&comp.sticky).unwrap_or(false);
    let cookie = if sticky {
        Some(component_cookie(c, cx, comp, cookies))
    } else {
        None
    };
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
        check_hash_ids(c, env_name, comp, &instances);
    }
    // Without `port=`, explicit instances gave theirs: the component's is the first one's.
    let port = val(&comp.port).or_else(|| instances.first().map(|i| i.port))?;
    for t in [&comp.timeout_server, &comp.timeout_tunnel]
        .into_iter()
        .flatten()
    {
        if t.value.millis() == 0 {
            c.conflict(
                t.at,
                format!("a timeout of component `{}` is zero", comp.name.value),
                "zero",
                "HAProxy reads a zero timeout as none at all, which leaks connections; give a \
                 real duration such as `30s`",
            );
        }
    }
    Some(Component {
        timeout_server: val(&comp.timeout_server).filter(|t| t.millis() > 0),
        timeout_tunnel: val(&comp.timeout_tunnel).filter(|t| t.millis() > 0),
        name: comp.name.value.clone(),
        port,
        health: val(&comp.health).unwrap_or_else(|| HealthPath::parse("/").unwrap()),
        expect: expect_of(&comp.expect),
        balance,
        cookie,
        pool,
        instances,
    })
}

/// The cookie of sticky component `comp`: the env's, or `<env cookie>_<component>` when the
/// env has several sticky components. A cookie another env's component already sets is
/// reported, unless the two envs share their cookie (that is `shared_cookie`, reported once).
fn component_cookie(
    c: &mut Checker<'_>,
    cx: &EnvContext<'_>,
    comp: &ComponentSpec,
    cookies: &mut Cookies,
) -> CookieName {
    let env_name = &cx.e.name.value;
    let cookie = if cx.sticky_components == 1 {
        cx.cookie.clone()
    } else {
        let derived = format!("{}_{}", cx.cookie, comp.name.value);
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
            cx.cookie.clone()
        })
    };
    let owner = format!("env `{env_name}` component `{}`", comp.name.value);
    let env_cookie = cx.cookie.to_string();
    match cookies.components.get(cookie.as_str()) {
        Some((first, first_env))
            if first_env != env_name.as_str()
                && cookies.of_env.get(first_env) != Some(&env_cookie) =>
        {
            c.errors.push(ValidateError::at(
                c.src(comp.name.at),
                comp.name.at.span,
                Problem::CookieClash {
                    cookie: cookie.to_string(),
                    owner,
                    first: first.clone(),
                },
            ));
        }
        Some(_) => {}
        None => {
            cookies
                .components
                .insert(cookie.to_string(), (owner, env_name.to_string()));
        }
    }
    cookie
}
