//! Tests of `route`: hosts, paths, redirects, ACME, placeholders, bad input, the rendered
//! spelling; cookies, colours and several instances in [`servers`].

use miette::Diagnostic;

use super::{
    Explanation, Outcome, Pick, Reached, Request, Role, RouteError, ServerChoice, StickyResult,
    SwitchResult, Verdict, apply_colors, explain, haproxy_test, redirect_rule, render_text,
    uri_hash,
};
use crate::model::{Balance, Edge};
use crate::rules::{BackendKind, routing};
use crate::state::ActiveColors;

fn bundled() -> Edge {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs");
    crate::load(&dir).map_err(|p| format!("{p:?}")).unwrap().1
}

fn route_with(url: &str, cookies: &[&str], colors: &[&str]) -> Explanation {
    let edge = bundled();
    let mut c = ActiveColors::from_specs(&edge);
    let colors: Vec<String> = colors.iter().map(|s| s.to_string()).collect();
    apply_colors(&edge, &mut c, &colors).unwrap();
    let cookies: Vec<String> = cookies.iter().map(|s| s.to_string()).collect();
    let req = Request::parse(url, &cookies, &[]).unwrap();
    explain(&routing(&edge, &c), &req).unwrap()
}

fn route(url: &str) -> Explanation {
    route_with(url, &[], &[])
}

fn chosen_rule(ex: &Explanation) -> Option<&SwitchResult> {
    ex.switches.iter().find(|s| s.chosen)
}

/// `--from` says, for a client's identity headers, whether that address is believed.
#[test]
fn identity_headers_from_a_given_address() {
    let mut edge = bundled();
    edge.trusted = vec![crate::model::Network::parse("10.0.0.0/8").unwrap()];
    let r = routing(&edge, &ActiveColors::from_specs(&edge));
    let headers: Vec<String> = vec!["X-Forwarded-For=1.2.3.4".into(), "X-Real-IP=1.2.3.4".into()];
    let notes = |from: Option<&str>| {
        let mut req = Request::parse("https://veza.fr/", &[], &headers).unwrap();
        req.from = from.map(|f| f.parse().unwrap());
        explain(&r, &req).unwrap().notes
    };
    let inside = notes(Some("10.1.2.3"));
    assert!(inside.contains(&"header `X-Forwarded-For` is kept, and the edge appends the connection's address: the client (10.1.2.3) is in the trusted network 10.0.0.0/8".to_string()), "{inside:?}");
    assert!(inside.contains(&"header `X-Real-IP` is kept as sent: the client (10.1.2.3) is in the trusted network 10.0.0.0/8".to_string()), "{inside:?}");
    let outside = notes(Some("192.0.2.1"));
    assert!(outside.contains(&"header `X-Real-IP` is removed: the client (192.0.2.1) is in no trusted network (10.0.0.0/8); the edge sets the client's identity from the connection".to_string()), "{outside:?}");
    let unknown = notes(None);
    assert!(
        unknown.iter().any(|n| n
            .contains("is removed unless the client connects from a trusted network (10.0.0.0/8)")),
        "{unknown:?}"
    );
}

#[test]
fn every_env_route_lands_on_its_pool() {
    for env in ["staging", "prod"] {
        let host = if env == "prod" {
            "veza.fr"
        } else {
            "staging.veza.fr"
        };
        for (path, pool, why) in [
            ("/api/v1/health", "backend_api", "route api -> backend"),
            ("/ws/chat", "backend_api", "route ws -> backend"),
            ("/wsx", "backend_api", "route ws -> backend"),
            ("/stream/a.ts", "stream_pool", "route stream_seg -> stream"),
            (
                "/hls/x/index.m3u8",
                "stream_pool",
                "route stream_seg -> stream",
            ),
        ] {
            let ex = route(&format!("https://{host}{path}"));
            assert_eq!(ex.outcome, Outcome::Forward, "{path}");
            assert_eq!(
                ex.backend.as_deref(),
                Some(format!("{env}_{pool}").as_str())
            );
            let rule = chosen_rule(&ex).unwrap();
            assert_eq!(rule.why, format!("env {env} {why}"));
            assert_eq!(ex.chosen_server.as_deref(), Some("blue"));
            assert!(!ex.default_backend);
        }
    }
    let ex = route("https://www.veza.fr/api/x");
    assert_eq!(ex.backend.as_deref(), Some("prod_backend_api"));
}

