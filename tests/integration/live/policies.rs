//! Policies under real haproxy (issue 20): access by client network (sources bound on
//! loopback, 127.0.0.0/8 is ours), through a trusted proxy's `X-Forwarded-For` or not; request
//! and response headers by route; the security-headers preset and HSTS — on proxied answers
//! and on haproxy's own (403, 503), never over plain HTTP. Each answer is also asked of
//! `edgeplan route`, which must predict its status and headers.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::process::Command;

use edgeplan::route::Explanation;

use super::{Build, Haproxy, Mode, Response, Stage, curl_response, lab};

const SPEC: &str = r#"edge "policy-lab"
listen http="*:80" https="*:443"
tls cert-dir="/etc/haproxy/certs"
admin-socket "/run/haproxy/admin.sock" mode="600"
acme email="ops@example.test" { certificate "app.example.test" hosts-of="app"; }
trusted "127.0.0.10"

policy "secure" {
    security-headers frame-options="DENY"
    hsts max-age=31536000 include-subdomains=#true
}
policy "team-only" {
    allow "127.0.0.0/29" "::1"
    deny "127.0.0.1"
}
policies "secure"

env "app" {
    hosts "app.example.test"
    policies "team-only"
    response-header set "X-Env" "app"
    component "web" port=8080 {
        instance "web-1" color="blue" address="web-1.lxd"
        instance "web-2" color="green" address="web-2.lxd"
    }
    route "api" to="web" {
        prefix "/api/"
        request-header set "X-Edge-Note" "api 100%"
        request-header del "X-Debug"
        response-header del "Server"
    }
}
"#;

/// One HTTPS (or HTTP) request from `from` with extra raw `headers`.
fn get(h: &Haproxy, tls: bool, from: &str, path: &str, headers: &[&str]) -> Response {
    let headers: Vec<String> = headers.iter().map(|x| x.to_string()).collect();
    let scheme = if tls { "https" } else { "http" };
    super::request_from(h, scheme, "app.example.test", from, path, &headers)
}

/// `edgeplan route`'s explanation of the same request.
fn explain(build: &Build, tls: bool, from: &str, path: &str, headers: &[&str]) -> Explanation {
    let scheme = if tls { "https" } else { "http" };
    let url = format!("{scheme}://app.example.test{path}");
    let header_args: Vec<String> = headers.iter().map(|h| h.replacen(": ", "=", 1)).collect();
    let mut req = edgeplan::route::Request::parse(&url, &[], &header_args).unwrap();
    req.from = Some(from.parse::<IpAddr>().unwrap());
    edgeplan::route::explain(&build.routing, &req).unwrap()
}

/// What the policy rules of one side that `ex` walked do to each header they name (lower
/// case): `Some(Some(v))` set to `v`, `Some(None)` removed, `None` untouched (no rule fired).
fn header_effects(ex: &Explanation, response: bool) -> BTreeMap<String, Option<Option<String>>> {
    let ruleset = if response {
        "http-after-response "
    } else {
        "http-request "
    };
    let mut out = BTreeMap::new();
    for p in &ex.policies {
        let Some(rest) = p.haproxy.strip_prefix(ruleset) else {
            continue;
        };
        let rest = rest.split(" if ").next().unwrap();
        let mut words = rest.splitn(3, ' ');
        let (verb, name) = (
            words.next().unwrap(),
            words.next().unwrap().to_ascii_lowercase(),
        );
        let entry = out.entry(name).or_insert(None);
        if !p.fired {
            continue;
        }
        *entry = Some(match verb {
            "set-header" => Some(words.next().unwrap().trim_matches('"').replace("%%", "%")),
            "del-header" => None,
            other => panic!("this test sends no `{other}` rule"),
        });
    }
    out
}

