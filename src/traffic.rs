//! Handing traffic over between servers of the running haproxy when an activation changes which
//! of them the config renders `disabled` — a colour switch, or an apply or rollback that crosses
//! one — so that the reload loses no request.
//!
//! The old and the new `haproxy.cfg` say which servers change ([`Handover::between`]). Before the
//! reload, the running haproxy is told through its runtime API (the box script's `admin`
//! operation): the servers taking over are set `ready`, the ones giving up are set `drain`. Then
//! the reload path saves `show servers state` to the config's `server-state-file`
//! ([`crate::server::save_state`]) and the new worker starts from it:
//!
//! - the servers taking over start as the running haproxy last saw them — up — instead of
//!   `disabled` servers' "stopped", which would refuse traffic until `rise` health checks pass;
//! - the ones giving up are `disabled` in the new config, which wins over the saved state because
//!   their config flag changed: they are in maintenance, and clients holding their sticky cookie
//!   are re-dispatched (`option redispatch`) and re-cookied;
//! - `drain`, not `maint`, in the old worker: with `on-marked-down shutdown-sessions`, `maint`
//!   would cut the requests it is still serving; the old worker finishes them and exits.
//!
//! When the reload fails and the previous generation is restored, [`Handover::reverted`] undoes
//! this with `maint` for the servers that took over: their config flag does not change across
//! that reload, so only a forced maintenance keeps them out of the restored config.
//!
//! Without a running haproxy, an admin socket or `socat` on the box, nothing is moved: the plain
//! reload still follows the new config.

use std::collections::BTreeMap;

use crate::plan::CONFIG_PATH;
use crate::transport::{STATE_DIR, Transport, TransportError};

/// A server of a backend.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServerRef {
    /// Backend name.
    pub backend: String,
    /// Server name.
    pub server: String,
}

impl std::fmt::Display for ServerRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.backend, self.server)
    }
}

/// The `server` lines of a haproxy.cfg: server → rendered `disabled`.
pub fn servers(cfg: &str) -> BTreeMap<ServerRef, bool> {
    let mut out = BTreeMap::new();
    let mut backend: Option<&str> = None;
    for line in cfg.lines() {
        let mut toks = line.split_whitespace();
        let Some(first) = toks.next() else { continue };
        if !line.starts_with(char::is_whitespace) {
            backend = (first == "backend").then(|| toks.next()).flatten();
            continue;
        }
        if first != "server" {
            continue;
        }
        if let (Some(be), Some(name)) = (backend, toks.next()) {
            let disabled = toks.any(|t| t == "disabled");
            out.insert(
                ServerRef {
                    backend: be.to_string(),
                    server: name.to_string(),
                },
                disabled,
            );
        }
    }
    out
}

/// The admin socket of a haproxy.cfg (its first `stats socket … level admin`), as the box
/// script's `admin` operation takes it: `unix:/PATH` or `tcp:HOST:PORT`.
pub fn admin_endpoint(cfg: &str) -> Option<String> {
    cfg.lines().find_map(|l| {
        let toks: Vec<&str> = l.split_whitespace().collect();
        if toks.len() < 3 || toks[0] != "stats" || toks[1] != "socket" {
            return None;
        }
        if !toks.windows(2).any(|w| w == ["level", "admin"]) {
            return None;
        }
        let at = toks[2];
        if let Some(p) = at
            .strip_prefix("unix@")
            .or(Some(at))
            .filter(|p| p.starts_with('/'))
        {
            Some(format!("unix:{p}"))
        } else {
            ["ipv4@", "ipv6@"]
                .iter()
                .find_map(|pfx| at.strip_prefix(pfx))
                .map(|a| format!("tcp:{a}"))
        }
    })
}

/// What the running haproxy is told before a reload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Handover {
    /// Admin socket of the running haproxy (from the config it runs).
    pub endpoint: Option<String>,
    /// Servers disabled now and taking traffic after the reload: set `ready`.
    pub ready: Vec<ServerRef>,
    /// Servers taking traffic now and disabled after: set to `off_state`.
    pub off: Vec<ServerRef>,
    /// `drain` (a forward change: requests in flight finish) or `maint` (a revert).
    pub off_state: &'static str,
}

