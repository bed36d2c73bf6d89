//! From an empty Debian box to a served edge (issue 16), on the real box ([`DebianBox`]: systemd,
//! haproxy and certbot from Debian), with the bundled specs, one `incus` target and **no command
//! overridden** (validate `haproxy -c -f`, reload `systemctl reload haproxy`).

use crate::common::{Output, Test};
use crate::debian_box::DebianBox;

fn ok(out: &Output) {
    assert_eq!(out.code, 0, "{}", out.folded());
}

/// The certificate haproxy in the box presents for `sni` on :443: its subject and issuer.
fn presented(b: &DebianBox, sni: &str) -> String {
    b.ok(&format!(
        "openssl s_client -connect 127.0.0.1:443 -servername {sni} </dev/null 2>/dev/null \
         | openssl x509 -noout -subject -issuer -ext subjectAltName"
    ))
}

/// The first apply of the bundled TLS specs on an empty box: the placeholders haproxy needs
/// are made before validation (a real certificate already there is left alone), the staged
/// units are verified against the staged helpers, haproxy reloads onto the config and serves
/// every public host a placeholder that covers it.
#[test]
fn the_first_apply_on_an_empty_box_succeeds_with_the_default_commands() {
    let b = DebianBox::launch();
    let t = b
        .bundled_specs()
        .args(["apply", "--auto-approve", "--target", "r720"]);
    // A certificate already on the box for one group (as a box set up by hand would have):
    // never clobbered.
    b.ok("mkdir -p /etc/haproxy/certs && cd /etc/haproxy/certs && \
         openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
         -subj /CN=already-here -addext subjectAltName=DNS:talas.fr,DNS:www.talas.fr \
         -keyout k.pem -out c.pem 2>/dev/null && cat c.pem k.pem >talas.fr.pem && rm c.pem k.pem");
    let before = b.ok("sha256sum /etc/haproxy/certs/talas.fr.pem");

    let out = t.run();
    ok(&out);
    for made in ["veza.fr", "forgejo.talas.group"] {
        assert!(
            out.stdout.contains(&format!(
                "Bootstrap: made a self-signed placeholder /etc/haproxy/certs/{made}.pem"
            )),
            "{}",
            out.stdout
        );
    }
    assert!(
        !out.stdout
            .contains("placeholder /etc/haproxy/certs/talas.fr.pem")
    );
    assert_eq!(b.ok("sha256sum /etc/haproxy/certs/talas.fr.pem"), before);
    assert!(
        out.stdout.contains("; systemd-analyze verify "),
        "{}",
        out.stdout
    );
    // Debian's haproxy answered on the admin socket the specs name before the first reload: the
    // reload is checked (a new worker answers there), not assumed from systemctl's status.
    assert!(
        out.stdout
            .contains("Reloaded: systemctl reload haproxy; worker ")
            && out
                .stdout
                .contains(" answers on /run/haproxy/admin.sock (was "),
        "{}",
        out.stdout
    );
    // Its own lock is no news to the reader; without $USER (the test's environment has none)
    // the run is recorded under the process's user.
    assert!(!out.stdout.contains("locked by"), "{}", out.stdout);
    let history = b.ok("cat /var/lib/edgeplan/history");
    let me = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    let me = String::from_utf8_lossy(&me.stdout).trim().to_string();
    assert!(history.contains(&format!(" {me}@")), "{history}");
    assert!(!history.contains("unknown@"), "{history}");
    // The unit leaves `reloading` once the master told systemd the worker is ready.
    b.wait_active("haproxy.service");
    assert_eq!(
        b.ok("readlink /var/lib/edgeplan/current").trim(),
        "generations/1"
    );

    // Every public host gets a certificate that covers it: placeholders, and the one that was
    // already there.
    let edge = edgeplan::load(&t.path().join("specs")).unwrap().1;
    for (host, _) in edge.public_hosts() {
        let cert = presented(&b, host.as_str());
        assert!(cert.contains(&format!("DNS:{host}")), "SNI {host}: {cert}");
    }
    assert!(presented(&b, "talas.fr").contains("already-here"));
    assert!(presented(&b, "veza.fr").contains("subject=CN = veza.fr"));

    // Applying again changes nothing and makes nothing.
    let again = t.run();
    ok(&again);
    assert!(!again.stdout.contains("Bootstrap:"), "{}", again.stdout);

    // An operator drains a server; `systemctl reload haproxy` typed by hand (the unit's
    // ExecReload, through edgeplan's drop-in) keeps it drained. (The server's name must
    // resolve, or haproxy holds it in maintenance: it resolves to the host, where nothing
    // answers — down, but in rotation.)
    b.ok(&format!(
        "echo '{} veza-backend-blue.lxd' >>/etc/hosts && systemctl reload haproxy",
        b.host_ip
    ));
    b.wait_active("haproxy.service");
    let specs = t.path().join("specs").display().to_string();
    let server = |args: &[&str]| {
        let mut all = vec!["server"];
        all.extend(args);
        all.extend(["--target", "r720", "--specs", &specs]);
        Test::new().args(all).run()
    };
    ok(&server(&["drain", "prod", "backend", "blue"]));
    let state = || {
        let out = server(&["list", "--format", "json"]);
        ok(&out);
        let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        doc["instances"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["env"] == "prod" && i["component"] == "backend" && i["instance"] == "blue")
            .map(|i| i["state"].as_str().unwrap_or("").to_string())
            .unwrap()
    };
    assert_eq!(state(), "drain", "the drain did not take");
    let pid = |b: &DebianBox| b.ok("systemctl show -p MainPID --value haproxy.service");
    let before = pid(&b);
    b.ok("systemctl reload haproxy");
    b.wait_active("haproxy.service");
    assert_eq!(pid(&b), before, "a reload, not a restart");
    assert!(
        b.ok("journalctl --no-pager -u haproxy.service")
            .contains("saved the state of 14 servers"),
        "the drop-in's helper did not run"
    );
    assert_eq!(state(), "drain", "the reload by hand undid the drain");
}

/// What the specs ask of systemd happens: the plan of the first apply says which units will be
/// enabled and started; apply enables and starts every renew timer, and enables and starts —
/// without waiting — every certificate's issue service; a rollback to the box from before
/// edgeplan stops and disables them, and applying again brings them back.
#[test]
fn apply_enables_and_starts_the_units_and_rollback_stops_them() {
    let b = DebianBox::launch();
    let t = b
        .bundled_specs()
        .args(["apply", "--auto-approve", "--target", "r720"]);
    let certs = ["forgejo.talas.group", "talas.fr", "veza.fr"];
    let out = t.run();
    ok(&out);
    let plan_part = out.stdout.split("Uploaded tree").next().unwrap();
    assert!(plan_part.contains("\nUnits:\n"), "{plan_part}");
    for c in certs {
        for line in [
            format!("enable and start edgeplan-renew-{c}.timer"),
            format!("enable and start edgeplan-cert-{c}.service (not waited for)"),
        ] {
            assert!(
                plan_part.contains(&line),
                "plan lacks `{line}`:\n{plan_part}"
            );
        }
        for line in [
            format!("Enabled and started edgeplan-renew-{c}.timer."),
            format!("Enabled and started (not waited for) edgeplan-cert-{c}.service."),
        ] {
            assert!(
                out.stdout.contains(&line),
                "apply lacks `{line}`:\n{}",
                out.stdout
            );
        }
    }
    let state = |unit: &str| {
        b.sh(&format!(
            "systemctl is-enabled {unit}; systemctl is-active {unit}; \
             systemctl show -p ExecMainStartTimestampMonotonic --value {unit}"
        ))
        .1
    };
    for c in certs {
        let timer = state(&format!("edgeplan-renew-{c}.timer"));
        assert!(timer.starts_with("enabled\nactive\n"), "{c}: {timer}");
        // The issue service runs (no ACME server is reachable here: it fails and waits for its
        // hourly retry — apply did not wait for it; the issue services run one after another,
        // as certbot runs one instance at a time).
        let start = std::time::Instant::now();
        loop {
            let issue = state(&format!("edgeplan-cert-{c}.service"));
            let mut lines = issue.lines();
            assert_eq!(lines.next(), Some("enabled"), "{c}: {issue}");
            let started: u64 = lines.nth(1).unwrap_or("0").trim().parse().unwrap_or(0);
            if started > 0 {
                break;
            }
            assert!(
                start.elapsed() < crate::common::HANG_GUARD,
                "{c}: the issue service never started: {issue}"
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
    assert!(
        b.ok("systemctl list-timers --all --no-pager")
            .contains("edgeplan-renew-veza.fr.timer")
    );
    // `status` says what is served and that the issuance failed (no ACME server here).
    let specs = t.path().join("specs").display().to_string();
    let start = std::time::Instant::now();
    loop {
        let status = Test::new()
            .args(["status", "--target", "r720", "--specs", &specs])
            .run();
        ok(&status);
        let block = status
            .stdout
            .split("\n  talas.fr  ")
            .nth(1)
            .unwrap_or("")
            .split("\n  veza.fr  ")
            .next()
            .unwrap_or("")
            .to_string();
        if block.contains("edgeplan-cert-talas.fr.service failed at ") {
            assert!(
                block.starts_with("self-signed placeholder, issuer CN=talas.fr, expires "),
                "{block}"
            );
            assert!(
                block.contains("    names: talas.fr, www.talas.fr\n"),
                "{block}"
            );
            assert!(
                block.contains("    ! served a self-signed placeholder"),
                "{block}"
            );
            assert!(block.contains("; systemd retries it"), "{block}");
            break;
        }
        assert!(
            start.elapsed() < crate::common::HANG_GUARD,
            "{}",
            status.stdout
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }

    // Back to the box from before edgeplan: the units stop and are disabled.
    let rb = Test::new()
        .args(["rollback", "--auto-approve", "--target", "r720", "--specs"])
        .args([t.path().join("specs").display().to_string()])
        .run();
    ok(&rb);
    for c in certs {
        assert!(
            rb.stdout
                .contains(&format!("Stopped and disabled edgeplan-renew-{c}.timer.")),
            "{}",
            rb.stdout
        );
        let (code, _) = b.sh(&format!("systemctl is-enabled edgeplan-renew-{c}.timer"));
        assert_ne!(code, 0, "{c}: still enabled after the rollback");
    }
    // And back.
    ok(&t.run());
    assert!(state("edgeplan-renew-veza.fr.timer").starts_with("enabled\nactive\n"));
}

/// A box that ran the specs over HTTP only turns TLS on with one apply: the placeholders haproxy
/// needs for its new :443 are made before validation, the certificate units are enabled and
/// started, and every public host is served over TLS.
#[test]
fn turning_tls_on_for_a_box_that_ran_http_only() {
    let b = DebianBox::launch();
    let t = b
        .bundled_specs()
        .args(["apply", "--auto-approve", "--target", "r720"]);
    let edge_kdl = t.path().join("specs/edge.kdl");
    let tls = std::fs::read_to_string(&edge_kdl).unwrap();
    let mut http_only = tls.replace(
        "listen http=\"*:80\" https=\"*:443\"",
        "listen http=\"*:80\"",
    );
    let cut = |text: &mut String, from: &str, to: &str| {
        let a = text.find(from).unwrap();
        let z = a + from.len() + text[a + from.len()..].find(to).unwrap() + to.len();
        text.replace_range(a..z, "");
    };
    cut(&mut http_only, "\ntls ", "\n");
    cut(&mut http_only, "acme email=", "\n}\n");
    std::fs::write(&edge_kdl, &http_only).unwrap();
    ok(&t.run());
    assert_eq!(
        b.ok("curl -sS -H 'Host: talas.fr' http://127.0.0.1/"),
        "Talas is coming soon.\n"
    );
    assert_ne!(
        b.sh("test -e /etc/haproxy/certs").0,
        0,
        "HTTP only: no certificates"
    );

    std::fs::write(&edge_kdl, &tls).unwrap();
    let out = t.run();
    ok(&out);
    for c in ["forgejo.talas.group", "talas.fr", "veza.fr"] {
        assert!(
            out.stdout.contains(&format!(
                "Bootstrap: made a self-signed placeholder /etc/haproxy/certs/{c}.pem"
            )),
            "{}",
            out.stdout
        );
        assert!(
            out.stdout
                .contains(&format!("enable and start edgeplan-renew-{c}.timer")),
            "{}",
            out.stdout
        );
        assert_eq!(
            b.ok(&format!("systemctl is-enabled edgeplan-renew-{c}.timer"))
                .trim(),
            "enabled"
        );
    }
    let edge = edgeplan::load(&t.path().join("specs")).unwrap().1;
    for (host, _) in edge.public_hosts() {
        let cert = presented(&b, host.as_str());
        assert!(cert.contains(&format!("DNS:{host}")), "SNI {host}: {cert}");
    }
    assert_eq!(
        b.ok("curl -sSk --resolve talas.fr:443:127.0.0.1 https://talas.fr/"),
        "Talas is coming soon.\n"
    );
}
