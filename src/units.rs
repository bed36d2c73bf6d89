//! The life cycle of edgeplan's systemd units on the box: what an activation enables, starts,
//! stops and disables, decided from which unit files the two generations add, change and
//! remove — the same decision for `plan` (shown), `apply`, `rollback` and the restore after a
//! failed reload (carried out by the box script's `units` operation).
//!
//! Rules (units edgeplan renders: `docs/certificates.md`):
//! - a timer added or changed is enabled and started (`systemctl enable --now`): renewals run
//!   from the first day;
//! - a certificate's issue service (`edgeplan-cert-NAME.service`) added or changed is enabled
//!   (it runs at boot) and started **without waiting** (`systemctl start --no-block`): the first
//!   issuance goes through the ACME server and may take minutes or fail and be retried hourly —
//!   apply does not wait on it; `edgeplan status` shows how it went;
//! - a unit removed is stopped and disabled (`systemctl disable --now`) while its file is still
//!   there, before the swap;
//! - renew services (started by their timers) and placeholder services (pulled in by
//!   haproxy.service's drop-in) are neither enabled nor started here.
//!
//! On a box without systemd running (a plain directory, a container without it) or rooted
//! elsewhere, nothing is enabled or started, and apply says so.

use serde::Serialize;

use crate::transport::{BoxClient, TransportError};

/// What one activation does to units, by unit name (`edgeplan-renew-veza.fr.timer`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UnitPlan {
    /// `systemctl enable --now`, after the reload.
    pub enable_start: Vec<String>,
    /// `systemctl enable` + `systemctl start --no-block`, after the reload.
    pub enable_start_no_block: Vec<String>,
    /// `systemctl disable --now`, before the swap.
    pub stop_disable: Vec<String>,
}

/// The unit directory edgeplan renders into (relative to the box root).
const UNIT_DIR: &str = crate::layout::UNIT_DIR.rel();

/// A unit file name directly in [`UNIT_DIR`] (not a drop-in).
fn unit_name(path: &str) -> Option<&str> {
    path.strip_prefix(UNIT_DIR)
        .and_then(|p| p.strip_prefix('/'))
        .filter(|n| !n.contains('/'))
}

impl UnitPlan {
    /// The plan for files `added`, `changed` and `removed` (paths relative to the box root).
    pub fn of<'a>(
        added: impl IntoIterator<Item = &'a str>,
        changed: impl IntoIterator<Item = &'a str>,
        removed: impl IntoIterator<Item = &'a str>,
    ) -> UnitPlan {
        let mut p = UnitPlan::default();
        for name in added.into_iter().chain(changed).filter_map(unit_name) {
            if name.ends_with(".timer") {
                p.enable_start.push(name.to_string());
            } else if name.starts_with("edgeplan-cert-") && name.ends_with(".service") {
                p.enable_start_no_block.push(name.to_string());
            }
        }
        p.stop_disable = removed
            .into_iter()
            .filter_map(unit_name)
            .filter(|n| n.ends_with(".timer") || n.ends_with(".service"))
            .map(str::to_string)
            .collect();
        p.enable_start.sort();
        p.enable_start_no_block.sort();
        p.stop_disable.sort();
        p
    }

    /// Between two `path → sha256` maps of generations.
    pub fn between(
        old: &std::collections::BTreeMap<String, String>,
        new: &std::collections::BTreeMap<String, String>,
    ) -> UnitPlan {
        let added = new.keys().filter(|p| !old.contains_key(*p));
        let changed = new
            .iter()
            .filter(|(p, s)| old.get(*p).is_some_and(|o| o != *s))
            .map(|(p, _)| p);
        let removed = old.keys().filter(|p| !new.contains_key(*p));
        UnitPlan::of(
            added.map(String::as_str),
            changed.map(String::as_str),
            removed.map(String::as_str),
        )
    }

    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.enable_start.is_empty()
            && self.enable_start_no_block.is_empty()
            && self.stop_disable.is_empty()
    }

    /// One line per action, for plans and logs (`enable and start X`).
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        out.extend(
            self.stop_disable
                .iter()
                .map(|u| format!("stop and disable {u}")),
        );
        out.extend(
            self.enable_start
                .iter()
                .map(|u| format!("enable and start {u}")),
        );
        out.extend(
            self.enable_start_no_block
                .iter()
                .map(|u| format!("enable and start {u} (not waited for)")),
        );
        out
    }

    /// The box script's `units` arguments for the actions before the swap.
    pub fn before_swap(&self) -> Vec<String> {
        self.stop_disable
            .iter()
            .map(|u| format!("stop-disable:{u}"))
            .collect()
    }

    /// The box script's `units` arguments for the actions after the reload.
    pub fn after_reload(&self) -> Vec<String> {
        let a = self
            .enable_start
            .iter()
            .map(|u| format!("enable-start:{u}"));
        let b = self
            .enable_start_no_block
            .iter()
            .map(|u| format!("enable-start-no-block:{u}"));
        a.chain(b).collect()
    }
}

/// Carry out the box script's `units` actions (`enable-start:NAME`, …), saying each; a unit
/// systemd refuses is a warning (the config is live by then), a box without systemd a note.
pub fn carry_out(
    t: &mut BoxClient,
    actions: &[String],
    log: &mut dyn FnMut(String),
) -> Result<(), TransportError> {
    if actions.is_empty() {
        return Ok(());
    }
    for line in t.units(actions)?.lines() {
        if let Some(why) = line.strip_prefix("skipped: ") {
            log(format!(
                "Units not enabled, started or stopped ({}): {why}.",
                actions.join(", ")
            ));
        } else if let Some((action, how)) = line.split_once(' ') {
            let (verb, unit) = action.split_once(':').unwrap_or((action, ""));
            let what = match verb {
                "enable-start" => "Enabled and started",
                "enable-start-no-block" => "Enabled and started (not waited for)",
                _ => "Stopped and disabled",
            };
            match how.strip_prefix("failed: ") {
                Some(err) => log(format!("Warning: {what} {unit} failed: {}", err.trim())),
                None => log(format!("{what} {unit}.")),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_and_issue_services_start_removed_units_stop() {
        let p = UnitPlan::of(
            [
                "etc/systemd/system/edgeplan-renew-a.timer",
                "etc/systemd/system/edgeplan-renew-a.service",
                "etc/systemd/system/edgeplan-cert-a.service",
                "etc/systemd/system/edgeplan-selfsigned-a.service",
                "etc/systemd/system/haproxy.service.d/edgeplan.conf",
                "etc/haproxy/haproxy.cfg",
            ],
            ["etc/systemd/system/edgeplan-cert-b.service"],
            [
                "etc/systemd/system/edgeplan-renew-c.timer",
                "etc/systemd/system/edgeplan-renew-c.service",
                "etc/systemd/system/certbot.service.d/edgeplan.conf",
            ],
        );
        assert_eq!(p.enable_start, ["edgeplan-renew-a.timer"]);
        assert_eq!(
            p.enable_start_no_block,
            ["edgeplan-cert-a.service", "edgeplan-cert-b.service"]
        );
        assert_eq!(
            p.stop_disable,
            ["edgeplan-renew-c.service", "edgeplan-renew-c.timer"]
        );
        assert_eq!(
            p.after_reload(),
            [
                "enable-start:edgeplan-renew-a.timer",
                "enable-start-no-block:edgeplan-cert-a.service",
                "enable-start-no-block:edgeplan-cert-b.service"
            ]
        );
        assert!(UnitPlan::of([], [], []).is_empty());
    }
}
