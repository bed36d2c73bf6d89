//! Several instances per component, live (issue 10): the rendered config of a lab topology —
//! `api_pool` with two instances (round-robin + sticky cookie), `stream_pool` with three (URI
//! hash, consistent) — run by real haproxy, and the failover the haproxy role README describes
//! (`test_backend_failover.sh`): an instance dies, haproxy marks it DOWN after `fall` checks,
//! the other instance keeps answering, its WebSocket sessions are cut, it comes back UP after
//! `rise` checks and haproxy throttles it while its weight ramps up (`slowstart`). Instants and
//! counts come from haproxy itself: its log (RFC 5424, µs) and `show stat`.
//!
//! [`Node`] is a stand-in instance that can die and come back on the same port, serve a
//! WebSocket-like upgrade that stays open, and count what it served; [`get`] and [`Ws`] are the
//! clients. `tests/integration/server.rs` uses them too.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use edgeplan::route::{self, Request};

use super::{Build, Haproxy, Mode, Scheme, Stage};

// ---------------------------------------------------------------------------------------------
// A stand-in instance that can die and come back.

/// An HTTP stand-in for one instance on a loopback port. Every request gets `200` with
/// `X-Served-By: ID`; `GET /ws` with `Upgrade: websocket` gets `101` and then a `tick N` line
/// every 100 ms until the connection closes. [`Node::kill`] stops it accepting connections
/// (health checks fail with a refused connection) but leaves open sessions running, as a hung
/// instance would; [`Node::restart`] listens on the same port again.
pub struct Node {
    /// Identity it answers with.
    pub id: String,
    /// Port.
    pub port: u16,
    /// Requests that came through haproxy (with `X-Forwarded-For`).
    pub served: Arc<AtomicUsize>,
    /// Upgraded sessions still open.
    pub open_sessions: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Node {
    /// A node on a free port.
    pub fn start(id: &str) -> Node {
        Node::listen(id, crate::ports::listener())
    }

    /// A node listening on `ip` (127.0.0.2, …) on a free port.
    pub fn start_at(id: &str, ip: &str) -> Node {
        Node::listen(id, crate::ports::listener_at(ip))
    }

    /// A node on `ip`:`port` (e.g. 127.0.0.2 on a port another node holds on 127.0.0.1).
    pub fn start_on_ip(id: &str, ip: &str, port: u16) -> Node {
        let l = TcpListener::bind((ip, port))
            .unwrap_or_else(|e| panic!("cannot listen on {ip}:{port}: {e}"));
        Node::listen(id, l)
    }

    /// A node on `port` (a port another stand-in just gave up).
    pub fn start_on(id: &str, port: u16) -> Node {
        Node::listen(id, rebind(port))
    }

    fn listen(id: &str, listener: TcpListener) -> Node {
        let port = listener.local_addr().unwrap().port();
        let mut n = Node {
            id: id.to_string(),
            port,
            served: Arc::new(AtomicUsize::new(0)),
            open_sessions: Arc::new(AtomicUsize::new(0)),
            stop: Arc::new(AtomicBool::new(false)),
            thread: None,
        };
        n.accept(listener);
        n
    }

    fn accept(&mut self, listener: TcpListener) {
        listener.set_nonblocking(true).unwrap();
        let (stop, id) = (self.stop.clone(), self.id.clone());
        let (served, open) = (self.served.clone(), self.open_sessions.clone());
        self.thread = Some(std::thread::spawn(move || {
            // Polling, so that the listener is closed as soon as `stop` is set.
            while !stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let _ = conn.set_nonblocking(false);
                        let (id, served, open) = (id.clone(), served.clone(), open.clone());
                        std::thread::spawn(move || serve(conn, &id, &served, &open));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        }));
    }

    /// Stop accepting connections (the listening socket is closed); open sessions go on.
    pub fn kill(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Listen on the same port again.
    pub fn restart(&mut self) {
        assert!(self.thread.is_none(), "{} is running", self.id);
        self.stop = Arc::new(AtomicBool::new(false));
        let l = rebind(self.port);
        self.accept(l);
    }

    /// Requests served through haproxy so far.
    pub fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }
}

/// Listen on `port` again, which this process just closed: the port is outside the ephemeral
/// range (`crate::ports`), so no outgoing connection holds it; a few tries ride out the close.
fn rebind(port: u16) -> TcpListener {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match TcpListener::bind(("127.0.0.1", port)) {
            Ok(l) => return l,
            Err(e) if Instant::now() > deadline => {
                panic!("cannot listen on {port} again (another process took it?): {e}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

fn serve(conn: TcpStream, id: &str, served: &AtomicUsize, open: &AtomicUsize) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(mut w) = conn.try_clone() else { return };
    let mut r = BufReader::new(conn);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
        let (mut upgrade, mut forwarded, mut close, mut length) = (false, false, false, 0usize);
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end().to_ascii_lowercase();
            if h.is_empty() {
                break;
            }
            if h.starts_with("upgrade:") && h.contains("websocket") {
                upgrade = true;
            }
            if h.starts_with("x-forwarded-for:") {
                forwarded = true;
            }
            if h.starts_with("connection:") && h.contains("close") {
                close = true;
            }
            if let Some(v) = h.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        if forwarded {
            served.fetch_add(1, Ordering::SeqCst);
        }
        if upgrade && path.starts_with("/ws") {
            // haproxy checks the handshake: the accept value of the key [`Ws`] sends (RFC 6455's
            // example).
            let head = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nX-Served-By: {id}\r\n\r\n"
            );
            if w.write_all(head.as_bytes()).is_err() {
                return;
            }
            open.fetch_add(1, Ordering::SeqCst);
            for n in 0.. {
                if w.write_all(format!("tick {n}\n").as_bytes()).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            open.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        let text = format!("served-by: {id}\npath: {path}\n");
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nX-Served-By: {id}\r\n{}\r\n",
            text.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        if w.write_all(head.as_bytes()).is_err() || w.write_all(text.as_bytes()).is_err() {
            return;
        }
        if close {
            let _ = w.shutdown(Shutdown::Both);
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Clients.

/// What one request got.
#[derive(Debug, Clone)]
pub struct Got {
    /// Status.
    pub status: u16,
    /// `X-Served-By`, when an instance answered.
    pub served_by: Option<String>,
    /// `NAME=VALUE` of a `Set-Cookie`.
    pub set_cookie: Option<String>,
}

/// One HTTP/1.1 request on a new connection (`Connection: close`), with an optional
/// `Cookie` header.
pub fn get(port: u16, host: &str, path: &str, cookie: Option<&str>) -> Result<Got, String> {
    let s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    get_on(s, host, path, cookie)
}

/// [`get`] on a connection already open.
fn get_on(mut s: TcpStream, host: &str, path: &str, cookie: Option<&str>) -> Result<Got, String> {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let cookie = cookie.map_or(String::new(), |c| format!("Cookie: {c}\r\n"));
    // One write: several small ones would meet Nagle and delayed ACKs.
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{cookie}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&resp).into_owned();
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no status line in {text:?}"))?;
    let header = |name: &str| {
        head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    Ok(Got {
        status,
        served_by: header("x-served-by"),
        set_cookie: header("set-cookie").map(|c| c.split(';').next().unwrap_or("").to_string()),
    })
}

/// A WebSocket-like session through haproxy: the upgrade request, the `101`, then `tick` lines
/// read by a thread until the connection ends.
pub struct Ws {
    /// Instance that accepted the upgrade.
    pub served_by: String,
    /// Ticks received.
    pub ticks: Arc<AtomicUsize>,
    /// When the connection ended (EOF or error), if it did (wall clock, to compare with
    /// haproxy's log).
    pub ended: Arc<Mutex<Option<SystemTime>>>,
    /// The client's source port (haproxy logs it).
    pub local_port: u16,
    stream: TcpStream,
}

impl Ws {
    /// Open one to `port` with `cookie`; panics unless upgraded.
    pub fn open(port: u16, host: &str, cookie: Option<&str>) -> Ws {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let cookie = cookie.map_or(String::new(), |c| format!("Cookie: {c}\r\n"));
        let req = format!(
            "GET /ws/chat HTTP/1.1\r\nHost: {host}\r\n{cookie}Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        );
        s.write_all(req.as_bytes()).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut head = Vec::new();
        loop {
            let mut l = String::new();
            assert!(
                r.read_line(&mut l).unwrap() > 0,
                "closed before the upgrade"
            );
            if l.trim_end().is_empty() {
                break;
            }
            head.push(l.trim_end().to_string());
        }
        assert!(
            head.first().is_some_and(|l| l.contains(" 101 ")),
            "not upgraded: {head:?}"
        );
        let served_by = head
            .iter()
            .find_map(|l| {
                l.strip_prefix("X-Served-By: ")
                    .or(l.strip_prefix("x-served-by: "))
            })
            .unwrap_or_default()
            .to_string();
        let ticks = Arc::new(AtomicUsize::new(0));
        let ended = Arc::new(Mutex::new(None));
        let (t, e) = (ticks.clone(), ended.clone());
        std::thread::spawn(move || {
            loop {
                let mut l = String::new();
                match r.read_line(&mut l) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        t.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
            *e.lock().unwrap() = Some(SystemTime::now());
        });
        Ws {
            served_by,
            ticks,
            ended,
            local_port: s.local_addr().unwrap().port(),
            stream: s,
        }
    }

    /// When the connection ended, if it did.
    pub fn ended(&self) -> Option<SystemTime> {
        *self.ended.lock().unwrap()
    }

    /// Close it from the client side.
    pub fn close(&self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

impl Drop for Ws {
    fn drop(&mut self) {
        self.close();
    }
}

/// One answer of a load loop: when its request was sent and when it ended (wall clock, to
/// compare with haproxy's log), and what it got.
#[derive(Debug)]
pub struct Answer {
    /// Before the connection was opened.
    pub sent: SystemTime,
    /// After the response was read (or the error seen).
    pub ended: SystemTime,
    /// The client's source port (haproxy logs it), once connected.
    pub from: Option<u16>,
    /// The response, or what went wrong.
    pub got: Result<Got, String>,
}

impl Answer {
    /// A `200`.
    pub fn ok(&self) -> bool {
        self.got.as_ref().is_ok_and(|g| g.status == 200)
    }
}

/// Clients sending requests without cookies in a loop until stopped; every answer is recorded
/// with its time.
pub struct Load {
    stop: Arc<AtomicBool>,
    /// Requests answered so far (live).
    answered: Arc<AtomicUsize>,
    threads: Vec<JoinHandle<Vec<Answer>>>,
}

impl Load {
    /// `clients` threads sending `GET path` to `port`.
    pub fn start(port: u16, host: &str, path: &str, clients: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicUsize::new(0));
        let threads = (0..clients)
            .map(|_| {
                let (stop, host, path) = (stop.clone(), host.to_string(), path.to_string());
                let n = answered.clone();
                std::thread::spawn(move || {
                    let mut out = Vec::new();
                    while !stop.load(Ordering::SeqCst) {
                        let sent = SystemTime::now();
                        let (from, got) = match TcpStream::connect(("127.0.0.1", port)) {
                            Ok(s) => (
                                s.local_addr().ok().map(|a| a.port()),
                                get_on(s, &host, &path, None),
                            ),
                            Err(e) => (None, Err(e.to_string())),
                        };
                        out.push(Answer {
                            sent,
                            ended: SystemTime::now(),
                            from,
                            got,
                        });
                        n.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(5));
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
    pub fn wait_answered(&self, n: usize) {
        crate::common::wait_count(&self.answered, n);
    }

    /// Stop; every answer in time order.
    pub fn stop(self) -> Vec<Answer> {
        self.stop.store(true, Ordering::SeqCst);
        let mut all: Vec<_> = self
            .threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        all.sort_by_key(|a| a.sent);
        all
    }
}

// ---------------------------------------------------------------------------------------------
// Specs and a running lab.

/// A lab topology in a temp dir: `api_pool` (backend-api-1, -2 blue; -3 green), `stream_pool`
/// (stream-srv-1..3 blue; -4 green); `head` holds the `listen` node and whatever else the edge
/// needs (health checks, TLS).
pub fn lab_specs(head: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let specs = tmp.path().join("specs");
    std::fs::create_dir_all(&specs).unwrap();
    let text = format!(
        r#"edge "failover-lab"
admin-socket "/run/haproxy/admin.sock" mode="600"
{head}
env "lab" {{
    hosts "lab.veza.fr"
    component "backend" port=8080 health="/api/v1/health" sticky=#true pool="api_pool" {{
        instance "backend-api-1" color="blue" address="backend-api-1.lxd"
        instance "backend-api-2" color="blue" address="backend-api-2.lxd"
        instance "backend-api-3" color="green" address="backend-api-3.lxd"
    }}
    component "stream" port=8082 health="/health" balance="uri" pool="stream_pool" {{
        instance "stream-srv-1" color="blue" address="stream-srv-1.lxd"
        instance "stream-srv-2" color="blue" address="stream-srv-2.lxd"
        instance "stream-srv-3" color="blue" address="stream-srv-3.lxd"
        instance "stream-srv-4" color="green" address="stream-srv-4.lxd"
    }}
    route "api" to="backend" {{
        prefix "/api/" "/ws"
    }}
    route "stream" to="stream" {{
        prefix "/stream/" "/hls/"
    }}
}}
"#
    );
    std::fs::write(specs.join("edge.kdl"), text).unwrap();
    (tmp, specs)
}

/// Poll `show stat` until `server` of `backend` has `status` (`UP`, `DOWN`); when it did.
fn wait_status(h: &Haproxy, backend: &str, server: &str, want: &str, within: Duration) -> Instant {
    let start = Instant::now();
    loop {
        let now = status(h, backend, server);
        if now == want {
            return Instant::now();
        }
        assert!(
            start.elapsed() < within,
            "{backend}/{server} is {now:?}, not {want}, after {within:?}\n{}",
            h.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn status(h: &Haproxy, backend: &str, server: &str) -> String {
    h.stats()
        .into_iter()
        .find(|r| {
            r.get("pxname").map(String::as_str) == Some(backend)
                && r.get("svname").map(String::as_str) == Some(server)
        })
        .and_then(|r| r.get("status").cloned())
        .unwrap_or_default()
}

/// Replace the harness stand-in of `backend`/`server` by a [`Node`] on the same port.
fn swap_in_node(h: &mut Haproxy, backend: &str, server: &str) -> Node {
    let s = h
        .stage
        .stand_ins
        .remove(&(backend.to_string(), server.to_string()))
        .unwrap_or_else(|| panic!("no stand-in {backend}/{server}"));
    let (id, port) = (s.identity.clone(), s.port);
    drop(s);
    Node::start_on(&id, port)
}

// ---------------------------------------------------------------------------------------------
// Tests.

/// Round-robin over two API instances, a sticky cookie pinning one, URI hashing that keeps a
/// URI on one stream instance, and (runtime and config) removal of one of three stream instances
/// moving only the keys it held — with `edgeplan route`'s consistent-hash prediction checked
/// against haproxy for every key, over HTTP/1.1 and HTTP/2.
#[test]
fn round_robin_sticky_and_consistent_uri_hash() {
    let (_tmp, specs) = lab_specs(
        r#"listen http="*:80" https="*:443"
tls cert-dir="/etc/haproxy/certs"
acme email="ops@veza.fr" { certificate "lab.veza.fr" hosts-of="lab"; }"#,
    );
    let build = Build::of(&specs);
    let h = Stage::new(&build, Mode::Live).start();
    let host = "lab.veza.fr";

    // Round-robin: sequential requests without a cookie alternate between the two.
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    let mut cookies: BTreeMap<String, String> = BTreeMap::new();
    for _ in 0..20 {
        let r = h.request(Scheme::Https, host, "/api/v1/me", &[]);
        assert_eq!(r.status, 200, "{r:?}");
        let by = r.served_by().unwrap().to_string();
        *count.entry(by.clone()).or_default() += 1;
        for (n, v) in r.set_cookies() {
            assert_eq!(n, "SERVERID_lab", "{r:?}");
            cookies.insert(by.clone(), v);
        }
    }
    let want: BTreeMap<String, usize> = [
        ("lab/backend/backend-api-1".to_string(), 10),
        ("lab/backend/backend-api-2".to_string(), 10),
    ]
    .into();
    assert_eq!(count, want, "round-robin over the two blue instances");
    assert_eq!(
        cookies["lab/backend/backend-api-1"],
        "lab-backend-backend-api-1"
    );

    // The cookie pins one instance.
    for (by, value) in &cookies {
        for _ in 0..5 {
            let r = h.request(
                Scheme::Https,
                host,
                "/api/v1/me",
                &[("SERVERID_lab", value)],
            );
            assert_eq!(r.served_by(), Some(by.as_str()), "cookie {value}");
            assert!(
                r.set_cookies().is_empty(),
                "a pinned client is not re-cookied"
            );
        }
    }

    // URI hashing: every key, twice, over HTTP/1.1 and HTTP/2, lands where `route` says.
    let keys: Vec<String> = (0..90)
        .map(|i| format!("/hls/track-{i}/seg-{}.ts?q={}", i * 7, i % 4))
        .collect();
    let routing = &build.routing;
    let predict = |routing: &edgeplan::rules::Routing, key: &str| {
        let req = Request::parse(&format!("https://{host}{key}"), &[], &[]).unwrap();
        let ex = route::explain(routing, &req).unwrap();
        ex.chosen_server
            .unwrap_or_else(|| panic!("no prediction for {key}"))
    };
    let observe = |h: &Haproxy, key: &str, http2: bool| -> String {
        let port = h.port("https");
        let mut cmd = std::process::Command::new("curl");
        cmd.args([
            "-sS",
            "-k",
            "-g",
            "--path-as-is",
            // A hang guard, no claim about speed.
            "--max-time",
            "30",
            "-D",
            "-",
        ])
        .arg(if http2 { "--http2" } else { "--http1.1" })
        .arg("--resolve")
        .arg(format!("{host}:{port}:127.0.0.1"))
        .arg(format!("https://{host}:{port}{key}"));
        let r = super::curl_response(&mut cmd, key).unwrap();
        r.served_by()
            .and_then(|s| s.rsplit('/').next())
            .unwrap_or_default()
            .to_string()
    };
    let mut three: BTreeMap<&str, String> = BTreeMap::new();
    for k in &keys {
        let by = observe(&h, k, false);
        assert_eq!(observe(&h, k, true), by, "{k}: HTTP/2 hashes like HTTP/1.1");
        assert_eq!(
            observe(&h, k, false),
            by,
            "{k}: the same URI, the same instance"
        );
        assert_eq!(
            predict(routing, k),
            by,
            "{k}: `edgeplan route` predicts haproxy"
        );
        three.insert(k, by);
    }
    let mut spread: BTreeMap<&str, usize> = BTreeMap::new();
    for v in three.values() {
        *spread.entry(v).or_default() += 1;
    }
    assert_eq!(spread.len(), 3, "every instance holds keys: {spread:?}");

    // Runtime removal (maint) of stream-srv-2: only its keys move.
    let ans = h.admin("set server lab_stream_pool/stream-srv-2 state maint");
    assert!(ans.trim().is_empty(), "{ans}");
    let mut runtime: BTreeMap<&str, String> = BTreeMap::new();
    for k in &keys {
        runtime.insert(k, observe(&h, k, false));
    }

    // Config removal: the specs without stream-srv-2, rendered and run by another haproxy.
    let text = std::fs::read_to_string(specs.join("edge.kdl")).unwrap();
    let without = text.replace(
        "        instance \"stream-srv-2\" color=\"blue\" address=\"stream-srv-2.lxd\"\n",
        "",
    );
    assert_ne!(text, without);
    std::fs::write(specs.join("edge.kdl"), without).unwrap();
    let build2 = Build::of(&specs);
    let h2 = Stage::new(&build2, Mode::Live).start();
    let mut moved = 0;
    for k in &keys {
        let before = &three[k.as_str()];
        let after = observe(&h2, k, false);
        assert_eq!(
            predict(&build2.routing, k),
            after,
            "{k}: prediction, 2 instances"
        );
        assert_eq!(
            runtime[k.as_str()],
            after,
            "{k}: runtime and config removal agree"
        );
        if before == "stream-srv-2" {
            assert_ne!(after, "stream-srv-2");
            moved += 1;
        } else {
            assert_eq!(&after, before, "{k} moved although its instance stayed");
        }
    }
    eprintln!(
        "consistent hash: {} keys over 3 instances {spread:?}; removing stream-srv-2 moved {moved} keys (only its own), both at run time and in the config",
        keys.len()
    );
    assert_eq!(moved, spread["stream-srv-2"]);
}

/// A server state change as haproxy logged it: when (haproxy's clock, µs) and the message.
#[derive(Debug)]
struct Transition {
    at: SystemTime,
    message: String,
}

/// Wait (at most `within`, a hang guard) for haproxy to log `Server BACKEND/SERVER is STATE`;
/// the first such record after `after`.
fn wait_logged(
    h: &Haproxy,
    server: &str,
    state: &str,
    after: SystemTime,
    within: Duration,
) -> Transition {
    let needle = format!("Server {server} is {state}");
    let start = Instant::now();
    loop {
        if let Some((at, message)) = h.events(&needle).into_iter().find(|(at, _)| *at >= after) {
            return Transition { at, message };
        }
        assert!(
            start.elapsed() < within,
            "haproxy did not log `{needle}` within {within:?}\n{}",
            h.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// haproxy's request log records (`option httplog`) of `backend`, by client port. A record's
/// fields: client, accept date, frontend, backend/server, timers, status, bytes, two captured
/// cookies, termination state, ... The server logged is the last one tried: a stream being
/// redispatched when it ended names another.
fn request_log(h: &Haproxy, backend: &str) -> BTreeMap<u16, String> {
    let prefix = format!("{backend}/");
    h.events(&format!(" {prefix}"))
        .into_iter()
        .filter_map(|(_, m)| {
            let f: Vec<&str> = m.split_whitespace().collect();
            if !f.get(3).is_some_and(|s| s.starts_with(&prefix)) {
                return None;
            }
            let from = f.first()?.rsplit_once(':')?.1.parse().ok()?;
            Some((from, m))
        })
        .collect()
}

/// A request log record of a stream haproxy killed because its server was marked down with
/// `on-marked-down shutdown-sessions`: termination state starting with `D` (HAProxy
/// configuration manual, 8.5 "Session state at disconnection").
fn down_killed(record: &str) -> bool {
    record
        .split_whitespace()
        .nth(9)
        .is_some_and(|t| t.starts_with('D'))
}

/// One `show stat` field of `backend`/`server`.
fn stat(h: &Haproxy, backend: &str, server: &str, field: &str) -> String {
    h.stats()
        .into_iter()
        .find(|r| {
            r.get("pxname").map(String::as_str) == Some(backend)
                && r.get("svname").map(String::as_str) == Some(server)
        })
        .and_then(|r| r.get(field).cloned())
        .unwrap_or_default()
}

/// `b - a` in seconds, negative when `b` is earlier.
fn secs(a: SystemTime, b: SystemTime) -> f64 {
    match b.duration_since(a) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// The failover drill: instance 1 dies while clients keep sending requests; haproxy marks it
/// DOWN after `fall` failed checks and cuts its sessions (`on-marked-down shutdown-sessions`);
/// it comes back, is UP after `rise` checks and is throttled over `slowstart`.
///
/// The instants come from haproxy's own log (RFC 5424, µs), not from polling: the claim is
/// exact — every failed request is either one haproxy killed when it marked the instance down
/// (its request log, by client port: termination state `D`) or one in flight on the instance
/// when it died; nothing fails while the dead instance is still up in haproxy's view (requests
/// balanced to it are refused and redispatched), nor after DOWN. Requests already in flight on the instance when
/// it dies (at most one per client) die with it: no proxy can save those without retrying a
/// request the server may have started on. Check counts and the slow-start throttle come from `show stat`; the only traffic
/// share asserted is after the ramp, over enough sequential requests that round-robin makes it
/// exact.
#[test]
fn failover_smoke_test() {
    const INTERVAL: Duration = Duration::from_secs(1);
    const FALL: u32 = 3;
    const RISE: u32 = 2;
    const SLOWSTART: Duration = Duration::from_secs(4);
    // haproxy stamps a record with the time its poll loop woke up, which may be a little before
    // the event; lower bounds allow this much.
    const CLOCK_SLACK: f64 = 0.1;
    let (_tmp, specs) = lab_specs(&format!(
        "listen http=\"*:80\"\nhealth interval=\"1s\" fall={FALL} rise={RISE} slowstart=\"{}s\" shutdown-sessions=#true",
        SLOWSTART.as_secs()
    ));
    let build = Build::of(&specs);
    let cfg = build.cfg();
    assert!(
        cfg.contains(
            "default-server inter 1s fall 3 rise 2 slowstart 4s on-marked-down shutdown-sessions"
        ),
        "{cfg}"
    );
    let mut h = Stage::new(&build, Mode::Live).start();
    let (be, host) = ("lab_api_pool", "lab.veza.fr");
    let server = format!("{be}/backend-api-1");
    let mut api1 = swap_in_node(&mut h, be, "backend-api-1");
    let port = h.port("http");
    wait_status(&h, be, "backend-api-1", "UP", crate::common::HANG_GUARD);

    // All healthy: both instances answer.
    let mut by: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..10 {
        let g = get(port, host, "/api/v1/me", None).unwrap();
        assert_eq!(g.status, 200);
        *by.entry(g.served_by.unwrap()).or_default() += 1;
    }
    assert_eq!(by.len(), 2, "both instances serve: {by:?}");

    // A WebSocket session pinned to instance 1, and clients sending requests.
    let ws = Ws::open(port, host, Some("SERVERID_lab=lab-backend-backend-api-1"));
    assert_eq!(ws.served_by, "lab/backend/backend-api-1");
    let deadline = Instant::now() + crate::common::HANG_GUARD;
    while ws.ticks.load(Ordering::SeqCst) < 2 {
        assert!(Instant::now() < deadline, "the session is not live");
        std::thread::sleep(Duration::from_millis(20));
    }
    let load = Load::start(port, host, "/api/v1/me", 4);
    std::thread::sleep(Duration::from_millis(500));

    // Kill instance 1: haproxy logs it DOWN. (A check may have failed before, on a loaded
    // machine: haproxy counts from here.)
    let chkfail_before: u32 = stat(&h, be, "backend-api-1", "chkfail").parse().unwrap();
    let kill_started = SystemTime::now();
    api1.kill();
    let killed = SystemTime::now();
    let down = wait_logged(&h, &server, "DOWN", killed, crate::common::HANG_GUARD);
    let cut_deadline = Instant::now() + crate::common::HANG_GUARD;
    while ws.ended().is_none() && Instant::now() < cut_deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let cut = ws
        .ended()
        .expect("the WebSocket session to the dead instance was not cut");
    std::thread::sleep(Duration::from_millis(500));
    let answers = load.stop();
    let chkfail: u32 = stat(&h, be, "backend-api-1", "chkfail").parse().unwrap();

    // Every failure with its send and end time relative to haproxy's DOWN record.
    let t = |at: SystemTime| format!("{:+.4}s", secs(down.at, at));
    let failed: Vec<&Answer> = answers.iter().filter(|a| !a.ok()).collect();
    let describe = |a: &&Answer| {
        let what = match &a.got {
            Ok(g) => format!("status {}", g.status),
            Err(e) => e.clone(),
        };
        format!("{what}: sent {} ended {}", t(a.sent), t(a.ended))
    };
    // haproxy logs a stream when it ends, just after its client saw the end: wait (a hang
    // guard) until it logged the WebSocket and every failed request, by client port.
    let ws_port = ws.local_port;
    let start = Instant::now();
    let log = loop {
        let log = request_log(&h, be);
        let all = log.contains_key(&ws_port)
            && failed
                .iter()
                .all(|a| a.from.is_some_and(|p| log.contains_key(&p)));
        if all || start.elapsed() > crate::common::HANG_GUARD {
            break log;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let killed_for_down = |a: &&&Answer| {
        a.from
            .and_then(|p| log.get(&p))
            .is_some_and(|m| down_killed(m))
    };
    // What haproxy killed when it marked the instance down (`D` in its log).
    let at_down: Vec<String> = failed
        .iter()
        .filter(killed_for_down)
        .map(describe)
        .collect();
    // Requests in flight on instance 1 when it died (connected, in its accept queue or being
    // answered) die with it: nothing haproxy can redispatch. At most one per client.
    let in_flight_at_kill = |a: &&&Answer| a.sent <= killed && a.ended >= kill_started;
    let at_kill: Vec<String> = failed
        .iter()
        .filter(|a| !killed_for_down(a) && in_flight_at_kill(a))
        .map(describe)
        .collect();
    // Anything else failed while instance 1 was dead but UP in haproxy's view (a request
    // balanced to it must be refused and redispatched), or after DOWN.
    let unexplained: Vec<String> = failed
        .iter()
        .filter(|a| !killed_for_down(a) && !in_flight_at_kill(a))
        .map(|a| {
            let record = a
                .from
                .and_then(|p| log.get(&p))
                .map_or("not logged", String::as_str);
            format!("{} / haproxy: {record}", describe(a))
        })
        .collect();
    let in_window = answers
        .iter()
        .filter(|a| a.sent >= killed && a.sent <= down.at)
        .count();
    eprintln!(
        "failover (times relative to haproxy's DOWN record): killed at {}; DOWN at {:?} \
         ({:.3}s after the kill): {:?}; WebSocket cut observed at {}; {} requests sent between \
         the kill and DOWN, {} in all; failed: in flight at the kill {at_kill:?}, killed by \
         haproxy at DOWN {at_down:?}, otherwise {unexplained:?}",
        t(killed),
        down.at,
        secs(killed, down.at),
        down.message,
        t(cut),
        in_window,
        answers.len(),
    );
    // haproxy's own account of the check: `fall` failed checks, then DOWN — never sooner than
    // fall - 1 intervals after the kill (the first failed check may come right after it).
    assert_eq!(
        chkfail - chkfail_before,
        FALL,
        "failed checks between the kill and DOWN"
    );
    assert!(
        down.message.contains("Layer4 connection problem"),
        "{}",
        down.message
    );
    assert!(
        secs(killed, down.at) >= (INTERVAL * (FALL - 1)).as_secs_f64() - CLOCK_SLACK,
        "DOWN {:.3}s after the kill: sooner than {FALL} checks allow",
        secs(killed, down.at)
    );
    assert!(
        in_window > 50,
        "too few requests while instance 1 was dead but not yet down: {in_window}"
    );
    // The WebSocket session was cut by haproxy's mark-down, not before (its log says `D`).
    assert!(
        log.get(&ws_port)
            .is_some_and(|m| m.contains("GET /ws/chat") && down_killed(m)),
        "haproxy did not kill the WebSocket session at DOWN: {:?}",
        log.get(&ws_port)
    );
    assert!(
        at_kill.len() <= 4,
        "more failures at the kill than clients: {at_kill:?}"
    );
    assert!(
        unexplained.is_empty(),
        "requests failed while the dead instance was up in haproxy's view or after DOWN: \
         {unexplained:?}"
    );
    assert!(
        answers
            .iter()
            .filter(|a| a.sent > down.at + Duration::from_millis(5))
            .all(|a| a
                .got
                .as_ref()
                .is_ok_and(|g| g.served_by.as_deref() == Some("lab/backend/backend-api-2"))),
        "after DOWN everything goes to instance 2"
    );

    // Bring it back: UP after `rise` checks, then throttled over `slowstart`.
    api1.restart();
    let restarted = SystemTime::now();
    let up = wait_logged(&h, &server, "UP", restarted, crate::common::HANG_GUARD);
    assert!(
        secs(restarted, up.at) >= (INTERVAL * (RISE - 1)).as_secs_f64() - CLOCK_SLACK,
        "UP {:.3}s after the restart: sooner than {RISE} checks allow",
        secs(restarted, up.at)
    );
    // haproxy's throttle (percent of the weight slow start allows) until it is lifted; the
    // traffic it gets meanwhile is recorded, not asserted (a handful of requests per step).
    let mut throttle: Vec<u32> = Vec::new();
    let (mut one, mut all) = (0usize, 0usize);
    let lifted = loop {
        let now = stat(&h, be, "backend-api-1", "throttle");
        if now.is_empty() {
            break true;
        }
        let pct: u32 = now.parse().unwrap_or_else(|_| panic!("throttle {now:?}"));
        if throttle.last() != Some(&pct) {
            throttle.push(pct);
        }
        if SystemTime::now() > up.at + SLOWSTART * 5 {
            break false;
        }
        let g = get(port, host, "/api/v1/me", None).unwrap();
        assert_eq!(g.status, 200);
        all += 1;
        one += usize::from(g.served_by.as_deref() == Some("lab/backend/backend-api-1"));
    };
    // After the ramp: sequential requests without cookies alternate (round-robin, equal
    // weights), so 100 of them split 50/50 — give or take the one pick where the alternation
    // resumed after the weight change.
    let mut after_ramp: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..100 {
        let g = get(port, host, "/api/v1/me", None).unwrap();
        assert_eq!(g.status, 200);
        *after_ramp.entry(g.served_by.unwrap()).or_default() += 1;
    }
    eprintln!(
        "failover: UP {:.3}s after the restart (rise {RISE}); slow-start throttle {throttle:?}%, \
         instance 1 served {one} of {all} requests during the ramp; after it {after_ramp:?}",
        secs(restarted, up.at)
    );
    assert!(lifted, "slow start never ended: {throttle:?}");
    assert!(
        throttle.len() >= 2 && throttle[0] < 50,
        "no ramp: {throttle:?}"
    );
    assert!(
        throttle.windows(2).all(|w| w[0] < w[1]),
        "the throttle only rises: {throttle:?}"
    );
    assert_eq!(after_ramp.len(), 2, "{after_ramp:?}");
    assert!(
        after_ramp.values().all(|n| (49..=51).contains(n)),
        "back to its half after slow start: {after_ramp:?}"
    );
    assert!(api1.served() > 0);
}