impl Handover {
    /// Nothing to tell.
    pub fn none() -> Handover {
        Handover {
            off_state: "drain",
            ..Handover::default()
        }
    }

    /// The servers whose `disabled` flag differs between the running config `old` and `new`
    /// (servers of only one of them are left to the reload).
    pub fn between(old: &str, new: &str) -> Handover {
        let (a, b) = (servers(old), servers(new));
        let mut h = Handover::none();
        h.endpoint = admin_endpoint(old);
        for (s, was_disabled) in &a {
            match b.get(s) {
                Some(false) if *was_disabled => h.ready.push(s.clone()),
                Some(true) if !*was_disabled => h.off.push(s.clone()),
                _ => {}
            }
        }
        h
    }

    /// True when no server changes.
    pub fn is_empty(&self) -> bool {
        self.ready.is_empty() && self.off.is_empty()
    }

    /// The handover that undoes this one (after a failed reload).
    pub fn reverted(&self) -> Handover {
        Handover {
            endpoint: self.endpoint.clone(),
            ready: self.off.clone(),
            off: self.ready.clone(),
            off_state: "maint",
        }
    }

    /// The runtime API commands: `ready` first, so a backend never runs out of servers.
    pub fn commands(&self) -> Vec<String> {
        let set = |s: &ServerRef, state: &str| format!("set server {s} state {state}");
        self.ready
            .iter()
            .map(|s| set(s, "ready"))
            .chain(self.off.iter().map(|s| set(s, self.off_state)))
            .collect()
    }
}

/// The configs at `old` and `new` (paths relative to the box root) in one round trip, and the
/// handover between them; none when either is missing.
fn between_paths(t: &mut dyn Transport, old: &str, new: &str) -> Result<Handover, TransportError> {
    let got = t.fetch(&[old.to_string(), new.to_string()])?;
    let text = |p: &str| got.get(p).map(|b| String::from_utf8_lossy(b).into_owned());
    Ok(match (text(old), text(new)) {
        (Some(a), Some(b)) => Handover::between(&a, &b),
        _ => Handover::none(),
    })
}

fn generation_config(n: &str) -> String {
    format!("{STATE_DIR}/generations/{n}/tree/{CONFIG_PATH}")
}

/// The handover from the live config (what the running haproxy loaded) to generation `n`'s, about
/// to be activated.
pub fn to_generation(t: &mut dyn Transport, n: u64) -> Result<Handover, TransportError> {
    between_paths(t, CONFIG_PATH, &generation_config(&n.to_string()))
}

/// The handover a reload owes after an apply stopped between its swap and its reload: from the
/// generation the pending-reload marker names as the previous one to the live config.
pub fn pending(t: &mut dyn Transport) -> Result<Handover, TransportError> {
    let marker = format!("{STATE_DIR}/pending-reload");
    let got = t.fetch(std::slice::from_ref(&marker))?;
    let prev = got
        .get(&marker)
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .and_then(|m| m.split_whitespace().nth(1).map(str::to_string))
        .filter(|p| p.bytes().all(|b| b.is_ascii_digit()) && !p.is_empty());
    match prev {
        Some(p) => between_paths(t, &generation_config(&p), CONFIG_PATH),
        None => Ok(Handover::none()),
    }
}

