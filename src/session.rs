//! A command's session with one target: the inputs read and checked once ([`crate::Loaded`]),
//! the chosen target and its [`BoxClient`], and the lock ([`Session::locked`]). What every
//! command that talks to a box does first, in one place; and [`Progress`], how a long operation
//! reports while it runs and asks before it changes the box — so the operations return typed
//! outcomes and never print.

use std::path::Path;

use crate::apply::{ApplyError, LockGuard};
use crate::diag::Problems;
use crate::model::{Edge, Ident, Target};
use crate::plan::Plan;
use crate::transport::{self, BoxClient};
use crate::{BuildOptions, Loaded};

/// The inputs, the chosen target and its box.
pub struct Session {
    /// The inputs, read and checked once.
    pub loaded: Loaded,
    /// The target's name (a key of `loaded.edge.targets`).
    target: Ident,
    /// Its box.
    pub client: BoxClient,
}

/// A session's parts, borrowed together: the inputs, the target, the box.
pub struct Scope<'a> {
    /// The inputs.
    pub loaded: &'a Loaded,
    /// The target.
    pub target: &'a Target,
    /// Its box.
    pub t: &'a mut BoxClient,
}

impl Session {
    /// Read and check the inputs `opts` names, select `target` (`None`: the only one) and open
    /// its transport (nothing is sent to the box yet).
    ///
    /// # Errors
    /// The inputs do not load or check; an unknown or ambiguous target; a transport that cannot
    /// start.
    pub fn open(opts: &BuildOptions, target: Option<&str>) -> Result<Session, Problems> {
        let loaded = crate::load_inputs(opts)?;
        Session::with(loaded, target, &opts.specs)
    }

    /// [`Session::open`] with inputs already loaded from `specs`.
    ///
    /// # Errors
    /// An unknown or ambiguous target; a transport that cannot start.
    pub fn with(loaded: Loaded, target: Option<&str>, specs: &Path) -> Result<Session, Problems> {
        let chosen = transport::select(&loaded.edge, target).map_err(Problems::one)?;
        let client = transport::open(chosen, specs).map_err(Problems::one)?;
        let target = chosen.name.clone();
        Ok(Session {
            loaded,
            target,
            client,
        })
    }

    /// The checked model.
    pub fn edge(&self) -> &Edge {
        &self.loaded.edge
    }

    /// The chosen target.
    pub fn target(&self) -> &Target {
        &self.loaded.edge.targets[&self.target]
    }

    /// The parts, without the lock (for reading).
    pub fn scope(&mut self) -> Scope<'_> {
        Scope {
            loaded: &self.loaded,
            target: &self.loaded.edge.targets[&self.target],
            t: &mut self.client,
        }
    }

    /// Run `f` under the target's lock (see [`under_lock`]).
    ///
    /// # Errors
    /// The lock is held by someone else or cannot be taken; `f`'s error; the release's.
    pub fn locked<T>(
        &mut self,
        operation: &str,
        f: impl FnOnce(Scope<'_>) -> Result<T, Problems>,
    ) -> Result<T, Problems> {
        let Scope { loaded, target, t } = self.scope();
        under_lock(t, operation, |t| f(Scope { loaded, target, t }))
    }
}

/// Run `f` under the target's lock: taken first (an error names its holder), released after `f`
/// whatever it returned — an error releasing it is reported after `f`'s own — and, should `f`
/// panic, released by the guard's `Drop` while unwinding. A process that is killed (SIGKILL, a
/// fault point's abort) leaves the lock, deliberately: the box may be half-way through a step,
/// and `force-unlock ID` comes after a look at it.
///
/// # Errors
/// The lock is held by someone else or cannot be taken; `f`'s error; the release's.
pub fn under_lock<T>(
    t: &mut BoxClient,
    operation: &str,
    f: impl FnOnce(&mut BoxClient) -> Result<T, Problems>,
) -> Result<T, Problems> {
    let guard = LockGuard::take(t, operation).map_err(Problems::one)?;
    let mut held = Held {
        t,
        guard: Some(guard),
    };
    crate::fault::Step::AfterLock.reached();
    let result = f(&mut *held.t);
    let released = held.release();
    let value = result?;
    released.map_err(Problems::one)?;
    Ok(value)
}

