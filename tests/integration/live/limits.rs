//! Rate and body limits under real haproxy (issue 21): a body over the limit is refused with
//! 413 before the upstream sees it, a chunked one passes or is refused with 411 as the spec
//! says; a client over its rate gets 429 with `Retry-After` while another client does not,
//! and its count survives a reload (the local `peers` section); `edgeplan route` tells the same.

use std::process::Command;

use super::{Haproxy, Mode, Response, Stage};

const SPEC: &str = r#"edge "limits-lab"
listen http="*:80"
admin-socket "/run/haproxy/admin.sock" mode="600"
env "app" {
    hosts "app.example.test"
    max-body "4k"
    component "web" port=8080 {
        instance "w-1" color="blue" address="w-1.lxd"
        instance "w-2" color="green" address="w-2.lxd"
    }
    route "upload" to="web" {
        prefix "/upload/"
        max-body "1k" chunked="refuse"
    }
    route "login" to="web" {
        prefix "/login"
        rate-limit requests=3 period="1m"
    }
}
"#;

/// Run curl `cmd` (reading its body from stdin) with `len` bytes on its stdin; its output.
fn with_body(cmd: &mut Command, len: usize) -> std::process::Output {
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("curl");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        // A client may stop reading once refused: a broken pipe is its answer arriving.
        let _ = stdin.write_all(&vec![b'a'; len]);
    }
    child.wait_with_output().unwrap()
}

/// POST `body_len` bytes to `path` from `from`, with a declared length or chunked.
fn post(h: &Haproxy, path: &str, body_len: usize, chunked: bool) -> Response {
    let port = h.port("http");
    let mut cmd = Command::new("curl");
    // --max-time: a hang guard, no claim about speed.
    cmd.args(["-sS", "--max-time", "30", "-D", "-", "--data-binary", "@-"]);
    if chunked {
        cmd.args(["-H", "Transfer-Encoding: chunked"]);
    }
    cmd.arg("--resolve")
        .arg(format!("app.example.test:{port}:127.0.0.1"))
        .arg(format!("http://app.example.test:{port}{path}"));
    let out = with_body(&mut cmd, body_len);
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    super::parse_response(&String::from_utf8_lossy(&out.stdout)).unwrap()
}