/// Tell the running haproxy (see the module doc). Never fails: when haproxy cannot be told, the
/// reload alone moves the traffic, and the log says why.
pub fn hand_over(t: &mut dyn Transport, h: &Handover, log: &mut dyn FnMut(String)) {
    if h.is_empty() {
        return;
    }
    let Some(endpoint) = &h.endpoint else {
        log("Traffic moves with the reload (the running config has no admin socket).".into());
        return;
    };
    let commands = h.commands();
    let mut args = vec![endpoint.clone()];
    args.extend(commands.iter().cloned());
    let answers = match t.call_raw("admin", &args, b"", None) {
        Ok(r) if r.code == Some(0) => crate::transport::frames(&r.stdout)
            .map(|f| {
                f.into_iter()
                    .filter_map(|f| match f {
                        crate::transport::Frame::Blob(_, b) => {
                            Some(String::from_utf8_lossy(b).trim().to_string())
                        }
                        _ => None,
                    })
                    .collect::<Vec<_>>()
            })
            .map_err(|e| e.to_string()),
        Ok(r) => Err(r.stderr.trim_start_matches("edgeplan-box: ").to_string()),
        Err(e) => Err(e.to_string()),
    };
    match answers {
        Ok(answers) => {
            let refused: Vec<String> = commands
                .iter()
                .zip(&answers)
                .filter(|(_, a)| !a.is_empty())
                .map(|(c, a)| format!("`{c}`: {a}"))
                .collect();
            let what = |v: &[ServerRef], state: &str| {
                v.iter().map(|s| format!("{s} {state}")).collect::<Vec<_>>()
            };
            let mut done = what(&h.ready, "ready");
            done.extend(what(&h.off, h.off_state));
            log(format!(
                "Handed traffic over on the running haproxy: {}.",
                done.join(", ")
            ));
            if !refused.is_empty() {
                log(format!(
                    "haproxy refused (the reload moves these servers): {}",
                    refused.join("; ")
                ));
            }
        }
        Err(why) => log(format!(
            "Traffic moves with the reload alone (the running haproxy could not be told: {why})."
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "global\n    stats socket /run/admin.sock mode 600 level admin expose-fd listeners\n\
        backend staging_web_pool\n    server blue 10.0.0.1:80 check cookie s-b\n    \
        server green 10.0.0.2:80 check cookie s-g disabled\n\
        backend prod_web_pool\n    server blue 10.0.0.3:80 check\n    server green 10.0.0.4:80 check disabled\n\
        backend gone\n    server x 10.0.0.9:80\n";

    fn new_cfg() -> String {
        OLD.replace("cookie s-b\n", "cookie s-b disabled\n")
            .replace("cookie s-g disabled", "cookie s-g")
            .replace("backend gone\n    server x 10.0.0.9:80\n", "")
    }

    fn r(b: &str, s: &str) -> ServerRef {
        ServerRef {
            backend: b.into(),
            server: s.into(),
        }
    }

    #[test]
    fn servers_and_their_disabled_flag() {
        let s = servers(OLD);
        assert_eq!(s.len(), 5);
        assert!(s[&r("staging_web_pool", "green")]);
        assert!(!s[&r("staging_web_pool", "blue")]);
        assert!(!s[&r("gone", "x")]);
    }

    #[test]
    fn a_switch_readies_the_new_colour_and_drains_the_old_of_that_env_only() {
        let h = Handover::between(OLD, &new_cfg());
        assert_eq!(h.endpoint.as_deref(), Some("unix:/run/admin.sock"));
        assert_eq!(h.ready, [r("staging_web_pool", "green")]);
        assert_eq!(h.off, [r("staging_web_pool", "blue")]);
        assert_eq!(
            h.commands(),
            [
                "set server staging_web_pool/green state ready",
                "set server staging_web_pool/blue state drain"
            ]
        );
        let back = h.reverted();
        assert_eq!(
            back.commands(),
            [
                "set server staging_web_pool/blue state ready",
                "set server staging_web_pool/green state maint"
            ]
        );
        assert!(Handover::between(OLD, OLD).is_empty());
    }

    #[test]
    fn admin_endpoints() {
        let ep = |l: &str| admin_endpoint(&format!("global\n    {l}\n"));
        assert_eq!(
            ep("stats socket /run/a.sock mode 660 level admin").as_deref(),
            Some("unix:/run/a.sock")
        );
        assert_eq!(
            ep("stats socket ipv4@127.0.0.1:9999 level admin expose-fd listeners").as_deref(),
            Some("tcp:127.0.0.1:9999")
        );
        assert_eq!(ep("stats socket /run/a.sock mode 660 level user"), None);
        assert_eq!(ep("stats timeout 30s"), None);
    }
}
