//! Policies: the named `policy` definitions, and the rules attached to the edge, envs, routes,
//! outside backends and placeholders — names used exist and are used once per place, an
//! `allow` list is not swallowed by a `deny` list, HSTS is only asked of an edge that serves
//! HTTPS and `preload` only with what the preload list requires.

use std::collections::BTreeMap;

use super::{Checker, val};
use crate::model::{
    Access, Attached, Body, Compression, DEFAULT_COMPRESSED_TYPES, DEFAULT_MAINTENANCE_PAGE, Edge,
    ErrorPage, FrameOptions, HSTS_PRELOAD_MIN_AGE, HeaderAction, HeaderName, HeaderRule, Hsts,
    Ident, Maintenance, MediaType, Network, Policy, ReferrerPolicy, Rules, SecurityHeaders,
};
use crate::spec::{BypassSpec, HeaderSpec, HeaderVerb, RulesSpec, Spanned};

/// The named policies, each name once.
pub(super) fn named(c: &mut Checker<'_>, https: bool) -> BTreeMap<Ident, Policy> {
    let mut seen = BTreeMap::new();
    let mut out = BTreeMap::new();
    for p in &c.spec.policies {
        if !c.unique(&mut seen, &p.name, "policy") {
            continue;
        }
        let rules = rules(c, &p.rules, https);
        out.insert(
            p.name.value.clone(),
            Policy {
                name: p.name.value.clone(),
                rules,
            },
        );
    }
    out
}

/// Attach every place's rules to `edge`, whose `policies` are the named ones.
pub(super) fn attach(c: &mut Checker<'_>, edge: &mut Edge) {
    let spec = c.spec;
    let https = edge.listen.https.is_some();
    let named = edge.policies.clone();
    let known = &named;
    // Where a request may come over plain HTTP, basic auth would send its password in clear.
    let clear = |plain: Option<&str>| -> Option<String> {
        if !https {
            Some("the edge has no https listener".into())
        } else {
            plain.map(|who| format!("{who} serves hosts over plain HTTP (`plain-http=#true`)"))
        }
    };
    let plain_site = |kind: &str, name: &Ident, plain: &[crate::model::Host]| {
        (!plain.is_empty()).then(|| format!("{kind} `{name}`"))
    };
    let plain_any = edge
        .envs
        .values()
        .find_map(|e| plain_site("env", &e.name, &e.plain_http))
        .or_else(|| {
            edge.outside
                .values()
                .find_map(|o| plain_site("outside backend", &o.name, &o.plain_http))
        })
        .or_else(|| {
            edge.placeholders
                .values()
                .find_map(|p| plain_site("placeholder", &p.name, &p.plain_http))
        });
    no_auth_in_clear(c, &spec.rules, clear(plain_any.as_deref()));
    edge.policy = attached(c, &spec.rules, known, https, "at top level", true);
    for e in &spec.envs {
        let Some(env) = edge.envs.get_mut(&e.name.value) else {
            continue;
        };
        let context = format!("in env `{}`", env.name);
        let plain = plain_site("env", &env.name, &env.plain_http);
        no_auth_in_clear(c, &e.rules, clear(plain.as_deref()));
        env.policy = attached(c, &e.rules, known, https, &context, true);
        for (hosts, rules) in &e.host_rules {
            let names: Vec<String> = hosts.iter().map(|h| h.value.to_string()).collect();
            let context = format!("on hosts {} of env `{}`", names.join(" "), env.name);
            let in_clear = hosts
                .iter()
                .find(|h| env.plain_http.contains(&h.value))
                .map(|_| format!("env `{}`", env.name));
            no_auth_in_clear(c, rules, clear(in_clear.as_deref()));
            super::limits::no_rate_limit_on_hosts(c, rules, known, &context);
            let policy = attached(c, rules, known, https, &context, false);
            env.host_policies.push(crate::model::HostPolicy {
                hosts: hosts.iter().map(|h| h.value.clone()).collect(),
                policy,
            });
        }
        for r in &e.routes {
            let context = format!("in route `{}` of env `{}`", r.name.value, env.name);
            no_auth_in_clear(c, &r.rules, clear(plain.as_deref()));
            let rules = attached(c, &r.rules, known, https, &context, false);
            if let Some(route) = env.routes.iter_mut().find(|x| x.name == r.name.value) {
                route.policy = rules;
            }
        }
    }
    for o in &spec.outside {
        let plain = edge
            .outside
            .get(&o.name.value)
            .and_then(|x| plain_site("outside backend", &x.name, &x.plain_http));
        no_auth_in_clear(c, &o.rules, clear(plain.as_deref()));
        let context = format!("in outside backend `{}`", o.name.value);
        let rules = attached(c, &o.rules, known, https, &context, true);
        if let Some(site) = edge.outside.get_mut(&o.name.value) {
            site.policy = rules;
        }
    }
    for r in &spec.redirects {
        // A redirect site answers plain-HTTP requests itself (one hop to its target), so basic
        // auth could only ever guard its https side.
        let why = format!(
            "redirect site `{}` answers plain-HTTP requests too (one hop to its target)",
            r.name.value
        );
        no_auth_in_clear(c, &r.rules, Some(why));
        let context = format!("in redirect `{}`", r.name.value);
        let rules = attached(c, &r.rules, known, https, &context, false);
        if let Some(site) = edge.redirects.get_mut(&r.name.value) {
            site.policy = rules;
        }
    }
    for p in &spec.placeholders {
        let plain = edge
            .placeholders
            .get(&p.name.value)
            .and_then(|x| plain_site("placeholder", &x.name, &x.plain_http));
        no_auth_in_clear(c, &p.rules, clear(plain.as_deref()));
        let context = format!("in placeholder `{}`", p.name.value);
        let rules = attached(c, &p.rules, known, https, &context, false);
        if let Some(site) = edge.placeholders.get_mut(&p.name.value) {
            site.policy = rules;
        }
    }
}