#[test]
fn staging_api_is_explained_in_full() {
    let ex = route("https://staging.veza.fr/api/v1/health");
    assert_eq!(ex.frontend.name, "https");
    let rule = chosen_rule(&ex).unwrap();
    assert_eq!(rule.when, ["host_staging", "staging_is_api"]);
    assert_eq!(ex.kind, Some(BackendKind::Pool));
    assert_eq!(ex.env.as_deref(), Some("staging"));
    assert_eq!(ex.component.as_deref(), Some("backend"));
    assert_eq!(ex.servers.len(), 2);
    assert_eq!(ex.servers[0].address, "veza-staging-backend-blue.lxd:8080");
    assert!(ex.servers[0].active && !ex.servers[1].active);
    assert_eq!(ex.balance.as_ref().unwrap().algorithm, Balance::Roundrobin);
    let st = ex.sticky.as_ref().unwrap();
    assert_eq!(st.cookie, "VEZA_SERVERID_staging");
    assert_eq!(st.result, StickyResult::Absent);
    let sc = ex.sets_cookie.as_ref().unwrap();
    assert_eq!(sc.name, "VEZA_SERVERID_staging");
    assert_eq!(sc.value.as_deref(), Some("staging-backend-blue"));
    assert!(ex.status.is_none());
    let text = render_text(&ex, false);
    assert!(
        text.contains("✓ env/staging/api -> staging_backend_api if host_staging staging_is_api")
    );
    assert_eq!(ex.route_key.as_deref(), Some("env/staging/api"));
    assert!(text.contains("the response sets VEZA_SERVERID_staging=staging-backend-blue"));
}

#[test]
fn env_default_component() {
    for url in [
        "https://staging.veza.fr/",
        "https://veza.fr/about",
        "https://veza.fr",
    ] {
        let ex = route(url);
        let rule = chosen_rule(&ex).unwrap();
        assert!(rule.why.ends_with("default -> web"), "{url}: {}", rule.why);
        assert_eq!(rule.when.len(), 1);
        assert!(ex.backend.as_deref().unwrap().ends_with("_web_pool"));
        assert!(ex.sticky.is_none() && ex.sets_cookie.is_none());
    }
    // Paths are case-sensitive: `/API/` is not an API call.
    let ex = route("https://veza.fr/API/x");
    assert_eq!(ex.backend.as_deref(), Some("prod_web_pool"));
    // The query string is not part of the path.
    let ex = route("https://veza.fr/x?next=/api/");
    assert_eq!(ex.backend.as_deref(), Some("prod_web_pool"));
}

#[test]
fn stream_is_uri_hashed() {
    let ex = route("https://veza.fr/hls/a/seg1.ts?t=3");
    let b = ex.balance.unwrap();
    assert_eq!(b.algorithm, Balance::Uri);
    assert_eq!(b.hash_key.as_deref(), Some("/hls/a/seg1.ts?t=3"));
    assert!(b.haproxy.contains("consistent"));
}

#[test]
fn forgejo_outside_backend() {
    let ex = route("https://forgejo.talas.group/user/login");
    assert_eq!(ex.backend.as_deref(), Some("forgejo_backend"));
    assert_eq!(ex.kind, Some(BackendKind::Outside));
    assert_eq!(ex.chosen_server.as_deref(), Some("forgejo"));
    assert_eq!(ex.servers[0].address, "10.0.20.105:3000");
    assert!(ex.sets_cookie.is_none());
}

#[test]
fn placeholder_answers_itself() {
    for url in ["https://talas.fr/", "https://www.talas.fr/api/x"] {
        let ex = route(url);
        assert_eq!(ex.outcome, Outcome::Static);
        assert_eq!(ex.backend.as_deref(), Some("talas_vitrine_backend"));
        assert_eq!(ex.status, Some(503));
        let file = ex.body_file.as_deref().unwrap();
        assert!(file.starts_with(crate::rules::ERRORS_DIR), "{file}");
        assert!(file.contains("talas_vitrine"), "{file}");
    }
}

