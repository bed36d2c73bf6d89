//! A generation as it is uploaded to the box: one tar stream holding the rendered files under
//! `tree/`, the build's `manifest.json`, the `model.json` summary for later plans,
//! `files.sha256` (what the box checks the upload and later drift against, with `sha256sum`),
//! `modes`, `check.in` — the main config as the validate command reads it — and
//! `units.in/NAME` for each systemd unit (not drop-ins) — the unit as `systemd-analyze verify`
//! reads it.
//!
//! `check.in` is the config with every path of a file of *this* generation (an error page…)
//! pointing into the staged tree (`@EDGEPLAN_TREE@/etc/haproxy/errors/x.txt`, filled in on the
//! box), so that validation sees the staged files, not the active ones, while everything else —
//! certificates, sockets, the command and its flags — is exactly what the service uses. The units
//! get the same treatment: a unit running a helper of this generation
//! (`/usr/local/lib/edgeplan/…`) is verified against the staged helper, which is not on the
//! live box yet; everything else (`/usr/bin/certbot`, `sysinit.target`…) is the live box's.
//! These check copies are rendered by the templates themselves
//! ([`crate::render::Rendered::checks`]: the same template with `tree` set to the placeholder);
//! nothing here rewrites config text.

use crate::output::Manifest;
use crate::plan::{CONFIG_PATH, sha256_hex};
use crate::render::Rendered;

pub use crate::layout::TREE_PLACEHOLDER;

/// The tar stream of a generation.
pub fn package(manifest: &Manifest, rendered: &Rendered, model_json: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, mode: u32, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        // Writing into a Vec cannot fail; a path the header cannot hold was refused when the
        // manifest was parsed or rendered.
        let _ = b.append_data(&mut h, path, data);
    };
    let mut sums = String::new();
    let mut modes = String::new();
    for (path, f) in &rendered.files {
        add(&format!("tree/{path}"), f.mode, &f.content);
        sums += &format!("{}  {path}\n", sha256_hex(&f.content));
        modes += &format!("{:04o} {path}\n", f.mode);
    }
    add("manifest.json", 0o644, manifest.to_json().as_bytes());
    add("model.json", 0o644, model_json.as_bytes());
    add("files.sha256", 0o644, sums.as_bytes());
    add("modes", 0o644, modes.as_bytes());
    for (path, text) in &rendered.checks {
        if path == CONFIG_PATH {
            add("check.in", 0o644, text);
        } else if let Some(name) = path.rsplit('/').next() {
            add(&format!("units.in/{name}"), 0o644, text);
        }
    }
    b.into_inner().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The token scan that made the check copies before the templates did: every whole-token
    /// `/PATH` of a file of the generation prefixed with the placeholder. Kept here as the
    /// oracle the template-rendered copies must equal.
    fn scanned(config: &str, paths: &[&str]) -> String {
        let mut out = String::with_capacity(config.len());
        let mut rest = config;
        let before = |p: Option<char>| {
            p.is_none_or(|c| c.is_whitespace() || c == '"' || c == '\'' || c == '=')
        };
        let after = |n: Option<char>| n.is_none_or(|c| c.is_whitespace() || c == '"' || c == '\'');
        'scan: while let Some(i) = rest.find('/') {
            let prev = if i == 0 {
                out.chars().last()
            } else {
                rest[..i].chars().last()
            };
            if before(prev) {
                for p in paths {
                    if let Some(tail) = rest[i + 1..].strip_prefix(p)
                        && after(tail.chars().next())
                    {
                        out.push_str(&rest[..i]);
                        out.push_str(TREE_PLACEHOLDER);
                        out.push('/');
                        out.push_str(p);
                        rest = tail;
                        continue 'scan;
                    }
                }
            }
            out.push_str(&rest[..=i]);
            rest = &rest[i + 1..];
        }
        out.push_str(rest);
        out
    }

    /// For the bundled specs and every valid fixture: the config and each unit have a check
    /// copy, and it is exactly the file with every path of the generation pointing into the
    /// staged tree (and nothing else changed).
    #[test]
    fn check_copies_point_every_path_of_the_generation_into_the_staged_tree() {
        let mut dirs = vec![std::path::PathBuf::from("specs")];
        for e in std::fs::read_dir("tests/specs/valid").unwrap() {
            dirs.push(e.unwrap().path());
        }
        let mut units = 0;
        for dir in dirs {
            let build = crate::build(&crate::BuildOptions {
                specs: dir.clone(),
                templates: None,
                colors: Vec::new(),
            })
            .unwrap();
            let r = &build.rendered;
            let paths: Vec<&str> = r.files.keys().map(String::as_str).collect();
            let want: Vec<&String> = r
                .files
                .keys()
                .filter(|p| crate::render::has_check_copy(p))
                .collect();
            assert_eq!(r.checks.keys().collect::<Vec<_>>(), want, "{dir:?}");
            for (path, check) in &r.checks {
                let file = String::from_utf8_lossy(&r.files[path].content).into_owned();
                let others: Vec<&str> = if path == CONFIG_PATH {
                    paths
                        .iter()
                        .copied()
                        .filter(|p| *p != CONFIG_PATH)
                        .collect()
                } else {
                    units += 1;
                    paths.clone()
                };
                assert_eq!(
                    String::from_utf8_lossy(check),
                    scanned(&file, &others),
                    "{dir:?} {path}"
                );
            }
        }
        assert!(units > 0, "some spec renders units");
    }

    #[test]
    fn package_lists_every_file() {
        let mut r = Rendered::default();
        r.files.insert(
            CONFIG_PATH.into(),
            crate::render::RenderedFile {
                mode: 0o644,
                content: b"file /etc/e.txt\n".to_vec(),
            },
        );
        r.checks.insert(
            CONFIG_PATH.into(),
            b"file @EDGEPLAN_TREE@/etc/e.txt\n".to_vec(),
        );
        r.files.insert(
            "etc/e.txt".into(),
            crate::render::RenderedFile {
                mode: 0o600,
                content: b"x".to_vec(),
            },
        );
        let m = Manifest::of(&r, "h", Default::default());
        let tar = package(&m, &r, "{}");
        let mut a = tar::Archive::new(tar.as_slice());
        let names: Vec<String> = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "tree/etc/e.txt",
                "tree/etc/haproxy/haproxy.cfg",
                "manifest.json",
                "model.json",
                "files.sha256",
                "modes",
                "check.in"
            ]
        );
    }
}
