//! The real edge box (issue 16's rig, which later issues extend): a Debian bookworm system
//! container under incus running systemd, with haproxy, certbot and sshd from Debian — built by
//! `tests/box/debian-image.sh` with mmdebstrap from this machine's apt mirror, cached, launched
//! per test on a bridge of its own, and deleted (with its bridge and profile) when dropped.
//!
//! Things that outlive a test:
//! - **one image cache directory**, [`CACHE_DIR`] (outside the repository): the built image,
//!   keyed by the blake3 of the recipe files, and the incus image imported from it (alias
//!   `edgeplan-t-debian-KEY`); both stay for later runs (a cold build takes ~30 s);
//! - nothing else: containers (`edgeplan-t-…`), bridges (`ept…`, interface names are at most 15
//!   characters) and profiles (`edgeplan-t-…`) are deleted when the [`DebianBox`] is dropped.
//!   A bridge's subnet is a free 10.X.Y.0/24 picked at run time; its dnsmasq (the box's
//!   resolver) answers every name NXDOMAIN at once.
//!
//! The box is reached over both transports: `incus exec` (the `incus` target) and sshd inside
//! with a key pushed at launch ([`DebianBox::ssh_config`], the `ssh` target). The host is
//! reachable from the box at the bridge's gateway address ([`DebianBox::host_ip`]).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{HANG_GUARD, Test, repo};
use crate::edgebox::incus;

/// Where built images are cached between runs (documented in the README).
pub const CACHE_DIR: &str = "/var/cache/edgeplan-tests/images";

/// Prefix of every incus object the tests make.
pub const PREFIX: &str = "edgeplan-t";

/// The recipe files; their bytes make the cache key.
const RECIPE: &[&str] = &[
    "tests/box/debian-image.sh",
    "tests/box/ssh-host-keys.service",
    "tests/box/eth0.network",
    "tests/box/wait-online.conf",
];

/// The incus image alias of the current recipe, built and imported when missing. Several test
/// processes may ask at once: a lock file in the cache directory makes one build it.
pub fn image() -> String {
    crate::edgebox::ensure_incusd();
    let mut h = blake3::Hasher::new();
    for f in RECIPE {
        h.update(f.as_bytes());
        h.update(&std::fs::read(repo().join(f)).unwrap());
    }
    let key = h.finalize().to_hex()[..16].to_string();
    let alias = format!("{PREFIX}-debian-{key}");
    let dir = Path::new(CACHE_DIR).join(&key);
    std::fs::create_dir_all(CACHE_DIR).unwrap();
    let lock = std::fs::File::create(Path::new(CACHE_DIR).join(".lock")).unwrap();
    lock.lock().unwrap();
    let has_alias = Command::new("incus")
        .args(["image", "info", &alias])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_alias {
        if !dir.join("rootfs.tar.zst").is_file() {
            let started = Instant::now();
            let tmp = Path::new(CACHE_DIR).join(format!(".build-{key}"));
            let _ = std::fs::remove_dir_all(&tmp);
            let out = Command::new("sh")
                .arg(repo().join("tests/box/debian-image.sh"))
                .arg(&tmp)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "building the Debian box image failed (mmdebstrap; scripts/test.sh installs it):\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            std::fs::rename(&tmp, &dir).unwrap();
            eprintln!("built the Debian box image in {:?}", started.elapsed());
        }
        // An image with the same fingerprint may be there without the alias: import by
        // fingerprint is refused, so delete it first.
        let _ = Command::new("incus")
            .args(["image", "delete", &alias])
            .output();
        let out = Command::new("incus")
            .args(["image", "import"])
            .arg(dir.join("metadata.tar.gz"))
            .arg(dir.join("rootfs.tar.zst"))
            .args(["--alias", &alias])
            .output()
            .unwrap();
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let fingerprint = err
                .split_whitespace()
                .find(|w| w.len() == 64 && w.chars().all(|c| c.is_ascii_hexdigit()));
            match fingerprint {
                Some(f) => {
                    incus(&["image", "alias", "create", &alias, f]);
                }
                None => panic!("incus image import failed: {err}"),
            }
        }
    }
    drop(lock);
    alias
}

/// A free private /24 for a bridge: 10.X.Y.0/24 with no address or route of this machine in
/// 10.X.Y.0/24 (`ip -4 route`, `ip -4 addr`), X in 128..=254.
fn free_subnet(attempt: u32) -> (u8, u8) {
    let used = Command::new("sh")
        .args(["-c", "ip -4 route; ip -4 addr"])
        .output()
        .unwrap();
    let used = String::from_utf8_lossy(&used.stdout).into_owned();
    let seed = std::process::id()
        .wrapping_mul(2_654_435_761)
        .wrapping_add(attempt.wrapping_mul(40_503));
    for i in 0..32_000u32 {
        let n = seed.wrapping_add(i.wrapping_mul(7919)) % (127 * 256);
        let (x, y) = ((128 + n / 256) as u8, (n % 256) as u8);
        let net = format!("10.{x}.{y}.");
        if !used.contains(&net) && !used.contains(&format!("10.{x}.0.0/16")) {
            return (x, y);
        }
    }
    panic!("no free 10.X.Y.0/24 for a test bridge");
}