#[test]
fn unknown_host_gets_the_default_503() {
    for url in [
        "https://example.org/",
        "https://veza.fr.evil.org/api/",
        "https://[::1]/",
    ] {
        let ex = route(url);
        assert!(ex.default_backend, "{url}");
        assert!(ex.switches.iter().all(|s| !s.chosen));
        assert_eq!(ex.backend.as_deref(), Some("default_503"));
        assert_eq!(ex.outcome, Outcome::Static);
        assert_eq!(ex.status, Some(503));
    }
}

#[test]
fn http_redirects_to_https() {
    let ex = route("http://Staging.veza.fr:80/api/x?a=1&b=2");
    assert_eq!(ex.frontend.name, "http");
    assert_eq!(ex.outcome, Outcome::Redirect);
    assert_eq!(ex.status, Some(301));
    assert_eq!(
        ex.location.as_deref(),
        Some("https://staging.veza.fr/api/x?a=1&b=2")
    );
    assert!(ex.backend.is_none());
    // The route is chosen (none matches on this frontend but ACME's); the redirect answers
    // before any use_backend.
    assert!(ex.switches.iter().all(|s| s.evaluated && !s.chosen));
    assert_eq!(ex.route_key, None);
    // Unknown hosts are redirected too: the http frontend has no host ACL.
    let ex = route("http://example.org");
    assert_eq!(ex.location.as_deref(), Some("https://example.org/"));
}

#[test]
fn a_site_served_over_plain_http_is_not_redirected() {
    let mut e = bundled();
    let forgejo = e
        .outside
        .get_mut(&crate::model::Ident::parse("forgejo").unwrap())
        .unwrap();
    forgejo.plain_http = forgejo.hosts.clone();
    let ex = explain(
        &routing(&e, &ActiveColors::from_specs(&e)),
        &Request::parse("http://forgejo.talas.group/x", &[], &[]).unwrap(),
    )
    .unwrap();
    assert_eq!(ex.outcome, Outcome::Forward, "{:?}", ex.verdict);
    assert_eq!(ex.route_key.as_deref(), Some("site/forgejo"));
    // Its other hosts (none here) and everything else still go to https.
    let ex = explain(
        &routing(&e, &ActiveColors::from_specs(&e)),
        &Request::parse("http://veza.fr/x", &[], &[]).unwrap(),
    )
    .unwrap();
    assert_eq!(ex.status, Some(301));
}

#[test]
fn acme_path_on_http_goes_to_certbot() {
    let ex = route("http://veza.fr/.well-known/acme-challenge/tok3n");
    assert_eq!(ex.outcome, Outcome::Forward);
    assert!(!ex.redirect.as_ref().unwrap().applies);
    assert_eq!(ex.backend.as_deref(), Some("acme_challenge"));
    assert_eq!(ex.kind, Some(BackendKind::Acme));
    assert_eq!(ex.servers[0].address, "127.0.0.1:8888");
    // Any host: certbot answers for every name it is validating.
    let ex = route("http://whatever.example/.well-known/acme-challenge/x");
    assert_eq!(ex.backend.as_deref(), Some("acme_challenge"));
    // Over https the ACME prefix is an ordinary path.
    let ex = route("https://veza.fr/.well-known/acme-challenge/x");
    assert_eq!(ex.backend.as_deref(), Some("prod_web_pool"));
}

#[test]
fn host_case_and_port_are_ignored_by_host_acls() {
    for url in [
        "https://STAGING.VEZA.FR/api/x",
        "https://staging.veza.fr:443/api/x",
        "https://Staging.Veza.Fr:8443/api/x",
    ] {
        let ex = route(url);
        assert_eq!(ex.backend.as_deref(), Some("staging_backend_api"), "{url}");
        let acl = ex.acls.iter().find(|a| a.name == "host_staging").unwrap();
        assert!(acl.matched);
    }
    // A trailing dot names the same host (the edge drops it); an IPv6 literal keeps its
    // colons and matches no host name.
    let ex = route("https://staging.veza.fr./api/x");
    assert_eq!(ex.backend.as_deref(), Some("staging_backend_api"));
    let ex = route("https://[2001:db8::1]:443/api/x");
    assert_eq!(ex.request.host_field().as_deref(), Some("[2001:db8::1]"));
    assert_eq!(ex.backend.as_deref(), Some("default_503"));
}

