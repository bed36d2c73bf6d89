//! Edge-wide settings: the listeners and TLS, timeouts, health-check defaults, the stats and
//! admin endpoints, the ports edgeplan's processes bind, and the trusted networks.
//!
//! These come from `edge.kdl` alone and hold for every env. Each setting gets its default here,
//! so the model never holds an absent value, and management endpoints are refused unless they
//! listen on loopback: they are reached through an ssh tunnel, never from outside.

use crate::model::{
    AbsPath, Acme, AdminEndpoint, AdminSocket, Bind, Duration, Edge, HealthDefaults, Listen,
    Network, PathPrefix, Port, SocketMode, Stats, Timeouts, Tls,
};
use crate::spec::{At, Spec};

use super::{Checker, Problem, ValidateError, top, val};

/// The listeners and TLS. TLS needs an https listener and the other way round; the model's
/// `https` is present exactly when TLS is on.
pub(super) fn listen(c: &mut Checker<'_>) -> (Listen, Option<Tls>) {
    let spec = c.spec;
    let listen_spec = spec
        .listen
        .as_ref()
        .map(|l| l.value.clone())
        .unwrap_or_default();
    let http = val(&listen_spec.http).unwrap_or(Bind {
        ip: "*".into(),
        port: Port::of(80),
    });
    let https = val(&listen_spec.https);
    let tls = match (&spec.tls, &listen_spec.https) {
        (Some(t), Some(_)) => Some(Tls {
            cert_dir: val(&t.value.cert_dir)
                .unwrap_or_else(|| AbsPath::parse(crate::layout::DEFAULT_CERT_DIR.abs()).unwrap()),
            min_version: val(&t.value.min_version).unwrap_or_else(|| "TLSv1.2".into()),
        }),
        (None, Some(h)) => {
            c.missing(
                h.at,
                "an https listener needs a `tls` block",
                "add `tls cert-dir=\"/etc/haproxy/certs\"` to the edge spec",
            );
            None
        }
        (Some(t), None) => {
            c.conflict(
                t.at,
                "`tls` is set but there is no https listener",
                "TLS without a listener",
                "add `https=\"*:443\"` to `listen`, or remove `tls`",
            );
            None
        }
        (None, None) => None,
    };
    let http_more = more_binds(c, "http", &http, &listen_spec.http_more);
    let https_more = match &https {
        Some(h) => more_binds(c, "https", h, &listen_spec.https_more),
        None => Vec::new(),
    };
    let accept_proxy = val(&listen_spec.accept_proxy).unwrap_or(false);
    if let (true, Some(at)) = (
        accept_proxy && spec.trusted.as_ref().is_none_or(|t| t.value.is_empty()),
        listen_spec.accept_proxy.as_ref().map(|a| a.at),
    ) {
        c.conflict(
            at,
            "`accept-proxy` but no network is trusted",
            "from whom?",
            "a PROXY header says who the client is, so it is read only from the balancers in \
             front of the edge: list them (`trusted \"10.0.0.2\"`), or drop `accept-proxy`",
        );
    }
    if let (true, Some(at)) = (
        accept_proxy
            && spec.envs.iter().any(|e| !e.probes.is_empty())
            && spec.trusted.as_ref().is_some_and(|t| {
                t.value.iter().any(|n| {
                    n.value.holds(std::net::Ipv4Addr::LOCALHOST.into())
                        || n.value.holds(std::net::Ipv6Addr::LOCALHOST.into())
                })
            }),
        listen_spec.accept_proxy.as_ref().map(|a| a.at),
    ) {
        c.conflict(
            at,
            "`accept-proxy` with loopback among the trusted networks, and envs with probes",
            "loopback must send PROXY",
            "with `accept-proxy`, every connection from a trusted network must start with a \
             PROXY header — and edgeplan's probes connect to the box's haproxy from loopback \
             without one, so every probe would fail: trust the balancers' own networks, not \
             loopback",
        );
    }
    let listen = Listen {
        accept_proxy,
        http,
        https: tls.as_ref().and(https),
        http_more,
        https_more: if tls.is_some() {
            https_more
        } else {
            Vec::new()
        },
    };
    (listen, tls)
}