/// The lock, released on drop unless released already.
struct Held<'a> {
    t: &'a mut BoxClient,
    guard: Option<LockGuard>,
}

impl Held<'_> {
    fn release(&mut self) -> Result<(), ApplyError> {
        match self.guard.take() {
            Some(g) => g.release(&mut *self.t),
            None => Ok(()),
        }
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        // Only while unwinding from a panic in `f`: `under_lock` releases it otherwise.
        let _ = self.release();
    }
}

/// What is asked for approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approve {
    /// An apply's changes.
    Apply,
    /// A rollback.
    Rollback,
}

impl Approve {
    /// The verb in messages (`apply`, `roll back`).
    pub fn verb(self) -> &'static str {
        match self {
            Approve::Apply => "apply",
            Approve::Rollback => "roll back",
        }
    }

    /// The noun in messages (`Apply`, `Rollback`).
    pub fn noun(self) -> &'static str {
        match self {
            Approve::Apply => "Apply",
            Approve::Rollback => "Rollback",
        }
    }
}

/// What an operation reports while it runs.
#[derive(Debug)]
pub enum Event<'a> {
    /// The plan about to be carried out, before anything changes (apply, switch). `saved`: the
    /// file of a saved plan being applied.
    Plan {
        /// The plan.
        plan: &'a Plan,
        /// The saved plan's file, when one is applied.
        saved: Option<&'a Path>,
    },
    /// A generation rollback about to be carried out.
    GenerationRollback(&'a crate::rollback::GenerationPreview),
    /// An env's fast rollback about to be carried out.
    EnvRollback(&'a crate::rollback::EnvPreview),
    /// A try of a switch's health gate; `last`: the one it ends with.
    Gate {
        /// Every instance of the new colour.
        report: &'a crate::gate::Report,
        /// The try the gate decides on.
        last: bool,
    },
    /// A step done (`Activated generation 3.`).
    Step(String),
}

/// How an operation reports and asks: the command line prints and asks on the terminal.
pub trait Progress {
    /// Something to report.
    fn event(&mut self, event: Event<'_>);

    /// Ask before changing the box (`question` names the target and the change).
    ///
    /// # Errors
    /// Not approved: [`ApplyError::Cancelled`], or [`ApplyError::NeedsApproval`] when nobody
    /// can be asked.
    fn approve(&mut self, what: Approve, question: &str) -> Result<(), ApplyError>;
}

/// A [`Progress`] step logger for the lower layers, which take `&mut dyn FnMut(String)`.
pub fn steps(p: &mut dyn Progress) -> impl FnMut(String) + '_ {
    move |line| p.event(Event::Step(line))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Duration, Ident, LocalPath};

    /// A panic while the lock is held releases it (the guard's `Drop`); an error releases it too.
    #[test]
    fn the_lock_is_released_after_an_error_and_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("box")).unwrap();
        let target = Target {
            name: Ident::parse("box").unwrap(),
            transport: crate::model::Transport::Local {
                root: LocalPath::parse("box").unwrap(),
            },
            validate: Vec::new(),
            reload: Vec::new(),
            reload_timeout: Duration::secs(30),
        };
        let mut t = transport::open(&target, dir.path()).unwrap();
        let lock = dir.path().join("box/var/lib/edgeplan/lock");
        let err = under_lock(&mut t, "test", |_| -> Result<(), Problems> {
            assert!(lock.exists(), "held while f runs");
            Err(Problems(Vec::new()))
        });
        assert!(err.is_err());
        assert!(!lock.exists(), "released after an error");
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            under_lock(&mut t, "test", |_| -> Result<(), Problems> {
                panic!("boom")
            })
        }));
        assert!(panicked.is_err());
        assert!(!lock.exists(), "released while unwinding");
        assert!(under_lock(&mut t, "test", |_| Ok(())).is_ok());
    }
}
