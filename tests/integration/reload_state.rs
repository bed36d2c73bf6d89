//! Runtime state across reloads (issue 14, item 1): what carries into the new worker is only an
//! operator's admin state and health, and only for a server whose identity (backend, name,
//! address, port) is unchanged; address, port and weight always come from the config.
//!
//! A real haproxy chrooted into a local box (`Edgebox::running`), applied by the real binary, with
//! stand-in instances that say who they are; clients keep sending requests throughout, and after
//! each apply the test asserts where requests land and what haproxy's runtime says
//! (`show servers state`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use edgeplan::server::{StateRow, parse_servers_state};

use crate::common::Output;
use crate::edgebox::Edgebox;
use crate::live::failover::{Load, Node, get};

const HOST: &str = "lab.test";
const BACKEND: &str = "lab_web_pool";

thread_local! {
    /// A port nothing listens on, for the green instance.
    static GREEN_PORT: u16 = crate::ports::free_port();
}

/// The specs: one env whose component has two listed instances at `app1` and `app2`
/// (`IP:PORT`), with `weight1` for the first, and a green one; fast health checks; a local
/// target reloading through the master CLI.
fn specs(port: u16, dir: &Path, app1: &str, weight1: u16, app2: &str, note: &str) -> String {
    // The inactive colour's instance: `disabled`, never sent a request.
    let green = GREEN_PORT.with(|p| *p);
    format!(
        r#"edge "state-edge"
listen http="127.0.0.1:{port}"
admin-socket "/run/haproxy/admin.sock" mode="600"
health interval="300ms" fall=2 rise=1
placeholder "note" status=503 {{
    hosts "note.test"
    body "{note}\n"
}}
env "lab" {{
    hosts "{HOST}"
    component "web" health="/health" pool="web_pool" {{
        instance "app-1" color="blue" address="{app1}" weight={weight1}
        instance "app-2" color="blue" address="{app2}"
        instance "app-3" color="green" address="127.0.0.1:{green}"
    }}
    default "web"
}}
target "box" {{
    local root="../box"
    validate "haproxy" "-c" "-f"
    reload "{dir}/reload.sh" "{dir}/box/run/haproxy-master.sock"
}}
"#,
        dir = dir.display()
    )
}

fn ok(out: &Output) {
    assert_eq!(out.code, 0, "{}", out.folded());
}

/// `show servers state` of the backend, by server, from the box's admin socket.
fn runtime(b: &Edgebox) -> BTreeMap<String, StateRow> {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("echo \"show servers state $1\" | socat -t 5 stdio \"unix-connect:$0\"")
        .arg(b.root().join("run/haproxy/admin.sock"))
        .arg(BACKEND)
        .output()
        .unwrap();
    parse_servers_state(&String::from_utf8_lossy(&out.stdout))
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|r| (r.server.clone(), r))
        .collect()
}

/// Who answers `n` sequential requests without a cookie.
fn spread(port: u16, n: usize) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for _ in 0..n {
        let g = get(port, HOST, "/", None).unwrap();
        assert_eq!(g.status, 200, "{g:?}");
        *out.entry(g.served_by.unwrap()).or_default() += 1;
    }
    out
}

