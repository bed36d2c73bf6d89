//! Applying: put a generation on the box and make it active — validated on the box first,
//! activated atomically, reloaded, checked, and restored when the reload fails.
//!
//! The steps, all under the box's lock (taken by the caller, see [`LockGuard`]):
//!
//! 1. **upload** the rendered tree into `staging/TREE_HASH` (one tar stream, checksums checked
//!    on the box);
//! 2. **validate** on the box: the target's validate command on the staged config (the command
//!    plus the config path, as the service runs it; see [`crate::transport::generation`]), and
//!    `systemd-analyze verify` on changed units when the box has it. A refusal ends here:
//!    nothing was activated;
//! 3. **activate**: the staged tree becomes generation N; every path is (already, or now) a link
//!    into `current/tree`, and one `rename` of the `current` symlink switches all files at once;
//!    links of files the generation no longer has are removed;
//! 4. `systemctl daemon-reload` when units changed, then the target's **reload** command; its
//!    exit status is the check that the reload took. On failure the previous generation is made
//!    active again the same way and reloaded, and the apply fails saying what happened;
//! 5. **record**: history, clear the pending-reload marker, keep the newest N generations.
//!
//! A process killed at any point leaves the box with either the old or the new generation
//! complete (the swap is one rename); a `pending-reload` marker tells the next plan/apply that
//! a reload is owed; the lock stays until `force-unlock ID`. Tests stop the process at each step
//! ([`crate::fault::Step`], behind the `fault-injection` feature).

mod error;
mod lock;
mod reload;
pub mod run;

pub use error::ApplyError;
pub use lock::*;
use reload::{reload, restore};

use std::collections::{BTreeMap, BTreeSet};

use crate::fault::Step;
use crate::model::{AdminEndpoint, Target};
use crate::output::Manifest;
use crate::plan::semantic::ModelSummary;
use crate::plan::sha256_hex;
use crate::render::Rendered;
use crate::server::Runtime;
use crate::transport::{BoxClient, generation};

/// Is `path` a systemd unit or drop-in?
pub fn is_unit(path: &str) -> bool {
    ["etc/systemd/", "lib/systemd/", "usr/lib/systemd/"]
        .iter()
        .any(|p| path.starts_with(p))
}

/// Units `systemd-analyze verify` can check on their own (not drop-ins).
fn verifiable(path: &str) -> bool {
    let in_dropin_dir = path
        .rsplit_once('/')
        .is_some_and(|(dir, _)| dir.ends_with(".d"));
    !in_dropin_dir
        && [
            ".service", ".socket", ".timer", ".path", ".mount", ".target",
        ]
        .iter()
        .any(|s| path.ends_with(s))
}

/// Unit paths that differ between two `path → sha256` maps, and the verifiable ones of `new`
/// among them.
pub fn changed_units(
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> (bool, Vec<String>) {
    let paths: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let changed: Vec<&String> = paths
        .into_iter()
        .filter(|p| is_unit(p) && old.get(*p) != new.get(*p))
        .collect();
    let verify = changed
        .iter()
        .filter(|p| new.contains_key(**p) && verifiable(p))
        .map(|p| p.to_string())
        .collect();
    (!changed.is_empty(), verify)
}

/// What to activate.
pub struct Activation<'a> {
    /// The target.
    pub target: &'a Target,
    /// The admin socket the reload is checked on.
    pub admin: &'a AdminEndpoint,
    /// Generation to activate.
    pub to: u64,
    /// Units changed between them.
    pub units_changed: bool,
    /// What to enable, start, stop and disable ([`crate::units`]).
    pub units: crate::units::UnitPlan,
    /// The same back, for a restore after a failed reload.
    pub units_back: crate::units::UnitPlan,
    /// Servers whose `disabled` flag changes: handed over before the reload.
    pub handover: crate::traffic::Handover,
}

