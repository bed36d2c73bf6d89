//! The edge's routing as an ordered list of rules: frontends with their ACLs and `use_backend`
//! switches in evaluation order, and the backends with their servers.
//!
//! This is the single source of truth for where a request goes. The haproxy template renders it
//! line by line (it only chooses HAProxy's spelling of each test), and `edgeplan route` walks
//! the same list to explain a request, so the explanation cannot drift from the config.
//!
//! Rule order (as the HAProxy conventions recommend): ACME challenge → outside and placeholder
//! hosts → per-env path routes in spec order → per-env default component → default 503.

use serde::Serialize;

use crate::model::{Balance, Color, Edge, HealthExpect, HealthPath, Host, PathPrefix, PathSuffix};
use crate::state::ActiveColors;

/// Path prefix of ACME http-01 challenges.
pub const ACME_PREFIX: &str = "/.well-known/acme-challenge/";
/// Name of the backend answering requests nothing else matched.
pub const DEFAULT_BACKEND: &str = "default_503";
/// Name of the backend forwarding ACME challenges to certbot.
pub const ACME_BACKEND: &str = "acme_challenge";

/// What an ACL tests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Test {
    /// Host header without port, case-insensitive, equal to one of `hosts`.
    Host {
        /// Hosts.
        hosts: Vec<Host>,
    },
    /// Path starts with one of `prefixes`.
    PathBeg {
        /// Prefixes.
        prefixes: Vec<PathPrefix>,
    },
    /// Path ends with one of `suffixes`.
    PathEnd {
        /// Suffixes.
        suffixes: Vec<PathSuffix>,
    },
}

/// A named ACL.
#[derive(Debug, Clone, Serialize)]
pub struct Acl {
    /// HAProxy ACL name.
    pub name: String,
    /// Its test.
    pub test: Test,
    /// The test in HAProxy's spelling ([`Test::haproxy`]): what the template writes after
    /// `acl NAME` and what `route` shows.
    pub haproxy: String,
}

impl Acl {
    /// The ACL `name` testing `test`.
    pub fn new(name: String, test: Test) -> Acl {
        let haproxy = test.haproxy();
        Acl {
            name,
            test,
            haproxy,
        }
    }
}

/// The variable holding the host a request is routed by: the Host header lower-cased, without
/// port or trailing dot (the frontend sets it first; the host ACLs compare it).
pub const HOST_VAR: &str = "txn.host";

impl Test {
    /// HAProxy's spelling of the test (`path_beg /api/ /v2/`).
    pub fn haproxy(&self) -> String {
        match self {
            Test::Host { hosts } => {
                let h: Vec<&str> = hosts.iter().map(|h| h.as_str()).collect();
                format!("var({HOST_VAR}) -m str {}", h.join(" "))
            }
            Test::PathBeg { prefixes } => {
                let p: Vec<&str> = prefixes.iter().map(|p| p.as_str()).collect();
                format!("path_beg {}", p.join(" "))
            }
            Test::PathEnd { suffixes } => {
                let p: Vec<&str> = suffixes.iter().map(|p| p.as_str()).collect();
                format!("path_end {}", p.join(" "))
            }
        }
    }
}

/// HAProxy's redirect to https of a frontend, unless ACL `unless` matches; `port` when the
/// https listener is not on 443.
pub fn redirect_rule(unless: &str, port: Option<u16>) -> String {
    let port = port.map(|p| format!(":{p}")).unwrap_or_default();
    format!(
        "http-request redirect location https://%[var({HOST_VAR})]{port}%[pathq] code 301 unless {unless}"
    )
}

/// `use_backend BACKEND if ACL1 ACL2…` (all ACLs must match).
#[derive(Debug, Clone, Serialize)]
pub struct Switch {
    /// Backend name.
    pub backend: String,
    /// ACL names, ANDed.
    pub when: Vec<String>,
    /// Why the rule exists, for explanations and a comment in the config.
    pub why: String,
}

/// Which listener a frontend serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTPS (TLS terminated here).
    Https,
}

/// A frontend and its rules in evaluation order.
#[derive(Debug, Clone, Serialize)]
pub struct Frontend {
    /// Section name.
    pub name: String,
    /// Scheme.
    pub scheme: Scheme,
    /// Bind address (`:80`, `127.0.0.1:80`).
    pub bind: String,
    /// ACLs.
    pub acls: Vec<Acl>,
    /// When set: redirect to https with 301 unless this ACL matches (HTTP with TLS on).
    pub redirect_unless: Option<String>,
    /// Port to put in the redirect's `Location` (the https port, when it is not 443).
    pub redirect_port: Option<u16>,
    /// The redirect rule in HAProxy's spelling ([`redirect_rule`]), when there is one.
    pub redirect: Option<String>,
    /// Backend switches in order.
    pub switches: Vec<Switch>,
    /// Backend when no switch matched.
    pub default_backend: String,
}

