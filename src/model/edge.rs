//! The whole edge: [`Edge`], the checked and merged model of every spec file that
//! [`crate::validate`] builds, and its parts — listeners, TLS and ACME, stats and admin socket,
//! timeouts, envs with their components, instances, routes, outside backends, placeholders and
//! targets. Maps are `BTreeMap`, so every walk over the model is in a stable order.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::*;

/// The checked, merged model of every spec file.
#[derive(Debug, Clone, Serialize)]
pub struct Edge {
    /// Name of the edge (the HAProxy container).
    pub name: Ident,
    /// Public listeners.
    pub listen: Listen,
    /// TLS termination; `None` means HTTP only.
    pub tls: Option<Tls>,
    /// Let's Encrypt; `None` means certificates are managed elsewhere.
    pub acme: Option<Acme>,
    /// Stats page, loopback only.
    pub stats: Option<Stats>,
    /// Admin socket for the runtime API.
    pub admin: AdminSocket,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// Health-check defaults.
    pub health: HealthDefaults,
    /// Base name of sticky cookies; each env appends `_<env>` unless it names its own.
    pub sticky_cookie: CookieName,
    /// A unique id per request, in this header: set by the edge (a trusted proxy's kept),
    /// passed upstream, returned to the client and logged (`request-id`).
    pub request_id: Option<RequestId>,
    /// The local peer carrying stick tables across reloads (rendered when a rate limit
    /// needs one).
    pub peers: super::Peers,
    /// The Prometheus metrics listener.
    pub metrics: Option<super::Metrics>,
    /// The access log.
    pub access_log: super::AccessLog,
    /// Networks that may front the edge (a load balancer, the HA pair's peer, a PROXY protocol
    /// sender): the only sources whose client-identity headers (`X-Forwarded-For`, `Forwarded`,
    /// `X-Real-IP`, `X-Forwarded-Host`, `X-Forwarded-Port`) are believed. Empty: nobody.
    pub trusted: Vec<Network>,
    /// Environments by name.
    pub envs: BTreeMap<Ident, Env>,
    /// Outside backends by name.
    pub outside: BTreeMap<Ident, Outside>,
    /// Placeholder sites by name.
    pub placeholders: BTreeMap<Ident, Placeholder>,
    /// Redirect sites by name.
    pub redirects: BTreeMap<Ident, Redirect>,
    /// TCP services by name.
    pub tcp: BTreeMap<Ident, super::TcpService>,
    /// Deployment targets by name.
    pub targets: BTreeMap<Ident, Target>,
    /// Named policies by name.
    pub policies: BTreeMap<Ident, Policy>,
    /// Userlists (of basic auth) by name.
    pub userlists: BTreeMap<Ident, Userlist>,
    /// Rules for every request but ACME challenges (top-level `policies`).
    pub policy: Attached,
}

/// The request-id header (`request-id header=NAME`, default `X-Request-ID`).
#[derive(Debug, Clone, Serialize)]
pub struct RequestId {
    /// The header.
    pub header: HeaderName,
}

/// Public listeners.
#[derive(Debug, Clone, Serialize)]
pub struct Listen {
    /// Plain HTTP (ACME challenges + redirect to https when TLS is on).
    pub http: Bind,
    /// HTTPS, present exactly when TLS is on.
    pub https: Option<Bind>,
    /// More addresses of the HTTP listener, on its port (`[::]:80` beside `*:80`).
    pub http_more: Vec<Bind>,
    /// More addresses of the HTTPS listener, on its port.
    pub https_more: Vec<Bind>,
    /// Connections from the `trusted` networks start with a PROXY protocol header (v1 or v2:
    /// haproxy's `expect-proxy layer4`), whose client address then is the connection's
    /// source; from anywhere else a PROXY header is not read (and fails as HTTP, 400).
    pub accept_proxy: bool,
}

