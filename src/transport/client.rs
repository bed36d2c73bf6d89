//! [`BoxClient`]: every operation edgeplan asks of the box, over any [`Launcher`]. One place
//! owns the protocol (the header and exit codes of [`super::protocol`], the framed replies of
//! [`super::reply`]): no other module runs the box script by hand.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::Stdio;

use super::protocol::{self, Exit};
use super::reply::{
    Blobs, BoxState, CommandOutput, Frame, Generations, Lock, ProbeAnswer, ProbeRequest, Reply,
    Validation, frames, held_lock, parse_blobs, parse_generations, parse_probes, parse_state,
};
use super::{BOX_SCRIPT, Launcher, TransportError};
use crate::fault::Step;

/// The box of one target: its launcher and the operations of the box script.
pub struct BoxClient {
    launcher: Box<dyn Launcher>,
}

/// Why the running haproxy could not be asked (see [`BoxClient::admin`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminRefusal {
    /// Nothing answers on the admin socket (haproxy not running, or no such socket): what the
    /// box said.
    NoSocket(String),
    /// The box has no `socat` to talk to the socket.
    NoSocat,
}

impl BoxClient {
    /// A client over `launcher`.
    pub fn new(launcher: Box<dyn Launcher>) -> BoxClient {
        BoxClient { launcher }
    }

    /// The target's name.
    pub fn target(&self) -> &str {
        self.launcher.target()
    }

    /// How the box is reached, for messages (`ssh root@edge.example.org`).
    pub fn describe(&self) -> String {
        self.launcher.describe()
    }

