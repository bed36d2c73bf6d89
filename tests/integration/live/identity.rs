//! Hostile and ambiguous requests against real haproxy (issue 15): who the client is, whose
//! cookie pins what.

use std::process::Command;

use super::{Build, Haproxy, Mode, Response, Scheme, Stage, curl_response};

/// Specs of one env whose two sticky components each run two instances.
fn two_sticky_components() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let specs = tmp.path().join("specs");
    std::fs::create_dir_all(&specs).unwrap();
    std::fs::write(
        specs.join("edge.kdl"),
        r#"edge "cookie-lab"
listen http="*:80"
admin-socket "/run/haproxy/admin.sock" mode="600"
sticky-cookie "SERVERID"
env "app" {
    hosts "app.example.test"
    component "api" port=8080 sticky=#true {
        instance "api-1" color="blue" address="api-1.lxd"
        instance "api-2" color="blue" address="api-2.lxd"
        instance "api-3" color="green" address="api-3.lxd"
    }
    component "chat" port=8081 sticky=#true {
        instance "chat-1" color="blue" address="chat-1.lxd"
        instance "chat-2" color="blue" address="chat-2.lxd"
        instance "chat-3" color="green" address="chat-3.lxd"
    }
    route "api" to="api" {
        prefix "/api/"
    }
    default "chat"
}
"#,
    )
    .unwrap();
    (tmp, specs)
}

/// Two sticky components of one env: each sets a cookie of its own name, so a browser that
/// alternates between them keeps both pins (with one shared name, each answer overwrote the
/// other's pin and every switch re-balanced — a WebSocket upgrade lost its instance).
#[test]
fn two_sticky_components_of_one_env_keep_their_own_pins() {
    let (_tmp, specs) = two_sticky_components();
    let build = Build::of(&specs);
    let h = Stage::new(&build, Mode::Live).start();
    let host = "app.example.test";
    let first_api = h.request(Scheme::Http, host, "/api/me", &[]);
    let first_chat = h.request(Scheme::Http, host, "/chat", &[]);
    let (api_cookie, chat_cookie) = (first_api.set_cookies(), first_chat.set_cookies());
    assert_eq!(api_cookie.len(), 1, "{first_api:?}");
    assert_eq!(chat_cookie.len(), 1, "{first_chat:?}");
    let (api, chat) = (&api_cookie[0], &chat_cookie[0]);
    assert_eq!(api.0, "SERVERID_app_api");
    assert_eq!(chat.0, "SERVERID_app_chat");
    // The browser holds both and alternates: each request lands on its pinned instance and
    // nothing is re-set.
    let jar = [
        (api.0.as_str(), api.1.as_str()),
        (chat.0.as_str(), chat.1.as_str()),
    ];
    for _ in 0..4 {
        for (path, first) in [("/api/me", &first_api), ("/chat", &first_chat)] {
            let r = h.request(Scheme::Http, host, path, &jar);
            assert_eq!(r.served_by(), first.served_by(), "{path}: {r:?}");
            assert!(r.set_cookies().is_empty(), "{path} re-pinned: {r:?}");
        }
    }
}

/// One env `app` with one component, `head` before it in edge.kdl.
fn one_env(head: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let specs = tmp.path().join("specs");
    std::fs::create_dir_all(&specs).unwrap();
    std::fs::write(
        specs.join("edge.kdl"),
        format!(
            r#"edge "identity-lab"
listen http="*:80"
admin-socket "/run/haproxy/admin.sock" mode="600"
{head}
env "app" {{
    hosts "app.example.test"
    component "web" port=8080 {{
        instance "web-1" color="blue" address="web-1.lxd"
        instance "web-2" color="green" address="web-2.lxd"
    }}
}}
"#
        ),
    )
    .unwrap();
    (tmp, specs)
}

/// A plain-HTTP request from 127.0.0.1 with extra raw `headers`.
fn get(h: &Haproxy, host: &str, headers: &[&str]) -> Response {
    let mut cmd = Command::new("curl");
    // --max-time: a hang guard, no claim about speed.
    cmd.args(["-sS", "--max-time", "30", "-D", "-", "-H"])
        .arg(format!("Host: {host}"));
    for x in headers {
        cmd.arg("-H").arg(x);
    }
    cmd.arg(format!("http://127.0.0.1:{}/who", h.port("http")));
    curl_response(&mut cmd, host).unwrap()
}

const FORGED: &[&str] = &[
    "X-Forwarded-For: 6.6.6.6",
    "X-Real-IP: 6.6.6.6",
    "Forwarded: for=6.6.6.6;host=evil.test",
    "X-Forwarded-Host: evil.test",
    "X-Forwarded-Port: 1",
];

/// Headers that say who the client is are the edge's, from the connection: a client's forged
/// ones never reach the app (they used to arrive first, before haproxy's own). With nobody
/// trusted, every forged one is gone; `Forwarded` is RFC 7239's; the host is the one the host
/// ACLs matched, lower case and without the port (a Host header cannot smuggle parameters).
#[test]
fn the_app_sees_the_client_the_edge_saw_not_the_one_it_claims() {
    let (_tmp, specs) = one_env("");
    let build = Build::of(&specs);
    let h = Stage::new(&build, Mode::Live).start();
    let port = h.port("http");
    let r = get(&h, "App.Example.test:8080", FORGED);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.echoed("x-forwarded-for"), Some("127.0.0.1"), "{r:?}");
    assert_eq!(r.echoed("x-real-ip"), Some("127.0.0.1"), "{r:?}");
    assert_eq!(
        r.echoed("forwarded"),
        Some("for=127.0.0.1;proto=http;host=\"app.example.test\""),
        "{r:?}"
    );
    assert_eq!(
        r.echoed("x-forwarded-host"),
        Some("app.example.test"),
        "{r:?}"
    );
    assert_eq!(
        r.echoed("x-forwarded-port"),
        Some(port.to_string().as_str()),
        "{r:?}"
    );
    // A Host header that tries to add parameters to `Forwarded` names no host of the edge: it
    // never reaches the app.
    let r = get(&h, "app.example.test:\";for=6.6.6.6", &[]);
    assert_eq!((r.status, r.served_by()), (503, None), "{r:?}");
}

