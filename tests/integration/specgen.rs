//! A generator of valid specs covering the whole language, as proptest strategies: a structured
//! [`Plan`] (what proptest draws and shrinks) and [`Plan::files`] (its KDL text, with the few
//! fix-ups that keep it valid: shadowed routes dropped, unreached components left out, a trusted
//! network added when an env has a preview). A failing case shrinks to a small plan, printed as
//! its spec.
//!
//! Covered: every top-level node (`edge`, `include`, `listen` with or without https, `tls`,
//! `acme` with certificates by `domains` or `hosts-of`, `stats`, `admin-socket`, `timeouts`,
//! `access-log`, `metrics`, `tcp`, `listen` with several addresses per listener,
//! `health`, `sticky-cookie`, `trusted`, `env`, `outside`, `placeholder`, `target` of each
//! transport) and every env child (`hosts`, `active-color`, `container-pattern`, `cookie`,
//! `component` with every property, numbered (`instances=`) and listed instances with weights
//! and every address form (host, IPv4, `[IPv6]`, `host:port`), all balance modes, `route` by
//! prefix and suffix, `default`, `probe` with every property, `preview`), an ACME directory by
//! name or URL, and the KDL spellings of one document ([`spell`]: comments, slashdash, bare and
//! raw strings, `;`, line continuation, CRLF), and policies of every rule kind on every place
//! ([`crate::policygen`]). Used by the whole-pipeline properties ([`crate::pipeline`]) and the live agreement test.

use proptest::prelude::*;

use crate::policygen::{self, Policies};
use crate::spelling::spell;

/// Names by position: generated names are unique by construction.
pub const ENVS: [&str; 3] = ["alpha", "beta", "gamma"];
const COMPS: [&str; 3] = ["web", "api", "media"];
const OUTSIDE: [&str; 2] = ["git", "wiki"];
const PLACEHOLDERS: [&str; 2] = ["soon", "parked"];
const LABELS: [&str; 4] = ["", "www.", "app.", "API."];
const PREFIXES: [&str; 8] = [
    "/api/", "/api", "/ws", "/static/", "/a/b/", "/media/", "/", "/v1/",
];
const SUFFIXES: [&str; 4] = [".m3u8", ".ts", ".json", "/health"];
const HEALTH: [&str; 4] = ["/", "/health", "/api/v1/health", "/health?deep=1"];
const STATUSES: [&str; 3] = ["200", "200-399", "200,204"];
const BODIES: [&str; 2] = ["ok", "status: up"];
const DURATIONS: [&str; 4] = ["500ms", "2s", "30s", "1h"];
const NETWORKS: [&str; 3] = ["10.0.10.0/24", "2001:db8:10::/48", "192.0.2.7"];
/// Instance addresses: a host name, an IPv4 address, an IPv6 literal, a host with its own port.
const ADDRESS_STYLES: usize = 4;
/// Probe bodies.
const PROBE_BODIES: [&str; 2] = ["ok", "build: "];

/// How a component's instances are named.
#[derive(Debug, Clone)]
pub enum Instances {
    /// `instances=N` through the container pattern.
    Numbered(u32),
    /// `instance` children: the weights of the blue ones, then of the green ones, and how
    /// their addresses are written ([`ADDRESS_STYLES`]).
    Listed(Vec<Option<u16>>, Vec<Option<u16>>, usize),
}

/// A component.
#[derive(Debug, Clone)]
pub struct Comp {
    port: u16,
    health: usize,
    status: Option<usize>,
    body: Option<usize>,
    timeout: Option<usize>,
    balance: usize,
    sticky: bool,
    pool: bool,
    instances: Instances,
}

/// A route: its component (by position, modulo), what it is (0–5: to the component; 6: an
/// outside backend when there is one; 7: a redirect) and matchers.
#[derive(Debug, Clone)]
pub struct Route {
    to: usize,
    kind: usize,
    prefixes: Vec<usize>,
    suffixes: Vec<usize>,
}

