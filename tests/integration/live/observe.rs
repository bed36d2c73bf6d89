//! Metrics and access logs under real haproxy (issue 21): the Prometheus exporter answers the
//! allowed network only and its page parses as Prometheus text; the JSON access log stays valid
//! JSON for hostile request values (quotes, backslashes, `]`, control and non-UTF-8 bytes,
//! values longer than a log line); a UDP syslog target receives the lines.

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::Duration;

use super::{Mode, Stage};

fn spec(log_target: &str) -> String {
    format!(
        r#"edge "observe-lab"
listen http="*:80" https="*:443"
tls cert-dir="/etc/haproxy/certs"
acme email="ops@example.org" directory="staging" {{
    certificate "app.example.test" hosts-of="app"
}}
admin-socket "/run/haproxy/admin.sock" mode="600"
request-id header="X-Request-ID"
access-log format="json"{log_target}
metrics bind="127.0.0.1:8405" path="/metrics" {{
    allow "127.0.0.2/32"
}}
env "app" {{
    hosts "app.example.test" plain-http=#true
    component "web" port=8080 {{
        instance "w-1" color="blue" address="w-1.lxd"
        instance "w-2" color="green" address="w-2.lxd"
    }}
}}
"#
    )
}

/// Check `text` is the Prometheus text exposition format (version 0.0.4: `# HELP`/`# TYPE`
/// comments, `name{{label="value",…}} value` samples); return the samples as (name with
/// labels, value).
fn parse_prometheus(text: &str) -> Vec<(String, f64)> {
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(c) = line.strip_prefix("# ") {
            let mut f = c.split_whitespace();
            let kind = f.next().unwrap_or_default();
            assert!(
                matches!(kind, "HELP" | "TYPE"),
                "comment neither HELP nor TYPE: {line}"
            );
            assert!(f.next().is_some_and(name_ok), "bad metric name: {line}");
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let name = series.split('{').next().unwrap();
        assert!(name_ok(name), "bad metric name: {line}");
        if let Some(labels) = series.strip_prefix(name)
            && !labels.is_empty()
        {
            let inner = labels
                .strip_prefix('{')
                .and_then(|l| l.strip_suffix('}'))
                .unwrap_or_else(|| panic!("bad labels: {line}"));
            for pair in inner.split("\",").filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once("=\"").unwrap_or_else(|| panic!("{line}"));
                assert!(name_ok(k), "bad label name `{k}`: {line}");
                assert!(!v.contains('\n'), "{line}");
            }
        }
        let v: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("value `{v}` is not a number: {line}")),
        };
        out.push((series.to_string(), v));
    }
    out
}

#[test]
fn metrics_answer_the_allowed_network_only_and_parse_as_prometheus_text() {
    let (_tmp, build) = super::lab(&spec(""));
    let h = Stage::new(&build, Mode::Live).start();
    for _ in 0..3 {
        let r = super::request_from(&h, "http", "app.example.test", "127.0.0.1", "/x", &[]);
        assert_eq!(r.status, 200);
    }
    let port = h.port("metrics");
    let scrape = |from: &str, path: &str| {
        let mut cmd = std::process::Command::new("curl");
        // --max-time: a hang guard, no claim about speed.
        cmd.args(["-sS", "--max-time", "30", "-D", "-", "--interface", from])
            .arg(format!("http://127.0.0.1:{port}{path}"));
        super::curl_response(&mut cmd, "metrics").unwrap()
    };
    let r = scrape("127.0.0.2", "/metrics");
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/plain")),
        "{r:?}"
    );
    let samples = parse_prometheus(&r.body);
    let requests = samples
        .iter()
        .find(|(s, _)| s == "haproxy_frontend_http_requests_total{proxy=\"http\"}")
        .unwrap_or_else(|| panic!("no request count of frontend http:\n{}", r.body));
    assert!(requests.1 >= 3.0, "{requests:?}");
    assert!(
        samples.iter().any(
            |(s, v)| s.starts_with("haproxy_server_status{proxy=\"app_web_pool\"") && *v >= 0.0
        ),
        "the pool's servers are reported"
    );
    assert_eq!(scrape("127.0.0.1", "/metrics").status, 403, "not allowed");
    assert_eq!(scrape("127.0.0.2", "/other").status, 404);
}

