//! Transports: how edgeplan reaches the edge box, and what it asks of it.
//!
//! Everything edgeplan does on the box is one embedded POSIX shell script, `box.sh`, run as
//! `sh -c SCRIPT edgeplan-box OP ARGS…` with a framed reply on stdout. A transport only knows
//! how to start that process: [`local`] runs `sh` on this machine with the target's directory
//! as the box root, [`ssh`] runs it through the system `ssh` (one connection per edgeplan run,
//! shared through a ControlMaster), [`incus`] through `incus exec`. The operations — read the
//! state in one round trip, fetch files, lock, upload, validate, link, swap, run a command —
//! are [`BoxClient`]'s, so all three behave the same by construction: a transport is only a
//! [`Launcher`].
//!
//! The box keeps edgeplan's state under `/var/lib/edgeplan/` (layout in `box.sh` and
//! `docs/apply.md`).

mod client;
pub mod generation;
pub mod incus;
pub mod local;
pub mod protocol;
pub mod reply;
pub mod ssh;

pub use client::{AdminRefusal, BoxClient};
pub use reply::{
    Blobs, BoxState, CommandOutput, Generation, Generations, Live, LiveKind, Lock, ProbeAnswer,
    ProbeRequest, Validation, parse_sha256_list,
};

use std::path::Path;
use std::process::Command;

use miette::Diagnostic;
use thiserror::Error;

use crate::model::{Edge, Target};

/// The script that runs on the box.
pub const BOX_SCRIPT: &str = include_str!("box.sh");
/// Where edgeplan's state lives on the box, relative to its root.
pub const STATE_DIR: &str = crate::layout::STATE_DIR.rel();

/// A problem reaching the box or with what it answered.
#[derive(Debug, Error, Diagnostic)]
pub enum TransportError {
    /// The specs define no target.
    #[error("the specs define no target")]
    #[diagnostic(
        code(edgeplan::transport::no_target),
        help("add one to edge.kdl, e.g. `target \"edge\" {{ ssh host=\"edge.example.org\" }}`")
    )]
    NoTarget,
    /// Several targets and none chosen.
    #[error("the specs define several targets; choose one with --target")]
    #[diagnostic(code(edgeplan::transport::choose_target), help("targets: {known}"))]
    ChooseTarget {
        /// Target names.
        known: String,
    },
    /// `--target` names no target.
    #[error("no target named `{name}`")]
    #[diagnostic(code(edgeplan::transport::unknown_target), help("targets: {known}"))]
    UnknownTarget {
        /// The name given.
        name: String,
        /// Target names.
        known: String,
    },
    /// A local target's root is not a directory.
    #[error("the root of target `{target}` is not a directory: {path}")]
    #[diagnostic(
        code(edgeplan::transport::local_root),
        help("a `local` target's root is a directory standing for the box's `/`; fix `root=`")
    )]
    LocalRoot {
        /// Target.
        target: String,
        /// Path.
        path: String,
    },
    /// The transport program could not be started.
    #[error("cannot run `{program}` to reach target `{target}`: {message}")]
    #[diagnostic(code(edgeplan::transport::spawn), help("{help}"))]
    Spawn {
        /// Target.
        target: String,
        /// Program.
        program: String,
        /// OS message.
        message: String,
        /// What to check.
        help: String,
    },
    /// The box could not be reached.
    #[error("cannot reach target `{target}` ({how}): {message}")]
    #[diagnostic(
        code(edgeplan::transport::unreachable),
        help("check that the box is up and that `{how}` works by hand")
    )]
    Unreachable {
        /// Target.
        target: String,
        /// The transport, described.
        how: String,
        /// What the transport said.
        message: String,
    },
    /// The box answered with an error.
    #[error("target `{target}`: `{op}` failed on the box: {message}")]
    #[diagnostic(code(edgeplan::transport::box_error))]
    Box {
        /// Target.
        target: String,
        /// Operation.
        op: String,
        /// What the box said.
        message: String,
    },
    /// The box's state was written by a newer edgeplan (its layout version is higher).
    #[error("target `{target}`: {message}")]
    #[diagnostic(
        code(edgeplan::transport::layout),
        help(
            "a newer edgeplan has managed this box; use that version (or newer) — this one \
             could misread its state. An older layout is upgraded by this one on its first \
             apply, switch or rollback."
        )
    )]
    Layout {
        /// Target.
        target: String,
        /// What the box said (its version and ours).
        message: String,
    },
    /// The box's reply or state could not be understood.
    #[error("target `{target}`: {message}")]
    #[diagnostic(
        code(edgeplan::transport::corrupt),
        help(
            "edgeplan's state on the box is under /var/lib/edgeplan; inspect it, or move it \
             away to start over (the box is then treated as fresh)"
        )
    )]
    Corrupt {
        /// Target.
        target: String,
        /// What is wrong.
        message: String,
    },
}