/// Refuse the basic auth `spec` asks for (inline or by a policy it uses) when `clear` says
/// why its requests may come over plain HTTP.
fn no_auth_in_clear(c: &mut Checker<'_>, spec: &RulesSpec, clear: Option<String>) {
    if let (Some(why), Some(at)) = (clear, super::auth::asked_at(c, spec)) {
        super::auth::over_plain_http(c, at, &why);
    }
}

/// The rules of one place: the policies it uses (known, each once) and its inline rules.
fn attached(
    c: &mut Checker<'_>,
    spec: &RulesSpec,
    named: &BTreeMap<Ident, Policy>,
    https: bool,
    context: &str,
    pages: bool,
) -> Attached {
    let known: Vec<String> = named.keys().map(|k| k.to_string()).collect();
    let mut uses: Vec<Ident> = Vec::new();
    let known_refs: Vec<&str> = known.iter().map(String::as_str).collect();
    let known = &known;
    for u in &spec.uses {
        if !known.iter().any(|k| k == u.value.as_str()) {
            c.unknown(
                u.at,
                "policy",
                u.value.as_str(),
                format!(" ({context})"),
                &known_refs,
            );
        } else if uses.contains(&u.value) {
            c.conflict(
                u.at,
                format!("policy `{}` is used twice {context}", u.value),
                "used again",
                "a policy applies once per place; remove the second use",
            );
        } else {
            if !pages
                && named.get(&u.value).is_some_and(|p| {
                    !p.rules.error_pages.is_empty() || p.rules.compression.is_some()
                })
            {
                pages_misplaced(c, u.at, context);
            }
            uses.push(u.value.clone());
        }
    }
    super::limits::one_rate_limit(c, spec, named, context);
    if !pages {
        for e in &spec.error_pages {
            pages_misplaced(c, e.at, context);
        }
        if let Some(z) = &spec.compression {
            pages_misplaced(c, z.at, context);
        }
    }
    Attached {
        uses,
        inline: rules(c, spec, https),
    }
}

/// Error pages stand where a backend is the place's own: the edge, an env, an outside backend.
fn pages_misplaced(c: &mut Checker<'_>, at: crate::spec::At, context: &str) {
    c.conflict(
        at,
        format!(
            "error pages or compression {context}: haproxy sets them per backend, and only \
                 the edge, an env or an outside backend has backends of its own"
        ),
        "no backend of its own",
        "put the `error-page` or `compression` in the env (or the edge-wide policies)",
    )
}

