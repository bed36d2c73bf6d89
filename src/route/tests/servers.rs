//! Tests of `route` that choose a server: sticky cookies, colour overrides, several instances
//! (round robin, URI hash), and the JSON document.

use super::*;

#[test]
fn cookie_pins_an_active_server() {
    let ex = route_with(
        "https://staging.veza.fr/ws",
        &["VEZA_SERVERID_staging=staging-backend-blue"],
        &[],
    );
    assert_eq!(ex.sticky.as_ref().unwrap().result, StickyResult::Pinned);
    assert_eq!(ex.pinned_server.as_deref(), Some("blue"));
    assert_eq!(ex.chosen_server.as_deref(), Some("blue"));
    assert!(ex.sets_cookie.is_none());
}

#[test]
fn cookie_for_a_disabled_or_unknown_server_is_ignored() {
    for value in [
        "staging-backend-green",
        "staging-backend-purple",
        "prod-backend-blue",
    ] {
        let ex = route_with(
            "https://staging.veza.fr/api/",
            &[&format!("VEZA_SERVERID_staging={value}")],
            &[],
        );
        assert_eq!(ex.sticky.as_ref().unwrap().result, StickyResult::Ignored);
        assert!(ex.pinned_server.is_none());
        assert_eq!(ex.chosen_server.as_deref(), Some("blue"));
        let sc = ex.sets_cookie.unwrap();
        assert_eq!(sc.value.as_deref(), Some("staging-backend-blue"));
    }
}

#[test]
fn foreign_env_cookie_is_ignored() {
    let ex = route_with(
        "https://staging.veza.fr/api/",
        &["VEZA_SERVERID_prod=prod-backend-blue"],
        &[],
    );
    assert_eq!(ex.sticky.as_ref().unwrap().result, StickyResult::Absent);
    assert!(ex.pinned_server.is_none());
    assert_eq!(
        ex.sets_cookie.unwrap().name,
        "VEZA_SERVERID_staging".to_string()
    );
    assert!(ex.notes[0].contains("belongs to env prod"));
}

#[test]
fn colour_override_moves_traffic() {
    let ex = route_with("https://veza.fr/api/", &[], &["prod=green"]);
    assert_eq!(ex.chosen_server.as_deref(), Some("green"));
    assert!(ex.servers.iter().any(|s| s.name == "green" && s.active));
    assert!(ex.servers.iter().any(|s| s.name == "blue" && !s.active));
    assert_eq!(
        ex.sets_cookie.unwrap().value.as_deref(),
        Some("prod-backend-green")
    );
    // The old colour's cookie no longer pins.
    let ex = route_with(
        "https://veza.fr/api/",
        &["VEZA_SERVERID_prod=prod-backend-blue"],
        &["staging=blue, prod=green"],
    );
    assert_eq!(ex.sticky.unwrap().result, StickyResult::Ignored);
    assert_eq!(ex.chosen_server.as_deref(), Some("green"));
    // Other envs keep theirs.
    let ex = route_with("https://staging.veza.fr/api/", &[], &["prod=green"]);
    assert_eq!(ex.chosen_server.as_deref(), Some("blue"));
}

/// The lab topology fixture (several instances per colour) at `colors`.
pub(super) fn lab_with(url: &str, cookies: &[&str], colors: &[&str]) -> Explanation {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/specs/valid/lab_topology");
    let edge = crate::load(&dir).map_err(|p| format!("{p:?}")).unwrap().1;
    let mut c = ActiveColors::from_specs(&edge);
    let colors: Vec<String> = colors.iter().map(|s| s.to_string()).collect();
    apply_colors(&edge, &mut c, &colors).unwrap();
    let cookies: Vec<String> = cookies.iter().map(|s| s.to_string()).collect();
    let req = Request::parse(url, &cookies, &[]).unwrap();
    explain(&routing(&edge, &c), &req).unwrap()
}

