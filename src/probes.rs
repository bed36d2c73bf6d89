//! Probes after activation: the requests an env's spec lists (`probe "/api/health" …`), sent
//! from the box **through its own haproxy** once a reload took — the https listener when TLS is
//! on (server name and `Host` the probe's host, the certificate not checked), else the http one
//! — so they see what users see: the routing, the colour now active, the app behind it.
//!
//! Flapping is bounded: each probe has `tries` (1–10, default 3) one second apart and passes on
//! the first good answer; a probe that never passes fails the run. What a failure does is the
//! caller's ([`crate::apply::apply`]: restore the previous generation unless told to keep it).

use std::time::Duration;

use serde::Serialize;

use crate::model::{Bind, Edge, Ident, Probe};
use crate::transport::{BoxClient, ProbeAnswer, ProbeRequest, TransportError};

/// The probes to run after a reload and what a failure does.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Each probe with the env it belongs to.
    pub probes: Vec<(Ident, Probe)>,
    /// Over TLS (the https listener), and where the box's haproxy listens.
    pub tls: bool,
    /// `IP:PORT` the box connects to.
    pub addr: String,
    /// Restore the previous generation when a probe fails (`false`: `--no-rollback`).
    pub rollback: bool,
}

/// How one probe did.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeResult {
    /// Env.
    pub env: String,
    /// `Host`.
    pub host: String,
    /// Path.
    pub path: String,
    /// Passed.
    pub passed: bool,
    /// The last status it got.
    pub status: Option<u16>,
    /// Why it failed (its last try).
    pub problem: Option<String>,
    /// Tries made.
    pub tries: u32,
}

/// Every probe of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Each probe.
    pub results: Vec<ProbeResult>,
}

impl Report {
    /// True when every probe passed.
    pub fn passed(&self) -> bool {
        self.results.iter().all(|r| r.passed)
    }

    /// The lines of the probes that failed, `; `-joined (for an error message).
    pub fn failures(&self) -> String {
        self.results
            .iter()
            .zip(self.lines())
            .filter(|(r, _)| !r.passed)
            .map(|(_, l)| l)
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// One line per probe, for people.
    pub fn lines(&self) -> Vec<String> {
        self.results
            .iter()
            .map(|r| {
                format!(
                    "{} GET {} (Host {}): {} after {} tr{}",
                    r.env,
                    r.path,
                    r.host,
                    match (&r.problem, r.status) {
                        (None, Some(s)) => format!("passed, {s}"),
                        (Some(p), _) => p.clone(),
                        (None, None) => "passed".into(),
                    },
                    r.tries,
                    if r.tries == 1 { "y" } else { "ies" }
                )
            })
            .collect()
    }
}

/// Where the box reaches its own haproxy on `bind`: `*`, `0.0.0.0` → `127.0.0.1`, `::` →
/// `[::1]`, an IP as it is.
pub fn connect_addr(bind: &Bind) -> String {
    let port = bind.port;
    match bind.ip.trim_start_matches('[').trim_end_matches(']') {
        "*" | "0.0.0.0" => format!("127.0.0.1:{port}"),
        "::" => format!("[::1]:{port}"),
        ip if ip.contains(':') => format!("[{ip}]:{port}"),
        ip => format!("{ip}:{port}"),
    }
}

/// The probes of `envs` (every env of `edge` when `None`), or `None` when they have none.
pub fn plan(edge: &Edge, envs: Option<&[Ident]>, rollback: bool) -> Option<Plan> {
    let probes: Vec<(Ident, Probe)> = edge
        .envs
        .values()
        .filter(|e| envs.is_none_or(|list| list.contains(&e.name)))
        .flat_map(|e| e.probes.iter().map(|p| (e.name.clone(), p.clone())))
        .collect();
    if probes.is_empty() {
        return None;
    }
    let (tls, bind) = match &edge.listen.https {
        Some(b) => (true, b),
        None => (false, &edge.listen.http),
    };
    Some(Plan {
        probes,
        tls,
        addr: connect_addr(bind),
        rollback,
    })
}

/// Run `plan` after a reload, saying each probe through `log`: `None` when no haproxy answers
/// on the admin socket at `admin` (a box's first apply, before anything started it, or no socat
/// there) — nothing to probe through, and `log` says so — else the report.
///
/// # Errors
/// The box cannot be reached.
pub fn check(
    t: &mut BoxClient,
    admin: &crate::model::AdminEndpoint,
    plan: &Plan,
    log: &mut dyn FnMut(String),
) -> Result<Option<Report>, TransportError> {
    if crate::server::worker_pid(&mut crate::server::Runtime::at(t, admin)).is_none() {
        log(
            "Probes not run: haproxy does not answer on the admin socket (not running yet, or \
             no socat on the box)."
                .into(),
        );
        return Ok(None);
    }
    let n = plan.probes.len();
    log(format!(
        "Probing through the box's haproxy ({n} probe{})…",
        if n == 1 { "" } else { "s" }
    ));
    let report = run(t, plan, log)?;
    for l in report.lines() {
        log(format!("  {l}"));
    }
    Ok(Some(report))
}

/// Run `plan` from the box: tries one second apart until every probe passed or used its tries.
/// `log` is told each probe still failing after a try.
///
/// # Errors
/// The box cannot be reached.
pub fn run(
    t: &mut BoxClient,
    plan: &Plan,
    log: &mut dyn FnMut(String),
) -> Result<Report, TransportError> {
    let mut results: Vec<ProbeResult> = plan
        .probes
        .iter()
        .map(|(env, p)| ProbeResult {
            env: env.to_string(),
            host: p.host.to_string(),
            path: p.path.to_string(),
            passed: false,
            status: None,
            problem: None,
            tries: 0,
        })
        .collect();
    let rounds = plan.probes.iter().map(|(_, p)| p.tries).max().unwrap_or(1);
    for round in 1..=rounds {
        let pending: Vec<usize> = (0..results.len())
            .filter(|i| !results[*i].passed && plan.probes[*i].1.tries >= round)
            .collect();
        if pending.is_empty() {
            break;
        }
        if round > 1 {
            std::thread::sleep(Duration::from_secs(1));
        }
        let requests: Vec<ProbeRequest> = pending
            .iter()
            .map(|i| {
                let p = &plan.probes[*i].1;
                ProbeRequest {
                    tls: plan.tls,
                    addr: plan.addr.clone(),
                    path: p.path.to_string(),
                    host: p.host.to_string(),
                }
            })
            .collect();
        let limit = pending
            .iter()
            .map(|i| {
                plan.probes[*i]
                    .1
                    .expect
                    .timeout
                    .map_or(5_000, |d| d.millis())
            })
            .max()
            .unwrap_or(5_000);
        // A zero limit would mean none to curl: never less than 100 ms.
        let answers = match t.probe(Duration::from_millis(limit.max(100)), &requests)? {
            Ok(a) => a,
            Err(why) => vec![ProbeAnswer::Failed(format!("not run: {why}")); requests.len()],
        };
        for (i, answer) in pending.iter().zip(&answers) {
            let (status, _, problem) = crate::gate::verdict(&plan.probes[*i].1.expect, answer);
            let r = &mut results[*i];
            r.tries = round;
            r.status = status;
            r.passed = problem.is_none();
            if let Some(p) = &problem
                && round < plan.probes[*i].1.tries
            {
                log(format!(
                    "  probe {} GET {} (Host {}) try {round}: {p}",
                    r.env, r.path, r.host
                ));
            }
            r.problem = problem;
        }
    }
    Ok(Report { results })
}
