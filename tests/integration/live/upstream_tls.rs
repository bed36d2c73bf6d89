//! TLS to backends under real haproxy (issue 22): an outside backend served by `openssl
//! s_server` with a certificate of a CA the test makes — accepted when the edge verifies
//! against that CA and the name, refused (503) against another CA or another name; a server
//! that requires a client certificate (`s_server -Verify`) accepts the edge's and refuses the
//! edge without one (503, or 502 when the TLS 1.3 refusal arrives after the handshake).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Mode, Stage};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA `name` (`name.key`, `name.pem`) in `dir`.
fn ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

/// A leaf `name` for DNS name `cn` signed by CA `by` (`name.key`, `name.crt`, and both in
/// `name.pem`).
fn leaf(dir: &Path, name: &str, cn: &str, by: &str) {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            &format!("/CN={cn}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ],
    );
    std::fs::write(
        dir.join(format!("{name}.ext")),
        format!("subjectAltName=DNS:{cn}\n"),
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{by}.pem"),
            "-CAkey",
            &format!("{by}.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.crt"),
        ],
    );
    let pem = std::fs::read_to_string(dir.join(format!("{name}.crt"))).unwrap()
        + &std::fs::read_to_string(dir.join(format!("{name}.key"))).unwrap();
    std::fs::write(dir.join(format!("{name}.pem")), pem).unwrap();
}

/// `openssl s_server -www` on a free loopback port with `cert`; `verify_ca`: require a client
/// certificate of that CA. Killed by PID on drop.
struct SServer {
    child: Child,
    port: u16,
}

impl SServer {
    fn start(dir: &Path, cert: &str, verify_ca: Option<&str>) -> SServer {
        crate::ports::retry("openssl s_server", || {
            let port = crate::ports::free_port();
            let mut cmd = Command::new("openssl");
            cmd.args(["s_server", "-quiet", "-www", "-accept"])
                .arg(format!("127.0.0.1:{port}"))
                .args([
                    "-cert",
                    &format!("{cert}.crt"),
                    "-key",
                    &format!("{cert}.key"),
                ])
                .current_dir(dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            if let Some(ca) = verify_ca {
                cmd.args(["-Verify", "1", "-CAfile", &format!("{ca}.pem")]);
            }
            let mut child = cmd.spawn().unwrap();
            let start = Instant::now();
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                if let Some(status) = child.try_wait().unwrap() {
                    let mut err = String::new();
                    use std::io::Read;
                    let _ = child.stderr.take().unwrap().read_to_string(&mut err);
                    if err.contains("in use") {
                        return Err(crate::ports::PortTaken(err));
                    }
                    panic!("s_server exited ({status}): {err}");
                }
                // A hang guard, no claim about speed.
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "s_server did not listen"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(SServer { child, port })
        })
    }
}

impl Drop for SServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The status of a request through an edge whose outside backend `tls` node is `tls`, to the
/// s_server on `port`; and haproxy's log.
fn through(port: u16, tls: &str) -> (u16, String) {
    let (_tmp, build) = super::lab(&format!(
        r#"edge "upstream-tls-lab"
listen http="*:80"
admin-socket "/run/haproxy/admin.sock" mode="600"
outside "backend" address="127.0.0.1:{port}" {{
    hosts "app.example.test"
    {tls}
}}
"#
    ));
    let h = Stage::new(&build, Mode::Live).start();
    let r = super::request_from(&h, "http", "app.example.test", "127.0.0.1", "/", &[]);
    let log = h.wait_log(|l| l.contains("GET / HTTP/1.1"));
    (r.status, log)
}

#[test]
fn tls_to_a_backend_is_verified_by_ca_and_name_and_mtls_needs_the_edges_certificate() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    ca(dir, "ca1");
    ca(dir, "ca2");
    ca(dir, "clients");
    leaf(dir, "server", "backend.test", "ca1");
    leaf(dir, "edge", "edge.test", "clients");
    let p = |f: &str| dir.join(f).display().to_string();

    let plain = SServer::start(dir, "server", None);
    let (ok, log) = through(
        plain.port,
        &format!("tls ca-file=\"{}\" sni=\"backend.test\"", p("ca1.pem")),
    );
    assert_eq!(ok, 200, "verified against its CA and name\n{log}");
    let (other_ca, log) = through(
        plain.port,
        &format!("tls ca-file=\"{}\" sni=\"backend.test\"", p("ca2.pem")),
    );
    assert_eq!(
        other_ca, 503,
        "a certificate of another CA is refused\n{log}"
    );
    assert!(log.contains(" 503 "), "the refusal is logged\n{log}");
    let (other_name, log) = through(
        plain.port,
        &format!("tls ca-file=\"{}\" sni=\"other.test\"", p("ca1.pem")),
    );
    assert_eq!(
        other_name, 503,
        "a certificate for another name is refused\n{log}"
    );
    let (unverified, _) = through(plain.port, "tls verify=\"none\"");
    assert_eq!(unverified, 200, "verify none: encrypted, not checked");

    let mtls = SServer::start(dir, "server", Some("clients"));
    let (with_cert, log) = through(
        mtls.port,
        &format!(
            "tls ca-file=\"{}\" sni=\"backend.test\" client-certificate=\"{}\"",
            p("ca1.pem"),
            p("edge.pem")
        ),
    );
    assert_eq!(
        with_cert, 200,
        "the edge's client certificate is accepted\n{log}"
    );
    let (without, log) = through(
        mtls.port,
        &format!("tls ca-file=\"{}\" sni=\"backend.test\"", p("ca1.pem")),
    );
    // Refused: 503 when the handshake fails, 502 when (TLS 1.3) the server's refusal comes
    // after it, as the request goes out — either way no page of the server.
    assert!(
        without == 502 || without == 503,
        "without a client certificate: refused, got {without}\n{log}"
    );
}
