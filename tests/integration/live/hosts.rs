//! Rules per host of an env and sites served over plain HTTP, under real haproxy (issue 20):
//! `hosts "admin…" { allow …; response-header … }` guards only those hosts of the env; a
//! placeholder with `plain-http=#true` answers over plain HTTP instead of redirecting. Every
//! answer is also asked of `edgeplan route`.

use super::{Mode, Stage};

const SPEC: &str = r#"edge "hosts-lab"
listen http="*:80" https="*:443"
tls cert-dir="/etc/haproxy/certs"
admin-socket "/run/haproxy/admin.sock" mode="600"
acme email="ops@example.test" {
    certificate "app.example.test" hosts-of="app"
    certificate "soon.example.test" hosts-of="soon"
}
env "app" {
    hosts "app.example.test"
    hosts "admin.example.test" {
        allow "127.0.0.2"
        response-header set "X-Admin" "yes"
    }
    component "web" port=8080 {
        instance "web-1" color="blue" address="web-1.lxd"
        instance "web-2" color="green" address="web-2.lxd"
    }
}
placeholder "soon" status=200 {
    hosts "soon.example.test" plain-http=#true
    body "soon\n"
}
"#;

#[test]
fn rules_of_some_hosts_and_plain_http_sites_act_as_route_predicts() {
    let (_tmp, build) = super::lab(SPEC);
    let h = Stage::new(&build, Mode::Live).start();
    // (scheme, host, from, status, X-Admin: response headers are set on haproxy's own answers
    // too, the 403 included)
    let cases = [
        ("https", "app.example.test", "127.0.0.1", 200, None),
        ("https", "admin.example.test", "127.0.0.1", 403, Some("yes")),
        ("https", "admin.example.test", "127.0.0.2", 200, Some("yes")),
        ("http", "soon.example.test", "127.0.0.1", 200, None),
        ("https", "soon.example.test", "127.0.0.1", 200, None),
        ("http", "app.example.test", "127.0.0.1", 301, None),
    ];
    for (scheme, host, from, status, admin) in cases {
        let r = super::request_from(&h, scheme, host, from, "/x", &[]);
        let what = format!("{scheme}://{host} from {from}");
        assert_eq!(r.status, status, "{what}: {r:?}");
        assert_eq!(r.header("x-admin"), admin, "{what}: {r:?}");
        let mut req =
            edgeplan::route::Request::parse(&format!("{scheme}://{host}/x"), &[], &[]).unwrap();
        req.from = Some(from.parse().unwrap());
        let ex = edgeplan::route::explain(&build.routing, &req).unwrap();
        assert_eq!(
            ex.status.unwrap_or(200),
            r.status,
            "{what}: route disagrees"
        );
        let admin_rule_fired = ex
            .policies
            .iter()
            .any(|p| p.fired && p.origin.starts_with("hosts admin.example.test"));
        assert_eq!(
            admin_rule_fired,
            host.starts_with("admin."),
            "{what}: {:?}",
            ex.policies
        );
        if host.starts_with("soon.") {
            assert_eq!(r.body, "soon\n", "{what}: {r:?}");
        }
    }
}

/// An edge listening on IPv4 and IPv6 (`listen { http "*:80" "[::]:80" }`): a client over
/// IPv6 on `[::1]` is routed like one over IPv4, and its IPv6 address is what the upstream
/// is told (`X-Forwarded-For`, `Forwarded: for="[…]"`).
#[test]
fn an_ipv6_client_on_the_second_bind_is_served_and_named_by_its_v6_address() {
    let (_tmp, build) = super::lab(
        r#"edge "v6-lab"
listen {
    http "*:80" "[::]:80"
}
admin-socket "/run/haproxy/admin.sock" mode="600"
env "app" {
    hosts "app.example.test"
    component "web" port=8080 {
        instance "w-1" color="blue" address="w-1.lxd"
        instance "w-2" color="green" address="w-2.lxd"
    }
}
"#,
    );
    let cfg = build.cfg();
    assert!(
        cfg.contains("    bind :80\n    bind [::]:80 v6only\n"),
        "{cfg}"
    );
    let h = super::Stage::new(&build, super::Mode::Live).start();
    let v6 = h.more_binds("http");
    assert_eq!(v6.len(), 1, "{v6:?}");
    assert!(v6[0].is_ipv6());
    let mut cmd = std::process::Command::new("curl");
    // --max-time: a hang guard, no claim about speed.
    cmd.args([
        "-sS",
        "-6",
        "--max-time",
        "30",
        "-D",
        "-",
        "-H",
        "Host: app.example.test",
    ])
    .arg(format!("http://[::1]:{}/x", v6[0].port()));
    let r = super::curl_response(&mut cmd, "over IPv6").unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.served_by(), Some("app/web/w-1"));
    assert_eq!(r.echoed("x-forwarded-for"), Some("::1"));
    assert!(
        r.echoed("forwarded")
            .is_some_and(|f| f.starts_with("for=\"[::1]\"")),
        "{r:?}"
    );
    // And over IPv4 on the first bind, as before.
    let r4 = super::request_from(&h, "http", "app.example.test", "127.0.0.1", "/x", &[]);
    assert_eq!(r4.status, 200);
}

/// `[::]` beside an IPv4 address is `v6only`: on one port, the IPv6 wildcard takes IPv6
/// clients only, so an IPv4 address that is not listed stays closed. The rendered bind lines
/// run in haproxy as they are, on one free port (the harness would give each its own).
#[test]
fn an_ipv6_wildcard_beside_an_ipv4_address_takes_no_ipv4_client() {
    let (_tmp, build) = super::lab(
        r#"edge "v6only-lab"
listen {
    http "127.0.0.2:80" "[::]:80"
}
env "app" {
    hosts "app.example.test"
    container-pattern "app-{component}-{color}.lxd"
    component "web" port=8080
}
"#,
    );
    let binds = &build.routing.frontends[0].binds;
    assert_eq!(binds, &["127.0.0.2:80", "[::]:80 v6only"]);
    let dir = tempfile::tempdir().unwrap();
    let port = crate::ports::free_port();
    let mut cfg = String::from(
        "defaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    \
         timeout connect 1s\nfrontend f\n",
    );
    for b in binds {
        cfg += &format!("    bind {}\n", b.replacen(":80", &format!(":{port}"), 1));
    }
    cfg += "    http-request return status 200 content-type text/plain lf-string \"%[src]\"\n";
    let path = dir.path().join("haproxy.cfg");
    std::fs::write(&path, &cfg).unwrap();
    let mut child = std::process::Command::new("haproxy")
        .args(["-db", "-f"])
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let get = |url: &str| {
        std::process::Command::new("curl")
            // --max-time: a hang guard, no claim about speed.
            .args([
                "-sS",
                "-g",
                "--max-time",
                "10",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
            ])
            .arg(url)
            .output()
            .unwrap()
    };
    // Wait until it listens (a hang guard of 10 s, no claim about speed).
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while get(&format!("http://127.0.0.2:{port}/")).stdout != b"200" {
        assert!(
            std::time::Instant::now() < until,
            "haproxy did not start:\n{cfg}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let v6 = get(&format!("http://[::1]:{port}/"));
    let other_v4 = get(&format!("http://127.0.0.1:{port}/"));
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(v6.stdout, b"200", "IPv6 on the wildcard");
    assert_ne!(
        other_v4.stdout, b"200",
        "127.0.0.1 is not listed: the IPv6 wildcard must not take it"
    );
}
