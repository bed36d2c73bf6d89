//! The output tree: rendered files at their paths on the box under an out dir, plus
//! `manifest.json` (format version, edgeplan version, input and tree hash, and per file its
//! path, mode, size and blake3).
//!
//! Writing is idempotent and safe: nothing is touched when the manifest's input hash matches
//! and every listed file is intact; otherwise only changed files are written, each atomically
//! (temp file in the same directory, mode set explicitly, rename), files that the previous
//! manifest owned and that are no longer rendered are removed, and the manifest is written
//! last. A file the manifest does not own is never touched.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path};

use miette::Diagnostic;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::hash;
use crate::render::Rendered;

/// Version of the manifest format.
pub const FORMAT_VERSION: u32 = 1;
/// Name of the manifest in the out dir.
pub const MANIFEST: &str = "manifest.json";

/// One file of the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path relative to the box root (`etc/haproxy/haproxy.cfg`).
    pub path: String,
    /// Mode as four octal digits (`0644`).
    pub mode: String,
    /// Size in bytes.
    pub size: u64,
    /// blake3 of the content, hex.
    pub blake3: String,
}

impl FileEntry {
    /// The mode as a number.
    pub fn mode_bits(&self) -> Option<u32> {
        u32::from_str_radix(&self.mode, 8)
            .ok()
            .filter(|m| *m <= 0o7777)
    }
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// edgeplan version that rendered the tree.
    pub edgeplan_version: String,
    /// Hash of every input.
    pub input_hash: String,
    /// Hash of the rendered tree.
    pub tree_hash: String,
    /// Active colour per env that the tree was rendered with.
    #[serde(default)]
    pub colors: BTreeMap<String, String>,
    /// Files, sorted by path.
    pub files: Vec<FileEntry>,
}

impl Manifest {
    /// The manifest of a rendered tree.
    pub fn of(rendered: &Rendered, input_hash: &str, colors: BTreeMap<String, String>) -> Manifest {
        let files: Vec<FileEntry> = rendered
            .files
            .iter()
            .map(|(path, f)| FileEntry {
                path: path.clone(),
                mode: format!("{:04o}", f.mode),
                size: f.content.len() as u64,
                blake3: hash::content_hash(&f.content),
            })
            .collect();
        let tree_hash = tree_hash_of(&files);
        Manifest {
            format_version: FORMAT_VERSION,
            edgeplan_version: env!("CARGO_PKG_VERSION").to_string(),
            input_hash: input_hash.to_string(),
            tree_hash,
            colors,
            files,
        }
    }

    /// Parse and check a manifest (paths must stay inside the tree).
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let m: Manifest = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if m.format_version != FORMAT_VERSION {
            return Err(format!(
                "format_version {} is not supported (expected {FORMAT_VERSION})",
                m.format_version
            ));
        }
        for f in &m.files {
            if !is_safe_rel(&f.path) {
                return Err(format!("file path `{}` leaves the tree", f.path));
            }
            if f.mode_bits().is_none() {
                return Err(format!(
                    "file `{}` has an invalid mode `{}`",
                    f.path, f.mode
                ));
            }
        }
        if tree_hash_of(&m.files) != m.tree_hash {
            return Err("tree_hash does not match the listed files".into());
        }
        Ok(m)
    }

    /// Pretty JSON with a trailing newline (stable bytes).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }
}

fn tree_hash_of(files: &[FileEntry]) -> String {
    hash::tree_hash(files.iter().map(|f| {
        (
            f.path.as_str(),
            f.mode_bits().unwrap_or(0),
            f.blake3.as_str(),
        )
    }))
}

/// A relative path with only normal components.
pub fn is_safe_rel(p: &str) -> bool {
    !p.is_empty()
        && Path::new(p)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
        && !p.contains('\\')
}

