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

use crate::output::Manifest;
use crate::plan::{CONFIG_PATH, sha256_hex};
use crate::render::Rendered;

/// Placeholder for the staged tree's absolute path in `check.in` and `units.in/`.
pub const TREE_PLACEHOLDER: &str = "@EDGEPLAN_TREE@";

/// Where systemd units are rendered (relative to the box root).
const UNIT_DIR: &str = crate::layout::UNIT_DIR.rel();

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
    if let Some(cfg) = rendered.files.get(CONFIG_PATH) {
        let text = String::from_utf8_lossy(&cfg.content);
        let others: Vec<&str> = rendered
            .files
            .keys()
            .map(String::as_str)
            .filter(|p| *p != CONFIG_PATH)
            .collect();
        add("check.in", 0o644, check_config(&text, &others).as_bytes());
    }
    let paths: Vec<&str> = rendered.files.keys().map(String::as_str).collect();
    for (path, f) in &rendered.files {
        if let Some(name) = path
            .strip_prefix(UNIT_DIR)
            .and_then(|p| p.strip_prefix('/'))
            && !name.contains('/')
        {
            let text = String::from_utf8_lossy(&f.content);
            add(
                &format!("units.in/{name}"),
                0o644,
                check_config(&text, &paths).as_bytes(),
            );
        }
    }
    b.into_inner().unwrap_or_default()
}

/// The config with each whole-token `/PATH` of `paths` prefixed with [`TREE_PLACEHOLDER`].
pub fn check_config(config: &str, paths: &[&str]) -> String {
    let mut out = String::with_capacity(config.len());
    let mut rest = config;
    let boundary_before = |prev: Option<char>| {
        prev.is_none_or(|c| c.is_whitespace() || c == '"' || c == '\'' || c == '=')
    };
    let boundary_after =
        |next: Option<char>| next.is_none_or(|c| c.is_whitespace() || c == '"' || c == '\'');
    'scan: while let Some(i) = rest.find('/') {
        let prev = if i == 0 {
            out.chars().last()
        } else {
            rest[..i].chars().last()
        };
        if boundary_before(prev) {
            for p in paths {
                let token = &rest[i + 1..];
                if let Some(after) = token.strip_prefix(p)
                    && boundary_after(after.chars().next())
                {
                    out.push_str(&rest[..i]);
                    out.push_str(TREE_PLACEHOLDER);
                    out.push('/');
                    out.push_str(p);
                    rest = after;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_paths_of_the_generation_are_redirected() {
        let cfg = "  http-request return status 503 file /etc/haproxy/errors/a.txt hdr X y\n\
                   errorfile 503 \"/etc/haproxy/errors/a.txt\"\n\
                   bind :443 ssl crt /etc/haproxy/certs/\n\
                   x /etc/haproxy/errors/a.txt.bak /other/etc/haproxy/errors/a.txt\n";
        let out = check_config(cfg, &["etc/haproxy/errors/a.txt"]);
        assert_eq!(
            out,
            "  http-request return status 503 file @EDGEPLAN_TREE@/etc/haproxy/errors/a.txt hdr X y\n\
             errorfile 503 \"@EDGEPLAN_TREE@/etc/haproxy/errors/a.txt\"\n\
             bind :443 ssl crt /etc/haproxy/certs/\n\
             x /etc/haproxy/errors/a.txt.bak /other/etc/haproxy/errors/a.txt\n"
        );
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
