//! Tests against a REAL haproxy: the harness, and the tests that use it.
//!
//! The harness runs the rendered `haproxy.cfg` of a specs dir almost verbatim. Only listen
//! addresses, server addresses and file paths are substituted, each by a line-based rule that
//! must match (a template change cannot silently turn one into a no-op):
//!
//! | rule                      | becomes                                                      |
//! |---------------------------|--------------------------------------------------------------|
//! | `bind ADDR …`             | `bind 127.0.0.1:<free port> …` (one per frontend)            |
//! | `… crt CERT_DIR/ …`       | a temp dir with one self-signed PEM per certificate group    |
//! | `server NAME HOST:PORT …` | `server NAME 127.0.0.1:<stand-in port> …` (a TCP service's: kept on loopback, else a closed port) |
//! | `stats socket PATH\|ADDR` | a temp unix socket (or a free loopback port)                 |
//! | `server-state-file PATH`  | an empty state file in the temp dir                          |
//! | `/etc/haproxy/errors/…`   | the rendered error bodies, written to the temp dir           |
//! | `log /SOCKET …`           | `log stderr format rfc5424 …` (the log file, µs timestamps)  |
//! | `ca-file`/`crt` of a server | a self-signed certificate and key of the stage            |
//! | `peer NAME ADDR`          | `peer NAME 127.0.0.1:<free port>` (stick tables on reloads)  |
//!
//! Addresses are only substituted in [`Mode::Live`]; [`Mode::PathsOnly`] keeps the box's binds
//! and server names for `haproxy -c`. Everything else, `chroot`/`user`/`group` included, is
//! what the edge box runs; a box path (`/etc/`, `/run/`, `/var/`) left anywhere but in `chroot`
//! fails the staging.
//!
//! ```ignore
//! let build = Build::of(&specs_dir); // or Build::with(&specs_dir, |colors| { colors.set(..); })
//! let haproxy = Stage::new(&build, Mode::Live).start(); // haproxy -c, start, wait until ready
//! let r = haproxy.request(Scheme::Https, "veza.fr", "/api/x", &[]);
//! assert_eq!(r.served_by(), Some("prod/backend/blue"));
//! ```
//! Everything a [`Stage`] or [`Haproxy`] started (processes, threads, temp files) stops when it
//! is dropped.

#![allow(dead_code)]

mod agreement;
mod auth;
mod compression;
pub mod failover;
mod health;
mod hosts;
mod identity;
mod limits;
mod observe;
mod policies;
mod request_id;
mod requests;
mod routing;
mod tcp;
mod upstream_tls;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use edgeplan::model::Edge;
use edgeplan::render::{RenderedFile, Templates};
pub use edgeplan::rules::Scheme;
use edgeplan::rules::{self, Role, Routing};
use edgeplan::state::ActiveColors;

/// How long to wait for haproxy to be ready (health checks run every few seconds): a hang guard.
pub const READY_TIMEOUT: Duration = crate::common::HANG_GUARD;

// ---------------------------------------------------------------------------------------------
// Rendering

/// The rendered edge of a specs dir, exactly as `edgeplan` would ship it.
pub struct Build {
    /// The checked model.
    pub edge: Edge,
    /// Colours the build was rendered with.
    pub colors: ActiveColors,
    /// The routing table the template rendered.
    pub routing: Routing,
    /// Every rendered file by its path on the box (`etc/haproxy/haproxy.cfg`, …).
    pub files: BTreeMap<String, RenderedFile>,
}

impl Build {
    /// Render `specs` with each env at the colour its spec gives. Panics with the diagnostics
    /// when the specs do not load.
    pub fn of(specs: &Path) -> Build {
        Build::with(specs, |_| {})
    }

    /// Render `specs` after `adjust` changed the colours (e.g. `c.set(&staging, Color::Green)`).
    pub fn with(specs: &Path, adjust: impl FnOnce(&mut ActiveColors)) -> Build {
        let (_spec, edge) = match edgeplan::load(specs) {
            Ok(x) => x,
            Err(problems) => panic!("specs {} do not load: {problems:?}", specs.display()),
        };
        let mut colors = ActiveColors::from_specs(&edge);
        adjust(&mut colors);
        let rendered = edgeplan::render::render(&edge, &colors, &Templates::embedded(), "test")
            .unwrap_or_else(|e| panic!("render of {} failed: {e:?}", specs.display()));
        let routing = rules::routing(&edge, &colors);
        Build {
            edge,
            colors,
            routing,
            files: rendered.files,
        }
    }

    /// The rendered `haproxy.cfg`.
    pub fn cfg(&self) -> String {
        let f = self
            .files
            .get("etc/haproxy/haproxy.cfg")
            .expect("no etc/haproxy/haproxy.cfg rendered");
        String::from_utf8(f.content.clone()).expect("haproxy.cfg is not UTF-8")
    }
}

// ---------------------------------------------------------------------------------------------
// Staging: the substituted config in a temp dir

/// What a [`Stage`] substitutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only file paths (certificates, error bodies, server-state file): for `haproxy -c` of the
    /// config as the box would see it (public binds, real server host names).
    PathsOnly,
    /// Also listen addresses (free loopback ports) and server addresses (stand-in servers), so
    /// the config can run here.
    Live,
}

/// The admin (stats) socket of a staged config.
#[derive(Debug, Clone)]
pub enum AdminAddr {
    /// A unix socket.
    Unix(PathBuf),
    /// A loopback TCP port.
    Tcp(u16),
}

/// One substitution rule and how often it matched.
#[derive(Debug)]
struct Rule {
    name: &'static str,
    /// Must match at least once for this edge.
    required: bool,
    hits: usize,
}

/// The line-based substitution rules, in the order they are tried on each line.
struct Rules {
    bind: Rule,
    crt: Rule,
    server: Rule,
    stats_socket: Rule,
    state_file: Rule,
    errors_dir: Rule,
    log: Rule,
    peer: Rule,
}

