//! The entry points of the coverage-guided fuzz targets (`fuzz/`, cargo-fuzz), shared with the
//! test that replays their committed corpus (`tests/integration/corpus.rs`) so a target that
//! stops compiling, or an input that once crashed, is caught by the ordinary suite.
//!
//! Input: spec text split into files on lines `//--file--` (the first part is `edge.kdl`, the
//! next ones `env/a.kdl`, `env/b.kdl`, `extra.kdl` — reachable through `include "extra.kdl"`),
//! loaded in memory the way `edgeplan check` loads a specs directory holding them
//! ([`crate::spec::load_files`]). Whatever the bytes, loading, checking, rendering, routing and
//! printing the diagnostics must not panic. See `docs/fuzzing.md`.

/// The separator between the files of one input.
pub const FILE_SEPARATOR: &[u8] = b"\n//--file--\n";

/// The file names the parts of an input go to, in order.
pub const FILE_NAMES: [&str; 4] = ["edge.kdl", "env/a.kdl", "env/b.kdl", "extra.kdl"];

/// The parts of `data` by [`FILE_SEPARATOR`], at most [`FILE_NAMES`] of them (the last keeps
/// any further separators).
pub fn split(data: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut rest = data;
    while parts.len() + 1 < FILE_NAMES.len() {
        match rest
            .windows(FILE_SEPARATOR.len())
            .position(|w| w == FILE_SEPARATOR)
        {
            Some(i) => {
                parts.push(&rest[..i]);
                rest = &rest[i + FILE_SEPARATOR.len()..];
            }
            None => break,
        }
    }
    parts.push(rest);
    parts
}

/// The spec files of `data` ([`split`]).
fn files(data: &[u8]) -> Vec<(String, Vec<u8>)> {
    FILE_NAMES
        .iter()
        .zip(split(data))
        .map(|(name, part)| (name.to_string(), part.to_vec()))
        .collect()
}

/// The `load` target: decode and check `data` as spec files (in memory, as `edgeplan check`
/// reads a directory holding them) — the loader and validator alone, fast, so the fuzzer gets
/// millions of runs. A failure must report at least one problem.
pub fn check_bytes(data: &[u8]) {
    match crate::spec::load_files(&files(data)) {
        Err(errors) => assert!(!errors.is_empty(), "a failed decode reports a problem"),
        Ok(spec) => {
            if let Err(errors) = crate::validate::validate(&spec) {
                assert!(!errors.is_empty(), "a failed check reports a problem");
            }
        }
    }
}

/// The `pipeline` target, and what the suite replays the corpus through: [`check_bytes`], then
/// the diagnostics rendered as text and JSON, or the edge rendered with the embedded templates
/// and routed by `route` for requests to its hosts. Panics only on a bug — which is what the
/// fuzzer looks for.
pub fn load_bytes(data: &[u8]) {
    check_bytes(data);
    let loaded = crate::spec::load_files(&files(data))
        .map_err(crate::diag::Problems::from_spec)
        .and_then(|spec| {
            let edge =
                crate::validate::validate(&spec).map_err(crate::diag::Problems::from_validate)?;
            Ok(crate::Loaded {
                spec,
                edge,
                templates: crate::render::Templates::embedded(),
            })
        })
        .and_then(|loaded| loaded.build(&[]));
    match loaded {
        Err(problems) => {
            assert!(!problems.0.is_empty(), "a failed load reports a problem");
            let text = crate::diag::render_text(&problems, false, 80);
            assert!(text.ends_with("found\n"), "{text}");
            let json = crate::diag::render_json(&problems);
            assert!(
                serde_json::from_str::<serde_json::Value>(&json).is_ok(),
                "{json}"
            );
        }
        Ok(build) => {
            let routing = crate::rules::routing(&build.edge, &build.colors);
            let hosts = build
                .edge
                .envs
                .values()
                .flat_map(|e| e.hosts.iter())
                .take(8);
            for host in hosts {
                for scheme in ["http", "https"] {
                    let url = format!("{scheme}://{host}/api/x?y=1");
                    if let Ok(req) = crate::route::Request::parse(&url, &[], &[]) {
                        let _ = crate::route::explain(&routing, &req);
                    }
                }
            }
        }
    }
}
