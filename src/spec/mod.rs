//! The spec language: finding the spec files of a specs directory, reading them, and decoding
//! the KDL (v2) into spanned structs that mirror the files ([`Spec`]).
//!
//! Decoding already checks each value against its model type (a `host` is a [`Host`], a `port`
//! a [`Port`]…), so what comes out is typed, but it is not yet known to be *consistent*: names
//! may collide across files, a route may name a missing component. That is [`crate::validate`]'s
//! job, which turns a [`Spec`] into a [`crate::model::Edge`]. Every value keeps the file and
//! span it came from so that both stages point at the exact place of a problem.
//!
//! Layout: `DIR/edge.kdl`, then every `DIR/env/*.kdl` in name order, then whatever an
//! `include "path"` node names (relative to `DIR`, each file once). All files merge into one
//! edge; any node may stand in any file.

mod decode;
mod error;
pub mod guard;
mod observe;
pub mod policy;
mod read;
pub mod secret;
mod tcp;

use std::sync::Arc;

use miette::{NamedSource, SourceSpan};

pub use error::{Note, Problem, SpecError, Src};
pub use observe::{AccessLogSpec, MetricsSpec, PeersSpec};
pub use policy::{
    BasicAuthSpec, BypassSpec, ErrorPageSpec, HeaderSpec, HeaderVerb, HstsSpec, MaintenanceSpec,
    MaxBodySpec, PolicySpec, RateLimitSpec, RedirectSpec, RulesSpec, SecuritySpec, UserSpec,
    UserlistSpec,
};
pub use read::{load, load_files};
pub use tcp::{TcpCheckSpec, TcpSpec};

use crate::model::{
    AbsPath, Address, Arg, Balance, Bind, Body, CertName, Color, CookieName, Directory, Duration,
    Email, Host, Ident, KeyType, LocalPath, NamePattern, Network, PathPrefix, PathSuffix, Port,
    SocketMode,
};
use crate::model::{CheckString, HealthPath, StatusSet};

/// Largest spec file accepted; anything bigger is a mistake or an attack.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// One spec file: its path relative to the specs directory and its text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path relative to the specs root, `/`-separated.
    pub rel: String,
    /// Path as shown in diagnostics (the specs dir as given, joined with `rel`).
    pub shown: String,
    /// Raw bytes (hashed as they are).
    pub bytes: Arc<Vec<u8>>,
    /// Text.
    pub text: Arc<String>,
    /// What diagnostics quote: the text with its secrets masked ([`secret::mask`]), made once
    /// (the same text when it holds none).
    quoted: Arc<String>,
}

impl SourceFile {
    /// The file `rel` (shown as `shown`) of `bytes`, read as text (lossily).
    pub fn new(rel: String, shown: String, bytes: Vec<u8>) -> SourceFile {
        let text = Arc::new(String::from_utf8_lossy(&bytes).into_owned());
        let masked = secret::mask(&text);
        let quoted = if masked == *text {
            text.clone()
        } else {
            Arc::new(masked)
        };
        SourceFile {
            rel,
            shown,
            bytes: Arc::new(bytes),
            text,
            quoted,
        }
    }

    /// A miette source for this file, its secrets masked: what diagnostics quote.
    pub fn named(&self) -> Src {
        NamedSource::new(self.shown.clone(), self.quoted.clone())
    }
}

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct At {
    /// Index into [`Spec::files`].
    pub file: usize,
    /// Byte span.
    pub span: SourceSpan,
}

/// A value with its place.
#[derive(Debug, Clone)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Its place.
    pub at: At,
}