/// An env.
#[derive(Debug, Clone)]
pub struct Env {
    labels: Vec<usize>,
    green: bool,
    pattern: usize,
    cookie: bool,
    comps: Vec<Comp>,
    routes: Vec<Route>,
    default: Option<usize>,
    /// Path, host, status, and (body, timeout, tries).
    probes: Vec<Probe>,
    preview: bool,
}

/// A probe: path, host, status, and (body, timeout, tries) — by position.
type Probe = (
    usize,
    Option<usize>,
    Option<usize>,
    Option<(Option<usize>, Option<usize>, Option<u8>)>,
);

/// A whole edge.
#[derive(Debug, Clone)]
pub struct Plan {
    https: bool,
    binds: usize,
    /// Access log and metrics: none, or one of the variants of [`Plan::files`].
    observe: usize,
    /// A TCP service: balance (by position), a banner check, PROXY protocol v2. Not in the
    /// live form (its servers are outside).
    tcp: Option<(usize, bool, bool)>,
    tls_min: Option<bool>,
    acme: Option<(usize, usize, u16, bool)>,
    stats: Option<bool>,
    admin: usize,
    timeouts: Option<Vec<usize>>,
    health: Option<(usize, u16, u16, bool)>,
    sticky_cookie: usize,
    trusted: Vec<usize>,
    envs: Vec<Env>,
    outside: Vec<(Option<usize>, u8)>,
    placeholders: Vec<(Option<usize>, bool)>,
    include: bool,
    target: usize,
    /// Which KDL spellings the text uses ([`spell`]): a bit per variant.
    syntax: u8,
    /// Policies and where they are used.
    policies: Policies,
    /// The live form only: 127.0.0.2 is trusted too (when anyone is), so the agreement test
    /// can send from a trusted source ([`Plan::live`]).
    trust_loopback: bool,
}

fn weights() -> impl Strategy<Value = Vec<Option<u16>>> {
    prop::collection::vec(prop::option::of(1u16..=256), 1..=3)
}

fn comp() -> impl Strategy<Value = Comp> {
    let instances = prop_oneof![
        (1u32..=3).prop_map(Instances::Numbered),
        (weights(), weights(), 0..ADDRESS_STYLES).prop_map(|(b, g, a)| Instances::Listed(b, g, a)),
    ];
    (
        1024u16..=9999,
        0..HEALTH.len(),
        prop::option::of(0..STATUSES.len()),
        prop::option::of(0..BODIES.len()),
        prop::option::of(0..2usize),
        0..3usize,
        any::<bool>(),
        any::<bool>(),
        instances,
    )
        .prop_map(
            |(port, health, status, body, timeout, balance, sticky, pool, instances)| Comp {
                port,
                health,
                status,
                body,
                timeout,
                balance,
                sticky,
                pool,
                instances,
            },
        )
}

fn route() -> impl Strategy<Value = Route> {
    (
        0..3usize,
        0..8usize,
        prop::collection::vec(0..PREFIXES.len(), 0..=2),
        prop::collection::vec(0..SUFFIXES.len(), 0..=2),
    )
        .prop_map(|(to, kind, prefixes, suffixes)| Route {
            to,
            kind,
            prefixes,
            suffixes,
        })
}

fn env() -> impl Strategy<Value = Env> {
    (
        prop::collection::btree_set(0..LABELS.len(), 1..=3),
        any::<bool>(),
        0..2usize,
        any::<bool>(),
        prop::collection::vec(comp(), 1..=3),
        prop::collection::vec(route(), 0..=4),
        prop::option::of(0..3usize),
        prop::collection::vec(
            (
                0..HEALTH.len(),
                prop::option::of(0..3usize),
                prop::option::of(0..STATUSES.len()),
                prop::option::of((
                    prop::option::of(0..PROBE_BODIES.len()),
                    prop::option::of(0..DURATIONS.len()),
                    prop::option::of(1u8..=10),
                )),
            ),
            0..=2,
        ),
        any::<bool>(),
    )
        .prop_map(
            |(labels, green, pattern, cookie, comps, routes, default, probes, preview)| Env {
                labels: labels.into_iter().collect(),
                green,
                pattern,
                cookie,
                comps,
                routes,
                default,
                probes,
                preview,
            },
        )
}

