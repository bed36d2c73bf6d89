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
