//! Let's Encrypt and systemd files (tracker issue 4), checked with the real tools:
//!
//! * `systemd-analyze verify` on every rendered unit and drop-in: exit 0 and nothing on stderr;
//!   every timer's `Unit=` and every unit the drop-ins name is rendered too;
//! * the deploy hook and the placeholder maker pass `bash -n` and shellcheck; the deploy hook
//!   installs, refuses and ignores as it should, against real `haproxy -c`;
//! * `cli.ini` is accepted by certbot and names no domain;
//! * bootstrap coverage: with the rendered placeholder units' PEMs, real HAProxy on the rendered
//!   config answers every public host's SNI with a certificate that covers it;
//! * offline issuance end to end: pebble (+ pebble-challtestsrv for DNS), real HAProxy on the
//!   rendered config, the rendered certbot invocation; pebble's http-01 validation goes through
//!   HAProxy's :80 ACME route to certbot's standalone listener, the rendered deploy hook installs
//!   the PEM and reloads HAProxy, and the :443 handshake then returns the pebble-issued
//!   certificate with all of the group's names; the rendered renew invocation renews it again.
//!
//! Everything runs on free loopback ports in temp dirs; processes are killed by PID on drop.
//! Only addresses, ports and paths of the rendered files are substituted.

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpStream;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::ports::{PortTaken, bind_failed, free_ports};

use crate::common::Test;

// ---------------------------------------------------------------------------------------------
// The rendered tree.

/// The bundled specs built into a temp dir by the real binary.
pub struct Tree {
    _test: Test,
    out: PathBuf,
}

impl Tree {
    pub fn bundled() -> Tree {
        let test = Test::bundled().args(["build", "--out", "out"]);
        let run = test.run();
        assert_eq!(run.code, 0, "edgeplan build failed:\n{}", run.folded());
        let out = test.path().join("out");
        Tree { _test: test, out }
    }
    pub fn path(&self, rel: &str) -> PathBuf {
        self.out.join(rel)
    }
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel))
            .unwrap_or_else(|e| panic!("{rel} was not rendered: {e}"))
    }
    /// Rendered unit files (`etc/systemd/system/*.service|*.timer`) by file name.
    pub fn units(&self) -> BTreeMap<String, String> {
        let dir = self.path("etc/systemd/system");
        let mut out = BTreeMap::new();
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            if e.file_type().unwrap().is_file()
                && (name.ends_with(".service") || name.ends_with(".timer"))
            {
                out.insert(name, std::fs::read_to_string(e.path()).unwrap());
            }
        }
        out
    }
    /// The certificate groups, from the issue units' names.
    pub fn cert_names(&self) -> Vec<String> {
        self.units()
            .keys()
            .filter_map(|u| {
                u.strip_prefix("edgeplan-cert-")
                    .and_then(|n| n.strip_suffix(".service"))
            })
            .map(str::to_string)
            .collect()
    }
}

/// Values of `Key=` in a unit file.
fn unit_values(unit: &str, key: &str) -> Vec<String> {
    let prefix = format!("{key}=");
    unit.lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(str::to_string)
        .collect()
}

/// The one `ExecStart=` of a unit as words (edgeplan's units never quote: every value is
/// checked to contain nothing that would need it).
fn exec_start(unit: &str) -> Vec<String> {
    let lines = exec_starts(unit);
    assert_eq!(lines.len(), 1, "expected one ExecStart= in:\n{unit}");
    lines.into_iter().next().unwrap()
}

