//! `edgeplan server drain|ready|maint|list` end to end (issue 10): the real binary, a local box
//! applied by `edgeplan apply`, a real haproxy chrooted into it (the box's admin socket
//! `/run/haproxy/admin.sock`, its server-state file, reloads through the master CLI), three
//! instances of one component on loopback stand-ins.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{Output, Test};
use crate::edgebox::{Edgebox, Haproxy, Sshd};
use crate::live::failover::{Node, Ws, get};

const HOST: &str = "lab.test";

/// The specs: HTTP on `port`, one env with a sticky component of three instances (api-1, api-2
/// blue, api-3 green) at the given ports, fast health checks, a local target reloading haproxy
/// through its master CLI.
fn specs(port: u16, ports: [u16; 3], dir: &Path, extra: &str) -> String {
    format!(
        r#"edge "runtime-edge"
listen http="127.0.0.1:{port}"
admin-socket "/run/haproxy/admin.sock" mode="600"
health interval="500ms" fall=2 rise=2 slowstart="1s"
{extra}
env "lab" {{
    hosts "{HOST}"
    component "backend" health="/health" sticky=#true pool="api_pool" {{
        instance "api-1" color="blue" address="127.0.0.1:{}"
        instance "api-2" color="blue" address="127.0.0.1:{}"
        instance "api-3" color="green" address="127.0.0.1:{}"
    }}
    default "backend"
}}
target "box" {{
    local root="../box"
    validate "haproxy" "-c" "-f"
    reload "{dir}/reload.sh" "{dir}/box/run/haproxy-master.sock"
}}
"#,
        ports[0],
        ports[1],
        ports[2],
        dir = dir.display()
    )
}

/// A live box (`Edgebox::running`) with the specs.
fn live_box(ports: [u16; 3]) -> (Edgebox, Haproxy, u16) {
    Edgebox::running("", |port, dir| {
        vec![("edge.kdl".to_string(), specs(port, ports, dir, ""))]
    })
}

fn ok(out: &Output) {
    assert_eq!(out.code, 0, "{}", out.folded());
}

/// stderr without miette's wrapping.
fn flat(s: &str) -> String {
    s.replace("\n  │ ", " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// `server list --format json`: instance → (state, status, sessions).
fn list(b: &Edgebox) -> BTreeMap<String, (String, String, u64)> {
    let out = b.run(&["server", "list", "--format", "json"]);
    ok(&out);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["format_version"], 1);
    assert_eq!(doc["target"], "box");
    doc["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["instance"].as_str().unwrap().to_string(),
                (
                    i["state"].as_str().unwrap_or("-").to_string(),
                    i["status"].as_str().unwrap_or("-").to_string(),
                    i["sessions"].as_u64().unwrap(),
                ),
            )
        })
        .collect()
}