/// A launched Debian box on a bridge of its own.
pub struct DebianBox {
    /// Container name.
    pub name: String,
    /// The bridge (and its profile).
    bridge: String,
    profile: String,
    /// The box's address on the bridge.
    pub ip: String,
    /// The host's address on the bridge (reachable from the box).
    pub host_ip: String,
    /// Keys and the ssh client config.
    pub dir: tempfile::TempDir,
}

impl DebianBox {
    /// Build or reuse the image, make a bridge and a profile, launch a box and wait until
    /// systemd says it is up (`running` or `degraded`) and sshd answers with the pushed key.
    pub fn launch() -> DebianBox {
        let started = Instant::now();
        let image = image();
        let built = started.elapsed();
        let tag = format!(
            "{:x}{:x}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_micros()
        );
        let name = format!("{PREFIX}-box-{tag}");
        let bridge: String = format!("ept{tag}").chars().take(15).collect();
        let profile = format!("{PREFIX}-{tag}");
        let mut b = DebianBox {
            name,
            bridge,
            profile,
            ip: String::new(),
            host_ip: String::new(),
            dir: tempfile::Builder::new()
                .prefix("edgeplan-debian-box-")
                .tempdir()
                .unwrap(),
        };
        // A subnet taken since we looked makes the creation fail: pick another.
        let mut attempt = 0;
        loop {
            let (x, y) = free_subnet(attempt);
            // The bridge's dnsmasq answers every name NXDOMAIN at once: container names in the
            // specs (`prod-backend-blue.lxd`) must not cost haproxy a resolver timeout each.
            let out = Command::new("incus")
                .args(["network", "create", &b.bridge])
                .arg(format!("ipv4.address=10.{x}.{y}.1/24"))
                .args([
                    "ipv4.nat=false",
                    "ipv6.address=none",
                    "raw.dnsmasq=address=/#/",
                ])
                .output()
                .unwrap();
            if out.status.success() {
                b.host_ip = format!("10.{x}.{y}.1");
                break;
            }
            attempt += 1;
            assert!(
                attempt < 5,
                "incus network create failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        incus(&["profile", "create", &b.profile]);
        incus(&[
            "profile",
            "device",
            "add",
            &b.profile,
            "root",
            "disk",
            "path=/",
            "pool=default",
        ]);
        incus(&[
            "profile",
            "device",
            "add",
            &b.profile,
            "eth0",
            "nic",
            "nictype=bridged",
            &format!("parent={}", b.bridge),
        ]);
        incus(&["launch", &image, &b.name, "--profile", &b.profile]);
        b.wait_booted();
        b.ip = b.wait_ip();
        // The image has an empty resolv.conf (not the build machine's): the bridge's dnsmasq,
        // over TCP — here it loses about one UDP query in 30, and each loss is a 5 s resolver
        // timeout (`haproxy -c` resolving the specs' container names took 5–10 s).
        b.ok(&format!(
            "printf 'nameserver %s\\noptions use-vc\\n' {} >/etc/resolv.conf",
            b.host_ip
        ));
        b.push_ssh_key();
        eprintln!(
            "Debian box {} at {} (host {}): image {built:?}, up in {:?}",
            b.name,
            b.ip,
            b.host_ip,
            started.elapsed()
        );
        b
    }

    /// `sh -c SCRIPT` in the box: exit status and stdout+stderr.
    pub fn sh(&self, script: &str) -> (i32, String) {
        let out = Command::new("incus")
            .args(["exec", &self.name, "--", "sh", "-c", script])
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    /// `sh -c SCRIPT` in the box; panics unless it exits 0; its output.
    pub fn ok(&self, script: &str) -> String {
        let (code, out) = self.sh(script);
        assert_eq!(code, 0, "in the box: {script}\n{out}");
        out
    }

    fn wait_booted(&self) {
        let start = Instant::now();
        loop {
            let (_, state) = self.sh("systemctl is-system-running");
            let state = state.trim();
            if state == "running" || state == "degraded" {
                return;
            }
            assert!(
                start.elapsed() < HANG_GUARD,
                "the box did not boot: {state}\n{}",
                self.sh("systemctl --failed --no-pager; systemctl list-jobs --no-pager")
                    .1
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn wait_ip(&self) -> String {
        let start = Instant::now();
        loop {
            let (_, out) = self.sh("ip -4 -o addr show dev eth0");
            if let Some(ip) = out
                .split_whitespace()
                .skip_while(|w| *w != "inet")
                .nth(1)
                .and_then(|cidr| cidr.split('/').next())
            {
                return ip.to_string();
            }
            assert!(
                start.elapsed() < HANG_GUARD,
                "the box got no address: {out}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// A fresh client key, authorized for root in the box; an ssh config with the alias
    /// `edgebox` pinned to the box's own host key.
    fn push_ssh_key(&self) {
        let d = self.dir.path();
        let st = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "edgeplan-test", "-f"])
            .arg(d.join("id"))
            .status()
            .unwrap();
        assert!(st.success());
        incus(&[
            "file",
            "push",
            "--mode",
            "0600",
            d.join("id.pub").to_str().unwrap(),
            &format!("{}/root/.ssh/authorized_keys", self.name),
        ]);
        let host_key = self.ok("cat /etc/ssh/ssh_host_ed25519_key.pub");
        let mut parts = host_key.split_whitespace();
        let known = format!(
            "{} {} {}\n",
            self.ip,
            parts.next().unwrap(),
            parts.next().unwrap()
        );
        std::fs::write(d.join("known_hosts"), known).unwrap();
        let cfg = format!(
            "Host edgebox\n  HostName {}\n  User root\n  IdentityFile {d}/id\n  IdentitiesOnly yes\n  \
             UserKnownHostsFile {d}/known_hosts\n  StrictHostKeyChecking yes\n  BatchMode yes\n  \
             LogLevel ERROR\n",
            self.ip,
            d = d.display()
        );
        std::fs::write(d.join("ssh_config"), cfg).unwrap();
        let start = Instant::now();
        loop {
            let out = Command::new("ssh")
                .arg("-F")
                .arg(self.ssh_config())
                .args(["edgebox", "true"])
                .output()
                .unwrap();
            if out.status.success() {
                return;
            }
            assert!(
                start.elapsed() < HANG_GUARD,
                "sshd in the box does not take the key: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Wait (a hang guard) until `unit` is `active`; panics when it is `failed` or never gets
    /// there.
    pub fn wait_active(&self, unit: &str) {
        let start = Instant::now();
        loop {
            let (_, state) = self.sh(&format!("systemctl is-active {unit}"));
            match state.trim() {
                "active" => return,
                "failed" => panic!(
                    "{unit} failed:\n{}",
                    self.sh(&format!("systemctl status --no-pager {unit}")).1
                ),
                other => assert!(start.elapsed() < HANG_GUARD, "{unit} is still {other}"),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Copy the host file `from` to `to` in the box (`incus file push`, parents made).
    pub fn push(&self, from: &Path, to: &str, mode: &str) {
        incus(&[
            "file",
            "push",
            "-p",
            "--mode",
            mode,
            &from.display().to_string(),
            &format!("{}{to}", self.name),
        ]);
    }

    /// The bundled specs with their `r720` target pointed at this box over incus (no remote),
    /// nothing else changed.
    pub fn bundled_specs(&self) -> Test {
        let t = Test::bundled();
        let path = t.path().join("specs/edge.kdl");
        let text = std::fs::read_to_string(&path).unwrap();
        let new = text.replace(
            "incus container=\"veza-haproxy\" remote=\"r720\"",
            &format!("incus container=\"{}\"", self.name),
        );
        assert_ne!(
            text, new,
            "the bundled specs' r720 target changed: update the test"
        );
        std::fs::write(&path, new).unwrap();
        t
    }

    /// The ssh client config (`ssh -F THIS edgebox`).
    pub fn ssh_config(&self) -> PathBuf {
        self.dir.path().join("ssh_config")
    }
}

impl Drop for DebianBox {
    fn drop(&mut self) {
        for args in [
            vec!["delete", "--force", self.name.as_str()],
            vec!["profile", "delete", self.profile.as_str()],
            vec!["network", "delete", self.bridge.as_str()],
        ] {
            let _ = Command::new("incus").args(&args).output();
        }
    }
}

/// The box is what the reference team runs: systemd 252 as PID 1 and up, haproxy 2.6, certbot
/// 2.1 and their units from Debian, nothing of edgeplan; reachable over incus and over ssh with
/// the pushed key; the host reachable from it at the bridge's gateway.
#[test]
fn the_debian_box_boots_and_is_reachable_both_ways() {
    let b = DebianBox::launch();
    assert!(b.ok("systemctl --version").starts_with("systemd 252"));
    assert!(b.ok("haproxy -v").contains("version 2.6."));
    assert!(b.ok("certbot --version").contains("certbot 2."));
    assert_eq!(b.ok("cat /proc/1/comm").trim(), "systemd");
    assert_eq!(
        b.ok("systemctl is-enabled haproxy.service").trim(),
        "enabled"
    );
    assert!(
        b.sh("test -e /var/lib/edgeplan").0 != 0,
        "nothing of edgeplan"
    );
    let over_ssh = Command::new("ssh")
        .arg("-F")
        .arg(b.ssh_config())
        .args(["edgebox", "hostname"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&over_ssh.stdout).trim(), b.name);

    // The host, from the box: a listener on the bridge's gateway address.
    let l = std::net::TcpListener::bind((b.host_ip.as_str(), 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        use std::io::Write;
        c.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello")
            .unwrap();
    });
    let got = b.ok(&format!("curl -sS -m 10 http://{}:{port}/", b.host_ip));
    assert_eq!(got, "hello");
    t.join().unwrap();

    // Its resolver is the bridge's dnsmasq (not the build machine's resolv.conf).
    assert_eq!(
        b.ok("cat /etc/resolv.conf").trim(),
        format!("nameserver {}\noptions use-vc", b.host_ip)
    );
}