/// Everything decoded from a specs directory.
#[derive(Debug, Clone, Default)]
pub struct Spec {
    /// The files, in load order.
    pub files: Vec<SourceFile>,
    /// `edge NAME`.
    pub edge: Option<Spanned<Ident>>,
    /// `listen`.
    pub listen: Option<Spanned<ListenSpec>>,
    /// `tls`.
    pub tls: Option<Spanned<TlsSpec>>,
    /// `acme`.
    pub acme: Option<Spanned<AcmeSpec>>,
    /// `stats`.
    pub stats: Option<Spanned<StatsSpec>>,
    /// `admin-socket`.
    pub admin: Option<Spanned<AdminSpec>>,
    /// `timeouts`.
    pub timeouts: Option<Spanned<TimeoutsSpec>>,
    /// `health`.
    pub health: Option<Spanned<HealthSpec>>,
    /// `sticky-cookie`.
    pub sticky_cookie: Option<Spanned<CookieName>>,
    /// `request-id header=NAME` (the node's place; the header, when given).
    pub request_id: Option<Spanned<Option<Spanned<crate::model::HeaderName>>>>,
    /// `trusted NETWORK…` (its networks; the node's place).
    pub trusted: Option<Spanned<Vec<Spanned<Network>>>>,
    /// `peers bind=…`.
    pub peers: Option<Spanned<PeersSpec>>,
    /// `metrics bind=… path=… { allow … }`.
    pub metrics: Option<Spanned<MetricsSpec>>,
    /// `access-log format=… target=… facility=…`.
    pub access_log: Option<Spanned<AccessLogSpec>>,
    /// `env` nodes.
    pub envs: Vec<EnvSpec>,
    /// `base` nodes: shared definitions for envs (an env without hosts, colour or preview).
    pub bases: Vec<EnvSpec>,
    /// `outside` nodes.
    pub outside: Vec<OutsideSpec>,
    /// `placeholder` nodes.
    pub placeholders: Vec<PlaceholderSpec>,
    /// `redirect` nodes.
    pub redirects: Vec<RedirectSpec>,
    /// `tcp` nodes.
    pub tcp: Vec<TcpSpec>,
    /// `target` nodes.
    pub targets: Vec<TargetSpec>,
    /// `policy` nodes.
    pub policies: Vec<PolicySpec>,
    /// `userlist` nodes.
    pub userlists: Vec<UserlistSpec>,
    /// Top-level `policies`: the edge-wide rules.
    pub rules: RulesSpec,
}

impl Spec {
    /// The miette source of a place.
    pub fn src(&self, at: At) -> Src {
        self.files[at.file].named()
    }
}

/// `listen http=… https=…`.
#[derive(Debug, Clone, Default)]
pub struct ListenSpec {
    /// HTTP listener.
    pub http: Option<Spanned<Bind>>,
    /// HTTPS listener.
    pub https: Option<Spanned<Bind>>,
    /// More addresses of the HTTP listener (`listen { http A B… }`: all but the first).
    pub http_more: Vec<Spanned<Bind>>,
    /// More addresses of the HTTPS listener.
    pub https_more: Vec<Spanned<Bind>>,
    /// `accept-proxy=`: a PROXY protocol header is read from trusted sources.
    pub accept_proxy: Option<Spanned<bool>>,
}

/// `tls cert-dir=… min-version=…`.
#[derive(Debug, Clone, Default)]
pub struct TlsSpec {
    /// Combined PEM directory.
    pub cert_dir: Option<Spanned<AbsPath>>,
    /// Minimum TLS version.
    pub min_version: Option<Spanned<String>>,
}

/// `acme …` with `certificate` children.
#[derive(Debug, Clone, Default)]
pub struct AcmeSpec {
    /// Account e-mail.
    pub email: Option<Spanned<Email>>,
    /// Directory.
    pub directory: Option<Spanned<Directory>>,
    /// Challenge responder port (loopback).
    pub challenge_port: Option<Spanned<Port>>,
    /// Challenge responder address; must be loopback.
    pub challenge_address: Option<Spanned<Address>>,
    /// Key type.
    pub key_type: Option<Spanned<KeyType>>,
    /// Certificate groups.
    pub certificates: Vec<CertSpec>,
}

/// `certificate NAME { domains … }` or `certificate NAME hosts-of=NAME`.
#[derive(Debug, Clone)]
pub struct CertSpec {
    /// Name.
    pub name: Spanned<CertName>,
    /// Explicit domains.
    pub domains: Vec<Spanned<Host>>,
    /// Derived from the hosts of an env, outside backend or placeholder.
    pub hosts_of: Option<Spanned<Ident>>,
}

/// `stats bind=… uri=…`.
#[derive(Debug, Clone, Default)]
pub struct StatsSpec {
    /// Listen address.
    pub bind: Option<Spanned<Bind>>,
    /// Page URI.
    pub uri: Option<Spanned<PathPrefix>>,
}

