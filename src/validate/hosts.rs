//! Who serves each host: every host belongs to one env, outside backend or placeholder.
//!
//! Envs, outside backends and placeholders claim their hosts here as they are checked (a second
//! claim is a `duplicate_host`); the certificate checks then read the owners to resolve
//! `hosts-of=`, to find domains nobody serves and hosts no certificate covers.

use std::collections::BTreeMap;

use crate::model::{Host, Ident};
use crate::spec::{At, Spanned};

use super::{Checker, Problem, ValidateError};

/// The first claim on each host, in host order.
#[derive(Default)]
pub(super) struct HostOwners(BTreeMap<Host, Owner>);

struct Owner {
    /// `env \`staging\``, for messages and to tell owners apart.
    label: String,
    /// The owner's bare name.
    name: String,
    /// Where the host was first listed.
    at: At,
}

impl HostOwners {
    /// Record that the `kind` named `owner` serves `h`; report it if someone already does.
    pub(super) fn claim(
        &mut self,
        c: &mut Checker<'_>,
        h: &Spanned<Host>,
        kind: &str,
        owner: &Ident,
    ) {
        let label = format!("{kind} `{owner}`");
        if let Some(first_owner) = self.0.get(&h.value) {
            let first = c.note(first_owner.at, format!("`{}` first served here", h.value));
            let owner = if first_owner.label == label {
                format!("{label} again")
            } else {
                label
            };
            c.errors.push(ValidateError::at(
                c.src(h.at),
                h.at.span,
                Problem::DuplicateHost {
                    host: h.value.to_string(),
                    owner,
                    first_owner: first_owner.label.clone(),
                    first,
                },
            ));
        } else {
            let owner = Owner {
                label,
                name: owner.to_string(),
                at: h.at,
            };
            self.0.insert(h.value.clone(), owner);
        }
    }

    /// Whether anything serves `host`.
    pub(super) fn is_served(&self, host: &Host) -> bool {
        self.0.contains_key(host)
    }

    /// Whether `host` is served by the owner labelled `label` (`env \`staging\``).
    pub(super) fn is_served_by(&self, host: &Host, label: &str) -> bool {
        self.0.get(host).is_some_and(|o| o.label == label)
    }

    /// Every served host with its owner's name and where it was claimed, in host order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&Host, &str, At)> {
        self.0.iter().map(|(h, o)| (h, o.name.as_str(), o.at))
    }
}
