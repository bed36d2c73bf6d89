//! `edgeplan switch`, `rollback --env` and `status` end to end.
//!
//! Live (the rig of [`crate::traffic`]): a real haproxy on a local box, two envs whose
//! blue and green instances are stand-ins on loopback ports, reloads through the master CLI —
//! staging switches under a continuous load loop; sticky clients of the old colour; reloads and
//! applies after a switch; a switch whose reload fails. Offline (the test template, `true` as
//! validate and reload): history, fast rollback, generation rollback, missing and corrupt state,
//! bad arguments.

use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::common::Output;
use crate::edgebox::{EDGE, Edgebox, env};
use crate::traffic::{Live, Load, Reply, Sample, count_by, request};

fn ok(out: &Output) {
    assert_eq!(out.code, 0, "{}", out.folded());
}

/// stderr without miette's line wrapping.
fn flat(out: &Output) -> String {
    out.stderr
        .replace("\n  │ ", " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// `srv_admin_state` bit of a forced or config maintenance.
const MAINT: u32 = 0x01 | 0x04;

#[test]
fn switch_under_load_loses_no_request_and_moves_only_staging() {
    let l = Live::start();
    let prod_before = l.servers("prod_web_pool");
    let cfg_before = l.b.live("etc/haproxy/haproxy.cfg").unwrap();
    let staging = Load::start(l.port, "staging.veza.fr", 4);
    let prod = Load::start(l.port, "prod.veza.fr", 1);
    staging.wait_answered(100);
    prod.wait_answered(20);
    let started = Instant::now();
    let out =
        l.b.run(&["switch", "staging", "green", "--release", "abc123"]);
    let done = Instant::now();
    ok(&out);
    staging.wait_answered(100);
    let s = staging.stop();
    let p = prod.stop();

    let failed: Vec<&Sample> = s.iter().chain(&p).filter(|x| !x.ok()).collect();
    let after: Vec<&Sample> = s.iter().filter(|x| x.start >= done).collect();
    let during = s
        .iter()
        .filter(|x| x.start >= started && x.start < done)
        .count();
    eprintln!(
        "switch under load: staging {} requests ({:?}; {} sent while the switch ran, {} after it), \
         prod {} requests ({:?}), {} failed; the switch took {:?}",
        s.len(),
        count_by(&s),
        during,
        after.len(),
        p.len(),
        count_by(&p),
        failed.len(),
        done - started
    );
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {:?}",
        failed.len(),
        s.len() + p.len(),
        &failed[..failed.len().min(5)]
    );
    // At least 100 before the switch and 100 after it by construction; those in flight when
    // it returned may count as before.
    assert!(
        s.len() >= 200 && after.len() >= 100 - 4,
        "too few requests: {} ({} after)",
        s.len(),
        after.len()
    );
    assert!(count_by(&s)["staging/blue"] > 0, "{:?}", count_by(&s));
    // Every request sent after the switch returned landed on green.
    let strays: Vec<_> = after
        .iter()
        .filter(|x| x.served_by() != Some("staging/green"))
        .collect();
    assert!(strays.is_empty(), "after the switch: {strays:?}");
    // Prod: served by blue throughout, its servers' states untouched, no state recorded.
    assert_eq!(count_by(&p).keys().collect::<Vec<_>>(), ["prod/blue"]);
    assert_eq!(l.servers("prod_web_pool"), prod_before);
    assert!(l.state_file("prod").is_none());
    assert!(l.stand_ins["prod/green"].served.load(Ordering::SeqCst) == 0);
    // Staging: green ready, blue in maintenance (sticky clients re-dispatched).
    let st = l.servers("staging_web_pool");
    assert_eq!(st["green"].1 & MAINT, 0, "{st:?}");
    assert_ne!(st["blue"].1 & MAINT, 0, "{st:?}");
    let state = l.state_file("staging").unwrap();
    assert_eq!(state["color"], "green");
    assert_eq!(state["release"], "abc123");
    assert_eq!(state["history"].as_array().unwrap().len(), 1);
    assert_eq!(state["history"][0]["previous_color"], "blue");
    assert_eq!(state["history"][0]["result"], "ok");
    // The config changed in staging's server lines only (its header names no input hash).
    let cfg_after = l.b.live("etc/haproxy/haproxy.cfg").unwrap();
    let changed: Vec<(&str, &str)> = cfg_before
        .lines()
        .zip(cfg_after.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(changed.len(), 2, "{changed:#?}");
    assert!(
        changed[0].1.contains("cookie staging-web-blue disabled"),
        "{changed:#?}"
    );
    assert!(
        changed[1].0.contains("cookie staging-web-green disabled"),
        "{changed:#?}"
    );
    assert!(
        out.stdout.contains(
            "Handed traffic over on the running haproxy: staging_web_pool/green ready, \
             staging_web_pool/blue drain."
        ),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("Switch complete! staging: blue → green (release abc123)."),
        "{}",
        out.stdout
    );
    assert!(l.h.show_proc().contains("[failed: 0]"));
}

#[test]
fn a_blue_cookie_is_redispatched_and_reloads_and_applies_keep_the_colour() {
    let l = Live::start();
    let cookie_of = |r: &Reply| {
        r.set_cookies
            .iter()
            .find(|c| c.starts_with("VEZA_SERVERID_staging="))
            .cloned()
    };
    let first = request(l.port, "staging.veza.fr", None).unwrap();
    let blue_cookie = cookie_of(&first).expect("a sticky cookie");
    assert_eq!(blue_cookie, "VEZA_SERVERID_staging=staging-web-blue");
    let again = request(l.port, "staging.veza.fr", Some(&blue_cookie)).unwrap();
    assert_eq!(again.served_by.as_deref(), Some("staging/blue"));

    ok(&l.b.run(&["switch", "staging", "green", "--release", "r1"]));
    // The client holding blue's cookie is served by green and gets green's cookie.
    let moved = request(l.port, "staging.veza.fr", Some(&blue_cookie)).unwrap();
    assert_eq!(
        moved.served_by.as_deref(),
        Some("staging/green"),
        "{moved:?}"
    );
    assert_eq!(
        cookie_of(&moved).as_deref(),
        Some("VEZA_SERVERID_staging=staging-web-green")
    );

    let on_green = |what: &str| {
        for c in [None, Some(blue_cookie.as_str())] {
            for _ in 0..5 {
                let r = request(l.port, "staging.veza.fr", c).unwrap();
                assert_eq!(
                    r.served_by.as_deref(),
                    Some("staging/green"),
                    "{what}: {r:?}"
                );
            }
        }
        let st = l.servers("staging_web_pool");
        assert_eq!(st["green"].1 & MAINT, 0, "{what}: {st:?}");
        assert_ne!(st["blue"].1 & MAINT, 0, "{what}: {st:?}");
    };
    on_green("after the switch");
    // A reload edgeplan did not do (the state file it saved is still there).
    l.plain_reload();
    on_green("after a plain reload");
    // An apply with nothing to do keeps green (the box's colour is an input of the build).
    let out = l.b.run(&["apply", "--auto-approve"]);
    ok(&out);
    assert!(out.stdout.contains("No changes."), "{}", out.stdout);
    // An apply that changes something else reloads and keeps green too.
    let specs = std::fs::read_to_string(l.b.path().join("specs/env/prod.kdl")).unwrap();
    l.b.write(
        "specs/env/prod.kdl",
        &specs.replace("\"prod.veza.fr\"", "\"prod.veza.fr\" \"www.prod.veza.fr\""),
    );
    let out = l.b.run(&["apply", "--auto-approve"]);
    ok(&out);
    assert!(
        !out.stdout.contains("active colour"),
        "a plain apply changed a colour: {}",
        out.stdout
    );
    l.wait_served("www.prod.veza.fr", "prod/blue");
    on_green("after an apply");
    l.plain_reload();
    on_green("after an apply and a plain reload");

    // And back: blue again, through every kind of reload.
    ok(&l.b.run(&["switch", "staging", "blue", "--release", "r2"]));
    let green_cookie = "VEZA_SERVERID_staging=staging-web-green";
    for what in ["switch back", "plain reload", "second plain reload"] {
        if what != "switch back" {
            l.plain_reload();
        }
        for c in [None, Some(green_cookie)] {
            let r = request(l.port, "staging.veza.fr", c).unwrap();
            assert_eq!(
                r.served_by.as_deref(),
                Some("staging/blue"),
                "{what}: {r:?}"
            );
        }
    }
    let prod = request(l.port, "prod.veza.fr", None).unwrap();
    assert_eq!(prod.served_by.as_deref(), Some("prod/blue"));
}

#[test]
fn a_switch_whose_reload_fails_leaves_traffic_on_the_old_colour() {
    let l = Live::start();
    l.b.write("fail-next", "");
    let out = l.b.run(&["switch", "staging", "green"]);
    assert_eq!(out.code, 1, "{}", out.folded());
    let err = flat(&out);
    assert!(err.contains("simulated reload failure"), "{err}");
    assert!(err.contains("Restored generation 1 and reloaded"), "{err}");
    assert!(
        out.stdout.contains(
            "Handed traffic over on the running haproxy: staging_web_pool/blue ready, \
             staging_web_pool/green maint."
        ),
        "{}",
        out.stdout
    );
    for _ in 0..5 {
        let r = request(l.port, "staging.veza.fr", None).unwrap();
        assert_eq!(r.served_by.as_deref(), Some("staging/blue"), "{r:?}");
    }
    let st = l.servers("staging_web_pool");
    assert_ne!(st["green"].1 & MAINT, 0, "{st:?}");
    assert_eq!(st["blue"].1 & MAINT, 0, "{st:?}");
    assert!(l.state_file("staging").is_none(), "nothing recorded");
    // The next switch goes through.
    ok(&l.b.run(&["switch", "staging", "green"]));
    l.wait_served("staging.veza.fr", "staging/green");
}

/// Kill a switch of staging to green after it handed traffic over and before its reload (the
/// running haproxy has green ready and blue draining, the box's files are green's), release the
/// lock it left.
fn interrupted_switch(l: &Live) {
    let out = l.b.run_with(
        &["switch", "staging", "green"],
        &[("EDGEPLAN_FAULT", "before-reload")],
    );
    assert_ne!(out.code, 0, "{}", out.folded());
    assert!(out.stdout.contains("Handed traffic over"), "{}", out.stdout);
    let lock: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(l.b.root().join("var/lib/edgeplan/lock")).unwrap(),
    )
    .unwrap();
    ok(&l.b.run(&["force-unlock", lock["id"].as_str().unwrap()]));
    assert!(l.state_file("staging").is_none());
}

#[test]
#[cfg_attr(
    not(feature = "fault-injection"),
    ignore = "needs the fault points: cargo test --features fault-injection"
)]
fn an_interrupted_switch_is_finished_by_switching_again_or_undone_by_an_apply() {
    // Switching again finishes it: the reload it owed, and the record.
    let l = Live::start();
    interrupted_switch(&l);
    let out = l.b.run(&["switch", "staging", "green", "--release", "r1"]);
    ok(&out);
    assert!(
        out.stdout
            .contains("the box already served green; recorded"),
        "{}",
        out.stdout
    );
    assert_eq!(l.state_file("staging").unwrap()["color"], "green");
    for reload in [false, true] {
        if reload {
            l.plain_reload();
        }
        for _ in 0..4 {
            let r = request(l.port, "staging.veza.fr", None).unwrap();
            assert_eq!(r.served_by.as_deref(), Some("staging/green"), "{r:?}");
        }
        assert_ne!(l.servers("staging_web_pool")["blue"].1 & MAINT, 0);
    }

    // An apply undoes it: nothing was recorded, so the box's colour is still blue — and the
    // hand-over the interrupted switch made on the running haproxy is undone, not saved.
    let l = Live::start();
    interrupted_switch(&l);
    let out = l.b.run(&["apply", "--auto-approve"]);
    ok(&out);
    assert!(
        out.stdout.contains(
            "Handed traffic over on the running haproxy: staging_web_pool/blue ready, \
             staging_web_pool/green maint."
        ),
        "{}",
        out.stdout
    );
    for reload in [false, true] {
        if reload {
            l.plain_reload();
        }
        for _ in 0..4 {
            let r = request(l.port, "staging.veza.fr", None).unwrap();
            assert_eq!(r.served_by.as_deref(), Some("staging/blue"), "{r:?}");
        }
        let st = l.servers("staging_web_pool");
        assert_ne!(st["green"].1 & MAINT, 0, "{st:?}");
        assert_eq!(st["blue"].1, 0, "{st:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Offline: the test template (it prints each env's colour), `true` as validate and reload.

fn offline() -> Edgebox {
    let b = Edgebox::new(&[
        ("edge.kdl", EDGE),
        (
            "env/staging.kdl",
            &env("staging", &["staging.veza.fr"], "blue"),
        ),
        ("env/prod.kdl", &env("prod", &["veza.fr"], "blue")),
    ]);
    ok(&b.run(&["apply", "--auto-approve"]));
    b
}

fn status(b: &Edgebox) -> serde_json::Value {
    let out = b.run(&["status", "--format", "json", "--templates", "templates"]);
    ok(&out);
    serde_json::from_str(&out.stdout).unwrap()
}

fn generation(b: &Edgebox) -> String {
    std::fs::read_link(b.root().join("var/lib/edgeplan/current"))
        .unwrap()
        .display()
        .to_string()
}

fn switch(b: &Edgebox, args: &[&str]) -> Output {
    let mut all = vec!["switch"];
    all.extend(args);
    // Offline: no upstream answers, so no health gate (the gate is proven live, gate.rs).
    all.extend(["--templates", "templates", "--force"]);
    b.run(&all)
}

#[test]
fn history_keeps_the_last_five_and_fast_rollback_restores_the_previous_entry() {
    let b = offline();
    let mut color = "blue";
    for i in 1..=7 {
        color = if color == "blue" { "green" } else { "blue" };
        ok(&switch(
            &b,
            &["staging", color, "--release", &format!("r{i}")],
        ));
    }
    let s = status(&b);
    let staging = &s["envs"]["staging"];
    assert_eq!(staging["color"], "green");
    assert_eq!(staging["release"], "r7");
    assert_eq!(staging["source"], "box");
    let releases: Vec<&str> = staging["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["release"].as_str().unwrap())
        .collect();
    assert_eq!(releases, ["r7", "r6", "r5", "r4", "r3"]);
    assert_eq!(s["envs"]["prod"]["source"], "specs");
    assert_eq!(s["envs"]["prod"]["history"].as_array().unwrap().len(), 0);
    assert_eq!(s["drift"], false);
    assert_eq!(s["in_sync"], true);
    assert!(!b.root().join("var/lib/edgeplan/colors/prod.json").exists());

    let out = b.run(&[
        "rollback",
        "--env",
        "staging",
        "--auto-approve",
        "--templates",
        "templates",
    ]);
    ok(&out);
    assert!(
        out.stdout.contains(
            "Rolling back env staging on target box from green (release r7) to blue (release r6)"
        ),
        "{}",
        out.stdout
    );
    let cfg = b.live("etc/haproxy/haproxy.cfg").unwrap();
    assert!(cfg.contains("# env staging (blue)"), "{cfg}");
    assert!(cfg.contains("# env prod (blue)"), "{cfg}");
    let s = status(&b);
    let h = &s["envs"]["staging"]["history"];
    assert_eq!(s["envs"]["staging"]["release"], "r6");
    assert_eq!(h.as_array().unwrap().len(), 5);
    assert_eq!(h[0]["action"], "rollback");
    assert_eq!(h[0]["previous_release"], "r7");
    assert_eq!(s["envs"]["prod"]["source"], "specs");

    // Prod has nothing to roll back to.
    let none = b.run(&["rollback", "--env", "prod", "--auto-approve"]);
    assert_eq!(none.code, 1, "{}", none.folded());
    assert!(
        flat(&none).contains("env `prod` has no switch recorded on target `box`"),
        "{}",
        none.stderr
    );

    // A generation rollback re-activates the generation of r7 (green) and records it.
    ok(&b.run(&["rollback", "--auto-approve"]));
    let s = status(&b);
    assert_eq!(s["envs"]["staging"]["color"], "green");
    assert_eq!(s["envs"]["staging"]["release"], "r7");
    assert_eq!(
        s["envs"]["staging"]["history"][0]["action"],
        "generation-rollback"
    );
    assert_eq!(s["in_sync"], true, "{s}");

    // A plan shows a colour change as such: here the state is lost, and the specs say blue.
    std::fs::remove_file(b.root().join("var/lib/edgeplan/colors/staging.json")).unwrap();
    let plan = b.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}", plan.folded());
    assert!(
        plan.stdout
            .contains("~ env staging: active colour green -> blue"),
        "{}",
        plan.stdout
    );
    let text = b.run(&["status", "--templates", "templates"]);
    ok(&text);
    assert!(text.stdout.contains("specs: differ"), "{}", text.stdout);
}

#[test]
fn missing_state_is_blue_and_bad_input_changes_nothing() {
    let b = Edgebox::new(&[
        ("edge.kdl", EDGE),
        (
            "env/staging.kdl",
            &env("staging", &["staging.veza.fr"], "blue"),
        ),
        ("env/prod.kdl", &env("prod", &["veza.fr"], "blue")),
    ]);
    // Nothing applied yet: a switch does not ship the whole config.
    let fresh = switch(&b, &["staging", "green"]);
    assert_eq!(fresh.code, 1, "{}", fresh.folded());
    assert!(
        flat(&fresh).contains("target `box` does not match the specs: 6 to add"),
        "{}",
        fresh.stderr
    );
    assert!(!b.root().join("var/lib/edgeplan/current").exists());
    ok(&b.run(&["apply", "--auto-approve"]));

    // No state on the box: every env at its spec colour, blue.
    let s = status(&b);
    for e in ["staging", "prod"] {
        assert_eq!(s["envs"][e]["color"], "blue");
        assert_eq!(s["envs"][e]["source"], "specs");
    }
    assert_eq!(s["generation"], 1);

    let bad_env = switch(&b, &["stagign", "green"]);
    assert_eq!(bad_env.code, 1);
    assert!(
        flat(&bad_env).contains("unknown env `stagign`")
            && flat(&bad_env).contains("did you mean `staging`?"),
        "{}",
        bad_env.stderr
    );
    let bad_color = switch(&b, &["staging", "red"]);
    assert_eq!(bad_color.code, 1);
    assert!(
        flat(&bad_color).contains("unknown colour `red`")
            && flat(&bad_color).contains("the colours are `blue` and `green`"),
        "{}",
        bad_color.stderr
    );
    let all = switch(&b, &["qa", "purple", "--release", "a b"]);
    assert_eq!(all.code, 1);
    assert!(flat(&all).contains("3 problems found"), "{}", all.stderr);

    let same = switch(&b, &["staging", "blue"]);
    ok(&same);
    assert_eq!(
        same.stdout,
        "Env staging is already blue on target box: nothing to do.\n"
    );
    assert_eq!(generation(&b), "generations/1");
    assert!(!b.root().join("var/lib/edgeplan/colors").exists());

    // A corrupt state file: a clear error from every command, nothing changed.
    let colors = b.root().join("var/lib/edgeplan/colors");
    std::fs::create_dir_all(&colors).unwrap();
    std::fs::write(
        colors.join("staging.json"),
        "{\"format_version\": 1, \"env\": ",
    )
    .unwrap();
    let before = b.live("etc/haproxy/haproxy.cfg");
    for args in [
        &["switch", "staging", "green", "--templates", "templates"][..],
        &["rollback", "--env", "staging", "--auto-approve"],
        &["rollback", "--auto-approve"],
        &["plan"],
        &["apply", "--auto-approve"],
        &["status", "--templates", "templates"],
    ] {
        let out = b.run(args);
        assert_eq!(out.code, 1, "{args:?}: {}", out.folded());
        let err = flat(&out);
        assert!(
            err.contains("the colour state of env `staging` is unreadable: EOF while parsing")
                && err.contains("nothing was changed")
                && err.contains("/var/lib/edgeplan/colors/staging.json"),
            "{args:?}: {err}"
        );
    }
    assert_eq!(generation(&b), "generations/1");
    assert_eq!(b.live("etc/haproxy/haproxy.cfg"), before);
    assert!(!b.root().join("var/lib/edgeplan/lock").exists());
    std::fs::remove_file(colors.join("staging.json")).unwrap();

    // Specs changed since the last apply: the switch refuses to ship them.
    b.set_specs(&[
        ("edge.kdl", EDGE),
        (
            "env/staging.kdl",
            &env("staging", &["staging.veza.fr", "s2.veza.fr"], "blue"),
        ),
        ("env/prod.kdl", &env("prod", &["veza.fr"], "blue")),
    ]);
    let stale = switch(&b, &["staging", "green"]);
    assert_eq!(stale.code, 1);
    assert!(
        flat(&stale).contains("target `box` does not match the specs: 0 to add, 1 to change"),
        "{}",
        stale.stderr
    );
    assert_eq!(generation(&b), "generations/1");
}

/// Right after a switch the newly active colour has had no health check (haproxy's `INI`; it
/// assumes the server up, `UP 0/3`, and serves it): `status` and `server list` say "checking",
/// not a failure. The rollback's confirmation names the colour it moves back.
#[test]
fn status_says_checking_after_a_switch_and_rollback_names_the_colours() {
    // Checks every 30 s: the first check of the new colour comes long after this test looked.
    let l = Live::start_with("interval=\"30s\" fall=3 rise=2");
    ok(&l.b.run(&["switch", "staging", "green"]));
    l.wait_served("staging.veza.fr", "staging/green");
    let status = l.b.run(&["status"]);
    ok(&status);
    assert!(
        status
            .stdout
            .contains("awaiting their first health check)\n"),
        "{}",
        status.stdout
    );
    assert!(
        status
            .stdout
            .contains("  staging/web/green  green  ready  checking (first health check pending)  "),
        "{}",
        status.stdout
    );
    assert!(!status.stdout.contains("UP 0/"), "{}", status.stdout);
    let list = l.b.run(&["server", "list"]);
    ok(&list);
    let green = list
        .stdout
        .lines()
        .find(|r| r.starts_with("staging ") && r.contains(" green "))
        .unwrap()
        .to_string();
    assert!(
        green.contains(" checking ") && green.contains(" first check pending "),
        "{}",
        list.stdout
    );
    let json = l.b.run(&["server", "list", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let g = doc["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["env"] == "staging" && i["instance"] == "green")
        .unwrap();
    assert_eq!(g["checking"], true, "{g}");

    let rb = l.b.run(&["rollback", "--auto-approve"]);
    ok(&rb);
    assert!(
        rb.stdout
            .contains(" to generation 1:\n  staging: green → blue\n"),
        "{}",
        rb.stdout
    );
    l.wait_served("staging.veza.fr", "staging/blue");
}
