//! Outside backends and placeholders: the sites that are not envs.
//!
//! Both are a named block that serves some hosts through one rendered backend
//! (`<name>_backend`): an outside backend forwards to a fixed address, a placeholder answers
//! with a fixed status and body. They are checked alike, by one loop ([`sites`]) over a small
//! trait ([`Site`]) that says what differs: the words in the messages and how the model value
//! is built.

use std::collections::BTreeMap;

use crate::model::{Body, Host, Ident, Outside, Placeholder};
use crate::spec::{OutsideSpec, PlaceholderSpec, Spanned};

use super::hosts::HostOwners;
use super::names::BackendNames;
use super::{Checker, expect_of, val};

/// A site block other than an env: its name and hosts, and the model value it becomes.
pub(super) trait Site {
    /// The kind in messages: `outside backend`.
    const KIND: &'static str;
    /// How its backend's producer is named in a clash: `outside`.
    const PRODUCER: &'static str;
    /// The example host in the help for a block without `hosts`.
    const EXAMPLE_HOST: &'static str;
    /// The checked value.
    type Model;

    /// The block's name.
    fn name(&self) -> &Spanned<Ident>;
    /// The hosts it serves.
    fn hosts(&self) -> &[Spanned<Host>];
    /// The model value, or `None` when a required setting is missing (decoding reported it).
    fn model(&self) -> Option<Self::Model>;
}

impl Site for OutsideSpec {
    const KIND: &'static str = "outside backend";
    const PRODUCER: &'static str = "outside";
    const EXAMPLE_HOST: &'static str = "git.example.org";
    type Model = Outside;

    fn name(&self) -> &Spanned<Ident> {
        &self.name
    }
    fn hosts(&self) -> &[Spanned<Host>] {
        &self.hosts
    }
    fn model(&self) -> Option<Outside> {
        Some(Outside {
            name: self.name.value.clone(),
            hosts: self.hosts.iter().map(|h| h.value.clone()).collect(),
            plain_http: self.plain_http.iter().map(|h| h.value.clone()).collect(),
            address: val(&self.address)?,
            health: val(&self.health),
            expect: expect_of(&self.expect),
            policy: Default::default(),
        })
    }
}

impl Site for PlaceholderSpec {
    const KIND: &'static str = "placeholder";
    const PRODUCER: &'static str = "placeholder";
    const EXAMPLE_HOST: &'static str = "example.org";
    type Model = Placeholder;

    fn name(&self) -> &Spanned<Ident> {
        &self.name
    }
    fn hosts(&self) -> &[Spanned<Host>] {
        &self.hosts
    }
    fn model(&self) -> Option<Placeholder> {
        Some(Placeholder {
            name: self.name.value.clone(),
            hosts: self.hosts.iter().map(|h| h.value.clone()).collect(),
            plain_http: self.plain_http.iter().map(|h| h.value.clone()).collect(),
            status: val(&self.status).unwrap_or(503),
            body: val(&self.body).unwrap_or_else(|| Body::parse("Service unavailable\n").unwrap()),
            html: val(&self.html).unwrap_or(false),
            policy: Default::default(),
        })
    }
}

/// Check every site of one kind, in spec order: a unique name, its hosts claimed, at least one
/// host, a backend name of its own. Returns the ones that could be built.
pub(super) fn sites<S: Site>(
    c: &mut Checker<'_>,
    hosts: &mut HostOwners,
    backends: &mut BackendNames,
    specs: &[S],
) -> BTreeMap<Ident, S::Model> {
    let mut built = BTreeMap::new();
    let mut names = BTreeMap::new();
    for s in specs {
        let name = s.name();
        if !c.unique(&mut names, name, S::KIND) {
            continue;
        }
        for h in s.hosts() {
            hosts.claim(c, h, S::KIND, &name.value);
        }
        if s.hosts().is_empty() {
            c.missing(
                name.at,
                format!("{} `{}` has no `hosts`", S::KIND, name.value),
                format!("add `hosts \"{}\"` in its block", S::EXAMPLE_HOST),
            );
        }
        backends.claim(
            c,
            format!("{}_backend", name.value),
            format!("{} `{}`", S::PRODUCER, name.value),
            name.at,
        );
        if let Some(model) = s.model() {
            built.insert(name.value.clone(), model);
        }
    }
    built
}
