//! Health checks that real apps need (issue 15, item 6), against real haproxy: a URL with a query
//! string, accepted statuses as a list or range, a string the body must contain, a check
//! timeout — each one that the stand-in meets makes its server UP, each one it does not, DOWN.

use std::time::{Duration, Instant};

use super::{Build, Haproxy, Mode, Stage};

fn status(h: &Haproxy, backend: &str) -> (String, String) {
    h.stats()
        .into_iter()
        .find(|r| {
            r.get("pxname").map(String::as_str) == Some(backend)
                && r.get("svname").map(String::as_str) == Some("blue")
        })
        .map(|r| {
            (
                r.get("status").cloned().unwrap_or_default(),
                r.get("check_status").cloned().unwrap_or_default(),
            )
        })
        .unwrap_or_default()
}

#[test]
fn checks_expect_statuses_a_body_string_a_query_and_a_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let specs = tmp.path().join("specs");
    std::fs::create_dir_all(&specs).unwrap();
    // The stand-ins answer 200 with a body that contains `served-by:`.
    std::fs::write(
        specs.join("edge.kdl"),
        r#"edge "health-lab"
listen http="*:80"
admin-socket "/run/haproxy/admin.sock" mode="600"
health interval="200ms" fall=1 rise=1
env "app" {
    hosts "app.example.test"
    container-pattern "{component}-{color}.lxd"
    component "good" port=8080 health="/health?deep=1&x=y" health-status="200-299,304" health-body="served-by:" health-timeout="2s"
    component "status" port=8081 health="/health" health-status="201,204"
    component "body" port=8082 health="/health" health-body="no such text"
    route "s" to="status" { prefix "/s/"; }
    route "b" to="body" { prefix "/b/"; }
    default "good"
}
"#,
    )
    .unwrap();
    let build = Build::of(&specs);
    let cfg = build.cfg();
    for line in [
        "http-check send meth GET uri /health?deep=1&x=y hdr Host app.example.test",
        "http-check expect status 200-299,304",
        "http-check expect string \"served-by:\"",
        "timeout check 2s",
        "http-check expect status 201,204",
    ] {
        assert!(cfg.contains(line), "`{line}` not in\n{cfg}");
    }
    let h = Stage::new(&build, Mode::Live).start_unchecked();
    let want = [
        ("app_good_pool", "UP", "L7OK"),
        ("app_status_pool", "DOWN", "L7STS"),
        ("app_body_pool", "DOWN", "L7RSP"),
    ];
    let start = Instant::now();
    loop {
        let got: Vec<(String, String)> = want.iter().map(|(b, _, _)| status(&h, b)).collect();
        let done = want
            .iter()
            .zip(&got)
            .all(|((_, s, c), (gs, gc))| gs == s && gc.trim_start_matches("* ") == *c);
        if done {
            break;
        }
        assert!(
            start.elapsed() < crate::common::HANG_GUARD,
            "want {want:?}, got {got:?}\n{}",
            h.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
