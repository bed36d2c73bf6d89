//! The live rig of the traffic tests (switch, gate, probes, canary, preview): stand-in upstreams
//! that answer with their identity ([`StandIn`]), clients that send requests back to back and
//! record each answer ([`Load`]), and a local box applied and served by a real haproxy with two
//! envs whose blue and green instances are stand-ins ([`Live`]).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::edgebox::{Edgebox, Haproxy};

// ---------------------------------------------------------------------------------------------
// Stand-ins and clients

/// One colour of one env: answers every request with `200` and `served-by: ENV/COLOR`, after
/// `delay` for requests that came through haproxy (so some are always in flight).
pub(crate) struct StandIn {
    pub(crate) port: u16,
    /// Requests that came through haproxy (health checks not counted).
    pub(crate) served: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    /// The status it answers (200 unless a test says otherwise).
    pub(crate) status: Arc<std::sync::atomic::AtomicU16>,
    /// Requests for paths under this prefix are answered 502 (a broken route of the app).
    pub(crate) broken: Arc<std::sync::Mutex<Option<String>>>,
}

impl StandIn {
    fn start(id: &str, delay: Duration) -> StandIn {
        StandIn::serve(crate::ports::listener(), id, delay)
    }

    /// On `port` again (one this test had; retried while the old listener closes).
    pub(crate) fn start_at(port: u16, id: &str) -> StandIn {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match std::net::TcpListener::bind(("127.0.0.1", port)) {
                Ok(l) => return StandIn::serve(l, id, Duration::from_millis(15)),
                Err(e) if Instant::now() > deadline => panic!("port {port}: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    fn serve(listener: std::net::TcpListener, id: &str, delay: Duration) -> StandIn {
        let port = listener.local_addr().unwrap().port();
        let served = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let status = Arc::new(std::sync::atomic::AtomicU16::new(200));
        let broken = Arc::new(std::sync::Mutex::new(None::<String>));
        let (s, st, id) = (served.clone(), stop.clone(), id.to_string());
        let answer = status.clone();
        let broken_at = broken.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut c) = conn else { continue };
                let (s, id) = (s.clone(), id.clone());
                let code = answer.load(Ordering::SeqCst);
                let broken = broken_at.lock().unwrap().clone();
                std::thread::spawn(move || {
                    let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match c.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
                    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let code = match &broken {
                        Some(prefix) if path.starts_with(prefix.as_str()) => 502,
                        _ => code,
                    };
                    if head.contains("\r\nx-forwarded-for:") {
                        s.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(delay);
                    }
                    let body = format!("served-by: {id}\n");
                    let _ = c.write_all(
                        format!(
                            "HTTP/1.1 {code} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        )
                        .as_bytes(),
                    );
                });
            }
        });
        StandIn {
            port,
            served,
            stop,
            status,
            broken,
        }
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// A response: status, who served it, the cookies set.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) served_by: Option<String>,
    pub(crate) set_cookies: Vec<String>,
}

/// One request on a new connection (`Connection: close`).
pub(crate) fn request(port: u16, host: &str, cookie: Option<&str>) -> Result<Reply, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let cookie = cookie.map_or(String::new(), |c| format!("Cookie: {c}\r\n"));
    let req = format!("GET / HTTP/1.1\r\nHost: {host}\r\n{cookie}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&resp).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no status line in {text:?}"))?;
    let set_cookies = head
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("set-cookie")
                .then(|| v.trim().split(';').next().unwrap_or("").to_string())
        })
        .collect();
    let served_by = body
        .lines()
        .find_map(|l| l.strip_prefix("served-by: "))
        .map(str::to_string);
    Ok(Reply {
        status,
        served_by,
        set_cookies,
    })
}

/// One request of a load loop.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub(crate) start: Instant,
    pub(crate) result: Result<Reply, String>,
}

impl Sample {
    pub(crate) fn ok(&self) -> bool {
        matches!(&self.result, Ok(r) if r.status == 200)
    }
    pub(crate) fn served_by(&self) -> Option<&str> {
        self.result.as_ref().ok()?.served_by.as_deref()
    }
}

/// Clients sending requests for `host` back to back until stopped.
pub(crate) struct Load {
    stop: Arc<AtomicBool>,
    /// Requests answered so far (live).
    answered: Arc<AtomicUsize>,
    threads: Vec<JoinHandle<Vec<Sample>>>,
}

impl Load {
    pub(crate) fn start(port: u16, host: &str, clients: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicUsize::new(0));
        let threads = (0..clients)
            .map(|_| {
                let (stop, host, n) = (stop.clone(), host.to_string(), answered.clone());
                std::thread::spawn(move || {
                    let mut out = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let start = Instant::now();
                        let result = request(port, &host, None);
                        out.push(Sample { start, result });
                        n.fetch_add(1, Ordering::SeqCst);
                    }
                    out
                })
            })
            .collect();
        Load {
            stop,
            answered,
            threads,
        }
    }

    /// Wait until `n` more requests were answered than now ([`crate::common::wait_count`]).
    pub(crate) fn wait_answered(&self, n: usize) {
        crate::common::wait_count(&self.answered, n);
    }

    pub(crate) fn stop(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        self.threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect()
    }
}

pub(crate) fn count_by(samples: &[Sample]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for s in samples {
        *m.entry(s.served_by().unwrap_or("-").to_string())
            .or_insert(0) += 1;
    }
    m
}

// ---------------------------------------------------------------------------------------------
// The live box

