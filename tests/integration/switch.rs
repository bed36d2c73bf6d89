//! `edgeplan switch`, `rollback --env` and `status` end to end.
//!
//! Live: a real haproxy on a local box (the apply tests' chrooted [`Haproxy`]), two envs whose
//! blue and green instances are stand-ins on loopback ports, reloads through the master CLI —
//! staging switches under a continuous load loop; sticky clients of the old colour; reloads and
//! applies after a switch; a switch whose reload fails. Offline (the test template, `true` as
//! validate and reload): history, fast rollback, generation rollback, missing and corrupt state,
//! bad arguments.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::common::Output;
use crate::edgebox::{EDGE, Edgebox, Haproxy, env};

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

// ---------------------------------------------------------------------------------------------
// Stand-ins and clients

/// One colour of one env: answers every request with `200` and `served-by: ENV/COLOR`, after
/// `delay` for requests that came through haproxy (so some are always in flight).
pub(crate) struct StandIn {
    pub(crate) port: u16,
    /// Requests that came through haproxy (health checks not counted).
    served: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    /// The status it answers (200 unless a test says otherwise).
    pub(crate) status: Arc<std::sync::atomic::AtomicU16>,
    /// Requests for paths under this prefix are answered 502 (a broken route of the app).
    pub(crate) broken: Arc<std::sync::Mutex<Option<String>>>,
}

impl StandIn {
    fn start(id: &str, delay: Duration) -> StandIn {
        StandIn::serve(crate::ports::listener(), id, delay)
    }

    /// On `port` again (one this test had; retried while the old listener closes).
    pub(crate) fn start_at(port: u16, id: &str) -> StandIn {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match std::net::TcpListener::bind(("127.0.0.1", port)) {
                Ok(l) => return StandIn::serve(l, id, Duration::from_millis(15)),
                Err(e) if Instant::now() > deadline => panic!("port {port}: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    fn serve(listener: std::net::TcpListener, id: &str, delay: Duration) -> StandIn {
        let port = listener.local_addr().unwrap().port();
        let served = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let status = Arc::new(std::sync::atomic::AtomicU16::new(200));
        let broken = Arc::new(std::sync::Mutex::new(None::<String>));
        let (s, st, id) = (served.clone(), stop.clone(), id.to_string());
        let answer = status.clone();
        let broken_at = broken.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut c) = conn else { continue };
                let (s, id) = (s.clone(), id.clone());
                let code = answer.load(Ordering::SeqCst);
                let broken = broken_at.lock().unwrap().clone();
                std::thread::spawn(move || {
                    let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match c.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
                    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let code = match &broken {
                        Some(prefix) if path.starts_with(prefix.as_str()) => 502,
                        _ => code,
                    };
                    if head.contains("\r\nx-forwarded-for:") {
                        s.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(delay);
                    }
                    let body = format!("served-by: {id}\n");
                    let _ = c.write_all(
                        format!(
                            "HTTP/1.1 {code} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        )
                        .as_bytes(),
                    );
                });
            }
        });
        StandIn {
            port,
            served,
            stop,
            status,
            broken,
        }
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// A response: status, who served it, the cookies set.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) served_by: Option<String>,
    pub(crate) set_cookies: Vec<String>,
}

/// One request on a new connection (`Connection: close`).
pub(crate) fn request(port: u16, host: &str, cookie: Option<&str>) -> Result<Reply, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let cookie = cookie.map_or(String::new(), |c| format!("Cookie: {c}\r\n"));
    let req = format!("GET / HTTP/1.1\r\nHost: {host}\r\n{cookie}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&resp).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no status line in {text:?}"))?;
    let set_cookies = head
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("set-cookie")
                .then(|| v.trim().split(';').next().unwrap_or("").to_string())
        })
        .collect();
    let served_by = body
        .lines()
        .find_map(|l| l.strip_prefix("served-by: "))
        .map(str::to_string);
    Ok(Reply {
        status,
        served_by,
        set_cookies,
    })
}

/// One request of a load loop.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    start: Instant,
    pub(crate) result: Result<Reply, String>,
}

impl Sample {
    pub(crate) fn ok(&self) -> bool {
        matches!(&self.result, Ok(r) if r.status == 200)
    }
    pub(crate) fn served_by(&self) -> Option<&str> {
        self.result.as_ref().ok()?.served_by.as_deref()
    }
}

/// Clients sending requests for `host` back to back until stopped.
pub(crate) struct Load {
    stop: Arc<AtomicBool>,
    /// Requests answered so far (live).
    answered: Arc<AtomicUsize>,
    threads: Vec<JoinHandle<Vec<Sample>>>,
}

impl Load {
    pub(crate) fn start(port: u16, host: &str, clients: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicUsize::new(0));
        let threads = (0..clients)
            .map(|_| {
                let (stop, host, n) = (stop.clone(), host.to_string(), answered.clone());
                std::thread::spawn(move || {
                    let mut out = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let start = Instant::now();
                        let result = request(port, &host, None);
                        out.push(Sample { start, result });
                        n.fetch_add(1, Ordering::SeqCst);
                    }
                    out
                })
            })
            .collect();
        Load {
            stop,
            answered,
            threads,
        }
    }

    /// Wait until `n` more requests were answered than now ([`crate::common::wait_count`]).
    pub(crate) fn wait_answered(&self, n: usize) {
        crate::common::wait_count(&self.answered, n);
    }

    pub(crate) fn stop(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        self.threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect()
    }
}

fn count_by(samples: &[Sample]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for s in samples {
        *m.entry(s.served_by().unwrap_or("-").to_string())
            .or_insert(0) += 1;
    }
    m
}

// ---------------------------------------------------------------------------------------------
// The live box

