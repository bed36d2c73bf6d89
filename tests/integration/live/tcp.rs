//! TCP services under real haproxy (issue 22): a real OpenSSH client runs a command and clones a
//! git repository through haproxy's TCP listener on a real sshd; the banner check marks a
//! server that stops answering DOWN and back UP.

use std::process::Command;
use std::time::{Duration, Instant};

use super::{Haproxy, Mode, Stage};
use crate::edgebox::Sshd;

fn spec(sshd_port: u16) -> String {
    format!(
        r#"edge "tcp-lab"
listen http="*:80"
admin-socket "/run/haproxy/admin.sock" mode="600"
health interval="200ms" fall=2 rise=1
tcp "git-ssh" bind="*:22" balance="roundrobin" timeout="10m" maxconn=50 {{
    server "127.0.0.1:{sshd_port}"
    check expect="SSH-"
}}
env "app" {{
    hosts "app.example.test"
    component "web" port=8080 {{
        instance "w-1" color="blue" address="w-1.lxd"
        instance "w-2" color="green" address="w-2.lxd"
    }}
}}
"#
    )
}

/// `ssh` to root on haproxy's port `port` with the sshd's client key, trusting its host key
/// there.
fn ssh(sshd: &Sshd, port: u16) -> Command {
    let d = sshd.dir.path();
    let host_pub = std::fs::read_to_string(d.join("host.pub")).unwrap();
    let mut parts = host_pub.split_whitespace();
    let known = d.join(format!("known_hosts_{port}"));
    std::fs::write(
        &known,
        format!(
            "[127.0.0.1]:{port} {} {}\n",
            parts.next().unwrap(),
            parts.next().unwrap()
        ),
    )
    .unwrap();
    let mut cmd = Command::new("ssh");
    cmd.args(["-p", &port.to_string(), "-i"])
        .arg(d.join("id"))
        .args([
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "LogLevel=ERROR",
            // A hang guard, no claim about speed.
            "-o",
            "ConnectTimeout=30",
        ])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", known.display()));
    cmd
}

/// The status of the TCP service's server in `show stat`.
fn status(h: &Haproxy) -> String {
    h.stats()
        .iter()
        .find(|r| {
            r.get("pxname").map(String::as_str) == Some("tcp_git-ssh")
                && r.get("svname").map(String::as_str) == Some("s1")
        })
        .and_then(|r| r.get("status").cloned())
        .unwrap_or_default()
}

