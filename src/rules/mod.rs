//! The edge's routing as an ordered list of rules: frontends with their ACLs and `use_backend`
//! switches in evaluation order, and the backends with their servers.
//!
//! This is the single source of truth for where a request goes. The haproxy template renders it
//! line by line (it only chooses HAProxy's spelling of each test), and `edgeplan route` walks
//! the same list to explain a request, so the explanation cannot drift from the config.
//!
//! Rule order (as the HAProxy conventions recommend): ACME challenge → outside and placeholder
//! hosts → per-env path routes in spec order → per-env default component → default 503. The
//! first rule that matches names the route a request took ([`ROUTE_VAR`]); the policies
//! (`policy`: access, headers, HSTS) apply by that route.

mod backends;
mod limits;
mod lines;
mod observe;
mod per_backend;
mod policy;
mod scope;
mod table;

pub use limits::*;
pub use lines::{deny_line, maintenance_line};
pub use observe::*;
pub use per_backend::*;
pub use policy::*;
pub use scope::*;
pub use table::*;

use crate::model::{Edge, PathPrefix, RouteTarget};
use crate::state::ActiveColors;

use backends::backends;

/// Headers that carry the client's identity ([`Identity`]).
pub const IDENTITY_HEADERS: &[&str] = &[
    "X-Forwarded-For",
    "X-Real-IP",
    "Forwarded",
    "X-Forwarded-Host",
    "X-Forwarded-Port",
];

/// Where placeholder bodies live on the box.
pub const ERRORS_DIR: &str = "/etc/haproxy/errors";

/// Body file of a static backend, named after the backend (backend names are unique, so
/// body files are too).
pub fn body_file(name: &str) -> String {
    format!("{ERRORS_DIR}/{name}.txt")
}

/// The preview pool of the pool backend `pool` (`staging_web_pool` → `staging_web_pool_preview`).
pub fn preview_backend(pool: &str) -> String {
    format!("{pool}_preview")
}

/// The backend of a redirect route (`ENV_ROUTE_redirect`): haproxy answers the redirect.
pub fn path_redirect_backend(env: &str, route: &crate::model::Ident) -> String {
    format!("{env}_{route}_redirect")
}

/// The name of the 403 page of env `env`'s preview host, for sources it does not trust
/// ([`preview_denied_file`]); reserved among backend names so that its file is its own.
pub fn preview_denied_backend(env: &str) -> String {
    format!("{env}_preview_denied")
}

/// The page haproxy answers the preview host of env `env` with, for sources it does not
/// trust.
pub fn preview_denied_file(env: &str) -> String {
    body_file(&preview_denied_backend(env))
}

/// What that page says.
pub const PREVIEW_DENIED_BODY: &str = "This preview is open to trusted networks only.\n";

/// When the http → https redirect does not fire: a rule of the http frontend took the request
/// (an ACME challenge, a redirect site).
pub const REDIRECT_UNLESS: &str = "{ var(txn.route) -m found }";

/// The ACL matching trusted sources, which may reach a preview host.
pub const TRUSTED_SRC_ACL: &str = "trusted_src";

/// Build the routing table of `edge` with `colors` active.
pub fn routing(edge: &Edge, colors: &ActiveColors) -> Routing {
    let (acls, switches) = host_rules(edge);
    let frontends = frontends(edge, acls, switches);
    Routing {
        stick_tables: stick_tables(&frontends),
        log: log_view(edge),
        frontends,
        backends: backends(edge, colors),
        identity: Identity {
            trusted: edge.trusted.iter().map(|n| n.to_string()).collect(),
            headers: IDENTITY_HEADERS.to_vec(),
        },
        userlists: edge
            .userlists
            .values()
            .map(|l| UserlistSection {
                name: l.name.to_string(),
                users: l
                    .users
                    .iter()
                    .map(|u| (u.name.to_string(), u.password.haproxy().to_string()))
                    .collect(),
            })
            .collect(),
    }
}