/// Send raw request bytes (`Connection: close`) to loopback `port`; the status code.
fn raw(port: u16, request: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    // A hang guard, no claim about speed.
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

#[test]
fn json_log_lines_parse_whatever_the_request_carries() {
    let (_tmp, build) = super::lab(&spec(""));
    let h = Stage::new(&build, Mode::Live).start();
    let port = h.port("http");
    let long_referer = "\"".repeat(5000);
    let long_path = format!("/{}", "\\".repeat(3000));
    let hostile_ua: &[u8] = b"a\"b\\c]d\x01e\te{f}|g\xc3\xa9h\xff (KHTML, like Gecko)";
    let mut requests: Vec<Vec<u8>> = vec![
        [
            b"GET /p\"a]th?x=\\y HTTP/1.1\r\nHost: app.example.test\r\nUser-Agent: ".as_slice(),
            hostile_ua,
            b"\r\nX-Request-ID: forged\"]\r\nConnection: close\r\n\r\n",
        ]
        .concat(),
        format!(
            "GET / HTTP/1.1\r\nHost: app.example.test\r\nReferer: {long_referer}\r\nConnection: close\r\n\r\n"
        )
        .into_bytes(),
        format!("GET {long_path} HTTP/1.1\r\nHost: app.example.test\r\nConnection: close\r\n\r\n")
            .into_bytes(),
    ];
    requests
        .push(b"GET / HTTP/1.1\r\nHost: app.example.test\r\nConnection: close\r\n\r\n".to_vec());
    let mut ids = Vec::new();
    for req in &requests {
        let (status, text) = raw(port, req);
        assert_eq!(status, 200, "{text}");
        let id = text
            .lines()
            .find_map(|l| l.strip_prefix("x-request-id: "))
            .expect("a request id")
            .trim()
            .to_string();
        ids.push(id);
    }
    // And one over HTTP/2 (https).
    let h2 = {
        let port = h.port("https");
        let mut cmd = std::process::Command::new("curl");
        // --max-time: a hang guard, no claim about speed.
        cmd.args(["-sS", "-k", "--http2", "--max-time", "30", "-D", "-"])
            .arg("--resolve")
            .arg(format!("app.example.test:{port}:127.0.0.1"))
            .arg(format!("https://app.example.test:{port}/over-h2"));
        super::curl_response(&mut cmd, "over HTTP/2").unwrap()
    };
    assert_eq!(h2.status, 200);
    ids.push(h2.header("x-request-id").unwrap_or_default().to_string());
    let count = requests.len() + 1;
    let lines = |log: &str| -> Vec<String> {
        log.lines()
            .filter_map(|l| l.find("{\"time\":").map(|i| l[i..].to_string()))
            .collect()
    };
    let log = h.wait_log(|l| lines(l).len() >= count);
    let parsed: Vec<serde_json::Value> = lines(&log)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}):\n{l}")))
        .collect();
    assert_eq!(parsed.len(), count, "{log}");
    for l in lines(&log) {
        assert!(
            l.len() <= edgeplan::rules::LOG_LEN as usize,
            "{} bytes: {l}",
            l.len()
        );
    }
    let field = |i: usize, k: &str| parsed[i][k].as_str().unwrap_or_default().to_string();
    // Bytes that are not UTF-8 are dropped; everything else is kept, escaped.
    // Commas kept (a header read whole, not split as a list).
    assert_eq!(
        field(0, "user_agent"),
        "a\"b\\c]d\u{1}e\te{f}|g\u{e9}h (KHTML, like Gecko)"
    );
    assert_eq!(field(0, "version"), "HTTP/1.1");
    assert_eq!(field(4, "version"), "HTTP/2.0");
    assert_eq!(field(4, "uri"), "/over-h2");
    assert_eq!(field(0, "uri"), "/p\"a]th?x=\\y");
    assert_eq!(field(0, "method"), "GET");
    assert_eq!(field(0, "host"), "app.example.test");
    assert_eq!(field(0, "backend"), "app_web_pool");
    assert_eq!(parsed[0]["status"].as_u64(), Some(200));
    // A client's own id is replaced; the logged one is the one it got back.
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(&field(i, "request_id"), id, "line {i}");
        assert_ne!(id, "forged\"]");
    }
    // Long values are cut (headers 128 bytes, URI 640), the line stays whole JSON.
    assert_eq!(field(1, "referer"), "\"".repeat(128));
    assert_eq!(field(2, "uri"), format!("/{}", "\\".repeat(639)));
    assert_eq!(field(3, "referer"), "-", "an absent header");
}

#[test]
fn a_udp_syslog_target_receives_the_json_lines() {
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    // A hang guard, no claim about speed.
    sink.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let at = sink.local_addr().unwrap();
    let (_tmp, build) = super::lab(&spec(&format!(" target=\"{at}\" facility=\"local3\"")));
    let h = Stage::new(&build, Mode::Live).start();
    let r = super::request_from(&h, "http", "app.example.test", "127.0.0.1", "/via-udp", &[]);
    assert_eq!(r.status, 200);
    let mut buf = [0u8; 65536];
    loop {
        let n = sink.recv(&mut buf).expect("a syslog datagram");
        let msg = String::from_utf8_lossy(&buf[..n]).to_string();
        let Some(i) = msg.find("{\"time\":") else {
            continue; // haproxy's own notices
        };
        // RFC 3164 framing: `<PRI>`, facility local3 (19) × 8 + severity info (6) = 158.
        assert!(msg.starts_with("<158>"), "{msg}");
        let v: serde_json::Value = serde_json::from_str(msg[i..].trim_end()).unwrap();
        if v["uri"] == "/via-udp" {
            assert_eq!(v["status"].as_u64(), Some(200));
            break;
        }
    }
}
