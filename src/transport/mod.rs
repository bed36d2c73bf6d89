//! Transports: how edgeplan reaches the edge box, and what it asks of it.
//!
//! Everything edgeplan does on the box is one embedded POSIX shell script, `box.sh`, run as
//! `sh -c SCRIPT edgeplan-box OP ARGS…` with a framed reply on stdout. A transport only knows
//! how to start that process: [`local`] runs `sh` on this machine with the target's directory
//! as the box root, [`ssh`] runs it through the system `ssh` (one connection per edgeplan run,
//! shared through a ControlMaster), [`incus`] through `incus exec`. The operations — read the
//! state in one round trip, fetch files, lock, upload, validate, link, swap, run a command —
//! are provided methods of [`Transport`], so all three behave the same by construction.
//!
//! The box keeps edgeplan's state under `/var/lib/edgeplan/` (layout in `box.sh` and
//! `docs/apply.md`).

pub mod generation;
pub mod incus;
pub mod local;
pub mod protocol;
pub mod ssh;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use miette::Diagnostic;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::model::{Edge, Target};
use protocol::Exit;

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

/// A raw reply of the box script.
#[derive(Debug)]
pub struct Reply {
    /// Exit code of the script (`None`: killed).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: String,
}

impl Reply {
    /// Standard output without the protocol line (`edgeplan-box 1`).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(
            self.stdout
                .strip_prefix(protocol::HEADER)
                .unwrap_or(&self.stdout),
        )
        .into_owned()
    }
}

/// One item of a framed reply.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A line that is not a blob header.
    Line(&'a str),
    /// `blob SIZE NAME` and its bytes.
    Blob(&'a str, &'a [u8]),
    /// `absent NAME`.
    Absent(&'a str),
}

/// Split a reply after its `edgeplan-box 1` header into frames.
pub fn frames(stdout: &[u8]) -> Result<Vec<Frame<'_>>, String> {
    let rest = stdout
        .strip_prefix(protocol::HEADER)
        .ok_or_else(|| "the box did not answer with the edgeplan-box protocol".to_string())?;
    let mut out = Vec::new();
    let mut at = 0;
    while at < rest.len() {
        let end = rest[at..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(rest.len(), |p| at + p);
        let line = std::str::from_utf8(&rest[at..end]).map_err(|_| "reply is not UTF-8")?;
        at = end + 1;
        if let Some(h) = line.strip_prefix("blob ") {
            let (size, name) = h.split_once(' ').ok_or("bad blob header")?;
            let size: usize = size.parse().map_err(|_| "bad blob size")?;
            if at + size > rest.len() {
                return Err("truncated reply".into());
            }
            out.push(Frame::Blob(name, &rest[at..at + size]));
            at += size + 1;
        } else if let Some(name) = line.strip_prefix("absent ") {
            out.push(Frame::Absent(name));
        } else {
            out.push(Frame::Line(line));
        }
    }
    Ok(out)
}

/// What is at a live path on the box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LiveKind {
    /// edgeplan's link into the active generation.
    Ours,
    /// Some other symlink (resolving to a file).
    Link,
    /// A regular file.
    File,
    /// A symlink that resolves nowhere.
    Dangling,
    /// A directory or special file.
    Other,
    /// Nothing.
    Absent,
}

/// A live path's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Live {
    /// What is there.
    pub kind: LiveKind,
    /// Mode of the (resolved) file.
    pub mode: Option<u32>,
    /// sha256 of the (resolved) file, hex.
    pub sha256: Option<String>,
}

impl Live {
    /// Is there a readable file at the path (whatever kind)?
    pub fn exists(&self) -> bool {
        self.sha256.is_some()
    }
}

/// Who holds the box's lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    /// Lock id (for `force-unlock`).
    pub id: String,
    /// `user@host`.
    pub who: String,
    /// What is running (`apply`, `rollback`).
    pub operation: String,
    /// When it was taken (UTC, RFC 3339).
    pub created: String,
    /// Process id on the machine that took it.
    pub pid: u32,
    /// edgeplan version.
    pub version: String,
}

impl Lock {
    /// One line for messages.
    pub fn describe(&self) -> String {
        format!(
            "{} since {} ({}, pid {}, lock id {})",
            self.who, self.created, self.operation, self.pid, self.id
        )
    }
}

