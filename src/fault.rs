//! Fault points: named steps of `apply`, `switch` and `rollback` where a test stops edgeplan to
//! prove the box survives it. Compiled in only with the `fault-injection` cargo feature (the
//! test suite enables it; a release build has none of it): then `EDGEPLAN_FAULT=STEP` aborts the
//! process at the step (an in-process kill), and `EDGEPLAN_PAUSE_AT=STEP` stops it there —
//! it prints `edgeplan: paused at STEP (pid N)` on stderr and sleeps until it is killed from
//! outside (SIGKILL), so a test can kill it at an exact point as an operator's `kill -9` would.
//! Without the feature, [`Step::reached`] does nothing and the variables are ignored.

/// A point of an operation where edgeplan can be stopped (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The lock is held (every locked command: apply, switch, rollback).
    AfterLock,
    /// Half the upload is sent.
    MidUpload,
    /// The box accepted the staged files.
    AfterValidate,
    /// Links are in place; the swap has not happened.
    MidActivation,
    /// The swap happened; no reload yet.
    BeforeReload,
    /// The reload took; nothing recorded yet.
    AfterReload,
}

impl Step {
    /// Every step an apply passes, in order.
    pub const ALL: [Step; 6] = [
        Step::AfterLock,
        Step::MidUpload,
        Step::AfterValidate,
        Step::MidActivation,
        Step::BeforeReload,
        Step::AfterReload,
    ];

    /// Its name in `EDGEPLAN_FAULT` and `EDGEPLAN_PAUSE_AT`.
    pub fn name(self) -> &'static str {
        match self {
            Step::AfterLock => "after-lock",
            Step::MidUpload => "mid-upload",
            Step::AfterValidate => "after-validate",
            Step::MidActivation => "mid-activation",
            Step::BeforeReload => "before-reload",
            Step::AfterReload => "after-reload",
        }
    }

    /// Is the step named by `EDGEPLAN_FAULT` or `EDGEPLAN_PAUSE_AT`? (Always false without the
    /// feature.)
    pub fn armed(self) -> bool {
        cfg!(feature = "fault-injection")
            && ["EDGEPLAN_FAULT", "EDGEPLAN_PAUSE_AT"]
                .iter()
                .any(|v| std::env::var(v).is_ok_and(|v| v == self.name()))
    }

    /// The process reached this step: abort or pause here when a variable names it.
    pub fn reached(self) {
        #[cfg(feature = "fault-injection")]
        {
            let named = |var: &str| std::env::var(var).is_ok_and(|v| v == self.name());
            if named("EDGEPLAN_FAULT") {
                eprintln!("edgeplan: fault injected: killed at {}", self.name());
                std::process::abort();
            }
            if named("EDGEPLAN_PAUSE_AT") {
                eprintln!(
                    "edgeplan: paused at {} (pid {})",
                    self.name(),
                    std::process::id()
                );
                loop {
                    std::thread::sleep(std::time::Duration::from_secs(3600));
                }
            }
        }
    }
}
