//! The `local` transport: a directory on this machine stands for the box's `/`. The box script
//! runs with `sh` here, with `EDGEPLAN_BOX_ROOT` set to the directory; validate and reload
//! commands run on this machine as they are. Used by tests and for boxes edgeplan runs on.

use std::path::{Component, Path, PathBuf};
use std::process::Command;

use super::{Launcher, TransportError};
use crate::model::Target;

/// A local directory as the box root.
#[derive(Debug)]
pub struct Local {
    target: String,
    root: PathBuf,
}

impl Local {
    /// The directory `root` (relative to the specs directory `specs`). A root that does not
    /// exist yet is an empty box; apply creates it.
    pub fn new(target: &Target, specs: &Path, root: &str) -> Result<Local, TransportError> {
        let joined = specs.join(root);
        let abs = normalize(&std::path::absolute(&joined).unwrap_or(joined));
        if abs.exists() && !abs.is_dir() {
            return Err(TransportError::LocalRoot {
                target: target.name.to_string(),
                path: abs.display().to_string(),
            });
        }
        Ok(Local {
            target: target.name.to_string(),
            root: abs,
        })
    }
}

/// `a/b/../c` → `a/c`, lexically (the root may not exist yet).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

impl Launcher for Local {
    fn target(&self) -> &str {
        &self.target
    }

    fn describe(&self) -> String {
        format!("local directory {}", self.root.display())
    }

    fn command(&mut self, argv: &[String]) -> Result<Command, TransportError> {
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]).env("EDGEPLAN_BOX_ROOT", &self.root);
        Ok(cmd)
    }
}