/// Everything a plan needs from the box, read in one round trip.
#[derive(Debug, Clone, Default)]
pub struct BoxState {
    /// The box root as the box sees it (`/`, or a directory for `local` targets).
    pub root: String,
    /// The active generation.
    pub generation: Option<u64>,
    /// Its `manifest.json`.
    pub manifest: Option<String>,
    /// Its model summary.
    pub model: Option<String>,
    /// Its `files.sha256` (`sha256  path` lines).
    pub files: Option<String>,
    /// Its `meta.json`.
    pub meta: Option<String>,
    /// The lock, if held.
    pub lock: Option<Lock>,
    /// `pending-reload` (`GEN PREV`): an apply stopped between activation and a checked reload.
    pub pending: Option<String>,
    /// Live status of every path of the active generation and of every probed path.
    pub live: BTreeMap<String, Live>,
    /// Colour state of each env that has one (`colors/ENV.json`, see [`crate::switch`]): env →
    /// the file's text, parsed by [`crate::switch::EnvState::parse`].
    pub colors: BTreeMap<String, String>,
}

impl BoxState {
    /// Paths of the active generation and their sha256.
    pub fn expected(&self) -> BTreeMap<String, String> {
        parse_sha256_list(self.files.as_deref().unwrap_or(""))
    }
}

/// `sha256  path` lines (sha256sum's format) → path → sha256.
pub fn parse_sha256_list(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let (h, p) = l.split_at_checked(64)?;
            Some((p.strip_prefix("  ")?.to_string(), h.to_string()))
        })
        .collect()
}

/// Parse a reply of `state`.
fn parse_state(stdout: &[u8]) -> Result<BoxState, String> {
    let mut st = BoxState::default();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut ended = false;
    for f in frames(stdout)? {
        match f {
            Frame::Line(l) => {
                if let Some(r) = l.strip_prefix("root ") {
                    st.root = r.to_string();
                } else if let Some(c) = l.strip_prefix("current ") {
                    st.generation = match c {
                        "-" => None,
                        n => Some(n.parse().map_err(|_| format!("bad generation `{n}`"))?),
                    };
                } else if let Some(p) = l.strip_prefix("path ") {
                    let (path, live) = parse_path(p)?;
                    st.live.insert(path, live);
                } else if l == "end" {
                    ended = true;
                } else {
                    return Err(format!("unexpected line `{l}`"));
                }
            }
            Frame::Blob(name, b) => match name {
                "manifest.json" => st.manifest = Some(text(b)),
                "model.json" => st.model = Some(text(b)),
                "files.sha256" => st.files = Some(text(b)),
                "meta.json" => st.meta = Some(text(b)),
                "lock" => {
                    st.lock = Some(
                        serde_json::from_slice(b)
                            .map_err(|e| format!("the lock file is not readable: {e}"))?,
                    )
                }
                "pending" => st.pending = Some(text(b).trim().to_string()),
                n if n.starts_with("color/") => {
                    st.colors.insert(n["color/".len()..].to_string(), text(b));
                }
                _ => return Err(format!("unexpected blob `{name}`")),
            },
            Frame::Absent(_) => {}
        }
    }
    if !ended {
        return Err("the state reply is incomplete".into());
    }
    Ok(st)
}

fn parse_path(p: &str) -> Result<(String, Live), String> {
    let mut it = p.splitn(4, ' ');
    let (Some(kind), Some(mode), Some(sha), Some(path)) =
        (it.next(), it.next(), it.next(), it.next())
    else {
        return Err(format!("bad path line `{p}`"));
    };
    let kind = match kind {
        "ours" => LiveKind::Ours,
        "link" => LiveKind::Link,
        "file" => LiveKind::File,
        "dangling" => LiveKind::Dangling,
        "other" => LiveKind::Other,
        "absent" => LiveKind::Absent,
        k => return Err(format!("unknown path kind `{k}`")),
    };
    let mode = match mode {
        "-" => None,
        m => Some(u32::from_str_radix(m, 8).map_err(|_| format!("bad mode `{m}`"))?),
    };
    let sha256 = match sha {
        "-" => None,
        s if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) => Some(s.to_string()),
        s => return Err(format!("bad sha256 `{s}`")),
    };
    Ok((path.to_string(), Live { kind, mode, sha256 }))
}

/// What a `run` reply says: output and exit status of the command.
#[derive(Debug, Clone)]
pub struct CommandOutput {
    /// Combined output.
    pub output: String,
    /// Exit status.
    pub status: i32,
}

/// What `validate` found.
#[derive(Debug, Clone)]
pub struct Validation {
    /// True when the box accepted the staged files.
    pub ok: bool,
    /// The commands and their output.
    pub output: String,
}