/// The response agrees with `edgeplan route`: the status haproxy answered itself (or a
/// server's 200), every response header a policy names, and every request header a policy names
/// as the upstream saw it (`sent`: what the client sent).
fn agrees(build: &Build, r: &Response, tls: bool, from: &str, path: &str, sent: &[&str]) {
    let ex = explain(build, tls, from, path, sent);
    assert_eq!(ex.status.unwrap_or(200), r.status, "{from} {path}: {r:?}");
    let upstream = r.served_by().is_some();
    for (name, effect) in header_effects(&ex, true) {
        // Untouched: what the stand-in sends (only `Server`), haproxy's own answers nothing.
        let untouched = (name == "server" && upstream).then(|| "stand-in".to_string());
        let want = effect.unwrap_or(untouched);
        assert_eq!(
            r.header(&name).map(str::to_string),
            want,
            "{from} {path}: response header {name}: {r:?}"
        );
    }
    if !upstream {
        return;
    }
    for (name, effect) in header_effects(&ex, false) {
        let untouched = sent.iter().find_map(|h| {
            let (n, v) = h.split_once(": ").unwrap();
            n.eq_ignore_ascii_case(&name).then(|| v.to_string())
        });
        let want = effect.unwrap_or(untouched);
        assert_eq!(
            r.echoed(&format!("header.{name}")).map(str::to_string),
            want,
            "{from} {path}: request header {name} upstream: {r:?}"
        );
    }
}

#[test]
fn access_headers_and_hsts_act_as_the_spec_says_and_route_predicts() {
    let (_tmp, build) = lab(SPEC);
    let h = Stage::new(&build, Mode::Live).start();
    let check = |tls: bool, from: &str, path: &str, headers: &[&str]| {
        let r = get(&h, tls, from, path, headers);
        agrees(&build, &r, tls, from, path, headers);
        r
    };

    // An allowed client: served, with the preset, HSTS, the env's header, the app's Server.
    let r = check(true, "127.0.0.2", "/", &[]);
    assert_eq!(
        (r.status, r.served_by()),
        (200, Some("app/web/web-1")),
        "{r:?}"
    );
    assert_eq!(
        r.header("strict-transport-security"),
        Some("max-age=31536000; includeSubDomains"),
        "{r:?}"
    );
    assert_eq!(r.header("x-frame-options"), Some("DENY"), "{r:?}");
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "{r:?}");
    assert_eq!(
        r.header("referrer-policy"),
        Some("strict-origin-when-cross-origin"),
        "{r:?}"
    );
    assert_eq!(r.header("x-env"), Some("app"), "{r:?}");
    assert_eq!(r.header("server"), Some("stand-in"), "{r:?}");

    // The route's rules: the upstream sees the note (`%` kept literally) and not X-Debug; the
    // client does not see the app's Server header.
    let r = check(true, "127.0.0.2", "/api/me", &["X-Debug: 1"]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.echoed("header.x-edge-note"), Some("api 100%"), "{r:?}");
    assert_eq!(r.echoed("header.x-debug"), None, "{r:?}");
    assert_eq!(r.header("server"), None, "{r:?}");
    assert_eq!(r.header("x-env"), Some("app"), "{r:?}");
    // Elsewhere X-Debug goes through.
    let r = check(true, "127.0.0.2", "/page", &["X-Debug: 1"]);
    assert_eq!(r.echoed("header.x-debug"), Some("1"), "{r:?}");
    assert_eq!(r.echoed("header.x-edge-note"), None, "{r:?}");

    // Denied: by the deny list, and by not being in the allow list. haproxy's own 403 carries
    // the edge-wide headers too (http-after-response), and no app ever sees the request.
    for from in ["127.0.0.1", "127.0.0.9"] {
        let r = check(true, from, "/api/me", &[]);
        assert_eq!((r.status, r.served_by()), (403, None), "{from}: {r:?}");
        assert_eq!(r.header("x-frame-options"), Some("DENY"), "{r:?}");
        assert!(r.header("strict-transport-security").is_some(), "{r:?}");
    }

    // Through the trusted proxy (127.0.0.10): the client is the last X-Forwarded-For address.
    for (xff, status) in [
        ("127.0.0.2", 200),
        ("6.6.6.6, 127.0.0.2", 200),
        ("127.0.0.2, 127.0.0.1", 403),
        ("6.6.6.6", 403),
    ] {
        let header = format!("X-Forwarded-For: {xff}");
        let r = check(true, "127.0.0.10", "/", &[&header]);
        assert_eq!(r.status, status, "via the proxy for {xff}: {r:?}");
    }
    // The proxy itself, without X-Forwarded-For, is not in the allow list.
    let r = check(true, "127.0.0.10", "/", &[]);
    assert_eq!(r.status, 403, "{r:?}");
    // A client that is not the proxy cannot claim an address.
    let r = check(true, "127.0.0.9", "/", &["X-Forwarded-For: 127.0.0.2"]);
    assert_eq!(r.status, 403, "{r:?}");

    // A host no env serves: the default 503 gets the edge-wide headers, not the env's.
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-k", "--max-time", "30", "-D", "-"]);
    let port = h.port("https");
    cmd.arg("--resolve")
        .arg(format!("other.example.test:{port}:127.0.0.1"))
        .arg(format!("https://other.example.test:{port}/"));
    let r = curl_response(&mut cmd, "other").unwrap();
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(r.header("x-frame-options"), Some("DENY"), "{r:?}");
    assert_eq!(r.header("x-env"), None, "{r:?}");

    // Plain HTTP is redirected before any policy, and never carries HSTS (RFC 6797 8.1).
    let r = check(false, "127.0.0.1", "/", &[]);
    assert_eq!(r.status, 301, "{r:?}");
    assert_eq!(r.header("strict-transport-security"), None, "{r:?}");
}

