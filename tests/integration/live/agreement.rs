//! `edgeplan route` agrees with live HAProxy.
//!
//! For the bundled specs and for a few randomly generated valid specs: render the config, run
//! real haproxy on it through the harness of [`super`] (addresses, ports and file paths
//! substituted only; a stand-in server behind every `server` line answering with its identity),
//! send a few hundred requests (every
//! host of every env, upper-case and `:port` hosts, each path class, random paths, with and
//! without each env's cookie and with stale and foreign ones, http and https over HTTP/1.1 and
//! HTTP/2, unknown hosts, with and without the credentials of a generated userlist) and check that the prediction of [`edgeplan::route::explain`] — status,
//! backend and server, redirect location, cookie set, static body — is what haproxy answers, for
//! every request.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use edgeplan::route::{self, Explanation, Outcome, Pick, Request, ServerChoice, Verdict};
use edgeplan::rules::BackendKind;

use super::{Build, Haproxy, Mode, Response, Scheme, Stage};

use super::requests::{Probe, Rng, probes};

// ---------------------------------------------------------------------------------------------
// What a request gets: predicted from the explanation, or observed from haproxy.

#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    status: u16,
    /// `Location` of a redirect.
    location: Option<String>,
    /// Identity of the stand-in that answered (`env/component/color`, `backend/server`).
    served_by: Option<String>,
    /// Body of an answer haproxy makes itself from a file.
    body: Option<String>,
    /// `(name, value)` of every `Set-Cookie` of the response.
    set_cookies: Vec<(String, String)>,
    /// The client address the app was told (`X-Forwarded-For` as the stand-in saw it): the
    /// connection's, whatever the request claimed (no generated spec trusts loopback).
    client: Option<String>,
    /// Predicted only: the servers (`env/component/server`) any of which may answer, when the
    /// request does not fix one (round robin, leastconn); with the cookie each would set.
    one_of: Vec<(String, Option<String>)>,
    /// Every header a policy rule of the frontend names: `response NAME` (the values the client
    /// gets) and, when a server answers, `upstream NAME` (the values it got), in order.
    headers: Vec<(String, Vec<String>)>,
    /// The path and query the upstream got, when a route's rewrite changed them.
    upstream_path: Option<String>,
}

/// The headers the policy rules `ex` walked name, with their values after the rules that
/// fired ([`Answer::headers`]); untouched ones as the stand-ins make them (a `Server` header on
/// their answers, nothing else) and the request sends them (no policy-named header).
fn policy_headers(ex: &Explanation) -> Vec<(String, Vec<String>)> {
    let forwarded = ex.outcome == Outcome::Forward;
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for p in &ex.policies {
        let (side, rest) = match p.haproxy.split_once(' ') {
            Some(("http-after-response", rest)) => ("response", rest),
            Some(("http-request", rest)) if forwarded && !rest.starts_with("deny ") => {
                ("upstream", rest)
            }
            _ => continue,
        };
        let rest = rest.split(" if ").next().unwrap_or_default();
        let mut words = rest.splitn(3, ' ');
        let (verb, name) = (
            words.next().unwrap_or_default(),
            words.next().unwrap_or_default(),
        );
        if !["set-header", "add-header", "del-header"].contains(&verb) {
            continue; // a rewrite's lines: compared by the upstream path
        }
        let key = format!("{side} {}", name.to_ascii_lowercase());
        let at = match out.iter().position(|(k, _)| *k == key) {
            Some(at) => at,
            None => {
                let untouched = if key == "response server" && forwarded {
                    vec!["stand-in".to_string()]
                } else if side == "upstream" {
                    // As the request sent it (`Authorization` as route shows it: masked).
                    ex.request
                        .headers
                        .iter()
                        .filter(|h| h.name.eq_ignore_ascii_case(name))
                        .map(|h| h.shown().to_string())
                        .collect()
                } else {
                    Vec::new()
                };
                out.push((key, untouched));
                out.len() - 1
            }
        };
        if !p.fired {
            continue;
        }
        let value = words
            .next()
            .unwrap_or_default()
            .trim_matches('"')
            .replace("%%", "%");
        let values = &mut out[at].1;
        match verb {
            "set-header" => *values = vec![value],
            "add-header" => values.push(value),
            _ => values.clear(),
        }
    }
    out
}