/// How the box is reached. Implementations only say how to start the box script; every
/// operation is a provided method, the same for all transports.
pub trait Transport {
    /// The target's name.
    fn target(&self) -> &str;

    /// How the box is reached, for messages (`ssh root@edge.example.org`).
    fn describe(&self) -> String;

    /// A command that runs `argv` (`sh -c SCRIPT edgeplan-box OP ARGS…`) on the box.
    fn command(&mut self, argv: &[String]) -> Result<Command, TransportError>;

    /// Run one operation of the box script with `input` on its stdin. If `cut` is set, only that
    /// many bytes of input are written and the process aborts (fault injection of a killed
    /// upload).
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
        let mut cmd = self.command(&argv)?;
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
                            eprintln!("edgeplan: fault injected: killed mid-upload");
                            std::process::abort();
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
    fn call(&mut self, op: &str, args: &[String], input: &[u8]) -> Result<Reply, TransportError> {
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
    fn corrupt(&self, message: &str) -> TransportError {
        TransportError::Corrupt {
            target: self.target().to_string(),
            message: message.to_string(),
        }
    }

    /// Read the box's state and the live status of `probe` paths, in one round trip.
    fn read_state(&mut self, probe: &[String]) -> Result<BoxState, TransportError> {
        let r = self.call("state", probe, b"")?;
        parse_state(&r.stdout).map_err(|m| self.corrupt(&format!("unreadable state: {m}")))
    }

    /// The content of live files (resolved through links), in one round trip; absent files are
    /// left out.
    fn fetch(&mut self, paths: &[String]) -> Result<BTreeMap<String, Vec<u8>>, TransportError> {
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
    fn lock(&mut self, lock: &Lock) -> Result<Result<(), Option<Lock>>, TransportError> {
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
    fn unlock(&mut self, id: &str) -> Result<Result<(), Option<Lock>>, TransportError> {
        let r = self.call_raw("unlock", &[id.to_string()], b"", None)?;
        match Exit::of(r.code) {
            Exit::Ok => Ok(Ok(())),
            Exit::Locked => Ok(Err(held_lock(&r.stdout))),
            _ => Err(self.box_error("unlock", &r.stderr)),
        }
    }

    /// Upload a tree (a tar stream) into `staging/TREE_HASH`; true when it was already there.
    fn stage(
        &mut self,
        tree_hash: &str,
        tar: &[u8],
        cut: Option<usize>,
    ) -> Result<bool, TransportError> {
        let r = self.call_raw("stage", &[tree_hash.to_string()], tar, cut)?;
        if Exit::of(r.code) != Exit::Ok {
            return Err(self.box_error("stage", &r.stderr));
        }
        Ok(r.text().contains("reused"))
    }

    /// Validate a staged tree or a generation (`staging/H`, `generations/N`) with `command`
    /// (+ the config path) and `systemd-analyze verify` on `units`.
    fn validate(
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
    fn promote(&mut self, tree_hash: &str, meta: &str) -> Result<u64, TransportError> {
        let r = self.call("promote", &[tree_hash.to_string()], meta.as_bytes())?;
        let text = r.text();
        text.trim()
            .strip_prefix("generation ")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| self.corrupt(&format!("promote answered `{}`", text.trim())))
    }

    /// Link every path of generation `gen` into `current` (nothing changes for haproxy).
    fn link(&mut self, generation: u64) -> Result<String, TransportError> {
        let r = self.call("link", &[generation.to_string()], b"")?;
        Ok(r.text())
    }

    /// Make `generation` the active one (`None`: none), atomically; the one active before.
    fn swap(&mut self, generation: Option<u64>) -> Result<Option<u64>, TransportError> {
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
    fn prune(&mut self) -> Result<String, TransportError> {
        let r = self.call("prune", &[], b"")?;
        Ok(r.text())
    }

    /// Run a command on the box.
    fn run(&mut self, command: &[String]) -> Result<CommandOutput, TransportError> {
        let r = self.call("run", command, b"")?;
        self.command_output(&r)
    }

    /// `systemctl daemon-reload` when the box runs systemd (skipped otherwise, said in the
    /// output).
    fn daemon_reload(&mut self) -> Result<CommandOutput, TransportError> {
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
    fn finish(&mut self, keep: usize, history: &str) -> Result<String, TransportError> {
        let r = self.call("finish", &[keep.to_string()], history.as_bytes())?;
        Ok(r.text())
    }

    /// Replace the colour state of `env` (`colors/ENV.json`) atomically.
    fn record_color(&mut self, env: &str, json: &str) -> Result<(), TransportError> {
        self.call("record-color", &[env.to_string()], json.as_bytes())?;
        Ok(())
    }

    /// Every generation on the box.
    fn generations(&mut self) -> Result<Generations, TransportError> {
        let r = self.call("generations", &[], b"")?;
        parse_generations(&r.stdout).map_err(|m| self.corrupt(&format!("generations: {m}")))
    }
}

fn held_lock(stdout: &[u8]) -> Option<Lock> {
    frames(stdout).ok()?.into_iter().find_map(|f| match f {
        Frame::Blob("lock", b) => serde_json::from_slice(b).ok(),
        _ => None,
    })
}

/// One generation on the box.
#[derive(Debug, Clone, Default)]
pub struct Generation {
    /// Number (0: what was on the box before edgeplan).
    pub number: u64,
    /// Its manifest (absent for generation 0).
    pub manifest: Option<String>,
    /// Its meta.json.
    pub meta: Option<String>,
    /// Its files.sha256.
    pub files: Option<String>,
    /// False when a file no longer matches its checksum.
    pub intact: bool,
}

/// Every generation, the active one and the history.
#[derive(Debug, Clone, Default)]
pub struct Generations {
    /// Active generation.
    pub current: Option<u64>,
    /// Generations by number.
    pub list: Vec<Generation>,
    /// History lines (one per activation).
    pub history: String,
}

fn parse_generations(stdout: &[u8]) -> Result<Generations, String> {
    let mut g = Generations::default();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    for f in frames(stdout)? {
        match f {
            Frame::Line(l) => {
                if let Some(c) = l.strip_prefix("current") {
                    g.current = c.trim().parse().ok();
                } else if let Some(n) = l.strip_prefix("generation ") {
                    g.list.push(Generation {
                        number: n.parse().map_err(|_| format!("bad generation `{n}`"))?,
                        ..Default::default()
                    });
                } else if (l == "intact" || l == "modified")
                    && let Some(last) = g.list.last_mut()
                {
                    last.intact = l == "intact";
                }
            }
            Frame::Blob(name, b) => match (name, g.list.last_mut()) {
                ("history", _) => g.history = text(b),
                ("manifest", Some(last)) => last.manifest = Some(text(b)),
                ("meta", Some(last)) => last.meta = Some(text(b)),
                ("files", Some(last)) => last.files = Some(text(b)),
                _ => {}
            },
            Frame::Absent(_) => {}
        }
    }
    Ok(g)
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
pub fn open(target: &Target, specs: &Path) -> Result<Box<dyn Transport>, TransportError> {
    use crate::model::Transport as T;
    Ok(match &target.transport {
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
    })
}

/// Quote `s` for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:@%+,".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_lines_and_blobs() {
        let reply = b"edgeplan-box 1\nroot /\nblob 5 a b\nx\ny\nz\nabsent lock\nend\n";
        let f = frames(reply).unwrap();
        assert_eq!(
            f,
            [
                Frame::Line("root /"),
                Frame::Blob("a b", b"x\ny\nz"),
                Frame::Absent("lock"),
                Frame::Line("end")
            ]
        );
        assert!(frames(b"hello").is_err());
        assert!(frames(b"edgeplan-box 1\nblob 99 x\nshort\n").is_err());
    }

    #[test]
    fn state_lines_parse() {
        let h = "a".repeat(64);
        let reply = format!(
            "edgeplan-box 1\nroot /\ncurrent 3\nabsent manifest.json\n\
             path ours 644 {h} etc/haproxy/haproxy.cfg\npath absent - - etc/x\nend\n"
        );
        let st = parse_state(reply.as_bytes()).unwrap();
        assert_eq!(st.generation, Some(3));
        assert_eq!(st.live["etc/haproxy/haproxy.cfg"].mode, Some(0o644));
        assert_eq!(st.live["etc/x"].kind, LiveKind::Absent);
        assert!(parse_state(b"edgeplan-box 1\nroot /\n").is_err(), "no end");
        assert!(parse_state(b"edgeplan-box 1\npath weird - - x\nend\n").is_err());
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("abc/d.e"), "abc/d.e");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
    }

    #[test]
    fn sha256_lists() {
        let h = "b".repeat(64);
        let m = parse_sha256_list(&format!("{h}  etc/a b\nshort\n"));
        assert_eq!(m.len(), 1);
        assert_eq!(m["etc/a b"], h);
    }
}
