//! The health gate of `edgeplan switch` (issue 19), live: real haproxy, stand-in upstreams,
//! clients sending requests throughout. A colour whose instances answer 500 or are down is
//! refused with a report per instance and nothing changes (no request fails, traffic stays,
//! history unchanged); `--wait` polls until they heal; `--force` switches anyway and says so.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::traffic::{Live, Load, request};

fn generation(l: &Live) -> std::path::PathBuf {
    std::fs::read_link(l.b.root().join("var/lib/edgeplan/current")).unwrap()
}

/// A refused switch: exit 1 with the report, and the box exactly as before.
fn refused(l: &Live, want: &str) {
    let before = generation(l);
    let cfg = l.b.live("etc/haproxy/haproxy.cfg");
    let load = Load::start(l.port, "staging.veza.fr", 2);
    load.wait_answered(50);
    let out = l.b.run(&["switch", "staging", "green", "--release", "bad"]);
    load.wait_answered(50);
    let samples = load.stop();
    let text = out.folded();
    assert_eq!(out.code, 1, "{text}");
    assert!(text.contains("edgeplan::switch::unhealthy"), "{text}");
    assert!(
        text.contains("web/green green (127.0.0.1:") && text.contains(want),
        "the report names the instance and what it answered: {text}"
    );
    let failed = samples.iter().filter(|s| !s.ok()).count();
    println!(
        "refused switch ({want}): {} requests under load, {failed} failed",
        samples.len()
    );
    assert_eq!(failed, 0, "{failed} of {} requests failed", samples.len());
    assert!(
        samples
            .iter()
            .all(|s| s.served_by() == Some("staging/blue")),
        "traffic stayed on blue"
    );
    assert_eq!(generation(l), before, "no generation was made active");
    assert_eq!(l.b.live("etc/haproxy/haproxy.cfg"), cfg);
    assert!(l.state_file("staging").is_none(), "history unchanged");
    let lock = l.b.root().join("var/lib/edgeplan/lock");
    assert!(std::fs::symlink_metadata(lock).is_err(), "lock released");
}

#[test]
fn an_unhealthy_colour_is_refused_and_nothing_changes_until_it_heals_or_is_forced() {
    let mut l = Live::start();
    // Green answers 500 to everything, its health check included.
    l.stand_ins["staging/green"]
        .status
        .store(500, Ordering::SeqCst);
    refused(&l, "answered 500; the check expects status 200");

    // Green is down: nothing listens on its port.
    let green = l.stand_ins.remove("staging/green").unwrap();
    let green_port = green.port;
    drop(green);
    refused(&l, "no answer");

    // Back, answering 500, healed after 1.5 s: `--wait` polls until every instance passes.
    let back = crate::traffic::StandIn::start_at(green_port, "staging/green");
    back.status.store(500, Ordering::SeqCst);
    let status = back.status.clone();
    l.stand_ins.insert("staging/green".into(), back);
    let healer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        status.store(200, Ordering::SeqCst);
    });
    let out = l.b.run(&[
        "switch",
        "staging",
        "green",
        "--wait",
        "20s",
        "--release",
        "r1",
    ]);
    healer.join().unwrap();
    assert_eq!(out.code, 0, "{}", out.folded());
    assert!(
        out.stdout.contains("waiting: 1 of 1 not healthy yet"),
        "{}",
        out.stdout
    );
    // The plan said what the gate would check before it ran.
    assert!(
        out.stdout.contains(&format!(
            "Health gate before traffic moves (from the box):\n  web/green 127.0.0.1:{green_port}: \
             GET / (Host staging.veza.fr), expects status 200"
        )),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("every instance is healthy")
            && out.stdout.contains("web/green green (127.0.0.1:"),
        "{}",
        out.stdout
    );
    l.wait_served("staging.veza.fr", "staging/green");
    let state = l.state_file("staging").unwrap();
    assert_eq!(state["history"][0]["forced"], serde_json::Value::Null);

    // `--force` switches to an unhealthy colour and says so in the history.
    l.stand_ins["staging/blue"]
        .status
        .store(500, Ordering::SeqCst);
    let out = l.b.run(&["switch", "staging", "blue", "--force"]);
    assert_eq!(out.code, 0, "{}", out.folded());
    assert!(!out.stdout.contains("Health gate"), "{}", out.stdout);
    let state = l.state_file("staging").unwrap();
    assert_eq!(state["color"], "blue");
    assert_eq!(state["history"][0]["forced"], true);
    l.stand_ins["staging/blue"]
        .status
        .store(200, Ordering::SeqCst);
    l.wait_served("staging.veza.fr", "staging/blue");
    let r = request(l.port, "staging.veza.fr", None).unwrap();
    assert_eq!(r.status, 200);
}