/// A health check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// URL requested (path and optional query).
    pub path: HealthPath,
    /// Host header sent.
    pub host: Option<Host>,
    /// What the response must be.
    pub expect: HealthExpect,
}

/// A server line.
#[derive(Debug, Clone, Serialize)]
pub struct Server {
    /// Server name (`blue`, `green`, `forgejo`).
    pub name: String,
    /// Host or IP.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Colour, for env pools.
    pub color: Option<Color>,
    /// Sticky cookie value.
    pub cookie: Option<String>,
    /// Takes traffic (active colour); inactive servers are rendered `disabled`.
    pub active: bool,
    /// Health-checked.
    pub check: bool,
    /// `weight`, when the spec gives one (HAProxy's default is 1).
    pub weight: Option<u16>,
    /// `id`, in URI-hashed pools: the server's stable place on the consistent-hash ring.
    pub id: Option<u32>,
}

/// What kind of backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// A component pool of an env.
    Pool,
    /// An outside backend.
    Outside,
    /// A fixed answer (placeholder site or the default 503).
    Static,
    /// ACME challenges to certbot's standalone listener.
    Acme,
}

/// A backend section: its name, its servers, and what it is ([`Role`], each kind with its own
/// data; the template and `route` branch on it).
#[derive(Debug, Clone, Serialize)]
pub struct Backend {
    /// Section name.
    pub name: String,
    /// Servers (none for a static answer).
    pub servers: Vec<Server>,
    /// What it is.
    #[serde(flatten)]
    pub role: Role,
}

/// What a backend is, with what only that kind has. Serialised with a `kind` tag (`pool`,
/// `outside`, `static`, `acme`) beside the variant's fields, as the template reads it.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Role {
    /// A component pool of an env.
    Pool {
        /// Env.
        env: String,
        /// Component.
        component: String,
        /// Balance algorithm.
        balance: Balance,
        /// Sticky cookie name, when the component is sticky.
        cookie: Option<String>,
        /// Health check (every pool has one).
        check: Check,
    },
    /// An outside backend.
    Outside {
        /// Health check, when the spec gives one.
        check: Option<Check>,
    },
    /// A fixed answer: a placeholder site or the default 503.
    Static {
        /// Status.
        status: u16,
        /// Body file on the box.
        body_file: String,
        /// Whose answer it is.
        #[serde(skip)]
        of: StaticOf,
    },
    /// ACME challenges to certbot's standalone listener.
    Acme,
}

/// Whose fixed answer a static backend gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaticOf {
    /// A placeholder site of the specs.
    Placeholder(crate::model::Ident),
    /// Requests nothing else matched ([`DEFAULT_BACKEND`]).
    Unmatched,
}

impl Backend {
    /// The kind.
    pub fn kind(&self) -> BackendKind {
        match self.role {
            Role::Pool { .. } => BackendKind::Pool,
            Role::Outside { .. } => BackendKind::Outside,
            Role::Static { .. } => BackendKind::Static,
            Role::Acme => BackendKind::Acme,
        }
    }

    /// Its health check, when it has one.
    pub fn check(&self) -> Option<&Check> {
        match &self.role {
            Role::Pool { check, .. } => Some(check),
            Role::Outside { check } => check.as_ref(),
            _ => None,
        }
    }

    /// Its sticky cookie's name, when it has one.
    pub fn cookie(&self) -> Option<&str> {
        match &self.role {
            Role::Pool { cookie, .. } => cookie.as_deref(),
            _ => None,
        }
    }

    /// Its `balance` line, when it has one (HAProxy's default is roundrobin).
    pub fn balance(&self) -> Option<Balance> {
        match &self.role {
            Role::Pool { balance, .. } => Some(*balance),
            _ => None,
        }
    }

    /// The env of a pool.
    pub fn env(&self) -> Option<&str> {
        match &self.role {
            Role::Pool { env, .. } => Some(env),
            _ => None,
        }
    }
}

/// The whole routing table.
#[derive(Debug, Clone, Serialize)]
pub struct Routing {
    /// Frontends (http first, then https).
    pub frontends: Vec<Frontend>,
    /// Backends in a stable order.
    pub backends: Vec<Backend>,
    /// Who the client is: which headers carry it and whom they are believed from.
    pub identity: Identity,
}