fn command(args: &[crate::model::Arg]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

/// `finish` keeping every generation.
const KEEP_ALL: usize = 1_000_000;

/// Make `to` active (link, swap, prune), daemon-reload if units changed, reload and check; the
/// generation active before (`None`: the box's files from before edgeplan). On a failed reload,
/// restore that one the same way and fail.
pub fn activate(
    t: &mut BoxClient,
    a: &Activation<'_>,
    log: &mut dyn FnMut(String),
) -> Result<Option<u64>, ApplyError> {
    t.link(a.to)?;
    Step::MidActivation.reached();
    crate::units::carry_out(t, &a.units.before_swap(), log)?;
    // The generation active just before the swap (linking may have made generation 0 of
    // files that were on the box before edgeplan).
    let from = t.swap(Some(a.to))?;
    t.prune()?;
    log(format!("Activated generation {}.", a.to));
    crate::traffic::hand_over(t, &a.handover, log);
    let reloaded = reload(t, a, log)?;
    if let Err(output) = reloaded {
        crate::traffic::hand_over(t, &a.handover.reverted(), log);
        let restored = restore(t, a, from, log);
        let _ = crate::units::carry_out(t, &a.units_back.after_reload(), log);
        return Err(ApplyError::ReloadFailed {
            generation: a.to,
            output,
            restored,
        });
    }
    crate::units::carry_out(t, &a.units.after_reload(), log)?;
    Ok(from)
}

/// Validate `dir` (`staging/H`, `generations/N`) on the box; a refusal is [`ApplyError::Rejected`].
fn validate(
    t: &mut BoxClient,
    target: &Target,
    dir: &str,
    units: &[String],
    what: &str,
    log: &mut dyn FnMut(String),
) -> Result<(), ApplyError> {
    let v = t.validate(dir, units, &command(&target.validate))?;
    if !v.ok {
        return Err(ApplyError::Rejected {
            what: what.to_string(),
            output: v.output.trim_end().to_string(),
        });
    }
    log(format!(
        "Validated on the box: {}",
        v.output
            .lines()
            .filter_map(|l| l.strip_prefix("$ "))
            .collect::<Vec<_>>()
            .join("; ")
    ));
    // What the box had to make first (placeholder certificates), and checks it could not run
    // (e.g. no systemd-analyze): said, not hidden.
    for line in v.output.lines() {
        if let Some(made) = line.strip_prefix("+ ") {
            log(format!("Bootstrap: {made}"));
        } else if let Some(note) = line.strip_prefix("! ") {
            log(format!("Warning: {note}"));
        }
    }
    Ok(())
}

/// What a new generation holds.
pub struct Candidate<'a> {
    /// Its manifest.
    pub manifest: &'a Manifest,
    /// Its files.
    pub rendered: &'a Rendered,
    /// Its model summary.
    pub model: &'a ModelSummary,
    /// Probes to run once the reload took ([`crate::probes`]), and what a failure does.
    pub probes: Option<&'a crate::probes::Plan>,
}

impl Candidate<'_> {
    /// path → sha256 of its files.
    pub fn sums(&self) -> BTreeMap<String, String> {
        self.rendered
            .files
            .iter()
            .map(|(p, f)| (p.clone(), sha256_hex(&f.content)))
            .collect()
    }
}

/// Upload, validate, activate and record a new generation; its number.
#[allow(clippy::too_many_arguments)]
pub fn apply(
    t: &mut BoxClient,
    target: &Target,
    admin: &AdminEndpoint,
    from: Option<u64>,
    old_sums: &BTreeMap<String, String>,
    c: &Candidate<'_>,
    keep: usize,
    log: &mut dyn FnMut(String),
) -> Result<u64, ApplyError> {
    let tree = &c.manifest.tree_hash;
    let model = serde_json::to_string_pretty(c.model).unwrap_or_default() + "\n";
    let tar = generation::package(c.manifest, c.rendered, &model);
    let reused = t.stage(tree, &tar)?;
    log(format!(
        "{} tree {} ({} files).",
        if reused {
            "Already uploaded:"
        } else {
            "Uploaded"
        },
        &tree[..16],
        c.manifest.files.len()
    ));
    let new_sums = c.sums();
    let (units_changed, units) = changed_units(old_sums, &new_sums);
    validate(
        t,
        target,
        &format!("staging/{tree}"),
        &units,
        &format!("tree {}", &tree[..16]),
        log,
    )?;
    Step::AfterValidate.reached();
    let meta = serde_json::json!({
        "tree_hash": tree,
        "input_hash": c.manifest.input_hash,
        "edgeplan_version": env!("CARGO_PKG_VERSION"),
        "created": utc_now(),
        "by": who(),
    });
    let n = t.promote(
        tree,
        &(serde_json::to_string_pretty(&meta).unwrap_or_default() + "\n"),
    )?;
    let handover = crate::traffic::to_generation(t, n)?;
    let a = Activation {
        target,
        admin,
        to: n,
        units_changed,
        units: crate::units::UnitPlan::between(old_sums, &new_sums),
        units_back: crate::units::UnitPlan::between(&new_sums, old_sums),
        handover,
    };
    let before = activate(t, &a, log)?;
    let kept = match c.probes {
        Some(plan) => probe(t, &a, before, plan, log)?,
        None => None,
    };
    t.finish(
        keep,
        &format!(
            "{} {} apply generation {n} tree {} (was {})\n",
            utc_now(),
            who(),
            &tree[..16],
            from.map_or("none".into(), |g| g.to_string())
        ),
    )?;
    if let Some(failures) = kept {
        return Err(ApplyError::ProbeFailed {
            generation: n,
            failures,
            outcome: format!(
                "Generation {n} stays active (--no-rollback), serving what failed the probes."
            ),
            kept: true,
        });
    }
    Ok(n)
}