/// Specs of the live edge: staging and prod, one sticky component each, whose blue and green
/// instances are the stand-ins; health checks every 200 ms, sessions of a server marked down cut
/// (`shutdown-sessions`, as in the bundled specs).
fn live_specs(
    port: u16,
    dir: &std::path::Path,
    ports: &BTreeMap<String, u16>,
    health: &str,
    (edge_extra, staging_extra): (&str, &str),
) -> Vec<(String, String)> {
    let edge = format!(
        r#"edge "switch-edge"
{edge_extra}
listen http="127.0.0.1:{port}"
admin-socket "/run/admin.sock" mode="600"
health {health}
sticky-cookie "VEZA_SERVERID"
target "box" {{
    local root="../box"
    validate "haproxy" "-c" "-f"
    reload "{dir}/reload.sh" "{dir}/box/run/haproxy-master.sock"
}}
"#,
        dir = dir.display()
    );
    let mut specs = vec![("edge.kdl".to_string(), edge)];
    for e in ["staging", "prod"] {
        specs.push((
            format!("env/{e}.kdl"),
            format!(
                r#"env "{e}" {{
    hosts "{e}.veza.fr"
    component "web" port=3000 health="/" sticky=#true pool="web_pool" {{
        instance "blue" color="blue" address="127.0.0.1:{}"
        instance "green" color="green" address="127.0.0.1:{}"
    }}
    default "web"
    {extra}
}}
"#,
                ports[&format!("{e}/blue")],
                ports[&format!("{e}/green")],
                extra = if e == "staging" { staging_extra } else { "" },
            ),
        ));
    }
    specs
}

/// A local box with the real templates, applied and served by a real haproxy; staging and prod
/// at blue.
pub(crate) struct Live {
    pub(crate) b: Edgebox,
    pub(crate) h: Haproxy,
    pub(crate) port: u16,
    pub(crate) stand_ins: BTreeMap<String, StandIn>,
}

impl Live {
    pub(crate) fn start() -> Live {
        Live::start_with(
            "interval=\"200ms\" fall=2 rise=1 slowstart=\"1s\" shutdown-sessions=#true",
        )
    }

    /// The live box with `health` as the edge's `health` properties.
    pub(crate) fn start_with(health: &str) -> Live {
        Live::start_full(health, ("", ""))
    }

    /// The live box with `extra` (e.g. a `probe` node) in env staging.
    pub(crate) fn start_probed(extra: &str) -> Live {
        Live::start_extra("", extra)
    }

    /// The live box with `edge_extra` among the edge's nodes and `staging_extra` in env staging.
    pub(crate) fn start_extra(edge_extra: &str, staging_extra: &str) -> Live {
        Live::start_full(
            "interval=\"200ms\" fall=2 rise=1 slowstart=\"1s\" shutdown-sessions=#true",
            (edge_extra, staging_extra),
        )
    }

    fn start_full(health: &str, extra: (&str, &str)) -> Live {
        let stand_ins: BTreeMap<String, StandIn> = ["staging", "prod"]
            .iter()
            .flat_map(|e| ["blue", "green"].map(|c| format!("{e}/{c}")))
            .map(|id| {
                let s = StandIn::start(&id, Duration::from_millis(15));
                (id, s)
            })
            .collect();
        let ports: BTreeMap<String, u16> =
            stand_ins.iter().map(|(k, s)| (k.clone(), s.port)).collect();
        // `fail-next` makes the next reload fail without reloading.
        let (b, h, port) = Edgebox::running(
            "if [ -f \"$D/fail-next\" ]; then rm \"$D/fail-next\"; echo 'simulated reload failure'; exit 1; fi\n",
            |port, dir| live_specs(port, dir, &ports, health, extra),
        );
        let l = Live {
            b,
            h,
            port,
            stand_ins,
        };
        l.wait_served("staging.veza.fr", "staging/blue");
        l.wait_served("prod.veza.fr", "prod/blue");
        l
    }

    /// Wait until a request for `host` is served by `id`.
    pub(crate) fn wait_served(&self, host: &str, id: &str) {
        let deadline = Instant::now() + crate::common::HANG_GUARD;
        loop {
            let r = request(self.port, host, None);
            if matches!(&r, Ok(r) if r.served_by.as_deref() == Some(id)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{host} never served by {id}: {r:?}\n{}",
                std::fs::read_to_string(self.b.root().join("tmp/haproxy.err")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// One command on haproxy's admin socket.
    pub(crate) fn admin(&self, cmd: &str) -> String {
        let mut s = std::os::unix::net::UnixStream::connect(self.b.root().join("run/admin.sock"))
            .expect("admin socket");
        s.write_all(format!("{cmd}\n").as_bytes()).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    /// `server → (srv_op_state, srv_admin_state)` of a backend on the running haproxy.
    pub(crate) fn servers(&self, backend: &str) -> BTreeMap<String, (u32, u32)> {
        self.admin(&format!("show servers state {backend}"))
            .lines()
            .skip(2)
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                Some((
                    f.get(3)?.to_string(),
                    (f.get(5)?.parse().ok()?, f.get(6)?.parse().ok()?),
                ))
            })
            .collect()
    }

    /// Reload haproxy the way an operator (or `systemctl reload`) would, not through edgeplan.
    pub(crate) fn plain_reload(&self) {
        let out = std::process::Command::new(self.b.path().join("reload.sh"))
            .arg(self.b.root().join("run/haproxy-master.sock"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }

    pub(crate) fn state_file(&self, env: &str) -> Option<serde_json::Value> {
        let p = self
            .b
            .root()
            .join(format!("var/lib/edgeplan/colors/{env}.json"));
        std::fs::read_to_string(p)
            .ok()
            .map(|t| serde_json::from_str(&t).unwrap())
    }
}
