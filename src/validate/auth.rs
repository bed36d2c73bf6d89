//! Basic authentication: the userlists (each name once, each user once per list) and the
//! `basic-auth` rules (a known userlist, a realm, bypass networks — and never where a password
//! would cross the network in clear).

use std::collections::BTreeMap;

use super::{Checker, val};
use crate::model::{BasicAuth, Ident, Realm, User, Userlist};
use crate::spec::{At, RulesSpec};

/// The realm when the spec gives none.
pub const DEFAULT_REALM: &str = "Restricted";

/// The userlists, each name once, each user once per list.
pub(super) fn userlists(c: &mut Checker<'_>) -> BTreeMap<Ident, Userlist> {
    let mut seen = BTreeMap::new();
    let mut out = BTreeMap::new();
    for l in &c.spec.userlists {
        if !c.unique(&mut seen, &l.name, "userlist") {
            continue;
        }
        let mut users_seen = BTreeMap::new();
        let mut users = Vec::new();
        for u in &l.users {
            if !c.unique(&mut users_seen, &u.name, "user") {
                continue;
            }
            if let Some(p) = &u.password {
                users.push(User {
                    name: u.name.value.clone(),
                    password: p.value.clone(),
                });
            }
        }
        out.insert(
            l.name.value.clone(),
            Userlist {
                name: l.name.value.clone(),
                users,
            },
        );
    }
    out
}

/// A place's `basic-auth`: its userlist defined, `trusted` in its bypass standing for the
/// edge's trusted networks.
pub(super) fn basic_auth(c: &mut Checker<'_>, spec: &RulesSpec) -> Option<BasicAuth> {
    let b = spec.basic_auth.as_ref()?;
    let userlist = b.value.userlist.as_ref()?;
    let known: Vec<String> = c
        .spec
        .userlists
        .iter()
        .map(|l| l.name.value.to_string())
        .collect();
    if !known.iter().any(|k| k == userlist.value.as_str()) {
        let refs: Vec<&str> = known.iter().map(String::as_str).collect();
        c.unknown(
            userlist.at,
            "userlist",
            userlist.value.as_str(),
            " (in `basic-auth`; define it with `userlist \"team\" { user … }`)".into(),
            &refs,
        );
        return None;
    }
    Some(BasicAuth {
        userlist: userlist.value.clone(),
        realm: val(&b.value.realm)
            .unwrap_or_else(|| Realm::parse(DEFAULT_REALM).expect("a valid realm")),
        bypass: super::policies::bypass_networks(c, &b.value.bypass, "basic-auth bypass"),
    })
}

/// Where `spec` (a place's rules) asks for basic auth: its own `basic-auth` node, or the use of
/// a named policy that holds one.
pub(super) fn asked_at(c: &Checker<'_>, spec: &RulesSpec) -> Option<At> {
    if let Some(b) = &spec.basic_auth {
        return Some(b.at);
    }
    spec.uses.iter().find_map(|u| {
        c.spec
            .policies
            .iter()
            .find(|p| p.name.value == u.value && p.rules.basic_auth.is_some())
            .map(|_| u.at)
    })
}

/// Refuse basic auth at `at` when the requests it guards may come over plain HTTP (`why`).
pub(super) fn over_plain_http(c: &mut Checker<'_>, at: At, why: &str) {
    c.conflict(
        at,
        format!(
            "basic auth where {why}: a password would cross the network in clear, or those \
             requests go unguarded"
        ),
        "credentials over plain HTTP",
        "serve these hosts over HTTPS only (add `https=` to `listen` and `tls`, drop \
         `plain-http=#true`), or guard them with `allow` networks instead",
    );
}
