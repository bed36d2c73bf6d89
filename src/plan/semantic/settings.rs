//! The edge-wide settings a reviewer reads in a plan — listeners, trusted networks, the
//! request id, the access log, the metrics listener, the local peer, the TCP services — one
//! line each, and their changes ([`diff`]).

use std::collections::BTreeMap;

use super::{Marker, SemanticChange};
use crate::model::Edge;
use crate::rules::Routing;

/// Setting name → its value in words, of `edge` rendered with `routing`. Absent settings are
/// absent keys.
pub fn settings(edge: &Edge, routing: &Routing) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for fe in &routing.frontends {
        out.insert(format!("listener {}", fe.name), fe.binds.join(" "));
    }
    if edge.listen.accept_proxy {
        out.insert(
            "proxy protocol".into(),
            "accepted from the trusted networks".into(),
        );
    }
    if !edge.trusted.is_empty() {
        let nets: Vec<String> = edge.trusted.iter().map(|n| n.to_string()).collect();
        out.insert("trusted networks".into(), nets.join(" "));
    }
    if let Some(r) = &edge.request_id {
        out.insert("request id".into(), format!("header {}", r.header));
    }
    let log = &edge.access_log;
    out.insert(
        "access log".into(),
        format!(
            "{} to {} ({})",
            serde_json::to_value(log.format)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            log.target,
            log.facility
        ),
    );
    if let Some(m) = &edge.metrics {
        let who = if m.allow.is_empty() {
            "any client of its address".to_string()
        } else {
            let nets: Vec<String> = m.allow.iter().map(|n| n.to_string()).collect();
            format!("from {}", nets.join(" "))
        };
        out.insert("metrics".into(), format!("{}{}, {who}", m.bind, m.path));
    }
    for t in edge.tcp.values() {
        let servers: Vec<String> = t.servers.iter().map(|s| s.to_string()).collect();
        let mut words = format!("{} -> {} ({}", t.bind, servers.join(" "), t.balance);
        match (&t.check.send, &t.check.expect) {
            (_, Some(e)) => words += &format!(", check expects \"{e}\""),
            (Some(_), None) => words += ", check sends a line",
            (None, None) => words += ", check connects",
        }
        if let Some(m) = t.maxconn {
            words += &format!(", maxconn {m}");
        }
        words += &format!(", idle {}", t.timeout);
        if let Some(p) = t.send_proxy {
            words += &format!(", {}", p.keyword());
        }
        words += ")";
        out.insert(format!("tcp {}", t.name), words);
    }
    for o in edge.outside.values() {
        if let Some(t) = &o.tls {
            let verify = match &t.verify {
                crate::model::BackendVerify::Required { ca_file } => {
                    format!("verified against {ca_file}")
                }
                crate::model::BackendVerify::None => "NOT verified (verify none)".to_string(),
            };
            let mut words = verify;
            if let Some(h) = &t.sni {
                words += &format!(", name {h}");
            }
            if let Some(c) = &t.client_certificate {
                words += &format!(", client certificate {c}");
            }
            out.insert(format!("tls to outside {}", o.name), words);
        }
    }
    if !routing.stick_tables.is_empty() {
        out.insert("local peer".into(), edge.peers.bind.to_string());
    }
    out
}

/// The settings added, removed or changed from `old` to `new`.
pub fn diff(old: &BTreeMap<String, String>, new: &BTreeMap<String, String>) -> Vec<SemanticChange> {
    let mut out = Vec::new();
    let names: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for name in names {
        let (kind, marker, text) = match (old.get(name), new.get(name)) {
            (None, Some(v)) => ("setting_added", Marker::Add, format!("{name}: {v}")),
            (Some(v), None) => (
                "setting_removed",
                Marker::Remove,
                format!("{name} ({v}) removed"),
            ),
            (Some(a), Some(b)) if a != b => (
                "setting_changed",
                Marker::Change,
                format!("{name}: {a} => {b}"),
            ),
            _ => continue,
        };
        out.push(SemanticChange {
            kind,
            marker,
            subject: name.clone(),
            message: text,
            added: Vec::new(),
            removed: Vec::new(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn settings_added_removed_and_changed_each_say_so() {
        let old = map(&[
            ("access log", "httplog to /dev/log (local0)"),
            ("listener http", ":80"),
            (
                "metrics",
                "127.0.0.1:8405/metrics, any client of its address",
            ),
        ]);
        let new = map(&[
            ("access log", "json to /dev/log (local0)"),
            ("listener http", ":80"),
            ("request id", "header X-Request-ID"),
        ]);
        let got: Vec<(String, &str, String)> = diff(&old, &new)
            .into_iter()
            .map(|c| (c.subject, c.marker.symbol(), c.message))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "access log".to_string(),
                    "~",
                    "access log: httplog to /dev/log (local0) => json to /dev/log (local0)"
                        .to_string()
                ),
                (
                    "metrics".to_string(),
                    "-",
                    "metrics (127.0.0.1:8405/metrics, any client of its address) removed"
                        .to_string()
                ),
                (
                    "request id".to_string(),
                    "+",
                    "request id: header X-Request-ID".to_string()
                ),
            ]
        );
        assert!(diff(&new, &new).is_empty());
    }
}
