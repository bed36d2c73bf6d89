//! Reading a specs directory: `edge.kdl`, `env/*.kdl` in name order, then every `include`d file
//! (relative to the directory, inside it, each once, at most [`super::MAX_FILE_BYTES`]); the
//! files of a round are parsed in parallel, then decoded in order ([`super::decode`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{At, MAX_FILE_BYTES, Problem, SourceFile, Spec, SpecError, decode};

/// Where spec files come from: a specs directory on disk, or files in memory
/// ([`load_files`], for the fuzz targets and tests).
trait Source {
    /// The env files (`env/*.kdl`), sorted.
    fn env_files(&self, errors: &mut Vec<SpecError>) -> Vec<String>;
    /// The bytes of `rel` (a regular UTF-8 file of the specs, of bounded size), or why not.
    fn read(&self, rel: &str) -> Result<Vec<u8>, String>;
    /// How `rel` is shown in diagnostics.
    fn shown(&self, rel: &str) -> String;
}

/// A specs directory on disk.
struct Dir<'a> {
    dir: &'a Path,
    real_root: PathBuf,
    shown_root: String,
}

impl Source for Dir<'_> {
    fn env_files(&self, errors: &mut Vec<SpecError>) -> Vec<String> {
        env_files(self.dir, errors)
    }
    fn read(&self, rel: &str) -> Result<Vec<u8>, String> {
        read_limited(&self.real_root, &self.dir.join(rel))
    }
    fn shown(&self, rel: &str) -> String {
        if self.shown_root.is_empty() || self.shown_root == "." {
            rel.to_string()
        } else {
            format!("{}/{rel}", self.shown_root.trim_end_matches('/'))
        }
    }
}

/// Spec files in memory: relative path → bytes.
struct Memory<'a>(&'a [(String, Vec<u8>)]);

impl Source for Memory<'_> {
    fn env_files(&self, _: &mut Vec<SpecError>) -> Vec<String> {
        let mut names: Vec<String> = self
            .0
            .iter()
            .map(|(rel, _)| rel.clone())
            .filter(|rel| {
                rel.strip_prefix("env/")
                    .is_some_and(|n| n.ends_with(".kdl") && !n.contains('/'))
            })
            .collect();
        names.sort();
        names
    }
    fn read(&self, rel: &str) -> Result<Vec<u8>, String> {
        let bytes = match self.0.iter().find(|(r, _)| r == rel) {
            Some((_, b)) => b,
            // A path other files are under is a directory, as on disk.
            None if self
                .0
                .iter()
                .any(|(r, _)| r.starts_with(&format!("{rel}/"))) =>
            {
                return Err("not a regular file".into());
            }
            None => return Err("No such file or directory (os error 2)".into()),
        };
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(format!(
                "{} bytes is larger than the {MAX_FILE_BYTES}-byte limit",
                bytes.len()
            ));
        }
        if std::str::from_utf8(bytes).is_err() {
            return Err("not valid UTF-8".into());
        }
        Ok(bytes.clone())
    }
    fn shown(&self, rel: &str) -> String {
        rel.to_string()
    }
}

/// Read and decode every spec file under `dir`. All problems of all files come back together.
pub fn load(dir: &Path) -> Result<Spec, Vec<SpecError>> {
    let shown_root = dir.display().to_string();
    let edge_path = dir.join("edge.kdl");
    if !edge_path.is_file() {
        if !dir.is_dir() {
            return Err(vec![SpecError::Io {
                path: shown_root,
                message: "not a directory".into(),
            }]);
        }
        return Err(vec![SpecError::NoEdge {
            path: edge_path.display().to_string(),
        }]);
    }
    let real_root = dir.canonicalize().map_err(|e| {
        vec![SpecError::Io {
            path: shown_root.clone(),
            message: e.to_string(),
        }]
    })?;
    load_from(&Dir {
        dir,
        real_root,
        shown_root,
    })
}

/// Decode spec files held in memory (relative path → bytes; `edge.kdl` first, `env/*.kdl`, and
/// what they `include`), exactly as [`load`] decodes a directory holding them.
pub fn load_files(files: &[(String, Vec<u8>)]) -> Result<Spec, Vec<SpecError>> {
    if !files.iter().any(|(rel, _)| rel == "edge.kdl") {
        return Err(vec![SpecError::NoEdge {
            path: "edge.kdl".into(),
        }]);
    }
    load_from(&Memory(files))
}