#[test]
fn several_instances_round_robin_and_cookies_pin_one() {
    let ex = lab_with("http://lab.veza.fr/api/v1/me", &[], &[]);
    assert_eq!(ex.backend.as_deref(), Some("lab_api_pool"));
    let active: Vec<&str> = ex
        .servers
        .iter()
        .filter(|s| s.active)
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(active, ["backend-api-1", "backend-api-2"]);
    assert_eq!(
        ex.chosen_server, None,
        "round-robin: not fixed by the request"
    );
    assert_eq!(ex.outcome, Outcome::Forward);
    let sc = ex.sets_cookie.as_ref().unwrap();
    assert_eq!(
        (sc.name.as_str(), sc.value.as_deref()),
        ("VEZA_SERVERID_lab", None)
    );
    assert!(
        ex.notes
            .iter()
            .any(|n| n.contains("roundrobin takes turns among backend-api-1, backend-api-2"))
    );

    let ex = lab_with(
        "http://lab.veza.fr/api/v1/me",
        &["VEZA_SERVERID_lab=lab-backend-backend-api-2"],
        &[],
    );
    assert_eq!(ex.chosen_server.as_deref(), Some("backend-api-2"));
    assert_eq!(ex.pinned_server.as_deref(), Some("backend-api-2"));
    assert!(ex.sets_cookie.is_none());

    // After a switch to green, a blue instance's cookie is ignored.
    let ex = lab_with(
        "http://lab.veza.fr/api/v1/me",
        &["VEZA_SERVERID_lab=lab-backend-backend-api-2"],
        &["lab=green"],
    );
    assert_eq!(ex.sticky.as_ref().unwrap().result, StickyResult::Ignored);
    assert_eq!(ex.chosen_server, None);
    let text = render_text(&ex, false);
    assert!(
        text.contains("forwarded to one of backend-api-3, backend-api-4"),
        "{text}"
    );
}

#[test]
fn several_instances_uri_hash_names_the_server() {
    let ex = lab_with("http://lab.veza.fr/hls/t1/seg-3.ts", &[], &[]);
    let bal = ex.balance.as_ref().unwrap();
    assert_eq!(
        bal.haproxy,
        "balance uri whole path-only + hash-type consistent"
    );
    assert_eq!(bal.hash, Some(uri_hash("/hls/t1/seg-3.ts")));
    let chosen = ex.chosen_server.clone().unwrap();
    assert!(chosen.starts_with("stream-srv-"), "{chosen}");
    assert!(ex.servers.iter().all(|s| s.id.is_some()));
    // The same URI, the same server; the query is part of the key.
    let again = lab_with("http://lab.veza.fr/hls/t1/seg-3.ts", &[], &[]);
    assert_eq!(again.chosen_server, ex.chosen_server);
    let spread: std::collections::BTreeSet<String> = (0..40)
        .map(|i| {
            lab_with(&format!("http://lab.veza.fr/hls/t{i}/seg-3.ts"), &[], &[])
                .chosen_server
                .unwrap()
        })
        .collect();
    assert_eq!(spread.len(), 3, "{spread:?}");
}

#[test]
fn json_has_stable_fields() {
    let ex = route("https://staging.veza.fr/api/v1/health");
    let v = serde_json::to_value(&ex).unwrap();
    for k in [
        "format_version",
        "request",
        "frontend",
        "acls",
        "redirect",
        "switches",
        "default_backend",
        "outcome",
        "status",
        "location",
        "backend",
        "kind",
        "env",
        "component",
        "body_file",
        "servers",
        "balance",
        "sticky",
        "chosen_server",
        "pinned_server",
        "sets_cookie",
        "notes",
    ] {
        assert!(v.get(k).is_some(), "{k}");
    }
    assert_eq!(v["format_version"], 1);
    assert_eq!(v["acls"][0]["test"]["kind"], "host");
    assert_eq!(v["outcome"], "forward");
}