    /// Run one operation of the box script with `input` on its stdin. If `cut` is set, only that
    /// many bytes of input are written, then the process reaches [`Step::MidUpload`] (a fault
    /// point: it aborts or pauses there).
    fn call_raw(
        &mut self,
        op: &str,
        args: &[String],
        input: &[u8],
        cut: Option<usize>,
    ) -> Result<Reply, TransportError> {
        let mut argv: Vec<String> = vec![
            "sh".into(),
            "-c".into(),
            BOX_SCRIPT.into(),
            "edgeplan-box".into(),
            op.into(),
        ];
        argv.extend(args.iter().cloned());
        let mut cmd = self.launcher.command(&argv)?;
        let program = cmd.get_program().to_string_lossy().into_owned();
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| TransportError::Spawn {
            target: self.target().to_string(),
            program: program.clone(),
            message: e.to_string(),
            help: format!("is `{program}` installed and on PATH?"),
        })?;
        let mut stdin = child.stdin.take();
        let out = std::thread::scope(|s| {
            s.spawn(move || {
                if let Some(w) = stdin.as_mut() {
                    // A reply that does not read its input (an already staged tree) closes the
                    // pipe early; that is not an error.
                    match cut {
                        Some(n) => {
                            let _ = w.write_all(&input[..n.min(input.len())]);
                            let _ = w.flush();
                            Step::MidUpload.reached();
                        }
                        None => {
                            let _ = w.write_all(input);
                        }
                    }
                }
                drop(stdin);
            });
            child.wait_with_output()
        })
        .map_err(|e| TransportError::Spawn {
            target: self.target().to_string(),
            program: program.clone(),
            message: e.to_string(),
            help: "the process could not be waited for".into(),
        })?;
        let reply = Reply {
            code: out.status.code(),
            stdout: out.stdout,
            stderr: String::from_utf8_lossy(&out.stderr).trim_end().to_string(),
        };
        if !reply.stdout.starts_with(protocol::HEADER) {
            let message = if reply.stderr.is_empty() {
                match reply.code {
                    Some(c) => format!("`{program}` exited with status {c} and no message"),
                    None => format!("`{program}` was killed"),
                }
            } else {
                reply.stderr.clone()
            };
            if Exit::of(reply.code) == Exit::Layout {
                return Err(TransportError::Layout {
                    target: self.target().to_string(),
                    message: message.trim_start_matches("edgeplan-box: ").to_string(),
                });
            }
            // The script reports its own errors after its header; anything else is the
            // transport failing (connection refused, no such container, no sh…).
            if reply.stderr.starts_with("edgeplan-box:") {
                return Err(self.box_error(op, &message));
            }
            return Err(TransportError::Unreachable {
                target: self.target().to_string(),
                how: self.describe(),
                message,
            });
        }
        Ok(reply)
    }

    /// Run one operation; an error unless it exits 0.
    pub fn call(
        &mut self,
        op: &str,
        args: &[String],
        input: &[u8],
    ) -> Result<Reply, TransportError> {
        let r = self.call_raw(op, args, input, None)?;
        if Exit::of(r.code) != Exit::Ok {
            let msg = if r.stderr.is_empty() {
                format!("exit status {:?}", r.code)
            } else {
                r.stderr.clone()
            };
            return Err(self.box_error(op, &msg));
        }
        Ok(r)
    }

    /// An error the box reported.
    fn box_error(&self, op: &str, message: &str) -> TransportError {
        TransportError::Box {
            target: self.target().to_string(),
            op: op.to_string(),
            message: message
                .trim_start_matches("edgeplan-box: ")
                .trim_end()
                .to_string(),
        }
    }

    /// A reply that could not be understood.
    pub fn corrupt(&self, message: &str) -> TransportError {
        TransportError::Corrupt {
            target: self.target().to_string(),
            message: message.to_string(),
        }
    }

    /// Read the box's state and the live status of `probe` paths, in one round trip.
    pub fn read_state(&mut self, probe: &[String]) -> Result<BoxState, TransportError> {
        let r = self.call("state", probe, b"")?;
        parse_state(&r.stdout).map_err(|m| self.corrupt(&format!("unreadable state: {m}")))
    }

    /// The content of live files (resolved through links), in one round trip; absent files are
    /// left out.
    pub fn fetch(&mut self, paths: &[String]) -> Result<BTreeMap<String, Vec<u8>>, TransportError> {
        if paths.is_empty() {
            return Ok(BTreeMap::new());
        }
        let r = self.call("fetch", paths, b"")?;
        let frames = frames(&r.stdout).map_err(|m| self.corrupt(&m))?;
        Ok(frames
            .into_iter()
            .filter_map(|f| match f {
                Frame::Blob(name, b) => Some((name.to_string(), b.to_vec())),
                _ => None,
            })
            .collect())
    }

    /// Take the lock; `Err(Some(holder))` when someone holds it.
    pub fn lock(&mut self, lock: &Lock) -> Result<Result<(), Option<Lock>>, TransportError> {
        let json = serde_json::to_string(lock).unwrap_or_default();
        let r = self.call_raw(
            "lock",
            std::slice::from_ref(&lock.id),
            json.as_bytes(),
            None,
        )?;
        match Exit::of(r.code) {
            Exit::Ok => Ok(Ok(())),
            Exit::Locked => Ok(Err(held_lock(&r.stdout))),
            _ => Err(self.box_error("lock", &r.stderr)),
        }
    }

    /// Release the lock held by `id`; `Err(holder)` when `id` does not hold it.
    pub fn unlock(&mut self, id: &str) -> Result<Result<(), Option<Lock>>, TransportError> {
        let r = self.call_raw("unlock", &[id.to_string()], b"", None)?;
        match Exit::of(r.code) {
            Exit::Ok => Ok(Ok(())),
            Exit::Locked => Ok(Err(held_lock(&r.stdout))),
            _ => Err(self.box_error("unlock", &r.stderr)),
        }
    }

    /// Upload a tree (a tar stream) into `staging/TREE_HASH`; true when it was already there.
    pub fn stage(&mut self, tree_hash: &str, tar: &[u8]) -> Result<bool, TransportError> {
        let cut = Step::MidUpload.armed().then_some(tar.len() / 2);
        let r = self.call_raw("stage", &[tree_hash.to_string()], tar, cut)?;
        if Exit::of(r.code) != Exit::Ok {
            return Err(self.box_error("stage", &r.stderr));
        }
        Ok(r.text().contains("reused"))
    }

    /// Validate a staged tree or a generation (`staging/H`, `generations/N`) with `command`
    /// (+ the config path) and `systemd-analyze verify` on `units`.
    pub fn validate(
        &mut self,
        dir: &str,
        units: &[String],
        command: &[String],
    ) -> Result<Validation, TransportError> {
        let mut args = vec![dir.to_string()];
        args.extend(units.iter().cloned());
        args.push("--".into());
        args.extend(command.iter().cloned());
        let r = self.call_raw("validate", &args, b"", None)?;
        let output = r.text();
        match Exit::of(r.code) {
            Exit::Ok => Ok(Validation { ok: true, output }),
            Exit::Refused => Ok(Validation { ok: false, output }),
            _ => Err(self.box_error("validate", &r.stderr)),
        }
    }

    /// Turn `staging/TREE_HASH` into the next generation; its number.
    pub fn promote(&mut self, tree_hash: &str, meta: &str) -> Result<u64, TransportError> {
        let r = self.call("promote", &[tree_hash.to_string()], meta.as_bytes())?;
        let text = r.text();
        text.trim()
            .strip_prefix("generation ")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| self.corrupt(&format!("promote answered `{}`", text.trim())))
    }

    /// Link every path of generation `gen` into `current` (nothing changes for haproxy).
    pub fn link(&mut self, generation: u64) -> Result<String, TransportError> {
        let r = self.call("link", &[generation.to_string()], b"")?;
        Ok(r.text())
    }

    /// Make `generation` the active one (`None`: none), atomically; the one active before.
    pub fn swap(&mut self, generation: Option<u64>) -> Result<Option<u64>, TransportError> {
        let g = generation.map_or("-".to_string(), |g| g.to_string());
        let r = self.call("swap", &[g], b"")?;
        let text = r.text();
        let prev = text
            .trim()
            .strip_prefix("swapped ")
            .and_then(|s| s.split(' ').next())
            .ok_or_else(|| self.corrupt(&format!("swap answered `{}`", text.trim())))?;
        Ok(prev.parse().ok())
    }

    /// Remove links to paths that the active generation does not hold.
    pub fn prune(&mut self) -> Result<String, TransportError> {
        let r = self.call("prune", &[], b"")?;
        Ok(r.text())
    }

    /// Run a command on the box.
    pub fn run(&mut self, command: &[String]) -> Result<CommandOutput, TransportError> {
        let r = self.call("run", command, b"")?;
        self.command_output(&r)
    }

    /// `systemctl daemon-reload` when the box runs systemd (skipped otherwise, said in the
    /// output).
    pub fn daemon_reload(&mut self) -> Result<CommandOutput, TransportError> {
        let r = self.call("daemon-reload", &[], b"")?;
        self.command_output(&r)
    }

    /// Output and status of a `run`-style reply.
    fn command_output(&self, r: &Reply) -> Result<CommandOutput, TransportError> {
        let text = r.text();
        let (output, status) = text
            .trim_end()
            .rsplit_once("\nedgeplan-box-exit ")
            .ok_or_else(|| self.corrupt("a command's reply has no exit status"))?;
        Ok(CommandOutput {
            output: output.trim_end().to_string(),
            status: status.trim().parse().unwrap_or(-1),
        })
    }

    /// Record a finished apply (history line) and keep `keep` generations.
    pub fn finish(&mut self, keep: usize, history: &str) -> Result<String, TransportError> {
        let r = self.call("finish", &[keep.to_string()], history.as_bytes())?;
        Ok(r.text())
    }

    /// Replace the colour state of `env` (`colors/ENV.json`) atomically.
    pub fn record_color(&mut self, env: &str, json: &str) -> Result<(), TransportError> {
        self.call("record-color", &[env.to_string()], json.as_bytes())?;
        Ok(())
    }

    /// Every generation on the box.
    pub fn generations(&mut self) -> Result<Generations, TransportError> {
        let r = self.call("generations", &[], b"")?;
        parse_generations(&r.stdout).map_err(|m| self.corrupt(&format!("generations: {m}")))
    }

    /// `openssl x509` on each PEM of `paths` (subject, issuer, serial, dates, names): one blob
    /// per file that exists.
    pub fn x509(&mut self, paths: &[String]) -> Result<Blobs, TransportError> {
        let r = self.call("x509", paths, b"")?;
        parse_blobs(&r.stdout).map_err(|m| self.corrupt(&m))
    }

    /// HTTP GETs made from the box, each at most `timeout`, in one round trip: their answers
    /// in order — or why the box cannot make them (`Ok(Err(why))`: neither curl nor wget).
    pub fn probe(
        &mut self,
        timeout: std::time::Duration,
        probes: &[ProbeRequest],
    ) -> Result<Result<Vec<ProbeAnswer>, String>, TransportError> {
        let mut args = vec![format!("{:.3}", timeout.as_secs_f64())];
        for (i, p) in probes.iter().enumerate() {
            let scheme = if p.tls { "https" } else { "http" };
            args.extend([
                i.to_string(),
                scheme.to_string(),
                p.addr.clone(),
                p.path.clone(),
                p.host.clone(),
            ]);
        }
        let r = self.call("probe", &args, b"")?;
        parse_probes(&r.stdout, probes.len()).map_err(|m| self.corrupt(&m))
    }

    /// `systemctl show` of each unit (state, result, times): one blob per unit.
    pub fn unit_show(&mut self, units: &[String]) -> Result<Blobs, TransportError> {
        let r = self.call("unit-show", units, b"")?;
        parse_blobs(&r.stdout).map_err(|m| self.corrupt(&m))
    }

    /// Carry out unit actions (`enable-start:NAME`, `stop-disable:NAME`…): one line per action
    /// (`ACTION ok` or `ACTION failed: …`), or `skipped: WHY`.
    pub fn units(&mut self, actions: &[String]) -> Result<String, TransportError> {
        Ok(self.call("units", actions, b"")?.text())
    }

    /// Save the running haproxy's server states before a reload (the rendered helper): what it
    /// did, or `skipped: WHY`.
    pub fn save_state(&mut self) -> Result<String, TransportError> {
        Ok(self.call("save-state", &[], b"")?.text())
    }

    /// Send `commands` to haproxy's runtime API at `endpoint` in one round trip: each command's answer (trailing whitespace trimmed) — or why
    /// haproxy could not be asked.
    pub fn admin(
        &mut self,
        endpoint: &crate::model::AdminEndpoint,
        commands: &[String],
    ) -> Result<Result<Vec<String>, AdminRefusal>, TransportError> {
        let mut args = vec![endpoint.to_string()];
        args.extend(commands.iter().cloned());
        let r = self.call_raw("admin", &args, b"", None)?;
        let message = r.stderr.trim_start_matches("edgeplan-box: ").to_string();
        match Exit::of(r.code) {
            Exit::Ok => {}
            Exit::NoAdminSocket => return Ok(Err(AdminRefusal::NoSocket(message))),
            Exit::NoSocat => return Ok(Err(AdminRefusal::NoSocat)),
            _ => return Err(self.box_error("admin", &r.stderr)),
        }
        let answers: Vec<String> = frames(&r.stdout)
            .map_err(|m| self.corrupt(&m))?
            .into_iter()
            .filter_map(|f| match f {
                Frame::Blob(_, b) => Some(String::from_utf8_lossy(b).trim_end().to_string()),
                _ => None,
            })
            .collect();
        if answers.len() != commands.len() {
            return Err(self.corrupt(&format!(
                "{} answers to {} admin commands",
                answers.len(),
                commands.len()
            )));
        }
        Ok(Ok(answers))
    }
}
