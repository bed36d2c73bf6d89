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

use crate::model::{AbsPath, Address, AdminEndpoint};
use crate::plan::CONFIG_PATH;
use crate::transport::{BoxClient, STATE_DIR, TransportError};

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

/// The admin socket of a haproxy.cfg (its first `stats socket … level admin`: a path, `unix@PATH`,
/// `ipv4@ADDR:PORT` or `ipv6@…`) — the running config's, which may not be the specs'.
pub fn admin_endpoint(cfg: &str) -> Option<AdminEndpoint> {
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
            AbsPath::parse(p).ok().map(AdminEndpoint::Unix)
        } else {
            ["ipv4@", "ipv6@"]
                .iter()
                .find_map(|pfx| at.strip_prefix(pfx))
                .and_then(|a| Address::parse(a).ok())
                .map(AdminEndpoint::Tcp)
        }
    })
}

/// A state the runtime API sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    /// Takes traffic.
    Ready,
    /// Sticky clients and requests in flight only.
    Drain,
    /// No traffic; sticky clients re-dispatched; sessions cut under `shutdown-sessions`.
    Maint,
}

impl State {
    /// The runtime API's word.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Ready => "ready",
            State::Drain => "drain",
            State::Maint => "maint",
        }
    }
}

/// What the running haproxy is told before a reload: a state for each server whose `disabled`
/// flag the reload changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Handover {
    /// Admin socket of the running haproxy (from the config it runs).
    pub endpoint: Option<AdminEndpoint>,
    /// The servers and the state each is set to.
    pub set: BTreeMap<ServerRef, State>,
}

impl Handover {
    /// Nothing to tell.
    pub fn none() -> Handover {
        Handover::default()
    }

    /// From the running config `old` to `new`: servers disabled in `old` and not in `new` are set
    /// `ready`, the other way round `drain` (servers of only one config are left to the reload).
    pub fn between(old: &str, new: &str) -> Handover {
        let (a, b) = (servers(old), servers(new));
        let mut h = Handover {
            endpoint: admin_endpoint(old),
            set: BTreeMap::new(),
        };
        for (s, was_disabled) in &a {
            match b.get(s) {
                Some(false) if *was_disabled => {
                    h.set.insert(s.clone(), State::Ready);
                }
                Some(true) if !*was_disabled => {
                    h.set.insert(s.clone(), State::Drain);
                }
                _ => {}
            }
        }
        h
    }

    /// True when no server changes.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// The handover that undoes this one on the same running haproxy (after a failed reload, or
    /// one that an interrupted run may have made): the servers it readied go back to
    /// maintenance — `maint`, not `drain`: their config flag says `disabled` and stays so across
    /// the next reload, so only a forced maintenance keeps them out — and the others are ready.
    pub fn reverted(&self) -> Handover {
        Handover {
            endpoint: self.endpoint.clone(),
            set: self
                .set
                .iter()
                .map(|(s, st)| {
                    let back = match st {
                        State::Ready => State::Maint,
                        State::Drain | State::Maint => State::Ready,
                    };
                    (s.clone(), back)
                })
                .collect(),
        }
    }

    /// `self`, then `next`: `next` wins for servers both set.
    pub fn then(mut self, next: Handover) -> Handover {
        self.set.extend(next.set);
        self.endpoint = self.endpoint.or(next.endpoint);
        self
    }

    /// The runtime API commands: `ready` first, so a backend never runs out of servers.
    pub fn commands(&self) -> Vec<String> {
        let mut v: Vec<(&ServerRef, &State)> = self.set.iter().collect();
        v.sort_by_key(|(s, st)| (**st, *s));
        v.into_iter()
            .map(|(s, st)| format!("set server {s} state {}", st.as_str()))
            .collect()
    }
}

/// The text of the files at `paths` (relative to the box root) in one round trip; absent files
/// are left out.
fn texts(t: &mut BoxClient, paths: &[String]) -> Result<BTreeMap<String, String>, TransportError> {
    Ok(t.fetch(paths)?
        .into_iter()
        .map(|(p, b)| (p, String::from_utf8_lossy(&b).into_owned()))
        .collect())
}

fn generation_config(n: &str) -> String {
    format!("{STATE_DIR}/generations/{n}/tree/{CONFIG_PATH}")
}

const PENDING: &str = crate::layout::PENDING_RELOAD.rel();

