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

mod policy;
mod table;

pub use policy::*;
pub use table::*;

use crate::model::{Balance, Component, Edge, PathPrefix, RouteTarget};
use crate::state::{ActiveColors, Serving};

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

/// The static 403 backend of env `env`'s preview host, for sources it does not trust.
pub fn preview_denied_backend(env: &str) -> String {
    format!("{env}_preview_denied")
}

/// When the http → https redirect does not fire: a rule of the http frontend took the request
/// (an ACME challenge, a redirect site).
pub const REDIRECT_UNLESS: &str = "{ var(txn.route) -m found }";

/// The ACL matching trusted sources, which may reach a preview host.
pub const TRUSTED_SRC_ACL: &str = "trusted_src";

/// Build the routing table of `edge` with `colors` active.
pub fn routing(edge: &Edge, colors: &ActiveColors) -> Routing {
    let (acls, switches) = host_rules(edge);
    Routing {
        frontends: frontends(edge, acls, switches),
        backends: backends(edge, colors),
        identity: Identity {
            trusted: edge.trusted.iter().map(|n| n.to_string()).collect(),
            headers: IDENTITY_HEADERS.to_vec(),
        },
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

/// The preview host of `env`: from a trusted source, the env's routes and default to the preview
/// pools (its idle colour), the path ACLs its routes already have reused; from anywhere else,
/// a 403.
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
                let mut when = vec![acl.clone(), TRUSTED_SRC_ACL.to_string()];
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
                when: vec![acl.clone(), TRUSTED_SRC_ACL.to_string()],
                why: format!("env {} preview: no route matched", env.name),
            });
        }
    }
    switches.push(Switch {
        key: preview_denied_key(env.name.as_str()),
        backend: preview_denied_backend(env.name.as_str()),
        when: vec![acl],
        why: format!("env {} preview from an untrusted source", env.name),
    });
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
        let (http_policy_acls, http_policies) = policy_rules(edge, false);
        http_acls.extend(http_policy_acls);
        let port = Some(https.port.get()).filter(|p| *p != 443);
        frontends.push(Frontend {
            name: "http".into(),
            scheme: Scheme::Http,
            bind: edge.listen.http.to_string(),
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

/// The lines that set the client's address, when an access rule reads it.
fn client_of(edge: &Edge, policies: &[PolicyRule]) -> Vec<String> {
    let reads = policies.iter().any(|p| {
        matches!(
            p.action,
            PolicyAction::Deny { .. }
                | PolicyAction::Maintenance {
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

/// The backends in a stable order: env pools, outside backends, placeholders, ACME, the
/// default 503.
fn backends(edge: &Edge, colors: &ActiveColors) -> Vec<Backend> {
    let mut backends = Vec::new();
    for env in edge.envs.values() {
        let serving = colors.of(env);
        for comp in env.components.values() {
            backends.push(pool(env, comp, canary_weights(comp, serving), false));
        }
        if env.preview.is_some() {
            // The idle colour: the other one than the colour of record (a canary's new one).
            let idle = Serving::Color(serving.color().other());
            for comp in env.components.values() {
                backends.push(pool(env, comp, canary_weights(comp, idle), true));
            }
            let name = preview_denied_backend(env.name.as_str());
            let file = body_file(&name);
            backends.push(static_backend(
                name,
                403,
                file,
                StaticOf::PreviewDenied(env.name.clone()),
            ));
        }
    }
    for o in edge.outside.values() {
        backends.push(Backend {
            error_pages: Vec::new(),
            name: format!("{}_backend", o.name),
            role: Role::Outside {
                check: o.health.clone().map(|path| Check {
                    path,
                    host: o.hosts.first().cloned(),
                    expect: o.expect.clone(),
                }),
            },
            servers: vec![Server {
                name: o.name.to_string(),
                host: o.address.host.clone(),
                port: o.address.port.get(),
                color: None,
                cookie: None,
                active: true,
                check: o.health.is_some(),
                weight: None,
                id: None,
            }],
        });
    }
    for env in edge.envs.values() {
        for r in &env.routes {
            if let RouteTarget::Redirect { to, status } = &r.to {
                backends.push(Backend {
                    error_pages: Vec::new(),
                    name: path_redirect_backend(env.name.as_str(), &r.name),
                    servers: Vec::new(),
                    role: Role::PathRedirect {
                        prefixes: r.prefixes.iter().map(|p| p.to_string()).collect(),
                        to: to.to_string(),
                        status: *status,
                    },
                });
            }
        }
    }
    for r in edge.redirects.values() {
        backends.push(Backend {
            error_pages: Vec::new(),
            name: format!("{}_backend", r.name),
            servers: Vec::new(),
            role: Role::Redirect {
                to: r.to.to_string(),
                status: r.status,
                keep_path: r.keep_path,
            },
        });
    }
    for p in edge.placeholders.values() {
        let name = format!("{}_backend", p.name);
        let (file, content_type) = if p.html {
            (
                format!("{ERRORS_DIR}/{name}.html"),
                "text/html; charset=utf-8",
            )
        } else {
            (body_file(&name), TEXT)
        };
        backends.push(static_backend_of(
            name,
            p.status,
            file,
            StaticOf::Placeholder(p.name.clone()),
            content_type,
        ));
    }
    if let Some(acme) = &edge.acme {
        backends.push(Backend {
            error_pages: Vec::new(),
            name: ACME_BACKEND.into(),
            role: Role::Acme,
            servers: vec![Server {
                name: "certbot".into(),
                host: acme.challenge_host.clone(),
                port: acme.challenge_port.get(),
                color: None,
                cookie: None,
                active: true,
                check: false,
                weight: None,
                id: None,
            }],
        });
    }
    backends.push(static_backend(
        DEFAULT_BACKEND.into(),
        503,
        body_file(DEFAULT_BACKEND),
        StaticOf::Unmatched,
    ));
    // Error pages: the edge's and the env's for its pools, the site's for an outside backend.
    for b in &mut backends {
        let place = match &b.role {
            Role::Pool { env, .. } => edge
                .envs
                .values()
                .find(|e| e.name.as_str() == env)
                .map(|e| (&e.policy, format!("env.{env}"))),
            Role::Outside { .. } => edge
                .outside
                .values()
                .find(|o| format!("{}_backend", o.name) == b.name)
                .map(|o| (&o.policy, format!("site.{}", o.name))),
            _ => continue,
        };
        b.error_pages = error_pages(edge, place.as_ref().map(|(a, id)| (*a, id.as_str())));
    }
    backends
}

/// The pool backend of `comp` serving `serving` with these instance weights; its preview pool
/// when `preview` (own name and sticky cookie, so a preview session never pins a public one).
fn pool(
    env: &crate::model::Env,
    comp: &Component,
    (serving, weights): (Serving, Vec<Option<u16>>),
    preview: bool,
) -> Backend {
    let tag = if preview { "-preview" } else { "" };
    let servers = comp
        .instances
        .iter()
        .zip(weights)
        .map(|(i, weight)| Server {
            name: i.name.to_string(),
            host: i.host.clone(),
            port: i.port.get(),
            color: Some(i.color),
            cookie: comp
                .cookie
                .is_some()
                .then(|| format!("{}-{}-{}{tag}", env.name, comp.name, i.name)),
            active: serving.serves(i.color),
            check: true,
            weight,
            id: (comp.balance == Balance::Uri).then(|| i.hash_id()),
        })
        .collect();
    let name = format!("{}_{}", env.name, comp.pool);
    Backend {
        error_pages: Vec::new(),
        name: if preview {
            preview_backend(&name)
        } else {
            name
        },
        servers,
        role: Role::Pool {
            env: env.name.to_string(),
            component: comp.name.to_string(),
            balance: comp.balance,
            cookie: comp.cookie.as_ref().map(|c| {
                if preview {
                    format!("{c}_preview")
                } else {
                    c.to_string()
                }
            }),
            check: Check {
                path: comp.health.clone(),
                host: env.hosts.first().cloned(),
                expect: comp.expect.clone(),
            },
            preview,
        },
    }
}

/// What `comp`'s pool serves and the weight of each of its instances (in order): the spec's
/// weights, or during a canary the weights [`crate::canary::split`] gives both colours. A
/// component that cannot share (one colour has no instances) stays on the colour of record.
fn canary_weights(comp: &Component, serving: Serving) -> (Serving, Vec<Option<u16>>) {
    let own = || comp.instances.iter().map(|i| i.weight).collect();
    let Some((to, percent)) = serving.canary() else {
        return (serving, own());
    };
    match crate::canary::split_component(comp, to, percent) {
        Ok(split) => {
            let (mut old, mut new) = (split.old.into_iter(), split.new.into_iter());
            let weights = comp
                .instances
                .iter()
                .map(|i| {
                    if i.color == to {
                        new.next()
                    } else {
                        old.next()
                    }
                })
                .collect();
            (serving, weights)
        }
        Err(_) => (Serving::Color(serving.color()), own()),
    }
}

fn static_backend(name: String, status: u16, body_file: String, of: StaticOf) -> Backend {
    static_backend_of(name, status, body_file, of, TEXT)
}

/// `Content-Type` of text answers.
const TEXT: &str = "text/plain; charset=utf-8";

fn static_backend_of(
    name: String,
    status: u16,
    body_file: String,
    of: StaticOf,
    content_type: &'static str,
) -> Backend {
    Backend {
        error_pages: Vec::new(),
        name,
        servers: Vec::new(),
        role: Role::Static {
            status,
            body_file,
            content_type,
            of,
        },
    }
}
