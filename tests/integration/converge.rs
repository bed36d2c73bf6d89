//! Certificates converge (issue 14, item 3): haproxy's PEMs end up as certbot's lineages,
//! whatever happened before — a deploy hook that failed once after the first issuance, a PEM
//! lost while `/etc/letsencrypt` survived, a placeholder left behind. Proven with pebble, real
//! certbot and real haproxy on loopback by running the rendered units' commands in order, as
//! systemd would (systemd's own retry of a failed unit belongs to the real-box tests).
//!
//! [`Rig`] is the offline ACME set-up both this file and `certbot.rs` use: the bundled specs'
//! rendered haproxy.cfg on loopback with placeholder PEMs, pebble (+ its DNS), the box's
//! `/etc/letsencrypt` in a temp dir with the rendered `cli.ini` and deploy hook.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::certbot::{
    Live, Pebble, Proc, Tree, certbot_command, exec_starts, issuer, presented,
    run_placeholder_units, serial, text, write_exec,
};

/// The offline ACME rig (module docs).
pub struct Rig {
    pub tree: Tree,
    pub tmp: tempfile::TempDir,
    pub live: Live,
    pub haproxy: Proc,
    pub pebble: Pebble,
    /// The box's `/etc/letsencrypt`.
    pub le: PathBuf,
    /// The deploy hook's reload command (`kill -USR2 <haproxy>` unless a test changes it).
    pub reload: String,
}

impl Rig {
    /// Placeholders made, haproxy serving them, pebble started; nothing issued yet.
    pub fn start() -> Rig {
        let tree = Tree::bundled();
        let tmp = tempfile::tempdir().unwrap();
        let haproxy_dir = tmp.path().join("haproxy");
        std::fs::create_dir_all(&haproxy_dir).unwrap();
        run_placeholder_units(
            &tree,
            &haproxy_dir.join("certs"),
            &tmp.path().join("selfsigned-pem"),
        );
        let (live, haproxy) = Live::run(&haproxy_dir, &tree);
        let pebble = Pebble::start(&tmp.path().join("pebble"), live.http);
        let le = tmp.path().join("letsencrypt");
        std::fs::create_dir_all(&le).unwrap();
        std::fs::copy(tree.path("etc/letsencrypt/cli.ini"), le.join("cli.ini")).unwrap();
        write_exec(
            &le.join("renewal-hooks/deploy/edgeplan-haproxy"),
            &tree.read("etc/letsencrypt/renewal-hooks/deploy/edgeplan-haproxy"),
        );
        let reload = format!("kill -USR2 {}", haproxy.pid());
        Rig {
            tree,
            tmp,
            live,
            haproxy,
            pebble,
            le,
            reload,
        }
    }

    /// The deploy hook's environment: this rig's paths and reload command.
    pub fn hook_env(&self, cmd: &mut Command) {
        cmd.env("EDGEPLAN_HAPROXY_CERT_DIR", self.live.cert_dir())
            .env("EDGEPLAN_HAPROXY_CONFIG", self.live.config())
            .env("EDGEPLAN_HAPROXY_RELOAD", &self.reload)
            .env("EDGEPLAN_LETSENCRYPT_DIR", &self.le);
    }

    /// The commands of rendered unit `unit`, as this rig runs them: certbot against pebble
    /// with the test's directories; the deploy hook from the rig's `/etc/letsencrypt`.
    pub fn unit_commands(&self, unit: &str) -> Vec<Command> {
        let units = self.tree.units();
        let text = units
            .get(unit)
            .unwrap_or_else(|| panic!("{unit} not rendered"));
        exec_starts(text)
            .iter()
            .map(|words| {
                let mut cmd = match words[0].as_str() {
                    "/usr/bin/certbot" => certbot_command(
                        words,
                        &self.le,
                        self.tmp.path(),
                        &self.pebble,
                        self.live.challenge,
                    ),
                    hook => {
                        let rel = hook
                            .strip_prefix("/etc/letsencrypt/")
                            .unwrap_or_else(|| panic!("{unit}: unknown command {hook}"));
                        let mut c = Command::new(self.le.join(rel));
                        c.args(&words[1..]);
                        c
                    }
                };
                self.hook_env(&mut cmd);
                cmd
            })
            .collect()
    }