/// A request that names no host, or more than one, is answered 400 before any rule.
#[test]
fn ambiguous_hosts_are_bad_requests() {
    let edge = bundled();
    let routing = routing(&edge, &ActiveColors::from_specs(&edge));
    for (headers, why) in [
        (
            vec!["Host=veza.fr, evil.test"],
            "its Host header has more than one value",
        ),
        (
            vec!["Host=veza.fr", "Host=evil.test"],
            "it has Host headers that differ",
        ),
        (vec!["Host="], "it names no host"),
    ] {
        let headers: Vec<String> = headers.into_iter().map(str::to_string).collect();
        let req = Request::parse("https://veza.fr/", &[], &headers).unwrap();
        let ex = explain(&routing, &req).unwrap();
        assert_eq!(ex.outcome, Outcome::BadRequest, "{headers:?}");
        assert_eq!(ex.status, Some(400));
        assert!(render_text(&ex, false).contains(&format!("HAProxy answers 400: {why}")));
    }
    // The same Host twice (any case) is one: HAProxy merges them.
    let headers = vec!["Host=veza.fr".to_string(), "Host=VEZA.fr".to_string()];
    let req = Request::parse("https://veza.fr/", &[], &headers).unwrap();
    assert_eq!(explain(&routing, &req).unwrap().outcome, Outcome::Forward);
}

#[test]
fn host_header_overrides_the_url() {
    let edge = bundled();
    let req = Request::parse(
        "https://127.0.0.1/api/x",
        &[],
        &["Host=Veza.fr:443".into(), "X-Test: 1".into()],
    )
    .unwrap();
    let ex = explain(&routing(&edge, &ActiveColors::from_specs(&edge)), &req).unwrap();
    assert_eq!(ex.backend.as_deref(), Some("prod_backend_api"));
    assert_eq!(ex.request.headers.len(), 1);
    assert_eq!(ex.notes.len(), 1);
}

#[test]
fn bad_input_is_a_diagnostic() {
    let edge = bundled();
    let mut c = ActiveColors::from_specs(&edge);
    let code = |e: RouteError| e.code().unwrap().to_string();
    for (url, cookie, header) in [
        ("staging.veza.fr/api", None, None),
        ("ftp://veza.fr/", None, None),
        ("https://", None, None),
        ("https:///x", None, None),
        ("https://a b/", None, None),
        ("https://veza.fr:99999/", None, None),
        ("https://veza.fr:x/", None, None),
        ("https://u@veza.fr/", None, None),
        ("https://veza.fr/a b", None, None),
        ("https://veza.fr/é", None, None),
        ("https://[::1/", None, None),
        ("https://veza.fr/", Some("novalue"), None),
        ("https://veza.fr/", Some("=v"), None),
        ("https://veza.fr/", Some("a b=v"), None),
        ("https://veza.fr/", Some("a=v;w"), None),
        ("https://veza.fr/", None, Some("Host")),
        ("https://veza.fr/", None, Some("X=\u{7}")),
    ] {
        let cookies: Vec<String> = cookie.into_iter().map(str::to_string).collect();
        let headers: Vec<String> = header.into_iter().map(str::to_string).collect();
        let e = Request::parse(url, &cookies, &headers).unwrap_err();
        assert!(code(e).starts_with("edgeplan::route::"), "{url}");
    }
    for (items, want) in [
        ("staging", "edgeplan::route::bad_colors"),
        ("stagin=blue", "edgeplan::route::unknown_env"),
        ("staging=red", "edgeplan::route::unknown_color"),
    ] {
        let e = apply_colors(&edge, &mut c, &[items.to_string()]).unwrap_err();
        assert_eq!(code(e), want);
    }
    let e = apply_colors(&edge, &mut c, &["stagin=blue".into()]).unwrap_err();
    assert!(e.help().unwrap().to_string().contains("staging"));
}

/// A pool whose servers are all disabled answers 503 (valid specs cannot say so, a routing
/// table can): the verdict carries the backend, no server and no cookie.
#[test]
fn pool_without_an_active_server_answers_503() {
    let edge = bundled();
    let mut r = routing(&edge, &ActiveColors::from_specs(&edge));
    for b in &mut r.backends {
        for s in &mut b.servers {
            s.active = false;
        }
    }
    let req = Request::parse(
        "https://veza.fr/api/x",
        &["VEZA_SERVERID_prod=prod-backend-blue".into()],
        &[],
    )
    .unwrap();
    let ex = explain(&r, &req).unwrap();
    assert_eq!(
        ex.verdict,
        Verdict::NoServer {
            backend: Reached {
                name: "prod_backend_api".into(),
                by_default: false
            },
            role: Role::Pool {
                env: "prod".into(),
                component: "backend".into()
            },
            page: None,
        }
    );
    assert_eq!((ex.outcome, ex.status), (Outcome::NoServer, Some(503)));
    assert_eq!(ex.sticky.as_ref().unwrap().result, StickyResult::Ignored);
    assert!(ex.chosen_server.is_none() && ex.sets_cookie.is_none());
    let text = render_text(&ex, false);
    assert!(text.contains("\nresult: HAProxy answers 503: no server can take the request\n"));
}