fn wait_for(
    b: &Edgebox,
    what: &str,
    ok: impl Fn(&BTreeMap<String, (String, String, u64)>) -> bool,
) {
    let start = Instant::now();
    loop {
        let l = list(b);
        if ok(&l) {
            return;
        }
        assert!(start.elapsed() < crate::common::HANG_GUARD, "{what}: {l:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Who answers `n` requests without a cookie.
fn spread(port: u16, n: usize) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for _ in 0..n {
        let g = get(port, HOST, "/api/x", None).unwrap();
        assert_eq!(g.status, 200, "{g:?}");
        *out.entry(g.served_by.unwrap()).or_default() += 1;
    }
    out
}

const PIN_1: &str = "SERVERID_lab=lab-backend-api-1";

#[test]
fn drain_maint_ready_on_a_live_haproxy() {
    let nodes = [
        Node::start("api-1"),
        Node::start("api-2"),
        Node::start("api-3"),
    ];
    let ports = [nodes[0].port, nodes[1].port, nodes[2].port];
    let (b, h, port) = live_box(ports);
    wait_for(&b, "blue instances up", |l| {
        l["api-1"].1 == "UP" && l["api-2"].1 == "UP"
    });

    // The list: every instance, the inactive colour `disabled`.
    let out = b.run(&["server", "list"]);
    ok(&out);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with("ENV  COMPONENT  INSTANCE  COLOR  STATE"),
        "{}",
        out.stdout
    );
    for (inst, state) in [
        ("api-1", "ready"),
        ("api-2", "ready"),
        ("api-3", "disabled"),
    ] {
        let l = lines
            .iter()
            .find(|l| l.contains(&format!(" {inst} ")))
            .unwrap();
        assert!(l.contains(&format!(" {state} ")), "{l}");
    }
    assert_eq!(
        spread(port, 10).len(),
        2,
        "round-robin over api-1 and api-2"
    );

    // drain: no new non-sticky request reaches api-1; its sticky clients still do.
    let out = b.run(&["server", "drain", "lab", "backend", "api-1"]);
    ok(&out);
    assert!(
        out.stdout.starts_with(
            "lab_api_pool/api-1 (env lab, component backend, blue) on target box: ready -> drain"
        ),
        "{}",
        out.stdout
    );
    assert_eq!(spread(port, 20), [("api-2".to_string(), 20)].into());
    for _ in 0..5 {
        let g = get(port, HOST, "/api/x", Some(PIN_1)).unwrap();
        assert_eq!(
            g.served_by.as_deref(),
            Some("api-1"),
            "sticky client of a drained instance"
        );
    }
    assert_eq!(list(&b)["api-1"].0, "drain");

    // --wait: an open session keeps it from finishing; once closed, it returns.
    let ws = Ws::open(port, HOST, Some(PIN_1));
    assert_eq!(ws.served_by, "api-1");
    let started = Instant::now();
    let out = b.run(&[
        "server",
        "drain",
        "lab",
        "backend",
        "api-1",
        "--wait",
        "--timeout",
        "1s",
    ]);
    assert_eq!(out.code, 1, "{}", out.folded());
    // It waited the whole timeout (a lower bound holds under any load); that it gave up after
    // it, not later, is what it says below ("after 1.0s").
    assert!(started.elapsed() >= Duration::from_secs(1));
    let err = flat(&out.stderr);
    assert!(err.contains("edgeplan::server::timeout"), "{err}");
    assert!(
        err.contains("lab_api_pool/api-1: 1 session left after 1.0s"),
        "{err}"
    );
    assert!(
        out.stdout.contains("drain -> drain, 1 session"),
        "{}",
        out.stdout
    );
    ws.close();
    let out = b.run(&[
        "server",
        "drain",
        "lab",
        "backend",
        "api-1",
        "--wait",
        "--timeout",
        "10s",
    ]);
    ok(&out);
    assert!(out.stdout.contains("Done after"), "{}", out.stdout);

    // The drain survives a reload: apply a changed spec; the state is saved before the reload.
    b.set_specs(&[(
        "edge.kdl",
        &specs(
            port,
            ports,
            b.path(),
            "placeholder \"soon\" status=503 {\n    hosts \"soon.test\"\n}",
        ),
    )]);
    let out = b.run(&["apply", "--auto-approve"]);
    ok(&out);
    assert!(
        out.stdout.contains("Saved the state of")
            && out.stdout.contains("/var/lib/haproxy/server-state"),
        "{}",
        out.stdout
    );
    let reloaded = get(port, "soon.test", "/", None).unwrap();
    assert_eq!(reloaded.status, 503, "the new config is live");
    let l = list(&b);
    assert_eq!(l["api-1"].0, "drain", "after the reload: {l:?}");
    assert_eq!(l["api-3"].0, "disabled", "after the reload: {l:?}");
    assert_eq!(spread(port, 10), [("api-2".to_string(), 10)].into());
    // … and shows in `status`.
    let out = b.run(&["status"]);
    ok(&out);
    assert!(
        out.stdout.contains("Instances: 1 of 2 in rotation and up\n  lab/backend/api-1  blue  drain  DRAIN  0 sessions"),
        "{}",
        out.stdout
    );
    let out = b.run(&["status", "--format", "json"]);
    ok(&out);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["instances"][0]["state"], "drain", "{doc}");

    // maint: sticky clients of api-1 are re-dispatched (and re-cookied).
    let out = b.run(&[
        "server", "maint", "lab", "backend", "api-1", "--format", "json",
    ]);
    ok(&out);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["before"], "drain");
    assert_eq!(doc["after"], "maint");
    assert_eq!(doc["backend"], "lab_api_pool");
    for _ in 0..5 {
        let g = get(port, HOST, "/api/x", Some(PIN_1)).unwrap();
        assert_eq!(g.served_by.as_deref(), Some("api-2"), "re-dispatched");
        assert_eq!(
            g.set_cookie.as_deref(),
            Some("SERVERID_lab=lab-backend-api-2")
        );
    }

    // ready: back in rotation once its checks pass.
    let out = b.run(&["server", "ready", "lab", "backend", "api-1", "--wait"]);
    ok(&out);
    assert!(out.stdout.contains("maint -> ready"), "{}", out.stdout);
    std::thread::sleep(Duration::from_millis(1200)); // slowstart 1s
    let s = spread(port, 20);
    assert_eq!(s.len(), 2, "{s:?}");
    assert!(nodes[0].served() > 0);

    // The inactive colour is switch's business.
    let out = b.run(&["server", "ready", "lab", "backend", "api-3"]);
    assert_eq!(out.code, 1, "{}", out.folded());
    let err = flat(&out.stderr);
    assert!(err.contains("edgeplan::server::inactive_color"), "{err}");
    assert!(err.contains("edgeplan switch lab green"), "{err}");
    // maint on it is harmless and allowed.
    ok(&b.run(&["server", "maint", "lab", "backend", "api-3"]));
    assert_eq!(list(&b)["api-3"].0, "disabled");

    // The same over ssh (the box script and socat on the far side).
    let sshd = Sshd::start(&b.root());
    let with_ssh = specs(
        port,
        ports,
        b.path(),
        "target \"edge-ssh\" {\n    ssh host=\"edgebox\"\n}",
    );
    b.set_specs(&[("edge.kdl", &with_ssh)]);
    let ssh_cmd = sshd.ssh_command();
    let env = [("EDGEPLAN_SSH_COMMAND", ssh_cmd.as_str())];
    let json = |target: &str| {
        let out = b.run_with(
            &["server", "list", "--target", target, "--format", "json"],
            &env,
        );
        ok(&out);
        let mut doc: Value = serde_json::from_str(&out.stdout).unwrap();
        doc["target"] = Value::Null;
        for i in doc["instances"].as_array_mut().unwrap() {
            i["total_sessions"] = Value::Null; // the requests of this test go on counting
            i["since"] = Value::Null;
            i["check"] = Value::Null; // its duration varies
        }
        doc
    };
    assert_eq!(json("box"), json("edge-ssh"));
    let out = b.run_with(
        &[
            "server", "drain", "lab", "backend", "api-2", "--target", "edge-ssh",
        ],
        &env,
    );
    ok(&out);
    assert!(
        out.stdout.contains("on target edge-ssh: ready -> drain"),
        "{}",
        out.stdout
    );
    ok(&b.run_with(
        &[
            "server", "ready", "lab", "backend", "api-2", "--target", "box", "--wait",
        ],
        &env,
    ));
    drop(sshd);

    // An instance the specs name but the running config lacks (not applied yet).
    let text = specs(port, ports, b.path(), "").replace(
        "    default \"backend\"",
        "    component \"web\" port=3000 instances=1\n    route \"web\" to=\"web\" {\n        prefix \"/web/\"\n    }\n    default \"backend\"",
    );
    let text = text.replace(
        "env \"lab\" {",
        "env \"lab\" {\n    container-pattern \"{component}-{color}.lxd\"",
    );
    b.set_specs(&[("edge.kdl", &text)]);
    let out = b.run(&["server", "drain", "lab", "web", "blue"]);
    assert_eq!(out.code, 1, "{}", out.folded());
    let err = flat(&out.stderr);
    assert!(err.contains("edgeplan::server::not_running"), "{err}");
    assert!(
        err.contains("the running haproxy has no server `lab_web_pool/blue`"),
        "{err}"
    );
    let l = list(&b);
    assert_eq!(l["blue"].0, "-", "not running: {l:?}");
    drop(h);
    let out = b.run(&["status"]);
    ok(&out);
    assert!(
        out.stdout
            .contains("Instances: unknown (no answer on haproxy's admin socket)"),
        "{}",
        out.stdout
    );
}

