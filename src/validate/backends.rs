//! Outside backends and placeholders: the sites that are not envs.
//!
//! Both are a named block that serves some hosts through one rendered backend
//! (`<name>_backend`): an outside backend forwards to a fixed address, a placeholder answers
//! with a fixed status and body. They are checked alike, by one loop ([`sites`]) over a small
//! trait ([`Site`]) that says what differs: the words in the messages and how the model value
//! is built.

use std::collections::BTreeMap;

use crate::model::{BackendTls, BackendVerify, Body, Host, Ident, Outside, Placeholder};
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
            tls: None,
            policy: Default::default(),
        })
    }
}

/// The `tls` of each outside backend: `verify="required"` (the default) needs a `ca-file=`;
/// the name sent and checked is `sni=`, else the address's host name.
pub(super) fn outside_tls(c: &mut Checker<'_>, outside: &mut BTreeMap<Ident, Outside>) {
    for o in &c.spec.outside {
        let Some(t) = &o.tls else {
            continue;
        };
        let verify = match (val(&t.value.verify).unwrap_or(true), val(&t.value.ca_file)) {
            (true, Some(ca_file)) => BackendVerify::Required { ca_file },
            (true, None) => {
                c.missing(
                    t.at,
                    format!(
                        "TLS to outside backend `{}` verifies the server's certificate but names \
                         no CA",
                        o.name.value
                    ),
                    "add `ca-file=\"/etc/edgeplan/ca/NAME.pem\"` (the CA that signed the server's \
                     certificate, on the box), or say `verify=\"none\"` to skip the check",
                );
                continue;
            }
            (false, _) => BackendVerify::None,
        };
        let Some(site) = outside.get_mut(&o.name.value) else {
            continue;
        };
        // SNI carries names, never addresses (RFC 6066 section 3).
        let bare = site
            .address
            .host
            .trim_start_matches('[')
            .trim_end_matches(']');
        let host_name = bare
            .parse::<std::net::IpAddr>()
            .is_err()
            .then(|| Host::parse(bare).ok())
            .flatten();
        site.tls = Some(BackendTls {
            verify,
            sni: val(&t.value.sni).or(host_name),
            client_certificate: val(&t.value.client_certificate),
        });
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