/// The ACLs and `use_backend` switches of the hosts: whole-host sites (outside backends, then
/// placeholders), then each env's path routes in spec order and its default.
fn host_rules(edge: &Edge) -> (Vec<Acl>, Vec<Switch>) {
    let mut acls = Vec::new();
    let mut switches = Vec::new();
    // Whole-host sites first: outside backends, then placeholders.
    let sites = edge
        .outside
        .values()
        .map(|o| ("outside backend", &o.name, &o.hosts))
        .chain(
            edge.placeholders
                .values()
                .map(|p| ("placeholder", &p.name, &p.hosts)),
        )
        .chain(
            edge.redirects
                .values()
                .map(|r| ("redirect", &r.name, &r.hosts)),
        );
    for (kind, name, hosts) in sites {
        let acl = format!("host_{name}");
        acls.push(Acl::new(
            acl.clone(),
            Test::Host {
                hosts: hosts.clone(),
            },
        ));
        switches.push(Switch {
            key: site_key(name.as_str()),
            backend: format!("{name}_backend"),
            when: vec![acl],
            why: format!("{kind} {name}"),
        });
    }
    for env in edge.envs.values() {
        let host_acl = format!("host_{}", env.name);
        acls.push(Acl::new(
            host_acl.clone(),
            Test::Host {
                hosts: env.hosts.clone(),
            },
        ));
        for r in &env.routes {
            let mut when = vec![host_acl.clone()];
            if !r.prefixes.is_empty() {
                let name = format!("{}_is_{}", env.name, r.name);
                let prefixes = r.prefixes.clone();
                acls.push(Acl::new(name.clone(), Test::PathBeg { prefixes }));
                when.push(name);
            }
            if !r.suffixes.is_empty() {
                let name = format!("{}_is_{}_end", env.name, r.name);
                let suffixes = r.suffixes.clone();
                acls.push(Acl::new(name.clone(), Test::PathEnd { suffixes }));
                when.push(name);
            }
            let backend = match &r.to {
                RouteTarget::Component { name } => {
                    format!("{}_{}", env.name, env.components[name].pool)
                }
                RouteTarget::Outside { name } => format!("{name}_backend"),
                RouteTarget::Redirect { .. } => path_redirect_backend(env.name.as_str(), &r.name),
            };
            switches.push(Switch {
                key: env_key(env.name.as_str(), Some(r.name.as_str()), false),
                backend,
                when,
                why: format!("env {} route {} -> {}", env.name, r.name, r.to),
            });
        }
        if let Some(d) = &env.default {
            let comp = &env.components[d];
            switches.push(Switch {
                key: env_key(env.name.as_str(), None, false),
                backend: format!("{}_{}", env.name, comp.pool),
                when: vec![host_acl],
                why: format!("env {} default -> {}", env.name, d),
            });
        }
        if let Some(host) = &env.preview {
            preview_rules(edge, env, host, &mut acls, &mut switches);
        }
    }

    (acls, switches)
}

