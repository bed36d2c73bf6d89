//! Let's Encrypt: the `acme` block, its certificate groups, and how they cover the served hosts.
//!
//! Runs after every env, outside backend and placeholder has claimed its hosts
//! ([`HostOwners`]): a group's `hosts-of=` takes the hosts its site really serves, each domain
//! must be served by something and belong to one group only (or HAProxy's choice by SNI is
//! ambiguous), and with TLS on every served host needs a group. The challenge responder is a
//! management endpoint, so loopback only.

use std::collections::BTreeMap;

use crate::model::{Acme, CertName, Directory, Host, Ident, KeyType, Port};
use crate::spec::{AcmeSpec, CertSpec, Spanned};

use super::hosts::HostOwners;
use super::{Checker, Problem, ValidateError, top, val};

/// The ACME settings and certificate groups, if there is an `acme` block; `None` as well when
/// it lacks the account email (its groups are still checked). `tls_on`: every served host
/// needs a certificate.
pub(super) fn acme(c: &mut Checker<'_>, hosts: &HostOwners, tls_on: bool) -> Option<Acme> {
    let a = c.spec.acme.as_ref()?;
    let email = match &a.value.email {
        Some(e) => Some(e.value.clone()),
        None => {
            c.missing(
                a.at,
                "`acme` needs the account `email=`",
                "for example: acme email=\"ops@example.org\" directory=\"production\"",
            );
            None
        }
    };
    let (challenge_port, challenge_host) = challenge(c, &a.value);
    let (certificates, cert_of) = certificates(c, &a.value, hosts);
    if tls_on {
        uncovered_hosts(c, hosts, &cert_of);
    }
    Some(Acme {
        email: email?,
        directory: val(&a.value.directory).unwrap_or(Directory::Production),
        challenge_port,
        challenge_host,
        key_type: val(&a.value.key_type).unwrap_or(KeyType::Ecdsa),
        certificates,
    })
}

/// With TLS on, HAProxy refuses to start on an empty certificate directory: there must be an
/// `acme` block with at least one certificate group.
pub(super) fn tls_has_certificates(c: &mut Checker<'_>, tls_on: bool, acme: Option<&Acme>) {
    let spec = c.spec;
    let no_certs = acme.is_some_and(|a| a.certificates.is_empty());
    if tls_on && (spec.acme.is_none() || no_certs) {
        let at = spec.tls.as_ref().map_or(top(), |t| t.at);
        c.missing(
            at,
            "TLS is on but no certificates are defined",
            "add an `acme` block with a `certificate` per group of hosts (HAProxy refuses to start on an empty certificate directory)",
        );
    }
}

/// Where the challenge responder listens: (port, host), on loopback, the port given once.
fn challenge(c: &mut Checker<'_>, a: &AcmeSpec) -> (Port, String) {
    if let Some(addr) = &a.challenge_address
        && !addr.value.is_loopback()
    {
        c.not_loopback(
            addr.at,
            "the ACME challenge responder",
            addr.value.to_string(),
            "",
        );
    }
    if let (Some(p), Some(addr)) = (&a.challenge_port, &a.challenge_address)
        && p.value != addr.value.port
    {
        c.conflict(
            p.at,
            format!(
                "`challenge-port={}` contradicts `challenge-address=\"{}\"`",
                p.value, addr.value
            ),
            "a different port",
            "give the port once, in `challenge-address` or `challenge-port`",
        );
    }
    let port = val(&a.challenge_port)
        .or_else(|| a.challenge_address.as_ref().map(|s| s.value.port))
        .unwrap_or(Port::of(8888));
    let host = a
        .challenge_address
        .as_ref()
        .map_or_else(|| "127.0.0.1".to_string(), |s| s.value.host.clone());
    (port, host)
}

/// Every certificate group with its sorted domains, and which group each domain went to.
fn certificates(
    c: &mut Checker<'_>,
    a: &AcmeSpec,
    hosts: &HostOwners,
) -> (BTreeMap<CertName, Vec<Host>>, BTreeMap<Host, String>) {
    let mut certificates = BTreeMap::new();
    let mut names = BTreeMap::new();
    let mut cert_of: BTreeMap<Host, String> = BTreeMap::new();
    for cert in &a.certificates {
        if !c.unique(&mut names, &cert.name, "certificate") {
            continue;
        }
        let mut domains: Vec<Spanned<Host>> = cert.domains.clone();
        if let Some(of) = &cert.hosts_of {
            domains.extend(hosts_of(c, cert, of, hosts));
        }
        if domains.is_empty() && cert.hosts_of.is_none() {
            c.missing(
                cert.name.at,
                format!("certificate `{}` has no domains", cert.name.value),
                "add `domains \"example.org\"` or `hosts-of=\"NAME\"`",
            );
        }
        let list = group(c, cert, &domains, hosts, &mut cert_of);
        if list.len() > crate::certbot::MAX_DOMAINS {
            let e = ValidateError::at(
                c.src(cert.name.at),
                cert.name.at.span,
                Problem::TooManyDomains {
                    cert: cert.name.value.to_string(),
                    count: list.len(),
                    max: crate::certbot::MAX_DOMAINS,
                },
            );
            c.errors.push(e);
        }
        certificates.insert(cert.name.value.clone(), list);
    }
    (certificates, cert_of)
}