/// TLS settings.
#[derive(Debug, Clone, Serialize)]
pub struct Tls {
    /// Directory of combined PEMs (`cert + chain + key`), one per certificate.
    pub cert_dir: AbsPath,
    /// `TLSv1.2` or `TLSv1.3`.
    pub min_version: String,
}

/// Let's Encrypt / ACME settings shared by the whole edge.
#[derive(Debug, Clone, Serialize)]
pub struct Acme {
    /// Account e-mail.
    pub email: Email,
    /// ACME directory.
    pub directory: Directory,
    /// Loopback port of certbot's standalone challenge responder.
    pub challenge_port: Port,
    /// Loopback address it listens on (`127.0.0.1`, `[::1]`).
    pub challenge_host: String,
    /// Key type.
    pub key_type: KeyType,
    /// Certificate groups: name → domains (sorted).
    pub certificates: BTreeMap<CertName, Vec<Host>>,
}

/// Stats page.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    /// Loopback listen address.
    pub bind: Bind,
    /// URI of the stats page.
    pub uri: PathPrefix,
}

/// Admin socket for the runtime API: a unix socket, or a loopback TCP address.
#[derive(Debug, Clone, Serialize)]
pub struct AdminSocket {
    /// Where it listens.
    pub endpoint: AdminEndpoint,
    /// Mode (unix sockets only).
    pub mode: SocketMode,
}

/// Where the admin socket listens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "at", rename_all = "lowercase")]
pub enum AdminEndpoint {
    /// A unix socket path.
    Unix(AbsPath),
    /// A loopback TCP address.
    Tcp(Address),
}

impl AdminEndpoint {
    /// Where it is, as messages show it (`/run/haproxy/admin.sock`, `127.0.0.1:9999`).
    pub fn shown(&self) -> String {
        match self {
            AdminEndpoint::Unix(p) => p.to_string(),
            AdminEndpoint::Tcp(a) => a.to_string(),
        }
    }
}

/// `unix:/PATH` or `tcp:HOST:PORT`: the form the box script's `admin` operation takes.
impl fmt::Display for AdminEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdminEndpoint::Unix(p) => write!(f, "unix:{p}"),
            AdminEndpoint::Tcp(a) => write!(f, "tcp:{a}"),
        }
    }
}

/// The [`fmt::Display`] form back.
impl std::str::FromStr for AdminEndpoint {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<AdminEndpoint, Invalid> {
        if let Some(p) = s.strip_prefix("unix:") {
            Ok(AdminEndpoint::Unix(AbsPath::parse(p)?))
        } else if let Some(a) = s.strip_prefix("tcp:") {
            Ok(AdminEndpoint::Tcp(Address::parse(a)?))
        } else {
            Err(Invalid::new(
                "an admin endpoint `unix:/PATH` or `tcp:HOST:PORT`",
                "has neither prefix",
            ))
        }
    }
}

/// Timeouts.
#[derive(Debug, Clone, Serialize)]
pub struct Timeouts {
    /// Connect to a server.
    pub connect: Duration,
    /// Client inactivity.
    pub client: Duration,
    /// Server inactivity.
    pub server: Duration,
    /// Tunnel (WebSocket) inactivity.
    pub tunnel: Duration,
    /// Time to receive a whole request head.
    pub http_request: Duration,
    /// Keep-alive between requests.
    pub http_keep_alive: Duration,
    /// Time in queue.
    pub queue: Duration,
}

/// Health-check defaults applied to every server.
#[derive(Debug, Clone, Serialize)]
pub struct HealthDefaults {
    /// Interval between checks.
    pub interval: Duration,
    /// Failed checks before down.
    pub fall: u32,
    /// Passed checks before up.
    pub rise: u32,
    /// Linear weight ramp-up after recovery.
    pub slowstart: Duration,
    /// Cut sessions of a server marked down.
    pub shutdown_sessions: bool,
}