/// Every `ExecStart=` of a (oneshot) unit, in order, as words.
pub fn exec_starts(unit: &str) -> Vec<Vec<String>> {
    unit_values(unit, "ExecStart")
        .iter()
        .map(|line| {
            assert!(
                !line.contains(['"', '\'', '\\', '%', '$']),
                "ExecStart needs quoting or expands: {line}"
            );
            line.split_whitespace().map(str::to_string).collect()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Processes, ports, waiting.

/// A child process killed (TERM, then KILL) by its PID when dropped.
pub struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &'static str, cmd: &mut Command, log: PathBuf) -> Proc {
        let file = std::fs::File::create(&log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc { name, child, log }
    }
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
    /// `Err` when it exited because a port was taken; panics when it exited for another reason.
    fn exited_binding(&mut self) -> Result<(), PortTaken> {
        if let Ok(Some(status)) = self.child.try_wait() {
            let log = self.log();
            if bind_failed(&log) {
                return Err(PortTaken(log));
            }
            panic!("{} exited ({status}):\n{log}", self.name);
        }
        Ok(())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_until(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// [`wait_until`] for a server starting on picked ports: `ready` says a taken port early.
fn wait_started(
    what: &str,
    timeout: Duration,
    mut ready: impl FnMut() -> Result<bool, PortTaken>,
) -> Result<(), PortTaken> {
    let deadline = Instant::now() + timeout;
    while !ready()? {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
    Ok(())
}

fn listening(port: u16) -> bool {
    listening_at("127.0.0.1", port)
}

fn listening_at(ip: &str, port: u16) -> bool {
    TcpStream::connect((ip, port)).is_ok()
}

fn run(cmd: &mut Command) -> Output {
    let shown = format!("{cmd:?}");
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"))
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(cmd: &mut Command) -> String {
    let shown = format!("{cmd:?}");
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{shown} failed ({}):\n{}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

pub fn write_exec(path: &Path, content: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

// ---------------------------------------------------------------------------------------------
// TLS: what a handshake returns.

/// The leaf certificate HAProxy presents for `sni`, as PEM.
pub fn presented(port: u16, sni: &str) -> String {
    let out = run(Command::new("openssl").args([
        "s_client",
        "-servername",
        sni,
        "-connect",
        &format!("127.0.0.1:{port}"),
    ]));
    let s = text(&out.stdout);
    let begin = s.find("-----BEGIN CERTIFICATE-----");
    let end = s.find("-----END CERTIFICATE-----");
    match (begin, end) {
        (Some(b), Some(e)) => s[b..e + "-----END CERTIFICATE-----".len()].to_string() + "\n",
        _ => panic!(
            "no certificate for SNI {sni} on :{port}:\n{s}{}",
            text(&out.stderr)
        ),
    }
}

/// `openssl x509` on a PEM given on stdin.
fn x509(pem: &str, args: &[&str]) -> String {
    use std::io::Write;
    let mut child = Command::new("openssl")
        .arg("x509")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(pem.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "openssl x509: {}", text(&out.stderr));
    text(&out.stdout)
}

/// The DNS names of a certificate's subjectAltName.
pub fn san(pem: &str) -> BTreeSet<String> {
    x509(pem, &["-noout", "-ext", "subjectAltName"])
        .split([',', '\n'])
        .filter_map(|p| p.trim().strip_prefix("DNS:"))
        .map(str::to_string)
        .collect()
}

pub fn issuer(pem: &str) -> String {
    x509(pem, &["-noout", "-issuer"]).trim().to_string()
}

pub fn serial(pem: &str) -> String {
    x509(pem, &["-noout", "-serial"]).trim().to_string()
}

// ---------------------------------------------------------------------------------------------
// Real HAProxy on the rendered config.

/// Ports and paths substituted into the rendered haproxy.cfg.
pub struct Live {
    pub dir: PathBuf,
    pub http: u16,
    pub https: u16,
    pub stats: u16,
    pub challenge: u16,
}

impl Live {
    pub fn cert_dir(&self) -> PathBuf {
        self.dir.join("certs")
    }
    pub fn config(&self) -> PathBuf {
        self.dir.join("haproxy.cfg")
    }

    /// The rendered config with listen addresses, the ACME server's port and the file paths
    /// substituted; error files copied next to it.
    fn write_config(&self, tree: &Tree) {
        let cfg = tree.read("etc/haproxy/haproxy.cfg");
        let d = self.dir.display();
        let mut section = String::new();
        let mut out = String::new();
        for line in cfg.lines() {
            if !line.starts_with(' ') && !line.is_empty() && !line.starts_with('#') {
                section = line.trim().to_string();
            }
            let t = line.trim_start();
            let new = if let Some(rest) = t.strip_prefix("bind ") {
                let rest = rest.split_once(' ').map_or("", |(_, r)| r);
                let port = match section.as_str() {
                    "frontend http" => self.http,
                    "frontend https" => self.https,
                    "frontend stats" => self.stats,
                    s => panic!("unexpected bind in {s}"),
                };
                let rest = rest.replace(" crt /etc/haproxy/certs/", &format!(" crt {d}/certs/"));
                format!("    bind 127.0.0.1:{port} {rest}")
            } else if t.starts_with("server certbot ") {
                format!("    server certbot 127.0.0.1:{}", self.challenge)
            } else if let Some(rest) = t.strip_prefix("server ") {
                // Upstreams: a closed loopback port instead of container names (which would
                // cost a DNS timeout each at every start and reload on this offline machine).
                let mut words: Vec<&str> = rest.split(' ').collect();
                words[1] = "127.0.0.1:1";
                format!("    server {}", words.join(" "))
            } else if let Some(rest) = t.strip_prefix("stats socket ") {
                let rest = rest.split_once(' ').map_or("", |(_, r)| r);
                format!("    stats socket {d}/admin.sock {rest}")
            } else if let Some(rest) = t.strip_prefix("log /dev/log ") {
                // Request logs on haproxy's stdout, into the test's log file (`format` after
                // `len N`, haproxy's order).
                match rest.strip_prefix("len ").and_then(|r| r.split_once(' ')) {
                    Some((len, rest)) => format!("    log stdout len {len} format raw {rest}"),
                    None => format!("    log stdout format raw {rest}"),
                }
            } else if t.starts_with("server-state-file ") {
                format!("    server-state-file {d}/server-state")
            } else {
                line.replace(" file /etc/haproxy/errors/", &format!(" file {d}/errors/"))
            };
            out += &new;
            out.push('\n');
        }
        assert!(out.contains(&format!("127.0.0.1:{}", self.challenge)));
        std::fs::write(self.config(), out).unwrap();
        std::fs::create_dir_all(self.dir.join("errors")).unwrap();
        for e in std::fs::read_dir(tree.path("etc/haproxy/errors")).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), self.dir.join("errors").join(e.file_name())).unwrap();
        }
    }

    /// `haproxy -W -db` (master-worker, foreground) on the substituted config;
    /// [`PortTaken`] when it exited because a port was taken.
    pub fn start(&self) -> Result<Proc, PortTaken> {
        let cfg = self.config();
        ok(Command::new("haproxy")
            .arg("-c")
            .arg("-q")
            .arg("-f")
            .arg(&cfg));
        let mut p = Proc::spawn(
            "haproxy",
            Command::new("haproxy")
                .arg("-W")
                .arg("-db")
                .arg("-f")
                .arg(&cfg)
                .arg("-S")
                .arg(self.dir.join("master.sock")),
            self.dir.join("haproxy.log"),
        );
        wait_started("haproxy to listen", crate::common::HANG_GUARD, || {
            p.exited_binding()?;
            Ok(listening(self.http) && listening(self.https))
        })?;
        Ok(p)
    }

    /// Fresh ports in `dir`, the rendered config written for them and haproxy started (again on
    /// fresh ports when one was taken).
    pub fn run(dir: &Path, tree: &Tree) -> (Live, Proc) {
        crate::ports::retry("haproxy on the rendered config", || {
            let [http, https, stats, challenge] = free_ports::<4>();
            let live = Live {
                dir: dir.to_path_buf(),
                http,
                https,
                stats,
                challenge,
            };
            live.write_config(tree);
            let p = live.start()?;
            Ok((live, p))
        })
    }
}

/// Make every group's placeholder PEM by running the rendered placeholder units' commands, with
/// the helper at a temp path and the certificate directory pointed at `cert_dir`.
pub fn run_placeholder_units(tree: &Tree, cert_dir: &Path, helper: &Path) {
    let rendered_helper = tree.path("usr/local/lib/edgeplan/selfsigned-pem");
    std::fs::copy(&rendered_helper, helper).unwrap();
    for (name, unit) in tree.units() {
        if !name.starts_with("edgeplan-selfsigned-") {
            continue;
        }
        let words = exec_start(&unit);
        assert_eq!(words[0], "/usr/local/lib/edgeplan/selfsigned-pem", "{name}");
        let condition = unit_values(&unit, "ConditionPathExists");
        let pem = condition[0].strip_prefix("!/etc/haproxy/certs/").unwrap();
        assert!(!cert_dir.join(pem).exists());
        ok(Command::new(helper)
            .args(&words[1..])
            .env("EDGEPLAN_HAPROXY_CERT_DIR", cert_dir));
        assert!(cert_dir.join(pem).is_file(), "{name} made no {pem}");
    }
}

// ---------------------------------------------------------------------------------------------
// Tests.

#[test]
fn rendered_units_pass_systemd_analyze_verify() {
    let tree = Tree::bundled();
    let units = tree.units();
    let certs = tree.cert_names();
    assert_eq!(certs, ["forgejo.talas.group", "talas.fr", "veza.fr"]);
    for c in &certs {
        for unit in [
            format!("edgeplan-cert-{c}.service"),
            format!("edgeplan-renew-{c}.service"),
            format!("edgeplan-renew-{c}.timer"),
            format!("edgeplan-selfsigned-{c}.service"),
        ] {
            assert!(units.contains_key(&unit), "{unit} not rendered");
        }
    }

    // Every timer starts a rendered unit.
    for (name, unit) in units.iter().filter(|(n, _)| n.ends_with(".timer")) {
        let targets = unit_values(unit, "Unit");
        assert_eq!(targets.len(), 1, "{name}: one Unit= expected");
        assert!(
            units.contains_key(&targets[0]),
            "{name}: Unit={} is not rendered",
            targets[0]
        );
        for key in ["OnCalendar", "RandomizedDelaySec", "Persistent"] {
            assert!(!unit_values(unit, key).is_empty(), "{name}: no {key}=");
        }
        assert_eq!(unit_values(unit, "Persistent"), ["true"]);
    }
    // Renewal never sleeps a random time on top of the timer's delay.
    for (name, unit) in units
        .iter()
        .filter(|(n, _)| n.starts_with("edgeplan-renew-"))
    {
        if name.ends_with(".service") {
            let lines = exec_starts(unit);
            assert_eq!(lines[0][..2], ["/usr/bin/certbot", "renew"], "{name}");
            assert!(lines[0].contains(&"--no-random-sleep-on-renew".to_string()));
        }
    }
    // The issue and renew units end by converging haproxy's PEM to certbot's lineage.
    for (name, unit) in units.iter().filter(|(n, _)| {
        (n.starts_with("edgeplan-renew-") || n.starts_with("edgeplan-cert-"))
            && n.ends_with(".service")
    }) {
        let cert = name
            .trim_start_matches("edgeplan-renew-")
            .trim_start_matches("edgeplan-cert-")
            .trim_end_matches(".service");
        let lines = exec_starts(unit);
        assert_eq!(lines.len(), 2, "{name}");
        assert_eq!(
            lines[1],
            [
                "/etc/letsencrypt/renewal-hooks/deploy/edgeplan-haproxy",
                "--converge",
                cert
            ],
            "{name}"
        );
        assert_eq!(unit_values(unit, "Restart"), ["on-failure"], "{name}");
    }

    // Units in one directory, with the packaged haproxy.service and certbot.service and the
    // rendered drop-ins next to them; the placeholder helper at a real path.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("units");
    std::fs::create_dir_all(&dir).unwrap();
    let helper = tmp.path().join("selfsigned-pem");
    write_exec(&helper, &tree.read("usr/local/lib/edgeplan/selfsigned-pem"));
    let mut files = Vec::new();
    for (name, unit) in &units {
        let unit = unit.replace(
            "ExecStart=/usr/local/lib/edgeplan/selfsigned-pem ",
            &format!("ExecStart={} ", helper.display()),
        );
        std::fs::write(dir.join(name), unit).unwrap();
        files.push(dir.join(name));
    }
    let mut drop_ins = Vec::new();
    for packaged in ["haproxy.service", "certbot.service"] {
        let rendered = format!("etc/systemd/system/{packaged}.d/edgeplan.conf");
        let from = Path::new("/lib/systemd/system").join(packaged);
        assert!(from.is_file(), "{} is not installed", from.display());
        std::fs::copy(&from, dir.join(packaged)).unwrap();
        std::fs::create_dir_all(dir.join(format!("{packaged}.d"))).unwrap();
        let drop_in = dir.join(format!("{packaged}.d/edgeplan.conf"));
        // The state helper at a real path too (ExecReload must name an executable).
        let state_helper = tmp.path().join("haproxy-save-state");
        write_exec(
            &state_helper,
            &tree.read("usr/local/lib/edgeplan/haproxy-save-state"),
        );
        let text = tree.read(&rendered).replace(
            "ExecReload=/usr/local/lib/edgeplan/haproxy-save-state\n",
            &format!("ExecReload={}\n", state_helper.display()),
        );
        std::fs::write(&drop_in, text).unwrap();
        files.push(dir.join(packaged));
        drop_ins.push(drop_in);
    }
    // Every unit the haproxy drop-in names is rendered; every reload saves the server states
    // first, then runs Debian's own check and reload (the list reset by an empty assignment).
    let dropin = tree.read("etc/systemd/system/haproxy.service.d/edgeplan.conf");
    let packaged = std::fs::read_to_string("/lib/systemd/system/haproxy.service").unwrap();
    let mut reload = vec![
        String::new(),
        "/usr/local/lib/edgeplan/haproxy-save-state".to_string(),
    ];
    reload.extend(
        packaged
            .lines()
            .filter_map(|l| l.strip_prefix("ExecReload="))
            .map(str::to_string),
    );
    let rendered_reload: Vec<String> = dropin
        .lines()
        .filter_map(|l| l.strip_prefix("ExecReload="))
        .map(str::to_string)
        .collect();
    assert_eq!(rendered_reload, reload, "the drop-in's ExecReload lines");
    let wanted: Vec<String> = unit_values(&dropin, "Wants");
    assert_eq!(wanted, unit_values(&dropin, "After"));
    assert_eq!(wanted.len(), certs.len());
    for w in &wanted {
        assert!(
            units.contains_key(w),
            "haproxy drop-in wants {w}, not rendered"
        );
    }

    let verify = |files: &[PathBuf]| {
        let started = Instant::now();
        let out = run(Command::new("systemd-analyze").arg("verify").args(files));
        (out, started.elapsed())
    };
    let (out, took) = verify(&files);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify ({}):\n{}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    eprintln!("systemd-analyze verify of {} units: {took:?}", files.len());

    // The check has teeth: the drop-ins are read (an unknown key in one is reported) and a
    // missing ExecStart binary fails.
    for drop_in in &drop_ins {
        let good = std::fs::read_to_string(drop_in).unwrap();
        std::fs::write(drop_in, format!("{good}Bogus=1\n")).unwrap();
        let (out, _) = verify(&files);
        assert!(
            text(&out.stderr).contains("Bogus"),
            "{} not read by verify",
            drop_in.display()
        );
        std::fs::write(drop_in, good).unwrap();
    }
    std::fs::remove_file(&helper).unwrap();
    let (out, _) = verify(&files);
    assert!(!out.status.success(), "a missing ExecStart binary passed");
}

#[test]
fn hook_scripts_pass_bash_n_and_shellcheck() {
    let tree = Tree::bundled();
    for (rel, mode) in [
        (
            "etc/letsencrypt/renewal-hooks/deploy/edgeplan-haproxy",
            0o755,
        ),
        ("usr/local/lib/edgeplan/selfsigned-pem", 0o755),
    ] {
        let path = tree.path(rel);
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, mode, "{rel}");
        let script = tree.read(rel);
        assert!(
            script.starts_with("#!/bin/bash\n# Rendered by edgeplan "),
            "{rel}"
        );
        assert!(script.contains("\nset -euo pipefail\n"), "{rel}");
        ok(Command::new("bash").arg("-n").arg(&path));
        ok(Command::new("shellcheck").arg("--shell=bash").arg(&path));
    }
    let manifest = tree.read("manifest.json");
    for rel in [
        "etc/letsencrypt/renewal-hooks/deploy/edgeplan-haproxy",
        "usr/local/lib/edgeplan/selfsigned-pem",
    ] {
        let at = manifest.find(rel).unwrap();
        assert!(
            manifest[at..].lines().nth(1).unwrap().contains("\"0755\""),
            "{rel} not 0755 in the manifest"
        );
    }
}

#[test]
fn every_rendered_file_has_the_provenance_header() {
    let tree = Tree::bundled();
    let manifest: serde_json::Value = serde_json::from_str(&tree.read("manifest.json")).unwrap();
    let hash = manifest["input_hash"].as_str().unwrap();
    let header = format!(
        "# Rendered by edgeplan {}; the input hash is in the generation's manifest.json.\n",
        env!("CARGO_PKG_VERSION")
    );
    let mut seen = 0;
    for f in manifest["files"].as_array().unwrap() {
        let path = f["path"].as_str().unwrap();
        // No file names the input hash: a spec change touches only the files it changes.
        assert!(
            !tree.read(path).contains(&hash[..16]),
            "{path} names the input hash"
        );
        if !(path.starts_with("etc/letsencrypt/")
            || path.starts_with("etc/systemd/")
            || path.starts_with("usr/local/lib/edgeplan/"))
        {
            continue;
        }
        seen += 1;
        let content = tree.read(path);
        let body = content
            .strip_prefix("#!/bin/bash\n")
            .or_else(|| content.strip_prefix("#!/bin/sh\n"))
            .unwrap_or(&content);
        assert!(
            body.starts_with(&header),
            "{path} lacks the provenance header"
        );
    }
    // cli.ini + hook, 12 units + 2 drop-ins, the placeholder maker, the state helper.
    assert_eq!(seen, 2 + 14 + 2);
}

#[test]
fn cli_ini_is_accepted_by_certbot_and_names_no_domain() {
    let tree = Tree::bundled();
    let ini = tree.read("etc/letsencrypt/cli.ini");
    let keys: BTreeMap<&str, &str> = ini
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.trim(), v.trim())
        })
        .collect();
    let expected: BTreeMap<&str, &str> = [
        ("email", "ops@veza.fr"),
        ("server", "https://acme-v02.api.letsencrypt.org/directory"),
        ("agree-tos", "true"),
        ("no-eff-email", "true"),
        ("non-interactive", "true"),
        ("key-type", "ecdsa"),
        ("authenticator", "standalone"),
        ("preferred-challenges", "http-01"),
        ("http-01-address", "127.0.0.1"),
        ("http-01-port", "8888"),
        ("max-log-backups", "0"),
        ("preconfigured-renewal", "true"),
    ]
    .into_iter()
    .collect();
    assert_eq!(keys, expected);
    // No domain anywhere but in the account e-mail.
    let edge = edgeplan::load(&crate::common::repo().join("specs"))
        .unwrap()
        .1;
    for (host, _) in edge.public_hosts() {
        for (k, v) in &keys {
            if *k != "email" {
                assert!(!v.contains(host.as_str()), "cli.ini names {host} in {k}");
            }
        }
    }

    let tmp = tempfile::tempdir().unwrap();
    let certbot = |config: &Path| {
        let t = tmp.path();
        run(Command::new("certbot")
            .arg("certificates")
            .arg("--config")
            .arg(config)
            .args(["--config-dir", &t.join("config").display().to_string()])
            .args(["--work-dir", &t.join("work").display().to_string()])
            .args(["--logs-dir", &t.join("logs").display().to_string()]))
    };
    let out = certbot(&tree.path("etc/letsencrypt/cli.ini"));
    assert!(
        out.status.success(),
        "certbot refuses cli.ini ({}):\n{}",
        out.status,
        text(&out.stderr)
    );
    // The check has teeth: certbot refuses an unknown key.
    let bad = tmp.path().join("bad.ini");
    std::fs::write(&bad, format!("{ini}no-such-option = 1\n")).unwrap();
    let out = certbot(&bad);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[test]
fn deploy_hook_installs_refuses_and_ignores() {
    let tree = Tree::bundled();
    let tmp = tempfile::tempdir().unwrap();
    let live = Live {
        dir: tmp.path().to_path_buf(),
        http: 80,
        https: 443,
        stats: 9100,
        challenge: 8888,
    };
    live.write_config(&tree);
    let certs = live.cert_dir();
    run_placeholder_units(&tree, &certs, &tmp.path().join("selfsigned-pem"));
    let hook = tree.path("etc/letsencrypt/renewal-hooks/deploy/edgeplan-haproxy");
    let reloads = tmp.path().join("reloads");
    let run_hook = |lineage: &Path| {
        run(Command::new(&hook)
            .env("RENEWED_LINEAGE", lineage)
            .env("RENEWED_DOMAINS", "veza.fr www.veza.fr staging.veza.fr")
            .env("EDGEPLAN_HAPROXY_CERT_DIR", &certs)
            .env("EDGEPLAN_HAPROXY_CONFIG", live.config())
            .env("EDGEPLAN_HAPROXY_BIN", "/usr/sbin/haproxy")
            .env(
                "EDGEPLAN_HAPROXY_RELOAD",
                format!("touch {}", reloads.display()),
            ))
    };
    // A lineage as certbot leaves it: live/NAME/{fullchain,privkey}.pem.
    let lineage = tmp.path().join("live/veza.fr");
    std::fs::create_dir_all(&lineage).unwrap();
    ok(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=renewed.veza.fr",
            "-addext",
            "subjectAltName=DNS:veza.fr,DNS:www.veza.fr,DNS:staging.veza.fr",
        ])
        .arg("-keyout")
        .arg(lineage.join("privkey.pem"))
        .arg("-out")
        .arg(lineage.join("fullchain.pem")));
    let pem = certs.join("veza.fr.pem");
    let placeholder = std::fs::read(&pem).unwrap();
    let listing = || -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&certs)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let before = listing();

    // Installs: full chain + key, 0640 root:haproxy, then reloads.
    let out = run_hook(&lineage);
    assert!(out.status.success(), "hook failed:\n{}", text(&out.stderr));
    let expected = [
        std::fs::read(lineage.join("fullchain.pem")).unwrap(),
        std::fs::read(lineage.join("privkey.pem")).unwrap(),
    ]
    .concat();
    assert_eq!(std::fs::read(&pem).unwrap(), expected);
    let meta = std::fs::metadata(&pem).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o640);
    assert_eq!(meta.uid(), 0);
    let group = ok(Command::new("getent").args(["group", "haproxy"]));
    let gid: u32 = group.split(':').nth(2).unwrap().parse().unwrap();
    assert_eq!(meta.gid(), gid, "not group haproxy");
    assert!(reloads.exists(), "haproxy was not reloaded");
    assert_eq!(listing(), before, "temporary files left behind");
    assert_ne!(std::fs::read(&pem).unwrap(), placeholder);

    // Refuses a certificate haproxy cannot load: the previous PEM stays, no reload.
    std::fs::remove_file(&reloads).unwrap();
    let installed = std::fs::read(&pem).unwrap();
    std::fs::write(lineage.join("privkey.pem"), "not a key\n").unwrap();
    std::fs::write(lineage.join("fullchain.pem"), "not a certificate\n").unwrap();
    let out = run_hook(&lineage);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("previous file is back"));
    assert_eq!(std::fs::read(&pem).unwrap(), installed);
    assert!(!reloads.exists(), "reloaded with a broken certificate");
    assert_eq!(listing(), before, "temporary files left behind");

    // Ignores a certificate edgeplan does not manage.
    let stray = tmp.path().join("live/old-staging.veza.fr");
    std::fs::create_dir_all(&stray).unwrap();
    let out = run_hook(&stray);
    assert!(out.status.success());
    assert!(text(&out.stderr).contains("not managed by edgeplan"));
    assert_eq!(listing(), before);
    assert!(!reloads.exists());
}

