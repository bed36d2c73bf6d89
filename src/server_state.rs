//! What of a server's runtime state carries across a reload of haproxy, and the box-side files
//! that decide it.
//!
//! haproxy keeps runtime state across a reload only through its `server-state-file`
//! (`load-server-state-from-file global`), and it restores *everything* saved there: admin
//! state and health, but also address, port and weight — so a saved state would override a
//! changed config for ever. edgeplan therefore renders:
//! - [`IDENTITIES`]: one line per server of the routing table, `BACKEND SERVER HOST PORT
//!   WEIGHT` (weight 1 when the spec gives none, haproxy's default);
//! - [`SAVE_STATE`]: a POSIX sh helper that saves `show servers state` keeping only servers
//!   whose backend, name, address and port are unchanged in the identity list of the config
//!   about to be loaded, with the weights of that config;
//! - [`HAPROXY_DROPIN`]: haproxy.service's drop-in, whose `ExecReload` runs the helper before
//!   Debian's check and reload — so every reload saves first, whoever triggers it: edgeplan
//!   (`systemctl reload haproxy`, and `box.sh save-state` before any reload command), the
//!   certbot deploy hook (`systemctl try-reload-or-restart haproxy`), an operator by hand. With
//!   TLS it also orders haproxy after the self-signed placeholder units.
//!
//! Source of the state file's columns: HAProxy 2.6 management guide, "show servers state".

use serde::Serialize;

use crate::certbot::FileSpec;
use crate::model::Edge;
use crate::rules::Routing;

/// The server-state file haproxy.cfg names (`server-state-file`).
pub const STATE_FILE: &str = crate::layout::SERVER_STATE.abs();
/// The identity list of the rendered config's servers.
pub const IDENTITIES: &str = crate::layout::SERVER_IDENTITIES.abs();
/// The helper that saves the runtime state before a reload.
pub const SAVE_STATE: &str = crate::layout::SAVE_STATE_HELPER.abs();
/// haproxy.service's drop-in.
pub const HAPROXY_DROPIN: &str = crate::layout::HAPROXY_DROPIN.abs();

/// One server as the identity list names it.
#[derive(Debug, Serialize)]
struct Identity<'a> {
    backend: &'a str,
    server: &'a str,
    host: &'a str,
    port: u16,
    weight: u16,
}

/// The identity list, the save helper and haproxy.service's drop-in for `edge` rendered with
/// `routing`.
pub fn files(edge: &Edge, routing: &Routing, version: &str, input_hash: &str) -> Vec<FileSpec> {
    let mut servers: Vec<Identity> = routing
        .backends
        .iter()
        .flat_map(|b| {
            b.servers.iter().map(move |s| Identity {
                backend: &b.name,
                server: &s.name,
                host: &s.host,
                port: s.port,
                weight: s.weight.unwrap_or(1),
            })
        })
        .collect();
    // TCP services' servers (`sN`, in order), so their state carries across reloads too.
    let tcp_names: Vec<(String, Vec<String>)> = edge
        .tcp
        .values()
        .map(|t| {
            (
                t.section(),
                (1..=t.servers.len()).map(|i| format!("s{i}")).collect(),
            )
        })
        .collect();
    for ((backend, names), t) in tcp_names.iter().zip(edge.tcp.values()) {
        for (name, a) in names.iter().zip(&t.servers) {
            servers.push(Identity {
                backend,
                server: name,
                host: &a.host,
                port: a.port.get(),
                weight: 1,
            });
        }
    }
    let ctx = minijinja::context! {
        version => version,
        input_hash => input_hash,
        servers => servers,
        admin => edge.admin.endpoint,
        state_file => STATE_FILE,
        identities => IDENTITIES,
        save_state => SAVE_STATE,
        haproxy => crate::certbot::HAPROXY,
        edge_name => edge.name.to_string(),
        placeholder_units => crate::certbot::selfsigned_units(edge),
    };
    vec![
        FileSpec {
            template: "server-identities.list.j2",
            path: IDENTITIES.trim_start_matches('/').to_string(),
            mode: 0o644,
            ctx: ctx.clone(),
        },
        FileSpec {
            template: "haproxy-save-state.sh.j2",
            path: SAVE_STATE.trim_start_matches('/').to_string(),
            mode: 0o755,
            ctx: ctx.clone(),
        },
        FileSpec {
            template: "haproxy-service-dropin.conf.j2",
            path: HAPROXY_DROPIN.trim_start_matches('/').to_string(),
            mode: 0o644,
            ctx,
        },
    ]
}