/// A substituted config in a temp dir, with its certificates, error bodies and (in
/// [`Mode::Live`]) the stand-in servers its server lines point to.
pub struct Stage {
    /// Temp dir holding everything.
    pub dir: tempfile::TempDir,
    /// The substituted config.
    pub cfg_path: PathBuf,
    /// Its text.
    pub cfg: String,
    /// Mode it was staged in.
    pub mode: Mode,
    /// Frontend name → loopback port (live mode).
    pub ports: BTreeMap<String, u16>,
    /// Further bind addresses of a frontend, by frontend (an IPv6 one on `[::1]`).
    pub more_binds: BTreeMap<String, Vec<std::net::SocketAddr>>,
    /// Frontend name → scheme (from the routing table; `stats` is plain http).
    pub schemes: BTreeMap<String, Scheme>,
    /// Stand-ins by `(backend, server)` (live mode).
    pub stand_ins: BTreeMap<(String, String), StandIn>,
    /// Admin socket.
    pub admin: AdminAddr,
    /// Listeners holding the frontend ports until haproxy starts.
    reserved: Vec<TcpListener>,
}

/// What `haproxy -c` said.
#[derive(Debug)]
pub struct CheckOutput {
    /// Exit status 0.
    pub ok: bool,
    /// `[WARNING]` lines.
    pub warnings: Vec<String>,
    /// Everything it printed.
    pub output: String,
}

impl Stage {
    /// Write `build`'s files into a temp dir and substitute its config for `mode`. Panics when a
    /// rule that this edge needs matched nothing, or when a box path is left in the config.
    pub fn new(build: &Build, mode: Mode) -> Stage {
        let dir = tempfile::Builder::new()
            .prefix("edgeplan-live-")
            .tempdir()
            .unwrap();
        let root = dir.path().join("root");
        for (rel, f) in &build.files {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, &f.content).unwrap();
        }
        let certs = dir.path().join("certs");
        std::fs::create_dir_all(&certs).unwrap();
        if build.edge.tls.is_some() {
            write_certificates(&build.edge, &certs);
        }
        let state_file = dir.path().join("server-state");
        // An empty server-state file of format version 1 (what `show servers state` writes).
        std::fs::write(&state_file, "1\n").unwrap();

