//! Names shared across the parts of the spec, which must not collide once rendered: the site
//! namespace (envs, outside backends and placeholders), backend names, and generated ACL names.
//!
//! Each part is checked for duplicates of its own kind where it is built; these checks catch
//! what only shows when the parts meet, in the names HAProxy sees. A collision there would
//! render a config that routes wrongly rather than one HAProxy refuses, so it is refused here.

use std::collections::BTreeMap;

use crate::model::Edge;
use crate::spec::At;

use super::{Checker, Problem, ValidateError, top};

/// The backend names produced so far: backend → what produces it (`outside \`git\``).
pub(super) struct BackendNames(BTreeMap<String, String>);

impl BackendNames {
    /// Built-in backends reserve their names before anything else is checked.
    pub(super) fn reserved() -> BackendNames {
        BackendNames(
            [crate::rules::ACME_BACKEND, crate::rules::DEFAULT_BACKEND]
                .into_iter()
                .map(|b| (b.to_string(), "edgeplan's built-in backend".to_string()))
                .collect(),
        )
    }

    /// Record that `producer` (placed at `at`) renders a backend named `backend`; report it if
    /// something else already does.
    pub(super) fn claim(&mut self, c: &mut Checker<'_>, backend: String, producer: String, at: At) {
        if let Some(first) = self.0.get(&backend) {
            let e = ValidateError::at(
                c.src(at),
                at.span,
                Problem::BackendNameClash {
                    backend,
                    first: first.clone(),
                    second: producer,
                },
            );
            c.errors.push(e);
        } else {
            self.0.insert(backend, producer);
        }
    }
}

/// Envs, outside backends and placeholders share one namespace: each gets an ACL
/// `host_<name>` and `hosts-of` refers to any of them. A name shared within one kind is
/// reported where that kind is checked.
pub(super) fn site_names_unique(c: &mut Checker<'_>) {
    let spec = c.spec;
    let mut sites: BTreeMap<String, (&'static str, At)> = BTreeMap::new();
    let named = spec
        .envs
        .iter()
        .map(|e| ("env", &e.name))
        .chain(spec.outside.iter().map(|o| ("outside backend", &o.name)))
        .chain(spec.placeholders.iter().map(|p| ("placeholder", &p.name)))
        .chain(spec.redirects.iter().map(|r| ("redirect", &r.name)));
    for (kind, name) in named {
        match sites.get(name.value.as_str()) {
            Some((first_kind, first_at)) if *first_kind != kind => {
                let first = c.note(
                    *first_at,
                    format!("{first_kind} `{}` defined here", name.value),
                );
                c.errors.push(ValidateError::at(
                    c.src(name.at),
                    name.at.span,
                    Problem::DuplicateName {
                        kind: "env, outside backend, placeholder or redirect",
                        name: name.value.to_string(),
                        first,
                    },
                ));
            }
            Some(_) => {}
            None => {
                sites.insert(name.value.to_string(), (kind, name.at));
            }
        }
    }
}

/// Generated ACL names (`host_<name>`, `<env>_is_<route>`, `<env>_is_<route>_end`) are built
/// from names that may contain `_`, so two different tests could get one name and HAProxy
/// would OR them. Refuse that instead of rendering a config that routes wrongly.
///
/// Runs on the built model, once everything else is clean: it needs the routing table.
pub(super) fn acl_names_unique(c: &mut Checker<'_>, edge: &Edge) {
    let routing = crate::rules::routing(edge, &crate::state::ActiveColors::from_specs(edge));
    for fe in &routing.frontends {
        let mut seen: BTreeMap<&str, &crate::rules::Test> = BTreeMap::new();
        for acl in &fe.acls {
            match seen.get(acl.name.as_str()) {
                Some(test) if *test != &acl.test => {
                    // Point at the env (or site) whose name starts the ACL name, if any.
                    let at = c
                        .spec
                        .envs
                        .iter()
                        .map(|e| &e.name)
                        .chain(c.spec.outside.iter().map(|o| &o.name))
                        .chain(c.spec.placeholders.iter().map(|p| &p.name))
                        .rfind(|n| acl.name.contains(n.value.as_str()))
                        .map_or(top(), |n| n.at);
                    c.conflict(
                        at,
                        format!("two different tests would both be named ACL `{}`", acl.name),
                        "involved here",
                        "rename a route, env, outside backend or placeholder so the generated ACL names differ (e.g. avoid route names ending in `_end`)",
                    );
                }
                Some(_) => {}
                None => {
                    seen.insert(&acl.name, &acl.test);
                }
            }
        }
    }
}
