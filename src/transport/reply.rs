//! What the box script answers: the framed reply (`edgeplan-box 1` header, lines, `blob SIZE
//! NAME` and `absent NAME` frames) and the typed values read from it — the box's state in one
//! round trip, its generations, the lock's holder, a command's output. Parsing only: the
//! operations that produce these replies are [`super::BoxClient`]'s.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::protocol;

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
pub(super) fn parse_state(stdout: &[u8]) -> Result<BoxState, String> {
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

/// A reply of named blobs, as `x509` and `unit-show` give: name → bytes, and the reason the
/// box gave for skipping the whole request (`skipped: …`: no openssl, no systemd).
#[derive(Debug, Clone, Default)]
pub struct Blobs {
    /// Each blob by name.
    pub blobs: BTreeMap<String, Vec<u8>>,
    /// Why nothing was read, when the box skipped it.
    pub skipped: Option<String>,
}

/// Parse a reply of named blobs.
pub(super) fn parse_blobs(stdout: &[u8]) -> Result<Blobs, String> {
    let mut out = Blobs::default();
    for f in frames(stdout)? {
        match f {
            Frame::Blob(name, b) => {
                out.blobs.insert(name.to_string(), b.to_vec());
            }
            Frame::Line(l) => {
                if let Some(why) = l.strip_prefix("skipped: ") {
                    out.skipped = Some(why.to_string());
                }
            }
            Frame::Absent(_) => {}
        }
    }
    Ok(out)
}

/// One HTTP GET the box makes ([`super::BoxClient::probe`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeRequest {
    /// Over TLS (the certificate is not checked; `host` is the server name).
    pub tls: bool,
    /// `host:port` (`[v6]:port`) to connect to.
    pub addr: String,
    /// Path and query (`/health?full=1`).
    pub path: String,
    /// The `Host` header.
    pub host: String,
}

/// What a probe got.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeAnswer {
    /// An HTTP answer.
    Status {
        /// Status code.
        code: u16,
        /// Time to the whole answer, when the box measured it (curl does, wget does not).
        seconds: Option<f64>,
        /// The first 64 KiB of the body.
        body: Vec<u8>,
    },
    /// No answer: connection refused, timeout, bad name… (what curl or wget said).
    Failed(String),
}

/// Parse a reply of `probe` for `n` probes named `0`..`n`: their answers in order, or why the
/// box could not probe at all (`Err(Ok(why))`), or an unreadable reply (`Err(Err(message))`).
pub(super) fn parse_probes(
    stdout: &[u8],
    n: usize,
) -> Result<Result<Vec<ProbeAnswer>, String>, String> {
    let b = parse_blobs(stdout)?;
    if let Some(why) = b.skipped {
        return Ok(Err(why));
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let head = b
            .blobs
            .get(&i.to_string())
            .ok_or_else(|| format!("no answer for probe {i}"))?;
        let head = String::from_utf8_lossy(head);
        let head = head.trim();
        let answer = if let Some(rest) = head.strip_prefix("status ") {
            let mut it = rest.split_whitespace();
            let code = it
                .next()
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| format!("bad probe answer `{head}`"))?;
            if code == 0 {
                // curl's code when no HTTP answer came (it exited 0 all the same).
                ProbeAnswer::Failed("no HTTP answer".into())
            } else {
                ProbeAnswer::Status {
                    code,
                    seconds: it.next().and_then(|s| s.parse().ok()),
                    body: b
                        .blobs
                        .get(&format!("{i}.body"))
                        .cloned()
                        .unwrap_or_default(),
                }
            }
        } else if let Some(why) = head.strip_prefix("error") {
            ProbeAnswer::Failed(why.trim().to_string())
        } else {
            return Err(format!("bad probe answer `{head}`"));
        };
        out.push(answer);
    }
    Ok(Ok(out))
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

pub(super) fn held_lock(stdout: &[u8]) -> Option<Lock> {
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

pub(super) fn parse_generations(stdout: &[u8]) -> Result<Generations, String> {
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
    fn sha256_lists() {
        let h = "b".repeat(64);
        let m = parse_sha256_list(&format!("{h}  etc/a b\nshort\n"));
        assert_eq!(m.len(), 1);
        assert_eq!(m["etc/a b"], h);
    }
}