/// The probes of `plan` after the reload of `a`. A failure restores `before` (the generation
/// active before) and is an error, unless the plan keeps it: then the failures, for the caller
/// to report once the apply is recorded.
fn probe(
    t: &mut BoxClient,
    a: &Activation<'_>,
    before: Option<u64>,
    plan: &crate::probes::Plan,
    log: &mut dyn FnMut(String),
) -> Result<Option<String>, ApplyError> {
    let report = match crate::probes::check(t, a.admin, plan, log)? {
        Some(r) if !r.passed() => r,
        _ => return Ok(None),
    };
    let failures = report.failures();
    if !plan.rollback {
        return Ok(Some(failures));
    }
    // The reload took: the running haproxy serves the new config, so the way back is a
    // hand-over from it to the generation restored (drain what it readied, so requests in
    // flight finish) — not `reverted()`, which undoes a hand-over on the old config.
    let back = match before.map(|g| crate::traffic::from_live_to(t, g)) {
        Some(Ok(h)) => h,
        Some(Err(e)) => {
            log(format!("Traffic moves back with the reload ({e})."));
            crate::traffic::Handover::none()
        }
        None => crate::traffic::Handover::none(),
    };
    crate::traffic::hand_over(t, &back, log);
    // The new generation's units were enabled and started: stopped before the swap back, the
    // old ones started again after its reload.
    let _ = crate::units::carry_out(t, &a.units_back.before_swap(), log);
    let restored = restore(t, a, before, log);
    let _ = crate::units::carry_out(t, &a.units_back.after_reload(), log);
    Err(ApplyError::ProbeFailed {
        generation: a.to,
        failures,
        outcome: restored,
        kept: false,
    })
}

/// Re-activate generation `to` (active: `from`) through the same validate → activate → reload
/// → check path as an apply.
#[allow(clippy::too_many_arguments)]
pub fn rollback(
    t: &mut BoxClient,
    target: &Target,
    admin: &AdminEndpoint,
    from: u64,
    to: u64,
    from_sums: &BTreeMap<String, String>,
    to_sums: &BTreeMap<String, String>,
    keep: usize,
    log: &mut dyn FnMut(String),
) -> Result<(), ApplyError> {
    let (units_changed, units) = changed_units(from_sums, to_sums);
    validate(
        t,
        target,
        &format!("generations/{to}"),
        &units,
        &format!("generation {to}"),
        log,
    )?;
    let handover = crate::traffic::to_generation(t, to)?;
    activate(
        t,
        &Activation {
            target,
            admin,
            to,
            units_changed,
            units: crate::units::UnitPlan::between(from_sums, to_sums),
            units_back: crate::units::UnitPlan::between(to_sums, from_sums),
            handover,
        },
        log,
    )?;
    t.finish(
        keep,
        &format!(
            "{} {} rollback to generation {to} (was {from})\n",
            utc_now(),
            who()
        ),
    )?;
    Ok(())
}

/// Finish an apply that stopped between activation and a checked reload: reload now.
pub fn finish_pending(
    t: &mut BoxClient,
    target: &Target,
    admin: &AdminEndpoint,
    generation: Option<u64>,
    keep: usize,
    log: &mut dyn FnMut(String),
) -> Result<(), ApplyError> {
    let a = Activation {
        target,
        admin,
        to: generation.unwrap_or(0),
        units_changed: false,
        units: Default::default(),
        units_back: Default::default(),
        handover: crate::traffic::pending(t)?,
    };
    crate::traffic::hand_over(t, &a.handover, log);
    if let Err(output) = reload(t, &a, log)? {
        return Err(ApplyError::ReloadFailed {
            generation: a.to,
            output,
            restored: "Nothing was restored: the files are those of the active generation.".into(),
        });
    }
    t.finish(
        keep,
        &format!(
            "{} {} reload (finishing an interrupted apply)\n",
            utc_now(),
            who()
        ),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_is_rfc3339_utc() {
        let t = utc_now();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z') && t.as_bytes()[10] == b'T');
    }

    #[test]
    fn lock_ids_look_like_uuids_and_differ() {
        let a = new_lock("apply");
        let b = new_lock("apply");
        assert_eq!(a.id.len(), 36);
        assert_eq!(a.id.matches('-').count(), 4);
        assert_ne!(a.id, b.id);
    }

    #[test]
    fn units_that_changed_and_can_be_verified() {
        let m = |v: &[(&str, &str)]| -> BTreeMap<String, String> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let old = m(&[
            ("etc/haproxy/haproxy.cfg", "1"),
            ("etc/systemd/system/a.service", "1"),
            ("etc/systemd/system/gone.timer", "1"),
        ]);
        let new = m(&[
            ("etc/haproxy/haproxy.cfg", "2"),
            ("etc/systemd/system/a.service", "2"),
            ("etc/systemd/system/x.service.d/edgeplan.conf", "1"),
        ]);
        let (changed, verify) = changed_units(&old, &new);
        assert!(changed);
        assert_eq!(verify, ["etc/systemd/system/a.service"]);
        let (changed, _) = changed_units(&old, &old);
        assert!(!changed);
    }
}
