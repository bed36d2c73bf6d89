//! `route` with basic auth: 401 without credentials or with wrong ones, the upstream without
//! the `Authorization` header with the right ones, bypass networks, and credentials never shown.

use super::*;
use crate::model::{BasicAuth, Ident, Network, PasswordHash, Realm, User, UserName, Userlist};
use crate::route::Credentials;

/// The bundled edge with staging behind basic auth (user `alice`, password `s3cret`), bypassed
/// from 10.0.0.0/8.
fn edge() -> Edge {
    let mut edge = bundled();
    let team = Ident::parse("team").unwrap();
    edge.userlists.insert(
        team.clone(),
        Userlist {
            name: team.clone(),
            users: vec![User {
                name: UserName::parse("alice").unwrap(),
                password: PasswordHash::sha512("s3cret").unwrap(),
            }],
        },
    );
    let staging = edge
        .envs
        .get_mut(&Ident::parse("staging").unwrap())
        .unwrap();
    staging.policy.inline.basic_auth = Some(BasicAuth {
        userlist: team,
        realm: Realm::parse("Staging").unwrap(),
        bypass: vec![Network::parse("10.0.0.0/8").unwrap()],
    });
    edge
}

fn ask(edge: &Edge, url: &str, from: &str, creds: Option<(&str, &str)>) -> Explanation {
    let headers: Vec<String> = creds
        .map(|(u, p)| format!("Authorization={}", Credentials::header(u, p)))
        .into_iter()
        .collect();
    let mut req = Request::parse(url, &[], &headers).unwrap();
    req.from = Some(from.parse().unwrap());
    explain(&routing(edge, &ActiveColors::from_specs(edge)), &req).unwrap()
}

#[test]
fn credentials_are_asked_checked_and_stripped() {
    let e = edge();
    let url = "https://staging.veza.fr/api/x";
    for creds in [None, Some(("alice", "wrong")), Some(("bob", "s3cret"))] {
        let ex = ask(&e, url, "192.0.2.1", creds);
        assert_eq!(ex.status, Some(401), "{creds:?}");
        assert!(
            matches!(&ex.verdict, Verdict::Unauthorized { realm, .. } if realm == "Staging"),
            "{:?}",
            ex.verdict
        );
        let text = crate::route::render_text(&ex, false);
        assert!(text.contains("HAProxy answers 401"), "{text}");
        assert!(
            !text.contains("wrong") && !text.contains("s3cret"),
            "{text}"
        );
    }
    for (from, creds) in [
        ("192.0.2.1", Some(("alice", "s3cret"))),
        ("10.1.2.3", None),
        ("10.1.2.3", Some(("alice", "wrong"))),
    ] {
        let ex = ask(&e, url, from, creds);
        assert_eq!(ex.status, None, "{from} {creds:?}: {:?}", ex.verdict);
        let stripped = ex
            .policies
            .iter()
            .find(|p| p.haproxy.contains("del-header Authorization"))
            .expect("the strip rule is walked");
        assert!(stripped.fired, "{from} {creds:?}");
        let json = serde_json::to_string(&ex).unwrap();
        assert!(
            !json.contains("s3cret") && !json.contains("wrong"),
            "{json}"
        );
    }
    // Prod is not guarded, and keeps its Authorization header.
    let ex = ask(&e, "https://veza.fr/", "192.0.2.1", None);
    assert_eq!(ex.status, None);
    let strip = ex
        .policies
        .iter()
        .find(|p| p.haproxy.contains("del-header Authorization"))
        .unwrap();
    assert!(!strip.fired);
}

#[test]
fn plain_http_never_asks_it_redirects_first() {
    let ex = ask(&edge(), "http://staging.veza.fr/api/x", "192.0.2.1", None);
    assert_eq!(ex.status, Some(301), "{:?}", ex.verdict);
}

#[test]
fn a_malformed_authorization_header_is_no_credentials() {
    // As haproxy's get_http_auth: two spaces, another scheme, bad base64, no `:`.
    let good = Credentials::header("alice", "pw");
    let data = good.strip_prefix("Basic ").unwrap();
    for v in [
        "Bearer abc".to_string(),
        "Basic !!!".into(),
        "Basic YWxpY2U=".into(),
        "basic".into(),
        format!("Basic  {data}"),
        format!("Basicx {data}"),
    ] {
        assert_eq!(Credentials::from_header(&v), None, "{v}");
    }
    // A prefix of the scheme, the first of several values, a NUL ending the C string.
    for v in [
        format!("Ba {data}"),
        format!("BASIC {data}, Bearer x"),
        format!(" basic {data}"),
    ] {
        let c = Credentials::from_header(&v).unwrap_or_else(|| panic!("{v}"));
        assert_eq!(
            (c.user.as_str(), c.password.as_str()),
            ("alice", "pw"),
            "{v}"
        );
    }
    let with_nul = Credentials::header("alice", "pw\0rest");
    let c = Credentials::from_header(&with_nul).unwrap();
    assert_eq!(c.password, "pw");
    let c = Credentials::from_header(&Credentials::header("alice", "a:b c")).unwrap();
    assert_eq!((c.user.as_str(), c.password.as_str()), ("alice", "a:b c"));
    let lower = Credentials::header("alice", "x").replacen("Basic", "bAsIc", 1);
    assert!(Credentials::from_header(&lower).is_some());
}
