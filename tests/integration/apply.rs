//! `edgeplan apply`, `rollback`, `generations` and `force-unlock` end to end: a real haproxy under
//! load, a config haproxy refuses, a failing reload, a kill at every step, two applies at once,
//! saved plans, a real sshd.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use crate::common::Output;
use crate::edgebox::{Backend, EDGE, Edgebox, Haproxy, Load, Sshd, env, get};

fn specs(edge: &str, prod_hosts: &[&str]) -> Vec<(&'static str, String)> {
    vec![
        ("edge.kdl", edge.to_string()),
        ("env/prod.kdl", env("prod", prod_hosts, "blue")),
    ]
}

fn set(b: &Edgebox, specs: &[(&'static str, String)]) {
    let refs: Vec<(&str, &str)> = specs.iter().map(|(p, t)| (*p, t.as_str())).collect();
    b.set_specs(&refs);
}

fn new_box(specs: &[(&'static str, String)]) -> Edgebox {
    let refs: Vec<(&str, &str)> = specs.iter().map(|(p, t)| (*p, t.as_str())).collect();
    Edgebox::new(&refs)
}

/// stderr without miette's line wrapping.
fn flat(out: &Output) -> String {
    out.stderr
        .replace("\n  │ ", " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// `broken/haproxy.cfg.j2`: the real template with `tail` appended (for `--templates broken`).
fn broken_template(b: &Edgebox, tail: &str) {
    let embedded = edgeplan::render::EMBEDDED
        .iter()
        .find(|(n, _)| *n == "haproxy.cfg.j2")
        .unwrap()
        .1;
    b.write("broken/haproxy.cfg.j2", &format!("{embedded}\n{tail}"));
}

fn ok(out: &Output) {
    assert_eq!(out.code, 0, "{}", out.folded());
}

/// Rendered files of the box's specs: path → content.
fn rendered(b: &Edgebox) -> BTreeMap<String, String> {
    let build = edgeplan::build(&edgeplan::BuildOptions {
        specs: b.path().join("specs"),
        templates: b.test_template.then(|| b.path().join("templates")),
        colors: Vec::new(),
    })
    .unwrap();
    build
        .rendered
        .files
        .into_iter()
        .map(|(p, f)| (p, String::from_utf8(f.content).unwrap()))
        .collect()
}

/// What the box serves at `paths` (through its links): path → content.
fn live(root: &Path, paths: &[&String]) -> BTreeMap<String, Option<String>> {
    paths
        .iter()
        .map(|p| (p.to_string(), std::fs::read_to_string(root.join(p)).ok()))
        .collect()
}

fn expect(tree: &BTreeMap<String, String>, paths: &[&String]) -> BTreeMap<String, Option<String>> {
    paths
        .iter()
        .map(|p| (p.to_string(), tree.get(*p).cloned()))
        .collect()
}

fn current_generation(b: &Edgebox) -> Option<String> {
    std::fs::read_link(b.root().join("var/lib/edgeplan/current"))
        .ok()
        .map(|l| l.display().to_string())
}

/// The live edge: HTTP on a free port, an outside backend answering 200 for `app.test`, a
/// placeholder page for `talas.fr`, reloads through the master CLI.
fn live_edge(port: u16, backend: u16, body: &str, dir: &Path) -> String {
    format!(
        r#"edge "live-edge"
listen http="127.0.0.1:{port}"
admin-socket "/run/admin.sock" mode="600"
outside "app" address="127.0.0.1:{backend}" {{
    hosts "app.test"
}}
placeholder "talas" status=503 {{
    hosts "talas.fr"
    body "{body}\n"
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

/// A live box (`Edgebox::running`) on `live_edge` with placeholder body `v0`.
fn live_box(backend: u16) -> (Edgebox, Haproxy, u16) {
    Edgebox::running("", |port, dir| {
        specs(&live_edge(port, backend, "v0", dir), &["veza.fr"])
            .into_iter()
            .map(|(p, t)| (p.to_string(), t))
            .collect()
    })
}

#[test]
fn apply_under_load_drops_no_request() {
    let backend = Backend::start();
    let (b, h, port) = live_box(backend.port);
    assert_eq!(get(port, "app.test").unwrap().0, 200);
    assert_eq!(get(port, "talas.fr").unwrap(), (503, "v0\n".into()));

    let load = Load::start(port, "app.test", 200, 4);
    load.wait_answered(50);
    // At least 3 applies, and on until 100 requests were answered while applies ran (counts,
    // not a time window: a loaded machine sends fewer per second).
    let mut timings = Vec::new();
    let mut during = 0;
    let mut i = 0;
    while i < 3 || during < 100 {
        i += 1;
        assert!(
            i <= 50,
            "only {during} requests answered during {} applies",
            i - 1
        );
        let before = load.answered();
        set(
            &b,
            &specs(
                &live_edge(port, backend.port, &format!("v{i}"), b.path()),
                &["veza.fr"],
            ),
        );
        let started = Instant::now();
        let out = b.run(&["apply", "--auto-approve"]);
        timings.push(started.elapsed());
        ok(&out);
        during += load.answered() - before;
        // The reload was checked before apply returned: the new page is served.
        assert_eq!(get(port, "talas.fr").unwrap(), (503, format!("v{i}\n")));
    }
    load.wait_answered(50);
    let report = load.stop();
    eprintln!(
        "apply under load: {} requests sent ({during} while {i} applies ran), {} failed, the \
         applies took {timings:?}",
        report.sent,
        report.failures.len()
    );
    assert!(during >= 100, "{report:?}");
    assert!(
        report.failures.is_empty(),
        "{} of {} requests failed: {:?}",
        report.failures.len(),
        report.sent,
        &report.failures[..report.failures.len().min(5)]
    );
    let procs = h.show_proc();
    assert!(procs.contains("[failed: 0]"), "{procs}");
}

#[test]
fn config_haproxy_refuses_is_never_activated() {
    let backend = Backend::start();
    let (b, h, port) = live_box(backend.port);
    let before_cfg = b.live("etc/haproxy/haproxy.cfg").unwrap();
    let reloads_before = h.reloads();
    broken_template(
        &b,
        "backend broken\n    use_backend nowhere\n    not-a-keyword\n",
    );
    let out = b.run(&["apply", "--auto-approve", "--templates", "broken"]);
    assert_eq!(out.code, 1, "{}", out.folded());
    let err = flat(&out);
    assert!(
        err.contains("the box refused tree")
            && err.contains("nothing was activated")
            && err.contains("not-a-keyword"),
        "{err}"
    );
    assert_eq!(current_generation(&b).as_deref(), Some("generations/1"));
    assert_eq!(b.live("etc/haproxy/haproxy.cfg").unwrap(), before_cfg);
    // haproxy was not reloaded and still serves.
    assert_eq!(h.reloads(), reloads_before);
    assert_eq!(get(port, "app.test").unwrap().0, 200);
    // The lock was released: a good apply goes through.
    ok(&b.run(&["plan"]));
    let ok_out = b.run(&["apply", "--auto-approve"]);
    ok(&ok_out);
}

/// A box whose reload command fails once when `fail-next` exists.
fn flaky_box() -> Edgebox {
    let b = new_box(&specs(EDGE, &["veza.fr"]));
    let flaky = format!(
        "#!/bin/sh\nif [ -f {d}/fail-next ]; then rm {d}/fail-next; echo 'simulated reload failure'; exit 1; fi\n",
        d = b.path().display()
    );
    b.write("flaky.sh", &flaky);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        b.path().join("flaky.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let edge = EDGE.replace(
        "reload \"true\"",
        &format!("reload \"{}/flaky.sh\"", b.path().display()),
    );
    set(&b, &specs(&edge, &["veza.fr"]));
    b
}

#[test]
fn failed_reload_restores_the_previous_generation() {
    let b = flaky_box();
    ok(&b.run(&["apply", "--auto-approve"]));
    let old = b.live("etc/haproxy/haproxy.cfg").unwrap();
    let edge = std::fs::read_to_string(b.path().join("specs/edge.kdl")).unwrap();
    set(&b, &specs(&edge, &["veza.fr", "shop.veza.fr"]));
    b.write("fail-next", "");
    let out = b.run(&["apply", "--auto-approve"]);
    assert_eq!(out.code, 1, "{}", out.folded());
    let err = flat(&out);
    assert!(err.contains("simulated reload failure"), "{err}");
    assert!(err.contains("Restored generation 1 and reloaded"), "{err}");
    assert_eq!(current_generation(&b).as_deref(), Some("generations/1"));
    assert_eq!(b.live("etc/haproxy/haproxy.cfg").unwrap(), old);
    // Nothing is owed: the plan shows the change again, and applying it works.
    let plan = b.run(&["plan", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    assert_eq!(v["summary"]["pending_reload"], false);
    // haproxy.cfg only: no other file's content changed (headers name no input hash).
    assert_eq!(v["summary"]["change"], 1);
    ok(&b.run(&["apply", "--auto-approve"]));
    assert!(
        b.live("etc/haproxy/haproxy.cfg")
            .unwrap()
            .contains("shop.veza.fr")
    );
}

/// A reload command can exit 0 while the reload does not take: `kill -USR2` to the master (what
/// Debian's unit does) when the new config binds a port another process holds passes
/// `haproxy -c`, then the master cannot bind it and keeps the old worker serving. apply checks
/// that a new worker answers on the admin socket: it fails within `reload-timeout` and
/// restores the previous generation, which the same signal then reloads. (The timeout is 10 s,
/// not less: the restore's signal must reach a master that has finished its failed reload —
/// one sent while it may still be re-executing can be lost, which a 2 s timeout hit on a loaded
/// machine.)
#[test]
fn a_reload_that_exits_0_but_does_not_take_fails_and_restores() {
    let backend = Backend::start();
    let (b, h, port) = live_box(backend.port);
    let taken = crate::ports::listener();
    let taken_port = taken.local_addr().unwrap().port();
    let signal = |listen: u16, body: &str| {
        live_edge(listen, backend.port, body, b.path()).replace(
            &format!(
                "reload \"{dir}/reload.sh\" \"{dir}/box/run/haproxy-master.sock\"",
                dir = b.path().display()
            ),
            &format!(
                "reload \"kill\" \"-USR2\" \"{}\"\n    reload-timeout \"10s\"",
                h.pid()
            ),
        )
    };
    // The same signal reloads a config that can take: the check sees the new worker.
    set(&b, &specs(&signal(port, "v1"), &["veza.fr"]));
    let out = b.run(&["apply", "--auto-approve"]);
    ok(&out);
    assert!(
        out.stdout
            .contains(&format!("Reloaded: kill -USR2 {}; worker ", h.pid()))
            && out.stdout.contains(" answers on /run/admin.sock (was "),
        "{}",
        out.stdout
    );
    assert_eq!(get(port, "talas.fr").unwrap(), (503, "v1\n".into()));
    let reloads = h.reloads();

    set(&b, &specs(&signal(taken_port, "v2"), &["veza.fr"]));
    let out = b.run(&["apply", "--auto-approve"]);
    assert_eq!(out.code, 1, "{}", out.folded());
    let err = flat(&out);
    assert!(
        err.contains(&format!("`kill -USR2 {}` exited 0, but no new haproxy worker answered on /run/admin.sock within 10.0 s", h.pid())),
        "{err}"
    );
    assert!(err.contains("Restored generation 2 and reloaded"), "{err}");
    assert_eq!(current_generation(&b).as_deref(), Some("generations/2"));
    // The failed reload and the restore's both reached the master; the old port serves v1.
    assert!(h.reloads() >= reloads + 2, "{}", h.show_proc());
    assert_eq!(get(port, "talas.fr").unwrap(), (503, "v1\n".into()));
    drop(taken);
}

/// A reload command that leaves a daemon behind (`haproxy -D`, an init script) whose output
/// comes after the command exited: the reply keeps its exit status last, and the apply does
/// not wait for the daemon.
#[test]
fn a_reload_command_that_leaves_a_daemon_behind_is_read_right() {
    let b = new_box(&specs(EDGE, &["veza.fr"]));
    let stop = b.path().join("stop-daemon");
    // It also ends when the box's temp dir is gone: a stop file written just before the test
    // ends is deleted with the dir, possibly before the daemon looked (a daemon leaked so).
    let daemon = format!(
        "#!/bin/sh\n( sleep 1; echo 'late daemon output'; \
         while [ ! -e {} ] && [ -d {} ]; do sleep 0.1; done ) &\necho started\n",
        stop.display(),
        b.path().display()
    );
    b.write("daemon.sh", &daemon);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        b.path().join("daemon.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let edge = EDGE.replace(
        "reload \"true\"",
        &format!("reload \"{}/daemon.sh\"", b.path().display()),
    );
    set(&b, &specs(&edge, &["veza.fr"]));
    // The daemon ends when the apply is done, or 10 s from now: an apply held by it takes that
    // long.
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let stopper = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let _ = wait.recv_timeout(std::time::Duration::from_secs(10));
            std::fs::write(stop, "").unwrap();
        })
    };
    let started = Instant::now();
    let out = b.run(&["apply", "--auto-approve"]);
    let took = started.elapsed();
    done.send(()).unwrap();
    stopper.join().unwrap();
    ok(&out);
    assert!(
        out.stdout
            .contains("Reloaded: [TMP]/daemon.sh (not checked"),
        "{}",
        out.stdout
    );
    assert!(took.as_secs() < 10, "held by the daemon: {took:?}");
}

/// `apply` paused at `step`, then killed by its PID with SIGKILL from here.
fn killed_while_paused(b: &Edgebox, step: &str) {
    use std::io::{BufRead, BufReader};
    let mut args: Vec<String> = ["apply", "--auto-approve"].map(String::from).to_vec();
    if b.test_template {
        args.extend(["--templates".into(), "templates".into()]);
    }
    let mut cmd = b.command(&args);
    cmd.env("EDGEPLAN_PAUSE_AT", step);
    let mut child = cmd.spawn().unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        let n = err.read_line(&mut line).unwrap();
        assert!(
            n > 0,
            "{step}: apply ended without reaching the pause point"
        );
        if line.contains(&format!("paused at {step} (pid {})", child.id())) {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9), "{step}: {status:?}");
}

fn lock_id(stderr: &str) -> String {
    let at = stderr.find("lock id ").expect(stderr) + "lock id ".len();
    stderr[at..at + 36].to_string()
}

#[test]
#[cfg_attr(
    not(feature = "fault-injection"),
    ignore = "needs the fault points: cargo test --features fault-injection"
)]
fn a_kill_at_any_step_leaves_a_complete_generation_and_a_recoverable_lock() {
    let spec_a = specs(EDGE, &["veza.fr"]);
    // B: a host added, the placeholder replaced by another (one error page removed, one added).
    let spec_b = specs(
        &EDGE.replace("placeholder \"talas\"", "placeholder \"other\""),
        &["veza.fr", "shop.veza.fr"],
    );
    // Each step twice: aborted in-process (EDGEPLAN_FAULT), and paused there
    // (EDGEPLAN_PAUSE_AT) then killed from outside with SIGKILL, as an operator's `kill -9`.
    let modes = edgeplan::fault::Step::ALL
        .into_iter()
        .flat_map(|s| [(s, false), (s, true)]);
    for (step, sigkill) in modes {
        let b = new_box(&spec_a);
        ok(&b.run(&["apply", "--auto-approve"]));
        let a = rendered(&b);
        set(&b, &spec_b);
        let bb = rendered(&b);
        let paths: Vec<&String> = a.keys().chain(bb.keys()).collect();

        if sigkill {
            killed_while_paused(&b, step.name());
        } else {
            let out = b.run_with(
                &["apply", "--auto-approve"],
                &[("EDGEPLAN_FAULT", step.name())],
            );
            assert_ne!(out.code, 0, "{}: {}", step.name(), out.folded());
            assert!(out.stderr.contains("fault injected"), "{}", out.stderr);
        }

        let now = live(&b.root(), &paths);
        let old = expect(&a, &paths);
        let new = expect(&bb, &paths);
        use edgeplan::fault::Step;
        let want_new = matches!(step, Step::BeforeReload | Step::AfterReload);
        let want = if want_new { &new } else { &old };
        let differ: Vec<&String> = want
            .keys()
            .filter(|k| now.get(*k) != want.get(*k))
            .collect();
        assert!(
            differ.is_empty(),
            "{} ({}): the box holds neither the complete old nor the complete new generation; \
             these differ from the {} one: {differ:?}",
            step.name(),
            if sigkill {
                "SIGKILL while paused"
            } else {
                "aborted"
            },
            if want_new { "new" } else { "old" },
        );

        // The lock stays, with its holder; force-unlock with its id frees it.
        let blocked = b.run(&["apply", "--auto-approve"]);
        assert_eq!(blocked.code, 1, "{}", blocked.folded());
        assert!(
            flat(&blocked).contains("is locked by tester@"),
            "{}",
            blocked.stderr
        );
        let id = lock_id(&flat(&blocked));
        let wrong = b.run(&["force-unlock", "00000000-0000-0000-0000-000000000000"]);
        assert_eq!(wrong.code, 1, "{}", wrong.folded());
        ok(&b.run(&["force-unlock", &id]));

        let again = b.run(&["apply", "--auto-approve"]);
        ok(&again);
        assert_eq!(live(&b.root(), &paths), new, "{}", step.name());
        let plan = b.run(&["plan", "--detailed-exitcode"]);
        assert_eq!(plan.code, 0, "{}: {}", step.name(), plan.folded());
        assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);
    }
}

#[test]
fn two_concurrent_applies_one_wins() {
    let b = new_box(&specs(
        &EDGE.replace("reload \"true\"", "reload \"sleep\" \"1\""),
        &["veza.fr"],
    ));
    let args: Vec<String> = ["apply", "--auto-approve", "--templates", "templates"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let children: Vec<_> = (0..2).map(|_| b.command(&args).spawn().unwrap()).collect();
    let outs: Vec<Output> = children
        .into_iter()
        .map(|c| b.finish(c.wait_with_output().unwrap()))
        .collect();
    let codes: Vec<i32> = outs.iter().map(|o| o.code).collect();
    assert!(
        codes == [0, 1] || codes == [1, 0],
        "{}\n{}",
        outs[0].folded(),
        outs[1].folded()
    );
    let loser = flat(outs.iter().find(|o| o.code == 1).unwrap());
    assert!(
        loser.contains("target `box` is locked by tester@")
            && loser.contains("(apply, pid ")
            && loser.contains("force-unlock"),
        "{loser}"
    );
    assert_eq!(current_generation(&b).as_deref(), Some("generations/1"));
}

#[test]
fn saved_plans_apply_exactly_or_are_refused_as_stale() {
    let b = new_box(&specs(EDGE, &["veza.fr"]));
    ok(&b.run(&["plan", "--out-plan", "p1"]));
    // A saved plan is the approval: no prompt, no --auto-approve.
    let out = b.run(&["apply", "p1"]);
    ok(&out);
    assert!(
        out.stdout
            .contains("Applying the saved plan p1: Plan: 6 to add"),
        "{}",
        out.stdout
    );
    let again = b.run(&["apply", "p1"]);
    assert_eq!(again.code, 1);
    assert!(
        flat(&again).contains(
            "saved plan is stale: target `box` changed since the plan was made \
             (generation then none, now 1)"
        ),
        "{}",
        again.stderr
    );
    set(&b, &specs(EDGE, &["veza.fr", "shop.veza.fr"]));
    ok(&b.run(&["plan", "--out-plan", "p2"]));
    set(&b, &specs(EDGE, &["veza.fr", "www.veza.fr"]));
    let changed = b.run(&["apply", "p2"]);
    assert_eq!(changed.code, 1);
    assert!(
        flat(&changed).contains("the build changed since the plan was made"),
        "{}",
        changed.stderr
    );
    // Nothing was applied, and the lock was released.
    assert_eq!(current_generation(&b).as_deref(), Some("generations/1"));
    let refused = b.run(&["apply"]);
    assert_eq!(refused.code, 1);
    assert!(
        flat(&refused).contains("refusing to apply without confirmation"),
        "{}",
        refused.stderr
    );
    ok(&b.run(&["apply", "--auto-approve"]));
}

#[test]
fn generations_rollback_and_retention() {
    let b = new_box(&specs(EDGE, &["veza.fr"]));
    let hosts = [
        vec!["veza.fr"],
        vec!["veza.fr", "a.veza.fr"],
        vec!["veza.fr", "b.veza.fr"],
        vec!["veza.fr", "c.veza.fr"],
    ];
    for h in &hosts {
        set(&b, &specs(EDGE, h));
        ok(&b.run(&["apply", "--auto-approve", "--keep", "3"]));
    }
    let g = b.run(&["generations", "--format", "json"]);
    ok(&g);
    let v: serde_json::Value = serde_json::from_str(&g.stdout).unwrap();
    let numbers: Vec<u64> = v["generations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["generation"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [4, 3, 2], "three kept, newest first");
    assert_eq!(v["generations"][0]["current"], true);

    let rb = b.run(&["rollback", "--auto-approve"]);
    ok(&rb);
    assert!(
        rb.stdout.contains("from generation 4 to generation 3"),
        "{}",
        rb.stdout
    );
    assert!(
        b.live("etc/haproxy/haproxy.cfg")
            .unwrap()
            .contains("b.veza.fr")
    );
    let rb = b.run(&["rollback", "--auto-approve", "--to", "4"]);
    ok(&rb);
    assert!(
        b.live("etc/haproxy/haproxy.cfg")
            .unwrap()
            .contains("c.veza.fr")
    );
    let missing = b.run(&["rollback", "--auto-approve", "--to", "1"]);
    assert_eq!(missing.code, 1);
    assert!(
        flat(&missing).contains("there is no generation 1 on the box (kept: 2, 3, 4)"),
        "{}",
        missing.stderr
    );
    let text = b.run(&["generations"]);
    ok(&text);
    assert!(text.stdout.starts_with("*   4  tree "), "{}", text.stdout);
}

/// The ssh transport applies and rolls back too, one connection per command.
#[test]
fn ssh_apply_and_rollback_over_one_connection_each() {
    let b = new_box(&specs(EDGE, &["veza.fr"]));
    let sshd = Sshd::start(&b.root());
    let ssh_cmd = sshd.ssh_command();
    let env = [("EDGEPLAN_SSH_COMMAND", ssh_cmd.as_str())];
    let edge = |hosts: &[&str]| {
        specs(
            &EDGE
                .replace("local root=\"../box\"", "ssh host=\"edgebox\"")
                .replace("validate \"true\"", "validate \"haproxy\" \"-c\" \"-f\""),
            hosts,
        )
    };
    set(&b, &edge(&["veza.fr"]));
    let mut figures = Vec::new();
    for (args, hosts) in [
        (vec!["apply", "--auto-approve"], vec!["veza.fr"]),
        (
            vec!["apply", "--auto-approve"],
            vec!["veza.fr", "shop.veza.fr"],
        ),
        (vec!["generations"], vec![]),
        (vec!["rollback", "--auto-approve"], vec![]),
    ] {
        if !hosts.is_empty() {
            set(&b, &edge(&hosts));
        }
        let before = sshd.connections();
        let started = Instant::now();
        let out = b.run_with(&args, &env);
        let took = started.elapsed();
        ok(&out);
        let n = sshd.connections() - before;
        figures.push(format!("{}: {took:?}", args[0]));
        assert_eq!(n, 1, "{args:?} opened {n} connections");
    }
    eprintln!("ssh, one connection each: {figures:?}");
    assert_eq!(current_generation(&b).as_deref(), Some("generations/1"));
    assert!(
        !b.live("etc/haproxy/haproxy.cfg")
            .unwrap()
            .contains("shop.veza.fr")
    );
}

/// The incus transport against a real container: plan, apply, validate inside the container (a
/// config haproxy refuses never goes live), rollback.
#[test]
fn incus_apply_validate_and_rollback_in_a_real_container() {
    let started = Instant::now();
    let ct = crate::edgebox::IncusBox::launch();
    let launched = started.elapsed();
    let edge = |body: &str| {
        format!(
            r#"edge "incus-edge"
listen http="127.0.0.1:8080"
admin-socket "/run/admin.sock" mode="600"
placeholder "talas" status=503 {{
    hosts "talas.fr"
    body "{body}\n"
}}
target "ct" {{
    incus container="{}"
    validate "haproxy" "-c" "-f"
    reload "/usr/local/bin/edge-reload"
}}
"#,
            ct.name
        )
    };
    let mut b = new_box(&specs(&edge("incus-one"), &["veza.fr"]));
    b.test_template = false;
    let plan = b.run(&["plan", "--format", "json"]);
    ok(&plan);
    let v: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    assert_eq!(v["base"], serde_json::Value::Null, "a fresh container");
    assert_eq!(v["summary"]["add"], 6);

    ok(&b.run(&["apply", "--auto-approve"]));
    ct.wait_for(8080, "talas.fr", "incus-one");

    set(&b, &specs(&edge("incus-two"), &["veza.fr"]));
    let out = b.run(&["apply", "--auto-approve"]);
    ok(&out);
    assert!(
        out.stdout
            .contains("Validated on the box: haproxy -c -f /var/lib/edgeplan/staging/"),
        "{}",
        out.stdout
    );
    ct.wait_for(8080, "talas.fr", "incus-two");

    // haproxy inside the container refuses this one: never activated.
    broken_template(&b, "not-a-section\n");
    set(&b, &specs(&edge("incus-three"), &["veza.fr"]));
    let refused = b.run(&["apply", "--auto-approve", "--templates", "broken"]);
    assert_eq!(refused.code, 1, "{}", refused.folded());
    assert!(
        flat(&refused).contains("nothing was activated"),
        "{}",
        refused.stderr
    );
    ct.wait_for(8080, "talas.fr", "incus-two");

    let rb = b.run(&["rollback", "--auto-approve"]);
    ok(&rb);
    ct.wait_for(8080, "talas.fr", "incus-one");
    let gens = b.run(&["generations"]);
    ok(&gens);
    assert!(gens.stdout.contains("*   1  tree "), "{}", gens.stdout);
    assert_eq!(
        ct.sh("readlink /var/lib/edgeplan/current").trim(),
        "generations/1"
    );
    eprintln!(
        "incus: image built and container launched in {launched:?}, whole test {:?}",
        started.elapsed()
    );
}

const ACME: &str = "acme email=\"ops@veza.fr\" directory=\"staging\" challenge-port=8888 {\n    \
                    certificate \"veza.fr\" {\n        domains \"veza.fr\"\n    }\n}\n";

/// Units changed: `systemd-analyze verify` runs on the staged units (scripts/test.sh installs
/// it here), and daemon-reload is skipped for a box root that is not the running system.
#[test]
fn changed_units_are_verified_on_the_box() {
    assert!(
        Path::new("/usr/bin/systemd-analyze").exists(),
        "systemd-analyze is missing (scripts/test.sh installs the systemd package)"
    );
    let b = new_box(&specs(&format!("{EDGE}{ACME}"), &["veza.fr"]));
    let out = b.run(&["apply", "--auto-approve"]);
    ok(&out);
    assert!(
        out.stdout.contains("; systemd-analyze verify "),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains(".timer"), "{}", out.stdout);
    assert!(!out.stdout.contains("not verified"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("systemctl daemon-reload skipped: the box root is"),
        "{}",
        out.stdout
    );
    // A box root that is not the running system: no unit is enabled or started, and it says so.
    assert!(
        out.stdout.contains(
            "Units not enabled, started or stopped (enable-start:edgeplan-renew-veza.fr.timer, \
             enable-start-no-block:edgeplan-cert-veza.fr.service): the box root is"
        ),
        "{}",
        out.stdout
    );
}

/// A box without systemd-analyze (a plain directory, a container without systemd): the units
/// are applied unverified, and apply says so.
#[test]
fn units_on_a_box_without_systemd_analyze_are_applied_and_said_unverified() {
    // Every command of this machine but systemd-analyze, as the box's PATH.
    let bin = tempfile::tempdir().unwrap();
    for dir in ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"] {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            if name == "systemd-analyze" || bin.path().join(&name).exists() {
                continue;
            }
            std::os::unix::fs::symlink(e.path(), bin.path().join(&name)).unwrap();
        }
    }
    let b = new_box(&specs(&format!("{EDGE}{ACME}"), &["veza.fr"]));
    let out = b.run_with(
        &["apply", "--auto-approve"],
        &[("PATH", bin.path().to_str().unwrap())],
    );
    ok(&out);
    assert!(
        !out.stdout.contains("; systemd-analyze verify "),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("Warning: units not verified: systemd-analyze is not installed on the box"),
        "{}",
        out.stdout
    );
    assert!(b.root().join("etc/systemd/system").is_dir());
}

/// The box script is POSIX sh (dash, busybox ash): shellcheck in sh mode finds nothing and
/// every shell of a box parses it.
#[test]
fn box_script_passes_shellcheck_as_posix_sh() {
    let script = crate::common::repo().join("src/transport/box.sh");
    let out = std::process::Command::new("shellcheck")
        .args(["--shell=sh", "--severity=style"])
        .arg(&script)
        .output()
        .expect("shellcheck is missing (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    for shell in [&["dash", "-n"][..], &["busybox", "ash", "-n"][..]] {
        let st = std::process::Command::new(shell[0])
            .args(&shell[1..])
            .arg(&script)
            .status()
            .unwrap_or_else(|e| panic!("{shell:?}: {e}"));
        assert!(st.success(), "{shell:?} cannot parse box.sh");
    }
}
