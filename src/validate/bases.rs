//! Shared definitions: `base NAME { … }` holds what several envs have in common, and
//! `env NAME base=NAME { … }` starts from it. Merged before anything else is checked, so the
//! rest of validation sees whole envs (and points at the base's lines for what came from it).
//!
//! One way to override, by kind of definition (docs/spec.md, "`base`"):
//! - `component` and `route`: by name — the env's replaces the base's whole definition (a route
//!   keeps the base's place in the order); new ones come after the base's;
//! - `container-pattern`, `cookie`, `default`: the env's, else the base's;
//! - `probe`: the base's, then the env's;
//! - rules: the policies used add up (each once); list rules (`allow`, `deny`,
//!   `request-header`, `response-header`) add up, the base's first; `error-page` by status and
//!   single rules (`security-headers`, `hsts`, `maintenance`, `basic-auth`, `compression`): the
//!   env's, else the
//!   base's.

use std::collections::BTreeMap;

use super::Checker;
use crate::spec::{EnvSpec, RulesSpec, Spec};

/// The spec with every env's base merged in; `None` when no env names a base. Unknown bases and
/// names given twice are reported on `c`.
pub(super) fn merge(c: &mut Checker<'_>) -> Option<Spec> {
    let spec = c.spec;
    if spec.bases.is_empty() && spec.envs.iter().all(|e| e.base.is_none()) {
        return None;
    }
    let mut seen = BTreeMap::new();
    let mut bases: BTreeMap<&str, &EnvSpec> = BTreeMap::new();
    for b in &spec.bases {
        if c.unique(&mut seen, &b.name, "base") {
            bases.insert(b.name.value.as_str(), b);
        }
    }
    let known: Vec<&str> = bases.keys().copied().collect();
    shared_servers(c, &bases);
    let mut merged = spec.clone();
    for env in &mut merged.envs {
        let Some(name) = env.base.clone() else {
            continue;
        };
        match bases.get(name.value.as_str()) {
            Some(base) => *env = with_base(base, env),
            None => c.unknown(
                name.at,
                "base",
                name.value.as_str(),
                format!(" (in env `{}`)", env.name.value),
                &known,
            ),
        }
    }
    Some(merged)
}

/// Refuse a base whose servers two envs would share: a container pattern without `{env}`, or
/// `instance` children (their addresses are fixed), in a base that two or more envs use
/// without replacing them — prod would send its traffic to staging's containers.
fn shared_servers(c: &mut Checker<'_>, bases: &BTreeMap<&str, &EnvSpec>) {
    let spec = c.spec;
    for (name, base) in bases {
        let users: Vec<&EnvSpec> = spec
            .envs
            .iter()
            .filter(|e| e.base.as_ref().is_some_and(|b| b.value.as_str() == *name))
            .collect();
        let list = |v: &[&EnvSpec]| {
            v.iter()
                .map(|e| format!("`{}`", e.name.value))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if let Some(p) = &base.container_pattern {
            let sharing: Vec<&EnvSpec> = users
                .iter()
                .copied()
                .filter(|e| e.container_pattern.is_none())
                .collect();
            if sharing.len() > 1 && !p.value.as_str().contains("{env}") {
                c.conflict(
                    p.at,
                    format!(
                        "base `{name}`'s container pattern has no `{{env}}`, and envs {} use it: \
                         they would share their servers",
                        list(&sharing)
                    ),
                    "the same containers for every env",
                    "put `{env}` in the pattern (`app-{env}-{component}-{color}.lxd`), or give \
                     each env its own `container-pattern`",
                );
            }
        }
        for comp in &base.components {
            let Some(first) = comp.instance_list.first() else {
                continue;
            };
            let sharing: Vec<&EnvSpec> = users
                .iter()
                .copied()
                .filter(|e| !e.components.iter().any(|x| x.name.value == comp.name.value))
                .collect();
            if sharing.len() > 1 {
                c.conflict(
                    first.name.at,
                    format!(
                        "component `{}` of base `{name}` lists its instances, and envs {} use \
                         it: they would share those servers",
                        comp.name.value,
                        list(&sharing)
                    ),
                    "the same servers for every env",
                    "let the base's container pattern name them (`instances=N` with `{index}`), \
                     or define the component in each env",
                );
            }
        }
    }
}

/// `env` over `base`.
fn with_base(base: &EnvSpec, env: &EnvSpec) -> EnvSpec {
    let mut out = env.clone();
    out.container_pattern = env
        .container_pattern
        .clone()
        .or_else(|| base.container_pattern.clone());
    out.cookie = env.cookie.clone().or_else(|| base.cookie.clone());
    out.default = env.default.clone().or_else(|| base.default.clone());
    out.components = by_name(&base.components, &env.components, |c| c.name.value.as_str());
    out.routes = by_name(&base.routes, &env.routes, |r| r.name.value.as_str());
    out.probes = base.probes.iter().chain(&env.probes).cloned().collect();
    out.rules = rules(&base.rules, &env.rules);
    out
}

/// The base's items in order, each replaced by the env's of the same name, then the env's new
/// ones.
fn by_name<T: Clone>(base: &[T], env: &[T], name: impl Fn(&T) -> &str) -> Vec<T> {
    let mut out: Vec<T> = base
        .iter()
        .map(|b| env.iter().find(|e| name(e) == name(b)).unwrap_or(b).clone())
        .collect();
    // The env's others: new names, and any second definition of a name (validation reports it
    // as a duplicate, as it would without a base).
    let mut used: Vec<&str> = Vec::new();
    for e in env {
        let replaces = base.iter().any(|b| name(b) == name(e));
        if replaces && !used.contains(&name(e)) {
            used.push(name(e));
        } else {
            out.push(e.clone());
        }
    }
    out
}

/// `a` then `b`.
fn cat<T: Clone>(a: &[T], b: &[T]) -> Vec<T> {
    a.iter().chain(b).cloned().collect()
}

/// The env's rules over the base's.
fn rules(base: &RulesSpec, env: &RulesSpec) -> RulesSpec {
    let mut uses = base.uses.clone();
    uses.extend(
        env.uses
            .iter()
            .filter(|u| !base.uses.iter().any(|b| b.value == u.value))
            .cloned(),
    );
    let env_statuses: Vec<u16> = env
        .error_pages
        .iter()
        .flat_map(|p| p.statuses.iter().map(|s| s.value))
        .collect();
    let mut error_pages: Vec<_> = base
        .error_pages
        .iter()
        .cloned()
        .map(|mut p| {
            p.statuses.retain(|s| !env_statuses.contains(&s.value));
            p
        })
        .filter(|p| !p.statuses.is_empty())
        .collect();
    error_pages.extend(env.error_pages.iter().cloned());
    RulesSpec {
        uses,
        allow: cat(&base.allow, &env.allow),
        deny: cat(&base.deny, &env.deny),
        request_headers: cat(&base.request_headers, &env.request_headers),
        response_headers: cat(&base.response_headers, &env.response_headers),
        security_headers: env
            .security_headers
            .clone()
            .or_else(|| base.security_headers.clone()),
        hsts: env.hsts.clone().or_else(|| base.hsts.clone()),
        maintenance: env.maintenance.clone().or_else(|| base.maintenance.clone()),
        error_pages,
        basic_auth: env.basic_auth.clone().or_else(|| base.basic_auth.clone()),
        compression: env.compression.clone().or_else(|| base.compression.clone()),
        max_body: env.max_body.clone().or_else(|| base.max_body.clone()),
        rate_limit: env.rate_limit.clone().or_else(|| base.rate_limit.clone()),
    }
}