/// A 400 the frontend's rule answers (no host) carries the edge-wide response headers; one
/// haproxy's HTTP parser answers itself (Host headers that differ) carries none, as no rule
/// runs. `route` says which (it once predicted the headers on both).
#[test]
fn a_parser_400_gets_no_policy_header_and_route_says_so() {
    let (_tmp, build) = lab(r#"edge "parser-lab"
listen http="*:80"
admin-socket "/run/haproxy/admin.sock" mode="600"
policy "secure" {
    security-headers
}
policies "secure"
env "app" {
    hosts "app.example.test"
    component "web" port=8080 {
        instance "web-1" color="blue" address="web-1.lxd"
        instance "web-2" color="green" address="web-2.lxd"
    }
}
"#);
    let h = Stage::new(&build, Mode::Live).start();
    let cases: [(&str, Option<&str>, &[&str], bool); 3] = [
        ("GET / HTTP/1.0\r\n\r\n", None, &[], true),
        (
            "GET / HTTP/1.1\r\nHost: app.example.test\r\nHost: other.test\r\n\r\n",
            Some("app.example.test"),
            &["Host=app.example.test", "Host=other.test"],
            false,
        ),
        // The same Host twice is one Host: served.
        (
            "GET / HTTP/1.1\r\nHost: app.example.test\r\nHost: app.example.test\r\nConnection: close\r\n\r\n",
            Some("app.example.test"),
            &["Host=app.example.test", "Host=app.example.test"],
            true,
        ),
    ];
    for (raw, host, extra, with_headers) in cases {
        let r = super::raw_response(h.port("http"), raw).unwrap();
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let mut req =
            edgeplan::route::Request::parse("http://placeholder.test/", &[], &extra).unwrap();
        if host.is_none() {
            req.host_header = None;
        }
        req.from = Some("127.0.0.1".parse().unwrap());
        let ex = edgeplan::route::explain(&build.routing, &req).unwrap();
        assert_eq!(ex.status.unwrap_or(200), r.status, "{raw:?}: {r:?}");
        let predicted = ex
            .policies
            .iter()
            .any(|p| p.fired && p.haproxy.contains("X-Content-Type-Options"));
        assert_eq!(predicted, with_headers, "{raw:?}");
        assert_eq!(
            r.header("x-content-type-options"),
            with_headers.then_some("nosniff"),
            "{raw:?}: {r:?}"
        );
    }
}

/// Redirect sites under real haproxy: one hop from plain HTTP straight to the target (not via
/// https on the same host), the status asked, path and query kept or not, and a chain of
/// redirects that curl follows to the env. Every answer is `route`'s prediction.
#[test]
fn redirect_sites_answer_in_one_hop_and_a_chain_ends_at_the_env() {
    let (_tmp, build) = lab(r#"edge "redirect-lab"
listen http="*:80" https="*:443"
tls cert-dir="/etc/haproxy/certs"
admin-socket "/run/haproxy/admin.sock" mode="600"
acme email="ops@example.test" {
    certificate "app" hosts-of="app"
    certificate "www" hosts-of="www"
    certificate "old" hosts-of="old"
    certificate "soon" hosts-of="soon"
    certificate "wiki" hosts-of="wiki"
}
placeholder "soon" status=503 html=#true {
    hosts "soon.example.test"
    body "<h1>Soon</h1>\n"
}
outside "wiki" address="10.0.0.9:3000" {
    hosts "wiki.example.test"
}
env "app" {
    hosts "app.example.test"
    hosts "plain.app.example.test" plain-http=#true
    component "web" port=8080 {
        instance "web-1" color="blue" address="web-1.lxd"
        instance "web-2" color="green" address="web-2.lxd"
    }
    route "news" redirect="/blog/" status=308 {
        prefix "/news/" "/actu/"
    }
    route "docs" outside="wiki" {
        prefix "/docs/"
    }
    route "api" to="web" rewrite="/internal/" {
        prefix "/api/v1/" "/api/"
    }
}
redirect "www" to="https://app.example.test" {
    hosts "www.app.example.test"
}
redirect "old" to="https://www.app.example.test" status=308 keep-path=#false {
    hosts "old.app.example.test"
}
"#);
    let h = Stage::new(&build, Mode::Live).start();
    let (http, https) = (h.port("http"), h.port("https"));
    let ask = |tls: bool, host: &str, path: &str, follow: bool| {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "-k", "--max-time", "30", "-D", "-"]);
        if follow {
            // Every host of the edge resolves to it, on the port of each scheme.
            cmd.arg("-L");
            for name in ["app", "www.app", "old.app"] {
                cmd.arg("--connect-to")
                    .arg(format!("{name}.example.test:443:127.0.0.1:{https}"));
            }
        }
        if tls {
            cmd.arg("--resolve")
                .arg(format!("{host}:{https}:127.0.0.1"))
                .arg(format!("https://{host}:{https}{path}"));
        } else {
            cmd.arg("-H").arg(format!("Host: {host}"));
            cmd.arg(format!("http://127.0.0.1:{http}{path}"));
        }
        let r = curl_response(&mut cmd, host).unwrap_or_else(|e| panic!("{e}\n{}", h.log()));
        let scheme = if tls { "https" } else { "http" };
        let mut req =
            edgeplan::route::Request::parse(&format!("{scheme}://{host}{path}"), &[], &[]).unwrap();
        req.from = Some("127.0.0.1".parse().unwrap());
        (r, edgeplan::route::explain(&build.routing, &req).unwrap())
    };
    for tls in [false, true] {
        let (r, ex) = ask(tls, "www.app.example.test", "/a/b?c=1", false);
        assert_eq!(r.status, 301, "{r:?}");
        assert_eq!(
            r.header("location"),
            Some("https://app.example.test/a/b?c=1"),
            "one hop, path and query kept: {r:?}"
        );
        assert_eq!(
            (ex.status, ex.location.as_deref()),
            (Some(r.status), r.header("location"))
        );
        let (r, ex) = ask(tls, "old.app.example.test", "/a/b?c=1", false);
        assert_eq!(r.status, 308, "{r:?}");
        assert_eq!(
            r.header("location"),
            Some("https://www.app.example.test/"),
            "keep-path=#false: {r:?}"
        );
        assert_eq!(
            (ex.status, ex.location.as_deref()),
            (Some(r.status), r.header("location"))
        );
    }
    // A path redirect replaces the prefix it matched, the rest and the query kept; a route to
    // an outside backend reaches it.
    for (path, location) in [
        ("/news/2026/x?p=2", "/blog/2026/x?p=2"),
        ("/actu/", "/blog/"),
    ] {
        let (r, ex) = ask(true, "app.example.test", path, false);
        assert_eq!(
            (r.status, r.header("location")),
            (308, Some(location)),
            "{r:?}"
        );
        assert_eq!(
            (ex.status, ex.location.as_deref()),
            (Some(308), Some(location))
        );
    }
    let (r, ex) = ask(true, "app.example.test", "/docs/x", false);
    assert_eq!(
        (r.status, r.served_by()),
        (200, Some("wiki_backend/wiki")),
        "{r:?}"
    );
    assert_eq!(ex.backend.as_deref(), Some("wiki_backend"));
    // A rewrite: the upstream gets the path with the first matching prefix replaced, the
    // query kept; routing is decided before (the route is still the one of `/api/`).
    for (path, upstream) in [
        ("/api/v1/users?x=1", "/internal/users?x=1"),
        ("/api/other", "/internal/other"),
    ] {
        let (r, ex) = ask(true, "app.example.test", path, false);
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.echoed("path"), Some(upstream), "{path}: {r:?}");
        assert_eq!(ex.upstream_path.as_deref(), Some(upstream), "{path}");
    }
    // An HTML placeholder answers its page as HTML.
    let (r, ex) = ask(true, "soon.example.test", "/", false);
    assert_eq!((r.status, ex.status), (503, Some(503)), "{r:?}");
    assert_eq!(
        r.header("content-type"),
        Some("text/html; charset=utf-8"),
        "{r:?}"
    );
    assert_eq!(r.body, "<h1>Soon</h1>\n", "{r:?}");
    // A host served over plain HTTP too: no redirect, the env's routes apply.
    let (r, ex) = ask(false, "plain.app.example.test", "/api/v1/x", false);
    assert_eq!(
        (r.status, r.served_by()),
        (200, Some("app/web/web-1")),
        "{r:?}"
    );
    assert_eq!(r.echoed("path"), Some("/internal/x"), "{r:?}");
    assert_eq!(ex.upstream_path.as_deref(), Some("/internal/x"));
    // Any other plain-HTTP host still goes to https on itself.
    let (r, ex) = ask(false, "app.example.test", "/x", false);
    assert_eq!(
        r.header("location"),
        Some("https://app.example.test/x"),
        "{r:?}"
    );
    assert_eq!(ex.location.as_deref(), r.header("location"));
    // old → www → app: the chain ends at the env (the statuses of each hop in curl's output).
    let (r, _) = ask(false, "old.app.example.test", "/deep", true);
    let statuses: Vec<String> = std::iter::once(r.status.to_string())
        .chain(
            r.body
                .lines()
                .filter_map(|l| l.strip_prefix("HTTP/2 ").map(|s| s.trim().to_string())),
        )
        .collect();
    assert_eq!(statuses, ["308", "301", "200"], "{r:?}");
    assert!(r.body.contains("served-by: app/web/web-1"), "{r:?}");
}