/// One set of rules, checked.
fn rules(c: &mut Checker<'_>, spec: &RulesSpec, https: bool) -> Rules {
    Rules {
        access: access(c, spec),
        rate_limit: super::limits::rate_limit(c, spec),
        body_limit: super::limits::body_limit(spec),
        maintenance: maintenance(c, spec),
        basic_auth: super::auth::basic_auth(c, spec),
        compression: spec.compression.as_ref().map(|t| Compression {
            types: if t.value.is_empty() {
                DEFAULT_COMPRESSED_TYPES
                    .iter()
                    .map(|m| MediaType::parse(m).expect("a valid media type"))
                    .collect()
            } else {
                let mut types: Vec<MediaType> = t.value.iter().map(|m| m.value.clone()).collect();
                types.dedup();
                types
            },
        }),
        error_pages: error_pages(c, spec),
        request_headers: spec.request_headers.iter().filter_map(header).collect(),
        response_headers: spec.response_headers.iter().filter_map(header).collect(),
        security_headers: spec.security_headers.as_ref().map(|s| SecurityHeaders {
            frame_options: val(&s.value.frame_options).unwrap_or(FrameOptions::SameOrigin),
            referrer_policy: val(&s.value.referrer_policy)
                .unwrap_or_else(ReferrerPolicy::default_policy),
        }),
        hsts: hsts(c, spec, https),
    }
}

/// `allow` and `deny`: an allowed network inside a denied one is never allowed.
fn access(c: &mut Checker<'_>, spec: &RulesSpec) -> Option<Access> {
    if spec.allow.is_empty() && spec.deny.is_empty() {
        return None;
    }
    for a in &spec.allow {
        if let Some(d) = spec.deny.iter().find(|d| d.value.contains(&a.value)) {
            c.conflict(
                a.at,
                format!(
                    "allowed network `{}` is inside denied network `{}`: it is never allowed",
                    a.value, d.value
                ),
                "never allowed",
                "deny is checked first; remove one of them, or deny a narrower network",
            );
        }
    }
    Some(Access {
        allow: spec.allow.iter().map(|n| n.value).collect(),
        deny: spec.deny.iter().map(|n| n.value).collect(),
    })
}

/// `maintenance`: its page (or the default), `Retry-After` (default 300 s), and its bypass
/// networks.
fn maintenance(c: &mut Checker<'_>, spec: &RulesSpec) -> Option<Maintenance> {
    let m = spec.maintenance.as_ref()?;
    Some(Maintenance {
        page: val(&m.value.page)
            .unwrap_or_else(|| Body::parse(DEFAULT_MAINTENANCE_PAGE).expect("a valid body")),
        retry_after: val(&m.value.retry_after).unwrap_or(300),
        bypass: bypass_networks(c, &m.value.bypass, "maintenance bypass"),
    })
}

/// The networks of a list of networks or `trusted` (`rule`: `maintenance bypass`,
/// `basic-auth bypass`, `metrics allow`), `trusted`
/// standing for the edge's, which must then trust some.
pub(super) fn bypass_networks(
    c: &mut Checker<'_>,
    list: &[Spanned<BypassSpec>],
    rule: &str,
) -> Vec<Network> {
    let trusted: Vec<Network> = c
        .spec
        .trusted
        .as_ref()
        .map(|t| t.value.iter().map(|n| n.value).collect())
        .unwrap_or_default();
    let mut bypass: Vec<Network> = Vec::new();
    for b in list {
        match &b.value {
            BypassSpec::Network(n) => bypass.push(*n),
            BypassSpec::Trusted if trusted.is_empty() => c.conflict(
                b.at,
                format!("{rule} names `trusted`, but the edge trusts no network"),
                "no trusted network",
                "add `trusted \"10.0.10.0/24\"` at top level, or list the networks here",
            ),
            BypassSpec::Trusted => bypass.extend(trusted.iter().copied()),
        }
    }
    bypass.dedup();
    bypass
}

