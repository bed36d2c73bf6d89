//! `edgeplan route` end to end: whole CLI runs over the bundled specs, text and JSON.

use crate::common::Test;

fn route(args: &[&str]) -> String {
    let out = Test::bundled()
        .args(["route"])
        .args(args.iter().copied())
        .run();
    out.folded()
}

#[test]
fn staging_api_text() {
    insta::assert_snapshot!(route(&["https://staging.veza.fr/api/v1/health"]));
}

#[test]
fn http_redirect_text() {
    insta::assert_snapshot!(route(&["http://Staging.Veza.fr:80/api/x?page=2"]));
}

#[test]
fn acme_challenge_text() {
    insta::assert_snapshot!(route(&["http://veza.fr/.well-known/acme-challenge/t0ken"]));
}

#[test]
fn placeholder_text() {
    // The body file's name is the renderer's business, not the explanation's.
    insta::with_settings!({filters => vec![(r"/etc/haproxy/errors/\S+", "[BODY FILE]")]}, {
        insta::assert_snapshot!(route(&["https://www.talas.fr/"]));
    });
}

#[test]
fn unknown_host_text() {
    insta::assert_snapshot!(route(&["https://example.org/api/"]));
}

#[test]
fn pinned_cookie_json() {
    insta::assert_snapshot!(route(&[
        "https://staging.veza.fr/ws",
        "--cookie",
        "VEZA_SERVERID_staging=staging-backend-blue",
        "--format",
        "json"
    ]));
}

#[test]
fn colour_override_and_stale_cookie_json() {
    insta::assert_snapshot!(route(&[
        "https://VEZA.fr:443/api/v1/me",
        "--colors",
        "prod=green",
        "--cookie",
        "VEZA_SERVERID_prod=prod-backend-blue",
        "--cookie",
        "VEZA_SERVERID_staging=staging-backend-blue",
        "--format",
        "json"
    ]));
}

#[test]
fn stream_uri_hash_json() {
    insta::assert_snapshot!(route(&[
        "https://veza.fr/hls/live/seg-00042.ts?token=abc",
        "--format",
        "json"
    ]));
}

#[test]
fn bad_url_is_a_diagnostic() {
    let out = route(&["staging.veza.fr/api/"]);
    assert!(out.ends_with("--- exit 1\n"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn bad_cookie_and_colors_are_diagnostics() {
    let out = route(&["https://veza.fr/", "--cookie", "VEZA SERVERID=x"]);
    assert!(out.contains("edgeplan::route::bad_cookie"), "{out}");
    assert!(out.ends_with("--- exit 1\n"));
    let out = route(&[
        "https://veza.fr/",
        "--colors",
        "prod=purple",
        "--format",
        "json",
    ]);
    assert!(out.contains("edgeplan::route::unknown_color"), "{out}");
    assert!(out.ends_with("--- exit 1\n"));
    insta::assert_snapshot!(route(&["https://veza.fr/", "--colors", "prd=green"]));
}

/// A client's identity headers are removed by the edge (nothing is trusted in the bundled
/// specs); other headers pass untouched.
#[test]
fn identity_headers_are_said_to_be_removed() {
    let out = route(&[
        "https://veza.fr/",
        "--header",
        "X-Forwarded-For=6.6.6.6",
        "--header",
        "Forwarded=for=6.6.6.6",
        "--header",
        "X-Trace=1",
    ]);
    for h in ["X-Forwarded-For", "Forwarded"] {
        assert!(
            out.contains(&format!(
                "header `{h}` is removed: the edge sets the client's identity from the connection (no network is trusted)"
            )),
            "{out}"
        );
    }
    assert!(
        out.contains("header `X-Trace` is forwarded; no rule of the edge reads it"),
        "{out}"
    );
}

/// `route tcp://HOST:PORT` names the TCP service that takes the port (or none, and why), in
/// text and JSON.
#[test]
fn a_tcp_url_names_the_service_of_its_port() {
    let run = |args: &[&str]| {
        Test::new()
            .spec(
                "edge.kdl",
                "edge \"tcp\"\nlisten http=\"*:80\"\ntcp \"git-ssh\" bind=\"203.0.113.10:22\" \
                 send-proxy=\"v2\" {\n    server \"10.0.20.105:2222\"\n    check expect=\"SSH-\"\n}\n",
            )
            .spec(
                "env/app.kdl",
                "env \"app\" {\n    hosts \"app.example.org\"\n    \
                 container-pattern \"app-{component}-{color}.lxd\"\n    component \"web\" port=3000\n}\n",
            )
            .args(args.iter().copied())
            .run()
    };
    let out = run(&["route", "tcp://git.example.org:22"]);
    assert_eq!(out.code, 0, "{}", out.folded());
    for want in [
        "tcp service git-ssh (frontend tcp_git-ssh, bind 203.0.113.10:22)",
        "s1 10.0.20.105:2222  check expects \"SSH-\"",
        "send-proxy-v2 to each server",
        "result: forwarded to a server of tcp_git-ssh (leastconn), unread",
    ] {
        assert!(out.stdout.contains(want), "{want}\n{}", out.stdout);
    }
    let other = run(&["route", "tcp://198.51.100.1:22", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&other.stdout).unwrap();
    assert_eq!(v["outcome"], "no_listener");
    assert!(
        v["notes"][0]
            .as_str()
            .unwrap()
            .contains("listens on 203.0.113.10:22 only")
    );
    let http = run(&["route", "tcp://app.example.org:80"]);
    assert!(
        http.stdout.contains("port 80 is the edge's http listener"),
        "{}",
        http.stdout
    );
    let bad = run(&["route", "tcp://git.example.org"]);
    assert_ne!(bad.code, 0);
    assert!(bad.folded().contains("no port"), "{}", bad.folded());
}