/// The preview host of `env`: the env's routes and default to the preview pools (its idle
/// colour), the path ACLs its routes already have reused. Who may reach it is a policy rule
/// ([`PolicyAction::Deny`] scoped to [`Scope::Preview`]): 403 but from a trusted source.
fn preview_rules(
    edge: &Edge,
    env: &crate::model::Env,
    host: &crate::model::Host,
    acls: &mut Vec<Acl>,
    switches: &mut Vec<Switch>,
) {
    let acl = format!("preview_{}", env.name);
    acls.push(Acl::new(
        acl.clone(),
        Test::Host {
            hosts: vec![host.clone()],
        },
    ));
    if !edge.trusted.is_empty() && !acls.iter().any(|a| a.name == TRUSTED_SRC_ACL) {
        acls.push(Acl::new(
            TRUSTED_SRC_ACL.into(),
            Test::Src {
                networks: edge.trusted.iter().map(|n| n.to_string()).collect(),
            },
        ));
    }
    if !edge.trusted.is_empty() {
        let route_switches: Vec<Switch> = switches
            .iter()
            .filter(|s| s.when.first() == Some(&format!("host_{}", env.name)))
            .map(|s| {
                let mut when = vec![acl.clone()];
                when.extend(s.when.iter().skip(1).cloned());
                // The env's pools have a preview pool; an outside backend or a redirect is the
                // same from the preview host.
                let pool = env
                    .components
                    .values()
                    .any(|c| s.backend == format!("{}_{}", env.name, c.pool));
                Switch {
                    key: format!("{}@preview", s.key),
                    backend: if pool {
                        preview_backend(&s.backend)
                    } else {
                        s.backend.clone()
                    },
                    when,
                    why: format!("{}, preview of the idle colour", s.why),
                }
            })
            .collect();
        switches.extend(route_switches);
        if env.default.is_none() {
            // A trusted request no route takes gets what the public host would give it.
            switches.push(Switch {
                key: env_key(env.name.as_str(), None, true),
                backend: DEFAULT_BACKEND.into(),
                when: vec![acl.clone()],
                why: format!("env {} preview: no route matched", env.name),
            });
        }
    }
}

/// The frontends: with TLS, `http` (ACME challenges, a redirect for the rest) and `https` (the
/// host rules); without, one `http` with the ACME rule first.
fn frontends(edge: &Edge, acls: Vec<Acl>, switches: Vec<Switch>) -> Vec<Frontend> {
    let mut frontends = Vec::new();
    let acme_acl = Acl::new(
        "acme_challenge".into(),
        Test::PathBeg {
            prefixes: vec![PathPrefix::acme_challenge()],
        },
    );
    // ACME http-01 challenges go to certbot before anything else.
    let acme_switch = edge.acme.as_ref().map(|_| Switch {
        key: ACME_KEY.into(),
        backend: ACME_BACKEND.into(),
        when: vec![acme_acl.name.clone()],
        why: "ACME http-01 challenge to certbot".into(),
    });
    if let Some(https) = &edge.listen.https {
        // Plain HTTP takes ACME challenges and the redirect sites (one hop to their target);
        // everything else is redirected to https.
        let redirect_keys: Vec<String> = edge
            .redirects
            .keys()
            .map(|r| site_key(r.as_str()))
            .collect();
        let mut http_switches: Vec<Switch> = acme_switch
            .into_iter()
            .chain(
                switches
                    .iter()
                    .filter(|s| redirect_keys.contains(&s.key))
                    .cloned(),
            )
            .collect();
        let mut http_acls = vec![acme_acl.clone()];
        http_acls.extend(
            acls.iter()
                .filter(|a| http_switches.iter().any(|s| s.when.contains(&a.name)))
                .cloned(),
        );
        // Hosts served over plain HTTP too: the env's rules, on those hosts only.
        for env in edge.envs.values().filter(|e| !e.plain_http.is_empty()) {
            let (host_acl, plain_acl) =
                (format!("host_{}", env.name), format!("plain_{}", env.name));
            http_acls.push(Acl::new(
                plain_acl.clone(),
                Test::Host {
                    hosts: env.plain_http.clone(),
                },
            ));
            for s in switches
                .iter()
                .filter(|s| s.when.first() == Some(&host_acl))
            {
                let mut sw = s.clone();
                sw.when[0] = plain_acl.clone();
                for w in &sw.when[1..] {
                    if let Some(a) = acls.iter().find(|a| &a.name == w)
                        && !http_acls.iter().any(|x| x.name == a.name)
                    {
                        http_acls.push(a.clone());
                    }
                }
                http_switches.push(sw);
            }
        }
        // Sites served over plain HTTP too: their hosts there.
        let plain_sites = edge
            .outside
            .values()
            .map(|o| (&o.name, &o.plain_http))
            .chain(edge.placeholders.values().map(|p| (&p.name, &p.plain_http)))
            .filter(|(_, plain)| !plain.is_empty());
        for (name, plain) in plain_sites {
            let plain_acl = format!("plain_{name}");
            http_acls.push(Acl::new(
                plain_acl.clone(),
                Test::Host {
                    hosts: plain.clone(),
                },
            ));
            if let Some(s) = switches.iter().find(|s| s.key == site_key(name.as_str())) {
                let mut sw = s.clone();
                sw.when = vec![plain_acl];
                http_switches.push(sw);
            }
        }
        let (http_policy_acls, http_policies) = policy_rules(edge, false);
        http_acls.extend(http_policy_acls);
        let port = Some(https.port.get()).filter(|p| *p != 443);
        frontends.push(Frontend {
            name: "http".into(),
            scheme: Scheme::Http,
            bind: edge.listen.http.to_string(),
            binds: bind_lines(&edge.listen.http, &edge.listen.http_more),
            acls: http_acls,
            redirect_unless: Some(REDIRECT_UNLESS.into()),
            redirect_port: port,
            redirect: Some(redirect_rule(REDIRECT_UNLESS, port)),
            switches: http_switches,
            default_backend: DEFAULT_BACKEND.into(),
            client: client_of(edge, &http_policies),
            policies: http_policies,
        });
        let (policy_acls, policies) = policy_rules(edge, true);
        frontends.push(Frontend {
            name: "https".into(),
            scheme: Scheme::Https,
            bind: https.to_string(),
            binds: bind_lines(https, &edge.listen.https_more),
            client: client_of(edge, &policies),
            acls: acls.into_iter().chain(policy_acls).collect(),
            redirect_unless: None,
            redirect_port: None,
            redirect: None,
            switches,
            default_backend: DEFAULT_BACKEND.into(),
            policies,
        });
    } else {
        let mut all_acls = acls;
        let mut all_switches = switches;
        if let Some(sw) = acme_switch {
            all_acls.insert(0, acme_acl.clone());
            all_switches.insert(0, sw);
        }
        let (policy_acls, policies) = policy_rules(edge, false);
        all_acls.extend(policy_acls);
        frontends.push(Frontend {
            name: "http".into(),
            scheme: Scheme::Http,
            bind: edge.listen.http.to_string(),
            binds: bind_lines(&edge.listen.http, &edge.listen.http_more),
            client: client_of(edge, &policies),
            acls: all_acls,
            redirect_unless: None,
            redirect_port: None,
            redirect: None,
            switches: all_switches,
            default_backend: DEFAULT_BACKEND.into(),
            policies,
        });
    }

    frontends
}

