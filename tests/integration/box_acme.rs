//! Real certificates on the real box (issue 16): the bundled TLS specs applied with the default
//! commands to a [`DebianBox`]; pebble runs on the host at the bridge's gateway address, its
//! DNS resolves every name to the box, and its http-01 validator connects to the box's :80 —
//! through the box's haproxy and its ACME route to certbot's standalone listener. Nothing of
//! edgeplan's units is overridden, except where a test says so (a retry delay of an hour).
//!
//! The box trusts pebble's HTTPS certificate in its trust store (`update-ca-certificates`), as
//! a box pointed at a private ACME server would. Pebble issues certificates valid one day, so
//! certbot (which renews 30 days before expiry) finds every one of them due.

use std::time::{Duration, Instant};

use crate::certbot::{Pebble, PebbleAt};
use crate::common::{HANG_GUARD, Output, Test};
use crate::debian_box::DebianBox;

/// The box, its pebble and the bundled specs with pebble as the ACME directory.
struct AcmeBox {
    b: DebianBox,
    _pebble: Pebble,
    _dir: tempfile::TempDir,
    t: Test,
}

const CERTS: [&str; 3] = ["forgejo.talas.group", "talas.fr", "veza.fr"];

impl AcmeBox {
    /// A box, pebble issuing certificates valid `validity` seconds (`None`: 5 years).
    fn launch(validity: Option<u64>) -> AcmeBox {
        let b = DebianBox::launch();
        let dir = tempfile::Builder::new()
            .prefix("edgeplan-box-acme-")
            .tempdir()
            .unwrap();
        let pebble = Pebble::start_at(
            dir.path(),
            &PebbleAt {
                listen: &b.host_ip,
                names_at: &b.ip,
                http_port: 80,
                validity,
            },
        );
        b.push(
            &pebble.ca,
            "/usr/local/share/ca-certificates/pebble-acme.crt",
            "0644",
        );
        b.ok("update-ca-certificates >/dev/null 2>&1");
        let t = b.bundled_specs();
        let path = t.path().join("specs/edge.kdl");
        let text = std::fs::read_to_string(&path).unwrap();
        let new = text.replace(
            "directory=\"production\"",
            &format!("directory=\"{}\"", pebble.directory),
        );
        assert_ne!(text, new, "the bundled specs' acme directory changed");
        std::fs::write(&path, new).unwrap();
        AcmeBox {
            b,
            _pebble: pebble,
            _dir: dir,
            t,
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        let specs = self.t.path().join("specs").display().to_string();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--target", "r720", "--specs", &specs]);
        Test::new().args(all).run()
    }

    /// What haproxy in the box presents for `sni` on :443: `openssl x509` text lines.
    fn presented(&self, sni: &str) -> String {
        self.b.ok(&format!(
            "openssl s_client -connect 127.0.0.1:443 -servername {sni} </dev/null 2>/dev/null \
             | openssl x509 -noout -subject -issuer -serial -ext subjectAltName"
        ))
    }

    /// The serial of certbot's lineage `name` on the box.
    fn lineage_serial(&self, name: &str) -> String {
        self.b
            .ok(&format!(
                "openssl x509 -noout -serial -in /etc/letsencrypt/live/{name}/cert.pem"
            ))
            .trim()
            .to_string()
    }

    /// Wait (a hang guard) until haproxy presents certbot's lineage `name` for `sni`.
    fn wait_serves_lineage(&self, name: &str, sni: &str) -> String {
        let start = Instant::now();
        loop {
            let (code, serial) = self.b.sh(&format!(
                "openssl x509 -noout -serial -in /etc/letsencrypt/live/{name}/cert.pem"
            ));
            let shown = self.presented(sni);
            if code == 0 && shown.contains(serial.trim()) {
                return serial.trim().to_string();
            }
            assert!(
                start.elapsed() < 2 * HANG_GUARD,
                "haproxy never served certbot's lineage {name} for {sni} (presents {shown}):\n{}",
                self.b
                    .sh(&format!(
                        "systemctl status --no-pager edgeplan-cert-{name}.service; \
                         journalctl --no-pager -n 40 -u edgeplan-cert-{name}.service"
                    ))
                    .1
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

fn ok(out: &Output) {
    assert_eq!(out.code, 0, "{}", out.folded());
}

/// The whole life of a certificate on the box: apply makes placeholders and starts the issue
/// services; certbot gets real certificates from pebble through the box's haproxy, the deploy
/// hook installs them and reloads, and SNI serves them for every domain; the renew timer's
/// service renews a due certificate; an install that fails (a reload that fails twice: once
/// in certbot's deploy hook, once in `--converge`) fails the unit, and systemd's retry
/// installs the lineage.
#[test]
fn certificates_are_issued_through_the_box_served_and_renewed() {
    let started = Instant::now();
    let a = AcmeBox::launch(Some(86_400));
    let b = &a.b;
    ok(&a.run(&["apply", "--auto-approve"]));
    let applied = started.elapsed();

    // Issued and served: every certificate, for every one of its domains.
    let edge = edgeplan::load(&a.t.path().join("specs")).unwrap().1;
    let mut serials = std::collections::BTreeMap::new();
    for c in CERTS {
        let serial = a.wait_serves_lineage(c, c);
        serials.insert(c, serial);
    }
    let issued = started.elapsed();
    for (host, _) in edge.public_hosts() {
        let shown = a.presented(host.as_str());
        assert!(
            shown.contains("issuer=CN = Pebble Intermediate CA"),
            "{host}: {shown}"
        );
        assert!(shown.contains(&format!("DNS:{host}")), "{host}: {shown}");
    }
    for c in CERTS {
        let (_, result) = b.sh(&format!(
            "systemctl show -p Result --value edgeplan-cert-{c}.service"
        ));
        assert_eq!(result.trim(), "success", "edgeplan-cert-{c}.service");
    }

    // `status` tells what is served: certbot's lineages, from pebble, due (valid one day).
    let status = a.run(&["status", "--format", "json"]);
    ok(&status);
    let doc: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let certs = doc["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 3, "{doc}");
    for c in certs {
        assert_eq!(c["served"], "lineage", "{c}");
        assert!(
            c["certificate"]["issuer"]
                .as_str()
                .unwrap()
                .starts_with("CN=Pebble Intermediate CA"),
            "{c}"
        );
        assert_eq!(c["expires_in_days"], 0, "{c}");
        assert_eq!(c["last_run"]["result"], "success", "{c}");
        assert!(c["next_renewal_check"].is_string(), "{c}");
        assert!(
            c["warnings"][0]
                .as_str()
                .unwrap()
                .starts_with("expires in 0 days"),
            "{c}"
        );
    }
    let text = a.run(&["status"]);
    ok(&text);
    assert!(
        text.stdout.contains(
            "\nCertificates:\n  forgejo.talas.group  certbot's lineage, issuer CN=Pebble Intermediate CA"
        ),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("    names: veza.fr, staging.veza.fr, www.veza.fr\n    last run: edgeplan-cert-veza.fr.service at "),
        "{}",
        text.stdout
    );

    // The renew timer's service renews a due certificate (certificates valid one day are due).
    let out = b.sh("systemctl start edgeplan-renew-veza.fr.service");
    assert_eq!(out.0, 0, "{}", out.1);
    let renewed = a.wait_serves_lineage("veza.fr", "veza.fr");
    let renewal = started.elapsed();
    assert_ne!(renewed, serials["veza.fr"], "not renewed");
    let renew_log = b.ok("journalctl --no-pager -u edgeplan-renew-veza.fr.service");
    assert!(
        renew_log.contains("installed /etc/haproxy/certs/veza.fr.pem and reloaded haproxy"),
        "{renew_log}"
    );

    // A failed install fails the unit; systemd's retry installs the lineage. Test-only: the
    // hook's reload fails its next two runs, and the retry comes after 1 s, not an hour.
    b.ok(
        "mkdir -p /etc/systemd/system/edgeplan-renew-talas.fr.service.d && \
         printf '%s\\n' '#!/bin/sh' \
           'n=$(cat /run/fail-reloads 2>/dev/null || echo 0)' \
           'if [ \"$n\" -gt 0 ]; then echo $((n - 1)) >/run/fail-reloads; echo injected reload failure >&2; exit 1; fi' \
           'exec systemctl try-reload-or-restart haproxy.service' >/usr/local/bin/edgeplan-test-reload && \
         chmod 755 /usr/local/bin/edgeplan-test-reload && \
         printf '[Service]\\nEnvironment=EDGEPLAN_HAPROXY_RELOAD=/usr/local/bin/edgeplan-test-reload\\nRestartSec=1s\\n' \
           >/etc/systemd/system/edgeplan-renew-talas.fr.service.d/zz-test-fault.conf && \
         echo 2 >/run/fail-reloads && systemctl daemon-reload && \
         systemctl start --no-block edgeplan-renew-talas.fr.service",
    );
    let start = Instant::now();
    loop {
        let state = b.ok(
            "systemctl show -p NRestarts -p ActiveState -p Result edgeplan-renew-talas.fr.service",
        );
        let prop = |k: &str| {
            state
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .unwrap_or("")
                .to_string()
        };
        if prop("ActiveState") == "inactive" && prop("Result") == "success" {
            assert!(
                prop("NRestarts").parse::<u32>().unwrap() >= 1,
                "the unit never failed: {state}"
            );
            break;
        }
        assert!(start.elapsed() < 2 * HANG_GUARD, "{state}");
        std::thread::sleep(Duration::from_millis(300));
    }
    let retried = started.elapsed();
    assert_eq!(b.ok("cat /run/fail-reloads").trim(), "0");
    let log = b.ok("journalctl --no-pager -u edgeplan-renew-talas.fr.service");
    assert!(log.contains("injected reload failure"), "{log}");
    assert!(log.contains("is back in place"), "{log}");
    let now = a.wait_serves_lineage("talas.fr", "www.talas.fr");
    assert_eq!(now, a.lineage_serial("talas.fr"));
    assert_ne!(now, serials["talas.fr"]);
    eprintln!(
        "box ACME: applied at {applied:?}, three certificates served at {issued:?}, renewed at \
         {renewal:?}, retried at {retried:?}, all done in {:?}",
        started.elapsed()
    );
}

/// The takeover of a box the way the reference team's Ansible role leaves it: its own
/// haproxy.cfg (admin socket where Debian puts it), a certbot lineage for `veza.fr` issued by
/// hand with the PEM where the role pointed haproxy (`/etc/ssl/private/veza.pem`), Debian's
/// certbot cli.ini. The plan shows the files edgeplan replaces as such and adopts the lineage;
/// apply replaces them, keeps the originals, serves the adopted lineage (not issued again) and
/// issues the others; `rollback` to the box from before edgeplan puts the originals back.
#[test]
fn taking_over_a_box_the_ansible_role_prepared() {
    let a = AcmeBox::launch(None);
    let b = &a.b;
    let ansible_cfg = "# Ansible managed\n\
global\n    stats socket /run/haproxy/admin.sock mode 660 level admin\n\
defaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 5s\n\
frontend http\n    bind :80\n    http-request return status 200 content-type text/plain string ansible\n";
    let directory = std::fs::read_to_string(a.t.path().join("specs/edge.kdl"))
        .unwrap()
        .split("directory=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    // certbot by hand, as the role ran it (standalone on :80 while haproxy is stopped).
    b.ok(&format!(
        "systemctl stop haproxy && \
         certbot certonly --standalone --non-interactive --agree-tos -m ops@veza.fr \
           --server {directory} --key-type ecdsa --cert-name veza.fr \
           -d veza.fr -d www.veza.fr -d staging.veza.fr >/dev/null 2>&1 && \
         mkdir -p /etc/ssl/private && \
         cat /etc/letsencrypt/live/veza.fr/fullchain.pem /etc/letsencrypt/live/veza.fr/privkey.pem \
           >/etc/ssl/private/veza.pem && \
         printf '{ansible_cfg}' >/etc/haproxy/haproxy.cfg && systemctl start haproxy"
    ));
    assert_eq!(b.ok("curl -sS http://127.0.0.1/"), "ansible");
    let adopted = a.lineage_serial("veza.fr");
    let originals = "sha256sum /etc/haproxy/haproxy.cfg /etc/letsencrypt/cli.ini";
    let before = b.ok(originals);

    let plan = a.run(&["plan"]);
    ok(&plan);
    for line in [
        "-/+ etc/haproxy/haproxy.cfg (0644; replaces a file edgeplan did not write; apply keeps \
         it for a rollback to the box from before edgeplan)",
        "-/+ etc/letsencrypt/cli.ini (0644; replaces a file edgeplan did not write",
        "+ certificate veza.fr: certbot's lineage on the box is adopted (issued again only when \
         due or when its domains differ): staging.veza.fr, veza.fr, www.veza.fr",
        "+ certificate talas.fr will be issued: talas.fr, www.talas.fr",
        " to add, 2 to replace, 0 to change, 0 to destroy.",
    ] {
        assert!(
            plan.stdout.contains(line),
            "plan lacks `{line}`:\n{}",
            plan.stdout
        );
    }
    assert!(
        plan.stdout.contains("-# Ansible managed"),
        "{}",
        plan.stdout
    );

    let out = a.run(&["apply", "--auto-approve"]);
    ok(&out);
    assert!(
        out.stdout.contains(", 2 replaced (kept in generation 0), "),
        "{}",
        out.stdout
    );
    // The adopted lineage is served, not issued again; the others are issued.
    for host in ["veza.fr", "www.veza.fr", "staging.veza.fr"] {
        assert_eq!(a.wait_serves_lineage("veza.fr", host), adopted, "{host}");
    }
    a.wait_serves_lineage("talas.fr", "talas.fr");
    a.wait_serves_lineage("forgejo.talas.group", "forgejo.talas.group");
    assert_eq!(
        a.lineage_serial("veza.fr"),
        adopted,
        "veza.fr was issued again"
    );

    // Back to the box from before edgeplan: the originals, and the role's haproxy serving.
    let rb = a.run(&["rollback", "--auto-approve"]);
    ok(&rb);
    assert_eq!(b.ok(originals), before);
    assert_eq!(b.ok("curl -sS http://127.0.0.1/"), "ansible");
    assert_eq!(
        b.ok("readlink /var/lib/edgeplan/current").trim(),
        "generations/0"
    );
}
