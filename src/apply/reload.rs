//! The reload and its check: the target's reload command after saving the servers' runtime
//! state, a new haproxy worker answering on the admin socket within `reload-timeout` as the
//! proof it took ([`took`]), and restoring the previous generation when it did not.

use std::time::{Duration, Instant};

use super::*;

/// daemon-reload when needed, then the reload command: `Ok(Err(output))` when it failed.
pub(super) fn reload(
    t: &mut BoxClient,
    a: &Activation<'_>,
    log: &mut dyn FnMut(String),
) -> Result<Result<(), String>, ApplyError> {
    if a.units_changed {
        let r = t.daemon_reload()?;
        if r.status != 0 {
            return Ok(Err(format!(
                "systemctl daemon-reload exited {}: {}",
                r.status, r.output
            )));
        }
        log(match r.output.strip_prefix("skipped: ") {
            Some(why) => format!("Units changed; systemctl daemon-reload skipped: {why}."),
            None => "Reloaded systemd units (systemctl daemon-reload).".into(),
        });
    }
    Step::BeforeReload.reached();
    // Servers keep their runtime state (drain, maint, weights) across the reload: the new worker
    // loads what is saved now (`load-server-state-from-file global`).
    log(crate::server::save_state(t)?);
    let before = crate::server::worker_pid(&mut Runtime::at(t, a.admin));
    let cmd = command(&a.target.reload);
    let r = t.run(&cmd)?;
    if r.status != 0 {
        return Ok(Err(format!(
            "`{}` exited {}{}",
            cmd.join(" "),
            r.status,
            if r.output.is_empty() {
                String::new()
            } else {
                format!(":\n{}", r.output)
            }
        )));
    }
    let limit = Duration::from_millis(a.target.reload_timeout.millis());
    match took(t, a.admin, before, limit) {
        Ok(said) => log(format!("Reloaded: {}{said}", cmd.join(" "))),
        Err(why) => return Ok(Err(format!("`{}` exited 0, but {why}", cmd.join(" ")))),
    }
    Step::AfterReload.reached();
    Ok(Ok(()))
}

/// Whether the reload took: a reload command returns once haproxy was *told* to reload
/// (`systemctl reload` once `kill -USR2` was sent; the unit stays `reloading` until the new
/// worker is ready), and a configuration the master cannot load leaves the old worker serving.
/// So when a worker answered on the admin socket before (PID `before`), the reload took once
/// a worker with another PID answers there, within the target's `reload-timeout` (`limit`). `Ok` with what to add
/// to "Reloaded: CMD", `Err` with why it did not take.
pub(super) fn took(
    t: &mut BoxClient,
    admin: &AdminEndpoint,
    before: Option<u32>,
    limit: Duration,
) -> Result<String, String> {
    let mut rt = Runtime::at(t, admin);
    let at = rt.shown_endpoint();
    let Some(old) = before else {
        return Ok(format!(
            " (not checked: no haproxy answered on {at} before the reload)"
        ));
    };
    let started = Instant::now();
    loop {
        match crate::server::worker_pid(&mut rt) {
            Some(new) if new != old => {
                return Ok(format!(
                    "; worker {new} answers on {at} (was {old}) after {:.1} s",
                    started.elapsed().as_secs_f64()
                ));
            }
            _ if started.elapsed() > limit => {
                return Err(format!(
                    "no new haproxy worker answered on {at} within {:.1} s (`reload-timeout`; \
                     worker {old} still serves the old configuration; the box's haproxy log \
                     says why)",
                    limit.as_secs_f64()
                ));
            }
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// Make `from` active again and reload; a sentence saying how that went.
pub(super) fn restore(
    t: &mut BoxClient,
    a: &Activation<'_>,
    from: Option<u64>,
    log: &mut dyn FnMut(String),
) -> String {
    let steps = (|| -> Result<Result<(), String>, ApplyError> {
        match from {
            Some(g) => {
                t.link(g)?;
                t.swap(Some(g))?;
            }
            None => {
                t.swap(None)?;
            }
        }
        t.prune()?;
        reload(t, a, log)
    })();
    let which = from.map_or("the box's files from before edgeplan".to_string(), |g| {
        format!("generation {g}")
    });
    match steps {
        Ok(Ok(())) => {
            let _ = t.finish(
                KEEP_ALL,
                &format!("{} {} restore {which}\n", utc_now(), who()),
            );
            format!("Restored {which} and reloaded: the box serves what it served before.")
        }
        Ok(Err(e)) => format!("Restored {which}, but its reload failed too: {e}"),
        Err(e) => format!("Restoring {which} failed: {e}"),
    }
}
