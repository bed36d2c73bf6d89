//! What the edge reports and keeps: the local peer's address (loopback), the metrics listener
//! (a `bind=`; off loopback only with an `allow` list, so the exporter is never open to the
//! internet by accident), and the access log's format, target and facility.

use super::{Checker, val};
use crate::model::{AccessLog, Bind, LogFormat, LogTarget, Metrics, PathPrefix, Peers, Port};

/// The default local peer address.
fn default_peers() -> Bind {
    Bind {
        ip: "127.0.0.1".into(),
        port: Port::of(10000),
    }
}

/// `peers`: its address, on loopback.
pub(super) fn peers(c: &mut Checker<'_>) -> Peers {
    let Some(b) = c.spec.peers.as_ref().and_then(|p| p.value.bind.clone()) else {
        return Peers {
            bind: default_peers(),
        };
    };
    if !b.value.is_loopback() {
        c.not_loopback(
            b.at,
            "the local peer (stick tables across reloads)",
            b.value.to_string(),
            "",
        );
    }
    Peers { bind: b.value }
}

/// `metrics`: a listener with `bind=`, open off loopback only to its `allow` networks.
pub(super) fn metrics(c: &mut Checker<'_>) -> Option<Metrics> {
    let m = c.spec.metrics.as_ref()?;
    let Some(bind) = &m.value.bind else {
        c.missing(
            m.at,
            "`metrics` needs `bind=`",
            "for example: metrics bind=\"127.0.0.1:8405\" path=\"/metrics\"",
        );
        return None;
    };
    let allow = super::policies::bypass_networks(c, &m.value.allow, "metrics allow");
    if !bind.value.is_loopback() && m.value.allow.is_empty() {
        c.conflict(
            bind.at,
            format!(
                "the metrics listener `{}` is reachable from other hosts, and no network is \
                 allowed",
                bind.value
            ),
            "open to every client",
            "restrict it: `metrics bind=\"…\" { allow \"10.0.30.0/24\" }` (the scraper's \
             network, or `trusted`), or bind it on loopback (`127.0.0.1:8405`)",
        );
    }
    Some(Metrics {
        bind: bind.value.clone(),
        path: val(&m.value.path).unwrap_or_else(|| PathPrefix::parse("/metrics").unwrap()),
        allow,
    })
}

/// `access-log`: its settings over the defaults (httplog to `/dev/log`, facility `local0`).
pub(super) fn access_log(c: &mut Checker<'_>) -> AccessLog {
    let d = AccessLog::default();
    let Some(a) = &c.spec.access_log else {
        return d;
    };
    AccessLog {
        format: val(&a.value.format).unwrap_or(LogFormat::Httplog),
        target: val(&a.value.target).unwrap_or_else(LogTarget::default_socket),
        facility: val(&a.value.facility).unwrap_or(d.facility),
    }
}
