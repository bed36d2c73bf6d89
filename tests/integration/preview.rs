//! The preview host of an env (issue 19), live: real haproxy, stand-in upstreams, real clients
//! (curl) from two loopback addresses. From a `trusted` source the preview host reaches the
//! env's idle colour — the other one than the colour of record, a canary's new one during a
//! canary — with its own sticky cookie; from anywhere else it answers 403; the public host is
//! unaffected; `route --from` says the same.

use std::process::Command;

use crate::traffic::Live;

const PREVIEW: &str = "preview.staging.veza.fr";
const TRUSTED: &str = "127.0.0.2";
const OTHER: &str = "127.0.0.1";

/// What a request for `host` from source address `from` got: status, `served-by` line of the
/// body (or the whole body), and the cookies it set.
fn curl(l: &Live, host: &str, from: &str) -> (u16, String, String) {
    let out = Command::new("curl")
        .args(["-s", "-D", "-", "--interface", from, "-H"])
        .arg(format!("Host: {host}"))
        .arg(format!("http://127.0.0.1:{}/", l.port))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no answer from {from}: {text:?}"));
    let served = body
        .lines()
        .find_map(|l| l.strip_prefix("served-by: "))
        .map_or_else(|| body.trim().to_string(), str::to_string);
    let cookies = head
        .lines()
        .filter(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .collect::<Vec<_>>()
        .join("\n");
    (status, served, cookies)
}

/// The preview reaches `idle` from the trusted source only; the public host serves `public`.
fn previews(l: &Live, idle: &str, public: &str, what: &str) {
    let (status, served, cookies) = curl(l, PREVIEW, TRUSTED);
    assert_eq!((status, served.as_str()), (200, idle), "{what}: trusted");
    assert!(
        cookies.contains(&format!(
            "VEZA_SERVERID_staging_preview=staging-web-{}-preview",
            &idle[8..]
        )),
        "{what}: the preview's own cookie: {cookies}"
    );
    let (status, body, _) = curl(l, PREVIEW, OTHER);
    assert_eq!(
        (status, body.as_str()),
        (403, "This preview is open to trusted networks only."),
        "{what}: untrusted"
    );
    for from in [TRUSTED, OTHER] {
        let (status, served, _) = curl(l, "staging.veza.fr", from);
        assert_eq!(
            (status, served.as_str()),
            (200, public),
            "{what}: public from {from}"
        );
    }
}

/// What `edgeplan route` predicts for the preview host from `from`, at the box's colours.
fn route(l: &Live, from: &str, colors: &str) -> String {
    let out = l.b.run(&[
        "route",
        &format!("http://{PREVIEW}/"),
        "--from",
        from,
        "--colors",
        colors,
    ]);
    assert_eq!(out.code, 0, "{}", out.folded());
    out.stdout
}

#[test]
fn the_preview_host_reaches_the_idle_colour_from_trusted_sources_only() {
    let l = Live::start_extra(
        &format!("trusted \"{TRUSTED}\""),
        &format!("preview \"{PREVIEW}\""),
    );
    previews(&l, "staging/green", "staging/blue", "at blue");
    // The idle instance serves previews only: `server maint` takes it out of the preview pool,
    // `server ready` puts it back (`drain` or `ready` on the public pool, where the config keeps
    // it `disabled`, would be refused).
    let out = l.b.run(&["server", "maint", "staging", "web", "green"]);
    assert_eq!(out.code, 0, "{}", out.folded());
    assert!(
        out.stdout.contains("staging_web_pool_preview/green"),
        "{}",
        out.stdout
    );
    let (status, _, _) = curl(&l, PREVIEW, TRUSTED);
    assert_eq!(status, 503, "no preview server left");
    let out = l.b.run(&[
        "server",
        "ready",
        "staging",
        "web",
        "green",
        "--wait",
        "--timeout",
        "10s",
    ]);
    assert_eq!(out.code, 0, "{}", out.folded());
    assert!(
        out.stdout.contains("staging_web_pool_preview/green")
            && !out.stdout.contains("staging_web_pool/green"),
        "ready only where the config has it enabled: {}",
        out.stdout
    );
    previews(
        &l,
        "staging/green",
        "staging/blue",
        "green back in the preview",
    );
    let r = route(&l, TRUSTED, "staging=blue");
    assert!(r.contains("result: forwarded to green"), "{r}");
    let r = route(&l, OTHER, "staging=blue");
    assert!(
        r.contains("client 127.0.0.1 is in none of 127.0.0.2/32")
            && r.contains("result: HAProxy answers 403"),
        "{r}"
    );

    // After a switch the idle colour is blue: the preview follows.
    let out = l.b.run(&["switch", "staging", "green"]);
    assert_eq!(out.code, 0, "{}", out.folded());
    previews(&l, "staging/blue", "staging/green", "at green");
    assert!(route(&l, TRUSTED, "staging=green").contains("result: forwarded to blue"));

    // During a canary back to blue, the preview shows the canary's colour, blue.
    let out = l.b.run(&["switch", "staging", "blue", "--weight", "10"]);
    assert_eq!(out.code, 0, "{}", out.folded());
    let (status, served, _) = curl(&l, PREVIEW, TRUSTED);
    assert_eq!((status, served.as_str()), (200, "staging/blue"));
    assert!(route(&l, TRUSTED, "staging=blue@10").contains("result: forwarded to blue"));
    let (status, _, _) = curl(&l, PREVIEW, OTHER);
    assert_eq!(status, 403);
}