/// A valid spec.
pub fn plan() -> impl Strategy<Value = Plan> {
    let edge = (
        (any::<bool>(), 0..4usize, 0..6usize),
        prop::option::of(any::<bool>()),
        prop::option::of((0..3usize, 0..2usize, 8800u16..=8899, any::<bool>())),
        prop::option::of(any::<bool>()),
        0..3usize,
        prop::option::of(prop::collection::vec(0..DURATIONS.len(), 7)),
        prop::option::of((0..3usize, 1u16..=5, 1u16..=5, any::<bool>())),
        0..4usize,
        prop::collection::btree_set(0..NETWORKS.len(), 0..=2),
    );
    let sites = (
        prop::collection::vec(env(), 1..=3),
        prop::collection::vec((prop::option::of(0..STATUSES.len()), 1u8..=200), 0..=2),
        prop::collection::vec((prop::option::of(0..4usize), any::<bool>()), 0..=2),
        any::<bool>(),
        0..5usize,
        any::<u8>(),
        prop::option::weighted(0.3, (0..4usize, any::<bool>(), any::<bool>())),
    );
    (edge, sites, policygen::policies()).prop_map(
        |(
            (
                (https, binds, observe),
                tls_min,
                acme,
                stats,
                admin,
                timeouts,
                health,
                sticky_cookie,
                trusted,
            ),
            (envs, outside, placeholders, include, target, syntax, tcp),
            policies,
        )| Plan {
            https,
            binds,
            observe,
            tcp,
            tls_min,
            acme,
            stats,
            admin,
            timeouts,
            health,
            sticky_cookie,
            trusted: trusted.into_iter().collect(),
            envs,
            outside,
            placeholders,
            include,
            target,
            syntax,
            policies,
            trust_loopback: false,
        },
    )
}