/// From a trusted network (a balancer in front of the edge) the chain is kept and extended:
/// `X-Forwarded-For` and `Forwarded` get the edge's hop appended, the others are the balancer's.
#[test]
fn a_trusted_balancer_keeps_its_chain_and_the_edge_appends_its_hop() {
    let (_tmp, specs) = one_env("trusted \"127.0.0.0/8\" \"2001:db8::/32\"");
    let build = Build::of(&specs);
    let h = Stage::new(&build, Mode::Live).start();
    let r = get(&h, "app.example.test", FORGED);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.echoed("x-forwarded-for"),
        Some("6.6.6.6 | 127.0.0.1"),
        "{r:?}"
    );
    assert_eq!(r.echoed("x-real-ip"), Some("6.6.6.6"), "{r:?}");
    assert_eq!(
        r.echoed("forwarded"),
        Some("for=6.6.6.6;host=evil.test | for=127.0.0.1;proto=http;host=\"app.example.test\""),
        "{r:?}"
    );
    assert_eq!(r.echoed("x-forwarded-host"), Some("evil.test"), "{r:?}");
    assert_eq!(r.echoed("x-forwarded-port"), Some("1"), "{r:?}");
}

/// HTTP/2 names its host twice, `:authority` and possibly a `host` header. HAProxy 2.6 takes
/// `:authority` as the request's host and replaces a differing `host` with it (RFC 9113
/// section 8.3.1), before any rule: routing, the redirect and the headers the app gets all name
/// the one host — the app never sees the other. Sent with nghttp (curl cannot make them differ).
#[test]
fn http2_authority_is_the_host_and_the_app_never_sees_another() {
    let tmp = tempfile::tempdir().unwrap();
    let specs = tmp.path().join("specs");
    std::fs::create_dir_all(&specs).unwrap();
    std::fs::write(
        specs.join("edge.kdl"),
        r#"edge "h2-lab"
listen http="*:80" https="*:443"
tls cert-dir="/etc/haproxy/certs"
admin-socket "/run/haproxy/admin.sock" mode="600"
acme email="ops@example.test" { certificate "app.example.test" hosts-of="app"; }
env "app" {
    hosts "app.example.test"
    component "web" port=8080 {
        instance "web-1" color="blue" address="web-1.lxd"
        instance "web-2" color="green" address="web-2.lxd"
    }
}
"#,
    )
    .unwrap();
    let build = Build::of(&specs);
    let h = Stage::new(&build, Mode::Live).start();
    let port = h.port("https");
    let nghttp = |headers: &[&str]| {
        let mut cmd = Command::new("nghttp");
        cmd.args(["-v", "--no-dep", "-t", "30"]);
        for x in headers {
            cmd.arg("-H").arg(x);
        }
        cmd.arg(format!("https://127.0.0.1:{port}/who"));
        let out = cmd
            .output()
            .expect("nghttp (scripts/test.sh installs nghttp2-client)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let status = |out: &str| {
        out.lines()
            .find_map(|l| l.split(":status: ").nth(1))
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    // The same host both ways: served.
    let same = nghttp(&[":authority: app.example.test", "host: app.example.test"]);
    assert_eq!(status(&same), "200", "{same}");
    assert!(same.contains("served-by: app/web/web-1"), "{same}");
    // `:authority` names the env, `host` another: the env, which sees only its own host.
    let out = nghttp(&[":authority: app.example.test", "host: evil.test"]);
    assert_eq!(status(&out), "200", "{out}");
    assert!(out.contains("served-by: app/web/web-1"), "{out}");
    // The stand-in's echo (body lines, unindented; nghttp indents the frames it shows).
    let body: Vec<&str> = out.lines().filter(|l| !l.starts_with(' ')).collect();
    for line in [
        "host: app.example.test",
        "x-forwarded-host: app.example.test",
        "forwarded: for=127.0.0.1;proto=https;host=\"app.example.test\"",
    ] {
        assert!(body.contains(&line), "`{line}` not in\n{out}");
    }
    assert!(!body.iter().any(|l| l.contains("evil.test")), "{out}");
    // `:authority` names no host of the edge, `host` the env: the default 503, not the env.
    let out = nghttp(&[":authority: evil.test", "host: app.example.test"]);
    assert_eq!(status(&out), "503", "{out}");
    assert!(!out.contains("served-by:"), "{out}");
}

/// Requests that name no host at all (HTTP/1.0 without Host, HTTP/1.1 without Host) are
/// answered 400 by every frontend — before, they got the default 503, or on a TLS edge a
/// redirect to `https:///x`.
#[test]
fn a_request_without_a_host_is_answered_400() {
    let (_tmp, specs) = one_env("");
    let build = Build::of(&specs);
    let h = Stage::new(&build, Mode::Live).start();
    for req in [
        "GET /x HTTP/1.0\r\n\r\n",
        "GET /x HTTP/1.1\r\nConnection: close\r\n\r\n",
        "GET /x HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n",
    ] {
        let r = super::raw_response(h.port("http"), req).unwrap();
        assert_eq!(r.status, 400, "{req:?}: {r:?}");
        assert_eq!(r.served_by(), None, "{req:?}");
    }
}
