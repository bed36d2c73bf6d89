//! The notes of an explanation that are not a step of the walk: what happens to the client's
//! identity headers, cookies of other envs, and each colour's share during a canary.

use super::engine::in_networks;
use super::request::Request;
use crate::model::Color;
use crate::rules::{Backend, Routing, Server};

/// What the edge does with the request's other headers: identity headers are removed (unless
/// the client is trusted: with `--from`, said for that address), the rest forwarded unread.
pub(super) fn header_notes(routing: &Routing, req: &Request) -> Vec<String> {
    let id = &routing.identity;
    // The trusted network the client's address falls in, when `--from` is given.
    let trusted_by = req.from.map(|ip| in_networks(ip, &id.trusted));
    req.headers
        .iter()
        .map(|h| {
            let identity = id.headers.iter().any(|i| i.eq_ignore_ascii_case(&h.name));
            let appended = ["X-Forwarded-For", "Forwarded"]
                .iter()
                .any(|a| a.eq_ignore_ascii_case(&h.name));
            // A header a policy rule names (basic auth's `Authorization`, a header rule's).
            // A body limit reads the framing headers.
            let framing = ["content-length", "transfer-encoding"]
                .iter()
                .any(|f| f.eq_ignore_ascii_case(&h.name));
            let named = routing.frontends.iter().flat_map(|f| &f.policies).any(|p| {
                p.haproxy
                    .to_ascii_lowercase()
                    .contains(&format!(" {} ", h.name.to_ascii_lowercase()))
                    || (framing && matches!(p.action, crate::rules::PolicyAction::BodyLimit { .. }))
            });
            if !identity && named {
                format!(
                    "header `{}` is read or changed by a policy rule (see the policies above)",
                    h.name
                )
            } else if !identity {
                format!(
                    "header `{}` is forwarded; no rule of the edge reads it",
                    h.name
                )
            } else if let (Some(ip), Some(Some(net))) = (req.from, trusted_by) {
                format!(
                    "header `{}` is {}: the client ({ip}) is in the trusted network {net}",
                    h.name,
                    if appended {
                        "kept, and the edge appends the connection's address"
                    } else {
                        "kept as sent"
                    }
                )
            } else if let Some(ip) = req.from {
                format!(
                    "header `{}` is removed: the client ({ip}) is in no trusted network{}; the \
                     edge sets the client's identity from the connection",
                    h.name,
                    if id.trusted.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", id.trusted.join(" "))
                    }
                )
            } else if id.trusted.is_empty() {
                format!(
                    "header `{}` is removed: the edge sets the client's identity from the \
                     connection (no network is trusted)",
                    h.name
                )
            } else {
                format!(
                    "header `{}` is removed unless the client connects from a trusted network \
                     ({}); the edge sets the client's identity from the connection",
                    h.name,
                    id.trusted.join(" ")
                )
            }
        })
        .collect()
}

/// Notes on the request's cookies that belong to other backends (another env's session
/// cookie): they play no part here.
pub(super) fn foreign_cookie_notes(routing: &Routing, be: &Backend, req: &Request) -> Vec<String> {
    let mut notes = Vec::new();
    for c in &req.cookies {
        if be.cookie() == Some(c.name.as_str()) {
            continue;
        }
        if let Some(other) = routing
            .backends
            .iter()
            .find(|b| b.cookie() == Some(c.name.as_str()))
        {
            let owner = other.env().unwrap_or(&other.name);
            notes.push(format!(
                "cookie {} belongs to env {owner}; backend {} {}, so it is ignored",
                c.name,
                be.name,
                match be.cookie() {
                    Some(n) => format!("reads {n} only"),
                    None => "has no sticky cookie".into(),
                }
            ));
        }
    }
    notes
}

/// During a canary both colours are active: each colour's share of the new sessions (of the
/// hash ring for a URI-hashed pool), from the rendered weights.
pub(super) fn canary_note(active: &[&Server], uri: bool) -> Option<String> {
    let total = |c: Color| -> u32 {
        active
            .iter()
            .filter(|s| s.color == Some(c))
            .map(|s| u32::from(s.weight.unwrap_or(1)))
            .sum()
    };
    let (blue, green) = (total(Color::Blue), total(Color::Green));
    if blue == 0 || green == 0 {
        return None;
    }
    let share = |w: u32| f64::from(w) * 100.0 / f64::from(blue + green);
    Some(format!(
        "canary: both colours are in rotation — blue takes {:.1} % and green {:.1} % of {} \
         (weights {blue} : {green})",
        share(blue),
        share(green),
        if uri {
            "the URI hash space; requests follow as far as URIs are evenly used"
        } else {
            "new sessions; a client whose sticky cookie names a server keeps it"
        }
    ))
}