        let mut schemes: BTreeMap<String, Scheme> = build
            .routing
            .frontends
            .iter()
            .map(|f| (f.name.clone(), f.scheme))
            .collect();
        if build.edge.stats.is_some() {
            schemes.insert("stats".into(), Scheme::Http);
        }
        if build.edge.metrics.is_some() {
            schemes.insert("metrics".into(), Scheme::Http);
        }
        let has_servers = build.routing.backends.iter().any(|b| !b.servers.is_empty());
        let mut rules = Rules {
            bind: Rule::new("bind ADDR", true),
            crt: Rule::new("crt CERT_DIR/", build.edge.tls.is_some()),
            server: Rule::new("server NAME HOST:PORT", has_servers),
            stats_socket: Rule::new("stats socket PATH|ADDR", true),
            state_file: Rule::new("server-state-file PATH", true),
            errors_dir: Rule::new(rules::ERRORS_DIR, true),
            log: Rule::new(
                "log SOCKET",
                matches!(
                    build.edge.access_log.target,
                    edgeplan::model::LogTarget::Socket(_)
                ),
            ),
            peer: Rule::new("peer NAME ADDR", build.edge.rate_limited()),
        };
        let mut stage = Stage {
            cfg_path: dir.path().join("haproxy.cfg"),
            cfg: String::new(),
            mode,
            ports: BTreeMap::new(),
            more_binds: BTreeMap::new(),
            schemes,
            stand_ins: BTreeMap::new(),
            admin: AdminAddr::Unix(PathBuf::new()),
            reserved: Vec::new(),
            dir,
        };
        let original = build.cfg();
        let mut out = String::with_capacity(original.len());
        let mut section = (String::new(), String::new());
        for line in original.lines() {
            if !line.starts_with(char::is_whitespace) && !line.trim().is_empty() {
                let mut t = line.split_whitespace();
                section = (
                    t.next().unwrap_or_default().to_string(),
                    t.next().unwrap_or_default().to_string(),
                );
            }
            let new = stage.substitute(line, &section, build, &mut rules, &state_file);
            out.push_str(&new);
            out.push('\n');
        }
        let all = [
            &rules.bind,
            &rules.crt,
            &rules.server,
            &rules.stats_socket,
            &rules.state_file,
            &rules.errors_dir,
            &rules.log,
            &rules.peer,
        ];
        for r in all {
            assert!(
                !r.required || r.hits > 0,
                "substitution rule `{}` matched no line: the template changed, update the harness\n{original}",
                r.name
            );
        }
        let binds = build
            .routing
            .frontends
            .iter()
            .map(|f| f.binds.len())
            .sum::<usize>()
            + stage.schemes.len()
            - build.routing.frontends.len()
            + build.edge.tcp.len();
        assert_eq!(
            rules.bind.hits, binds,
            "expected one bind line per address of each frontend ({:?})\n{original}",
            stage.schemes
        );
        let servers: usize = build.routing.backends.iter().map(|b| b.servers.len()).sum();
        assert_eq!(
            rules.server.hits, servers,
            "expected one server line per server of the routing table\n{original}"
        );
        // Nothing of the box's file system may be left, but the chroot (which exists here).
        for line in out.lines() {
            if line.trim_start().starts_with("chroot ") {
                continue;
            }
            for tok in line.split_whitespace() {
                let path = tok.trim_start_matches("unix@");
                assert!(
                    !["/etc/", "/run/", "/var/"]
                        .iter()
                        .any(|p| path.starts_with(p)),
                    "box path `{tok}` left in the staged config: add a rule\n  {line}"
                );
            }
        }
        std::fs::write(&stage.cfg_path, &out).unwrap();
        stage.cfg = out;
        stage
    }

    /// Apply the rules to one line of section `section` (`("backend", "prod_web_pool")`).
    fn substitute(
        &mut self,
        line: &str,
        section: &(String, String),
        build: &Build,
        rules: &mut Rules,
        state_file: &Path,
    ) -> String {
        let indent = &line[..line.len() - line.trim_start().len()];
        let mut toks: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        let live = self.mode == Mode::Live;
        // File paths are substituted in every mode, addresses only in live mode.
        match toks.first().map(String::as_str) {
            Some("bind") => {
                rules.bind.hits += 1;
                let addr = toks.get(1).cloned().unwrap_or_default();
                assert!(
                    parse_listen(&addr).is_some(),
                    "`{addr}` is not a listen address (IP:port, *:port, :port)\n  {line}"
                );
                assert_eq!(section.0, "frontend", "bind outside a frontend\n  {line}");
                if live && self.ports.contains_key(&section.1) {
                    // A further address of the listener: an IPv6 one on [::1] (so a client
                    // reaches it over IPv6), an IPv4 one on loopback.
                    let ip = if addr.starts_with('[') {
                        "::1"
                    } else {
                        "127.0.0.1"
                    };
                    let l = crate::ports::listener_at(ip);
                    let at = l.local_addr().unwrap();
                    self.reserved.push(l);
                    self.more_binds
                        .entry(section.1.clone())
                        .or_default()
                        .push(at);
                    toks[1] = at.to_string();
                } else if live {
                    let l = crate::ports::listener();
                    let port = l.local_addr().unwrap().port();
                    self.reserved.push(l);
                    self.ports.insert(section.1.clone(), port);
                    toks[1] = format!("127.0.0.1:{port}");
                }
                if let Some(i) = toks.iter().position(|t| t == "crt") {
                    rules.crt.hits += 1;
                    let want = format!(
                        "{}/",
                        build.edge.tls.as_ref().expect("crt without tls").cert_dir
                    );
                    assert_eq!(
                        toks[i + 1],
                        want,
                        "crt is not the spec's cert dir\n  {line}"
                    );
                    toks[i + 1] = format!("{}/", self.dir.path().join("certs").display());
                }
            }
            // A TCP service's servers: a test's own on loopback (a real sshd) kept as written;
            // any other, in live mode, a free loopback port where nothing listens (DOWN).
            Some("server") if section.0 == "backend" && section.1.starts_with("tcp_") => {
                let addr = toks[2].clone();
                if live && !(addr.starts_with("127.") || addr.starts_with("[::1]")) {
                    toks[2] = format!("127.0.0.1:{}", free_port());
                }
            }
            Some("server") if section.0 == "backend" => {
                rules.server.hits += 1;
                let (name, addr) = (toks[1].clone(), toks[2].clone());
                assert!(
                    addr.rsplit_once(':')
                        .is_some_and(|(_, p)| p.parse::<u16>().is_ok()),
                    "`{addr}` is not HOST:PORT\n  {line}"
                );
                // A TLS server on loopback is the test's own (an openssl s_server): kept.
                let own_tls = toks.iter().any(|t| t == "ssl") && addr.starts_with("127.");
                // TLS files on the box (a CA, the edge's client certificate): a generated
                // self-signed certificate (and key) of the stage's.
                for i in 0..toks.len().saturating_sub(1) {
                    if (toks[i] == "ca-file" || toks[i] == "crt")
                        && ["/etc/", "/run/", "/var/"]
                            .iter()
                            .any(|p| toks[i + 1].starts_with(p))
                    {
                        toks[i + 1] = self.upstream_pem().display().to_string();
                    }
                }
                if live && !own_tls {
                    let active = !toks.iter().any(|t| t == "disabled");
                    let checked = toks.iter().any(|t| t == "check");
                    let id = identity(&build.routing, &section.1, &name);
                    let s = StandIn::start(&id, active, checked);
                    toks[2] = format!("127.0.0.1:{}", s.port);
                    self.stand_ins.insert((section.1.clone(), name), s);
                }
            }
            Some("stats") if toks.get(1).map(String::as_str) == Some("socket") => {
                rules.stats_socket.hits += 1;
                let at = toks[2].clone();
                if at.starts_with('/') {
                    let p = self.dir.path().join("admin.sock");
                    toks[2] = p.display().to_string();
                    self.admin = AdminAddr::Unix(p);
                } else {
                    assert!(
                        at.starts_with("ipv4@") || at.starts_with("ipv6@"),
                        "stats socket `{at}` is neither a path nor ipv4@/ipv6@\n  {line}"
                    );
                    if live {
                        let port = free_port();
                        toks[2] = format!("ipv4@127.0.0.1:{port}");
                        self.admin = AdminAddr::Tcp(port);
                    }
                }
            }
            // The box's syslog socket: haproxy's own stderr (its log file here), in RFC 5424
            // for microsecond timestamps (`Haproxy::events`).
            Some("log") if toks.get(1).is_some_and(|t| t.starts_with('/')) => {
                rules.log.hits += 1;
                toks[1] = "stderr".into();
                // `format` stands after `len N` (haproxy's order).
                let at = if toks.get(2).map(String::as_str) == Some("len") {
                    4
                } else {
                    2
                };
                toks.splice(at..at, ["format", "rfc5424"].map(String::from));
            }
            // The local peer: a free loopback port, so stick tables cross this harness's
            // reloads as they cross the box's.
            Some("peer") if section.0 == "peers" => {
                rules.peer.hits += 1;
                if live {
                    toks[2] = format!("127.0.0.1:{}", free_port());
                }
            }
            Some("server-state-file") => {
                rules.state_file.hits += 1;
                toks[1] = state_file.display().to_string();
            }
            _ => {}
        }
        let errors = format!("{}/", rules::ERRORS_DIR);
        let staged_errors = format!(
            "{}/",
            self.dir
                .path()
                .join("root")
                .join(&rules::ERRORS_DIR[1..])
                .display()
        );
        for t in toks.iter_mut() {
            if t.starts_with(&errors) {
                rules.errors_dir.hits += 1;
                *t = t.replacen(&errors, &staged_errors, 1);
            }
        }
        if toks.is_empty() {
            return line.to_string();
        }
        // Re-join only lines that changed, so quoting and spacing of the others stay verbatim.
        let orig: Vec<&str> = line.split_whitespace().collect();
        if orig.iter().zip(&toks).all(|(a, b)| a == b) {
            line.to_string()
        } else {
            format!("{indent}{}", toks.join(" "))
        }
    }

    /// A self-signed certificate and its key in one PEM file of the stage (made once): what a
    /// server line's box-side `ca-file` or `crt` becomes.
    fn upstream_pem(&self) -> PathBuf {
        let pem = self.dir.path().join("upstream.pem");
        if !pem.exists() {
            std::fs::write(
                &pem,
                self_signed(self.dir.path(), "edgeplan-upstream-test", None),
            )
            .unwrap();
        }
        pem
    }

    /// Run `haproxy -c -f CFG` on the staged config.
    pub fn check(&self) -> CheckOutput {
        self.check_with(Command::new("haproxy"))
    }

    /// [`Stage::check`] in a network namespace of its own (`unshare -n`): server host names
    /// (`app-web-blue.lxd`) fail to resolve at once instead of waiting for this machine's
    /// resolver — 5 s a name, measured — while haproxy checks everything else the same way.
    pub fn check_offline(&self) -> CheckOutput {
        let mut cmd = Command::new("unshare");
        cmd.args(["-n", "haproxy"]);
        self.check_with(cmd)
    }

    fn check_with(&self, mut cmd: Command) -> CheckOutput {
        let out = cmd
            .arg("-c")
            .arg("-f")
            .arg(&self.cfg_path)
            .output()
            .expect("cannot run haproxy (is it installed?)");
        let output = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        CheckOutput {
            ok: out.status.success(),
            warnings: output
                .lines()
                .filter(|l| l.contains("[WARNING]"))
                .map(str::to_string)
                .collect(),
            output,
        }
    }

    /// Check the config (panicking with haproxy's output if it is rejected), start haproxy
    /// master-worker in the foreground on it, and wait until every frontend accepts connections
    /// and health checks passed on every active checked server.
    pub fn start(self) -> Haproxy {
        let h = self.spawn();
        h.wait_ready(READY_TIMEOUT);
        h
    }

    /// Start haproxy without waiting for every server to pass a health check (for tests of
    /// checks that must fail): only until its frontends accept connections.
    pub fn start_unchecked(self) -> Haproxy {
        let h = self.spawn();
        let deadline = Instant::now() + READY_TIMEOUT;
        while h
            .stage
            .ports
            .values()
            .any(|p| TcpStream::connect(("127.0.0.1", *p)).is_err())
        {
            assert!(
                Instant::now() < deadline,
                "haproxy never listened:\n{}",
                h.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        h
    }

    fn spawn(mut self) -> Haproxy {
        assert_eq!(self.mode, Mode::Live, "only a Mode::Live stage can run");
        let check = self.check();
        assert!(
            check.ok,
            "haproxy -c rejects the staged config:\n{}\n{}",
            check.output,
            numbered(&self.cfg)
        );
        let master = self.dir.path().join("master.sock");
        let log_path = self.dir.path().join("haproxy.log");
        let log = std::fs::File::create(&log_path).unwrap();
        self.reserved.clear(); // free the ports for haproxy
        let spawn = |cfg: &Path, log: &std::fs::File| {
            Command::new("haproxy")
                .args(["-W", "-db", "-f"])
                .arg(cfg)
                .arg("-S")
                .arg(&master)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log.try_clone().unwrap())
                .spawn()
                .expect("cannot start haproxy")
        };
        // Between releasing a reserved port and haproxy binding it, another process on this
        // shared machine may take it. haproxy then exits at once saying it cannot bind: move
        // the listeners to fresh ports and start again.
        let mut attempt = 0;
        let child = crate::ports::retry("haproxy (live harness)", || {
            attempt += 1;
            if attempt > 1 {
                self.fresh_ports();
                let _ = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&log_path)
                    .map(|mut f| {
                        writeln!(f, "--- harness: a port was taken, again on fresh ports")
                    });
            }
            let mut child = spawn(&self.cfg_path, &log);
            let deadline = Instant::now() + Duration::from_secs(5);
            let listening = |ports: &BTreeMap<String, u16>| {
                ports.values().all(|p| {
                    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], *p));
                    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
                })
            };
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    let text = std::fs::read_to_string(&log_path).unwrap_or_default();
                    if crate::ports::bind_failed(&text) {
                        return Err(crate::ports::PortTaken(text));
                    }
                    // Another failure: wait_ready reports it with the log.
                    return Ok(child);
                }
                if Instant::now() > deadline || listening(&self.ports) {
                    return Ok(child);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        Haproxy {
            stage: self,
            child: Mutex::new(child),
            master,
            log_path,
            warnings: check.warnings,
        }
    }
}

