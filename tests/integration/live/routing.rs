//! Live routing (issue 3): the rendered config of the bundled specs, run by real haproxy, sends
//! every request where the spec says, to the active colour only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use edgeplan::model::{Color, Ident};
use edgeplan::state::Serving;

use super::{AdminAddr, Build, Haproxy, Mode, Response, Scheme, Stage};
use crate::common;

/// Requests per route and env.
const PER_ROUTE: usize = 20;

/// A copy of the bundled `specs/` in a temp dir.
fn bundled_specs() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let specs = tmp.path().join("specs");
    common::copy_dir(&common::repo().join("specs"), &specs);
    (tmp, specs)
}

/// Warnings `haproxy -c` may give on the config as the box sees it: the containers of the
/// bundled specs do not resolve here, which `init-addr last,libc,none` turns into a warning.
fn box_warning_expected(w: &str) -> bool {
    w.contains("could not resolve address")
}

#[test]
fn haproxy_check_accepts_bundled_specs_and_every_valid_fixture() {
    let (_tmp, bundled) = bundled_specs();
    let mut dirs: Vec<(String, PathBuf)> = vec![("bundled specs/".into(), bundled)];
    let fixtures = common::repo().join("tests/specs/valid");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&fixtures)
        .map(|rd| rd.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    names.sort();
    for p in names {
        assert!(p.is_dir(), "{} is not a fixture directory", p.display());
        let name = format!("fixture {}", p.file_name().unwrap().to_string_lossy());
        dirs.push((name, p));
    }
    // A few at a time: each runs openssl and haproxy -c twice.
    let mut failures = Vec::new();
    for batch in dirs.chunks(4) {
        std::thread::scope(|s| {
            let handles: Vec<_> = batch
                .iter()
                .map(|(name, dir)| s.spawn(move || check_one(name, dir)))
                .collect();
            for h in handles {
                failures.extend(h.join().unwrap());
            }
        });
    }
    eprintln!(
        "haproxy -c: {} spec dirs checked (bundled + {} valid fixtures), as on the box and as run live",
        dirs.len(),
        dirs.len() - 1
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// `haproxy -c` on the config of `dir`, with only paths substituted (as the box sees it) and
/// staged to run here; every problem found.
fn check_one(name: &str, dir: &Path) -> Vec<String> {
    let build = std::panic::catch_unwind(|| Build::of(dir));
    let build = match build {
        Ok(b) => b,
        Err(e) => return vec![format!("{name}: does not render: {}", panic_text(&e))],
    };
    let mut problems = Vec::new();
    for mode in [Mode::PathsOnly, Mode::Live] {
        let stage = match std::panic::catch_unwind(|| Stage::new(&build, mode)) {
            Ok(s) => s,
            Err(e) => {
                problems.push(format!(
                    "{name} ({mode:?}): cannot stage: {}",
                    panic_text(&e)
                ));
                continue;
            }
        };
        let check = stage.check();
        let unexpected: Vec<&String> = check
            .warnings
            .iter()
            .filter(|w| mode == Mode::Live || !box_warning_expected(w))
            .collect();
        if !check.ok || !unexpected.is_empty() {
            problems.push(format!(
                "{name} ({mode:?}): haproxy -c {}:\n{}\n--- config\n{}",
                if check.ok {
                    "warns"
                } else {
                    "rejects the config"
                },
                check.output.trim_end(),
                stage.cfg
            ));
        }
    }
    problems
}

fn panic_text(e: &Box<dyn std::any::Any + Send>) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// One env of the bundled specs as the tests expect it (written out, not read from the model).
struct EnvCase {
    name: &'static str,
    /// Host headers that must reach the env: exact, upper case, with port.
    hosts: &'static [&'static str],
}

const ENVS: &[EnvCase] = &[
    EnvCase {
        name: "staging",
        hosts: &["staging.veza.fr", "STAGING.VEZA.FR", "staging.veza.fr:443"],
    },
    EnvCase {
        name: "prod",
        hosts: &[
            "veza.fr",
            "www.veza.fr",
            "veza.fr:443",
            "VEZA.FR",
            "Www.Veza.Fr:443",
        ],
    },
];

/// Route → sample paths → component.
const ROUTES: &[(&str, &[&str], &str)] = &[
    (
        "api",
        &["/api/v1/tracks", "/api/", "/api/v1/health"],
        "backend",
    ),
    ("ws", &["/ws", "/ws/chat?room=1"], "backend"),
    (
        "stream_seg",
        &["/stream/track/7/seg-1.ts", "/hls/7/index.m3u8"],
        "stream",
    ),
    // Near misses of the routes above fall to the env's default component.
    (
        "default",
        &[
            "/",
            "/about",
            "/apix",
            "/streams",
            "/.well-known/acme-challenge/x",
        ],
        "web",
    ),
];

/// Sends requests and counts what each stand-in must have received.
struct Client<'a> {
    h: &'a Haproxy,
    expected: BTreeMap<String, usize>,
    sent: usize,
}

