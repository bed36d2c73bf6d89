//! Changing one instance on the running haproxy ([`set`]: drain, ready, maint, refusing what
//! would make an inactive colour take traffic) and waiting for the change to settle
//! ([`wait`]).

use std::time::{Duration, Instant};

use serde::Serialize;

use super::runtime::admin_bits;
use super::*;

/// What `set` did.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// Backend.
    pub backend: String,
    /// Server.
    pub server: String,
    /// State before.
    pub before: AdminState,
    /// State after.
    pub after: AdminState,
    /// Sessions when the change was made.
    pub sessions: u64,
}

/// The state row of one server, or [`ServerError::NotRunning`].
fn row_of(rt: &mut Runtime<'_>, backend: &str, server: &str) -> Result<StateRow, ServerError> {
    let cmd = format!("show servers state {backend}");
    let answer = rt.run(std::slice::from_ref(&cmd))?.remove(0);
    let target = rt.target().to_string();
    let not_running = || ServerError::NotRunning {
        target: target.clone(),
        backend: backend.to_string(),
        server: server.to_string(),
    };
    // An unknown backend is answered with a message, not a table.
    if answer.contains("Can't find backend") {
        return Err(not_running());
    }
    let rows = parse_servers_state(&answer).map_err(|m| ServerError::Refused {
        target: target.clone(),
        command: cmd.clone(),
        answer: m,
    })?;
    rows.into_iter()
        .find(|r| r.server == server)
        .ok_or_else(not_running)
}

/// Current sessions of one server (`show stat`'s `scur`).
pub fn sessions(rt: &mut Runtime<'_>, backend: &str, server: &str) -> Result<u64, ServerError> {
    let answer = rt.run(&[format!("show stat {backend} 4 -1")])?.remove(0);
    Ok(parse_stat(&answer)
        .iter()
        .find(|r| r.get("svname").map(String::as_str) == Some(server))
        .and_then(|r| r.get("scur"))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

/// Set `n`'s server to `action` on the running haproxy.
pub fn set(rt: &mut Runtime<'_>, n: &Named<'_>, action: Action) -> Result<Change, ServerError> {
    let server = n.instance.name.as_str();
    let before = row_of(rt, &n.backend, server)?;
    let before_state = AdminState::of(before.admin_state);
    let config_disabled = before.admin_state & admin_bits::CMAINT != 0;
    if config_disabled && action != Action::Maint {
        return Err(ServerError::InactiveColor {
            env: n.env.name.to_string(),
            component: n.component.name.to_string(),
            instance: server.to_string(),
            color: n.instance.color.to_string(),
            action: action.as_str().to_string(),
        });
    }
    let cmd = format!(
        "set server {}/{server} state {}",
        n.backend,
        action.as_str()
    );
    let answers = rt.run(&[
        cmd.clone(),
        format!("show servers state {}", n.backend),
        format!("show stat {} 4 -1", n.backend),
    ])?;
    // The runtime API answers nothing when a `set server` worked.
    if !answers[0].is_empty() {
        return Err(ServerError::Refused {
            target: rt.target().to_string(),
            command: cmd,
            answer: answers[0].clone(),
        });
    }
    let after = parse_servers_state(&answers[1])
        .ok()
        .and_then(|rows| rows.into_iter().find(|r| r.server == server))
        .map_or(before_state, |r| AdminState::of(r.admin_state));
    let sessions = parse_stat(&answers[2])
        .iter()
        .find(|r| r.get("svname").map(String::as_str) == Some(server))
        .and_then(|r| r.get("scur"))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Ok(Change {
        backend: n.backend.clone(),
        server: server.to_string(),
        before: before_state,
        after,
        sessions,
    })
}

/// Wait until `n`'s server has no sessions left (`drain`, `maint`) or is up (`ready`),
/// polling every `every`; the time it took, or [`ServerError::Timeout`].
pub fn wait(
    rt: &mut Runtime<'_>,
    n: &Named<'_>,
    action: Action,
    timeout: Duration,
    every: Duration,
    progress: &mut dyn FnMut(String),
) -> Result<Duration, ServerError> {
    let server = n.instance.name.as_str();
    let start = Instant::now();
    let mut last = String::new();
    loop {
        let answer = rt
            .run(&[format!("show stat {} 4 -1", n.backend)])?
            .remove(0);
        let row = parse_stat(&answer)
            .into_iter()
            .find(|r| r.get("svname").map(String::as_str) == Some(server));
        let get = |k: &str| {
            row.as_ref()
                .and_then(|r| r.get(k))
                .cloned()
                .unwrap_or_default()
        };
        let (done, what) = match action {
            Action::Ready => {
                let status = get("status");
                (
                    status == "UP" || status == "no check",
                    format!("health {status}"),
                )
            }
            Action::Drain | Action::Maint => {
                let scur: u64 = get("scur").parse().unwrap_or(0);
                (
                    scur == 0,
                    format!("{scur} session{} left", if scur == 1 { "" } else { "s" }),
                )
            }
        };
        if done {
            return Ok(start.elapsed());
        }
        if what != last {
            progress(what.clone());
            last = what.clone();
        }
        if start.elapsed() >= timeout {
            return Err(ServerError::Timeout {
                backend: n.backend.clone(),
                server: server.to_string(),
                what: match action {
                    Action::Ready => format!("not up ({what})"),
                    _ => what,
                },
                waited: format!("{:.1}s", timeout.as_secs_f64()),
            });
        }
        std::thread::sleep(every.min(timeout.saturating_sub(start.elapsed())));
    }
}