/// A problem with the out dir.
#[derive(Debug, Error, Diagnostic)]
pub enum OutputError {
    /// Reading or writing failed.
    #[error("{action} {path}: {message}")]
    #[diagnostic(code(edgeplan::output::io))]
    Io {
        /// What was attempted.
        action: &'static str,
        /// Path.
        path: String,
        /// OS message.
        message: String,
    },
    /// The out dir is not what would be rendered.
    #[error("{dir} is stale: {count} difference(s)\n{summary}")]
    #[diagnostic(
        code(edgeplan::output::stale),
        help("run `edgeplan build` and commit the result")
    )]
    Stale {
        /// Out dir.
        dir: String,
        /// Count.
        count: usize,
        /// One line per difference.
        summary: String,
    },
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl Fn(std::io::Error) -> OutputError + 'a {
    move |e| OutputError::Io {
        action,
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// What a write did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// Nothing needed writing.
    pub unchanged: bool,
    /// Files written (new or changed).
    pub written: Vec<String>,
    /// Files removed (owned by the old manifest, no longer rendered).
    pub removed: Vec<String>,
}

/// The manifest currently in `out`, if it exists and is valid.
pub fn read_manifest(out: &Path) -> Option<Manifest> {
    let text = std::fs::read_to_string(out.join(MANIFEST)).ok()?;
    Manifest::parse(&text).ok()
}

/// Does `path` hold exactly this content and mode?
fn intact(path: &Path, entry: &FileEntry) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    if !meta.is_file()
        || meta.len() != entry.size
        || Some(meta.permissions().mode() & 0o7777) != entry.mode_bits()
    {
        return false;
    }
    std::fs::read(path)
        .map(|b| hash::content_hash(&b) == entry.blake3)
        .unwrap_or(false)
}

/// Write `content` to `path` atomically with `mode`: readers see the old or the new file, never
/// a part. (Not fsynced: an out dir is reproducible, and the box side syncs on its own.)
pub fn write_atomic(path: &Path, content: &[u8], mode: u32) -> Result<(), OutputError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".edgeplan-")
        .tempfile_in(dir)
        .map_err(io("cannot create a temp file in", dir))?;
    tmp.write_all(content).map_err(io("cannot write", path))?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(io("cannot set the mode of", path))?;
    tmp.persist(path)
        .map_err(|e| io("cannot rename into", path)(e.error))?;
    Ok(())
}

/// Bring `out` to exactly `rendered` + its manifest.
pub fn write(
    out: &Path,
    rendered: &Rendered,
    manifest: &Manifest,
) -> Result<WriteReport, OutputError> {
    let old = read_manifest(out);
    if old.as_ref() == Some(manifest)
        && manifest.files.iter().all(|f| intact(&out.join(&f.path), f))
    {
        return Ok(WriteReport {
            unchanged: true,
            ..Default::default()
        });
    }
    let mut report = WriteReport::default();
    for (entry, (path, file)) in manifest.files.iter().zip(&rendered.files) {
        let dest = out.join(path);
        if !intact(&dest, entry) {
            write_atomic(&dest, &file.content, file.mode)?;
            report.written.push(path.clone());
        }
    }
    if let Some(old) = &old {
        for f in &old.files {
            if rendered.files.contains_key(&f.path) {
                continue;
            }
            let p = out.join(&f.path);
            match std::fs::remove_file(&p) {
                Ok(()) => report.removed.push(f.path.clone()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io("cannot remove", &p)(e)),
            }
            // Remove directories left empty, up to the out dir.
            let mut dir = p.parent();
            while let Some(d) = dir {
                if d == out || std::fs::remove_dir(d).is_err() {
                    break;
                }
                dir = d.parent();
            }
        }
    }
    let mpath = out.join(MANIFEST);
    let json = manifest.to_json();
    if std::fs::read_to_string(&mpath).ok().as_deref() != Some(json.as_str()) {
        write_atomic(&mpath, json.as_bytes(), 0o644)?;
    }
    Ok(report)
}