/// The headers that carry the client's identity, set by the edge from the connection in every
/// frontend: a client's own are removed unless it connects from a `trusted` network (then the
/// edge appends to `X-Forwarded-For` and `Forwarded` and keeps the others). `Forwarded` is
/// built by hand (RFC 7239; haproxy's `option forwarded` needs 2.7): `for=ADDR` for IPv4,
/// `for="[ADDR]"` for IPv6, `proto`, and `host` — the Host header's host as the host ACLs
/// compare it (lower case, no port), never the raw header, which could smuggle parameters.
#[derive(Debug, Clone, Serialize)]
pub struct Identity {
    /// Networks whose identity headers are believed (`src` ACL `from_trusted`); empty: none.
    pub trusted: Vec<String>,
    /// The headers, in the order they are removed.
    pub headers: Vec<&'static str>,
}

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
            let comp = &env.components[&r.to];
            switches.push(Switch {
                backend: format!("{}_{}", env.name, comp.pool),
                when,
                why: format!("env {} route {} -> {}", env.name, r.name, r.to),
            });
        }
        if let Some(d) = &env.default {
            let comp = &env.components[d];
            switches.push(Switch {
                backend: format!("{}_{}", env.name, comp.pool),
                when: vec![host_acl],
                why: format!("env {} default -> {}", env.name, d),
            });
        }
    }

    (acls, switches)
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
    if let Some(https) = &edge.listen.https {
        let mut http_switches = Vec::new();
        if edge.acme.is_some() {
            http_switches.push(Switch {
                backend: ACME_BACKEND.into(),
                when: vec![acme_acl.name.clone()],
                why: "ACME http-01 challenge to certbot".into(),
            });
        }
        frontends.push(Frontend {
            name: "http".into(),
            scheme: Scheme::Http,
            bind: edge.listen.http.to_string(),
            acls: vec![acme_acl.clone()],
            redirect_unless: Some(acme_acl.name.clone()),
            redirect_port: Some(https.port.get()).filter(|p| *p != 443),
            redirect: Some(redirect_rule(
                &acme_acl.name,
                Some(https.port.get()).filter(|p| *p != 443),
            )),
            switches: http_switches,
            default_backend: DEFAULT_BACKEND.into(),
        });
        frontends.push(Frontend {
            name: "https".into(),
            scheme: Scheme::Https,
            bind: https.to_string(),
            acls,
            redirect_unless: None,
            redirect_port: None,
            redirect: None,
            switches,
            default_backend: DEFAULT_BACKEND.into(),
        });
    } else {
        let mut all_acls = acls;
        let mut all_switches = switches;
        if edge.acme.is_some() {
            all_acls.insert(0, acme_acl.clone());
            all_switches.insert(
                0,
                Switch {
                    backend: ACME_BACKEND.into(),
                    when: vec![acme_acl.name.clone()],
                    why: "ACME http-01 challenge to certbot".into(),
                },
            );
        }
        frontends.push(Frontend {
            name: "http".into(),
            scheme: Scheme::Http,
            bind: edge.listen.http.to_string(),
            acls: all_acls,
            redirect_unless: None,
            redirect_port: None,
            redirect: None,
            switches: all_switches,
            default_backend: DEFAULT_BACKEND.into(),
        });
    }

    frontends
}

/// The backends in a stable order: env pools, outside backends, placeholders, ACME, the
/// default 503.
fn backends(edge: &Edge, colors: &ActiveColors) -> Vec<Backend> {
    let mut backends = Vec::new();
    for env in edge.envs.values() {
        let active = colors.of(env);
        for comp in env.components.values() {
            let servers = comp
                .instances
                .iter()
                .map(|i| Server {
                    name: i.name.to_string(),
                    host: i.host.clone(),
                    port: i.port.get(),
                    color: Some(i.color),
                    cookie: comp
                        .cookie
                        .is_some()
                        .then(|| format!("{}-{}-{}", env.name, comp.name, i.name)),
                    active: i.color == active,
                    check: true,
                    weight: i.weight,
                    id: (comp.balance == Balance::Uri).then(|| i.hash_id()),
                })
                .collect();
            backends.push(Backend {
                name: format!("{}_{}", env.name, comp.pool),
                servers,
                role: Role::Pool {
                    env: env.name.to_string(),
                    component: comp.name.to_string(),
                    balance: comp.balance,
                    cookie: comp.cookie.as_ref().map(|c| c.to_string()),
                    check: Check {
                        path: comp.health.clone(),
                        host: env.hosts.first().cloned(),
                        expect: comp.expect.clone(),
                    },
                },
            });
        }
    }
    for o in edge.outside.values() {
        backends.push(Backend {
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
    for p in edge.placeholders.values() {
        let name = format!("{}_backend", p.name);
        let file = body_file(&name);
        backends.push(static_backend(
            name,
            p.status,
            file,
            StaticOf::Placeholder(p.name.clone()),
        ));
    }
    if let Some(acme) = &edge.acme {
        backends.push(Backend {
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
    backends
}

fn static_backend(name: String, status: u16, body_file: String, of: StaticOf) -> Backend {
    Backend {
        name,
        servers: Vec::new(),
        role: Role::Static {
            status,
            body_file,
            of,
        },
    }
}