impl<'a> Client<'a> {
    fn new(h: &'a Haproxy) -> Client<'a> {
        Client {
            h,
            expected: BTreeMap::new(),
            sent: 0,
        }
    }

    fn count(&mut self, r: &Response) {
        self.sent += 1;
        if let Some(id) = r.served_by() {
            *self.expected.entry(id.to_string()).or_default() += 1;
        }
    }

    fn get(
        &mut self,
        scheme: Scheme,
        host: &str,
        path: &str,
        cookies: &[(&str, &str)],
    ) -> Response {
        let r = self.h.request(scheme, host, path, cookies);
        self.count(&r);
        r
    }

    /// Cookie-less requests `(host, path)` sent in parallel, each answered by `who`.
    fn expect_all_served(
        &mut self,
        scheme: Scheme,
        requests: &[(&str, &str)],
        who: &str,
    ) -> Vec<Response> {
        let rs = self.h.request_all(scheme, requests);
        for (r, (host, path)) in rs.iter().zip(requests) {
            self.count(r);
            assert_served(r, scheme, host, path, &[], who);
        }
        rs
    }

    /// A request that a stand-in must answer as `who`, echoing the path.
    fn expect_served(
        &mut self,
        scheme: Scheme,
        host: &str,
        path: &str,
        cookies: &[(&str, &str)],
        who: &str,
    ) -> Response {
        let r = self.get(scheme, host, path, cookies);
        assert_served(&r, scheme, host, path, cookies, who);
        r
    }
}

/// `r` came from the stand-in `who`, with the path and scheme as sent.
fn assert_served(
    r: &Response,
    scheme: Scheme,
    host: &str,
    path: &str,
    cookies: &[(&str, &str)],
    who: &str,
) {
    let what = format!("{scheme:?} Host: {host} {path} cookies {cookies:?}");
    assert_eq!(r.status, 200, "{what}: {r:?}");
    assert_eq!(
        r.served_by(),
        Some(who),
        "{what} reached the wrong server: {r:?}"
    );
    assert_eq!(
        r.echoed("path"),
        Some(path),
        "{what}: path rewritten: {r:?}"
    );
    let proto = if scheme == Scheme::Https {
        "https"
    } else {
        "http"
    };
    assert_eq!(r.echoed("x-forwarded-proto"), Some(proto), "{what}: {r:?}");
}

/// Everything the live test asserts, for the colours `build` was rendered with.
fn exercise(h: &Haproxy, build: &Build) {
    assert!(
        h.warnings.is_empty(),
        "haproxy -c warns on the staged config:\n{}",
        h.warnings.join("\n")
    );
    // The admin socket has the spec's mode (660), as haproxy itself created it.
    if let AdminAddr::Unix(p) = &h.stage.admin {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o660, "admin socket mode {mode:o}");
    }
    let mut c = Client::new(h);
    let color = |env: &str| {
        build
            .colors
            .get(&Ident::parse(env).unwrap())
            .unwrap()
            .color()
    };

