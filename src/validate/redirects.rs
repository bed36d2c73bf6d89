//! Redirect sites: a site like an outside backend or a placeholder ([`super::backends::Site`]),
//! and redirect loops — a chain of redirect sites that comes back to where it started
//! (`www.example.org` → `example.org` → `www.example.org`) is refused, as no client could
//! ever get an answer.

use std::collections::BTreeMap;

use crate::model::{Host, Ident, Redirect};
use crate::spec::{Note, RedirectSpec, Spanned};

use super::backends::Site;
use super::{Checker, val};

impl Site for RedirectSpec {
    const KIND: &'static str = "redirect";
    const PRODUCER: &'static str = "redirect";
    const EXAMPLE_HOST: &'static str = "www.example.org";
    type Model = Redirect;

    fn name(&self) -> &Spanned<Ident> {
        &self.name
    }
    fn hosts(&self) -> &[Spanned<Host>] {
        &self.hosts
    }
    fn model(&self) -> Option<Redirect> {
        Some(Redirect {
            name: self.name.value.clone(),
            hosts: self.hosts.iter().map(|h| h.value.clone()).collect(),
            to: val(&self.to)?,
            status: val(&self.status).unwrap_or(301),
            keep_path: val(&self.keep_path).unwrap_or(true),
            policy: Default::default(),
        })
    }
}

/// Refuse a redirect site that sends clients to `https://HOST` of a host this edge serves when
/// the edge has no https listener: no certificate covers that host here, so the client lands on
/// a port that does not speak TLS. (With TLS on, every served host must be covered already.)
pub(super) fn targets_served(c: &mut Checker<'_>, hosts: &super::hosts::HostOwners, https: bool) {
    if https {
        return;
    }
    for r in &c.spec.redirects {
        let Some(to) = &r.to else { continue };
        if to.value.https && to.value.port.is_none() && hosts.is_served(&to.value.host) {
            c.conflict(
                to.at,
                format!(
                    "redirect `{}` sends clients to {}, a host this edge serves, but the edge \
                     has no https listener: no certificate covers {} here",
                    r.name.value, to.value, to.value.host
                ),
                "no certificate covers it",
                format!(
                    "redirect to `http://{}`, or add `https=` to `listen`, `tls` and a \
                     certificate for it",
                    to.value.host
                ),
            );
        }
    }
}

/// Refuse every redirect site whose chain of targets comes back to one of its own hosts.
pub(super) fn loops(c: &mut Checker<'_>) {
    let spec = c.spec;
    // Host → the redirect site serving it.
    let by_host: BTreeMap<&Host, &RedirectSpec> = spec
        .redirects
        .iter()
        .flat_map(|r| r.hosts.iter().map(move |h| (&h.value, r)))
        .collect();
    for r in &spec.redirects {
        let Some(to) = &r.to else { continue };
        let mut chain: Vec<&RedirectSpec> = vec![r];
        let mut next = by_host.get(&to.value.host).copied();
        while let Some(n) = next {
            if n.name.value == r.name.value {
                let path: Vec<String> = chain
                    .iter()
                    .map(|s| s.to.as_ref().map_or(String::new(), |t| t.value.to_string()))
                    .collect();
                let notes: Vec<Note> = chain
                    .iter()
                    .skip(1)
                    .filter_map(|s| s.to.as_ref())
                    .flat_map(|t| c.note(t.at, format!("then to {}", t.value)))
                    .collect();
                c.errors.push(super::ValidateError::at(
                    c.src(to.at),
                    to.at.span,
                    super::Problem::RedirectLoop {
                        site: r.name.value.to_string(),
                        chain: path.join(" → "),
                        notes,
                    },
                ));
                break;
            }
            if chain.iter().any(|s| s.name.value == n.name.value) {
                break; // a loop that does not pass through `r`: reported from its own sites
            }
            chain.push(n);
            next =
                n.to.as_ref()
                    .and_then(|t| by_host.get(&t.value.host).copied());
        }
    }
}