/// What `ex` says haproxy answers. `bodies` are the rendered files by their path on the box.
fn predict(ex: &Explanation, bodies: &BTreeMap<String, String>) -> Answer {
    let mut a = Answer {
        status: ex.status.unwrap_or(200),
        location: ex.location.clone(),
        served_by: None,
        body: None,
        set_cookies: Vec::new(),
        client: (ex.outcome == Outcome::Forward).then(|| {
            ex.request
                .from
                .map_or_else(|| "127.0.0.1".to_string(), |a| a.to_string())
        }),
        one_of: Vec::new(),
        headers: policy_headers(ex),
        upstream_path: ex
            .upstream_path
            .clone()
            .filter(|_| ex.outcome == Outcome::Forward),
    };
    match ex.outcome {
        Outcome::Redirect
        | Outcome::BadRequest
        | Outcome::Denied
        | Outcome::BodyRefused
        | Outcome::Unauthorized => {}
        Outcome::NoServer => {
            a.body = Some(match ex.body_file.as_deref() {
                Some(file) => bodies
                    .get(file.trim_start_matches('/'))
                    .cloned()
                    .unwrap_or_default(),
                None => HAPROXY_NO_SERVER.to_string(),
            })
        }
        Outcome::Static | Outcome::Maintenance => {
            let file = ex.body_file.as_deref().unwrap_or("?");
            a.body = Some(
                bodies
                    .get(file.trim_start_matches('/'))
                    .cloned()
                    .unwrap_or_default(),
            );
        }
        Outcome::Forward => {
            let server = ex.chosen_server.as_deref().unwrap_or("?");
            // The harness names a stand-in `env/component/server` in pools, else
            // `backend/server`.
            a.served_by = Some(match (ex.kind, &ex.env, &ex.component) {
                (Some(BackendKind::Pool), Some(env), Some(comp)) => {
                    format!("{env}/{comp}/{server}")
                }
                _ => format!("{}/{server}", ex.backend.as_deref().unwrap_or("?")),
            });
            a.set_cookies = ex
                .sets_cookie
                .iter()
                .map(|c| (c.name.clone(), c.value.clone().unwrap_or_default()))
                .collect();
            if let Verdict::Forward {
                server:
                    ServerChoice::Balanced {
                        pick: Pick::OneOf(names),
                        ..
                    },
                ..
            } = &ex.verdict
            {
                let cookie = |name: &str| {
                    ex.servers
                        .iter()
                        .find(|s| s.name == name)
                        .and_then(|s| s.cookie.clone())
                };
                let (env, comp) = (ex.env.clone().unwrap_or_default(), ex.component.clone());
                a.served_by = None;
                a.one_of = names
                    .iter()
                    .map(|n| {
                        (
                            format!("{env}/{}/{n}", comp.as_deref().unwrap_or("?")),
                            cookie(n),
                        )
                    })
                    .collect();
            }
        }
    }
    a
}

/// Whether haproxy's answer `got` is what `want` predicts: equal, or — when the prediction is
/// one of several servers — served by one of them, setting that server's cookie.
fn agrees(want: &Answer, got: &Answer) -> bool {
    if want.one_of.is_empty() {
        return want == got;
    }
    let Some((by, cookie)) = want
        .one_of
        .iter()
        .find(|(s, _)| Some(s) == got.served_by.as_ref())
    else {
        return false;
    };
    let mut fixed = want.clone();
    fixed.served_by = Some(by.clone());
    fixed.one_of = Vec::new();
    for c in &mut fixed.set_cookies {
        if c.1.is_empty() {
            c.1 = cookie.clone().unwrap_or_default();
        }
    }
    fixed == *got
}