    for env in ENVS {
        let active = color(env.name);
        let cookie = format!("VEZA_SERVERID_{}", env.name);
        for (route, paths, component) in ROUTES {
            let who = format!("{}/{component}/{active}", env.name);
            let requests: Vec<(&str, &str)> = (0..PER_ROUTE)
                .map(|i| (env.hosts[i % env.hosts.len()], paths[i % paths.len()]))
                .collect();
            for r in c.expect_all_served(Scheme::Https, &requests, &who) {
                let set = r.set_cookies();
                if *component == "backend" {
                    // The env's own cookie, pinning the active colour, and no other.
                    let value = format!("{}-backend-{active}", env.name);
                    assert_eq!(set, vec![(cookie.clone(), value)], "route {route}: {r:?}");
                    let raw = r.header("set-cookie").unwrap().to_ascii_lowercase();
                    assert!(raw.contains("httponly") && raw.contains("secure"), "{raw}");
                } else {
                    assert!(set.is_empty(), "route {route} sets a cookie: {r:?}");
                }
            }
        }
    }

    // The env cookies do not cross envs: prod ignores a staging cookie and sets its own.
    let (staging, prod) = (color("staging"), color("prod"));
    let staging_value = format!("staging-backend-{staging}");
    for (host, path) in [("veza.fr", "/api/v1/me"), ("www.veza.fr", "/ws")] {
        let r = c.expect_served(
            Scheme::Https,
            host,
            path,
            &[("VEZA_SERVERID_staging", &staging_value)],
            &format!("prod/backend/{prod}"),
        );
        assert_eq!(
            r.set_cookies(),
            vec![("VEZA_SERVERID_prod".into(), format!("prod-backend-{prod}"))],
            "{r:?}"
        );
    }
    // A staging cookie pinned to either colour: only the active one serves.
    for pinned in Color::ALL {
        let value = format!("staging-backend-{pinned}");
        let r = c.expect_served(
            Scheme::Https,
            "staging.veza.fr",
            "/api/v1/me",
            &[("VEZA_SERVERID_staging", &value)],
            &format!("staging/backend/{staging}"),
        );
        let fresh = format!("staging-backend-{staging}");
        let want = if pinned == staging {
            vec![] // a valid pin is kept, not re-inserted
        } else {
            vec![("VEZA_SERVERID_staging".to_string(), fresh)]
        };
        assert_eq!(r.set_cookies(), want, "pinned to {pinned}: {r:?}");
        // `indirect`: the server never sees haproxy's own cookie.
        let seen = r.echoed("cookie").unwrap_or_default();
        assert!(!seen.contains("VEZA_SERVERID_staging"), "{r:?}");
    }

    // Outside backend.
    for host in ["forgejo.talas.group", "FORGEJO.TALAS.GROUP:443"] {
        for path in ["/", "/user/login", "/api/v1/version"] {
            let r = c.expect_served(Scheme::Https, host, path, &[], "forgejo_backend/forgejo");
            assert!(r.set_cookies().is_empty(), "{r:?}");
        }
    }

    // Placeholder and default 503s.
    for (hosts, body) in [
        (
            &["talas.fr", "www.talas.fr", "WWW.TALAS.FR:443"][..],
            "Talas is coming soon.\n",
        ),
        (
            &[
                "unknown.example",
                "veza.fr.evil.example",
                "evil-veza.fr",
                "127.0.0.1",
            ][..],
            "No site is served at this address.\n",
        ),
    ] {
        for host in hosts {
            for path in ["/", "/api/v1/tracks"] {
                let r = c.get(Scheme::Https, host, path, &[]);
                let what = format!("Host: {host} {path}");
                assert_eq!(r.status, 503, "{what}: {r:?}");
                assert_eq!(r.body, body, "{what}");
                assert_eq!(r.served_by(), None, "{what}");
                assert!(
                    r.header("content-type")
                        .unwrap_or_default()
                        .starts_with("text/plain"),
                    "{what}: {r:?}"
                );
                assert_eq!(r.header("cache-control"), Some("no-store"), "{what}: {r:?}");
            }
        }
    }

