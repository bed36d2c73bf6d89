//! Support for the plan/apply tests: a temp dir holding specs, a template override and a local
//! box root; runs of the real binary in it; and a real sshd on a free loopback port whose
//! sessions see that box root (`SetEnv EDGEPLAN_BOX_ROOT`), so the same box can be reached as a
//! `local` and as an `ssh` target.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Output, bin};

/// A small haproxy.cfg override: plan tests are about plans, not about the real template.
pub const TEMPLATE: &str = r#"# test config of {{ edge.name }}
global
    stats socket {{ admin_socket }} mode 600 level admin
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
{% if b.body_file %}
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
}

impl Edgebox {
    /// Specs from `(path, text)` pairs, the test template, an empty box root.
    pub fn new(specs: &[(&str, &str)]) -> Edgebox {
        let dir = tempfile::tempdir().unwrap();
        let b = Edgebox {
            dir,
            env: Vec::new(),
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
        all.extend(["--templates".into(), "templates".into()]);
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

/// A free loopback TCP port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

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
        let d = dir.path();
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
        let start = Instant::now();
        loop {
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
            // Ready when it listens; a lost race for the port makes it exit: try another.
            let ready = loop {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    break true;
                }
                if child.try_wait().unwrap().is_some() {
                    break false;
                }
                std::thread::sleep(Duration::from_millis(10));
            };
            if ready {
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
                std::fs::write(d.join("ssh_config"), client).unwrap();
                return Sshd { dir, port, child };
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "sshd did not start: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
    }

    /// `EDGEPLAN_SSH_COMMAND` for edgeplan.
    pub fn ssh_command(&self) -> String {
        format!("ssh -F {}", self.dir.path().join("ssh_config").display())
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
    /// Put the current specs on the box as a new active generation, through the library's
    /// transport operations (what apply does, without its checks).
    pub fn seed(&self) {
        use edgeplan::transport::{self, generation};
        let build = edgeplan::build(&edgeplan::BuildOptions {
            specs: self.path().join("specs"),
            templates: Some(self.path().join("templates")),
            colors: Vec::new(),
        })
        .unwrap();
        let target = transport::select(&build.edge, Some("box")).unwrap();
        let mut t = transport::open(target, &self.path().join("specs")).unwrap();
        let model =
            serde_json::to_string(&edgeplan::plan::semantic::ModelSummary::of(&build)).unwrap();
        let tar = generation::package(&build.manifest, &build.rendered, &model);
        t.stage(&build.manifest.tree_hash, &tar, None).unwrap();
        let n = t.promote(&build.manifest.tree_hash, "{}").unwrap();
        t.link(n).unwrap();
        t.swap(Some(n)).unwrap();
        t.prune().unwrap();
        t.finish(5, "seeded\n").unwrap();
    }
}