fn quoted(v: &[&str]) -> String {
    v.iter()
        .map(|x| format!("\"{x}\""))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Plan {
    /// The plan as a live haproxy with stand-in upstreams can serve it: stand-ins answer every
    /// request with 200 and their identity, so no `health-body` (a check would never pass), and
    /// health checks every 200 ms so the servers are up at once.
    pub fn live(&self) -> Plan {
        let mut p = self.clone();
        for e in &mut p.envs {
            for c in &mut e.comps {
                c.body = None;
            }
        }
        p.health = Some((0, 1, 1, p.health.is_none_or(|h| h.3)));
        p.tcp = None;
        p.trust_loopback = true;
        p
    }

    /// The same edge in the plainest spelling (no comments, quoted strings, LF): its model
    /// and rendered files must be those of `self` ([`spell`]).
    pub fn plain(&self) -> Plan {
        Plan {
            syntax: 0,
            ..self.clone()
        }
    }

    /// The spec files: path under the specs directory → text.
    pub fn files(&self) -> Vec<(String, String)> {
        let mut edge = String::from("edge \"gen\"\n");
        let mut files = Vec::new();
        let (http, tls) = [
            ("*:80", "*:443"),
            ("0.0.0.0:8080", "0.0.0.0:8443"),
            ("[::]:80", "[::]:443"),
            ("*:80", "*:443"),
        ][self.binds];
        edge += &match (self.https, self.binds) {
            // Dual stack: several addresses per listener.
            (true, 3) => {
                "listen {\n    http \"*:80\" \"[::]:80\"\n    https \"*:443\" \"[::]:443\"\n}\n"
                    .to_string()
            }
            (false, 3) => "listen {\n    http \"*:80\" \"[::]:80\"\n}\n".to_string(),
            (true, _) => format!("listen http=\"{http}\" https=\"{tls}\"\n"),
            (false, _) => format!("listen http=\"{http}\"\n"),
        };
        edge += match self.observe {
            1 => "access-log format=\"json\"\n",
            2 => "access-log format=\"json\" target=\"stderr\" facility=\"local3\"\n",
            3 => {
                "access-log format=\"httplog\" target=\"/dev/log\"\nmetrics bind=\"127.0.0.1:8405\"\n"
            }
            4 => {
                "metrics bind=\"10.0.20.1:8405\" path=\"/_metrics\" {\n    allow \"10.0.20.50\" \"127.0.0.2\"\n}\n"
            }
            5 => {
                "access-log format=\"json\"\nmetrics bind=\"[::1]:8405\" {\n    allow \"::1\"\n}\n"
            }
            _ => "",
        };
        if let Some((balance, check, proxy)) = self.tcp {
            // Port 2222: the generated ssh targets reach the box on 22.
            edge += &format!(
                "tcp \"git-ssh\" bind=\"*:2222\" balance=\"{}\"{} {{\n    server \"10.0.20.105:22\"\n    server \"10.0.20.106:22\"\n{}}}\n",
                ["leastconn", "roundrobin", "source", "first"][balance],
                if proxy {
                    " send-proxy=\"v2\" maxconn=100"
                } else {
                    ""
                },
                if check {
                    "    check expect=\"SSH-\"\n"
                } else {
                    ""
                }
            );
        }
        if self.https {
            edge += "tls cert-dir=\"/etc/haproxy/certs\"";
            if let Some(v13) = self.tls_min {
                edge += if v13 {
                    " min-version=\"TLSv1.3\""
                } else {
                    " min-version=\"TLSv1.2\""
                };
            }
            edge += "\n";
        }
        if let Some(own_uri) = self.stats {
            edge += if own_uri {
                "stats bind=\"127.0.0.1:9100\" uri=\"/_stats/\"\n"
            } else {
                "stats bind=\"127.0.0.1:9100\"\n"
            };
        }
        edge += match self.admin {
            1 => "admin-socket \"/run/haproxy/admin.sock\" mode=\"660\"\n",
            2 => "admin-socket address=\"127.0.0.1:9999\"\n",
            _ => "",
        };
        if let Some(t) = &self.timeouts {
            let names = [
                "connect",
                "client",
                "server",
                "tunnel",
                "http-request",
                "http-keep-alive",
                "queue",
            ];
            edge += "timeouts";
            for (n, d) in names.iter().zip(t) {
                edge += &format!(" {n}=\"{}\"", DURATIONS[*d].replace("500ms", "5s"));
            }
            edge += "\n";
        }
        if let Some((interval, fall, rise, shutdown)) = self.health {
            edge += &format!(
                "health interval=\"{}\" fall={fall} rise={rise} slowstart=\"{}\" shutdown-sessions={}\n",
                ["200ms", "2s", "5s"][interval],
                DURATIONS[interval],
                if shutdown { "#true" } else { "#false" }
            );
        }
        // The fourth choice: no `sticky-cookie` (the default name).
        if let Some(name) = ["SRV", "EDGE_ID", "route-id"].get(self.sticky_cookie) {
            edge += &format!("sticky-cookie \"{name}\"\n");
        }
        let mut trusted: Vec<&str> = self.trusted.iter().map(|i| NETWORKS[*i]).collect();
        if trusted.is_empty() && self.envs.iter().any(|e| e.preview) {
            trusted.push(NETWORKS[0]);
        }
        if self.trust_loopback && !trusted.is_empty() {
            trusted.push("127.0.0.2");
        }
        if !trusted.is_empty() {
            edge += &format!("trusted {}\n", quoted(&trusted));
        }
        // A request id on some edges (which edges: by the target drawn).
        if self.target % 2 == 1 {
            edge += "request-id header=\"X-Request-ID\"\n";
        }
        edge += &match self.target {
            0 => "target \"box\" {\n    local root=\"box\"\n}\n".to_string(),
            1 => "target \"edge\" {\n    ssh host=\"edge.example.org\" user=\"root\" port=22\n    reload-timeout \"1m\"\n}\n".to_string(),
            2 => "target \"lab\" {\n    incus container=\"edge-lab\"\n    validate \"haproxy\" \"-c\" \"-f\"\n}\n".to_string(),
            3 => "target \"r720\" {\n    incus container=\"veza-haproxy\" remote=\"r720\"\n    reload \"systemctl\" \"reload\" \"haproxy\"\n}\ntarget \"r720-ssh\" {\n    ssh host=\"r720.example.org\" identity=\"/root/.ssh/id_ed25519\"\n}\n".to_string(),
            _ => String::new(),
        };

        let mut owners: Vec<(String, Vec<String>)> = Vec::new();
        for (i, e) in self.envs.iter().enumerate() {
            let (text, hosts) = env_text(ENVS[i], e, self.outside.len());
            let text = self.policies.env_text(i, &text, self.https);
            owners.push((ENVS[i].to_string(), hosts));
            files.push((format!("env/{}.kdl", ENVS[i]), text));
        }
        let mut sites = String::new();
        for (i, (health, octet)) in self.outside.iter().enumerate() {
            let name = OUTSIDE[i];
            // Some over plain HTTP too.
            let plain = if octet % 3 == 0 {
                " plain-http=#true"
            } else {
                ""
            };
            sites += &format!(
                "outside \"{name}\" address=\"10.9.0.{octet}:3000\"{} {{\n    hosts \"{name}.tools.test\"{plain}\n}}\n",
                health.map_or(String::new(), |st| format!(
                    " health=\"/healthz\" health-status=\"{}\" health-timeout=\"2s\"",
                    STATUSES[st]
                ))
            );
            owners.push((name.into(), vec![format!("{name}.tools.test")]));
        }
        for (i, (status, www)) in self.placeholders.iter().enumerate() {
            let name = PLACEHOLDERS[i];
            let mut hosts = vec![format!("{name}.example.test")];
            if *www {
                hosts.push(format!("www.{name}.example.test"));
            }
            let h: Vec<&str> = hosts.iter().map(String::as_str).collect();
            // Without `status`, the default 503 and its default body.
            sites += &match status {
                // Odd statuses answer HTML.
                Some(st) if st % 2 == 1 => format!(
                    "placeholder \"{name}\" status={} html=#true {{\n    hosts {}\n    body \"<h1>{name}</h1>\\n\"\n}}\n",
                    [200, 404, 410, 503][*st],
                    quoted(&h)
                ),
                Some(st) => format!(
                    "placeholder \"{name}\" status={} {{\n    hosts {}\n    body \"{name} is not here yet\\n\"\n}}\n",
                    [200, 404, 410, 503][*st],
                    quoted(&h)
                ),
                None => format!(
                    "placeholder \"{name}\" {{\n    hosts {} plain-http=#true\n}}\n",
                    quoted(&h)
                ),
            };
            owners.push((name.into(), hosts));
        }
        let (redirects, redirect_owners) = self.policies.redirects_text(self.https);
        sites += &redirects;
        owners.extend(redirect_owners);
        let sites = self.policies.sites_text(&sites, self.https);
        let plain = sites.contains("plain-http=#true")
            || files.iter().any(|(_, t)| t.contains("plain-http=#true"));
        edge += &self.policies.edge_text(self.https, plain);
        if self.include && !sites.is_empty() {
            edge += "include \"sites/more.kdl\"\n";
            files.push(("sites/more.kdl".into(), sites));
        } else {
            edge += &sites;
        }
        // TLS needs certificates; without TLS an acme block is optional.
        let acme = self.acme.or(self.https.then_some((0, 0, 8888, true)));
        if let Some((directory, key, port, hosts_of)) = acme {
            // The challenge responder by port, or by (loopback) address.
            let challenge = if port % 2 == 0 {
                format!("challenge-port={port}")
            } else {
                format!("challenge-address=\"127.0.0.1:{port}\"")
            };
            edge += &format!(
                "acme email=\"ops@example.org\" directory=\"{}\" {challenge} key-type=\"{}\" {{\n",
                ["staging", "production", "https://acme.test:14000/dir?x=1"][directory],
                ["ecdsa", "rsa"][key]
            );
            for (o, hosts) in &owners {
                if hosts_of {
                    edge += &format!("    certificate \"c-{o}\" hosts-of=\"{o}\"\n");
                } else {
                    let lower: Vec<String> = hosts.iter().map(|h| h.to_lowercase()).collect();
                    let h: Vec<&str> = lower.iter().map(String::as_str).collect();
                    edge += &format!(
                        "    certificate \"c-{o}\" {{\n        domains {}\n    }}\n",
                        quoted(&h)
                    );
                }
            }
            edge += "}\n";
        }
        files.insert(0, ("edge.kdl".into(), edge));
        files
            .into_iter()
            .map(|(path, text)| (path, spell(&text, self.syntax)))
            .collect()
    }
}

/// The text of env `name` and every host it serves (its preview included).
fn env_text(name: &str, e: &Env, outside: usize) -> (String, Vec<String>) {
    let mut s = format!("env \"{name}\" {{\n");
    let mut hosts: Vec<String> = e
        .labels
        .iter()
        .map(|l| format!("{}{name}.test", LABELS[*l]))
        .collect();
    let h: Vec<&str> = hosts.iter().map(String::as_str).collect();
    // About half the envs serve their hosts over plain HTTP too.
    let plain = if e.cookie != e.green {
        " plain-http=#true"
    } else {
        ""
    };
    s += &format!("    hosts {}{plain}\n", quoted(&h));
    if e.green {
        s += "    active-color \"green\"\n";
    }
    let numbered = e
        .comps
        .iter()
        .any(|c| matches!(c.instances, Instances::Numbered(_)));
    if numbered {
        s += &format!(
            "    container-pattern \"{}\"\n",
            [
                "{env}-{component}-{color}-{index}.lxd",
                "c-{component}-{color}{index}.{env}.lxd"
            ][e.pattern]
        );
    }
    if e.cookie {
        s += &format!("    cookie \"{}_SESSION\"\n", name.to_uppercase());
    }
    let comps: Vec<&str> = COMPS[..e.comps.len()].to_vec();
    // Routes in order; one an earlier route would shadow is not kept (`check` refuses those).
    // (component or "", prefixes, suffixes, the target's properties).
    type R<'a> = (&'a str, Vec<&'a str>, Vec<&'a str>, String);
    let mut routes: Vec<R<'_>> = Vec::new();
    for r in &e.routes {
        let mut p: Vec<&str> = r.prefixes.iter().map(|i| PREFIXES[*i]).collect();
        let sfx: Vec<&str> = r.suffixes.iter().map(|i| SUFFIXES[*i]).collect();
        p.dedup();
        if p.is_empty() && (sfx.is_empty() || r.kind == 7) {
            p.push(PREFIXES[0]);
        }
        let comp = comps[r.to % comps.len()];
        // A redirect needs a prefix to replace, and none that takes its target again.
        let target = match r.kind {
            6 if outside > 0 => ("", format!("outside=\"{}\"", OUTSIDE[r.to % outside])),
            7 if !p.iter().any(|x| "/moved/".starts_with(x)) => (
                "",
                format!("redirect=\"/moved/\" status={}", [301, 308][r.to % 2]),
            ),
            _ => (comp, format!("to=\"{comp}\"")),
        };
        // Some routes with prefixes rewrite them upstream.
        let target =
            if !p.is_empty() && !target.1.starts_with("redirect=") && (r.to + r.kind) % 3 == 0 {
                (target.0, format!("{} rewrite=\"/internal/\"", target.1))
            } else {
                target
            };
        let mut candidate = routes.clone();
        candidate.push((target.0, p, sfx, target.1));
        let matchers: Vec<edgeplan::reach::Matchers<'_>> = candidate
            .iter()
            .map(|(_, p, s, _)| edgeplan::reach::Matchers {
                prefixes: p.clone(),
                suffixes: s.clone(),
            })
            .collect();
        if edgeplan::reach::unreachable(&matchers).is_empty() {
            routes = candidate;
        }
    }
    let mut default = e.default.map(|d| comps[d % comps.len()]);
    // Every component gets requests (`check` refuses one nothing reaches): the default is an
    // unreached one when there is one; components still unreached are left out.
    let reached = |c: &str, d: Option<&str>| d == Some(c) || routes.iter().any(|r| r.0 == c);
    if comps.len() > 1
        && let Some(u) = comps.iter().find(|c| !reached(c, default))
        && default.is_none_or(|d| routes.iter().any(|r| r.0 == d))
    {
        default = Some(*u);
    }
    let mut pools = vec!["pool_a", "pool_b"];
    for (c, plan) in comps.iter().zip(&e.comps) {
        if comps.len() > 1 && !reached(c, default) {
            continue;
        }
        let balance = ["roundrobin", "leastconn", "uri"][plan.balance];
        let mut line = format!(
            "    component \"{c}\" port={} health=\"{}\" balance=\"{balance}\"",
            plan.port, HEALTH[plan.health]
        );
        if let Some(st) = plan.status {
            line += &format!(" health-status=\"{}\"", STATUSES[st]);
        }
        if let Some(b) = plan.body {
            line += &format!(" health-body=\"{}\"", BODIES[b]);
        }
        if let Some(t) = plan.timeout {
            line += &format!(" health-timeout=\"{}\"", ["2s", "500ms"][t]);
            // The component's own server and tunnel timeouts, on the same draw.
            line += &format!(
                " timeout-server=\"{}\" timeout-tunnel=\"{}\"",
                ["2m", "90s"][t],
                ["1h", "30m"][t]
            );
        }
        if plan.sticky && balance != "uri" {
            line += " sticky=#true";
        }
        if plan.pool && !pools.is_empty() {
            line += &format!(" pool=\"{}\"", pools.remove(0));
        }
        match &plan.instances {
            Instances::Numbered(n) => {
                if *n > 1 {
                    line += &format!(" instances={n}");
                }
                s += &line;
                s += "\n";
            }
            Instances::Listed(blue, green, style) => {
                s += &line;
                s += " {\n";
                for (color, list) in [("blue", blue), ("green", green)] {
                    for (k, w) in list.iter().enumerate() {
                        let n = k + 1;
                        let c_at = COMPS.iter().position(|x| x == c).unwrap_or(0);
                        let side = usize::from(color == "green");
                        let address = match style {
                            0 => format!("{name}-{c}-{color}{n}.lxd"),
                            1 => format!("10.{}.{}.{n}", 20 + c_at, side),
                            2 => format!("[fd00:{c_at}:{side}::{n}]"),
                            _ => format!("{name}-{c}-{color}{n}.lxd:{}", 7000 + n),
                        };
                        s += &format!(
                            "        instance \"{}{n}\" color=\"{color}\" address=\"{address}\"{}\n",
                            &color[..1],
                            w.map_or(String::new(), |w| format!(" weight={w}"))
                        );
                    }
                }
                s += "    }\n";
            }
        }
    }
    for (r, (_, p, sfx, target)) in routes.iter().enumerate() {
        let mut body = String::new();
        if !p.is_empty() {
            body += &format!("        prefix {}\n", quoted(p));
        }
        if !sfx.is_empty() {
            body += &format!("        suffix {}\n", quoted(sfx));
        }
        s += &format!("    route \"r{r}\" {target} {{\n{body}    }}\n");
    }
    if let Some(d) = default {
        s += &format!("    default \"{d}\"\n");
    }
    for (path, host, status, extra) in &e.probes {
        let mut line = format!("    probe \"{}\"", HEALTH[*path]);
        if let Some(h) = host {
            line += &format!(" host=\"{}\"", hosts[h % hosts.len()].to_lowercase());
        }
        if let Some(st) = status {
            line += &format!(" status=\"{}\"", STATUSES[*st]);
        }
        if let Some((body, timeout, tries)) = extra {
            if let Some(b) = body {
                line += &format!(" body=\"{}\"", PROBE_BODIES[*b]);
            }
            if let Some(t) = timeout {
                line += &format!(" timeout=\"{}\"", DURATIONS[*t]);
            }
            if let Some(n) = tries {
                line += &format!(" tries={n}");
            }
        }
        s += &line;
        s += "\n";
    }
    if e.preview {
        let p = format!("preview.{name}.test");
        s += &format!("    preview \"{p}\"\n");
        hosts.push(p);
    }
    s += "}\n";
    (s, hosts)
}