#[test]
fn placeholder_certificates_cover_every_public_host() {
    let tree = Tree::bundled();
    let edge = edgeplan::load(&crate::common::repo().join("specs"))
        .unwrap()
        .1;
    let tmp = tempfile::tempdir().unwrap();
    let cert_dir = tmp.path().join("certs");
    let helper = tmp.path().join("selfsigned-pem");
    run_placeholder_units(&tree, &cert_dir, &helper);

    // The placeholder is made once: a second run leaves the PEM alone.
    let veza = cert_dir.join("veza.fr.pem");
    let first = std::fs::read(&veza).unwrap();
    ok(Command::new(&helper)
        .args(["veza.fr", "veza.fr"])
        .env("EDGEPLAN_HAPROXY_CERT_DIR", &cert_dir));
    assert_eq!(std::fs::read(&veza).unwrap(), first);
    let meta = std::fs::metadata(&veza).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o640);

    let started = Instant::now();
    let (live, _haproxy) = Live::run(tmp.path(), &tree);
    assert_eq!(live.cert_dir(), cert_dir);
    let https = live.https;
    let hosts = edge.public_hosts();
    assert!(hosts.len() >= 6, "{hosts:?}");
    for (host, owner) in &hosts {
        let cert = presented(https, host.as_str());
        let names = san(&cert);
        assert!(
            names.contains(host.as_str()),
            "SNI {host} ({owner}) got a certificate for {names:?}"
        );
    }
    eprintln!(
        "{} hosts covered by the placeholders through haproxy in {:?}",
        hosts.len(),
        started.elapsed()
    );
}

