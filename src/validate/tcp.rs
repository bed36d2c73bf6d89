//! TCP services: names once, a backend name of their own, a real timeout, and a listener that
//! can bind on the box — not on the port of the box's own sshd when edgeplan reaches the box
//! over ssh on that port (`*:22` beside `sshd` listening on every address is refused by the
//! kernel: the service must bind a specific address and sshd another, or sshd move).

use std::collections::BTreeMap;

use super::names::BackendNames;
use super::{Checker, val};
use crate::model::{
    Ident, TCP_DEFAULT_TIMEOUT, Target, TcpBalance, TcpCheck, TcpService, Transport,
};

/// The TCP services of the spec.
pub(super) fn services(
    c: &mut Checker<'_>,
    backends: &mut BackendNames,
) -> BTreeMap<Ident, TcpService> {
    let mut seen = BTreeMap::new();
    let mut out = BTreeMap::new();
    for t in &c.spec.tcp {
        if !c.unique(&mut seen, &t.name, "tcp service") {
            continue;
        }
        backends.claim(
            c,
            format!("tcp_{}", t.name.value),
            format!("tcp service `{}`", t.name.value),
            t.name.at,
        );
        if let Some(d) = &t.timeout
            && d.value.millis() == 0
        {
            c.conflict(
                d.at,
                format!("the timeout of tcp service `{}` is zero", t.name.value),
                "zero",
                "HAProxy reads a zero timeout as none at all, which leaks connections; give a \
                 real duration such as `1h`",
            );
        }
        let Some(bind) = val(&t.bind) else {
            continue;
        };
        if t.servers.is_empty() {
            continue;
        }
        out.insert(
            t.name.value.clone(),
            TcpService {
                name: t.name.value.clone(),
                bind,
                servers: t.servers.iter().map(|s| s.value.clone()).collect(),
                check: t
                    .check
                    .as_ref()
                    .map(|k| TcpCheck {
                        send: val(&k.value.send),
                        expect: val(&k.value.expect),
                    })
                    .unwrap_or_default(),
                balance: val(&t.balance).unwrap_or(TcpBalance::Leastconn),
                maxconn: val(&t.maxconn),
                timeout: val(&t.timeout)
                    .filter(|d| d.millis() > 0)
                    .unwrap_or(TCP_DEFAULT_TIMEOUT),
                send_proxy: val(&t.send_proxy),
            },
        );
    }
    out
}

/// A TCP service on the port edgeplan's ssh targets reach the box's sshd on: on every address
/// (the box's sshd listens there too), or on the very address a target names.
pub(super) fn not_on_the_box_sshd(
    c: &mut Checker<'_>,
    tcp: &BTreeMap<Ident, TcpService>,
    targets: &BTreeMap<Ident, Target>,
) {
    for t in &c.spec.tcp {
        let Some(service) = tcp.get(&t.name.value) else {
            continue;
        };
        let Some(at) = t.bind.as_ref().map(|b| b.at) else {
            continue;
        };
        for target in targets.values() {
            let Transport::Ssh { host, port, .. } = &target.transport else {
                continue;
            };
            let ssh_port = port.map_or(22, |p| p.get());
            let same_address = service.bind.addr().is_some_and(|a| {
                host.as_str()
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|h| h == a)
            });
            if service.bind.port.get() != ssh_port || !(service.bind.is_wildcard() || same_address)
            {
                continue;
            }
            c.conflict(
                at,
                format!(
                    "tcp service `{}` binds {} — the port target `{}` reaches the box's sshd on",
                    t.name.value,
                    service.bind.written(),
                    target.name
                ),
                "the box's sshd is here",
                "two listeners cannot share the port on one address: either move the box's sshd \
                 (`Port 2222` in sshd_config, and `ssh … port=2222` in the target), or bind the \
                 service to the public address (`bind=\"203.0.113.10:22\"`) and sshd to another \
                 one (`ListenAddress` of the private address, which the target then names)",
            );
        }
    }
}