/// `admin-socket PATH mode=…`.
#[derive(Debug, Clone, Default)]
pub struct AdminSpec {
    /// Socket path.
    pub path: Option<Spanned<AbsPath>>,
    /// Address if someone tries a TCP admin endpoint (refused by validation).
    pub address: Option<Spanned<Address>>,
    /// Mode.
    pub mode: Option<Spanned<SocketMode>>,
}

/// `timeouts …`.
#[derive(Debug, Clone, Default)]
pub struct TimeoutsSpec {
    /// connect.
    pub connect: Option<Spanned<Duration>>,
    /// client.
    pub client: Option<Spanned<Duration>>,
    /// server.
    pub server: Option<Spanned<Duration>>,
    /// tunnel.
    pub tunnel: Option<Spanned<Duration>>,
    /// http-request.
    pub http_request: Option<Spanned<Duration>>,
    /// http-keep-alive.
    pub http_keep_alive: Option<Spanned<Duration>>,
    /// queue.
    pub queue: Option<Spanned<Duration>>,
}

/// `health …`.
#[derive(Debug, Clone, Default)]
pub struct HealthSpec {
    /// interval.
    pub interval: Option<Spanned<Duration>>,
    /// fall.
    pub fall: Option<Spanned<u32>>,
    /// rise.
    pub rise: Option<Spanned<u32>>,
    /// slowstart.
    pub slowstart: Option<Spanned<Duration>>,
    /// shutdown-sessions.
    pub shutdown_sessions: Option<Spanned<bool>>,
}

/// `env NAME { … }`.
#[derive(Debug, Clone)]
pub struct EnvSpec {
    /// `base=`: the shared definitions it starts from (`None` for a base itself).
    pub base: Option<Spanned<Ident>>,
    /// Name and place of the node.
    pub name: Spanned<Ident>,
    /// Public hosts.
    pub hosts: Vec<Spanned<Host>>,
    /// Default active colour.
    pub active_color: Option<Spanned<Color>>,
    /// Server name pattern.
    pub container_pattern: Option<Spanned<NamePattern>>,
    /// Explicit cookie name.
    pub cookie: Option<Spanned<CookieName>>,
    /// Components.
    pub components: Vec<ComponentSpec>,
    /// Routes in order.
    pub routes: Vec<RouteSpec>,
    /// Default component.
    pub default: Option<Spanned<Ident>>,
    /// Probes after each reload.
    pub probes: Vec<ProbeSpec>,
    /// `preview HOST`: the host that reaches the env's idle colour, from trusted networks.
    pub preview: Option<Spanned<Host>>,
    /// Hosts listed with `plain-http=#true`: served over plain HTTP too.
    pub plain_http: Vec<Spanned<Host>>,
    /// `hosts HOST… { rules… }`: rules for the requests to those hosts.
    pub host_rules: Vec<(Vec<Spanned<Host>>, RulesSpec)>,
    /// Its rules.
    pub rules: RulesSpec,
}

/// `probe PATH host=… status=… body=… timeout=… tries=…`: a request through the box's own
/// haproxy after every reload that touches the env.
#[derive(Debug, Clone)]
pub struct ProbeSpec {
    /// The node's place.
    pub at: At,
    /// Path and query.
    pub path: Spanned<HealthPath>,
    /// `Host` header (default: the env's first host).
    pub host: Option<Spanned<Host>>,
    /// What the answer must be.
    pub expect: ExpectSpec,
    /// Tries before it fails.
    pub tries: Option<Spanned<i128>>,
}

/// `component NAME port=… health=… balance=… sticky=… pool=…`.
#[derive(Debug, Clone)]
pub struct ComponentSpec {
    /// `timeout-server=`: how long its servers may take to answer (haproxy `timeout server`).
    pub timeout_server: Option<Spanned<Duration>>,
    /// `timeout-tunnel=`: how long a WebSocket or other tunnel may stay idle.
    pub timeout_tunnel: Option<Spanned<Duration>>,
    /// Name.
    pub name: Spanned<Ident>,
    /// Port.
    pub port: Option<Spanned<Port>>,
    /// Health-check URL.
    pub health: Option<Spanned<HealthPath>>,
    /// What the health check expects.
    pub expect: ExpectSpec,
    /// Balance.
    pub balance: Option<Spanned<Balance>>,
    /// Sticky.
    pub sticky: Option<Spanned<bool>>,
    /// Pool (backend name suffix).
    pub pool: Option<Spanned<Ident>>,
    /// `instances=N`: N servers per colour named by the container pattern's `{index}`.
    pub instances: Option<Spanned<u32>>,
    /// Explicit `instance` children.
    pub instance_list: Vec<InstanceSpec>,
}