/// How [`Answer::body`] names haproxy's own 503 page (no server can take the request), told
/// apart from a static 503 answer the config makes from a file.
const HAPROXY_NO_SERVER: &str = "haproxy's own 503 page";

/// What haproxy answered, in the terms of [`predict`]: the body of a static answer, and of
/// every 503 (haproxy's own page, or a file's).
fn observe(
    r: &Response,
    static_answer: bool,
    headers: &[(String, Vec<String>)],
    rewritten: bool,
) -> Answer {
    Answer {
        status: r.status,
        location: r.header("location").map(str::to_string),
        served_by: r.served_by().map(str::to_string),
        body: if static_answer {
            Some(r.body.clone())
        } else if r.status == 503 {
            // HAProxy 2.6's built-in page (src/http_htx.c, http_err_msgs).
            Some(
                if r.body
                    .contains("No server is available to handle this request.")
                {
                    HAPROXY_NO_SERVER.to_string()
                } else {
                    r.body.clone()
                },
            )
        } else {
            None
        },
        set_cookies: r.set_cookies(),
        client: r.echoed("x-forwarded-for").map(str::to_string),
        one_of: Vec::new(),
        headers: headers
            .iter()
            .map(|(key, _)| {
                let values = match key.split_once(' ') {
                    Some(("response", name)) => r
                        .headers_named(name)
                        .into_iter()
                        .map(str::to_string)
                        .collect(),
                    // `Authorization` as route shows it (the user, never the password).
                    Some((_, "authorization")) => r
                        .echoed("header.authorization")
                        .map(|v| {
                            let creds = route::Credentials::from_header(v);
                            vec![route::Credentials::shown(creds.as_ref())]
                        })
                        .unwrap_or_default(),
                    Some((_, name)) => r
                        .echoed(&format!("header.{name}"))
                        .map(|v| v.split(" | ").map(str::to_string).collect())
                        .unwrap_or_default(),
                    None => Vec::new(),
                };
                (key.clone(), values)
            })
            .collect(),
        upstream_path: rewritten
            .then(|| r.echoed("path").map(str::to_string))
            .flatten(),
    }
}