    /// Run unit `unit`'s commands in order as systemd runs a oneshot: stop at the first that
    /// fails. Each command's output; the last is the failure, if any.
    pub fn run_unit(&self, unit: &str) -> Vec<Output> {
        let mut outs = Vec::new();
        for mut cmd in self.unit_commands(unit) {
            let out = cmd.output().unwrap();
            let failed = !out.status.success();
            outs.push(out);
            if failed {
                break;
            }
        }
        outs
    }

    /// The PEM haproxy loads for certificate `name`.
    pub fn pem(&self, name: &str) -> PathBuf {
        self.live.cert_dir().join(format!("{name}.pem"))
    }

    /// Whether `name`'s PEM is exactly certbot's lineage (full chain + key).
    pub fn pem_is_lineage(&self, name: &str) -> bool {
        let live = self.le.join("live").join(name);
        let mut want = std::fs::read(live.join("fullchain.pem")).unwrap_or_default();
        want.extend(std::fs::read(live.join("privkey.pem")).unwrap_or_default());
        std::fs::read(self.pem(name)).is_ok_and(|got| !want.is_empty() && got == want)
    }

    /// Wait (a hang guard) until haproxy serves `sni` a certificate issued by pebble whose
    /// serial is that of `name`'s lineage; that serial.
    pub fn wait_serves_lineage(&self, sni: &str, name: &str) -> String {
        let cert =
            std::fs::read_to_string(self.le.join("live").join(name).join("cert.pem")).unwrap();
        let want = serial(&cert);
        let start = std::time::Instant::now();
        loop {
            let got = presented(self.live.https, sni);
            if issuer(&got).contains("Pebble") && serial(&got) == want {
                return want;
            }
            assert!(
                start.elapsed() < crate::common::HANG_GUARD,
                "haproxy serves {sni} {} (serial {}), not lineage {name} ({want})\n{}",
                issuer(&got),
                serial(&got),
                self.haproxy.log()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

/// A command's output, folded for messages.
fn said(outs: &[Output]) -> String {
    outs.iter()
        .map(|o| format!("[{}] {}{}", o.status, text(&o.stdout), text(&o.stderr)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A reload command that fails while `flag` exists.
fn failing_reload(dir: &Path, then: &str) -> (PathBuf, String) {
    let flag = dir.join("fail-reload");
    let script = dir.join("reload.sh");
    write_exec(
        &script,
        &format!(
            "#!/bin/sh\nif [ -f {f} ]; then echo 'simulated reload failure' >&2; exit 1; fi\nexec {then}\n",
            f = flag.display()
        ),
    );
    (flag, script.display().to_string())
}

/// (a) The first issuance succeeds but the deploy hook's reload fails: certbot still exits 0,
/// the hook puts the placeholder back, and the unit's next command (`--converge`) fails, so the
/// unit fails and systemd would retry it. The retry — the unit's commands again, certbot now
/// saying the certificate is not yet due — installs the lineage, and haproxy serves it.
#[test]
fn a_first_issuance_whose_hook_failed_is_installed_by_the_retry() {
    let mut rig = Rig::start();
    let (flag, reload) = failing_reload(rig.tmp.path(), &rig.reload);
    rig.reload = reload;
    std::fs::write(&flag, "").unwrap();

    let unit = "edgeplan-cert-veza.fr.service";
    let outs = rig.run_unit(unit);
    let all = said(&outs);
    assert_eq!(outs.len(), 2, "{all}");
    assert!(
        outs[0].status.success(),
        "certbot exits 0 after a failed hook: {all}"
    );
    assert!(
        text(&outs[0].stderr).contains("simulated reload failure"),
        "{all}"
    );
    assert!(
        !outs[1].status.success(),
        "converge must fail the unit: {all}"
    );
    assert!(!rig.pem_is_lineage("veza.fr"), "{all}");
    assert!(issuer(&presented(rig.live.https, "veza.fr")).contains("CN = veza.fr"));

    // systemd's retry, once the cause is gone.
    std::fs::remove_file(&flag).unwrap();
    let outs = rig.run_unit(unit);
    let all = said(&outs);
    assert!(outs.iter().all(|o| o.status.success()), "{all}");
    assert!(
        all.contains("not yet due")
            || all.contains("no action taken")
            || all.contains("Certificate not yet due"),
        "{all}"
    );
    assert!(all.contains("installing it"), "{all}");
    assert!(rig.pem_is_lineage("veza.fr"));
    rig.wait_serves_lineage("www.veza.fr", "veza.fr");

    // Converged: the unit again is a no-op for haproxy.
    let outs = rig.run_unit(unit);
    let all = said(&outs);
    assert!(outs.iter().all(|o| o.status.success()), "{all}");
    assert!(all.contains("nothing to do"), "{all}");
}

/// (b) `/etc/letsencrypt` survives but the PEM is lost (a box rebuilt from a backup), or is a
/// placeholder again: the issue unit and the renew unit each put certbot's lineage back without
/// a new issuance; a failed install fails the unit and leaves the previous PEM in place.
#[test]
fn a_lost_or_placeholder_pem_converges_to_the_lineage_without_a_new_issuance() {
    let rig = Rig::start();
    let outs = rig.run_unit("edgeplan-cert-veza.fr.service");
    assert!(outs.iter().all(|o| o.status.success()), "{}", said(&outs));
    let issued = rig.wait_serves_lineage("veza.fr", "veza.fr");

    // Lost: the issue unit installs the lineage (certbot: not due).
    std::fs::remove_file(rig.pem("veza.fr")).unwrap();
    let outs = rig.run_unit("edgeplan-cert-veza.fr.service");
    let all = said(&outs);
    assert!(outs.iter().all(|o| o.status.success()), "{all}");
    assert!(
        all.contains("is missing, the placeholder or not certbot's lineage"),
        "{all}"
    );
    assert!(rig.pem_is_lineage("veza.fr"));
    assert_eq!(
        rig.wait_serves_lineage("veza.fr", "veza.fr"),
        issued,
        "no new issuance"
    );

    // A placeholder again (the self-signed unit's command after a loss): the renew unit.
    std::fs::remove_file(rig.pem("veza.fr")).unwrap();
    let helper = rig.tmp.path().join("selfsigned-pem");
    let made = Command::new(&helper)
        .args(["veza.fr", "veza.fr"])
        .env("EDGEPLAN_HAPROXY_CERT_DIR", rig.live.cert_dir())
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    assert!(!rig.pem_is_lineage("veza.fr"));
    let outs = rig.run_unit("edgeplan-renew-veza.fr.service");
    let all = said(&outs);
    assert!(outs.iter().all(|o| o.status.success()), "{all}");
    assert!(rig.pem_is_lineage("veza.fr"), "{all}");
    assert_eq!(rig.wait_serves_lineage("veza.fr", "veza.fr"), issued);

    // A failed install fails the unit's command and leaves the previous PEM.
    std::fs::remove_file(rig.pem("veza.fr")).unwrap();
    let placeholder = Command::new(&helper)
        .args(["veza.fr", "veza.fr"])
        .env("EDGEPLAN_HAPROXY_CERT_DIR", rig.live.cert_dir())
        .output()
        .unwrap();
    assert!(placeholder.status.success());
    let before = std::fs::read(rig.pem("veza.fr")).unwrap();
    let mut converge = rig
        .unit_commands("edgeplan-renew-veza.fr.service")
        .pop()
        .unwrap();
    converge.env("EDGEPLAN_HAPROXY_RELOAD", "false");
    let out = converge.output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        text(&out.stderr).contains("reloading haproxy failed"),
        "{out:?}"
    );
    assert_eq!(std::fs::read(rig.pem("veza.fr")).unwrap(), before);
}