/// `error-page`s: each status once per place.
fn error_pages(c: &mut Checker<'_>, spec: &RulesSpec) -> Vec<ErrorPage> {
    let mut out: Vec<ErrorPage> = Vec::new();
    for e in &spec.error_pages {
        let Some(page) = &e.page else { continue };
        for s in &e.statuses {
            if out.iter().any(|p| p.status == s.value) {
                c.conflict(
                    s.at,
                    format!("error page {} is given twice here", s.value),
                    "again",
                    "one page per status and place; remove one",
                );
                continue;
            }
            out.push(ErrorPage {
                status: s.value,
                page: page.value.clone(),
            });
        }
    }
    out
}

/// A header rule, when its parts decoded (the decoder reported what is missing).
fn header(h: &HeaderSpec) -> Option<HeaderRule> {
    let action = match h.action.value {
        HeaderVerb::Set => HeaderAction::Set {
            value: h.value.as_ref()?.value.clone(),
        },
        HeaderVerb::Add => HeaderAction::Add {
            value: h.value.as_ref()?.value.clone(),
        },
        HeaderVerb::Del => HeaderAction::Del,
    };
    Some(HeaderRule {
        name: h.name.value.clone(),
        action,
    })
}

/// `hsts`: only on an edge with an https listener; `preload` with a year and subdomains.
fn hsts(c: &mut Checker<'_>, spec: &RulesSpec, https: bool) -> Option<Hsts> {
    let h = spec.hsts.as_ref()?;
    let max_age = h.value.max_age.as_ref()?;
    let include = val(&h.value.include_subdomains).unwrap_or(false);
    let preload = h.value.preload.as_ref().filter(|p| p.value);
    if !https {
        c.conflict(
            h.at,
            "`hsts` on an edge without an https listener: browsers ignore it over plain HTTP",
            "never sent",
            "add `https=` to `listen` (and `tls`), or remove `hsts`",
        );
    }
    if let Some(p) = preload {
        if !include {
            c.conflict(
                p.at,
                "`preload` without `include-subdomains=#true`: the HSTS preload list refuses it",
                "needs include-subdomains",
                "add `include-subdomains=#true` (every subdomain must then serve HTTPS)",
            );
        }
        if max_age.value < HSTS_PRELOAD_MIN_AGE {
            c.conflict(
                max_age.at,
                format!(
                    "`preload` with `max-age={}`: the HSTS preload list requires at least {} \
                     seconds (a year)",
                    max_age.value, HSTS_PRELOAD_MIN_AGE
                ),
                "too short for preload",
                format!("use `max-age={HSTS_PRELOAD_MIN_AGE}` or more"),
            );
        }
    }
    Some(Hsts {
        max_age: max_age.value,
        include_subdomains: include,
        preload: preload.is_some(),
    })
}

/// `request-id`: its header (default `X-Request-ID`), which no header rule may touch — the
/// edge sets it.
pub(super) fn request_id(c: &mut Checker<'_>) -> Option<crate::model::RequestId> {
    let spec = c.spec;
    let r = spec.request_id.as_ref()?;
    let header = val(&r.value).unwrap_or_else(|| HeaderName::preset("X-Request-ID"));
    let lower = header.lower();
    let places = std::iter::once(&spec.rules)
        .chain(spec.policies.iter().map(|p| &p.rules))
        .chain(spec.envs.iter().flat_map(|e| {
            std::iter::once(&e.rules)
                .chain(e.routes.iter().map(|r| &r.rules))
                .chain(e.host_rules.iter().map(|(_, r)| r))
        }))
        .chain(spec.outside.iter().map(|o| &o.rules))
        .chain(spec.placeholders.iter().map(|p| &p.rules))
        .chain(spec.redirects.iter().map(|r| &r.rules));
    let clashes: Vec<crate::spec::At> = places
        .flat_map(|rules| rules.request_headers.iter().chain(&rules.response_headers))
        .filter(|h| h.name.value.lower() == lower)
        .map(|h| h.name.at)
        .collect();
    for at in clashes {
        c.conflict(
            at,
            format!("a header rule names `{header}`, the request-id header the edge sets itself"),
            "set by `request-id`",
            "remove this rule, or give `request-id` another `header=`",
        );
    }
    Some(crate::model::RequestId { header })
}
