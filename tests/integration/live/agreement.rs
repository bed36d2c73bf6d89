//! `edgeplan route` agrees with live HAProxy.
//!
//! For the bundled specs and for a few randomly generated valid specs: render the config, run
//! real haproxy on it through the harness of [`super`] (addresses, ports and file paths
//! substituted only; a stand-in server behind every `server` line answering with its identity),
//! send a few hundred requests (every
//! host of every env, upper-case and `:port` hosts, each path class, random paths, with and
//! without each env's cookie and with stale and foreign ones, http and https over HTTP/1.1 and
//! HTTP/2, unknown hosts) and check that the prediction of [`edgeplan::route::explain`] — status,
//! backend and server, redirect location, cookie set, static body — is what haproxy answers, for
//! every request.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use edgeplan::model::Edge;
use edgeplan::route::{self, Explanation, Outcome, Request};
use edgeplan::rules::{BackendKind, Routing};

use super::{Build, Haproxy, Mode, Response, Scheme, Stage};

// ---------------------------------------------------------------------------------------------
// Randomness: a small deterministic generator, so a failure is reproducible from its seed.

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
    fn subset<T: Clone>(&mut self, v: &[T], min: usize, max: usize) -> Vec<T> {
        let n = min + self.below(max - min + 1);
        let mut pool: Vec<T> = v.to_vec();
        let mut out = Vec::new();
        while out.len() < n && !pool.is_empty() {
            out.push(pool.remove(self.below(pool.len())));
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// A generator of valid specs: random envs, hosts, components, routes, outside backends and
// placeholders, with or without TLS and ACME.

/// Spec files (path under the specs dir → text).
fn gen_spec(rng: &mut Rng, n: usize) -> Vec<(String, String)> {
    // Every third spec is plain http only (one frontend, no redirect).
    let https = n % 3 != 2;
    let acme = https || rng.chance(50);
    let mut edge = format!("edge \"gen-{n}\"\n");
    edge += if https {
        "listen http=\"*:80\" https=\"*:443\"\ntls cert-dir=\"/etc/haproxy/certs\"\n"
    } else {
        "listen http=\"*:80\"\n"
    };
    if rng.chance(50) {
        edge += "stats bind=\"127.0.0.1:9100\" uri=\"/stats\"\n";
    }
    edge += &format!(
        "sticky-cookie \"{}\"\n",
        rng.pick(&["SRV", "EDGE_ID", "route-id"])
    );

    let env_names = rng.subset(&["alpha", "beta", "gamma", "delta"], 1, 3);
    let outside_names = rng.subset(&["git", "wiki"], 0, 2);
    let placeholder_names = rng.subset(&["soon", "parked"], 0, 2);
    let mut owners = Vec::new();
    let mut files = Vec::new();
    for env in &env_names {
        owners.push(env.to_string());
        let mut s = format!("env \"{env}\" {{\n");
        let labels = rng.subset(&["", "www.", "app.", "API."], 1, 3);
        let hosts: Vec<String> = labels
            .iter()
            .map(|l| format!("\"{l}{env}.test\""))
            .collect();
        s += &format!("    hosts {}\n", hosts.join(" "));
        s += &format!("    active-color \"{}\"\n", rng.pick(&["blue", "green"]));
        s += &format!(
            "    container-pattern \"{}\"\n",
            rng.pick(&[
                "{env}-{component}-{color}.lxd",
                "c-{component}-{color}.{env}.lxd"
            ])
        );
        if rng.chance(30) {
            s += &format!("    cookie \"{}_SESSION\"\n", env.to_uppercase());
        }
        let comps = rng.subset(&["web", "api", "media", "ws"], 1, 3);
        let mut pools = vec!["pool_a", "pool_b"];
        let mut comp_lines = Vec::new();
        for c in &comps {
            let balance = *rng.pick(&["roundrobin", "leastconn", "uri"]);
            let sticky = balance != "uri" && rng.chance(60);
            let mut line = format!(
                "    component \"{c}\" port={} health=\"{}\" balance=\"{balance}\"",
                1000 + rng.below(9000),
                rng.pick(&["/", "/health", "/api/v1/health"])
            );
            if sticky {
                line += " sticky=#true";
            }
            if rng.chance(30) && !pools.is_empty() {
                line += &format!(" pool=\"{}\"", pools.remove(0));
            }
            comp_lines.push((*c, line + "\n"));
        }
        let prefixes = [
            "/api/", "/api", "/ws", "/static/", "/a/b/", "/media/", "/", "/v1/",
        ];
        let suffixes = [".m3u8", ".ts", ".json", "/health"];
        // Routes in order; one that an earlier route would shadow (wholly or in part) is not
        // kept: `check` refuses those (edgeplan::reach).
        let mut routes: Vec<(&str, Vec<&str>, Vec<&str>)> = Vec::new();
        for _ in 0..rng.below(5) {
            let to = *rng.pick(&comps);
            let kind = rng.below(4);
            let p = if kind != 3 {
                rng.subset(&prefixes, 1, 2)
            } else {
                Vec::new()
            };
            let sfx = if kind >= 2 {
                rng.subset(&suffixes, 1, 2)
            } else {
                Vec::new()
            };
            let mut candidate = routes.clone();
            candidate.push((to, p, sfx));
            let matchers: Vec<edgeplan::reach::Matchers<'_>> = candidate
                .iter()
                .map(|(_, p, s)| edgeplan::reach::Matchers {
                    prefixes: p.clone(),
                    suffixes: s.clone(),
                })
                .collect();
            if edgeplan::reach::unreachable(&matchers).is_empty() {
                routes = candidate;
            }
        }
        let mut default = rng.chance(75).then(|| *rng.pick(&comps));
        // Every component gets requests (`check` refuses one that none reach): the default is
        // an unreached one when there is one; components still unreached are left out.
        let reached = |c: &str, d: Option<&str>| d == Some(c) || routes.iter().any(|r| r.0 == c);
        if comps.len() > 1
            && let Some(u) = comps.iter().find(|c| !reached(c, default))
            && default.is_none_or(|d| routes.iter().any(|r| r.0 == d))
        {
            default = Some(*u);
        }
        for (c, line) in &comp_lines {
            if comps.len() == 1 || reached(c, default) {
                s += line;
            }
        }
        for (r, (to, p, sfx)) in routes.iter().enumerate() {
            let mut body = String::new();
            let q = |v: &[&str]| {
                v.iter()
                    .map(|x| format!("\"{x}\""))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            if !p.is_empty() {
                body += &format!("        prefix {}\n", q(p));
            }
            if !sfx.is_empty() {
                body += &format!("        suffix {}\n", q(sfx));
            }
            s += &format!("    route \"r{r}\" to=\"{to}\" {{\n{body}    }}\n");
        }
        if let Some(d) = default {
            s += &format!("    default \"{d}\"\n");
        }
        s += "}\n";
        files.push((format!("env/{env}.kdl"), s));
    }
    for o in &outside_names {
        owners.push(o.to_string());
        let health = if rng.chance(50) {
            " health=\"/healthz\""
        } else {
            ""
        };
        edge += &format!(
            "outside \"{o}\" address=\"10.9.0.{}:3000\"{health} {{\n    hosts \"{o}.tools.test\"\n}}\n",
            1 + rng.below(200)
        );
    }
    for p in &placeholder_names {
        owners.push(p.to_string());
        let status = rng.pick(&[200, 404, 410, 503]);
        edge += &format!(
            "placeholder \"{p}\" status={status} {{\n    hosts \"{p}.example.test\" \"www.{p}.example.test\"\n    body \"{p} is not here yet\\n\"\n}}\n"
        );
    }
    if acme {
        edge += &format!(
            "acme email=\"ops@example.org\" directory=\"staging\" challenge-port={} {{\n",
            8000 + rng.below(900)
        );
        for o in &owners {
            edge += &format!("    certificate \"c-{o}\" hosts-of=\"{o}\"\n");
        }
        edge += "}\n";
    }
    files.insert(0, ("edge.kdl".into(), edge));
    files
}

// ---------------------------------------------------------------------------------------------
// Requests: every host of every env (as written, upper-case, with a port), each path class,
// random paths, cookies, unknown hosts; http and https.

/// One request to send: what `edgeplan route` is given, and the HTTP version to use.
#[derive(Debug, Clone)]
struct Probe {
    url: String,
    cookies: Vec<String>,
    headers: Vec<String>,
    http2: bool,
}

fn random_path(rng: &mut Rng) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~/%!$&'()*+,;=:@\"<>\\^`{|}[]";
    let n = rng.below(24);
    let mut s = String::from("/");
    for _ in 0..n {
        let c = CHARS[rng.below(CHARS.len())] as char;
        // A `%` starts an escape in HAProxy's eyes too: keep it well formed.
        if c == '%' {
            s += "%2F";
        } else {
            s.push(c);
        }
    }
    s
}

fn host_variants(rng: &mut Rng, host: &str) -> Vec<String> {
    let mixed: String = host
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i % 2 == 0 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect();
    let port = *rng.pick(&["80", "443", "8443", "1"]);
    vec![
        host.to_string(),
        host.to_ascii_uppercase(),
        format!("{mixed}:{port}"),
        format!("{host}:{}", rng.pick(&["80", "443"])),
    ]
}

fn path_classes(rng: &mut Rng, edge: &Edge) -> Vec<String> {
    let mut paths: BTreeSet<String> = BTreeSet::new();
    for p in [
        "/",
        "/.well-known/acme-challenge/t0ken",
        "/.well-known/acme-challenge",
    ] {
        paths.insert(p.to_string());
    }
    for env in edge.envs.values() {
        for r in &env.routes {
            for p in &r.prefixes {
                let p = p.as_str();
                paths.insert(p.to_string());
                paths.insert(format!("{p}x/y"));
                paths.insert(format!("{}{}", p, rng.pick(&["v1/health", "chat", "a.ts"])));
                paths.insert(p.to_uppercase());
                if let Some(bare) = p.strip_suffix('/').filter(|b| !b.is_empty()) {
                    paths.insert(bare.to_string());
                }
                paths.insert(format!("/x{p}"));
                paths.insert(format!("/x?next={p}"));
                for s in &r.suffixes {
                    paths.insert(format!("{p}seg{}", s.as_str()));
                }
            }
            for s in &r.suffixes {
                let s = s.as_str();
                paths.insert(format!("/any/thing{s}"));
                paths.insert(format!("/any/thing{s}?q=1"));
                paths.insert(format!("/any/thing{s}x"));
            }
        }
    }
    for _ in 0..6 {
        let mut p = random_path(rng);
        if rng.chance(40) {
            p += &format!("?{}", &random_path(rng)[1..]);
        }
        paths.insert(p);
    }
    paths.into_iter().collect()
}

/// The cookie arguments worth trying against `edge`: none, and for each env with a sticky
/// cookie its active server's value, another server's, an unknown one, and another env's.
fn cookie_sets(edge: &Edge, routing: &Routing) -> Vec<Vec<String>> {
    let mut sets = vec![Vec::new()];
    for env in edge.envs.values() {
        let cookie = env.cookie.as_str();
        for b in routing
            .backends
            .iter()
            .filter(|b| b.env() == Some(env.name.as_str()))
        {
            for s in &b.servers {
                if let Some(v) = &s.cookie {
                    sets.push(vec![format!("{cookie}={v}")]);
                }
            }
        }
        sets.push(vec![format!("{cookie}=nobody")]);
        sets.push(vec![
            format!("{}=x", cookie.to_lowercase()),
            "other=1".into(),
        ]);
    }
    sets
}

fn probes(rng: &mut Rng, edge: &Edge, routing: &Routing, count: usize) -> Vec<Probe> {
    let mut hosts: Vec<String> = edge.public_hosts().keys().map(|h| h.to_string()).collect();
    hosts.extend(["unknown.test", "example.org", "127.0.0.1"].map(String::from));
    let schemes: Vec<&str> = if edge.listen.https.is_some() {
        vec!["http", "https"]
    } else {
        vec!["http"]
    };
    let paths = path_classes(rng, edge);
    let cookies = cookie_sets(edge, routing);
    let mut out = Vec::new();
    // Every host, in every variant, over every scheme, on a sample of paths and cookies.
    for h in &hosts {
        for v in host_variants(rng, h) {
            for scheme in &schemes {
                out.push(Probe {
                    url: format!("{scheme}://{v}{}", rng.pick(&paths)),
                    cookies: rng.pick(&cookies).clone(),
                    headers: Vec::new(),
                    http2: rng.chance(50),
                });
            }
        }
    }
    // Every path class on a random known host, over https when there is one.
    for p in &paths {
        out.push(Probe {
            url: format!("{}://{}{p}", schemes[schemes.len() - 1], rng.pick(&hosts)),
            cookies: rng.pick(&cookies).clone(),
            headers: Vec::new(),
            http2: rng.chance(50),
        });
    }
    // Every cookie set on every env host.
    for env in edge.envs.values() {
        for c in &cookies {
            let path = rng.pick(&paths).clone();
            out.push(Probe {
                url: format!(
                    "{}://{}{path}",
                    schemes[schemes.len() - 1],
                    rng.pick(&env.hosts)
                ),
                cookies: c.clone(),
                headers: Vec::new(),
                http2: rng.chance(50),
            });
        }
    }
    // A Host header that differs from the URL's authority.
    out.push(Probe {
        url: format!("{}://127.0.0.1/", schemes[0]),
        cookies: Vec::new(),
        headers: vec![format!("Host={}", rng.pick(&hosts))],
        http2: false,
    });
    // Every way a request can name its host ambiguously (issue 15, item 4), over every scheme:
    // a list of hosts in one Host (the known one first and last), two Host headers (the same
    // and different), an empty Host, an IPv6 literal with and without a port, a trailing dot.
    let known = rng.pick(&hosts).clone();
    for scheme in &schemes {
        let mut ambiguous: Vec<Vec<String>> = vec![
            vec![format!("Host={known}, evil.test")],
            vec![format!("Host=evil.test, {known}")],
            vec!["Host=".into()],
            vec!["Host=[2001:db8::1]".into()],
            vec!["Host=[2001:db8::1]:80".into()],
            vec![format!("Host={known}.")],
            vec![format!("Host={}.:443", known.to_ascii_uppercase())],
        ];
        if *scheme == "http" {
            ambiguous.push(vec![format!("Host={known}"), format!("Host={known}")]);
            ambiguous.push(vec![
                format!("Host={known}"),
                format!("Host={}", known.to_ascii_uppercase()),
            ]);
            ambiguous.push(vec![format!("Host={known}"), "Host=evil.test".into()]);
        }
        for headers in ambiguous {
            out.push(Probe {
                url: format!("{scheme}://127.0.0.1{}", rng.pick(&paths)),
                cookies: Vec::new(),
                headers,
                http2: false,
            });
        }
    }
    // Random mixes up to `count`.
    while out.len() < count {
        let h = rng.pick(&hosts).clone();
        let variants = host_variants(rng, &h);
        let v = rng.pick(&variants).clone();
        out.push(Probe {
            url: format!(
                "{}://{v}{}",
                rng.pick(&schemes),
                if rng.chance(50) {
                    random_path(rng)
                } else {
                    rng.pick(&paths).clone()
                }
            ),
            cookies: rng.pick(&cookies).clone(),
            // A third claim to be someone else (issue 15, item 1).
            headers: if rng.chance(30) {
                vec![
                    "X-Forwarded-For=6.6.6.6".to_string(),
                    "X-Real-IP=6.6.6.6".to_string(),
                ]
            } else {
                Vec::new()
            },
            http2: rng.chance(50),
        });
    }
    out
}

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
    /// connection's, whatever the request claimed (the generated specs trust no network).
    client: Option<String>,
}

/// What `ex` says haproxy answers. `bodies` are the rendered files by their path on the box.
fn predict(ex: &Explanation, bodies: &BTreeMap<String, String>) -> Answer {
    let mut a = Answer {
        status: ex.status.unwrap_or(200),
        location: ex.location.clone(),
        served_by: None,
        body: None,
        set_cookies: Vec::new(),
        client: (ex.outcome == Outcome::Forward).then(|| "127.0.0.1".to_string()),
    };
    match ex.outcome {
        Outcome::Redirect | Outcome::NoServer | Outcome::BadRequest => {}
        Outcome::Static => {
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
        }
    }
    a
}

/// What haproxy answered, in the terms of [`predict`].
fn observe(r: &Response, static_answer: bool) -> Answer {
    Answer {
        status: r.status,
        location: r.header("location").map(str::to_string),
        served_by: r.served_by().map(str::to_string),
        body: static_answer.then(|| r.body.clone()),
        set_cookies: r.set_cookies(),
        client: r.echoed("x-forwarded-for").map(str::to_string),
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
    for hd in &req.headers {
        cmd.arg("-H").arg(format!("{}: {}", hd.name, hd.value));
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
    let flips: Vec<String> = edge
        .envs
        .values()
        .filter(|_| match flip {
            Flip::None => false,
            Flip::All => true,
            Flip::Random => rng.chance(40),
        })
        .map(|e| format!("{}={}", e.name, e.active_color.other()))
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

    let probes = probes(rng, &build.edge, routing, count);
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
        let req = Request::parse(&p.url, &p.cookies, &p.headers)
            .map_err(|e| format!("route refused it: {e}"))?;
        let ex = route::explain(routing, &req).map_err(|e| format!("route failed: {e}"))?;
        let want = predict(&ex, &bodies);
        let got = observe(
            &send(&haproxy, &req, p.http2)?,
            ex.outcome == Outcome::Static,
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
            Ok((ex, want, got)) if want == got => {
                tally.agreed += 1;
                let key = match (ex.outcome, ex.kind) {
                    (Outcome::Forward, Some(k)) => format!("forward to {k:?}").to_lowercase(),
                    (o, _) => format!("{o:?}").to_lowercase(),
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
}

#[test]
fn route_agrees_with_live_haproxy() {
    let seed: u64 = std::env::var("EDGEPLAN_AGREEMENT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_260_417);
    let mut rng = Rng::new(seed);
    let bundled = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("specs");
    // (name, specs dir, colours, requests, the spec's text when generated)
    let mut runs: Vec<(String, PathBuf, Flip, usize, Option<String>)> = vec![
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
    for n in 0..5 {
        let dir = tmp.path().join(format!("gen{n}"));
        let files = gen_spec(&mut rng, n);
        for (rel, text) in &files {
            let p = dir.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, text).unwrap();
        }
        let shown: String = files.iter().map(|(r, t)| format!("// {r}\n{t}")).collect();
        let name = format!("random spec {n} (seed {seed})");
        runs.push((name, dir, Flip::Random, 120, Some(shown)));
    }
    // Each run has its own haproxy and its own generator: run them side by side.
    let tallies: Vec<Tally> = std::thread::scope(|s| {
        let handles: Vec<_> = runs
            .iter()
            .map(|(name, dir, flip, count, shown)| {
                let mut rng = Rng::new(rng.next());
                s.spawn(move || {
                    let mut t = Tally::default();
                    agree_on(name, dir, *flip, &mut rng, *count, &mut t);
                    if let (false, Some(shown)) = (t.failures.is_empty(), shown) {
                        t.failures.push(format!("{name} was:\n{shown}"));
                    }
                    t
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut tally = Tally::default();
    for t in tallies {
        tally.requests += t.requests;
        tally.agreed += t.agreed;
        tally.failures.extend(t.failures);
        for (k, v) in t.outcomes {
            *tally.outcomes.entry(k).or_default() += v;
        }
    }
    println!(
        "route agreement: {} requests, {} agree with live haproxy ({:?})",
        tally.requests, tally.agreed, tally.outcomes
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
