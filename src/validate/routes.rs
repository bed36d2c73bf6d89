//! An env's routes and default: each route names a real component and matches something, every
//! route and matcher can match ([`crate::reach`]), and every component gets requests.
//!
//! Routes are tried in spec order and the first match wins, so a route shadowed by earlier ones
//! is a mistake the rendered config would hide; [`crate::reach`] finds them, this module turns
//! them into diagnostics pointing at the route and at the earlier routes that take its paths.

use std::collections::BTreeMap;

use crate::model::{Ident, PathPrefix, Route, RouteTarget};
use crate::reach::{Matchers, Unreachable};
use crate::spec::{At, EnvSpec, Note, RouteSpec};

use super::{Checker, Problem, ValidateError};

/// The routes of env `e` that name a component; `components` are its components' names.
/// Reports unknown components (of routes, then of the default), routes that match nothing,
/// and what can never match or gets no request.
pub(super) fn routes(
    c: &mut Checker<'_>,
    e: &EnvSpec,
    components: &BTreeMap<String, At>,
) -> Vec<Route> {
    let env_name = &e.name.value;
    let known: Vec<&str> = components.keys().map(String::as_str).collect();
    let mut routes = Vec::new();
    let mut route_names = BTreeMap::new();
    for r in &e.routes {
        c.unique(&mut route_names, &r.name, "route");
        if let Some(to) = &r.to
            && !components.contains_key(to.value.as_str())
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
        if let Some(to) = target(c, env_name, r) {
            let rewrite = rewrite(c, r, &to);
            routes.push(Route {
                name: r.name.value.clone(),
                to,
                rewrite,
                prefixes: r.prefixes.iter().map(|p| p.value.clone()).collect(),
                suffixes: r.suffixes.iter().map(|p| p.value.clone()).collect(),
                policy: Default::default(),
            });
        }
    }
    check_reach(c, env_name, e);
    if let Some(d) = &e.default
        && !components.contains_key(d.value.as_str())
    {
        c.unknown(
            d.at,
            "component",
            d.value.as_str(),
            format!(" in env `{env_name}`"),
            &known,
        );
    }
    routes
}

/// Routes, prefixes and suffixes of env `e` that can never match ([`crate::reach`]), and
/// components that nothing reaches.
fn check_reach(c: &mut Checker<'_>, env_name: &Ident, e: &EnvSpec) {
    // A route that matches nothing is reported as such; reasoning about the rest would be noise.
    if e.routes
        .iter()
        .any(|r| r.prefixes.is_empty() && r.suffixes.is_empty())
    {
        return;
    }
    let dead_routes = unreachable(c, env_name, e);
    unreached_components(c, env_name, e, &dead_routes);
}

/// Report every route, prefix and suffix of env `e` that earlier routes shadow; returns the
/// indices of the routes that can never match at all.
fn unreachable(c: &mut Checker<'_>, env_name: &Ident, e: &EnvSpec) -> Vec<usize> {
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
        c.errors.push(ValidateError::at(
            c.src(at),
            at.span,
            Problem::Unreachable {
                what,
                by: names.join(" and "),
                help: format!(
                    "routes are tried in the order of the spec and the first match wins: put route \
                 `{}` before {}, or remove what it cannot match",
                    route.name.value,
                    names.join(" and ")
                ),
                first,
            },
        ));
    }
    dead_routes
}

/// `rewrite=`: for a route to a component or an outside backend, with prefixes to replace.
fn rewrite(c: &mut Checker<'_>, r: &RouteSpec, to: &RouteTarget) -> Option<PathPrefix> {
    let w = r.rewrite.as_ref()?;
    if matches!(to, RouteTarget::Redirect { .. }) {
        c.conflict(
            w.at,
            "`rewrite=` on a redirect route: the redirect's target is its new path",
            "a redirect",
            "remove `rewrite=`",
        );
        return None;
    }
    if r.prefixes.is_empty() {
        c.conflict(
            w.at,
            format!(
                "route `{}` rewrites but has no `prefix` to replace",
                r.name.value
            ),
            "nothing to replace",
            "add a `prefix \"/api/\"` child",
        );
        return None;
    }
    Some(w.value.clone())
}

