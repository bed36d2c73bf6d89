//! `route` on a preview host: the idle colour from a trusted source (IPv4-mapped addresses
//! included, as HAProxy's `src` compares them), 403 from elsewhere, `default_503` for a trusted
//! request no route takes, and a note when the client's address is not given.

use super::*;
use crate::model::{Host, Ident, Network};

/// The bundled edge with a preview host for staging and 10.0.0.0/8 trusted; `default` as given.
fn edge(default: bool) -> Edge {
    let mut edge = bundled();
    edge.trusted = vec![Network::parse("10.0.0.0/8").unwrap()];
    let staging = edge
        .envs
        .get_mut(&Ident::parse("staging").unwrap())
        .unwrap();
    staging.preview = Some(Host::parse("preview.staging.veza.fr").unwrap());
    if !default {
        staging.default = None;
    }
    edge
}

fn explain_from(edge: &Edge, url: &str, from: Option<&str>) -> Explanation {
    let mut req = Request::parse(url, &[], &[]).unwrap();
    req.from = from.map(|f| f.parse().unwrap());
    explain(&routing(edge, &ActiveColors::from_specs(edge)), &req).unwrap()
}

fn backend(ex: &Explanation) -> &str {
    chosen_rule(ex).map_or("", |r| r.backend.as_str())
}

#[test]
fn preview_from_trusted_untrusted_and_unknown_sources() {
    let e = edge(true);
    let url = "https://preview.staging.veza.fr/api/v1/me";
    for from in ["10.1.2.3", "::ffff:10.1.2.3"] {
        let ex = explain_from(&e, url, Some(from));
        assert_eq!(backend(&ex), "staging_backend_api_preview", "{from}");
        let text = render_text(&ex, false);
        assert!(text.contains("forwarded to green"), "{from}: {text}");
    }
    // Anyone else: the preview policy's 403 and its page, before any backend.
    for from in [Some("192.0.2.1"), None] {
        let ex = explain_from(&e, url, from);
        assert_eq!(ex.outcome, Outcome::Denied, "{from:?}");
        assert_eq!(ex.status, Some(403));
        assert_eq!(
            ex.body_file.as_deref(),
            Some("/etc/haproxy/errors/staging_preview_denied.txt")
        );
        assert!(ex.backend.is_none());
        let text = render_text(&ex, false);
        assert!(
            text.contains("HAProxy answers 403 with the body of")
                && text.contains("preview of env staging"),
            "{text}"
        );
    }
    let ex = explain_from(&e, url, None);
    assert!(
        ex.notes
            .iter()
            .any(|n| n.contains("the client's address is not given")),
        "{:?}",
        ex.notes
    );
    // The public host does not depend on the address: no such note.
    let ex = explain_from(&e, "https://staging.veza.fr/", None);
    assert!(!ex.notes.iter().any(|n| n.contains("client's address")));
}

#[test]
fn a_trusted_preview_request_no_route_takes_gets_the_public_answer() {
    let e = edge(false);
    let ex = explain_from(
        &e,
        "https://preview.staging.veza.fr/nothing",
        Some("10.1.2.3"),
    );
    assert_eq!(backend(&ex), crate::rules::DEFAULT_BACKEND);
    let ex = explain_from(
        &e,
        "https://preview.staging.veza.fr/nothing",
        Some("192.0.2.1"),
    );
    assert_eq!(ex.outcome, Outcome::Denied);
}