/// The further addresses of listener `name` (`http`, `https`) besides `first`: on its port,
/// each address once, none inside another's wildcard (`*` holds every IPv4 address, `[::]`
/// every IPv6 one).
fn more_binds(
    c: &mut Checker<'_>,
    name: &str,
    first: &Bind,
    more: &[crate::spec::Spanned<Bind>],
) -> Vec<Bind> {
    let family = |b: &Bind| b.is_v6();
    let wildcard = |b: &Bind| b.is_wildcard();
    let mut seen: Vec<Bind> = vec![first.clone()];
    for b in more {
        if b.value.port != first.port {
            c.conflict(
                b.at,
                format!(
                    "the {name} listener's addresses are on ports {} and {}",
                    first.port, b.value.port
                ),
                "another port",
                "a listener has one port and any number of addresses (`*:443` and \
                 `[::]:443`); a second port would be a second listener",
            );
            continue;
        }
        let clash = seen.iter().find(|s| {
            s.addr() == b.value.addr()
                || (family(s) == family(&b.value) && (wildcard(s) || wildcard(&b.value)))
        });
        if let Some(s) = clash {
            c.conflict(
                b.at,
                format!(
                    "two binds of the {name} listener on one address: `{}` and `{}`",
                    s.written(),
                    b.value.written()
                ),
                "already bound",
                "`*` already holds every IPv4 address and `[::]` every IPv6 one; list each \
                 address once",
            );
            continue;
        }
        seen.push(b.value.clone());
    }
    seen.split_off(1)
}

/// The proxy timeouts, with their defaults; a zero timeout is refused.
pub(super) fn timeouts(c: &mut Checker<'_>) -> Timeouts {
    let t = c
        .spec
        .timeouts
        .as_ref()
        .map(|t| t.value.clone())
        .unwrap_or_default();
    for (name, d) in [
        ("connect", &t.connect),
        ("client", &t.client),
        ("server", &t.server),
        ("tunnel", &t.tunnel),
        ("http-request", &t.http_request),
        ("http-keep-alive", &t.http_keep_alive),
        ("queue", &t.queue),
    ] {
        if let Some(d) = d
            && d.value.millis() == 0
        {
            c.conflict(
                d.at,
                format!("timeout `{name}` is zero"),
                "zero",
                "HAProxy reads a zero timeout as none at all, which leaks connections; give a real duration such as `30s`",
            );
        }
    }
    Timeouts {
        connect: val(&t.connect).unwrap_or(Duration::secs(5)),
        client: val(&t.client).unwrap_or(Duration::secs(30)),
        server: val(&t.server).unwrap_or(Duration::secs(30)),
        tunnel: val(&t.tunnel).unwrap_or(Duration::secs(3600)),
        http_request: val(&t.http_request).unwrap_or(Duration::secs(10)),
        http_keep_alive: val(&t.http_keep_alive).unwrap_or(Duration::secs(10)),
        queue: val(&t.queue).unwrap_or(Duration::secs(30)),
    }
}

/// The health-check defaults every server gets; an interval below 100ms is refused.
pub(super) fn health(c: &mut Checker<'_>) -> HealthDefaults {
    let h = c
        .spec
        .health
        .as_ref()
        .map(|h| h.value.clone())
        .unwrap_or_default();
    let health = HealthDefaults {
        interval: val(&h.interval).unwrap_or(Duration::secs(5)),
        fall: val(&h.fall).unwrap_or(3),
        rise: val(&h.rise).unwrap_or(2),
        slowstart: val(&h.slowstart).unwrap_or(Duration::secs(30)),
        shutdown_sessions: val(&h.shutdown_sessions).unwrap_or(true),
    };
    if let Some(iv) = &h.interval
        && iv.value.millis() < 100
    {
        c.conflict(
            iv.at,
            "health-check interval below 100ms",
            "too short",
            "checks this often load every server; use at least `1s`",
        );
    }
    health
}