/// Apply `text`; the apply's output. Waits (a hang guard) until haproxy's runtime shows every
/// server that is not in maintenance up.
fn apply(b: &Edgebox, text: &str) -> String {
    b.set_specs(&[("edge.kdl", text)]);
    let out = b.run(&["apply", "--auto-approve"]);
    ok(&out);
    let start = Instant::now();
    // Every server not in maintenance (any MAINT bit of srv_admin_state: 0x67) is running.
    let up = |rt: &BTreeMap<String, StateRow>| {
        rt.values()
            .all(|r| r.admin_state & 0x67 != 0 || r.op_state == 2)
    };
    while !up(&runtime(b)) {
        assert!(
            start.elapsed() < crate::common::HANG_GUARD,
            "{:?}",
            runtime(b)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    out.stdout
}

/// The line of apply's output about the saved state.
fn saved(stdout: &str) -> &str {
    stdout
        .lines()
        .find(|l| l.contains("server states") || l.contains("Saved the state"))
        .unwrap_or_else(|| panic!("no line about the server states:\n{stdout}"))
}

#[test]
fn a_changed_address_port_or_weight_takes_effect_and_admin_state_carries_only_when_unchanged() {
    // Stand-ins: A and B (127.0.0.1), C (127.0.0.1, another port), D (127.0.0.2 on C's
    // port), E (127.0.0.1). Old ones keep running, so a request routed to them would succeed
    // and be seen.
    let a = Node::start("A");
    let b2 = Node::start("B");
    let c = Node::start("C");
    let d = Node::start_on_ip("D", "127.0.0.2", c.port);
    let e = Node::start("E");
    let at = |n: &Node, ip: &str| format!("{ip}:{}", n.port);
    let (b, _h, port) = Edgebox::running("", |port, dir| {
        vec![(
            "edge.kdl".into(),
            specs(
                port,
                dir,
                &at(&a, "127.0.0.1"),
                1,
                &at(&b2, "127.0.0.1"),
                "v0",
            ),
        )]
    });
    let spec = |app1: &str, weight1: u16, app2: &str, note: &str| {
        specs(port, b.path(), app1, weight1, app2, note)
    };
    apply(
        &b,
        &spec(&at(&a, "127.0.0.1"), 1, &at(&b2, "127.0.0.1"), "v0"),
    );
    assert_eq!(
        spread(port, 20),
        [("A".into(), 10), ("B".into(), 10)].into()
    );
    // Each apply runs under traffic: none of it fails, and no request sent after the apply
    // returned reaches the instance app-1 was before.
    let under_load = |text: &str, old: &str| -> String {
        let load = Load::start(port, HOST, "/", 2);
        load.wait_answered(20);
        let out = apply(&b, text);
        let applied = SystemTime::now();
        load.wait_answered(20);
        let answers = load.stop();
        let failed: Vec<_> = answers.iter().filter(|x| !x.ok()).collect();
        assert!(failed.is_empty(), "{failed:?}");
        let stale: Vec<_> = answers
            .iter()
            .filter(|x| x.sent > applied)
            .filter(|x| {
                x.got
                    .as_ref()
                    .is_ok_and(|g| g.served_by.as_deref() == Some(old))
            })
            .collect();
        assert!(
            stale.is_empty(),
            "sent after the apply, served by {old}: {stale:?}"
        );
        eprintln!(
            "apply under traffic: {} requests, none failed, none to {old} after it",
            answers.len()
        );
        out
    };

    // The port of app-1 changes (A → C), then its address (C → D: 127.0.0.2, same port), then
    // both (D → E).
    let steps: [(&str, String, &str); 3] = [
        ("port", at(&c, "127.0.0.1"), "C"),
        ("address", at(&d, "127.0.0.2"), "D"),
        ("address and port", at(&e, "127.0.0.1"), "E"),
    ];
    let mut old = "A";
    for (i, (what, addr, now)) in steps.iter().enumerate() {
        let out = under_load(
            &spec(addr, 1, &at(&b2, "127.0.0.1"), &format!("v{}", i + 1)),
            old,
        );
        // Exactly app-2 and app-3 kept their state; app-1 starts from the config.
        assert_eq!(
            saved(&out),
            "Saved the state of 2 servers to /var/lib/haproxy/server-state; 1 left to start \
             from the config (address or port changed, or gone).",
            "{what}"
        );
        let rt = runtime(&b);
        let (ip, p) = addr.rsplit_once(':').unwrap();
        assert_eq!(
            (rt["app-1"].addr.as_str(), rt["app-1"].port.as_str()),
            (ip, p),
            "{what}"
        );
        let got = spread(port, 20);
        assert_eq!(
            got,
            [(now.to_string(), 10), ("B".into(), 10)].into(),
            "{what}"
        );
        old = now;
    }

    // A weight: haproxy's runtime takes the config's, and round-robin follows it.
    let out = under_load(
        &spec(&at(&e, "127.0.0.1"), 3, &at(&b2, "127.0.0.1"), "v4"),
        "D",
    );
    assert!(
        saved(&out).starts_with("Saved the state of 3 servers"),
        "{out}"
    );
    let rt = runtime(&b);
    assert_eq!((rt["app-1"].weight, rt["app-1"].config_weight), (3, 3));
    let got = spread(port, 40);
    assert!(
        (29..=31).contains(&got["E"]) && got["E"] + got["B"] == 40,
        "3:1 expected: {got:?}"
    );

    // Admin state carries when the identity is unchanged…
    ok(&b.run(&["server", "maint", "lab", "web", "app-2"]));
    apply(
        &b,
        &spec(&at(&e, "127.0.0.1"), 3, &at(&b2, "127.0.0.1"), "v5"),
    );
    assert_ne!(
        runtime(&b)["app-2"].admin_state & 0x01,
        0,
        "app-2 stays in maintenance"
    );
    assert_eq!(spread(port, 10), [("E".into(), 10)].into());
    // …and not when its port changed: app-2 (now at A's port) starts from the config, ready.
    apply(
        &b,
        &spec(&at(&e, "127.0.0.1"), 3, &at(&a, "127.0.0.1"), "v6"),
    );
    assert_eq!(runtime(&b)["app-2"].admin_state, 0, "{:?}", runtime(&b));
    let got = spread(port, 40);
    assert!(
        (29..=31).contains(&got["E"]) && got["E"] + got["A"] == 40,
        "3:1 expected: {got:?}"
    );
}

/// The rendered state helper is POSIX sh (it runs on the box, like box.sh): shellcheck in sh
/// mode finds nothing and dash parses it; the identity list names every server of haproxy.cfg.
#[test]
fn the_state_helper_is_posix_sh_and_the_identity_list_names_every_server() {
    let build = crate::live::Build::of(&crate::common::repo().join("specs"));
    let dir = tempfile::tempdir().unwrap();
    let helper = dir.path().join("haproxy-save-state");
    std::fs::write(
        &helper,
        &build.files["usr/local/lib/edgeplan/haproxy-save-state"].content,
    )
    .unwrap();
    for cmd in [
        &["shellcheck", "--shell=sh", "--severity=style"][..],
        &["dash", "-n"][..],
    ] {
        let out = std::process::Command::new(cmd[0])
            .args(&cmd[1..])
            .arg(&helper)
            .output()
            .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        assert!(
            out.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let list = String::from_utf8(
        build.files["etc/haproxy/edgeplan-servers.list"]
            .content
            .clone(),
    )
    .unwrap();
    let listed: Vec<&str> = list.lines().filter(|l| !l.starts_with('#')).collect();
    let cfg = build.cfg();
    let servers: Vec<&str> = cfg
        .lines()
        .filter(|l| l.trim_start().starts_with("server "))
        .collect();
    assert_eq!(listed.len(), servers.len(), "{list}");
    for l in &listed {
        let f: Vec<&str> = l.split(' ').collect();
        let line = format!("server {} {}:{}", f[1], f[2], f[3]);
        assert!(
            servers.iter().any(|s| s.trim_start().starts_with(&line)),
            "{l}: no `{line}` in haproxy.cfg"
        );
    }
}

/// `systemctl reload haproxy` typed by hand on this box: the `ExecReload` lines of the rendered
/// haproxy.service drop-in, run in order as systemd would — the state helper, then Debian's
/// `kill -USR2 $MAINPID` — but for Debian's `haproxy -c` (checked by `systemd-analyze verify`
/// and not needed to reload a config apply validated; it would need the box's chroot). Waits
/// (a hang guard) until the master reloaded.
fn reload_by_hand(b: &Edgebox, h: &crate::edgebox::Haproxy) -> String {
    let dropin = b
        .live("etc/systemd/system/haproxy.service.d/edgeplan.conf")
        .expect("no haproxy.service drop-in on the box");
    let before = h.reloads();
    let mut said = String::new();
    for line in dropin.lines().filter_map(|l| l.strip_prefix("ExecReload=")) {
        if line.is_empty() {
            continue;
        }
        if line.starts_with("/usr/sbin/haproxy ") && line.contains(" -c ") {
            continue;
        }
        let out = if line == "/usr/local/lib/edgeplan/haproxy-save-state" {
            std::process::Command::new(b.root().join(&line[1..]))
                .env("EDGEPLAN_BOX_ROOT", b.root())
                .output()
                .unwrap()
        } else {
            assert_eq!(
                line, "/bin/kill -USR2 $MAINPID",
                "an ExecReload line this test does not know"
            );
            std::process::Command::new("/bin/kill")
                .args(["-USR2", &h.pid().to_string()])
                .output()
                .unwrap()
        };
        assert!(out.status.success(), "{line}: {out:?}");
        said += &String::from_utf8_lossy(&out.stdout);
    }
    let start = Instant::now();
    while h.reloads() == before {
        assert!(
            start.elapsed() < crate::common::HANG_GUARD,
            "haproxy did not reload"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    said
}

/// A reload by hand (and so a certbot renewal's, which reloads through systemd too) keeps what
/// an operator set since the last apply, both ways: an instance taken out stays out, an
/// instance put back stays in.
#[test]
fn a_reload_by_hand_keeps_what_an_operator_set_since_the_last_apply() {
    let a = Node::start("A");
    let b2 = Node::start("B");
    let at = |n: &Node| format!("127.0.0.1:{}", n.port);
    let (b, h, port) = Edgebox::running("", |port, dir| {
        vec![(
            "edge.kdl".into(),
            specs(port, dir, &at(&a), 1, &at(&b2), "v0"),
        )]
    });
    let spec = specs(port, b.path(), &at(&a), 1, &at(&b2), "v0");
    apply(&b, &spec);
    let maint = |b: &Edgebox| runtime(b)["app-2"].admin_state & 0x01 != 0;

    // Taken out after the apply: the state file still says ready; the reload saves first.
    ok(&b.run(&["server", "maint", "lab", "web", "app-2"]));
    let said = reload_by_hand(&b, &h);
    assert!(said.starts_with("saved the state of 3 servers"), "{said}");
    assert!(maint(&b), "app-2 back in service after a reload by hand");
    assert_eq!(spread(port, 10), [("A".into(), 10)].into());

    // Saved in maintenance by an apply, put back afterwards: it stays in service.
    apply(&b, &specs(port, b.path(), &at(&a), 1, &at(&b2), "v1"));
    assert!(maint(&b));
    ok(&b.run(&["server", "ready", "lab", "web", "app-2"]));
    reload_by_hand(&b, &h);
    assert!(
        !maint(&b),
        "app-2 back in maintenance after a reload by hand"
    );
    let start = Instant::now();
    while runtime(&b)["app-2"].op_state != 2 {
        assert!(start.elapsed() < crate::common::HANG_GUARD);
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(spread(port, 10), [("A".into(), 5), ("B".into(), 5)].into());
}