/// Send `req` to the frontend of its scheme with curl, byte for byte as `edgeplan route` read
/// it: the Host header as given, the path as is (no dot-segment merging, no URL globbing), the
/// cookies in one header, over HTTP/1.1 or (https) HTTP/2.
fn send(h: &Haproxy, req: &Request, http2: bool) -> Result<Response, String> {
    let fe = h
        .stage
        .schemes
        .iter()
        .find(|(n, s)| **s == req.scheme && n.as_str() != "stats")
        .map(|(n, _)| n.clone())
        .ok_or_else(|| format!("no {:?} frontend", req.scheme))?;
    let port = h.port(&fe);
    let host = req.host_header.clone().unwrap_or_default();
    // Several Host headers: curl sends one; the wire gets them all.
    if !req.extra_host_headers.is_empty() {
        assert_eq!(
            req.scheme,
            Scheme::Http,
            "several Host headers only over http"
        );
        let mut raw = format!("GET {} HTTP/1.1\r\nHost: {host}\r\n", req.uri());
        for extra in &req.extra_host_headers {
            raw += &format!("Host: {extra}\r\n");
        }
        raw += "Connection: close\r\n\r\n";
        return super::raw_response(port, &raw);
    }
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "-k",
        "-g",
        "--path-as-is",
        // A hang guard, no claim about speed.
        "--max-time",
        "30",
        "-D",
        "-",
    ]);
    // An empty Host header: curl drops `Host:` as a removal; `Host;` sends it empty.
    if host.is_empty() {
        cmd.arg("-H").arg("Host;");
    } else {
        cmd.arg("-H").arg(format!("Host: {host}"));
    }
    for extra in &req.extra_host_headers {
        cmd.arg("-H").arg(format!("Host: {extra}"));
    }
    if !req.cookies.is_empty() {
        let c: Vec<String> = req
            .cookies
            .iter()
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        cmd.arg("-H").arg(format!("Cookie: {}", c.join("; ")));
    }
    // A body: `Content-Length=N` is N bytes (curl declares the length), `Transfer-Encoding=
    // chunked` a small chunked one (over HTTP/1.1 only: HTTP/2 has no chunked encoding).
    // `Expect:` off, so an upstream that does not answer 100 costs no wait.
    let mut body = None;
    for hd in &req.headers {
        if hd.name.eq_ignore_ascii_case("content-length") {
            body = Some(hd.value.trim().parse::<usize>().unwrap_or(0));
            continue;
        }
        if hd.name.eq_ignore_ascii_case("transfer-encoding") {
            body = Some(body.unwrap_or(10));
        }
        cmd.arg("-H").arg(format!("{}: {}", hd.name, hd.value));
    }
    if let Some(n) = body {
        cmd.arg("-H")
            .arg("Expect:")
            .arg("--data-binary")
            .arg("a".repeat(n));
    }
    if let Some(from) = req.from {
        cmd.arg("--interface").arg(from.to_string());
    }
    match req.scheme {
        Scheme::Https => {
            // SNI: the host without port, as a browser would send it.
            let sni = req.host_field().unwrap_or_default().to_ascii_lowercase();
            let sni = if sni.is_empty()
                || !sni
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            {
                "localhost".to_string()
            } else {
                sni
            };
            cmd.arg(if http2 { "--http2" } else { "--http1.1" })
                .arg("--resolve")
                .arg(format!("{sni}:{port}:127.0.0.1"))
                .arg(format!("https://{sni}:{port}{}", req.uri()));
        }
        Scheme::Http => {
            cmd.arg("--http1.1")
                .arg(format!("http://127.0.0.1:{port}{}", req.uri()));
        }
    }
    super::curl_response(&mut cmd, &req.uri())
}

// ---------------------------------------------------------------------------------------------
// The test.

/// What one probe gave: the explanation, the predicted and the observed answer, or why not.
type Result3 = Result<(Explanation, Answer, Answer), String>;

#[derive(Default)]
struct Tally {
    requests: usize,
    agreed: usize,
    failures: Vec<String>,
    outcomes: BTreeMap<String, usize>,
    /// For each set of servers `route` said take turns (`env/component/server`, weight): how
    /// many requests it was predicted for, and the servers haproxy chose for them.
    turns: BTreeMap<Vec<(String, u16)>, Turns>,
}

/// Requests a set of candidates was predicted for, and the servers haproxy chose for them.
type Turns = (usize, BTreeSet<String>);

/// Expected picks under which a candidate that haproxy never chose is a disagreement: a
/// candidate with weight share `p` over `n` requests is expected `n·p` times; round robin picks
/// it at least once in every `Σw` turns, and even a uniformly random choice misses it with
/// probability `(1−p)^n ≤ e^(−n·p)` = e^-12 ≈ 6e-6.
const EXPECTED_PICKS: f64 = 12.0;

impl Tally {
    /// Every candidate `route` named that haproxy, given enough turns, never chose: the
    /// prediction named a server that does not take traffic (a list too wide).
    fn check_turns(&mut self, name: &str) {
        let mut never = Vec::new();
        for (servers, (n, seen)) in &self.turns {
            let total: f64 = servers.iter().map(|(_, w)| f64::from(*w)).sum();
            for (server, w) in servers {
                let expected = *n as f64 * f64::from(*w) / total;
                if expected >= EXPECTED_PICKS && !seen.contains(server) {
                    never.push(format!(
                        "{name}: route said {servers:?} take turns; over {n} such requests \
                         haproxy chose {seen:?}, never {server} (expected {expected:.1} times)"
                    ));
                }
            }
        }
        self.failures.extend(never);
    }
}

