//! `--specs` and `--target`, and what every command that talks to a box does first: load the
//! specs once, pick the target, open its transport ([`Opened`]). One place instead of one copy
//! per command.

use std::path::{Path, PathBuf};

use crate::diag::Problems;
use crate::model::{Edge, Target};
use crate::transport::{self, BoxClient};

/// Where the specs and the box are.
#[derive(Debug, Clone, clap::Args)]
pub struct TargetArgs {
    /// Specs directory (holds edge.kdl and env/*.kdl)
    #[arg(long, default_value = "specs")]
    pub specs: PathBuf,

    /// Target (default: the only target of the specs)
    #[arg(long)]
    pub target: Option<String>,
}

impl TargetArgs {
    /// Load the specs, select the target, open its transport.
    ///
    /// # Errors
    /// Invalid specs, an unknown or ambiguous target, a transport that cannot start.
    pub fn open(&self) -> Result<Opened, Problems> {
        let (_, edge) = crate::load(&self.specs)?;
        Opened::new(edge, self.target.as_deref(), &self.specs)
    }
}

/// Select `target` of `edge` (loaded from `specs`) and open its transport, for a command that
/// keeps the model elsewhere (a [`crate::Loaded`]).
///
/// # Errors
/// An unknown or ambiguous target, a transport that cannot start.
pub fn open_target<'e>(
    edge: &'e Edge,
    target: Option<&str>,
    specs: &Path,
) -> Result<(&'e Target, BoxClient), Problems> {
    let chosen = transport::select(edge, target).map_err(Problems::one)?;
    let t = transport::open(chosen, specs).map_err(Problems::one)?;
    Ok((chosen, t))
}

/// The specs, loaded once, and the chosen target's box.
pub struct Opened {
    /// The checked model.
    pub edge: Edge,
    /// The target's name (a key of `edge.targets`).
    target: crate::model::Ident,
    /// Its transport.
    pub t: BoxClient,
}

impl Opened {
    /// Select `target` of `edge` (loaded from `specs`) and open its transport.
    ///
    /// # Errors
    /// An unknown or ambiguous target, a transport that cannot start.
    pub fn new(edge: Edge, target: Option<&str>, specs: &Path) -> Result<Opened, Problems> {
        let (chosen, t) = open_target(&edge, target, specs)?;
        let target = chosen.name.clone();
        Ok(Opened { edge, target, t })
    }

    /// The chosen target.
    pub fn target(&self) -> &Target {
        &self.edge.targets[&self.target]
    }
}

/// Run `f` under the target's lock: taken first (an error names its holder), released after `f`
/// whatever it returned — an error releasing it is reported after `f`'s own — and, should `f`
/// panic, released by the guard's `Drop` while unwinding. A process that is killed (SIGKILL,
/// a fault point's abort) leaves the lock, deliberately: the box may be half-way through a
/// step, and `force-unlock ID` comes after a look at it.
///
/// # Errors
/// The lock is held by someone else or cannot be taken; `f`'s error; the release's.
pub fn under_lock<T>(
    t: &mut BoxClient,
    operation: &str,
    f: impl FnOnce(&mut BoxClient) -> Result<T, Problems>,
) -> Result<T, Problems> {
    let guard = crate::apply::LockGuard::take(t, operation).map_err(Problems::one)?;
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
    guard: Option<crate::apply::LockGuard>,
}

impl Held<'_> {
    fn release(&mut self) -> Result<(), crate::apply::ApplyError> {
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