    // Plain HTTP: the ACME challenge reaches certbot's stand-in whatever the host, everything
    // else is redirected to the same host and path over https.
    for host in ["veza.fr", "staging.veza.fr", "talas.fr", "unknown.example"] {
        let token = format!("/.well-known/acme-challenge/tok-{host}");
        c.expect_served(Scheme::Http, host, &token, &[], "acme_challenge/certbot");
        for path in ["/", "/api/v1/tracks?page=2", "/.well-known/acme-challenge"] {
            let r = c.get(Scheme::Http, host, path, &[]);
            assert_eq!(r.status, 301, "http Host: {host} {path}: {r:?}");
            assert_eq!(
                r.header("location"),
                Some(format!("https://{host}{path}").as_str()),
                "http Host: {host} {path}"
            );
        }
    }

    // The stats page answers on its own (loopback) listener.
    let r = h.request_to("stats", "127.0.0.1", "/stats;csv", &[]);
    assert_eq!(r.status, 200, "{r:?}");

    // Every proxied request reached exactly one stand-in, once; inactive colours saw nothing,
    // not even a health check.
    for s in h.stand_ins() {
        let got = s.client_requests().len();
        let want = c.expected.get(&s.identity).copied().unwrap_or(0);
        assert_eq!(got, want, "{} received {got} client requests", s.identity);
        if !s.active {
            assert!(
                s.seen().is_empty(),
                "{} (disabled) was contacted: {:?}",
                s.identity,
                s.seen()
            );
        }
        if s.active && s.checked {
            // Health checks: the spec's path, with the Host header of the env (or outside host).
            let (host, path) = health_check_of(&s.identity);
            let checks: Vec<_> = s.seen().into_iter().filter(|r| !r.forwarded).collect();
            assert!(
                !checks.is_empty(),
                "{} was never health-checked",
                s.identity
            );
            for r in checks {
                assert_eq!(
                    (r.method.as_str(), r.path.as_str(), r.host.as_deref()),
                    ("GET", path, Some(host)),
                    "health check of {}",
                    s.identity
                );
            }
        }
    }
    eprintln!(
        "live routing: {} requests, colours {:?}",
        c.sent + 1,
        build.colors
    );
}

/// Host header and path of the health checks a stand-in must receive (from the bundled specs).
fn health_check_of(identity: &str) -> (&'static str, &'static str) {
    if identity == "forgejo_backend/forgejo" {
        return ("forgejo.talas.group", "/api/healthz");
    }
    let mut parts = identity.split('/');
    let host = match parts.next() {
        Some("staging") => "staging.veza.fr",
        Some("prod") => "veza.fr",
        _ => panic!("no health check expected for {identity}"),
    };
    let path = match parts.next() {
        Some("backend") => "/api/v1/health",
        Some("stream") => "/health",
        Some("web") => "/",
        _ => panic!("no health check expected for {identity}"),
    };
    (host, path)
}

#[test]
fn live_routing_with_the_specs_colours() {
    let t = Instant::now();
    let (_tmp, specs) = bundled_specs();
    let build = Build::of(&specs);
    for env in ["staging", "prod"] {
        assert_eq!(
            build.colors.get(&Ident::parse(env).unwrap()),
            Some(Serving::Color(Color::Blue))
        );
    }
    let h = Stage::new(&build, Mode::Live).start();
    let ready = t.elapsed();
    exercise(&h, &build);
    eprintln!(
        "haproxy ready after {ready:?}, requests done after {:?}",
        t.elapsed()
    );
}

#[test]
fn live_routing_with_staging_switched_to_green() {
    let t = Instant::now();
    let (_tmp, specs) = bundled_specs();
    let build = Build::with(&specs, |c| {
        assert!(c.set(
            &Ident::parse("staging").unwrap(),
            Serving::Color(Color::Green)
        ));
    });
    assert_eq!(
        build.colors.get(&Ident::parse("prod").unwrap()),
        Some(Serving::Color(Color::Blue))
    );
    let h = Stage::new(&build, Mode::Live).start();
    let ready = t.elapsed();
    exercise(&h, &build);
    eprintln!(
        "haproxy ready after {ready:?}, requests done after {:?}",
        t.elapsed()
    );
}