/// One environment (staging, prod…).
#[derive(Debug, Clone, Serialize)]
pub struct Env {
    /// Name.
    pub name: Ident,
    /// Public hosts.
    pub hosts: Vec<Host>,
    /// Colour taking traffic unless the box's state says otherwise.
    pub active_color: Color,
    /// How servers are named; `None` when every component lists its instances.
    pub container_pattern: Option<NamePattern>,
    /// The env's own sticky cookie name.
    pub cookie: CookieName,
    /// Components by name.
    pub components: BTreeMap<Ident, Component>,
    /// Path routes in rule order.
    pub routes: Vec<Route>,
    /// Component for everything no route matched (the spec's `default`, or the only component
    /// of an env of one); `None` → the default 503.
    pub default: Option<Ident>,
    /// Requests through the box's haproxy after every reload that touches the env.
    pub probes: Vec<Probe>,
    /// The host that reaches the env's idle colour (the other colour than the one of record;
    /// during a canary, the canary's), from the edge's `trusted` networks only.
    pub preview: Option<Host>,
    /// Rules for every request to the env (its hosts and its preview host).
    pub policy: Attached,
    /// Hosts also served over plain HTTP on an edge with TLS (no redirect to https).
    pub plain_http: Vec<Host>,
    /// Rules for the requests to some of its hosts (`hosts HOST… { rules… }`), in spec order.
    pub host_policies: Vec<HostPolicy>,
}

/// Rules for the requests an env takes on some of its hosts.
#[derive(Debug, Clone, Serialize)]
pub struct HostPolicy {
    /// The hosts.
    pub hosts: Vec<Host>,
    /// The rules.
    pub policy: Attached,
}

/// A probe: after a reload, `GET path` with `Host: host` through the box's own haproxy must
/// answer as `expect` says, within `tries` tries one second apart (the first pass counts).
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    /// Path and query.
    pub path: HealthPath,
    /// `Host` header: one of the env's hosts.
    pub host: Host,
    /// Statuses, body string, time limit.
    pub expect: HealthExpect,
    /// Tries, 1 to 10.
    pub tries: u32,
}

/// Tries of a probe unless the spec says (`tries=`).
pub const PROBE_TRIES: u32 = 3;

/// One component of an env (backend, stream, web).
#[derive(Debug, Clone, Serialize)]
pub struct Component {
    /// Its `timeout server`, when not the edge's.
    pub timeout_server: Option<Duration>,
    /// Its `timeout tunnel`, when not the edge's.
    pub timeout_tunnel: Option<Duration>,
    /// Name.
    pub name: Ident,
    /// Port the component listens on in its container.
    pub port: Port,
    /// Health-check URL.
    pub health: HealthPath,
    /// What the health check expects.
    pub expect: HealthExpect,
    /// Balancing.
    pub balance: Balance,
    /// The sticky cookie that pins a client to one of its instances (`None`: not sticky). The
    /// env's cookie when it is the env's only sticky component, else `<env cookie>_<component>`:
    /// two components never overwrite each other's pin, and no two cookies of the edge share a
    /// name.
    pub cookie: Option<CookieName>,
    /// Backend name suffix: the backend is `<env>_<pool>`.
    pub pool: Ident,
    /// The servers of the pool: every instance of both colours, blue first, each colour in
    /// index (or spec) order. Each colour has at least one.
    pub instances: Vec<Instance>,
}

impl Component {
    /// The instances of one colour.
    pub fn instances_of(&self, color: Color) -> impl Iterator<Item = &Instance> {
        self.instances.iter().filter(move |i| i.color == color)
    }

    /// The instance whose server is named `name`.
    pub fn instance(&self, name: &str) -> Option<&Instance> {
        self.instances.iter().find(|i| i.name.as_str() == name)
    }
}

