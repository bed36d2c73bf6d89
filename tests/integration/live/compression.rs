//! gzip compression under real haproxy (issue 21): an env that compresses `text/plain` (what
//! the stand-ins answer) gzips for a client that accepts it and not for one that does not; an
//! env compressing other types, and one without compression, do not; the edge-wide default
//! applies where an env says nothing. The answers are decoded (`curl --compressed`), so the
//! stand-in's identity is still read.

use super::{Mode, Stage};

const SPEC: &str = r#"edge "compression-lab"
listen http="*:80"
admin-socket "/run/haproxy/admin.sock" mode="600"
policy "gzip-text" {
    compression "text/plain" "text/html"
}
env "text" {
    hosts "text.example.test"
    policies "gzip-text"
    component "web" port=8080 {
        instance "t-1" color="blue" address="t-1.lxd"
        instance "t-2" color="green" address="t-2.lxd"
    }
}
env "json" {
    hosts "json.example.test"
    compression "application/json"
    component "web" port=8080 {
        instance "j-1" color="blue" address="j-1.lxd"
        instance "j-2" color="green" address="j-2.lxd"
    }
}
env "plain" {
    hosts "plain.example.test"
    component "web" port=8080 {
        instance "p-1" color="blue" address="p-1.lxd"
        instance "p-2" color="green" address="p-2.lxd"
    }
}
"#;

#[test]
fn responses_are_gzipped_where_the_spec_says_and_the_client_accepts() {
    let (_tmp, build) = super::lab(SPEC);
    let cfg = String::from_utf8_lossy(&build.files["etc/haproxy/haproxy.cfg"].content).into_owned();
    assert!(
        cfg.contains("compression type text/plain text/html"),
        "{cfg}"
    );
    let h = Stage::new(&build, Mode::Live).start();
    for (host, accept, gzipped) in [
        ("text.example.test", true, true),
        ("text.example.test", false, false),
        ("json.example.test", true, false),
        ("plain.example.test", true, false),
    ] {
        let mut headers = vec!["Accept-Encoding: gzip".to_string()];
        if !accept {
            headers[0] = "Accept-Encoding: identity".into();
        }
        let r = super::request_from(&h, "http", host, "127.0.0.1", "/x", &headers);
        let what = format!("{host}, accepting gzip {accept}");
        assert_eq!(r.status, 200, "{what}: {r:?}");
        assert!(r.served_by().is_some(), "{what}: {r:?}");
        assert_eq!(
            r.header("content-encoding"),
            gzipped.then_some("gzip"),
            "{what}: {r:?}"
        );
    }
}