/// A specs dir with a local target whose box has no haproxy.
fn offline() -> Test {
    Test::new().spec(
        "edge.kdl",
        r#"edge "offline"
admin-socket "/run/haproxy/admin.sock"
env "lab" {
    hosts "lab.test"
    container-pattern "{component}-{color}-{index}.lxd"
    component "backend" port=8080 instances=2
    component "web" port=3000
    route "api" to="backend" {
        prefix "/api/"
    }
    default "web"
}
target "box" {
    local root="box"
}
"#,
    )
}

#[test]
fn bad_input_is_a_clear_error() {
    let mut report = String::new();
    for args in [
        vec!["server", "drain", "prd", "backend", "blue-1"],
        vec!["server", "drain", "lab", "api", "blue-1"],
        vec!["server", "drain", "lab", "backend", "blue-3"],
        vec!["server", "drain", "lab", "web", "blue-1"],
        vec!["server", "maint", "lab", "backend", "blue-1"],
        vec!["server", "list"],
        vec!["server", "list", "stage"],
        vec![
            "server", "ready", "lab", "backend", "blue-1", "--target", "edge",
        ],
        vec![
            "server",
            "drain",
            "lab",
            "backend",
            "blue-1",
            "--timeout",
            "soon",
        ],
    ] {
        let out = offline().args(args.clone()).run();
        assert_ne!(out.code, 0, "{}", out.folded());
        assert!(!out.stderr.contains("panicked"), "{}", out.folded());
        report += &format!("$ edgeplan {}\n{}\n", args.join(" "), out.folded());
    }
    insta::assert_snapshot!(report);

    // JSON diagnostics for machines.
    let out = offline().args(["server", "list", "--format", "json"]).run();
    assert_eq!(out.code, 1);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        doc["diagnostics"][0]["code"],
        "edgeplan::server::no_admin_socket"
    );

    // No socat on the box: said so, with how to get it.
    let t = offline();
    std::fs::create_dir_all(t.path().join("box/run/haproxy")).unwrap();
    let bin = t.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink("/bin/sh", bin.join("sh")).unwrap();
    let out = t
        .args(["server", "list"])
        .env("PATH", &bin.display().to_string())
        .run();
    assert_eq!(out.code, 1, "{}", out.folded());
    let err = flat(&out.stderr);
    assert!(err.contains("edgeplan::server::no_socat"), "{err}");
    assert!(err.contains("apt-get install socat"), "{err}");
}