/// Maintenance on an env: outsiders get 503 with the page and `Retry-After` (and the edge-wide
/// headers), the team's network goes through to the app; another env is untouched. `route`
/// predicts each.
#[test]
fn maintenance_answers_the_page_and_the_team_bypasses_it() {
    let (_tmp, build) = lab(r#"edge "maintenance-lab"
listen http="*:80"
admin-socket "/run/haproxy/admin.sock" mode="600"
trusted "127.0.0.3"
policy "secure" {
    security-headers
}
policies "secure"
policy "down" {
    maintenance retry-after=120 {
        page "<h1>Back at 14:00</h1>\n"
        bypass "127.0.0.2" "trusted"
    }
}
env "prod" {
    hosts "prod.example.test"
    policies "down"
    component "web" port=8080 {
        instance "web-1" color="blue" address="web-1.lxd"
        instance "web-2" color="green" address="web-2.lxd"
    }
}
env "staging" {
    hosts "staging.example.test"
    component "web" port=8080 {
        instance "s-1" color="blue" address="s-1.lxd"
        instance "s-2" color="green" address="s-2.lxd"
    }
}
"#);
    let h = Stage::new(&build, Mode::Live).start();
    let page = build
        .files
        .get("etc/haproxy/errors/maintenance.policy.down.html")
        .map(|f| String::from_utf8_lossy(&f.content).into_owned())
        .expect("the page is rendered");
    assert!(page.contains("<h1>Back at 14:00</h1>"), "{page}");
    for (host, from, down) in [
        ("prod.example.test", "127.0.0.1", true),
        ("prod.example.test", "127.0.0.2", false),
        ("prod.example.test", "127.0.0.3", false),
        ("staging.example.test", "127.0.0.1", false),
    ] {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "30", "-D", "-", "--interface", from])
            .arg("-H")
            .arg(format!("Host: {host}"))
            .arg(format!("http://127.0.0.1:{}/x", h.port("http")));
        let r = curl_response(&mut cmd, host).unwrap();
        let mut req =
            edgeplan::route::Request::parse(&format!("http://{host}/x"), &[], &[]).unwrap();
        req.from = Some(from.parse().unwrap());
        let ex = edgeplan::route::explain(&build.routing, &req).unwrap();
        assert_eq!(
            ex.status.unwrap_or(200),
            r.status,
            "{host} from {from}: {r:?}"
        );
        if down {
            assert_eq!(r.status, 503, "{r:?}");
            assert_eq!(r.header("retry-after"), Some("120"), "{r:?}");
            assert!(
                r.header("content-type")
                    .unwrap_or("")
                    .starts_with("text/html")
            );
            assert_eq!(r.body, page, "{r:?}");
            assert_eq!(
                ex.body_file.as_deref(),
                Some("/etc/haproxy/errors/maintenance.policy.down.html")
            );
            assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "{r:?}");
        } else {
            assert_eq!(r.status, 200, "{host} from {from}: {r:?}");
            assert!(r.served_by().is_some(), "{r:?}");
        }
    }
}