fn load_from(src: &dyn Source) -> Result<Spec, Vec<SpecError>> {
    let mut spec = Spec::default();
    let mut errors = Vec::new();
    let mut queue: Vec<(String, Option<At>)> = vec![("edge.kdl".to_string(), None)];
    queue.extend(src.env_files(&mut errors).into_iter().map(|n| (n, None)));
    let mut loaded: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    let mut i = 0;
    // Rounds: read every queued file, parse them in parallel (KDL parsing dominates the time of
    // a large build), then decode in queue order; includes found are the next round.
    while i < queue.len() {
        let mut round: Vec<(SourceFile, Option<At>)> = Vec::new();
        while i < queue.len() {
            let (rel, included_at) = queue[i].clone();
            i += 1;
            if !loaded.insert(rel.clone()) {
                if let Some(at) = included_at {
                    errors.push(SpecError::at(
                        spec.src(at),
                        at.span,
                        Problem::BadInclude {
                            path: rel.clone(),
                            reason: "this file is already loaded".into(),
                        },
                    ));
                }
                continue;
            }
            let shown = src.shown(&rel);
            let bytes = match src.read(&rel) {
                Ok(b) => b,
                Err(message) => {
                    match included_at {
                        Some(at) => errors.push(SpecError::at(
                            spec.src(at),
                            at.span,
                            Problem::BadInclude {
                                path: rel.clone(),
                                reason: message,
                            },
                        )),
                        None => errors.push(SpecError::Io {
                            path: shown,
                            message,
                        }),
                    }
                    continue;
                }
            };
            let file = SourceFile::new(rel, shown, bytes);
            round.push((file, included_at));
        }
        // A file the KDL parser would take exponential time on is not given to it.
        let empty = Arc::new(String::new());
        let texts: Vec<Arc<String>> = round
            .iter()
            .map(
                |(f, _)| match super::guard::too_many_slashdashed_blocks(&f.text) {
                    Some(span) => {
                        errors.push(SpecError::at(
                        f.named(),
                        span,
                        Problem::Syntax {
                            message: format!(
                                "more than {} slashdashed children blocks (`/-{{`) in one file",
                                super::guard::MAX_SLASHDASHED_BLOCKS
                            ),
                            label: "one too many".into(),
                            help: Some(
                                "the KDL parser takes exponential time on nested ones; comment \
                                 out the outer block only (`/-` on it hides everything inside), \
                                 or delete what is commented out"
                                    .into(),
                            ),
                        },
                    ));
                        empty.clone()
                    }
                    None => f.text.clone(),
                },
            )
            .collect();
        let parsed = parse_all(&texts);
        for ((file, _), parsed) in round.into_iter().zip(parsed) {
            let index = spec.files.len();
            spec.files.push(file);
            let includes = decode::decode_file(&mut spec, index, parsed, &mut errors);
            for inc in includes {
                match normalize_include(&inc.value) {
                    Ok(rel) => queue.push((rel, Some(inc.at))),
                    Err(reason) => errors.push(SpecError::at(
                        spec.src(inc.at),
                        inc.at.span,
                        Problem::BadInclude {
                            path: inc.value.clone(),
                            reason,
                        },
                    )),
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(spec)
    } else {
        Err(errors)
    }
}

/// The env files (`env/*.kdl`, relative to `dir`), sorted; none when there is no `env/`.
fn env_files(dir: &Path, errors: &mut Vec<SpecError>) -> Vec<String> {
    let env_dir = dir.join("env");
    let mut names: Vec<String> = Vec::new();
    if !env_dir.is_dir() {
        return names;
    }
    match std::fs::read_dir(&env_dir) {
        Ok(rd) => {
            for entry in rd.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.ends_with(".kdl") && entry.path().is_file() {
                    names.push(format!("env/{name}"));
                }
            }
        }
        Err(e) => errors.push(SpecError::Io {
            path: env_dir.display().to_string(),
            message: e.to_string(),
        }),
    }
    names.sort();
    names
}

/// Parse KDL texts, on every core when there are many.
fn parse_all(texts: &[Arc<String>]) -> Vec<Result<kdl::KdlDocument, kdl::KdlError>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if texts.len() < 8 || threads < 2 {
        return texts
            .iter()
            .map(|t| kdl::KdlDocument::parse_v2(t))
            .collect();
    }
    let chunk = texts.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = texts
            .chunks(chunk)
            .map(|c| {
                s.spawn(move || {
                    c.iter()
                        .map(|t| kdl::KdlDocument::parse_v2(t))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// Read a spec file: a regular UTF-8 file inside the specs directory, of bounded size.
fn read_limited(real_root: &Path, path: &Path) -> Result<Vec<u8>, String> {
    // A symlink may not lead out of the specs directory: includes cannot, so links cannot.
    let real = path.canonicalize().map_err(|e| e.to_string())?;
    if !real.starts_with(real_root) {
        return Err(format!(
            "resolves to {}, outside the specs directory",
            real.display()
        ));
    }
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!(
            "{} bytes is larger than the {MAX_FILE_BYTES}-byte limit",
            meta.len()
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    if std::str::from_utf8(&bytes).is_err() {
        return Err("not valid UTF-8".into());
    }
    Ok(bytes)
}

/// An include path relative to the specs root, `/`-separated, never escaping it.
pub(super) fn normalize_include(raw: &str) -> Result<String, String> {
    if raw.is_empty() || raw.contains(['\0', '\\']) || raw.chars().any(char::is_control) {
        return Err("not a usable relative path".into());
    }
    let p = PathBuf::from(raw);
    if p.is_absolute() {
        return Err("must be relative to the specs directory".into());
    }
    let mut parts = Vec::new();
    for c in raw.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err("must not leave the specs directory".into()),
            c => parts.push(c),
        }
    }
    if !raw.ends_with(".kdl") {
        return Err("spec files end in `.kdl`".into());
    }
    Ok(parts.join("/"))
}