/// `instance NAME color=… address=… weight=…` inside a component.
#[derive(Debug, Clone)]
pub struct InstanceSpec {
    /// Name (the server name).
    pub name: Spanned<Ident>,
    /// Colour it belongs to.
    pub color: Option<Spanned<Color>>,
    /// Where it listens.
    pub address: Option<Spanned<InstanceAddress>>,
    /// Weight.
    pub weight: Option<Spanned<u16>>,
}

/// An instance's `address`: a host, and the port unless it takes the component's.
#[derive(Debug, Clone)]
pub struct InstanceAddress {
    /// Host name (lower-cased), IPv4 address or `[v6]`.
    pub host: String,
    /// Port, when given.
    pub port: Option<Port>,
}

/// `route NAME to=… { prefix …; suffix … }`.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    /// Name.
    pub name: Spanned<Ident>,
    /// Target component.
    pub to: Option<Spanned<Ident>>,
    /// `outside=`: target outside backend.
    pub outside: Option<Spanned<Ident>>,
    /// `redirect=`: the prefix the matched one becomes in a redirect.
    pub redirect: Option<Spanned<PathPrefix>>,
    /// `status=` of a redirect.
    pub status: Option<Spanned<u16>>,
    /// `rewrite=`: the prefix the matched one becomes upstream.
    pub rewrite: Option<Spanned<PathPrefix>>,
    /// Prefixes.
    pub prefixes: Vec<Spanned<PathPrefix>>,
    /// Suffixes.
    pub suffixes: Vec<Spanned<PathSuffix>>,
    /// Its rules.
    pub rules: RulesSpec,
}

/// `outside NAME address=… health=… { hosts … }`.
#[derive(Debug, Clone)]
pub struct OutsideSpec {
    /// Name.
    pub name: Spanned<Ident>,
    /// Hosts.
    pub hosts: Vec<Spanned<Host>>,
    /// Hosts listed with `plain-http=#true`: served over plain HTTP too.
    pub plain_http: Vec<Spanned<Host>>,
    /// Address.
    pub address: Option<Spanned<Address>>,
    /// Health-check URL.
    pub health: Option<Spanned<HealthPath>>,
    /// What the health check expects.
    pub expect: ExpectSpec,
    /// `tls verify=… ca-file=… sni=… client-certificate=…`.
    pub tls: Option<Spanned<BackendTlsSpec>>,
    /// Its rules.
    pub rules: RulesSpec,
}

/// `tls verify="required"|"none" ca-file=PATH sni=HOST client-certificate=PATH` of an outside
/// backend.
#[derive(Debug, Clone, Default)]
pub struct BackendTlsSpec {
    /// `verify=` (true: required).
    pub verify: Option<Spanned<bool>>,
    /// `ca-file=`.
    pub ca_file: Option<Spanned<AbsPath>>,
    /// `sni=`.
    pub sni: Option<Spanned<Host>>,
    /// `client-certificate=`.
    pub client_certificate: Option<Spanned<AbsPath>>,
}

/// `health-status=`, `health-body=`, `health-timeout=` of a component or outside backend.
#[derive(Debug, Clone, Default)]
pub struct ExpectSpec {
    /// Accepted statuses.
    pub status: Option<Spanned<StatusSet>>,
    /// A string the body must contain.
    pub body: Option<Spanned<CheckString>>,
    /// Check timeout.
    pub timeout: Option<Spanned<Duration>>,
}

/// `placeholder NAME status=… { hosts …; body … }`.
#[derive(Debug, Clone)]
pub struct PlaceholderSpec {
    /// Name.
    pub name: Spanned<Ident>,
    /// Hosts.
    pub hosts: Vec<Spanned<Host>>,
    /// Hosts listed with `plain-http=#true`: served over plain HTTP too.
    pub plain_http: Vec<Spanned<Host>>,
    /// Status.
    pub status: Option<Spanned<u16>>,
    /// Body.
    pub body: Option<Spanned<Body>>,
    /// `html=`: the body is HTML.
    pub html: Option<Spanned<bool>>,
    /// Its rules.
    pub rules: RulesSpec,
}