/// Error pages: an env whose servers all fail their check answers 503 with the env's page (the
/// env's replacing the edge's for that status), another env with the edge's; `route` names the
/// page, and the body is the rendered file.
#[test]
fn error_pages_replace_haproxys_own_503() {
    let (_tmp, build) = lab(r#"edge "error-lab"
listen http="*:80"
admin-socket "/run/haproxy/admin.sock" mode="600"
health interval="200ms" fall=1 rise=1
policy "pages" {
    error-page 502 503 504 {
        page "<h1>The edge is fine; the app is not</h1>"
    }
}
policies "pages"
env "prod" {
    hosts "prod.example.test"
    error-page 503 {
        page "<h1>prod is down</h1>"
    }
    component "web" port=8080 health-body="a string no stand-in sends" {
        instance "web-1" color="blue" address="web-1.lxd"
        instance "web-2" color="green" address="web-2.lxd"
    }
}
env "staging" {
    hosts "staging.example.test"
    component "web" port=8080 health-body="a string no stand-in sends" {
        instance "s-1" color="blue" address="s-1.lxd"
        instance "s-2" color="green" address="s-2.lxd"
    }
}
"#);
    let h = Stage::new(&build, Mode::Live).start_unchecked();
    for (host, page) in [
        ("prod.example.test", "<h1>prod is down</h1>"),
        (
            "staging.example.test",
            "<h1>The edge is fine; the app is not</h1>",
        ),
    ] {
        let mut req =
            edgeplan::route::Request::parse(&format!("http://{host}/x"), &[], &[]).unwrap();
        req.from = Some("127.0.0.1".parse().unwrap());
        // route knows the backend and its page; that every server is down only the checks
        // find out (route takes configured servers as up).
        let ex = edgeplan::route::explain(&build.routing, &req).unwrap();
        let be = build
            .routing
            .backends
            .iter()
            .find(|b| Some(&b.name) == ex.backend.as_ref())
            .unwrap();
        let file = be
            .error_pages
            .iter()
            .find(|p| p.status == 503)
            .map(|p| p.file.clone())
            .expect("the backend has a 503 page");
        let rendered = String::from_utf8_lossy(&build.files[file.trim_start_matches('/')].content)
            .into_owned();
        assert!(rendered.contains(page), "{rendered}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let r = loop {
            let r = h.request(super::Scheme::Http, host, "/x", &[]);
            if r.status == 503 || std::time::Instant::now() > deadline {
                break r;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        };
        assert_eq!(r.status, 503, "{host}: {r:?}");
        assert_eq!(r.body, rendered, "{host}: {r:?}");
        assert!(
            r.header("content-type")
                .unwrap_or("")
                .starts_with("text/html")
        );
    }
}