/// Differences between `out` and what would be rendered, one line each (`~ path: why`).
pub fn diff(out: &Path, rendered: &Rendered, manifest: &Manifest) -> Vec<String> {
    let mut lines = Vec::new();
    for entry in &manifest.files {
        let p = out.join(&entry.path);
        if !p.exists() {
            lines.push(format!("+ {} (missing)", entry.path));
        } else if !intact(&p, entry) {
            let why = match std::fs::read(&p) {
                Ok(b) if hash::content_hash(&b) == entry.blake3 => "mode differs",
                _ => "content differs",
            };
            lines.push(format!("~ {} ({why})", entry.path));
        }
    }
    let old = std::fs::read_to_string(out.join(MANIFEST)).ok();
    if let Some(old) = old.as_deref().and_then(|t| Manifest::parse(t).ok()) {
        for f in &old.files {
            if !rendered.files.contains_key(&f.path) && out.join(&f.path).exists() {
                lines.push(format!("- {} (no longer rendered)", f.path));
            }
        }
    }
    if old.as_deref() != Some(manifest.to_json().as_str()) {
        lines.push(format!("~ {MANIFEST} (differs)"));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::RenderedFile;

    fn rendered(files: &[(&str, &str)]) -> Rendered {
        Rendered {
            files: files
                .iter()
                .map(|(p, c)| {
                    (
                        p.to_string(),
                        RenderedFile {
                            mode: 0o644,
                            content: c.as_bytes().to_vec(),
                        },
                    )
                })
                .collect(),
            checks: Default::default(),
        }
    }

    #[test]
    fn writes_then_noop_then_removes_only_owned_files() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        let r1 = rendered(&[("etc/a.cfg", "one"), ("etc/x/b.txt", "two")]);
        let m1 = Manifest::of(&r1, "h1", BTreeMap::new());
        let rep = write(out, &r1, &m1).unwrap();
        assert_eq!(rep.written.len(), 2);
        std::fs::write(out.join("etc/mine.txt"), "not owned").unwrap();
        assert!(write(out, &r1, &m1).unwrap().unchanged);
        assert!(diff(out, &r1, &m1).is_empty());

        let r2 = rendered(&[("etc/a.cfg", "one!")]);
        let m2 = Manifest::of(&r2, "h2", BTreeMap::new());
        assert_eq!(diff(out, &r2, &m2).len(), 3, "{:?}", diff(out, &r2, &m2));
        let rep = write(out, &r2, &m2).unwrap();
        assert_eq!(rep.written, ["etc/a.cfg"]);
        assert_eq!(rep.removed, ["etc/x/b.txt"]);
        assert!(!out.join("etc/x").exists(), "empty dir left behind");
        assert_eq!(
            std::fs::read_to_string(out.join("etc/mine.txt")).unwrap(),
            "not owned"
        );
    }

    #[test]
    fn tampered_file_is_rewritten_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let r = rendered(&[("a", "x")]);
        let m = Manifest::of(&r, "h", BTreeMap::new());
        write(dir.path(), &r, &m).unwrap();
        std::fs::write(dir.path().join("a"), "y").unwrap();
        assert_eq!(diff(dir.path(), &r, &m), ["~ a (content differs)"]);
        std::fs::set_permissions(dir.path().join("a"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
        assert_eq!(write(dir.path(), &r, &m).unwrap().written, ["a"]);
        assert!(diff(dir.path(), &r, &m).is_empty());
    }

    #[test]
    fn manifest_refuses_paths_outside_and_bad_hashes() {
        let r = rendered(&[("a", "x")]);
        let mut m = Manifest::of(&r, "h", BTreeMap::new());
        assert_eq!(Manifest::parse(&m.to_json()).unwrap(), m);
        m.files[0].path = "../etc/passwd".into();
        assert!(Manifest::parse(&m.to_json()).is_err());
        let mut m = Manifest::of(&r, "h", BTreeMap::new());
        m.files[0].blake3 = "00".into();
        assert!(
            Manifest::parse(&m.to_json())
                .unwrap_err()
                .contains("tree_hash")
        );
    }
}
