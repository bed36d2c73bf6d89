//! Targets: the boxes the edge is deployed to, each reached by exactly one transport.
//!
//! A target's validate and reload commands and its reload timeout get their defaults here (the
//! stock `haproxy -c -f`, `systemctl reload haproxy`, 30s), so `apply` never guesses. A target
//! whose transport is missing or given twice is reported and left out of the model.

use std::collections::BTreeMap;

use crate::model::{Arg, Duration, Ident, Target, Transport};
use crate::spec::{TargetSpec, TransportSpec};

use super::{Checker, val};

/// Every target with a unique name and one usable transport.
pub(super) fn targets(c: &mut Checker<'_>) -> BTreeMap<Ident, Target> {
    let mut targets = BTreeMap::new();
    let mut names = BTreeMap::new();
    for t in &c.spec.targets {
        if !c.unique(&mut names, &t.name, "target") {
            continue;
        }
        let Some(transport) = transport(c, t) else {
            continue;
        };
        targets.insert(
            t.name.value.clone(),
            Target {
                name: t.name.value.clone(),
                transport,
                validate: val(&t.validate).unwrap_or_else(|| command(&["haproxy", "-c", "-f"])),
                reload: val(&t.reload)
                    .unwrap_or_else(|| command(&["systemctl", "reload", "haproxy"])),
                reload_timeout: t
                    .reload_timeout
                    .as_ref()
                    .map_or(Duration::secs(30), |d| d.value),
            },
        );
    }
    targets
}

/// The one transport of target `t`; `None` when there is none, more than one, or it lacks its
/// required setting (decoding reported that).
fn transport(c: &mut Checker<'_>, t: &TargetSpec) -> Option<Transport> {
    match t.transports.as_slice() {
        [one] => match &one.value {
            TransportSpec::Local { root } => root.as_ref().map(|r| Transport::Local {
                root: r.value.clone(),
            }),
            TransportSpec::Ssh {
                host,
                user,
                port,
                identity,
            } => host.as_ref().map(|h| Transport::Ssh {
                host: h.value.clone(),
                user: val(user),
                port: val(port),
                identity: val(identity),
            }),
            TransportSpec::Incus { container, remote } => {
                container.as_ref().map(|ct| Transport::Incus {
                    container: ct.value.clone(),
                    remote: val(remote),
                })
            }
        },
        [] => {
            c.missing(
                t.name.at,
                format!("target `{}` has no transport", t.name.value),
                "add one of `local root=…`, `ssh host=…`, `incus container=…`",
            );
            None
        }
        [_, second, ..] => {
            c.conflict(
                second.at,
                format!("target `{}` has more than one transport", t.name.value),
                "second transport",
                "a target is reached one way; make a second target for the other",
            );
            None
        }
    }
}

/// A default command line, from words known to be valid arguments.
fn command(words: &[&str]) -> Vec<Arg> {
    words.iter().map(|w| Arg::parse(w).unwrap()).collect()
}
