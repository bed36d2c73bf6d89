//! What can go wrong while applying, rolling back or unlocking ([`ApplyError`]): a held or
//! foreign lock, a stale saved plan, the box refusing the staged files, a reload that failed or
//! did not take, failed probes, an approval refused.

use miette::Diagnostic;
use thiserror::Error;

use crate::transport::TransportError;

/// A problem while applying, rolling back or unlocking.
#[derive(Debug, Error, Diagnostic)]
pub enum ApplyError {
    /// Reaching or talking to the box failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Transport(#[from] TransportError),
    /// Someone else holds the lock.
    #[error("target `{target}` is locked by {holder}")]
    #[diagnostic(
        code(edgeplan::apply::locked),
        help(
            "wait for that run to finish; if it died, release the lock with \
             `edgeplan force-unlock {id} --target {target}`"
        )
    )]
    Locked {
        /// Target.
        target: String,
        /// The holder, described.
        holder: String,
        /// Lock id.
        id: String,
    },
    /// A saved plan no longer fits the build or the box.
    #[error("saved plan is stale: {reason}")]
    #[diagnostic(
        code(edgeplan::apply::stale_plan),
        help("make a new plan with `edgeplan plan --out-plan FILE`, review it, apply it")
    )]
    StalePlan {
        /// What changed.
        reason: String,
    },
    /// No confirmation possible.
    #[error("refusing to {what} without confirmation: standard input is not a terminal")]
    #[diagnostic(
        code(edgeplan::apply::approval),
        help("pass --auto-approve, or apply a plan saved with `edgeplan plan --out-plan FILE`")
    )]
    NeedsApproval {
        /// `apply` or `roll back`.
        what: &'static str,
    },
    /// The user said no.
    #[error("{what} cancelled")]
    #[diagnostic(code(edgeplan::apply::cancelled))]
    Cancelled {
        /// `Apply` or `Rollback`.
        what: &'static str,
    },
    /// The box refused the staged files.
    #[error("the box refused {what}; nothing was activated\n{output}")]
    #[diagnostic(
        code(edgeplan::apply::rejected),
        help("the running config and its traffic are untouched; fix the specs or templates")
    )]
    Rejected {
        /// Which tree.
        what: String,
        /// The validate output.
        output: String,
    },
    /// The reload failed and the previous generation was restored.
    #[error("the reload failed after activating generation {generation}: {output}\n{restored}")]
    #[diagnostic(code(edgeplan::apply::reload_failed))]
    ReloadFailed {
        /// Generation that failed.
        generation: u64,
        /// Reload output.
        output: String,
        /// What the restore did.
        restored: String,
    },
    /// A probe failed after the reload.
    #[error("a probe failed after activating generation {generation}: {failures}\n{outcome}")]
    #[diagnostic(
        code(edgeplan::apply::probe_failed),
        help(
            "the probes are the specs' `probe` nodes, sent through the box's haproxy; \
             `--no-rollback` keeps the new generation active to look into it"
        )
    )]
    ProbeFailed {
        /// Generation that failed its probes.
        generation: u64,
        /// The probes that failed.
        failures: String,
        /// What was done: restored, or kept.
        outcome: String,
        /// True when the generation stays active (`--no-rollback`, a rollback's probes).
        kept: bool,
    },
    /// `force-unlock` with an id that does not hold the lock.
    #[error("lock id `{id}` does not hold the lock of target `{target}`: {holder}")]
    #[diagnostic(
        code(edgeplan::apply::lock_id),
        help("force-unlock takes the id of the current lock, as shown in the message above")
    )]
    WrongLockId {
        /// Target.
        target: String,
        /// Id given.
        id: String,
        /// Current holder.
        holder: String,
    },
    /// No generation to roll back to.
    #[error("target `{target}`: {message}")]
    #[diagnostic(code(edgeplan::apply::generation), help("see `edgeplan generations`"))]
    Generation {
        /// Target.
        target: String,
        /// What is wrong.
        message: String,
    },
}