impl Stage {
    /// Move every frontend (and a TCP admin socket) to fresh ports, in `cfg` and its file.
    fn fresh_ports(&mut self) {
        let mut moved: Vec<(String, String)> = Vec::new();
        for port in self.ports.values_mut() {
            let fresh = free_port();
            moved.push((format!("127.0.0.1:{port}"), format!("127.0.0.1:{fresh}")));
            *port = fresh;
        }
        for addr in self.more_binds.values_mut().flatten() {
            let fresh = std::net::SocketAddr::new(addr.ip(), free_port());
            moved.push((addr.to_string(), fresh.to_string()));
            *addr = fresh;
        }
        if let AdminAddr::Tcp(port) = &mut self.admin {
            let fresh = free_port();
            moved.push((
                format!("ipv4@127.0.0.1:{port}"),
                format!("ipv4@127.0.0.1:{fresh}"),
            ));
            *port = fresh;
        }
        // Whole words only, so that moving :1234 leaves :12345 alone.
        let mut out = String::with_capacity(self.cfg.len());
        for line in self.cfg.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.iter().position(|w| moved.iter().any(|(a, _)| a == w)) {
                Some(i) => {
                    let indent = &line[..line.len() - line.trim_start().len()];
                    let mut words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
                    words[i] = moved
                        .iter()
                        .find(|(a, _)| *a == words[i])
                        .unwrap()
                        .1
                        .clone();
                    out.push_str(&format!("{indent}{}", words.join(" ")));
                }
                None => out.push_str(line),
            }
            out.push('\n');
        }
        self.cfg = out;
        std::fs::write(&self.cfg_path, &self.cfg).unwrap();
    }
}