/// `target NAME { local|ssh|incus …; validate …; reload …; reload-timeout … }`.
#[derive(Debug, Clone)]
pub struct TargetSpec {
    /// Name.
    pub name: Spanned<Ident>,
    /// Transport (exactly one).
    pub transports: Vec<Spanned<TransportSpec>>,
    /// Validate command.
    pub validate: Option<Spanned<Vec<Arg>>>,
    /// Reload command.
    pub reload: Option<Spanned<Vec<Arg>>>,
    /// How long a reload may take to show a new worker.
    pub reload_timeout: Option<Spanned<Duration>>,
}

/// One transport child of a target.
#[derive(Debug, Clone)]
pub enum TransportSpec {
    /// `local root=…`.
    Local {
        /// Root.
        root: Option<Spanned<LocalPath>>,
    },
    /// `ssh host=… user=… port=… identity=…`.
    Ssh {
        /// Host.
        host: Option<Spanned<Arg>>,
        /// User.
        user: Option<Spanned<Arg>>,
        /// Port.
        port: Option<Spanned<Port>>,
        /// Identity.
        identity: Option<Spanned<LocalPath>>,
    },
    /// `incus container=… remote=…`.
    Incus {
        /// Container.
        container: Option<Spanned<Ident>>,
        /// Remote.
        remote: Option<Spanned<Ident>>,
    },
}

#[cfg(test)]
mod tests {
    use super::read::normalize_include;
    use super::*;

    fn codes(r: Result<Spec, Vec<SpecError>>) -> Vec<String> {
        use miette::Diagnostic;
        r.err()
            .unwrap_or_default()
            .iter()
            .map(|e| e.code().map(|c| c.to_string()).unwrap_or_default())
            .collect()
    }

    #[test]
    fn a_symlink_cannot_lead_out_of_the_specs_dir() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.kdl"), "edge \"x\"\n").unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("edge.kdl"), "edge \"x\"\n").unwrap();
        std::fs::create_dir(dir.path().join("env")).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.kdl"),
            dir.path().join("env/a.kdl"),
        )
        .unwrap();
        assert_eq!(codes(load(dir.path())), ["edgeplan::spec::io"]);
        // A link that stays inside is fine.
        std::fs::remove_file(dir.path().join("env/a.kdl")).unwrap();
        std::fs::write(dir.path().join("real.kdl"), "").unwrap();
        std::os::unix::fs::symlink(dir.path().join("real.kdl"), dir.path().join("env/a.kdl"))
            .unwrap();
        assert!(load(dir.path()).is_ok());
    }

    #[test]
    fn include_paths_stay_inside() {
        assert_eq!(normalize_include("./a/b.kdl").unwrap(), "a/b.kdl");
        for bad in ["../x.kdl", "/etc/x.kdl", "a/../../x.kdl", "x.txt", ""] {
            assert!(normalize_include(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn many_files_parse_in_parallel_in_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("edge.kdl"), "edge \"x\"\n").unwrap();
        std::fs::create_dir(dir.path().join("env")).unwrap();
        for i in 0..20 {
            std::fs::write(
                dir.path().join(format!("env/e{i:02}.kdl")),
                format!("env \"e{i}\" {{\n}}\n"),
            )
            .unwrap();
        }
        std::fs::write(dir.path().join("env/e07.kdl"), "env \"e7\" {\n").unwrap();
        let spec = load(dir.path()).unwrap_err();
        assert!(
            spec.iter().all(|e| e.to_string().contains("KDL syntax")),
            "{spec:?}"
        );
        std::fs::write(dir.path().join("env/e07.kdl"), "env \"e7\" {\n}\n").unwrap();
        let spec = load(dir.path()).unwrap();
        let names: Vec<&str> = spec.envs.iter().map(|e| e.name.value.as_str()).collect();
        let expected: Vec<String> = (0..20).map(|i| format!("e{i}")).collect();
        assert_eq!(names, expected);
    }
}