/// Specs of the live edge: staging and prod, one sticky component each, whose blue and green
/// instances are the stand-ins; health checks every 200 ms, sessions of a server marked down cut
/// (`shutdown-sessions`, as in the bundled specs).
fn live_specs(
    port: u16,
    dir: &std::path::Path,
    ports: &BTreeMap<String, u16>,
    health: &str,
    (edge_extra, staging_extra): (&str, &str),
) -> Vec<(String, String)> {
    let edge = format!(
        r#"edge "switch-edge"
{edge_extra}
listen http="127.0.0.1:{port}"
admin-socket "/run/admin.sock" mode="600"
health {health}
sticky-cookie "VEZA_SERVERID"
target "box" {{
    local root="../box"
    validate "haproxy" "-c" "-f"
    reload "{dir}/reload.sh" "{dir}/box/run/haproxy-master.sock"
}}
"#,
        dir = dir.display()
    );
    let mut specs = vec![("edge.kdl".to_string(), edge)];
    for e in ["staging", "prod"] {
        specs.push((
            format!("env/{e}.kdl"),
            format!(
                r#"env "{e}" {{
    hosts "{e}.veza.fr"
    component "web" port=3000 health="/" sticky=#true pool="web_pool" {{
        instance "blue" color="blue" address="127.0.0.1:{}"
        instance "green" color="green" address="127.0.0.1:{}"
    }}
    default "web"
    {extra}
}}
"#,
                ports[&format!("{e}/blue")],
                ports[&format!("{e}/green")],
                extra = if e == "staging" { staging_extra } else { "" },
            ),
        ));
    }
    specs
}

/// A local box with the real templates, applied and served by a real haproxy; staging and prod
/// at blue.
pub(crate) struct Live {
    pub(crate) b: Edgebox,
    pub(crate) h: Haproxy,
    pub(crate) port: u16,
    pub(crate) stand_ins: BTreeMap<String, StandIn>,
}

impl Live {
    pub(crate) fn start() -> Live {
        Live::start_with(
            "interval=\"200ms\" fall=2 rise=1 slowstart=\"1s\" shutdown-sessions=#true",
        )
    }

    /// The live box with `health` as the edge's `health` properties.
    fn start_with(health: &str) -> Live {
        Live::start_full(health, ("", ""))
    }

    /// The live box with `extra` (e.g. a `probe` node) in env staging.
    pub(crate) fn start_probed(extra: &str) -> Live {
        Live::start_extra("", extra)
    }

    /// The live box with `edge_extra` among the edge's nodes and `staging_extra` in env staging.
    pub(crate) fn start_extra(edge_extra: &str, staging_extra: &str) -> Live {
        Live::start_full(
            "interval=\"200ms\" fall=2 rise=1 slowstart=\"1s\" shutdown-sessions=#true",
            (edge_extra, staging_extra),
        )
    }

    fn start_full(health: &str, extra: (&str, &str)) -> Live {
        let stand_ins: BTreeMap<String, StandIn> = ["staging", "prod"]
            .iter()
            .flat_map(|e| ["blue", "green"].map(|c| format!("{e}/{c}")))
            .map(|id| {
                let s = StandIn::start(&id, Duration::from_millis(15));
                (id, s)
            })
            .collect();
        let ports: BTreeMap<String, u16> =
            stand_ins.iter().map(|(k, s)| (k.clone(), s.port)).collect();
        // `fail-next` makes the next reload fail without reloading.
        let (b, h, port) = Edgebox::running(
            "if [ -f \"$D/fail-next\" ]; then rm \"$D/fail-next\"; echo 'simulated reload failure'; exit 1; fi\n",
            |port, dir| live_specs(port, dir, &ports, health, extra),
        );
        let l = Live {
            b,
            h,
            port,
            stand_ins,
        };
        l.wait_served("staging.veza.fr", "staging/blue");
        l.wait_served("prod.veza.fr", "prod/blue");
        l
    }

    /// Wait until a request for `host` is served by `id`.
    pub(crate) fn wait_served(&self, host: &str, id: &str) {
        let deadline = Instant::now() + crate::common::HANG_GUARD;
        loop {
            let r = request(self.port, host, None);
            if matches!(&r, Ok(r) if r.served_by.as_deref() == Some(id)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{host} never served by {id}: {r:?}\n{}",
                std::fs::read_to_string(self.b.root().join("tmp/haproxy.err")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// One command on haproxy's admin socket.
    pub(crate) fn admin(&self, cmd: &str) -> String {
        let mut s = std::os::unix::net::UnixStream::connect(self.b.root().join("run/admin.sock"))
            .expect("admin socket");
        s.write_all(format!("{cmd}\n").as_bytes()).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    /// `server → (srv_op_state, srv_admin_state)` of a backend on the running haproxy.
    fn servers(&self, backend: &str) -> BTreeMap<String, (u32, u32)> {
        self.admin(&format!("show servers state {backend}"))
            .lines()
            .skip(2)
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                Some((
                    f.get(3)?.to_string(),
                    (f.get(5)?.parse().ok()?, f.get(6)?.parse().ok()?),
                ))
            })
            .collect()
    }

    /// Reload haproxy the way an operator (or `systemctl reload`) would, not through edgeplan.
    fn plain_reload(&self) {
        let out = std::process::Command::new(self.b.path().join("reload.sh"))
            .arg(self.b.root().join("run/haproxy-master.sock"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }

    pub(crate) fn state_file(&self, env: &str) -> Option<serde_json::Value> {
        let p = self
            .b
            .root()
            .join(format!("var/lib/edgeplan/colors/{env}.json"));
        std::fs::read_to_string(p)
            .ok()
            .map(|t| serde_json::from_str(&t).unwrap())
    }
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