/// The generation the pending-reload marker (`GEN PREV`) names as the one the running haproxy
/// still runs.
fn pending_prev(marker: Option<&String>) -> Option<String> {
    marker
        .and_then(|m| m.split_whitespace().nth(1).map(str::to_string))
        .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The handover from the config the running haproxy loaded to generation `n`'s, about to be
/// activated. That is the live config — unless an earlier run stopped between its swap and its
/// reload (the pending-reload marker): haproxy then still runs the marker's previous
/// generation, and may already have been handed over to the live one; that is undone first.
pub fn to_generation(t: &mut BoxClient, n: u64) -> Result<Handover, TransportError> {
    let new = generation_config(&n.to_string());
    let got = texts(
        t,
        &[PENDING.to_string(), CONFIG_PATH.to_string(), new.clone()],
    )?;
    let Some(new_cfg) = got.get(&new) else {
        return Ok(Handover::none());
    };
    match pending_prev(got.get(PENDING)) {
        None => Ok(got
            .get(CONFIG_PATH)
            .map_or_else(Handover::none, |live| Handover::between(live, new_cfg))),
        Some(prev) => {
            let p = generation_config(&prev);
            let running = texts(t, std::slice::from_ref(&p))?;
            let Some(running) = running.get(&p) else {
                return Ok(Handover::none());
            };
            let undo = got.get(CONFIG_PATH).map_or_else(Handover::none, |live| {
                Handover::between(running, live).reverted()
            });
            Ok(undo.then(Handover::between(running, new_cfg)))
        }
    }
}

/// The handover from the live config — which the running haproxy has loaded: a reload of it
/// just took — to generation `n`'s, about to be made active again (a restore after failed
/// probes). Unlike [`to_generation`] it ignores the pending-reload marker, which the apply
/// being undone has not cleared yet.
pub fn from_live_to(t: &mut BoxClient, n: u64) -> Result<Handover, TransportError> {
    let to = generation_config(&n.to_string());
    let got = texts(t, &[CONFIG_PATH.to_string(), to.clone()])?;
    Ok(match (got.get(CONFIG_PATH), got.get(&to)) {
        (Some(live), Some(to)) => Handover::between(live, to),
        _ => Handover::none(),
    })
}

/// The handover a reload owes after an apply stopped between its swap and its reload: from the
/// generation the pending-reload marker names as the previous one to the live config.
pub fn pending(t: &mut BoxClient) -> Result<Handover, TransportError> {
    let got = texts(t, &[PENDING.to_string()])?;
    let Some(prev) = pending_prev(got.get(PENDING)) else {
        return Ok(Handover::none());
    };
    let p = generation_config(&prev);
    let got = texts(t, &[p.clone(), CONFIG_PATH.to_string()])?;
    Ok(match (got.get(&p), got.get(CONFIG_PATH)) {
        (Some(a), Some(b)) => Handover::between(a, b),
        _ => Handover::none(),
    })
}

/// Tell the running haproxy (see the module doc). Never fails: when haproxy cannot be told, the
/// reload alone moves the traffic, and the log says why.
pub fn hand_over(t: &mut BoxClient, h: &Handover, log: &mut dyn FnMut(String)) {
    if h.is_empty() {
        return;
    }
    let Some(endpoint) = &h.endpoint else {
        log("Traffic moves with the reload (the running config has no admin socket).".into());
        return;
    };
    let commands = h.commands();
    let answers = match t.admin(endpoint, &commands) {
        Ok(Ok(answers)) => Ok(answers),
        Ok(Err(crate::transport::AdminRefusal::NoSocket(m))) => Err(m),
        Ok(Err(crate::transport::AdminRefusal::NoSocat)) => {
            Err("socat is not installed on the box; the runtime API needs it".to_string())
        }
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
            let done: Vec<String> = commands
                .iter()
                .map(|c| c.trim_start_matches("set server ").replace(" state ", " "))
                .collect();
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
        assert_eq!(
            h.endpoint.as_ref().map(|e| e.to_string()).as_deref(),
            Some("unix:/run/admin.sock")
        );
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
    fn an_interrupted_handover_is_undone_unless_redone() {
        // A switch to green stopped before its reload; haproxy still runs OLD.
        let interrupted = Handover::between(OLD, &new_cfg());
        // Back to OLD's colours: undo it.
        let undo = interrupted.reverted().then(Handover::between(OLD, OLD));
        assert_eq!(
            undo.commands(),
            [
                "set server staging_web_pool/blue state ready",
                "set server staging_web_pool/green state maint"
            ]
        );
        // To green after all: the same handover again.
        let redo = interrupted
            .reverted()
            .then(Handover::between(OLD, &new_cfg()));
        assert_eq!(redo.commands(), interrupted.commands());
    }

    #[test]
    fn admin_endpoints() {
        let ep = |l: &str| admin_endpoint(&format!("global\n    {l}\n")).map(|e| e.to_string());
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
