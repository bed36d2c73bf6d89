//! The request id under real haproxy (issue 21): every request gets a unique id in the
//! `request-id` header — passed upstream, returned to the client, in haproxy's log line — and a
//! client's own is replaced unless it comes from a trusted network.

use super::{Mode, Stage};

const SPEC: &str = r#"edge "request-id-lab"
listen http="*:80"
admin-socket "/run/haproxy/admin.sock" mode="600"
trusted "127.0.0.2"
request-id header="X-Request-ID"
env "app" {
    hosts "app.example.test"
    component "web" port=8080 {
        instance "w-1" color="blue" address="w-1.lxd"
        instance "w-2" color="green" address="w-2.lxd"
    }
}
"#;

#[test]
fn every_request_gets_an_id_seen_upstream_returned_and_logged() {
    let (_tmp, build) = super::lab(SPEC);
    let h = Stage::new(&build, Mode::Live).start();
    let mut seen = Vec::new();
    for (from, sent) in [
        ("127.0.0.1", None),
        ("127.0.0.1", None),
        ("127.0.0.1", Some("forged-by-client")),
        ("127.0.0.2", Some("from-the-balancer")),
    ] {
        let headers: Vec<String> = sent
            .map(|v| format!("X-Request-ID: {v}"))
            .into_iter()
            .collect();
        let r = super::request_from(&h, "http", "app.example.test", from, "/x", &headers);
        let what = format!("from {from}, sending {sent:?}");
        assert_eq!(r.status, 200, "{what}: {r:?}");
        let upstream = r.echoed("header.x-request-id").map(str::to_string);
        let returned = r.header("x-request-id").map(str::to_string);
        assert!(upstream.is_some(), "{what}: {r:?}");
        assert_eq!(
            upstream, returned,
            "{what}: the client gets the id the app saw"
        );
        let id = upstream.unwrap();
        match (from, sent) {
            ("127.0.0.2", Some(v)) => assert_eq!(id, v, "{what}: a trusted proxy's id is kept"),
            (_, Some(v)) => assert_ne!(id, v, "{what}: a client's own id is replaced"),
            _ => {}
        }
        assert!(!seen.contains(&id), "{what}: {id} was given before");
        seen.push(id);
    }
    // Each id is in haproxy's log line of its request (the captured header, in braces).
    let log = h.wait_log(|l| seen.iter().all(|id| l.contains(&format!("{{{id}}}"))));
    for id in &seen {
        assert!(
            log.contains(&format!("{{{id}}}")),
            "{id} not logged:\n{log}"
        );
    }
}