#[test]
fn bodies_over_the_limit_are_refused_before_the_upstream_and_chunked_ones_as_the_spec_says() {
    let (_tmp, build) = super::lab(SPEC);
    let h = Stage::new(&build, Mode::Live).start();
    let upstream = || h.stand_in("app_web_pool", "w-1").client_requests().len();
    // (path, bytes, chunked, status, reaches the upstream)
    let cases = [
        ("/upload/a", 1024, false, 200, true),
        ("/upload/a", 1025, false, 413, false),
        ("/upload/a", 10, true, 411, false),
        ("/other", 4096, false, 200, true),
        ("/other", 4097, false, 413, false),
        // The env's limit passes a chunked body: its size is the upstream's to check.
        ("/other", 20_000, true, 200, true),
    ];
    for (path, bytes, chunked, status, reaches) in cases {
        let before = upstream();
        let r = post(&h, path, bytes, chunked);
        let what = format!("{path}, {bytes} bytes, chunked: {chunked}");
        assert_eq!(r.status, status, "{what}: {r:?}");
        assert_eq!(
            upstream() > before,
            reaches,
            "{what}: reached the upstream?"
        );
        if reaches {
            assert_eq!(
                r.echoed("body-bytes"),
                Some(bytes.to_string().as_str()),
                "{what}: the whole body goes on"
            );
        }
        if status == 411 {
            assert!(r.body.contains("Length Required"), "{what}: {r:?}");
        }
        // `edgeplan route` says the same of the request's headers.
        let header = if chunked {
            "Transfer-Encoding=chunked".to_string()
        } else {
            format!("Content-Length={bytes}")
        };
        let ex = edgeplan::route::explain(
            &build.routing,
            &edgeplan::route::Request::parse(
                &format!("http://app.example.test{path}"),
                &[],
                &[header],
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(ex.status.unwrap_or(200), status, "route, {what}");
    }
}

#[test]
fn a_client_over_its_rate_gets_429_others_do_not_and_a_reload_keeps_the_count() {
    let (_tmp, build) = super::lab(SPEC);
    let h = Stage::new(&build, Mode::Live).start();
    let get = |from: &str| super::request_from(&h, "http", "app.example.test", from, "/login", &[]);
    for i in 1..=3 {
        assert_eq!(
            get("127.0.0.1").status,
            200,
            "request {i} is within the rate"
        );
    }
    let r = get("127.0.0.1");
    assert_eq!(r.status, 429, "{r:?}");
    assert_eq!(r.header("retry-after"), Some("60"), "{r:?}");
    assert_eq!(
        get("127.0.0.2").status,
        200,
        "another client has its own count"
    );
    // Other routes are not limited.
    let other = super::request_from(&h, "http", "app.example.test", "127.0.0.1", "/x", &[]);
    assert_eq!(other.status, 200);

    // A reload: the old process teaches its table to the new one through the local peer. A
    // process takes part once its own start-up sync is over (haproxy waits up to 5 s for an
    // older process to teach it, `resync_timeout`), so wait for that first.
    wait_synced(&h);
    let before = h.master("show proc");
    let answer = h.master("reload");
    assert!(!answer.contains("Failed"), "{answer}");
    wait_new_worker(&h, &before);
    let table = h.admin("show table rate.env.app.login");
    assert!(
        table.contains("key=::ffff:127.0.0.1 ") && table.contains("http_req_rate(60000)=4"),
        "the new process holds the client's count:\n{table}"
    );
    let r = get("127.0.0.1");
    assert_eq!(r.status, 429, "still over the rate after the reload: {r:?}");
}

/// Wait until the current worker's local peer has finished its start-up sync (`show peers`:
/// `resync_timeout=<PAST>`), after 30 s as it is (a hang guard, no claim about speed).
fn wait_synced(h: &Haproxy) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !h.admin("show peers").contains("resync_timeout=<PAST>") {
        assert!(
            std::time::Instant::now() < until,
            "{}",
            h.admin("show peers")
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Wait until the master lists a worker that `before` (`show proc`) did not, and the old
/// one has taught its tables (the new worker's `show peers` says the sync is over).
fn wait_new_worker(h: &Haproxy, before: &str) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let pids = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| l.contains("worker"))
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect()
    };
    let old = pids(before);
    loop {
        // The master re-executes itself on a reload: its socket refuses until it is back.
        let now = h.try_master("show proc").unwrap_or_default();
        if pids(&now).iter().any(|p| !old.contains(p)) {
            break;
        }
        assert!(std::time::Instant::now() < until, "no new worker:\n{now}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    wait_synced(h);
}

/// Both `Content-Length` and `Transfer-Encoding` (a smuggling shape): the latter frames the
/// body and haproxy drops the former (RFC 9112 section 6.3) — a chunked body, refused where
/// chunked bodies are, whatever length it claims; `route` says the same.
#[test]
fn a_request_with_both_framing_headers_is_a_chunked_one() {
    let (_tmp, build) = super::lab(SPEC);
    let h = Stage::new(&build, Mode::Live).start();
    let port = h.port("http");
    for (path, length, status) in [
        ("/upload/a", 10, 411),
        ("/upload/a", 5000, 411),
        ("/x", 5000, 200),
    ] {
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: app.example.test\r\nContent-Length: {length}\r\n\
             Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        );
        let r = super::raw_response(port, &req).unwrap();
        assert_eq!(r.status, status, "{path}, Content-Length {length}: {r:?}");
        let ex = edgeplan::route::explain(
            &build.routing,
            &edgeplan::route::Request::parse(
                &format!("http://app.example.test{path}"),
                &[],
                &[
                    format!("Content-Length={length}"),
                    "Transfer-Encoding=chunked".into(),
                ],
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(ex.status.unwrap_or(200), status, "route, {path} {length}");
    }
}

/// Over HTTP/2 a body of no declared length has no `Transfer-Encoding`: where chunked bodies
/// are refused, a POST/PUT/PATCH without `content-length` is refused; where they pass, it
/// reaches the upstream whole; a declared one over the limit is refused. A refusal while the
/// client is still sending reaches it, with haproxy 2.6, as a stream reset (RST_STREAM CANCEL,
/// curl's exit 92) rather than the status: either way nothing reaches the upstream.
#[test]
fn an_http2_upload_without_a_declared_length_follows_the_chunked_choice() {
    let (_tmp, build) = super::lab(
        r#"edge "limits-h2-lab"
listen http="*:80" https="*:443"
tls cert-dir="/etc/haproxy/certs"
acme email="ops@example.org" directory="staging" {
    certificate "app.example.test" hosts-of="app"
}
admin-socket "/run/haproxy/admin.sock" mode="600"
env "app" {
    hosts "app.example.test"
    max-body "4k"
    component "web" port=8080 {
        instance "w-1" color="blue" address="w-1.lxd"
        instance "w-2" color="green" address="w-2.lxd"
    }
    route "upload" to="web" {
        prefix "/upload/"
        max-body "1k" chunked="refuse"
    }
}
"#,
    );
    let h = Stage::new(&build, Mode::Live).start();
    let port = h.port("https");
    let upstream = || h.stand_in("app_web_pool", "w-1").client_requests().len();
    // (path, bytes, streamed without a length, status)
    for (path, bytes, streamed, status) in [
        ("/upload/a", 10, true, 411),
        ("/upload/a", 200_000, false, 413),
        ("/upload/a", 500, false, 200),
        ("/upload/a", 500, true, 411),
        ("/other", 20_000, true, 200),
    ] {
        let before = upstream();
        let mut cmd = Command::new("curl");
        // --max-time: a hang guard, no claim about speed.
        cmd.args([
            "-sS",
            "-k",
            "--http2",
            "--max-time",
            "30",
            "-D",
            "-",
            "-w",
            "%{http_version}",
        ])
        .arg("--resolve")
        .arg(format!("app.example.test:{port}:127.0.0.1"));
        // `-T -` streams stdin without a length (PUT); `--data-binary @-` declares it (POST).
        cmd.args(if streamed {
            ["-T", "-"]
        } else {
            ["--data-binary", "@-"]
        });
        cmd.arg(format!("https://app.example.test:{port}{path}"));
        let out = with_body(&mut cmd, bytes);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        let what = format!("{path}, {bytes} bytes, streamed: {streamed}");
        if status == 200 {
            assert!(text.ends_with('2'), "{what}: not over HTTP/2: {text}{err}");
            let r = super::parse_response(text.trim_end_matches('2')).unwrap();
            assert_eq!(r.status, status, "{what}: {r:?}");
            assert_eq!(
                r.echoed("body-bytes"),
                Some(bytes.to_string().as_str()),
                "{what}"
            );
            continue;
        }
        assert_eq!(upstream(), before, "{what}: refused, nothing goes upstream");
        if out.status.success() {
            let r = super::parse_response(text.trim_end_matches('2')).unwrap();
            assert_eq!(r.status, status, "{what}: {r:?}");
        } else {
            assert!(
                out.status.code() == Some(92) && err.contains("CANCEL"),
                "{what}: neither the status nor a stream reset: {err}"
            );
        }
    }
}