impl Rule {
    fn new(name: &'static str, required: bool) -> Rule {
        Rule {
            name,
            required,
            hits: 0,
        }
    }
}

/// `IP:port`, `*:port`, `:port`, `[v6]:port` → port.
fn parse_listen(addr: &str) -> Option<u16> {
    let (ip, port) = addr.rsplit_once(':')?;
    let port = port.parse::<u16>().ok()?;
    let bare = ip.trim_start_matches('[').trim_end_matches(']');
    (ip.is_empty() || ip == "*" || bare.parse::<std::net::IpAddr>().is_ok()).then_some(port)
}

pub use crate::ports::free_port;

/// Identity a stand-in answers with: `env/component/color` for env pools, else
/// `backend/server`.
fn identity(routing: &Routing, backend: &str, server: &str) -> String {
    let be = routing.backends.iter().find(|b| b.name == backend);
    if let Some(Role::Pool {
        env,
        component: comp,
        ..
    }) = be.map(|b| &b.role)
    {
        return format!("{env}/{comp}/{server}");
    }
    format!("{backend}/{server}")
}

/// One self-signed P-256 PEM (cert + key) per certificate group, SAN = its domains.
/// A self-signed P-256 certificate for `cn` (with `san`, `DNS:a,DNS:b`) and its key, as one
/// PEM (certificate first); made with openssl in `dir`, which keeps none of its temp files.
fn self_signed(dir: &Path, cn: &str, san: Option<&str>) -> Vec<u8> {
    let (key, crt) = (dir.join(".key.tmp"), dir.join(".crt.tmp"));
    let mut cmd = Command::new("openssl");
    cmd.args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:P-256", "-nodes", "-days", "2"])
        .args(["-subj", &format!("/CN={cn}")]);
    if let Some(san) = san {
        cmd.arg("-addext").arg(format!("subjectAltName={san}"));
    }
    let out = cmd
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .output()
        .expect("cannot run openssl");
    assert!(
        out.status.success(),
        "openssl req failed for {cn}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut pem = std::fs::read(&crt).unwrap();
    pem.extend(std::fs::read(&key).unwrap());
    // Nothing left beside the PEM: haproxy loads every file of a `crt` directory.
    std::fs::remove_file(&key).unwrap();
    std::fs::remove_file(&crt).unwrap();
    pem
}

fn write_certificates(edge: &Edge, certs: &Path) {
    let mut groups: Vec<(String, Vec<String>)> = match &edge.acme {
        Some(a) => a
            .certificates
            .iter()
            .map(|(n, d)| (n.to_string(), d.iter().map(|h| h.to_string()).collect()))
            .collect(),
        None => Vec::new(),
    };
    if groups.is_empty() {
        // An empty crt dir is fatal: one certificate for every public host.
        let hosts: Vec<String> = edge.public_hosts().keys().map(|h| h.to_string()).collect();
        groups.push(("selfsigned".into(), hosts));
    }
    for (name, domains) in groups {
        let mut san = domains
            .iter()
            .map(|d| format!("DNS:{d}"))
            .collect::<Vec<_>>()
            .join(",");
        if san.is_empty() {
            san = "DNS:localhost".into();
        }
        let pem = self_signed(certs, "edgeplan-test", Some(&san));
        std::fs::write(certs.join(format!("{name}.pem")), pem).unwrap();
    }
}

fn numbered(text: &str) -> String {
    text.lines()
        .enumerate()
        .map(|(i, l)| format!("{:4} {l}\n", i + 1))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Stand-in servers

/// A request a stand-in received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Host header.
    pub host: Option<String>,
    /// Cookie header.
    pub cookie: Option<String>,
    /// Came through a frontend (has `X-Forwarded-For`), as opposed to a health check.
    pub forwarded: bool,
}

/// A loopback HTTP server answering every request (health checks included) with 200 and a body
/// naming its identity and echoing the request (see [`Response::served_by`]). Stops on drop.
pub struct StandIn {
    /// `staging/backend/blue`, `forgejo_backend/forgejo`, …
    pub identity: String,
    /// Port it listens on.
    pub port: u16,
    /// The config line does not say `disabled`.
    pub active: bool,
    /// The config line says `check`.
    pub checked: bool,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl StandIn {
    /// Start one on a free loopback port.
    pub fn start(identity: &str, active: bool, checked: bool) -> StandIn {
        let listener = crate::ports::listener();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (seen, stop, id) = (seen.clone(), stop.clone(), identity.to_string());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (seen, id) = (seen.clone(), id.clone());
                    std::thread::spawn(move || serve(conn, &id, &seen));
                }
            })
        };
        StandIn {
            identity: identity.to_string(),
            port,
            active,
            checked,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    /// Every request received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Requests that came through a frontend (not health checks).
    pub fn client_requests(&self) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.forwarded).collect()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wake accept()
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answer the requests of one connection (keep-alive unless asked to close).
fn serve(conn: TcpStream, id: &str, seen: &Mutex<Vec<Seen>>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut writer = match conn.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(conn);
    loop {
        // Lines as bytes: a header may carry bytes that are not UTF-8 (shown lossily).
        let line_of = |reader: &mut BufReader<TcpStream>| -> Option<String> {
            let mut raw = Vec::new();
            match reader.read_until(b'\n', &mut raw) {
                Ok(0) | Err(_) => None,
                Ok(_) => Some(String::from_utf8_lossy(&raw).into_owned()),
            }
        };
        let Some(request_line) = line_of(&mut reader) else {
            return;
        };
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let path = parts.next().unwrap_or_default().to_string();
        let version = parts.next().unwrap_or_default().to_string();
        let mut headers: Vec<(String, String)> = Vec::new();
        loop {
            let Some(h) = line_of(&mut reader) else {
                return;
            };
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let get = |k: &str| headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let length: usize = get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        // A chunked body (RFC 9112 section 7.1): sizes in hex, then the chunk and CRLF, until
        // a zero size and the (empty) trailer section.
        if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            loop {
                let mut size = String::new();
                if reader.read_line(&mut size).unwrap_or(0) == 0 {
                    return;
                }
                let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
                    .unwrap_or(0);
                let mut chunk = vec![0; n + 2];
                if n == 0 {
                    let mut end = String::new();
                    let _ = reader.read_line(&mut end);
                    break;
                }
                if reader.read_exact(&mut chunk).is_err() {
                    return;
                }
                body.extend_from_slice(&chunk[..n]);
            }
        }
        let close = version != "HTTP/1.1"
            || get("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let s = Seen {
            method: method.clone(),
            path: path.clone(),
            host: get("host"),
            cookie: get("cookie"),
            forwarded: get("x-forwarded-for").is_some(),
        };
        let mut text = format!(
            "served-by: {id}\nmethod: {method}\npath: {path}\nhost: {}\ncookie: {}\nx-forwarded-proto: {}\n",
            s.host.clone().unwrap_or_default(),
            s.cookie.clone().unwrap_or_default(),
            get("x-forwarded-proto").unwrap_or_default(),
        );
        text += &format!("body-bytes: {}\n", body.len());
        // Client-identity headers: every line of each, in order, joined by ` | `.
        for k in [
            "x-forwarded-for",
            "x-real-ip",
            "forwarded",
            "x-forwarded-host",
            "x-forwarded-port",
        ] {
            let all: Vec<&str> = headers
                .iter()
                .filter(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
                .collect();
            text += &format!("{k}: {}\n", all.join(" | "));
        }
        // Every other `x-` header and `Authorization`, as `header.NAME: v1 | v2` (what policies
        // add or remove).
        let mut others: Vec<&str> = headers
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| {
                (n.starts_with("x-") || *n == "authorization")
                    && !text.contains(&format!("\n{n}: "))
            })
            .collect();
        others.dedup();
        for k in others {
            let all: Vec<&str> = headers
                .iter()
                .filter(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
                .collect();
            text += &format!("header.{k}: {}\n", all.join(" | "));
        }
        seen.lock().unwrap().push(s);
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nX-Served-By: {id}\r\nServer: stand-in\r\nConnection: {}\r\n\r\n",
            text.len(),
            if close { "close" } else { "keep-alive" }
        );
        if writer.write_all(head.as_bytes()).is_err() || writer.write_all(text.as_bytes()).is_err()
        {
            return;
        }
        if close {
            let _ = writer.shutdown(Shutdown::Both);
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The running haproxy

/// A running haproxy (master-worker, foreground) on a staged config. Killed by PID on drop.
pub struct Haproxy {
    /// The stage it runs (ports, stand-ins, temp dir).
    pub stage: Stage,
    child: Mutex<Child>,
    master: PathBuf,
    log_path: PathBuf,
    /// `[WARNING]` lines of the `haproxy -c` run before the start.
    pub warnings: Vec<String>,
}

/// An HTTP response as curl saw it.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: String,
}

impl Response {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name`.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// `(name, value)` of every `Set-Cookie`.
    pub fn set_cookies(&self) -> Vec<(String, String)> {
        self.headers_named("set-cookie")
            .into_iter()
            .filter_map(|c| {
                let first = c.split(';').next()?;
                let (n, v) = first.split_once('=')?;
                Some((n.trim().to_string(), v.trim().to_string()))
            })
            .collect()
    }

    /// The stand-in that answered (`staging/backend/blue`), if a stand-in did.
    pub fn served_by(&self) -> Option<&str> {
        self.echoed("served-by")
    }

    /// A line the stand-in echoed: `path`, `host`, `cookie`, `x-forwarded-proto`, `method`, and
    /// the client-identity headers (`x-forwarded-for`, `x-real-ip`, `forwarded`,
    /// `x-forwarded-host`, `x-forwarded-port`: every line of each, joined by ` | `).
    pub fn echoed(&self, key: &str) -> Option<&str> {
        self.body
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(": "))
    }
}

impl Haproxy {
    /// The further bind addresses of frontend `name` (after its first), as staged.
    pub fn more_binds(&self, name: &str) -> Vec<std::net::SocketAddr> {
        self.stage.more_binds.get(name).cloned().unwrap_or_default()
    }

    /// Port of frontend `name`.
    pub fn port(&self, frontend: &str) -> u16 {
        *self
            .stage
            .ports
            .get(frontend)
            .unwrap_or_else(|| panic!("no frontend `{frontend}` (have {:?})", self.stage.ports))
    }

    /// The stand-in of `backend`/`server`.
    pub fn stand_in(&self, backend: &str, server: &str) -> &StandIn {
        self.stage
            .stand_ins
            .get(&(backend.to_string(), server.to_string()))
            .unwrap_or_else(|| panic!("no stand-in {backend}/{server}"))
    }

    /// Every stand-in.
    pub fn stand_ins(&self) -> impl Iterator<Item = &StandIn> {
        self.stage.stand_ins.values()
    }

    /// PID of the master process.
    pub fn pid(&self) -> u32 {
        self.child.lock().unwrap().id()
    }

    /// What haproxy printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The log once `done` says it holds what is awaited (haproxy writes a request's line
    /// after the response); after 30 s, as it is (a hang guard, no claim about speed).
    pub fn wait_log(&self, done: impl Fn(&str) -> bool) -> String {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let log = self.log();
            if done(&log) || std::time::Instant::now() > until {
                return log;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// haproxy's log records (RFC 5424, from the `log` rule) whose message contains `needle`,
    /// in order: when haproxy stamped each (its clock, µs) and the message.
    pub fn events(&self, needle: &str) -> Vec<(std::time::SystemTime, String)> {
        self.log()
            .lines()
            .filter_map(|l| {
                // `<PRI>1 TIMESTAMP HOST APP PID MSGID SD MSG`
                let l = l.strip_prefix('<')?;
                let mut f = l.splitn(8, ' ');
                let (_pri, stamp) = (f.next()?, f.next()?);
                let msg = f.nth(5)?;
                let at: jiff::Timestamp = stamp.parse().ok()?;
                msg.contains(needle)
                    .then(|| (std::time::SystemTime::from(at), msg.to_string()))
            })
            .collect()
    }

    /// One command on the admin (stats) socket; its whole answer.
    pub fn admin(&self, cmd: &str) -> String {
        talk(&self.stage.admin, cmd).unwrap_or_else(|e| panic!("admin socket: {e}\n{}", self.log()))
    }

    /// One command on the master CLI socket, or why it could not be sent (while the master
    /// re-executes itself on a reload, its socket refuses connections).
    pub fn try_master(&self, cmd: &str) -> Result<String, String> {
        talk(&AdminAddr::Unix(self.master.clone()), cmd)
    }

    /// One command on the master CLI socket (`show proc`, `reload`).
    pub fn master(&self, cmd: &str) -> String {
        talk(&AdminAddr::Unix(self.master.clone()), cmd)
            .unwrap_or_else(|e| panic!("master socket: {e}\n{}", self.log()))
    }

    /// `show stat` as rows of `column → value`.
    pub fn stats(&self) -> Vec<BTreeMap<String, String>> {
        edgeplan::server::parse_stat(&self.admin("show stat"))
    }

    /// Wait until haproxy accepts connections on every frontend and each active checked server
    /// passed a health check (`UP`, `L7OK`); panic with its log after `timeout`.
    pub fn wait_ready(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let Some(last) = self.not_ready() else {
                return;
            };
            if Instant::now() > deadline {
                panic!(
                    "haproxy not ready after {timeout:?}: {last}\n--- haproxy log\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Why haproxy is not ready yet, if it is not.
    fn not_ready(&self) -> Option<String> {
        if let Ok(Some(code)) = self.child.lock().unwrap().try_wait() {
            panic!(
                "haproxy exited ({code}) before it was ready:\n{}",
                self.log()
            );
        }
        for (fe, port) in &self.stage.ports {
            if TcpStream::connect(("127.0.0.1", *port)).is_err() {
                return Some(format!("frontend {fe} (port {port}) refuses connections"));
            }
        }
        if let Err(e) = talk(&self.stage.admin, "show stat") {
            return Some(format!("admin socket not answering: {e}"));
        }
        let stats = self.stats();
        for ((be, srv), s) in &self.stage.stand_ins {
            if !(s.active && s.checked) {
                continue;
            }
            let row = stats.iter().find(|r| {
                r.get("pxname").map(String::as_str) == Some(be.as_str())
                    && r.get("svname").map(String::as_str) == Some(srv.as_str())
            });
            let Some(row) = row else {
                return Some(format!("{be}/{srv} not in show stat"));
            };
            let status = row.get("status").cloned().unwrap_or_default();
            let check = row.get("check_status").cloned().unwrap_or_default();
            if status != "UP" || !check.starts_with("L7OK") {
                return Some(format!("{be}/{srv} is {status} (check {check})"));
            }
        }
        None
    }

    /// One request through the frontend serving `scheme` (`http` or `https`), with exactly
    /// `host` as Host header (SNI is the host without port, lower-cased) and `cookies`.
    pub fn request(
        &self,
        scheme: Scheme,
        host: &str,
        path: &str,
        cookies: &[(&str, &str)],
    ) -> Response {
        let fe = self
            .stage
            .schemes
            .iter()
            .find(|(n, s)| **s == scheme && n.as_str() != "stats")
            .map(|(n, _)| n.clone())
            .unwrap_or_else(|| panic!("no {scheme:?} frontend"));
        self.request_to(&fe, host, path, cookies)
    }

    /// Many requests without cookies, `(host, path)` each, sent by a few threads at once;
    /// the responses in the order of `requests`.
    pub fn request_all(&self, scheme: Scheme, requests: &[(&str, &str)]) -> Vec<Response> {
        const THREADS: usize = 4;
        let mut out: Vec<Option<Response>> = vec![None; requests.len()];
        std::thread::scope(|s| {
            let chunks = out.chunks_mut(requests.len().div_ceil(THREADS).max(1));
            for (i, chunk) in chunks.enumerate() {
                let start = i * requests.len().div_ceil(THREADS).max(1);
                s.spawn(move || {
                    for (j, slot) in chunk.iter_mut().enumerate() {
                        let (host, path) = requests[start + j];
                        *slot = Some(self.request(scheme, host, path, &[]));
                    }
                });
            }
        });
        out.into_iter().map(Option::unwrap).collect()
    }

    /// One request to frontend `frontend` (e.g. `stats`), see [`Haproxy::request`].
    pub fn request_to(
        &self,
        frontend: &str,
        host: &str,
        path: &str,
        cookies: &[(&str, &str)],
    ) -> Response {
        let port = self.port(frontend);
        let tls = self.stage.schemes.get(frontend) == Some(&Scheme::Https);
        curl(port, tls, host, path, cookies)
            .unwrap_or_else(|e| panic!("{e}\n--- haproxy log\n{}", self.log()))
    }
}

/// Send one command to a haproxy CLI socket (unix path or loopback TCP port) and read the
/// answer. The write side is shut after the command: the master CLI only closes then.
fn talk(at: &AdminAddr, cmd: &str) -> Result<String, String> {
    fn run<S: Read + Write>(
        mut s: S,
        shut: impl FnOnce(&S) -> std::io::Result<()>,
        cmd: &str,
    ) -> std::io::Result<String> {
        s.write_all(format!("{cmd}\n").as_bytes())?;
        shut(&s)?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    }
    let timeout = Some(Duration::from_secs(10));
    match at {
        AdminAddr::Unix(p) => UnixStream::connect(p).and_then(|s| {
            s.set_read_timeout(timeout)?;
            run(s, |s| s.shutdown(Shutdown::Write), cmd)
        }),
        AdminAddr::Tcp(port) => TcpStream::connect(("127.0.0.1", *port)).and_then(|s| {
            s.set_read_timeout(timeout)?;
            run(s, |s| s.shutdown(Shutdown::Write), cmd)
        }),
    }
    .map_err(|e| format!("{cmd:?} on {at:?}: {e}"))
}

/// Run the real `curl` for one request.
fn curl(
    port: u16,
    tls: bool,
    host: &str,
    path: &str,
    cookies: &[(&str, &str)],
) -> Result<Response, String> {
    let sni = host
        .split(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let sni = if sni.is_empty() {
        "localhost".into()
    } else {
        sni
    };
    let mut cmd = Command::new("curl");
    // --max-time: a hang guard, no claim about speed.
    cmd.args(["-sS", "-k", "--max-time", "30", "-D", "-"])
        .arg("-H")
        .arg(format!("Host: {host}"));
    if !cookies.is_empty() {
        let c: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        cmd.arg("-b").arg(c.join("; "));
    }
    if tls {
        cmd.arg("--resolve")
            .arg(format!("{sni}:{port}:127.0.0.1"))
            .arg(format!("https://{sni}:{port}{path}"));
    } else {
        cmd.arg(format!("http://127.0.0.1:{port}{path}"));
    }
    curl_response(&mut cmd, &format!("{host}{path}"))
}

/// The edge of `spec` (edge.kdl) in a temporary specs directory, rendered (the directory lives
/// as long as the returned guard).
pub fn lab(spec: &str) -> (tempfile::TempDir, Build) {
    let tmp = tempfile::tempdir().unwrap();
    let specs = tmp.path().join("specs");
    std::fs::create_dir_all(&specs).unwrap();
    std::fs::write(specs.join("edge.kdl"), spec).unwrap();
    let build = Build::of(&specs);
    (tmp, build)
}

/// One request to `SCHEME://HOST/PATH` on haproxy's frontend of that scheme (the host resolved
/// to loopback), sent from the loopback address `from` with the extra raw `headers`
/// (`Name: value`).
pub fn request_from(
    h: &Haproxy,
    scheme: &str,
    host: &str,
    from: &str,
    path: &str,
    headers: &[String],
) -> Response {
    let port = h.port(scheme);
    let mut cmd = Command::new("curl");
    // --max-time: a hang guard, no claim about speed.
    cmd.args([
        "-sS",
        "-k",
        // --compressed: a gzipped answer is decoded (its headers stay as sent).
        "--compressed",
        "--max-time",
        "30",
        "-D",
        "-",
        "--interface",
        from,
    ]);
    for x in headers {
        cmd.arg("-H").arg(x);
    }
    cmd.arg("--resolve")
        .arg(format!("{host}:{port}:127.0.0.1"))
        .arg(format!("{scheme}://{host}:{port}{path}"));
    curl_response(&mut cmd, host).unwrap_or_else(|e| panic!("{e}\n{}", h.log()))
}

/// Run a prepared `curl -D - …` command and parse its status, headers and body.
pub fn curl_response(cmd: &mut Command, what: &str) -> Result<Response, String> {
    let out = cmd.output().map_err(|e| format!("cannot run curl: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "curl {what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    parse_response(&String::from_utf8_lossy(&out.stdout))
}

/// Send `request` (raw HTTP/1.1 bytes, `Connection: close`) to the loopback `port` over plain
/// TCP and read the response — for what curl will not send (two different Host headers).
pub fn raw_response(port: u16, request: &str) -> Result<Response, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    // A hang guard, no claim about speed.
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    s.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).map_err(|e| e.to_string())?;
    parse_response(&String::from_utf8_lossy(&out))
}

/// A response as curl's `-D -` prints it (or as it came off the wire): status line, headers,
/// blank line, body.
pub fn parse_response(text: &str) -> Result<Response, String> {
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no header block in curl output: {text:?}"))?;
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(Response {
        status,
        headers,
        body: body.to_string(),
    })
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        // Workers, to make sure none outlives its master.
        let workers: Vec<u32> = talk(&AdminAddr::Unix(self.master.clone()), "show proc")
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("worker"))
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect();
        let child = self.child.get_mut().unwrap_or_else(|e| e.into_inner());
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for w in workers {
            while haproxy_alive(w) {
                if Instant::now() > deadline {
                    let _ = Command::new("kill")
                        .args(["-KILL", &w.to_string()])
                        .status();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        if std::thread::panicking() {
            eprintln!(
                "--- haproxy log ({})\n{}",
                self.log_path.display(),
                self.log()
            );
        }
    }
}

/// The process `pid` exists, is not a zombie, and is a haproxy (guards against PID reuse).
fn haproxy_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // `PID (comm) STATE ...`
    let comm = stat.split_once('(').and_then(|(_, r)| r.rsplit_once(')'));
    matches!(comm, Some((name, rest)) if name == "haproxy" && !rest.trim_start().starts_with('Z'))
}
