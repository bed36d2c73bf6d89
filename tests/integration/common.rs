//! The test builder: a temp dir with specs, one run of the real `edgeplan` binary with a clean
//! environment (no colour, width 80), and its output folded into one redacted string.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// How long a test waits for something that must happen (a server listening, a reload taking
/// effect, a log line) before it calls it hung. Never a claim about speed — on a loaded 2-core
/// machine a start can take seconds; speed belongs in benchmarks.
pub const HANG_GUARD: std::time::Duration = std::time::Duration::from_secs(60);

/// Wait until `counter` went up by `n` from now — a count of events (answered requests), not a
/// time window: on a loaded machine a window of time may hold few. The wait is a hang guard.
pub fn wait_count(counter: &std::sync::atomic::AtomicUsize, n: usize) {
    use std::sync::atomic::Ordering;
    let target = counter.load(Ordering::SeqCst) + n;
    let start = std::time::Instant::now();
    while counter.load(Ordering::SeqCst) < target {
        assert!(
            start.elapsed() < HANG_GUARD,
            "no progress: {n} events expected"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Root of the repository (for the bundled `specs/` and `out/`).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Path of the built binary.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_edgeplan"))
}

/// Copy a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from).sort_by_file_name() {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(from).unwrap();
        let dest = to.join(rel);
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// One CLI run being prepared.
pub struct Test {
    dir: tempfile::TempDir,
    args: Vec<String>,
    env: Vec<(String, String)>,
    stdin: Option<String>,
}

/// What a run produced.
#[derive(Debug)]
pub struct Output {
    /// Standard output, temp dir redacted.
    pub stdout: String,
    /// Standard error, temp dir redacted.
    pub stderr: String,
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
}

impl Output {
    /// stdout, stderr and the exit code in one string for a snapshot.
    pub fn folded(&self) -> String {
        let mut s = String::new();
        if !self.stdout.is_empty() {
            s += &format!("--- stdout\n{}", self.stdout);
        }
        if !self.stderr.is_empty() {
            s += &format!("--- stderr\n{}", self.stderr);
        }
        s += &format!("--- exit {}\n", self.code);
        s
    }
}

impl Default for Test {
    fn default() -> Self {
        Self::new()
    }
}

impl Test {
    /// An empty temp dir.
    pub fn new() -> Test {
        Test {
            dir: tempfile::tempdir().unwrap(),
            args: Vec::new(),
            env: Vec::new(),
            stdin: None,
        }
    }

    /// With a copy of the bundled `specs/` at `specs/`.
    pub fn bundled() -> Test {
        let t = Test::new();
        copy_dir(&repo().join("specs"), &t.path().join("specs"));
        t
    }

    /// With a copy of the specs directory `dir` (e.g. a fixture case) at `specs/`, so that runs
    /// use the default `--specs specs` and show machine-independent paths. A fixture's `expect`
    /// file at the top of `dir` is left out.
    pub fn specs_from(dir: &Path) -> Test {
        let t = Test::new();
        let dest = t.path().join("specs");
        copy_dir(dir, &dest);
        let expect = dest.join("expect");
        if expect.is_file() {
            std::fs::remove_file(expect).unwrap();
        }
        t
    }

    /// Write a file under the temp dir (parents created).
    pub fn file(self, rel: &str, text: &str) -> Test {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
        self
    }

    /// Write a spec file under `specs/`.
    pub fn spec(self, rel: &str, text: &str) -> Test {
        self.file(&format!("specs/{rel}"), text)
    }

    /// Command-line arguments.
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Test {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// An environment variable.
    pub fn env(mut self, k: &str, v: &str) -> Test {
        self.env.push((k.into(), v.into()));
        self
    }

    /// Standard input.
    pub fn stdin(mut self, s: &str) -> Test {
        self.stdin = Some(s.into());
        self
    }

    /// The temp dir.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Run the binary in the temp dir.
    pub fn run(&self) -> Output {
        let mut cmd = Command::new(bin());
        cmd.args(&self.args)
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("NO_COLOR", "1")
            .env("COLUMNS", "80")
            .env("LANG", "C.UTF-8")
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        if let Some(input) = &self.stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        let out = child.wait_with_output().unwrap();
        let redact = |b: &[u8]| {
            let s = String::from_utf8_lossy(b).into_owned();
            let tmp = self.dir.path().display().to_string();
            s.replace(&tmp, "[TMP]")
        };
        Output {
            stdout: redact(&out.stdout),
            stderr: redact(&out.stderr),
            code: out.status.code().unwrap_or(-1),
        }
    }
}

/// Copy a tree creating its files in reverse name order, every other one with another mtime
/// (1970 or 2038), so nothing may depend on walk order, creation order or mtimes.
pub fn copy_dir_reversed(from: &Path, to: &Path) {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(from)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().strip_prefix(from).unwrap().to_path_buf())
        .collect();
    files.sort();
    files.reverse();
    for (i, rel) in files.iter().enumerate() {
        let dest = to.join(rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(from.join(rel), &dest)
            .unwrap_or_else(|e| panic!("copy {:?} -> {dest:?}: {e}", from.join(rel)));
        let when = if i % 2 == 0 { "@0" } else { "2038-01-01" };
        let st = Command::new("touch")
            .args(["-d", when])
            .arg(&dest)
            .status()
            .unwrap();
        assert!(st.success(), "touch {dest:?}");
    }
}
