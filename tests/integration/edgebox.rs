//! Support for the plan/apply tests: a temp dir holding specs, a template override and a local
//! box root; runs of the real binary in it; and a real sshd on a free loopback port whose
//! sessions see that box root (`SetEnv EDGEPLAN_BOX_ROOT`), so the same box can be reached as a
//! `local` and as an `ssh` target.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Output, bin};

/// A small haproxy.cfg override: plan tests are about plans, not about the real template (it
/// uses as little of the template's view as it can, so that view may change).
pub const TEMPLATE: &str = r#"# test config of {{ edge.name }}
global
    stats socket /run/admin.sock mode 600 level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend http
    bind {{ edge.listen.http }}
{% for name, env in edge.envs|items %}
    # env {{ name }} ({{ colors[name] }}): {{ env.hosts|join(" ") }}
{% endfor %}
{% for b in routing.backends %}
{% if b.kind == "static" %}
    # static {{ b.name }}: {{ b.body_file }}
{% endif %}
{% endfor %}
"#;

/// The edge spec of most tests: HTTP only, one placeholder, a local target at `../box`.
pub const EDGE: &str = r#"edge "test-edge"
listen http="127.0.0.1:8080"
admin-socket "/run/admin.sock" mode="600"
placeholder "talas" status=503 {
    hosts "talas.fr"
    body "Soon.\n"
}
target "box" {
    local root="../box"
    validate "true"
    reload "true"
}
"#;

/// An env with one component.
pub fn env(name: &str, hosts: &[&str], color: &str) -> String {
    let hosts: Vec<String> = hosts.iter().map(|h| format!("\"{h}\"")).collect();
    format!(
        r#"env "{name}" {{
    hosts {}
    active-color "{color}"
    container-pattern "{name}-{{component}}-{{color}}.lxd"
    component "web" port=3000 health="/" pool="web_pool"
    default "web"
}}
"#,
        hosts.join(" ")
    )
}

/// A temp dir with `specs/`, `templates/` and `box/`.
pub struct Edgebox {
    pub dir: tempfile::TempDir,
    pub env: Vec<(String, String)>,
    /// Pass `--templates templates` (the test template); false: the real, embedded ones.
    pub test_template: bool,
}

impl Edgebox {
    /// Specs from `(path, text)` pairs, the test template, an empty box root.
    pub fn new(specs: &[(&str, &str)]) -> Edgebox {
        let dir = tempfile::tempdir().unwrap();
        let b = Edgebox {
            dir,
            env: Vec::new(),
            test_template: true,
        };
        b.set_specs(specs);
        b.write("templates/haproxy.cfg.j2", TEMPLATE);
        std::fs::create_dir_all(b.root()).unwrap();
        b
    }

    /// Replace the specs.
    pub fn set_specs(&self, specs: &[(&str, &str)]) {
        let d = self.path().join("specs");
        let _ = std::fs::remove_dir_all(&d);
        for (p, t) in specs {
            self.write(&format!("specs/{p}"), t);
        }
    }

    /// Write a file under the temp dir.
    pub fn write(&self, rel: &str, text: &str) {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The box root.
    pub fn root(&self) -> PathBuf {
        self.path().join("box")
    }

    /// Run `edgeplan ARGS --templates templates` with a clean environment.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, &[])
    }

