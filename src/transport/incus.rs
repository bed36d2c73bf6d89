//! The `incus` transport: the box is an Incus container (on an optional remote), reached with
//! the `incus` CLI. Every operation is one `incus exec CONTAINER -- sh -c …` with its input on
//! stdin, so an upload is one call, not one `incus file push` per file.

use std::process::Command;

use super::{Launcher, TransportError};
use crate::model::Target;

/// An Incus container.
#[derive(Debug)]
pub struct Incus {
    target: String,
    instance: String,
}

impl Incus {
    /// Container `container`, on `remote` when given.
    pub fn new(target: &Target, container: &str, remote: Option<&str>) -> Incus {
        Incus {
            target: target.name.to_string(),
            instance: match remote {
                Some(r) => format!("{r}:{container}"),
                None => container.to_string(),
            },
        }
    }
}

impl Launcher for Incus {
    fn target(&self) -> &str {
        &self.target
    }

    fn describe(&self) -> String {
        format!("incus exec {}", self.instance)
    }

    fn command(&mut self, argv: &[String]) -> Result<Command, TransportError> {
        let mut cmd = Command::new("incus");
        cmd.args(["exec", "--force-noninteractive", &self.instance, "--"])
            .args(argv);
        Ok(cmd)
    }
}
