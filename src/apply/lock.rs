//! The box's lock as `apply`, `switch` and `rollback` take it: a new [`Lock`] (a random id,
//! `user@host`, operation, time, pid, version), [`LockGuard`] to hold and release it, and
//! `force-unlock` for a lock left by a run that died.

use super::ApplyError;
use crate::transport::{BoxClient, Lock};

/// The current time, UTC, RFC 3339 to the second (`2026-11-25T19:12:14Z`).
pub fn utc_now() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_else(|_| jiff::Timestamp::now())
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// `user@host` of whoever runs edgeplan.
pub fn who() -> String {
    // $USER/$LOGNAME when set (sudo keeps the invoking user's), else the process's user from
    // the password database (a CI job or a systemd unit has neither variable).
    let user = ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(whoami::username);
    let host = whoami::fallible::hostname().unwrap_or_else(|_| "localhost".into());
    format!("{user}@{host}")
}

/// A new lock for `operation`.
pub fn new_lock(operation: &str) -> Lock {
    Lock {
        // A random (version 4) UUID: the id `force-unlock` needs, and the lock's file name.
        id: uuid::Uuid::new_v4().to_string(),
        who: who(),
        operation: operation.to_string(),
        created: utc_now(),
        pid: std::process::id(),
        version: env!("CARGO_PKG_VERSION").to_string(),
    }
}

/// The box's lock, held until released.
pub struct LockGuard {
    /// The lock.
    pub lock: Lock,
}

impl LockGuard {
    /// Take the target's lock, or say who holds it.
    pub fn take(t: &mut BoxClient, operation: &str) -> Result<LockGuard, ApplyError> {
        let lock = new_lock(operation);
        match t.lock(&lock)? {
            Ok(()) => Ok(LockGuard { lock }),
            Err(holder) => Err(locked(t.target(), holder)),
        }
    }

    /// Release it.
    pub fn release(self, t: &mut BoxClient) -> Result<(), ApplyError> {
        match t.unlock(&self.lock.id)? {
            Ok(()) => Ok(()),
            Err(holder) => Err(ApplyError::WrongLockId {
                target: t.target().to_string(),
                id: self.lock.id,
                holder: holder.map_or("nobody".into(), |h| h.describe()),
            }),
        }
    }
}

fn locked(target: &str, holder: Option<Lock>) -> ApplyError {
    match holder {
        Some(h) => ApplyError::Locked {
            target: target.to_string(),
            holder: h.describe(),
            id: h.id,
        },
        None => ApplyError::Locked {
            target: target.to_string(),
            holder: "another run (the lock was released meanwhile; try again)".into(),
            id: "ID".into(),
        },
    }
}

/// Release the lock of `target` held by `id` (`force-unlock`).
pub fn force_unlock(t: &mut BoxClient, id: &str) -> Result<(), ApplyError> {
    match t.unlock(id)? {
        Ok(()) => Ok(()),
        Err(holder) => Err(ApplyError::WrongLockId {
            target: t.target().to_string(),
            id: id.to_string(),
            holder: holder.map_or("the target is not locked".into(), |h| h.describe()),
        }),
    }
}