/// The hosts `hosts-of="NAME"` brings into a group, placed at the `hosts-of`: only those the
/// site named really serves (a host it lists that is served elsewhere is already reported as a
/// duplicate). Looks in the spec, not the model: an env missing a setting still has hosts.
fn hosts_of(
    c: &mut Checker<'_>,
    cert: &CertSpec,
    of: &Spanned<Ident>,
    hosts: &HostOwners,
) -> Vec<Spanned<Host>> {
    let spec = c.spec;
    let name = &of.value;
    let mut found: Vec<(String, &Vec<Spanned<Host>>)> = Vec::new();
    // An env's preview host is one of the hosts it serves.
    let mut preview = Vec::new();
    if let Some(e) = spec.envs.iter().find(|e| e.name.value == *name) {
        found.push((format!("env `{name}`"), &e.hosts));
        preview.extend(
            e.preview
                .iter()
                .filter(|h| hosts.is_served_by(&h.value, &format!("the preview of env `{name}`")))
                .map(|h| Spanned {
                    value: h.value.clone(),
                    at: of.at,
                }),
        );
    }
    if let Some(o) = spec.outside.iter().find(|o| o.name.value == *name) {
        found.push((format!("outside backend `{name}`"), &o.hosts));
    }
    if let Some(p) = spec.placeholders.iter().find(|p| p.name.value == *name) {
        found.push((format!("placeholder `{name}`"), &p.hosts));
    }
    if let Some(r) = spec.redirects.iter().find(|r| r.name.value == *name) {
        found.push((format!("redirect `{name}`"), &r.hosts));
    }
    match found.as_slice() {
        [] => {
            let mut known: Vec<&str> = spec
                .envs
                .iter()
                .map(|e| &e.name)
                .chain(spec.outside.iter().map(|o| &o.name))
                .chain(spec.placeholders.iter().map(|p| &p.name))
                .chain(spec.redirects.iter().map(|r| &r.name))
                .map(|n| n.value.as_str())
                .collect();
            known.sort();
            known.dedup();
            c.unknown(
                of.at,
                "env, outside backend, placeholder or redirect",
                name.as_str(),
                format!(" (certificate `{}`)", cert.name.value),
                &known,
            );
            Vec::new()
        }
        [(label, listed)] => listed
            .iter()
            .filter(|h| hosts.is_served_by(&h.value, label))
            .map(|h| Spanned {
                value: h.value.clone(),
                at: of.at,
            })
            .chain(preview)
            .collect(),
        // Several things share the name: already reported as a duplicate name.
        _ => Vec::new(),
    }
}

/// The domains of group `cert`, sorted, recording each in `cert_of`: a domain already in
/// another group, or served by nothing, is reported.
fn group(
    c: &mut Checker<'_>,
    cert: &CertSpec,
    domains: &[Spanned<Host>],
    hosts: &HostOwners,
    cert_of: &mut BTreeMap<Host, String>,
) -> Vec<Host> {
    let mut list = Vec::new();
    for d in domains {
        if let Some(first_cert) = cert_of.get(&d.value) {
            if *first_cert != cert.name.value.as_str() {
                let e = ValidateError::at(
                    c.src(d.at),
                    d.at.span,
                    Problem::HostInTwoCertificates {
                        host: d.value.to_string(),
                        cert: cert.name.value.to_string(),
                        first_cert: first_cert.clone(),
                    },
                );
                c.errors.push(e);
            }
            continue;
        }
        cert_of.insert(d.value.clone(), cert.name.value.to_string());
        if !hosts.is_served(&d.value) {
            let e = ValidateError::at(
                c.src(d.at),
                d.at.span,
                Problem::UnservedDomain {
                    host: d.value.to_string(),
                    cert: cert.name.value.to_string(),
                },
            );
            c.errors.push(e);
        }
        list.push(d.value.clone());
    }
    list.sort();
    list
}

/// With TLS on, every served host needs a certificate group; reported in host order.
fn uncovered_hosts(c: &mut Checker<'_>, hosts: &HostOwners, cert_of: &BTreeMap<Host, String>) {
    for (host, owner, at) in hosts.iter() {
        if !cert_of.contains_key(host) {
            let e = ValidateError::at(
                c.src(at),
                at.span,
                Problem::UncoveredHost {
                    host: host.to_string(),
                    owner: owner.to_string(),
                },
            );
            c.errors.push(e);
        }
    }
}
