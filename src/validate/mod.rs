//! Cross-file validation: turns a decoded [`Spec`] into the checked [`Edge`] model.
//!
//! Decoding already checked every value on its own; here we check how values relate: a host
//! served in one place only, certificate coverage, routes naming real components, distinct
//! cookie and backend names, loopback-only management endpoints, required settings and their
//! defaults. Every problem is collected; the model is built only when there are none, so an
//! `Edge` always describes a consistent edge.
//!
//! One file per part of the spec. `build` calls them in a fixed order (edge-wide settings,
//! envs, outside backends and placeholders, certificates, ports, targets), which is the order
//! the problems are reported in; fixtures and snapshots pin it.
//! - `edge`: edge-wide settings (listeners and TLS, timeouts, health defaults, the stats and
//!   admin endpoints, ports, trusted networks);
//! - `envs`, with `instances` (the servers of a component) and `routes` (routes, reachability,
//!   the default component);
//! - `backends`: outside backends and placeholders;
//! - `certs`: `acme`, its certificate groups and their coverage of the served hosts;
//! - `targets`: where the edge is deployed;
//! - `policies`: the named policies and the rules attached to each place;
//! - `auth`: userlists and basic auth;
//! - `bases`: shared env definitions, merged into each env first;
//! - `redirects`: redirect sites (checked as sites by `backends`) and redirect loops;
//! - `hosts` (who serves each host) and `names` (names shared across parts: the site namespace,
//!   backend names, generated ACL names), read and written by the parts above;
//! - `error`: the diagnostics, [`ValidateError`].
//!
//! [`crate::reach`] decides which routes can match; `routes` turns its answer into diagnostics.

mod auth;
mod backends;
mod bases;
mod certs;
mod edge;
mod envs;
mod error;
mod hosts;
mod instances;
mod limits;
mod names;
mod observe;
mod policies;
mod redirects;
mod routes;
mod targets;
mod tcp;

use std::collections::BTreeMap;

use miette::SourceSpan;

use crate::model::{CookieName, Edge, HealthExpect, Ident, StatusSet};
use crate::spec::{At, ExpectSpec, Note, Spanned, Spec, Src};

pub use error::{Problem, ValidateError};

use hosts::HostOwners;
use names::BackendNames;

/// Collects problems while the model is built.
struct Checker<'s> {
    spec: &'s Spec,
    errors: Vec<ValidateError>,
}

impl Checker<'_> {
    /// The file `at` points into, for a diagnostic's `#[source_code]`.
    fn src(&self, at: At) -> Src {
        self.spec.src(at)
    }
    /// A related note pointing at `at` (where something was first defined or served).
    fn note(&self, at: At, message: impl Into<String>) -> Vec<Note> {
        vec![Note {
            message: message.into(),
            src: self.src(at),
            span: at.span,
        }]
    }
    /// Report a required setting that is absent (`missing_setting`).
    fn missing(&mut self, at: At, what: impl Into<String>, help: impl Into<String>) {
        let e = ValidateError::at(
            self.src(at),
            at.span,
            Problem::MissingSetting {
                what: what.into(),
                help: help.into(),
            },
        );
        self.errors.push(e);
    }
    /// Report settings that contradict each other (`conflict`).
    fn conflict(
        &mut self,
        at: At,
        what: impl Into<String>,
        label: impl Into<String>,
        help: impl Into<String>,
    ) {
        let e = ValidateError::at(
            self.src(at),
            at.span,
            Problem::Conflict {
                what: what.into(),
                label: label.into(),
                help: help.into(),
            },
        );
        self.errors.push(e);
    }

    /// Report a management endpoint (`what`) listening at `address` off loopback; `extra`
    /// adds to the help.
    fn not_loopback(&mut self, at: At, what: &'static str, address: String, extra: &'static str) {
        let e = ValidateError::at(
            self.src(at),
            at.span,
            Problem::NotLoopback {
                what,
                address,
                extra,
            },
        );
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
            self.errors.push(ValidateError::at(
                self.src(name.at),
                name.at.span,
                Problem::DuplicateName {
                    kind,
                    name: key,
                    first,
                },
            ));
            false
        } else {
            seen.insert(key, name.at);
            true
        }
    }

    /// Report a reference to a name that does not exist, suggesting the nearest known one.
    fn unknown(&mut self, at: At, kind: &'static str, name: &str, context: String, known: &[&str]) {
        let help = match crate::diag::closest_above(name, known, 0.7) {
            Some(k) => format!("did you mean `{k}`?"),
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
        self.errors.push(ValidateError::at(
            self.src(at),
            at.span,
            Problem::UnknownReference {
                kind,
                name: name.to_string(),
                context,
                help,
            },
        ));
    }
}

/// The value of an optional spanned setting, without its place.
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

/// What a health check expects, from `health-status=`, `health-body=`, `health-timeout=`.
fn expect_of(e: &ExpectSpec) -> HealthExpect {
    HealthExpect {
        status: val(&e.status).unwrap_or_else(StatusSet::ok),
        body: val(&e.body),
        timeout: val(&e.timeout),
    }
}

/// Check the whole spec and build the model, or return every problem.
pub fn validate(spec: &Spec) -> Result<Edge, Vec<ValidateError>> {
    let mut c = Checker {
        spec,
        errors: Vec::new(),
    };
    let merged = bases::merge(&mut c);
    let mut c = Checker {
        spec: merged.as_ref().unwrap_or(spec),
        errors: c.errors,
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

/// Every part of the spec, checked and built in reporting order. Later parts read what earlier
/// ones recorded: certificates need to know who serves each host, the port check needs every
/// listener.
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
    let mut backends = BackendNames::reserved();
    let envs = envs::envs(c, &mut hosts, &mut backends, &sticky_cookie);
    let mut outside = backends::sites(c, &mut hosts, &mut backends, &spec.outside);
    backends::outside_tls(c, &mut outside);
    let placeholders = backends::sites(c, &mut hosts, &mut backends, &spec.placeholders);
    let redirects = backends::sites(c, &mut hosts, &mut backends, &spec.redirects);
    let tcp = tcp::services(c, &mut backends);
    redirects::loops(c);
    redirects::targets_served(c, &hosts, listen.https.is_some());
    names::site_names_unique(c);

    let acme = certs::acme(c, &hosts, tls.is_some());
    certs::tls_has_certificates(c, tls.is_some(), acme.as_ref());
    let targets = targets::targets(c);
    tcp::not_on_the_box_sshd(c, &tcp, &targets);
    let userlists = auth::userlists(c);
    let policies = policies::named(c, listen.https.is_some());

    let mut edge = Edge {
        name,
        listen,
        tls,
        acme,
        stats,
        admin,
        timeouts,
        health,
        sticky_cookie,
        request_id: policies::request_id(c),
        peers: observe::peers(c),
        metrics: observe::metrics(c),
        access_log: observe::access_log(c),
        trusted: edge::trusted(spec),
        envs,
        outside,
        placeholders,
        redirects,
        tcp,
        targets,
        policies,
        userlists,
        policy: Default::default(),
    };
    policies::attach(c, &mut edge);
    edge::port_clashes(c, &edge);
    edge
}
