//! Basic auth under real haproxy (issue 20): a userlist of a sha512crypt and a bcrypt user
//! guarding one env; requests without credentials, with a wrong password, an unknown user, each
//! user's right password, and from a bypass network (127.0.0.2, bound on loopback). haproxy's
//! answer (401 and its `WWW-Authenticate`, or the upstream's 200 without the `Authorization`
//! header) is compared with `edgeplan route`'s prediction for the same request.

use edgeplan::model::PasswordHash;
use edgeplan::route::Credentials;

use super::{Mode, Response, Stage};

fn spec(alice: &str, bob: &str) -> String {
    format!(
        r#"edge "auth-lab"
listen http="*:80" https="*:443"
tls cert-dir="/etc/haproxy/certs"
admin-socket "/run/haproxy/admin.sock" mode="600"
acme email="ops@example.test" {{
    certificate "app.example.test" hosts-of="app"
    certificate "open.example.test" hosts-of="open"
}}
userlist "team" {{
    user "alice" password="{alice}"
    user "bob" password="{bob}"
}}
env "app" {{
    hosts "app.example.test"
    basic-auth userlist="team" realm="App (team only)" {{
        bypass "127.0.0.2"
    }}
    component "web" port=8080 {{
        instance "web-1" color="blue" address="web-1.lxd"
        instance "web-2" color="green" address="web-2.lxd"
    }}
}}
env "open" {{
    hosts "open.example.test"
    component "web" port=8080 {{
        instance "o-1" color="blue" address="o-1.lxd"
        instance "o-2" color="green" address="o-2.lxd"
    }}
}}
"#
    )
}

/// A user name and password, when the request carries some.
type Creds<'a> = Option<(&'a str, &'a str)>;

#[test]
fn basic_auth_asks_checks_and_strips_credentials_as_route_predicts() {
    let alice = PasswordHash::sha512("correct horse").unwrap();
    let bob = bcrypt::hash("b0b's pass:word", 5).unwrap();
    let (_tmp, build) = super::lab(&spec(alice.haproxy(), &bob));
    let h = Stage::new(&build, Mode::Live).start();

    let send = |host: &str, from: &str, creds: Creds| -> Response {
        let headers: Vec<String> = creds
            .map(|(u, p)| format!("Authorization: {}", Credentials::header(u, p)))
            .into_iter()
            .collect();
        super::request_from(&h, "https", host, from, "/x", &headers)
    };
    let cases: [(&str, &str, Creds, bool); 9] = [
        ("app.example.test", "127.0.0.1", None, false),
        (
            "app.example.test",
            "127.0.0.1",
            Some(("alice", "wrong")),
            false,
        ),
        (
            "app.example.test",
            "127.0.0.1",
            Some(("alice", "correct horse ")),
            false,
        ),
        (
            "app.example.test",
            "127.0.0.1",
            Some(("mallory", "correct horse")),
            false,
        ),
        (
            "app.example.test",
            "127.0.0.1",
            Some(("alice", "correct horse")),
            true,
        ),
        (
            "app.example.test",
            "127.0.0.1",
            Some(("bob", "b0b's pass:word")),
            true,
        ),
        ("app.example.test", "127.0.0.2", None, true),
        ("app.example.test", "127.0.0.2", Some(("bob", "nope")), true),
        (
            "open.example.test",
            "127.0.0.1",
            Some(("alice", "wrong")),
            true,
        ),
    ];
    for (host, from, creds, passes) in cases {
        let r = send(host, from, creds);
        let what = format!("{host} from {from} with {creds:?}");
        let mut headers = Vec::new();
        if let Some((u, p)) = creds {
            headers.push(format!("Authorization={}", Credentials::header(u, p)));
        }
        let mut req =
            edgeplan::route::Request::parse(&format!("https://{host}/x"), &[], &headers).unwrap();
        req.from = Some(from.parse().unwrap());
        let ex = edgeplan::route::explain(&build.routing, &req).unwrap();
        assert_eq!(
            ex.status.unwrap_or(200),
            r.status,
            "{what}: route disagrees: {r:?}"
        );
        if passes {
            assert_eq!(r.status, 200, "{what}: {r:?}");
            assert!(r.served_by().is_some(), "{what}: {r:?}");
            // No password goes upstream where basic auth applies; elsewhere the header is the
            // app's business.
            let upstream = r.echoed("header.authorization");
            if host.starts_with("app.") {
                assert_eq!(upstream, None, "{what}: {r:?}");
            } else {
                assert!(upstream.is_some(), "{what}: {r:?}");
            }
            let stripped = ex.policies.iter().any(|p| {
                p.fired
                    && p.haproxy
                        .starts_with("http-request del-header Authorization")
            });
            assert_eq!(
                stripped,
                host.starts_with("app."),
                "{what}: {:?}",
                ex.policies
            );
        } else {
            assert_eq!(r.status, 401, "{what}: {r:?}");
            assert_eq!(
                r.header("www-authenticate"),
                Some("Basic realm=\"App (team only)\""),
                "{what}: {r:?}"
            );
            assert!(r.served_by().is_none(), "{what}: {r:?}");
        }
    }
    // The rendered config holds the hashes; the plan's view of it does not.
    let cfg = String::from_utf8_lossy(&build.files["etc/haproxy/haproxy.cfg"].content).into_owned();
    assert!(cfg.contains(alice.haproxy()) && cfg.contains(&bob));
    let shown = edgeplan::plan::secrets::mask(&cfg);
    assert!(
        !shown.contains(alice.haproxy()) && !shown.contains(&bob),
        "{shown}"
    );
}