/// Wait until the server's status starts with `want`; how long it took (a hang guard of 30 s,
/// no claim about speed).
fn wait_status(h: &Haproxy, want: &str) -> Duration {
    let start = Instant::now();
    while !status(h).starts_with(want) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "server not {want}: {}\n{}",
            status(h),
            h.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

#[test]
fn ssh_and_git_go_through_the_tcp_service_and_the_banner_check_follows_the_server() {
    let root = tempfile::tempdir().unwrap();
    let sshd = Sshd::start(root.path());
    let (_tmp, build) = super::lab(&spec(sshd.port));
    let cfg = build.cfg();
    assert!(cfg.contains("    mode tcp\n    bind :22\n"), "{cfg}");
    assert!(cfg.contains("tcp-check expect string \"SSH-\""), "{cfg}");
    let h = Stage::new(&build, Mode::Live).start();
    let port = h.port("tcp_git-ssh");
    wait_status(&h, "UP");
    // `edgeplan route` says which section takes the connection: the one used below.
    let ex = edgeplan::route::explain_tcp(&build.edge, "tcp://git.example.org:22").unwrap();
    assert_eq!(ex.outcome, "forward");
    assert_eq!(
        ex.service.as_ref().map(|s| s.section.as_str()),
        Some("tcp_git-ssh")
    );
    let none = edgeplan::route::explain_tcp(&build.edge, "tcp://git.example.org:2200").unwrap();
    assert_eq!(none.outcome, "no_listener");

    // A command through the edge.
    let out = ssh(&sshd, port)
        .args(["root@127.0.0.1", "echo", "through-the-edge"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ssh failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        h.log()
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "through-the-edge"
    );

    // A git clone over ssh of a local bare repository, when git is here.
    if Command::new("git").arg("--version").output().is_ok() {
        let work = tempfile::tempdir().unwrap();
        let w = work.path();
        let git = |args: &[&str], dir: &std::path::Path| {
            let out = Command::new("git")
                .args(args)
                .current_dir(dir)
                .env("GIT_AUTHOR_NAME", "t")
                .env("GIT_AUTHOR_EMAIL", "t@example.org")
                .env("GIT_COMMITTER_NAME", "t")
                .env("GIT_COMMITTER_EMAIL", "t@example.org")
                .env(
                    "GIT_SSH_COMMAND",
                    format!(
                        "ssh -p {port} -i {} -o IdentitiesOnly=yes -o BatchMode=yes \
                         -o StrictHostKeyChecking=yes -o UserKnownHostsFile={}",
                        sshd.dir.path().join("id").display(),
                        sshd.dir
                            .path()
                            .join(format!("known_hosts_{port}"))
                            .display()
                    ),
                )
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "git {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        std::fs::create_dir_all(w.join("src")).unwrap();
        git(&["init", "-q", "-b", "main"], &w.join("src"));
        std::fs::write(w.join("src/README"), "cloned through the edge\n").unwrap();
        git(&["add", "README"], &w.join("src"));
        git(&["commit", "-q", "-m", "first"], &w.join("src"));
        git(&["clone", "-q", "--bare", "src", "repo.git"], w);
        let url = format!("root@127.0.0.1:{}", w.join("repo.git").display());
        git(&["clone", "-q", &url, "clone"], w);
        assert_eq!(
            std::fs::read_to_string(w.join("clone/README")).unwrap(),
            "cloned through the edge\n"
        );
    }

    // A server that accepts connections but says nothing (stopped): the banner check marks it
    // DOWN; resumed, UP again. SIGSTOP/SIGCONT to the sshd this test started, by its PID.
    let pid = std::fs::read_to_string(sshd.dir.path().join("sshd.pid"))
        .unwrap()
        .trim()
        .to_string();
    let signal = |sig: &str| {
        assert!(
            Command::new("kill")
                .args([sig, &pid])
                .status()
                .unwrap()
                .success()
        );
    };
    signal("-STOP");
    let down = wait_status(&h, "DOWN");
    signal("-CONT");
    let up = wait_status(&h, "UP");
    println!(
        "banner check (inter 200ms, fall 2, rise 1): DOWN after {} ms, UP again after {} ms",
        down.as_millis(),
        up.as_millis()
    );
}

/// PROXY protocol v2 between two edges: the outer one's TCP service sends it
/// (`send-proxy="v2"`), the inner one reads it from its trusted network (`listen …
/// accept-proxy=#true`) — the inner edge's log and its upstream see the original client's
/// address; a PROXY header from a source that is not trusted is not read and fails as HTTP
/// (400), and nothing reaches the upstream.
#[test]
fn proxy_v2_carries_the_client_address_and_a_spoofed_header_is_refused() {
    let (_tmp_b, inner) = super::lab(
        r#"edge "inner"
listen http="*:80" accept-proxy=#true
trusted "127.0.0.1"
access-log format="json"
admin-socket "/run/haproxy/admin.sock" mode="600"
env "app" {
    hosts "app.example.test"
    component "web" port=8080 {
        instance "w-1" color="blue" address="w-1.lxd"
        instance "w-2" color="green" address="w-2.lxd"
    }
}
"#,
    );
    let cfg = inner.cfg();
    assert!(
        cfg.contains("tcp-request connection expect-proxy layer4 if { src 127.0.0.1/32 }"),
        "{cfg}"
    );
    let b = Stage::new(&inner, Mode::Live).start();
    let b_port = b.port("http");
    let (_tmp_a, outer) = super::lab(&format!(
        r#"edge "outer"
listen http="*:80"
admin-socket "/run/haproxy/admin.sock" mode="600"
health interval="200ms" fall=2 rise=1
tcp "to-inner" bind="*:8080" send-proxy="v2" {{
    server "127.0.0.1:{b_port}"
    // The inner edge answers a line that is not HTTP with 400 — if the check's connection
    // started with a PROXY header (else, from its trusted network, it is dropped unanswered).
    check send="X" expect="HTTP/1.1 400"
}}
env "app" {{
    hosts "app.example.test"
    component "web" port=8080 {{
        instance "w-1" color="blue" address="w-1.lxd"
        instance "w-2" color="green" address="w-2.lxd"
    }}
}}
"#
    ));
    let a = Stage::new(&outer, Mode::Live).start();
    let a_port = a.port("tcp_to-inner");
    // Health checks carry the PROXY header too: the server comes UP.
    let start = Instant::now();
    loop {
        let up = a.stats().iter().any(|r| {
            r.get("pxname").map(String::as_str) == Some("tcp_to-inner")
                && r.get("status").is_some_and(|s| s == "UP")
        });
        if up {
            break;
        }
        // A hang guard, no claim about speed.
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the check never passed: {:?}\n{}",
            a.stats(),
            a.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let upstream = || b.stand_in("app_web_pool", "w-1").client_requests().len();

    // A request for app.example.test to loopback `port`, from `from`, with `extra` curl args.
    let get = |from: &str, port: u16, path: &str, extra: &[&str]| {
        let mut cmd = Command::new("curl");
        // --max-time: a hang guard, no claim about speed.
        cmd.args(["-sS", "--max-time", "30", "-D", "-", "--interface", from])
            .args(extra)
            .args(["-H", "Host: app.example.test"])
            .arg(format!("http://127.0.0.1:{port}{path}"));
        super::curl_response(&mut cmd, path).unwrap()
    };

    // Through the outer edge, from 127.0.0.3.
    let r = get("127.0.0.3", a_port, "/via-proxy", &[]);
    assert_eq!(r.status, 200, "{r:?}\n{}", b.log());
    assert_eq!(r.echoed("x-forwarded-for"), Some("127.0.0.3"), "{r:?}");
    let log = b.wait_log(|l| l.contains("/via-proxy"));
    let line = log
        .lines()
        .find(|l| l.contains("/via-proxy"))
        .and_then(|l| l.find("{\"time\":").map(|i| l[i..].to_string()))
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        v["client"], "127.0.0.3",
        "the inner edge logs the client: {line}"
    );

    // A PROXY header straight from a source that is not trusted (curl's own, from
    // 127.0.0.4): not read, so it fails as an HTTP request line — 400 — and nothing reaches
    // the upstream.
    let before = upstream();
    let r = get("127.0.0.4", b_port, "/spoofed", &["--haproxy-protocol"]);
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(upstream(), before, "nothing reaches the upstream");
    drop(a);
}