/// A listener's bind addresses with their options ([`Frontend::binds`]): an IPv6 wildcard
/// beside any IPv4 address is `v6only` — else, dual-stack, it would take IPv4 connections to
/// every address, not only the listed ones.
pub fn bind_lines(first: &crate::model::Bind, more: &[crate::model::Bind]) -> Vec<String> {
    let all: Vec<&crate::model::Bind> = std::iter::once(first).chain(more).collect();
    let v4 = all.iter().any(|b| !b.is_v6());
    all.iter()
        .map(|b| {
            if b.is_v6() && b.is_wildcard() && v4 {
                format!("{b} v6only")
            } else {
                b.to_string()
            }
        })
        .collect()
}

/// The lines that set the client's address, when an access rule reads it.
fn client_of(edge: &Edge, policies: &[PolicyRule]) -> Vec<String> {
    let reads = policies.iter().any(|p| {
        matches!(
            p.action,
            PolicyAction::Deny { .. }
                | PolicyAction::RateLimit { .. }
                | PolicyAction::Maintenance {
                    bypass: Some(_),
                    ..
                }
                | PolicyAction::BasicAuth {
                    bypass: Some(_),
                    ..
                }
        )
    });
    if reads {
        client_lines(!edge.trusted.is_empty())
    } else {
        Vec::new()
    }
}
