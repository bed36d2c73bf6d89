//! The backends of the routing table, in a stable order: env pools (and their preview pools,
//! canary weights), redirect routes, outside backends, redirect sites, placeholders, ACME, the
//! default 503 — each with its servers, role and error pages.

use super::*;
use crate::model::{Balance, Component};
use crate::state::Serving;

/// The backends in a stable order: env pools, outside backends, placeholders, ACME, the
/// default 503.
pub(super) fn backends(edge: &Edge, colors: &ActiveColors) -> Vec<Backend> {
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
        }
    }
    for o in edge.outside.values() {
        backends.push(Backend {
            error_pages: Vec::new(),
            compression: None,
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
                tls: o.tls.as_ref().map(|t| t.haproxy()),
            }],
        });
    }
    for env in edge.envs.values() {
        for r in &env.routes {
            if let RouteTarget::Redirect { to, status } = &r.to {
                backends.push(Backend {
                    error_pages: Vec::new(),
                    compression: None,
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
            compression: None,
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
            compression: None,
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
                tls: None,
            }],
        });
    }
    backends.push(static_backend(
        DEFAULT_BACKEND.into(),
        503,
        body_file(DEFAULT_BACKEND),
        StaticOf::Unmatched,
    ));
    // Error pages and compression: the edge's and the env's for its pools, the site's for an
    // outside backend.
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
        b.compression = super::per_backend::compression(edge, place.as_ref().map(|(a, _)| *a));
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
            tls: None,
        })
        .collect();
    let name = format!("{}_{}", env.name, comp.pool);
    Backend {
        error_pages: Vec::new(),
        compression: None,
        name: if preview {
            preview_backend(&name)
        } else {
            name
        },
        servers,
        role: Role::Pool {
            timeout_server: comp.timeout_server.map(|t| t.to_string()),
            timeout_tunnel: comp.timeout_tunnel.map(|t| t.to_string()),
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
        compression: None,
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