/// Where route `r` sends what it takes: one of `to=`, `outside=` (an outside backend of the
/// spec) or `redirect=` (with prefixes to replace; `status=` a redirect status, 301 by
/// default). `None` when that is missing or wrong (reported).
fn target(c: &mut Checker<'_>, env_name: &Ident, r: &RouteSpec) -> Option<RouteTarget> {
    let given = [r.to.is_some(), r.outside.is_some(), r.redirect.is_some()]
        .iter()
        .filter(|g| **g)
        .count();
    if given > 1 {
        c.conflict(
            r.name.at,
            format!(
                "route `{}` names more than one of `to=`, `outside=`, `redirect=`",
                r.name.value
            ),
            "one target",
            "a route sends what it takes to one place: keep one of them",
        );
        return None;
    }
    if let (Some(s), None) = (&r.status, &r.redirect) {
        c.conflict(
            s.at,
            "`status=` without `redirect=`: only a redirect route answers a status",
            "no redirect",
            "remove `status=`, or make the route a `redirect=`",
        );
    }
    if let Some(o) = &r.outside {
        let spec = c.spec;
        let known: Vec<&str> = spec.outside.iter().map(|o| o.name.value.as_str()).collect();
        if !known.contains(&o.value.as_str()) {
            c.unknown(
                o.at,
                "outside backend",
                o.value.as_str(),
                format!(" (route `{}` of env `{env_name}`)", r.name.value),
                &known,
            );
            return None;
        }
        return Some(RouteTarget::Outside {
            name: o.value.clone(),
        });
    }
    if let Some(to) = &r.redirect {
        if r.prefixes.is_empty() {
            c.conflict(
                to.at,
                format!(
                    "redirect route `{}` has no `prefix`: a redirect replaces the prefix it matched",
                    r.name.value
                ),
                "nothing to replace",
                "add a `prefix \"/old/\"` child",
            );
            return None;
        }
        // The redirected path begins with `to`: a prefix of the route that `to` begins with
        // takes it again, for ever.
        if let Some(p) = r
            .prefixes
            .iter()
            .find(|p| to.value.as_str().starts_with(p.value.as_str()))
        {
            let notes = c.note(
                p.at,
                format!("`{}` takes the redirected path again", p.value),
            );
            c.errors.push(ValidateError::at(
                c.src(to.at),
                to.at.span,
                Problem::RedirectLoop {
                    site: format!("route {} of env {env_name}", r.name.value),
                    chain: format!("{} → {}", p.value, to.value),
                    notes,
                },
            ));
            return None;
        }
        // The decoder refused anything but a redirect status.
        let status = r.status.as_ref().map_or(301, |s| s.value);
        return Some(RouteTarget::Redirect {
            to: to.value.clone(),
            status,
        });
    }
    r.to.as_ref().map(|t| RouteTarget::Component {
        name: t.value.clone(),
    })
}

/// Components of env `e` that get no request: reached are the default, the only component,
/// and the targets of routes that can match (not those in `dead_routes`). Not while a route or
/// the default names an unknown component (that is reported, and the rest would be noise).
fn unreached_components(c: &mut Checker<'_>, env_name: &Ident, e: &EnvSpec, dead_routes: &[usize]) {
    let names: Vec<&str> = e.components.iter().map(|k| k.name.value.as_str()).collect();
    let unknown = e
        .routes
        .iter()
        .filter_map(|r| r.to.as_ref())
        .chain(e.default.as_ref())
        .any(|t| !names.contains(&t.value.as_str()))
        || e.routes
            .iter()
            .any(|r| r.to.is_none() && r.outside.is_none() && r.redirect.is_none());
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
            c.errors.push(ValidateError::at(
                c.src(comp.name.at),
                comp.name.at.span,
                Problem::UnreachedComponent {
                    component: comp.name.value.to_string(),
                    env: env_name.to_string(),
                },
            ));
        }
    }
}
