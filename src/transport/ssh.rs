//! The `ssh` transport: the system `ssh` binary, so the user's `~/.ssh/config`, agent, known
//! hosts and jump hosts all apply. `BatchMode=yes`: edgeplan never prompts for a password or a
//! host key. One edgeplan run opens **one** connection: the first operation starts a
//! ControlMaster on a socket in a private temp dir, every operation is a session over it, and
//! the master is closed when the transport is dropped.
//!
//! `EDGEPLAN_SSH_COMMAND` (like git's `GIT_SSH_COMMAND`) replaces the `ssh` program and may add
//! options, e.g. `ssh -F '/path/with space/config'`: it is a shell command line, run as git runs
//! its own (`sh -c 'exec COMMAND "$@"' ssh ARGS…`), so its quoting works and the process is ssh
//! itself.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Launcher, TransportError, shell_quote};
use crate::model::Target;

/// How long to wait for the connection (authentication included).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The master connection.
#[derive(Debug)]
struct Master {
    dir: tempfile::TempDir,
    child: Child,
}

impl Master {
    fn socket(&self) -> PathBuf {
        self.dir.path().join("c")
    }
}

/// A box reached over ssh.
#[derive(Debug)]
pub struct Ssh {
    target: String,
    /// `EDGEPLAN_SSH_COMMAND`, when set and not blank.
    command_line: Option<String>,
    dest: String,
    options: Vec<String>,
    master: Option<Master>,
}

impl Ssh {
    /// `host` (a name or an alias from the ssh config) with optional user, port and identity
    /// file (relative to the specs directory unless absolute or starting with `~`).
    pub fn new(
        target: &Target,
        specs: &Path,
        host: &str,
        user: Option<&str>,
        port: Option<u16>,
        identity: Option<&str>,
    ) -> Ssh {
        let command_line = std::env::var("EDGEPLAN_SSH_COMMAND")
            .ok()
            .filter(|c| !c.trim().is_empty());
        let mut options: Vec<String> = vec!["-o".into(), "BatchMode=yes".into()];
        if let Some(p) = port {
            options.extend(["-p".into(), p.to_string()]);
        }
        if let Some(u) = user {
            options.extend(["-l".into(), u.to_string()]);
        }
        if let Some(i) = identity {
            let path = if i.starts_with('/') || i.starts_with('~') {
                i.to_string()
            } else {
                specs.join(i).display().to_string()
            };
            options.extend(["-i".into(), path]);
        }
        Ssh {
            target: target.name.to_string(),
            command_line,
            dest: host.to_string(),
            options,
            master: None,
        }
    }

    fn base(&self) -> Command {
        let mut cmd = match &self.command_line {
            None => Command::new("ssh"),
            Some(c) => {
                let mut cmd = Command::new("sh");
                cmd.arg("-c").arg(format!("exec {c} \"$@\"")).arg("ssh");
                cmd
            }
        };
        cmd.args(&self.options);
        cmd
    }

    /// The program started, for messages.
    fn program(&self) -> &str {
        self.command_line.as_deref().unwrap_or("ssh")
    }

    fn unreachable(&self, message: String) -> TransportError {
        TransportError::Unreachable {
            target: self.target.clone(),
            how: self.describe(),
            message,
        }
    }

    /// Start the master connection unless it runs.
    fn connect(&mut self) -> Result<PathBuf, TransportError> {
        if let Some(m) = &self.master {
            return Ok(m.socket());
        }
        let dir = tempfile::Builder::new()
            .prefix("edgeplan-ssh-")
            .tempdir()
            .map_err(|e| self.unreachable(format!("cannot create a temp dir: {e}")))?;
        let socket = dir.path().join("c");
        let log = dir.path().join("log");
        let log_file = std::fs::File::create(&log)
            .map_err(|e| self.unreachable(format!("cannot create a temp file: {e}")))?;
        let mut cmd = self.base();
        cmd.args(["-o", "ControlMaster=yes", "-o", "ControlPersist=no"])
            .arg("-o")
            .arg(format!("ControlPath={}", socket.display()))
            .args(["-o", "ConnectTimeout=20", "-N"])
            .arg(&self.dest)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file);
        let program = self.program().to_string();
        let mut child = cmd.spawn().map_err(|e| TransportError::Spawn {
            target: self.target.clone(),
            program: program.clone(),
            message: e.to_string(),
            help: format!("is `{program}` (OpenSSH client) installed?"),
        })?;
        let start = Instant::now();
        loop {
            if socket.exists() {
                break;
            }
            let exited = child.try_wait().ok().flatten();
            if exited.is_some() || start.elapsed() > CONNECT_TIMEOUT {
                if exited.is_none() {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                let said = std::fs::read_to_string(&log).unwrap_or_default();
                let said = said.trim();
                return Err(self.unreachable(if said.is_empty() {
                    "the connection failed".into()
                } else {
                    said.lines().last().unwrap_or(said).to_string()
                }));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.master = Some(Master { dir, child });
        Ok(socket)
    }
}

impl Launcher for Ssh {
    fn target(&self) -> &str {
        &self.target
    }

    fn describe(&self) -> String {
        let mut s = self.program().to_string();
        for o in &self.options[2..] {
            s.push(' ');
            s.push_str(o);
        }
        format!("{s} {}", self.dest)
    }

    fn command(&mut self, argv: &[String]) -> Result<Command, TransportError> {
        let socket = self.connect()?;
        let remote: Vec<String> = argv.iter().map(|a| shell_quote(a)).collect();
        let mut cmd = self.base();
        cmd.args(["-o", "ControlMaster=no"])
            .arg("-o")
            .arg(format!("ControlPath={}", socket.display()))
            .arg(&self.dest)
            .arg("--")
            .arg(remote.join(" "));
        Ok(cmd)
    }
}

impl Drop for Ssh {
    fn drop(&mut self) {
        if let Some(mut m) = self.master.take() {
            let _ = self
                .base()
                .arg("-o")
                .arg(format!("ControlPath={}", m.socket().display()))
                .args(["-O", "exit"])
                .arg(&self.dest)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let _ = m.child.kill();
            let _ = m.child.wait();
        }
    }
}