/// One instance of a component in one colour: one `server` line of its pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Instance {
    /// Server name in haproxy.cfg, unique in the component: `blue`/`green` for a colour with
    /// one pattern instance, `blue-1`, `blue-2`… for several, the spec's name for an explicit
    /// `instance`. What `edgeplan server` takes.
    pub name: Ident,
    /// Colour it belongs to.
    pub color: Color,
    /// Host name or IP address (`[v6]`).
    pub host: String,
    /// Port.
    pub port: Port,
    /// Weight 1–256; `None`: HAProxy's default (1).
    pub weight: Option<u16>,
    /// Its number (1-based) when the container pattern names it; `None` for an explicit
    /// `instance`.
    pub index: Option<u32>,
}

impl Instance {
    /// Largest hash-ring id: ids times HAProxy's 4096 ring points per id stay below 2^32.
    pub const MAX_HASH_ID: u32 = (1 << 20) - 1;

    /// The server's `id` in a URI-hashed pool: derived from the instance alone — its colour and
    /// number for pattern instances (so `blue` keeps its id when it becomes `blue-1`), its name
    /// for explicit ones — with FNV-1a, folded into 1..=[`Self::MAX_HASH_ID`]. A server thus
    /// keeps its places on HAProxy's consistent-hash ring when others are added or removed
    /// (HAProxy places a server by its id, which by default is its position in the backend).
    pub fn hash_id(&self) -> u32 {
        let key = match self.index {
            Some(i) => format!("{}-{i}", self.color),
            None => self.name.to_string(),
        };
        let mut h: u32 = 0x811c_9dc5;
        for b in key.bytes() {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
        h % Self::MAX_HASH_ID + 1
    }
}

/// Most instances a component may have per colour (`instances=`).
pub const MAX_INSTANCES: u32 = 64;
/// Largest server weight (HAProxy's limit).
pub const MAX_WEIGHT: u16 = 256;

/// Where a route sends what it takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RouteTarget {
    /// A component of the env (`to=`).
    Component {
        /// The component.
        name: Ident,
    },
    /// An outside backend (`outside=`).
    Outside {
        /// The outside backend.
        name: Ident,
    },
    /// A redirect (`redirect=`): the matched prefix replaced by `to`, the rest of the path and
    /// the query kept.
    Redirect {
        /// The new prefix.
        to: PathPrefix,
        /// Status (a redirect status, [`super::REDIRECT_STATUSES`]).
        status: u16,
    },
}

impl fmt::Display for RouteTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteTarget::Component { name } => write!(f, "{name}"),
            RouteTarget::Outside { name } => write!(f, "outside {name}"),
            RouteTarget::Redirect { to, status } => write!(f, "redirect {to} ({status})"),
        }
    }
}

/// A path route inside an env.
#[derive(Debug, Clone, Serialize)]
pub struct Route {
    /// Name (ACL `<env>_is_<name>`).
    pub name: Ident,
    /// Where it sends what it takes.
    pub to: RouteTarget,
    /// The prefix the matched one becomes before the request goes upstream (`rewrite=`; not
    /// for a redirect).
    pub rewrite: Option<PathPrefix>,
    /// Path prefixes (any matches).
    pub prefixes: Vec<PathPrefix>,
    /// Path suffixes (any matches).
    pub suffixes: Vec<PathSuffix>,
    /// Rules for the requests the route takes (after the env's).
    pub policy: Attached,
}

/// A backend outside the deploy pipeline (Forgejo).
#[derive(Debug, Clone, Serialize)]
pub struct Outside {
    /// Name.
    pub name: Ident,
    /// Hosts routed to it.
    pub hosts: Vec<Host>,
    /// The hosts also served over plain HTTP on an edge with TLS (`plain-http=#true`).
    pub plain_http: Vec<Host>,
    /// Where it lives.
    pub address: Address,
    /// Optional health-check URL.
    pub health: Option<HealthPath>,
    /// What the health check expects.
    pub expect: HealthExpect,
    /// TLS to it, when it speaks TLS.
    pub tls: Option<super::BackendTls>,
    /// Rules for the requests to its hosts.
    pub policy: Attached,
}