/// The stats listener, if any: it needs a `bind=` on loopback.
pub(super) fn stats(c: &mut Checker<'_>) -> Option<Stats> {
    let s = c.spec.stats.as_ref()?;
    let Some(bind) = &s.value.bind else {
        c.missing(
            s.at,
            "`stats` needs `bind=`",
            "for example: stats bind=\"127.0.0.1:9100\" uri=\"/stats\"",
        );
        return None;
    };
    if !bind.value.is_loopback() {
        c.not_loopback(bind.at, "the stats listener", bind.value.to_string(), "");
    }
    Some(Stats {
        bind: bind.value.clone(),
        uri: val(&s.value.uri).unwrap_or_else(|| PathPrefix::parse("/stats").unwrap()),
    })
}

/// The runtime API socket: a unix path (the default), or a TCP address on loopback.
pub(super) fn admin(c: &mut Checker<'_>) -> AdminSocket {
    let Some(a) = &c.spec.admin else {
        return AdminSocket {
            endpoint: AdminEndpoint::Unix(default_admin_path()),
            mode: SocketMode::DEFAULT,
        };
    };
    let endpoint = match (&a.value.path, &a.value.address) {
        (Some(p), None) => AdminEndpoint::Unix(p.value.clone()),
        (None, Some(addr)) => {
            if !addr.value.is_loopback() {
                c.not_loopback(
                    addr.at,
                    "the admin socket",
                    addr.value.to_string(),
                    ", or better a unix socket path",
                );
            }
            AdminEndpoint::Tcp(addr.value.clone())
        }
        (Some(_), Some(addr)) => {
            c.conflict(
                addr.at,
                "`admin-socket` has both a path and an address",
                "give one",
                "keep the unix socket path and drop `address=`",
            );
            AdminEndpoint::Tcp(addr.value.clone())
        }
        (None, None) => {
            c.missing(
                a.at,
                "`admin-socket` needs a path",
                "for example: admin-socket \"/run/haproxy/admin.sock\" mode=\"660\"",
            );
            AdminEndpoint::Unix(default_admin_path())
        }
    };
    AdminSocket {
        endpoint,
        mode: val(&a.value.mode).unwrap_or(SocketMode::DEFAULT),
    }
}

fn default_admin_path() -> AbsPath {
    AbsPath::parse("/run/haproxy/admin.sock").unwrap()
}