/// How to pick the active colours: as the specs say, all switched, or some switched at random
/// (the way `edgeplan route --colors` and `edgeplan switch` do).
#[derive(Clone, Copy)]
enum Flip {
    None,
    All,
    Random,
}

fn agree_on(name: &str, specs: &Path, flip: Flip, rng: &mut Rng, count: usize, tally: &mut Tally) {
    let (_, edge) = edgeplan::load(specs).unwrap_or_else(|p| {
        panic!(
            "{name}: specs are invalid:\n{}",
            edgeplan::diag::render_text(&p, false, 100)
        )
    });
    // Some envs at the other colour, some in a canary (both colours in rotation, weighted).
    let flips: Vec<String> = edge
        .envs
        .values()
        .filter_map(|e| {
            let other = e.active_color.other();
            match flip {
                Flip::None => None,
                Flip::All => Some(format!("{}={other}", e.name)),
                Flip::Random => match rng.below(5) {
                    0 | 1 => Some(format!("{}={other}", e.name)),
                    2 => Some(format!("{}={other}@{}", e.name, 1 + rng.below(99))),
                    _ => None,
                },
            }
        })
        .collect();
    // The same colours for the config and for `route`, set the way `--colors` sets them.
    let build = Build::with(specs, |c| route::apply_colors(&edge, c, &flips).unwrap());
    let haproxy = Stage::new(&build, Mode::Live).start();
    // The routing table the template rendered: `route` walks exactly this list.
    let routing = &build.routing;
    let bodies: BTreeMap<String, String> = build
        .files
        .iter()
        .map(|(p, f)| (p.clone(), String::from_utf8_lossy(&f.content).into_owned()))
        .collect();

    // The generator's live specs trust 127.0.0.2 when they trust anyone (`Plan::live`).
    let trusted_source: Option<std::net::IpAddr> = build
        .edge
        .trusted
        .iter()
        .any(|n| n.to_string().trim_end_matches("/32") == "127.0.0.2")
        .then(|| "127.0.0.2".parse().unwrap());
    let probes = probes(rng, &build.edge, routing, count, trusted_source);
    println!(
        "{name}: {} envs, {} outside, {} placeholders, https {}, acme {}, colours {:?}: {} requests",
        build.edge.envs.len(),
        build.edge.outside.len(),
        build.edge.placeholders.len(),
        build.edge.listen.https.is_some(),
        build.edge.acme.is_some(),
        build
            .colors
            .0
            .iter()
            .map(|(e, c)| format!("{e}={c}"))
            .collect::<Vec<_>>(),
        probes.len()
    );
    let one = |p: &Probe| -> Result3 {
        let mut req = Request::parse(&p.url, &p.cookies, &p.headers)
            .map_err(|e| format!("route refused it: {e}"))?;
        // Sent from 127.0.0.1 unless the probe says: route is told so (access rules read it).
        req.from = Some(
            p.from
                .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)),
        );
        let ex = route::explain(routing, &req).map_err(|e| format!("route failed: {e}"))?;
        let want = predict(&ex, &bodies);
        let got = observe(
            &send(&haproxy, &req, p.http2)?,
            matches!(ex.outcome, Outcome::Static | Outcome::Maintenance),
            &want.headers,
            want.upstream_path.is_some(),
        );
        Ok((ex, want, got))
    };
    let results: Vec<(Probe, Result3)> = std::thread::scope(|s| {
        let handles: Vec<_> = probes
            .chunks(probes.len().div_ceil(8).max(1))
            .map(|chunk| {
                let one = &one;
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|p| (p.clone(), one(p)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    for (p, r) in results {
        tally.requests += 1;
        match r {
            Ok((ex, want, got)) if agrees(&want, &got) => {
                tally.agreed += 1;
                if !want.one_of.is_empty() {
                    let weight = |server: &str| {
                        ex.servers
                            .iter()
                            .find(|s| server.ends_with(&format!("/{}", s.name)))
                            .and_then(|s| s.weight)
                            .unwrap_or(1)
                    };
                    let key = want
                        .one_of
                        .iter()
                        .map(|(s, _)| (s.clone(), weight(s)))
                        .collect();
                    let turn = tally.turns.entry(key).or_default();
                    turn.0 += 1;
                    turn.1.extend(got.served_by.clone());
                }
                let key = match (ex.outcome, ex.kind) {
                    (Outcome::Forward, Some(_)) if !want.one_of.is_empty() => {
                        "forward to one of several servers".to_string()
                    }
                    (Outcome::Forward, Some(k)) => format!("forward to {k:?}").to_lowercase(),
                    (o, _) => format!("{o:?}").to_lowercase(),
                };
                let key = match p.from {
                    Some(_) => format!("{key}, from a trusted source"),
                    None => key,
                };
                let key = if want.upstream_path.is_some() {
                    format!("{key}, path rewritten")
                } else {
                    key
                };
                let key = if p.headers.iter().any(|h| h.starts_with("Authorization=")) {
                    format!("{key}, with credentials")
                } else {
                    key
                };
                let key = if p.headers.iter().any(|h| {
                    h.starts_with("Content-Length=") || h.starts_with("Transfer-Encoding=")
                }) {
                    format!("{key}, with a body")
                } else {
                    key
                };
                let key = if ex.policies.iter().any(|r| r.fired) {
                    format!("{key}, a policy acting")
                } else {
                    key
                };
                *tally.outcomes.entry(key).or_default() += 1;
            }
            Ok((ex, want, got)) => tally.failures.push(format!(
                "{name}: {p:?}\n  predicted {want:?}\n  haproxy   {got:?}\n{}",
                route::render_text(&ex, false)
            )),
            Err(e) => tally.failures.push(format!("{name}: {p:?}: {e}")),
        }
    }
    tally.check_turns(name);
}

/// Write the live form of `plan` under `dir`; its text, for messages.
fn write_plan(dir: &Path, plan: &crate::specgen::Plan) -> String {
    let files = plan.live().files();
    crate::pipeline::write(dir, &files);
    crate::pipeline::shown(&files)
}

/// [`agree_on`], a panic (haproxy refused the config, a request could not be sent…) recorded
/// as a failure of the run instead of ending the test, so the seed and the smallest spec are
/// still reported.
fn agree_or_fail(name: &str, specs: &Path, flip: Flip, seed: u64, count: usize) -> Tally {
    let mut t = Tally::default();
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        agree_on(name, specs, flip, &mut Rng::new(seed), count, &mut t)
    }));
    if let Err(panic) = run {
        let why = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic".into());
        t.failures.push(format!("{name}: the run stopped: {why}"));
    }
    t
}

/// Run `plan` alone (its own haproxy, `count` requests from `seed`): whether it disagrees.
fn disagrees(plan: &crate::specgen::Plan, seed: u64, count: usize) -> bool {
    let tmp = tempfile::tempdir().unwrap();
    write_plan(tmp.path(), plan);
    !agree_or_fail("shrinking", tmp.path(), Flip::Random, seed, count)
        .failures
        .is_empty()
}

/// Shrink a disagreeing plan with proptest's own simplification (at most `budget` haproxy
/// runs): the smallest plan found that still disagrees.
fn minimise(
    mut tree: impl proptest::strategy::ValueTree<Value = crate::specgen::Plan>,
    seed: u64,
    count: usize,
    budget: usize,
) -> crate::specgen::Plan {
    let mut smallest = tree.current();
    let mut runs = 0;
    while runs < budget && tree.simplify() {
        loop {
            runs += 1;
            if disagrees(&tree.current(), seed, count) {
                smallest = tree.current();
                break;
            }
            if runs >= budget || !tree.complicate() {
                return smallest;
            }
        }
    }
    smallest
}

#[test]
fn route_agrees_with_live_haproxy() {
    use proptest::strategy::{Strategy, ValueTree};
    let seed = crate::pipeline::seed();
    let env_count = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    // Soak: many specs and requests (`EDGEPLAN_AGREEMENT_SPECS`, `EDGEPLAN_AGREEMENT_REQUESTS`).
    let (spec_count, per_spec) = (
        env_count("EDGEPLAN_AGREEMENT_SPECS", 6),
        env_count("EDGEPLAN_AGREEMENT_REQUESTS", 120),
    );
    let mut rng = Rng::new(seed);
    let bundled = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("specs");
    // (name, specs dir, colours, requests, the generated plan's index)
    let mut runs: Vec<(String, PathBuf, Flip, usize, Option<usize>)> = vec![
        (
            "bundled specs".into(),
            bundled.clone(),
            Flip::None,
            400,
            None,
        ),
        (
            "bundled specs, colours switched".into(),
            bundled,
            Flip::All,
            150,
            None,
        ),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let mut runner = crate::pipeline::runner(1, seed);
    let mut trees = Vec::new();
    let mut texts = Vec::new();
    for n in 0..spec_count {
        let tree = crate::specgen::plan().new_tree(&mut runner).unwrap();
        let dir = tmp.path().join(format!("gen{n}"));
        texts.push(write_plan(&dir, &tree.current()));
        trees.push(tree);
        let name = format!("generated spec {n} (seed {seed})");
        runs.push((name, dir, Flip::Random, per_spec, Some(n)));
    }
    // Each run has its own haproxy and its own request generator: two at a time.
    let seeds: Vec<u64> = runs.iter().map(|_| rng.next()).collect();
    let mut tallies: Vec<(Tally, Option<usize>, u64)> = Vec::new();
    for (chunk, chunk_seeds) in runs.chunks(2).zip(seeds.chunks(2)) {
        tallies.extend(std::thread::scope(|s| {
            let handles: Vec<_> = chunk
                .iter()
                .zip(chunk_seeds)
                .map(|((name, dir, flip, count, n), seed)| {
                    s.spawn(move || (agree_or_fail(name, dir, *flip, *seed, *count), *n, *seed))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect::<Vec<_>>()
        }));
    }
    let mut tally = Tally::default();
    let mut trees: Vec<Option<_>> = trees.into_iter().map(Some).collect();
    for (t, n, run_seed) in tallies {
        tally.requests += t.requests;
        tally.agreed += t.agreed;
        if let (false, Some(n)) = (t.failures.is_empty(), n) {
            let tree = trees[n].take().unwrap();
            let small = minimise(tree, run_seed, per_spec, 40);
            tally.failures.push(format!(
                "generated spec {n} (seed {seed}) was:\n{}\nthe smallest spec found that still \
                 disagrees (requests from seed {run_seed}):\n{}",
                texts[n],
                crate::pipeline::shown(&small.live().files())
            ));
        }
        tally.failures.extend(t.failures);
        for (k, v) in t.outcomes {
            *tally.outcomes.entry(k).or_default() += v;
        }
    }
    println!(
        "route agreement (seed {seed}, EDGEPLAN_GEN_SEED={seed} to repeat): {} generated specs, \
         {} requests, {} agree with live haproxy ({:?})",
        spec_count, tally.requests, tally.agreed, tally.outcomes
    );
    assert!(
        tally.failures.is_empty(),
        "{} of {} requests disagree with live haproxy:\n{}",
        tally.requests - tally.agreed,
        tally.requests,
        tally.failures.join("\n")
    );
    assert_eq!(tally.agreed, tally.requests);
}
