//! The health gate of a switch: before any traffic moves to a colour, every instance of that
//! colour in the env must pass its component's health check **as seen from the box** — the
//! same path, `Host` and expectations (statuses, body string, timeout) as haproxy's own
//! `httpchk`, taken from the routing table that renders it ([`crate::rules`]). haproxy does
//! not check `disabled` servers (the idle colour shows MAINT with no check status), so the box
//! itself makes the requests ([`BoxClient::probe`]: curl, else wget).
//!
//! [`wait`] polls until every instance passes or the time is up; the report says, per
//! instance, its address, what it answered (or why not) and how long it took.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::model::{Color, Edge, Ident};
use crate::rules::{self, Check, Role};
use crate::state::ActiveColors;
use crate::transport::{BoxClient, ProbeAnswer, ProbeRequest, TransportError};

/// One instance to check.
#[derive(Debug, Clone)]
pub struct Target {
    /// Component.
    pub component: String,
    /// Instance (server name).
    pub instance: String,
    /// The request the box makes.
    pub request: ProbeRequest,
    /// What haproxy's check expects.
    pub check: Check,
}

impl Target {
    /// One line: `web/green 10.0.3.12:3000: GET / (Host staging.veza.fr), expects status 200`.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{}/{} {}: GET {} (Host {}), expects status {}",
            self.component,
            self.instance,
            self.request.addr,
            self.request.path,
            self.request.host,
            self.check.expect.status
        );
        if let Some(b) = &self.check.expect.body {
            s += &format!(" and \"{b}\" in the body");
        }
        s
    }
}

/// How one instance did.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceHealth {
    /// Component.
    pub component: String,
    /// Instance (server name).
    pub instance: String,
    /// `host:port`.
    pub address: String,
    /// Passed the check.
    pub healthy: bool,
    /// The status it answered, when it answered.
    pub status: Option<u16>,
    /// Why it failed (no answer, a status or body the check does not accept).
    pub problem: Option<String>,
    /// Milliseconds to the whole answer, when the box measured it.
    pub latency_ms: Option<u64>,
}

/// Every instance of the colour, checked once (the last try of [`wait`]).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Env.
    pub env: String,
    /// The colour checked.
    pub color: Color,
    /// Each instance.
    pub instances: Vec<InstanceHealth>,
    /// Tries made.
    pub tries: u32,
    /// Milliseconds from the first try to the last answer.
    pub waited_ms: u64,
}

impl Report {
    /// True when every instance passed (and there is at least one).
    pub fn passed(&self) -> bool {
        !self.instances.is_empty() && self.instances.iter().all(|i| i.healthy)
    }

    /// One line per instance, for people.
    pub fn lines(&self) -> Vec<String> {
        self.instances
            .iter()
            .map(|i| {
                format!(
                    "{}/{} {} ({}): {}{}",
                    i.component,
                    i.instance,
                    self.color,
                    i.address,
                    match (&i.problem, i.status) {
                        (None, Some(s)) => format!("healthy, {s}"),
                        (Some(p), _) => p.clone(),
                        (None, None) => "healthy".into(),
                    },
                    i.latency_ms
                        .map_or(String::new(), |ms| format!(", {ms} ms"))
                )
            })
            .collect()
    }
}

/// The instances of `color` in `env` with their checks, from the routing table (only
/// health-checked pools: every env component is).
pub fn targets(edge: &Edge, env: &Ident, color: Color) -> Vec<Target> {
    let routing = rules::routing(edge, &ActiveColors::from_specs(edge));
    let mut out = Vec::new();
    for b in &routing.backends {
        let Role::Pool {
            env: of,
            component,
            check,
            preview: false,
            ..
        } = &b.role
        else {
            continue;
        };
        if of != env.as_str() {
            continue;
        }
        for s in b.servers.iter().filter(|s| s.color == Some(color)) {
            out.push(Target {
                component: component.clone(),
                instance: s.name.clone(),
                request: ProbeRequest {
                    tls: false,
                    addr: format!("{}:{}", s.host, s.port),
                    path: check.path.to_string(),
                    host: check
                        .host
                        .as_ref()
                        .map_or_else(|| s.host.clone(), |h| h.to_string()),
                },
                check: check.clone(),
            });
        }
    }
    out
}

/// How long one check may take: the check's `timeout`, else haproxy's (the check interval).
fn timeout(edge: &Edge, targets: &[Target]) -> Duration {
    let ms = targets
        .iter()
        .map(|t| {
            t.check
                .expect
                .timeout
                .unwrap_or(edge.health.interval)
                .millis()
        })
        .max()
        .unwrap_or(edge.health.interval.millis());
    // A zero limit would mean none to curl: never less than 100 ms.
    Duration::from_millis(ms.max(100))
}

/// Judge one answer against `expect`: the status, the latency in milliseconds (when the box
/// measured it), and why it does not pass (`None`: it passes).
pub fn verdict(
    expect: &crate::model::HealthExpect,
    answer: &ProbeAnswer,
) -> (Option<u16>, Option<u64>, Option<String>) {
    match answer {
        ProbeAnswer::Failed(why) => (None, None, Some(format!("no answer: {why}"))),
        ProbeAnswer::Status {
            code,
            seconds,
            body,
        } => {
            let ms = seconds.map(|s| (s * 1000.0).round() as u64);
            let problem = if !expect.status.accepts(*code) {
                Some(format!(
                    "answered {code}; the check expects status {}",
                    expect.status
                ))
            } else if let Some(want) = &expect.body
                && !String::from_utf8_lossy(body).contains(want.as_str())
            {
                Some(format!("answered {code} without \"{want}\" in its body"))
            } else {
                None
            };
            (Some(*code), ms, problem)
        }
    }
}

/// Judge one instance's answer against its check.
fn judge(t: &Target, answer: &ProbeAnswer) -> InstanceHealth {
    let (status, latency_ms, problem) = verdict(&t.check.expect, answer);
    InstanceHealth {
        component: t.component.clone(),
        instance: t.instance.clone(),
        address: t.request.addr.clone(),
        healthy: problem.is_none(),
        status,
        problem,
        latency_ms,
    }
}

/// Check every instance of `color` in `env` from the box, again every second until all pass
/// or `wait` is over (`Duration::ZERO`: once). `tried` is told each failing try.
///
/// # Errors
/// The box cannot be reached.
pub fn wait(
    t: &mut BoxClient,
    edge: &Edge,
    env: &Ident,
    color: Color,
    wait: Duration,
    tried: &mut dyn FnMut(&Report),
) -> Result<Report, TransportError> {
    let targets = targets(edge, env, color);
    let limit = timeout(edge, &targets);
    let requests: Vec<ProbeRequest> = targets.iter().map(|t| t.request.clone()).collect();
    let start = Instant::now();
    let mut tries = 0;
    loop {
        tries += 1;
        let instances: Vec<InstanceHealth> = match t.probe(limit, &requests)? {
            Ok(answers) => targets
                .iter()
                .zip(&answers)
                .map(|(t, a)| judge(t, a))
                .collect(),
            Err(why) => targets
                .iter()
                .map(|t| judge(t, &ProbeAnswer::Failed(format!("not checked: {why}"))))
                .collect(),
        };
        let report = Report {
            env: env.to_string(),
            color,
            instances,
            tries,
            waited_ms: start.elapsed().as_millis() as u64,
        };
        if report.passed() || start.elapsed() + Duration::from_secs(1) > wait {
            return Ok(report);
        }
        tried(&report);
        std::thread::sleep(Duration::from_secs(1));
    }
}
