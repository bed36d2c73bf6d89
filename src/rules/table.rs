//! The routing table's types: frontends with their ACLs (each test with its HAProxy spelling)
//! and `use_backend` switches, backends with their servers and what each is ([`Role`]), the
//! identity headers — what [`super::routing`] builds and both the template and `route` read.

use serde::Serialize;

use crate::model::{Balance, Color, HealthExpect, HealthPath, Host, PathPrefix, PathSuffix};

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
    /// The client's address (the connection's source) is in one of `networks`.
    Src {
        /// Networks (`10.0.0.0/8`, `192.0.2.7`).
        networks: Vec<String>,
    },
    /// The client's address as access rules see it ([`super::CLIENT_VAR`]: the source, or
    /// what a trusted proxy reports) is in one of `networks`.
    Client {
        /// Networks (`10.0.0.0/8`, `192.0.2.7/32`).
        networks: Vec<String>,
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
            Test::Src { networks } => format!("src {}", networks.join(" ")),
            Test::Client { networks } => {
                format!("var({}) -m ip {}", super::CLIENT_VAR, networks.join(" "))
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

/// A rule that takes requests: the first whose ACLs all match sets [`super::ROUTE_VAR`] to its
/// `key` (`http-request set-var(txn.route) str(KEY) if !{ var(txn.route) -m found } ACL1…`),
/// and `use_backend BACKEND if { var(txn.route) -m str KEY }` sends the request on.
#[derive(Debug, Clone, Serialize)]
pub struct Switch {
    /// The route key (unique in the frontend): `acme`, `site/NAME`, `env/ENV/ROUTE`,
    /// `env/ENV/` (the default), `…@preview` ([`super::env_key`]).
    pub key: String,
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
    /// Bind address (`:80`, `127.0.0.1:80`): the listener's first.
    pub bind: String,
    /// Every bind line's address and options, the first one first (`:443`,
    /// `[::]:443 v6only`): an IPv6 wildcard beside an IPv4 one is `v6only`, so each family
    /// has its own socket whatever the box's `net.ipv6.bindv6only`.
    pub binds: Vec<String>,
    /// ACLs.
    pub acls: Vec<Acl>,
    /// When set: redirect to https with 301 unless this condition holds (HTTP with TLS on:
    /// [`super::REDIRECT_UNLESS`], a rule of the frontend took the request).
    pub redirect_unless: Option<String>,
    /// Port to put in the redirect's `Location` (the https port, when it is not 443).
    pub redirect_port: Option<u16>,
    /// The redirect rule in HAProxy's spelling ([`redirect_rule`]), when there is one.
    pub redirect: Option<String>,
    /// Backend switches in order.
    pub switches: Vec<Switch>,
    /// The `http-request` lines that set the client's address for access rules (none when no
    /// rule reads it; [`super::client_lines`]).
    pub client: Vec<String>,
    /// Policy rules in evaluation order ([`super::policy_rules`]).
    pub policies: Vec<super::PolicyRule>,
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
    /// TLS to it: the `server` line's options ([`crate::model::BackendTls::haproxy`]).
    pub tls: Option<String>,
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
    /// A redirect site: haproxy answers a redirect itself.
    Redirect,
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
    /// Pages haproxy answers instead of its own for these statuses (`http-error`), by status.
    pub error_pages: Vec<ErrorPageView>,
    /// The media types whose responses it gzips (`compression type …`), when it compresses.
    pub compression: Option<Vec<String>>,
}

/// An error page of a backend: its status and its file on the box.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorPageView {
    /// Status.
    pub status: u16,
    /// The page's file (`/etc/haproxy/errors/error.ID.STATUS.html`).
    pub file: String,
    /// The page.
    #[serde(skip)]
    pub page: crate::model::Body,
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
        /// The env's preview pool: the idle colour's servers, for `preview` requests from
        /// trusted networks ([`super::preview_backend`]).
        preview: bool,
        /// The component's `timeout server`, when not the edge's (`30s`).
        timeout_server: Option<String>,
        /// The component's `timeout tunnel`, when not the edge's.
        timeout_tunnel: Option<String>,
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
        /// `Content-Type` (`text/plain; charset=utf-8`, or `text/html` for an HTML placeholder).
        content_type: &'static str,
        /// Whose answer it is.
        #[serde(skip)]
        of: StaticOf,
    },
    /// ACME challenges to certbot's standalone listener.
    Acme,
    /// A redirect route: for the first of `prefixes` the path begins with, `http-request
    /// redirect location TO%[pathq,bytes(LEN)] code STATUS` (the prefix replaced by `to`).
    PathRedirect {
        /// The route's prefixes, in order.
        prefixes: Vec<String>,
        /// What the matched prefix becomes.
        to: String,
        /// Status.
        status: u16,
    },
    /// A redirect site: `http-request redirect location TO[PATH?QUERY] code STATUS`.
    Redirect {
        /// The origin redirected to (`https://example.org`).
        to: String,
        /// Status.
        status: u16,
        /// The request's path and query appended (else `/`).
        keep_path: bool,
    },
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
            Role::Redirect { .. } | Role::PathRedirect { .. } => BackendKind::Redirect,
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

    /// An env's preview pool.
    pub fn is_preview(&self) -> bool {
        matches!(self.role, Role::Pool { preview: true, .. })
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
    /// The `userlist` sections basic auth reads.
    pub userlists: Vec<UserlistSection>,
    /// The stick tables the rate limits count in (each a backend of its own).
    pub stick_tables: Vec<super::StickTable>,
    /// The access log.
    pub log: super::LogView,
}

/// A `userlist` section as haproxy.cfg holds it: the template's input, and the only place the
/// password hashes are spelled out ([`crate::model::PasswordHash::haproxy`]); the plan masks
/// them ([`crate::plan::secrets::mask`]).
#[derive(Debug, Clone, Serialize)]
pub struct UserlistSection {
    /// Name.
    pub name: String,
    /// Users: name and password hash.
    pub users: Vec<(String, String)>,
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