/// pebble + pebble-challtestsrv on free loopback ports.
pub struct Pebble {
    _dns: Proc,
    _pebble: Proc,
    /// Its ACME directory URL.
    pub directory: String,
    management: String,
    /// The certificate of its HTTPS listener (what an ACME client must trust).
    pub ca: PathBuf,
}

/// Where a [`Pebble`] listens and whom it validates.
pub struct PebbleAt<'a> {
    /// The address its ACME and management listeners bind (its TLS certificate names it).
    pub listen: &'a str,
    /// The address every name resolves to in its DNS (pebble-challtestsrv's `-defaultIPv4`).
    pub names_at: &'a str,
    /// The port its http-01 validator connects to there.
    pub http_port: u16,
    /// The validity of the certificates it issues, in seconds (`certificateValidityPeriod`);
    /// `None`: pebble's default (5 years).
    pub validity: Option<u64>,
}

impl Pebble {
    /// Start both; pebble's http-01 validator connects to `http_port` of 127.0.0.1 (every name
    /// resolves to 127.0.0.1 in pebble-challtestsrv's DNS).
    pub fn start(dir: &Path, http_port: u16) -> Pebble {
        Pebble::start_at(
            dir,
            &PebbleAt {
                listen: "127.0.0.1",
                names_at: "127.0.0.1",
                http_port,
                validity: None,
            },
        )
    }