/// The flat fields of the JSON document are the verdict spelled out.
#[test]
fn flat_fields_follow_the_verdict() {
    let lab = |url: &str, cookies: &[&str]| lab_with(url, cookies, &[]);
    let ex = lab("http://lab.veza.fr/api/v1/me", &[]);
    let Verdict::Forward {
        server: ServerChoice::Balanced { pick, sets_cookie },
        ..
    } = &ex.verdict
    else {
        panic!("{:?}", ex.verdict);
    };
    assert_eq!(
        *pick,
        Pick::OneOf(vec!["backend-api-1".into(), "backend-api-2".into()])
    );
    assert_eq!(sets_cookie.as_ref(), ex.sets_cookie.as_ref());
    let ex = lab(
        "http://lab.veza.fr/api/v1/me",
        &["VEZA_SERVERID_lab=lab-backend-backend-api-2"],
    );
    let pinned = ex.verdict.pinned_server().unwrap();
    assert_eq!(ex.pinned_server.as_deref(), Some(pinned.name.as_str()));
    assert_eq!(pinned.address, "backend-api-2.lxd:8080");
    let ex = route("http://veza.fr/x");
    assert_eq!(ex.verdict.location(), ex.location.as_deref());
    assert_eq!(ex.verdict.backend(), None);
}

#[test]
fn http_only_edge_has_no_https_listener() {
    let mut edge = bundled();
    edge.listen.https = None;
    edge.tls = None;
    let r = routing(&edge, &ActiveColors::from_specs(&edge));
    let req = Request::parse("https://veza.fr/", &[], &[]).unwrap();
    let e = explain(&r, &req).unwrap_err();
    assert_eq!(
        e.code().unwrap().to_string(),
        "edgeplan::route::no_listener"
    );
    // Over plain http, everything is routed on the one frontend.
    let req = Request::parse("http://veza.fr/api/x", &[], &[]).unwrap();
    let ex = explain(&r, &req).unwrap();
    assert!(ex.redirect.is_none());
    assert_eq!(ex.backend.as_deref(), Some("prod_backend_api"));
    let req = Request::parse("http://veza.fr/.well-known/acme-challenge/t", &[], &[]).unwrap();
    assert_eq!(
        explain(&r, &req).unwrap().backend.as_deref(),
        Some("acme_challenge")
    );
}

/// The spelling shown for every ACL and rule is the line the template renders.
#[test]
fn spelling_matches_the_rendered_config() {
    let edge = bundled();
    let colors = ActiveColors::from_specs(&edge);
    let out = crate::render::render(
        &edge,
        &colors,
        &crate::render::Templates::embedded(),
        "test",
    )
    .unwrap();
    let cfg = String::from_utf8(out.files["etc/haproxy/haproxy.cfg"].content.clone()).unwrap();
    let lines: Vec<&str> = cfg.lines().map(str::trim).collect();
    let r = routing(&edge, &colors);
    for fe in &r.frontends {
        for a in &fe.acls {
            let want = format!("acl {} {}", a.name, haproxy_test(&a.test));
            assert!(lines.contains(&want.as_str()), "{want}");
        }
        if let Some(u) = &fe.redirect_unless {
            assert!(lines.contains(&redirect_rule(u, fe.redirect_port).as_str()));
        }
    }
    for b in &r.backends {
        if let Some(c) = b.cookie() {
            let want = format!("cookie {c} insert indirect nocache httponly secure");
            assert!(lines.contains(&want.as_str()), "{want}");
        }
    }
    assert!(lines.contains(&"balance uri whole path-only"));
    assert!(lines.contains(&"hash-type consistent"));
}

mod auth;
mod preview;
mod servers;

use servers::lab_with;