/// Two of the sockets edgeplan's processes bind on the box (listeners, stats, the ACME
/// challenge responder, a TCP admin socket) on one port. Each port is placed where the spec
/// sets it, or at its block when it is a default.
pub(super) fn port_clashes(c: &mut Checker<'_>, edge: &Edge) {
    let spec = c.spec;
    let ports = bound_ports(
        spec,
        &edge.listen,
        edge.stats.as_ref(),
        edge.acme.as_ref(),
        &edge.admin,
    );
    // (port, what, where, the address when one is known: two sockets on different specific
    // addresses share a port; a wildcard or an unknown address takes the port whole.)
    let mut ports: Vec<(u16, String, At, Option<Bind>)> =
        ports.into_iter().map(|(p, w, a)| (p, w, a, None)).collect();
    if let Some(s) = &edge.stats
        && let Some(e) = ports.iter_mut().find(|e| e.1 == "the stats listener")
    {
        e.3 = Some(s.bind.clone());
    }
    if let (Some(m), Some(sm)) = (&edge.metrics, &spec.metrics) {
        let at = sm.value.bind.as_ref().map_or(sm.at, |b| b.at);
        ports.push((
            m.bind.port.get(),
            "the metrics listener".into(),
            at,
            Some(m.bind.clone()),
        ));
    }
    // Each service where the spec writes it (the first of a name: a second is a duplicate).
    let mut seen: Vec<&crate::model::Ident> = Vec::new();
    for spec_t in &spec.tcp {
        let Some(t) = edge.tcp.get(&spec_t.name.value) else {
            continue;
        };
        if seen.contains(&&spec_t.name.value) {
            continue;
        }
        seen.push(&spec_t.name.value);
        let at = spec_t.bind.as_ref().map_or(spec_t.name.at, |b| b.at);
        ports.push((
            t.bind.port.get(),
            format!("tcp service {}", t.name),
            at,
            Some(t.bind.clone()),
        ));
    }
    if edge.rate_limited() {
        let at = spec
            .peers
            .as_ref()
            .map_or(top(), |p| p.value.bind.as_ref().map_or(p.at, |b| b.at));
        ports.push((
            edge.peers.bind.port.get(),
            "the local peer (stick tables)".into(),
            at,
            Some(edge.peers.bind.clone()),
        ));
    }
    let apart = |a: &Option<Bind>, b: &Option<Bind>| match (a, b) {
        (Some(a), Some(b)) => !a.is_wildcard() && !b.is_wildcard() && a.addr() != b.addr(),
        _ => false,
    };
    for i in 0..ports.len() {
        for j in 0..i {
            if ports[i].0 == ports[j].0 && !apart(&ports[i].3, &ports[j].3) {
                let e = ValidateError::at(
                    c.src(ports[i].2),
                    ports[i].2.span,
                    Problem::PortClash {
                        port: ports[i].0,
                        first: ports[j].1.clone(),
                        second: ports[i].1.clone(),
                    },
                );
                c.errors.push(e);
            }
        }
    }
}

/// Every port bound on the box: (port, what binds it, where the spec says so).
fn bound_ports(
    spec: &Spec,
    listen: &Listen,
    stats: Option<&Stats>,
    acme: Option<&Acme>,
    admin: &AdminSocket,
) -> Vec<(u16, String, At)> {
    let listen_spec = spec
        .listen
        .as_ref()
        .map(|l| l.value.clone())
        .unwrap_or_default();
    let mut ports: Vec<(u16, String, At)> = Vec::new();
    let listen_at = spec.listen.as_ref().map_or(top(), |l| l.at);
    ports.push((
        listen.http.port.get(),
        "the http listener".into(),
        listen_spec.http.as_ref().map_or(listen_at, |s| s.at),
    ));
    // The spec's https listener, even when the model drops it for want of TLS.
    if let Some(b) = &listen_spec.https {
        ports.push((b.value.port.get(), "the https listener".into(), b.at));
    }
    if let (Some(s), Some(sb)) = (
        stats,
        spec.stats.as_ref().and_then(|s| s.value.bind.as_ref()),
    ) {
        ports.push((s.bind.port.get(), "the stats listener".into(), sb.at));
    }
    if let (Some(a), Some(sa)) = (acme, &spec.acme) {
        let at = sa.value.challenge_port.as_ref().map_or(sa.at, |p| p.at);
        ports.push((
            a.challenge_port.get(),
            "the ACME challenge responder".into(),
            at,
        ));
    }
    if let (AdminEndpoint::Tcp(addr), Some(sa)) = (&admin.endpoint, &spec.admin) {
        ports.push((
            addr.port.get(),
            "the admin socket".into(),
            sa.value.address.as_ref().map_or(sa.at, |a| a.at),
        ));
    }
    ports
}

/// The networks whose forwarding headers are believed (none unless the spec names some).
pub(super) fn trusted(spec: &Spec) -> Vec<Network> {
    spec.trusted
        .as_ref()
        .map(|t| t.value.iter().map(|n| n.value).collect())
        .unwrap_or_default()
}