    /// Same, with extra environment variables.
    pub fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let builds = ["plan", "apply"].contains(&args.first().copied().unwrap_or(""));
        if self.test_template && builds {
            all.extend(["--templates".into(), "templates".into()]);
        }
        let mut cmd = self.command(&all);
        for (k, v) in env {
            cmd.env(k, v);
        }
        self.finish(cmd.output().unwrap())
    }

    /// The command, environment cleared, not started.
    pub fn command(&self, args: &[String]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.args(args)
            .current_dir(self.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("NO_COLOR", "1")
            .env("COLUMNS", "80")
            .env("LANG", "C.UTF-8")
            .env("USER", "tester")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Fold a finished process into an [`Output`], temp dir redacted.
    pub fn finish(&self, out: std::process::Output) -> Output {
        let tmp = self.path().display().to_string();
        let redact = |b: &[u8]| String::from_utf8_lossy(b).replace(&tmp, "[TMP]");
        Output {
            stdout: redact(&out.stdout),
            stderr: redact(&out.stderr),
            code: out.status.code().unwrap_or(-1),
        }
    }

    /// Read a live file of the box (through links).
    pub fn live(&self, rel: &str) -> Option<String> {
        std::fs::read_to_string(self.root().join(rel)).ok()
    }
}

/// Hashes vary with the edgeplan version and templates; snapshots show their place only.
pub fn redact_hashes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() == 16 || run.len() == 64 {
            out.push_str(&format!("[H{}]", run.len()));
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in s.chars() {
        if c.is_ascii_hexdigit() && c.is_ascii_lowercase() || c.is_ascii_digit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

pub use crate::ports::free_port;
use crate::ports::{PortTaken, bind_failed};

/// A real sshd on a free loopback port, for root with a generated key; sessions get
/// `EDGEPLAN_BOX_ROOT`. The client side is an ssh config file with the alias `edgebox`.
pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Child,
}

fn run_ok(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Sshd {
    /// Start sshd; its sessions see `box_root` as the box root.
    pub fn start(box_root: &Path) -> Sshd {
        let dir = tempfile::Builder::new()
            .prefix("edgeplan-sshd-")
            .tempdir()
            .unwrap();
        let (port, child) = Sshd::spawn(dir.path(), box_root);
        Sshd { dir, port, child }
    }

    /// Keys, config and the sshd process in `d`, on a fresh port (again when it was taken).
    fn spawn(d: &Path, box_root: &Path) -> (u16, Child) {
        for key in ["host", "id"] {
            run_ok(
                Command::new("ssh-keygen")
                    .args(["-q", "-t", "ed25519", "-N", "", "-C", key, "-f"])
                    .arg(d.join(key)),
            );
        }
        std::fs::copy(d.join("id.pub"), d.join("authorized_keys")).unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        let sshd = if Path::new("/usr/sbin/sshd").exists() {
            "/usr/sbin/sshd"
        } else {
            "sshd"
        };
        crate::ports::retry("sshd", || {
            let port = free_port();
            let cfg = format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host\nPidFile {d}/sshd.pid\n\
                 AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PermitRootLogin prohibit-password\nSetEnv EDGEPLAN_BOX_ROOT={root}\n\
                 LogLevel INFO\nMaxSessions 50\nMaxStartups 50\n",
                d = d.display(),
                root = box_root.display()
            );
            std::fs::write(d.join("sshd_config"), cfg).unwrap();
            run_ok(
                Command::new(sshd)
                    .arg("-t")
                    .arg("-f")
                    .arg(d.join("sshd_config")),
            );
            let log = d.join("sshd.log");
            let _ = std::fs::remove_file(&log);
            let mut child = Command::new(sshd)
                .arg("-D")
                .arg("-f")
                .arg(d.join("sshd_config"))
                .arg("-E")
                .arg(&log)
                .stdin(Stdio::null())
                .spawn()
                .unwrap();
            // Ready when it listens; a lost race for the port makes it exit saying so.
            let start = Instant::now();
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                if child.try_wait().unwrap().is_some() {
                    let said = std::fs::read_to_string(&log).unwrap_or_default();
                    if bind_failed(&said) {
                        return Err(PortTaken(said));
                    }
                    panic!("sshd exited: {said}");
                }
                assert!(
                    start.elapsed() < crate::common::HANG_GUARD,
                    "sshd did not listen: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(10));
            }
            let host_pub = std::fs::read_to_string(d.join("host.pub")).unwrap();
            let mut parts = host_pub.split_whitespace();
            let known = format!(
                "[127.0.0.1]:{port} {} {}\n",
                parts.next().unwrap(),
                parts.next().unwrap()
            );
            std::fs::write(d.join("known_hosts"), known).unwrap();
            let client = format!(
                "Host edgebox\n  HostName 127.0.0.1\n  Port {port}\n  User root\n  \
                 IdentityFile {d}/id\n  IdentitiesOnly yes\n  UserKnownHostsFile {d}/known_hosts\n  \
                 StrictHostKeyChecking yes\n  LogLevel ERROR\n",
                d = d.display()
            );
            // In a directory with a space: EDGEPLAN_SSH_COMMAND is a shell command line, and
            // every ssh test runs with its quoting (`ssh -F '…/client side/config'`).
            std::fs::create_dir_all(d.join("client side")).unwrap();
            std::fs::write(d.join("client side/config"), client).unwrap();
            Ok((port, child))
        })
    }

    /// `EDGEPLAN_SSH_COMMAND` for edgeplan.
    pub fn ssh_command(&self) -> String {
        format!(
            "ssh -F '{}'",
            self.dir.path().join("client side/config").display()
        )
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("sshd.log"))
            .unwrap_or_default()
            .matches("Accepted publickey")
            .count()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Edgebox {
    /// A box running a live haproxy: the real templates, the master-CLI reload script `reload.sh`
    /// (a no-op while haproxy is not running yet; `prelude` is shell run first, `$D` the temp
    /// dir), the specs `specs(port, dir)` applied, and haproxy started on them, listening on the
    /// returned port — again on a fresh box and port when the port was taken.
    pub fn running(
        prelude: &str,
        specs: impl Fn(u16, &Path) -> Vec<(String, String)>,
    ) -> (Edgebox, Haproxy, u16) {
        crate::ports::retry("live box", || {
            let port = free_port();
            let b = Edgebox {
                dir: tempfile::tempdir().unwrap(),
                env: vec![("USER".into(), "tester".into())],
                test_template: false,
            };
            std::fs::create_dir_all(b.root().join("run/haproxy")).unwrap();
            let script = MASTER_RELOAD.replace(
                "S=\"$1\"\n",
                &format!(
                    "S=\"$1\"\nD={}\n[ -S \"$S\" ] || {{ echo \"haproxy is not running\"; exit 0; }}\n{prelude}",
                    b.path().display()
                ),
            );
            b.write("reload.sh", &script);
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(
                b.path().join("reload.sh"),
                std::fs::Permissions::from_mode(0o755),
            )
            .unwrap();
            let specs = specs(port, b.path());
            let refs: Vec<(&str, &str)> = specs
                .iter()
                .map(|(p, t)| (p.as_str(), t.as_str()))
                .collect();
            b.set_specs(&refs);
            let out = b.run(&["apply", "--auto-approve"]);
            assert_eq!(out.code, 0, "{}", out.folded());
            let h = Haproxy::start(&b.root(), port)?;
            Ok((b, h, port))
        })
    }

    /// Put the current specs on the box as a new active generation, through the library's
    /// transport operations (what apply does, without its checks).
    pub fn seed(&self) {
        use edgeplan::transport::{self, generation};
        let build = edgeplan::build(&edgeplan::BuildOptions {
            specs: self.path().join("specs"),
            templates: self.test_template.then(|| self.path().join("templates")),
            colors: Vec::new(),
        })
        .unwrap();
        let target = transport::select(&build.edge, Some("box")).unwrap();
        let mut t = transport::open(target, &self.path().join("specs")).unwrap();
        let model =
            serde_json::to_string(&edgeplan::plan::semantic::ModelSummary::of(&build)).unwrap();
        let tar = generation::package(&build.manifest, &build.rendered, &model);
        t.stage(&build.manifest.tree_hash, &tar).unwrap();
        let n = t.promote(&build.manifest.tree_hash, "{}").unwrap();
        t.link(n).unwrap();
        t.swap(Some(n)).unwrap();
        t.prune().unwrap();
        t.finish(5, "seeded\n").unwrap();
    }
}

/// Reload haproxy through its master CLI and check that the new worker took: HAProxy 2.7+
/// answers `Success=1|0`; 2.6 answers nothing, so the master's reload and failure counters
/// (`show proc`) are compared before and after. Argument: the master socket.
pub const MASTER_RELOAD: &str = r#"#!/bin/sh
S="$1"
cli() { echo "$1" | socat -t 10 stdio "unix-connect:$S"; }
count() { cli "show proc" | awk '$2 == "master" { gsub(/]/, "", $5); print $3, $5 }'; }
c=$(count) && [ -n "$c" ] || { echo "cannot reach haproxy's master socket $S"; exit 1; }
set -- $c; r0=$1; f0=$2
out=$(cli reload) || { echo "cannot reach haproxy's master socket $S"; exit 1; }
case $out in
*Success=0*) echo "$out"; exit 1 ;;
*Success=1*) exit 0 ;;
esac
i=0
while [ $i -lt 200 ]; do
	c=$(count 2>/dev/null) && [ -n "$c" ] && set -- $c && [ "$1" -gt "$r0" ] && break
	sleep 0.05
	i=$((i + 1))
done
[ "$1" -gt "$r0" ] 2>/dev/null || { echo "haproxy did not reload"; exit 1; }
[ "$2" = "$f0" ] || { echo "haproxy refused the new config (failed reloads: $f0 -> $2)"; exit 1; }
"#;

/// A real haproxy (master-worker) running on the files of a local box: chrooted into the box
/// root inside a private mount namespace (`/usr` and `/dev` bound in), so every absolute path of
/// the rendered config — error pages, sockets, `chroot /var/lib/haproxy` — is the box's.
pub struct Haproxy {
    child: Child,
    /// The master socket, seen from outside.
    pub master: PathBuf,
}

impl Haproxy {
    /// Prepare `root` as a system root and start haproxy on its `/etc/haproxy/haproxy.cfg`;
    /// ready when `port` accepts connections. [`PortTaken`] when haproxy exits because a port
    /// of the config was taken (the caller sets up again on fresh ports: [`crate::ports::retry`]).
    pub fn start(root: &Path, port: u16) -> Result<Haproxy, PortTaken> {
        for d in ["usr", "dev", "run", "tmp", "var/lib/haproxy", "etc"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        for (link, to) in [
            ("bin", "usr/bin"),
            ("sbin", "usr/sbin"),
            ("lib", "usr/lib"),
            ("lib64", "usr/lib64"),
        ] {
            let _ = std::os::unix::fs::symlink(to, root.join(link));
        }
        for f in ["passwd", "group"] {
            std::fs::copy(Path::new("/etc").join(f), root.join("etc").join(f)).unwrap();
        }
        std::fs::write(root.join("etc/resolv.conf"), "nameserver 127.0.0.1\n").unwrap();
        let log = root.join("tmp/haproxy.log");
        let child = Command::new("unshare")
            .args([
                "-m",
                "sh",
                "-c",
                "mount --bind /usr \"$0/usr\" && mount --bind /dev \"$0/dev\" && \
                 exec chroot \"$0\" /usr/sbin/haproxy -W -db -f /etc/haproxy/haproxy.cfg \
                 -S /run/haproxy-master.sock",
            ])
            .arg(root)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(root.join("tmp/haproxy.err")).unwrap())
            .spawn()
            .unwrap();
        let mut h = Haproxy {
            child,
            master: root.join("run/haproxy-master.sock"),
        };
        let start = Instant::now();
        let said = || std::fs::read_to_string(root.join("tmp/haproxy.err")).unwrap_or_default();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() || !h.master.exists() {
            if h.child.try_wait().unwrap().is_some() {
                if bind_failed(&said()) {
                    return Err(PortTaken(said()));
                }
                panic!("haproxy exited: {}", said());
            }
            assert!(
                start.elapsed() < crate::common::HANG_GUARD,
                "haproxy did not start: {}",
                said()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(h)
    }

    /// The master's PID (systemd's `$MAINPID`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How many times the master reloaded so far (`show proc`).
    pub fn reloads(&self) -> u64 {
        let procs = self.show_proc();
        procs
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some("master"))
            .and_then(|l| l.split_whitespace().nth(2)?.parse().ok())
            .unwrap_or_else(|| panic!("no master line in {procs}"))
    }

    /// Its master's `show proc` (retried while the master CLI is not ready).
    pub fn show_proc(&self) -> String {
        let start = Instant::now();
        loop {
            let out = Command::new("sh")
                .arg("-c")
                .arg("echo 'show proc' | socat -t 5 stdio \"unix-connect:$0\"")
                .arg(&self.master)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            if text.contains("master") || start.elapsed() > crate::common::HANG_GUARD {
                return text;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        while self.child.try_wait().ok().flatten().is_none() {
            if start.elapsed() > Duration::from_secs(5) {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A stand-in HTTP server on a free loopback port answering `200 ok` to everything.
pub struct Backend {
    pub port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Backend {
    pub fn start() -> Backend {
        use std::io::{Read, Write};
        let listener = crate::ports::listener();
        let port = listener.local_addr().unwrap().port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if flag.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let Ok(mut s) = conn else { continue };
                std::thread::spawn(move || {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let _ = s.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                    );
                });
            }
        });
        Backend { port, stop }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// One HTTP/1.1 request (new connection, `Connection: close`): status and body.
pub fn get(port: u16, host: &str) -> Result<(u16, String), String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // One write: several small ones would meet Nagle and delayed ACKs (40 ms each).
    let req = format!(
        "GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nUser-Agent: edgeplan-test\r\n\r\n"
    );
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&resp).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no status line in {text:?}"))?;
    let body = text.split_once("\r\n\r\n").map_or("", |x| x.1).to_string();
    Ok((status, body))
}

/// Clients sending requests in a loop until stopped: every request must get `want`.
pub struct Load {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Requests answered so far (live).
    answered: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    threads: Vec<std::thread::JoinHandle<(usize, Vec<String>)>>,
}

/// What a load loop saw.
#[derive(Debug)]
pub struct LoadReport {
    pub sent: usize,
    pub failures: Vec<String>,
}

impl Load {
    pub fn start(port: u16, host: &str, want: u16, clients: usize) -> Load {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let threads = (0..clients)
            .map(|_| {
                let (stop, n) = (stop.clone(), answered.clone());
                let host = host.to_string();
                std::thread::spawn(move || {
                    let mut sent = 0;
                    let mut failures = Vec::new();
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        sent += 1;
                        match get(port, &host) {
                            Ok((s, _)) if s == want => {}
                            Ok((s, b)) => failures.push(format!("status {s}: {b}")),
                            Err(e) => failures.push(e),
                        }
                        n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    (sent, failures)
                })
            })
            .collect();
        Load {
            stop,
            answered,
            threads,
        }
    }

    /// Requests answered so far.
    pub fn answered(&self) -> usize {
        self.answered.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Wait until `n` more requests were answered than now ([`crate::common::wait_count`]).
    pub fn wait_answered(&self, n: usize) {
        crate::common::wait_count(&self.answered, n);
    }

    pub fn stop(self) -> LoadReport {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut r = LoadReport {
            sent: 0,
            failures: Vec::new(),
        };
        for t in self.threads {
            let (s, f) = t.join().unwrap();
            r.sent += s;
            r.failures.extend(f);
        }
        r
    }
}

/// `incus ARGS`, which must succeed; its stdout.
pub fn incus(args: &[&str]) -> String {
    let out = Command::new("incus")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run incus (scripts/test.sh installs it from bookworm-backports): {e}")
        });
    assert!(
        out.status.success(),
        "incus {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A real Incus container built from a local image: busybox, and haproxy with its libraries
/// copied from this machine. Deleted (with its image) when dropped. incusd is started if it is
/// not running; if it cannot start, the test fails — it never skips.
pub struct IncusBox {
    pub name: String,
    image: String,
}

/// The container's reload command: start haproxy (master-worker) the first time, reload it with
/// SIGUSR2 afterwards.
const INCUS_RELOAD: &str = r#"#!/bin/sh
pid=$(cat /run/haproxy.pid 2>/dev/null)
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
	exec kill -USR2 "$pid"
fi
exec haproxy -W -D -p /run/haproxy.pid -f /etc/haproxy/haproxy.cfg -S /run/haproxy-master.sock
"#;

pub fn ensure_incusd() {
    let ready = |secs: &str| {
        Command::new("incus")
            .args(["admin", "waitready", "--timeout", secs])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !ready("2") {
        // A daemon that outlives the test, as scripts/test.sh starts it: detached by a shell.
        let started = Command::new("sh")
            .args([
                "-c",
                "nohup /usr/libexec/incus/incusd --group root \
                 >/tmp/edgeplan-test-incusd.log 2>&1 &",
            ])
            .status()
            .is_ok_and(|s| s.success());
        assert!(started, "incus is not installed or cannot start");
        assert!(
            ready("60"),
            "incusd did not start: {}",
            std::fs::read_to_string("/tmp/edgeplan-test-incusd.log").unwrap_or_default()
        );
    }
    let has_pool = Command::new("incus")
        .args(["storage", "show", "default"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_pool {
        let mut child = Command::new("incus")
            .args(["admin", "init", "--preseed"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(
                b"storage_pools:\n- name: default\n  driver: dir\nprofiles:\n- name: default\n  \
                  devices:\n    root:\n      path: /\n      pool: default\n      type: disk\n",
            )
            .unwrap();
        assert!(child.wait().unwrap().success(), "incus admin init failed");
    }
}

impl IncusBox {
    pub fn launch() -> IncusBox {
        ensure_incusd();
        let tag = format!(
            "edgeplan-t{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("rootfs");
        for d in [
            "bin",
            "sbin",
            "usr/sbin",
            "usr/local/bin",
            "etc",
            "lib64",
            "tmp",
            "run",
            "var/lib/haproxy",
            "dev",
            "proc",
            "sys",
            "root",
        ] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", root.join("bin/busybox"))
            .expect("busybox-static is needed for the incus image (scripts/test.sh installs it)");
        let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            if applet != "busybox" {
                let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(applet));
            }
        }
        let haproxy = "/usr/sbin/haproxy";
        std::fs::copy(haproxy, root.join("usr/sbin/haproxy")).unwrap();
        let ldd = Command::new("ldd").arg(haproxy).output().unwrap();
        for line in String::from_utf8_lossy(&ldd.stdout).lines() {
            let lib = match line.split_once("=>") {
                Some((_, r)) => r.split_whitespace().next(),
                None => line
                    .split_whitespace()
                    .next()
                    .filter(|p| p.starts_with('/')),
            };
            if let Some(lib) = lib.filter(|l| l.starts_with('/')) {
                let dest = root.join(lib.trim_start_matches('/'));
                std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
                std::fs::copy(lib, dest).unwrap();
            }
        }
        let files = [
            (
                "etc/passwd",
                "root:x:0:0:root:/root:/bin/sh\nhaproxy:x:100:101::/var/lib/haproxy:/bin/false\n",
                0o644,
            ),
            ("etc/group", "root:x:0:\nhaproxy:x:101:\n", 0o644),
            ("etc/resolv.conf", "nameserver 127.0.0.1\n", 0o644),
            (
                "sbin/init",
                "#!/bin/sh\nip link set lo up 2>/dev/null\nexec sleep 2147483647\n",
                0o755,
            ),
            ("usr/local/bin/edge-reload", INCUS_RELOAD, 0o755),
        ];
        use std::os::unix::fs::PermissionsExt;
        for (p, text, mode) in files {
            std::fs::write(root.join(p), text).unwrap();
            std::fs::set_permissions(root.join(p), std::fs::Permissions::from_mode(mode)).unwrap();
        }
        std::fs::write(
            dir.path().join("metadata.yaml"),
            "architecture: x86_64\ncreation_date: 1700000000\nproperties:\n  \
             description: edgeplan test box\n  os: busybox\n",
        )
        .unwrap();
        run_ok(Command::new("tar").current_dir(dir.path()).args([
            "-czf",
            "meta.tar.gz",
            "metadata.yaml",
        ]));
        run_ok(
            Command::new("tar")
                .current_dir(&root)
                .args(["-czf", "../rootfs.tar.gz", "."]),
        );
        let d = dir.path().display().to_string();
        incus(&[
            "image",
            "import",
            &format!("{d}/meta.tar.gz"),
            &format!("{d}/rootfs.tar.gz"),
            "--alias",
            &tag,
        ]);
        let b = IncusBox {
            name: tag.clone(),
            image: tag,
        };
        incus(&["launch", &b.image, &b.name]);
        // `incus launch` returns once init is started, not done: until it has brought up `lo`
        // and become `sleep`, haproxy cannot bind 127.0.0.1 — under load that race is real.
        let start = Instant::now();
        loop {
            let init = b.sh("cat /proc/1/comm; ip -o link show lo");
            if init.starts_with("sleep\n") && init.contains(",UP") {
                break;
            }
            assert!(
                start.elapsed() < crate::common::HANG_GUARD,
                "the container's init did not finish: {init:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        b
    }

    /// `sh -c SCRIPT` in the container; stdout.
    pub fn sh(&self, script: &str) -> String {
        let out = Command::new("incus")
            .args(["exec", &self.name, "--", "sh", "-c", script])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Wait until `GET /` for `host` inside the container answers with `body` in it.
    pub fn wait_for(&self, port: u16, host: &str, body: &str) -> String {
        let script =
            format!("printf 'GET / HTTP/1.0\\r\\nHost: {host}\\r\\n\\r\\n' | nc 127.0.0.1 {port}");
        let start = Instant::now();
        loop {
            let got = self.sh(&script);
            if got.contains(body) {
                return got;
            }
            assert!(
                start.elapsed() < crate::common::HANG_GUARD,
                "the container never served {body:?} for {host}; last answer: {got:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for IncusBox {
    fn drop(&mut self) {
        let _ = Command::new("incus")
            .args(["delete", "--force", &self.name])
            .output();
        let _ = Command::new("incus")
            .args(["image", "delete", &self.image])
            .output();
    }
}