/// How the box is reached: how to start the box script there. The operations are
/// [`BoxClient`]'s, the same for every launcher by construction.
pub trait Launcher {
    /// The target's name.
    fn target(&self) -> &str;

    /// How the box is reached, for messages (`ssh root@edge.example.org`).
    fn describe(&self) -> String;

    /// A command that runs `argv` (`sh -c SCRIPT edgeplan-box OP ARGS…`) on the box.
    fn command(&mut self, argv: &[String]) -> Result<Command, TransportError>;
}

/// The target to use: `name`, or the only one.
pub fn select<'a>(edge: &'a Edge, name: Option<&str>) -> Result<&'a Target, TransportError> {
    let known = || {
        edge.targets
            .keys()
            .map(|k| k.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match name {
        Some(n) => edge
            .targets
            .values()
            .find(|t| t.name.as_str() == n)
            .ok_or_else(|| TransportError::UnknownTarget {
                name: n.to_string(),
                known: known(),
            }),
        None => {
            let mut it = edge.targets.values();
            match (it.next(), it.next()) {
                (None, _) => Err(TransportError::NoTarget),
                (Some(t), None) => Ok(t),
                _ => Err(TransportError::ChooseTarget { known: known() }),
            }
        }
    }
}

/// Open a transport to `target`; relative local paths are relative to `specs`.
pub fn open(target: &Target, specs: &Path) -> Result<BoxClient, TransportError> {
    use crate::model::Transport as T;
    let launcher: Box<dyn Launcher> = match &target.transport {
        T::Local { root } => Box::new(local::Local::new(target, specs, root.as_str())?),
        T::Ssh {
            host,
            user,
            port,
            identity,
        } => Box::new(ssh::Ssh::new(
            target,
            specs,
            host.as_str(),
            user.as_ref().map(|u| u.as_str()),
            port.map(|p| p.get()),
            identity.as_ref().map(|i| i.as_str()),
        )),
        T::Incus { container, remote } => Box::new(incus::Incus::new(
            target,
            container.as_str(),
            remote.as_ref().map(|r| r.as_str()),
        )),
    };
    Ok(BoxClient::new(launcher))
}

/// Quote `s` for a POSIX shell (`shlex`'s quoting; a NUL byte, which no shell word can hold,
/// is dropped — no argument edgeplan sends has one).
pub fn shell_quote(s: &str) -> String {
    let clean = s.replace('\0', "");
    shlex::try_quote(&clean)
        .map(|q| q.into_owned())
        .unwrap_or_else(|_| format!("'{}'", clean.replace('\'', r"'\''")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("abc/d.e"), "abc/d.e");
        // What a real shell reads back is the original, whatever the bytes.
        let nasty = [
            "it's",
            "",
            "a b",
            "$(touch x)`id`",
            "\"; rm -rf / #",
            "line\nbreak",
            "tab\there",
            "*?[a]~",
            "\\'\"$",
            "ünïcode",
        ];
        for s in nasty {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf '%s' {}", shell_quote(s)))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), s, "{s:?}");
        }
    }
}