/// A placeholder site answering a fixed status and body.
#[derive(Debug, Clone, Serialize)]
pub struct Placeholder {
    /// Name.
    pub name: Ident,
    /// Hosts.
    pub hosts: Vec<Host>,
    /// The hosts also served over plain HTTP on an edge with TLS (`plain-http=#true`).
    pub plain_http: Vec<Host>,
    /// HTTP status.
    pub status: u16,
    /// Body.
    pub body: Body,
    /// The body is HTML (`text/html`), else text (`text/plain`).
    pub html: bool,
    /// Rules for the requests to its hosts.
    pub policy: Attached,
}

/// How edgeplan reaches the edge box.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// Name.
    pub name: Ident,
    /// Transport.
    pub transport: Transport,
    /// Validate command; the staged config path is appended as the last argument's value.
    pub validate: Vec<Arg>,
    /// Reload command.
    pub reload: Vec<Arg>,
    /// How long after the reload command a new haproxy worker must answer on the admin socket
    /// (default 30 s; [`crate::apply`] checks it).
    pub reload_timeout: Duration,
}

/// A transport to the edge box.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Transport {
    /// A local directory standing for the box's root.
    Local {
        /// Root directory (relative paths are relative to the specs directory).
        root: LocalPath,
    },
    /// The system `ssh` binary.
    Ssh {
        /// Host name or alias from the user's ssh config.
        host: Arg,
        /// User.
        user: Option<Arg>,
        /// Port.
        port: Option<Port>,
        /// Identity file.
        identity: Option<LocalPath>,
    },
    /// The `incus` CLI.
    Incus {
        /// Container name.
        container: Ident,
        /// Remote.
        remote: Option<Ident>,
    },
}

impl Edge {
    /// What `check` and the plan warn about: backends reached over TLS without checking the
    /// server's certificate.
    pub fn warnings(&self) -> Vec<String> {
        self.outside
            .values()
            .filter(|o| {
                o.tls
                    .as_ref()
                    .is_some_and(|t| t.verify == super::BackendVerify::None)
            })
            .map(|o| {
                format!(
                    "outside backend {}: TLS with `verify=\"none\"` — the server's certificate is \
                     not checked, so anyone on the path can pretend to be it",
                    o.name
                )
            })
            .collect()
    }

    /// Does any place's rules (a used policy or inline) limit the request rate? Then the
    /// stick tables and the local peer are rendered.
    pub fn rate_limited(&self) -> bool {
        let places = std::iter::once(&self.policy)
            .chain(self.envs.values().flat_map(|e| {
                std::iter::once(&e.policy)
                    .chain(e.host_policies.iter().map(|h| &h.policy))
                    .chain(e.routes.iter().map(|r| &r.policy))
            }))
            .chain(self.outside.values().map(|o| &o.policy))
            .chain(self.placeholders.values().map(|p| &p.policy))
            .chain(self.redirects.values().map(|r| &r.policy));
        places.into_iter().any(|a| {
            a.inline.rate_limit.is_some()
                || a.uses
                    .iter()
                    .filter_map(|n| self.policies.get(n))
                    .any(|p| p.rules.rate_limit.is_some())
        })
    }

    /// Every public host and what serves it, in a stable order.
    pub fn public_hosts(&self) -> BTreeMap<&Host, String> {
        let mut out = BTreeMap::new();
        for env in self.envs.values() {
            for h in &env.hosts {
                out.insert(h, format!("env {}", env.name));
            }
        }
        for o in self.outside.values() {
            for h in &o.hosts {
                out.insert(h, format!("outside {}", o.name));
            }
        }
        for p in self.placeholders.values() {
            for h in &p.hosts {
                out.insert(h, format!("placeholder {}", p.name));
            }
        }
        for r in self.redirects.values() {
            for h in &r.hosts {
                out.insert(h, format!("redirect {}", r.name));
            }
        }
        out
    }
}