    /// Start both as `at` says.
    pub fn start_at(dir: &Path, at: &PebbleAt<'_>) -> Pebble {
        crate::ports::retry("pebble", || Pebble::try_start(dir, at))
    }

    fn try_start(dir: &Path, at: &PebbleAt<'_>) -> Result<Pebble, PortTaken> {
        std::fs::create_dir_all(dir).unwrap();
        let [acme, management, dns, dns_mgmt, tls] = free_ports::<5>();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        ok(Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:P-256", "-nodes", "-days", "2"])
            .args(["-subj", "/CN=localhost"])
            .args([
                "-addext",
                &format!("subjectAltName=DNS:localhost,IP:127.0.0.1,IP:{}", at.listen),
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert));
        let mut config = serde_json::json!({
            "pebble": {
                "listenAddress": format!("{}:{acme}", at.listen),
                "managementListenAddress": format!("{}:{management}", at.listen),
                "certificate": cert,
                "privateKey": key,
                "httpPort": at.http_port,
                "tlsPort": tls,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": false
            }
        });
        if let Some(v) = at.validity {
            config["pebble"]["certificateValidityPeriod"] = v.into();
        }
        let config_path = dir.join("pebble.json");
        std::fs::write(&config_path, config.to_string()).unwrap();
        let mut dns_proc = Proc::spawn(
            "pebble-challtestsrv",
            Command::new("pebble-challtestsrv")
                .args(["-defaultIPv4", at.names_at, "-defaultIPv6", ""])
                .args(["-dns01", &format!("127.0.0.1:{dns}")])
                .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
                .args(["-management", &format!("127.0.0.1:{dns_mgmt}")]),
            dir.join("challtestsrv.log"),
        );
        wait_started("pebble-challtestsrv", crate::common::HANG_GUARD, || {
            dns_proc.exited_binding()?;
            Ok(listening(dns_mgmt))
        })?;
        let mut pebble = Proc::spawn(
            "pebble",
            Command::new("pebble")
                .arg("-config")
                .arg(&config_path)
                .args(["-dnsserver", &format!("127.0.0.1:{dns}")])
                .env("PEBBLE_VA_NOSLEEP", "1")
                .env("PEBBLE_WFE_NONCEREJECT", "0")
                .env_remove("PEBBLE_VA_ALWAYS_VALID"),
            dir.join("pebble.log"),
        );
        let listen = at.listen.to_string();
        wait_started("pebble", crate::common::HANG_GUARD, || {
            pebble.exited_binding()?;
            Ok(listening_at(&listen, acme) && listening_at(&listen, management))
        })?;
        Ok(Pebble {
            _dns: dns_proc,
            _pebble: pebble,
            directory: format!("https://{}:{acme}/dir", at.listen),
            management: format!("{}:{management}", at.listen),
            ca: cert,
        })
    }

    /// Pebble's current intermediate certificate (regenerated at every start).
    pub fn intermediate(&self) -> String {
        ok(Command::new("curl")
            .args(["-sS", "--fail", "--cacert"])
            .arg(&self.ca)
            .arg(format!("https://{}/intermediates/0", self.management)))
    }
}

/// A rendered certbot command with the box's `/etc/letsencrypt` moved to `le_dir`, test
/// directories, pebble's directory and the test's challenge port.
pub fn certbot_command(
    words: &[String],
    le_dir: &Path,
    tmp: &Path,
    pebble: &Pebble,
    port: u16,
) -> Command {
    assert_eq!(words[0], "/usr/bin/certbot");
    let mut cmd = Command::new(&words[0]);
    for w in &words[1..] {
        cmd.arg(match w.strip_prefix("/etc/letsencrypt") {
            Some(rest) => format!("{}{rest}", le_dir.display()),
            None => w.clone(),
        });
    }
    cmd.arg("--config-dir")
        .arg(le_dir)
        .arg("--work-dir")
        .arg(tmp.join("work"))
        .arg("--logs-dir")
        .arg(tmp.join("logs"))
        .args(["--server", &pebble.directory])
        .args(["--http-01-port", &port.to_string()])
        .env("REQUESTS_CA_BUNDLE", &pebble.ca);
    cmd
}

#[test]
fn offline_issuance_through_haproxy() {
    let started = std::time::Instant::now();
    let rig = crate::converge::Rig::start();
    let (tree, tmp, live, haproxy, pebble, le) = (
        &rig.tree,
        &rig.tmp,
        &rig.live,
        &rig.haproxy,
        &rig.pebble,
        &rig.le,
    );
    let units = tree.units();
    let (https, challenge) = (live.https, live.challenge);
    let placeholder = presented(https, "veza.fr");
    assert!(
        issuer(&placeholder).contains("CN = veza.fr"),
        "{}",
        issuer(&placeholder)
    );
    let hook_env = |cmd: &mut Command| rig.hook_env(cmd);

    // Issue: the rendered unit's command.
    let issue = exec_starts(&units["edgeplan-cert-veza.fr.service"])[0].clone();
    let mut cmd = certbot_command(&issue, le, tmp.path(), pebble, challenge);
    hook_env(&mut cmd);
    let out = run(&mut cmd);
    assert!(
        out.status.success(),
        "certbot certonly failed ({}):\n{}\n{}\n--- pebble\n{}\n--- haproxy\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr),
        pebble._pebble.log(),
        haproxy.log()
    );
    let issued_in = started.elapsed();

    // Pebble validated through haproxy's :80 ACME route: its validator only knows haproxy's
    // port, and haproxy logged the challenge requests it forwarded to certbot's listener.
    let log = haproxy.log();
    let tokens: BTreeSet<&str> = log
        .lines()
        .filter(|l| l.contains(" http acme_challenge/certbot ") && l.contains(" 200 "))
        .filter_map(|l| l.split("GET /.well-known/acme-challenge/").nth(1))
        .filter_map(|rest| rest.split(' ').next())
        .collect();
    assert_eq!(
        tokens.len(),
        3,
        "one challenge per name answered through haproxy expected:\n{log}"
    );
    // The renew unit's condition now holds.
    let renew_unit = &units["edgeplan-renew-veza.fr.service"];
    let condition = &unit_values(renew_unit, "ConditionPathExists")[0];
    let conf = condition.strip_prefix("/etc/letsencrypt/").unwrap();
    assert!(
        le.join(conf).is_file(),
        "{condition} not written by certbot"
    );

    // The deploy hook installed the PEM and reloaded haproxy: the handshake returns pebble's
    // certificate with all of the group's names.
    let group: BTreeSet<String> = ["veza.fr", "www.veza.fr", "staging.veza.fr"]
        .map(String::from)
        .into();
    let pem = std::fs::read_to_string(live.cert_dir().join("veza.fr.pem")).unwrap();
    let fullchain = std::fs::read_to_string(le.join("live/veza.fr/fullchain.pem")).unwrap();
    assert!(pem.starts_with(&fullchain));
    let mut served = String::new();
    wait_until(
        "haproxy to serve the issued certificate",
        crate::common::HANG_GUARD,
        || {
            served = presented(https, "veza.fr");
            issuer(&served).contains("Pebble Intermediate CA")
        },
    );
    assert_eq!(san(&served), group);
    let inter = tmp.path().join("intermediate.pem");
    std::fs::write(&inter, pebble.intermediate()).unwrap();
    let leaf = tmp.path().join("leaf.pem");
    std::fs::write(&leaf, &served).unwrap();
    ok(Command::new("openssl")
        .args(["verify", "-partial_chain", "-CAfile"])
        .arg(&inter)
        .arg(&leaf));
    for sni in &group {
        assert_eq!(serial(&presented(https, sni)), serial(&served), "SNI {sni}");
    }
    // Other groups still have their placeholders.
    assert!(issuer(&presented(https, "talas.fr")).contains("CN = talas.fr"));
    // The unit's second command finds haproxy's PEM converged already.
    let mut converge = rig
        .unit_commands("edgeplan-cert-veza.fr.service")
        .pop()
        .unwrap();
    let out = run(&mut converge);
    assert!(
        out.status.success() && text(&out.stdout).contains("nothing to do"),
        "{out:?}"
    );

    // Idempotent: running the issue command again changes nothing.
    let mut cmd = certbot_command(&issue, le, tmp.path(), pebble, challenge);
    hook_env(&mut cmd);
    let out = run(&mut cmd);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(serial(&presented(https, "veza.fr")), serial(&served));

    // Renew: the rendered renew unit's command, forced; certbot runs the deploy hook from
    // renewal-hooks/deploy/ and haproxy serves the new certificate.
    let renew_started = Instant::now();
    let renew = exec_starts(renew_unit)[0].clone();
    let mut cmd = certbot_command(&renew, le, tmp.path(), pebble, challenge);
    cmd.arg("--force-renewal");
    hook_env(&mut cmd);
    let out = run(&mut cmd);
    assert!(
        out.status.success(),
        "certbot renew failed:\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let mut renewed = String::new();
    wait_until(
        "haproxy to serve the renewed certificate",
        crate::common::HANG_GUARD,
        || {
            renewed = presented(https, "veza.fr");
            serial(&renewed) != serial(&served)
        },
    );
    assert!(issuer(&renewed).contains("Pebble Intermediate CA"));
    assert_eq!(san(&renewed), group);
    eprintln!(
        "offline issuance through haproxy: issued in {issued_in:?}, renewed in {:?}",
        renew_started.elapsed()
    );
}
