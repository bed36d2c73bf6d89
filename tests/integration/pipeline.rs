//! Whole-pipeline properties over generated valid specs ([`crate::specgen`]): `check` accepts them,
//! `build` succeeds, rebuilding gives byte-identical files, the same nodes spread over the files
//! differently (all in `edge.kdl`, top-level nodes in reverse order) give the same tree, and
//! **real `haproxy -c`** accepts the rendered config (paths localised as the live harness does).
//!
//! Cases per run: `EDGEPLAN_GEN_CASES` (default 200 in the suite; a soak sets thousands); the
//! seed is printed (`EDGEPLAN_GEN_SEED` repeats a run). Failures shrink to a minimal spec, printed, and are persisted in
//! `tests/proptest-regressions/` (committed), so a found case is re-run first, forever.

use std::path::Path;

use proptest::test_runner::{Config, FileFailurePersistence, RngSeed, TestCaseError, TestRunner};

use crate::live::{Build, Mode, Stage};
use crate::specgen::{self, Plan};

/// Cases per run.
pub fn cases(default: u32) -> u32 {
    std::env::var("EDGEPLAN_GEN_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Write `files` under `dir`.
pub fn write(dir: &Path, files: &[(String, String)]) {
    for (rel, text) in files {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
    }
}

/// The spec as one text, for failure messages.
pub fn shown(files: &[(String, String)]) -> String {
    files.iter().map(|(r, t)| format!("// {r}\n{t}")).collect()
}

/// The same nodes in one `edge.kdl`, top-level nodes in reverse order (an `include` dropped:
/// its file's nodes are in the text).
fn merged_reversed(files: &[(String, String)]) -> Vec<(String, String)> {
    let mut nodes: Vec<String> = Vec::new();
    for (_, text) in files {
        for line in text.lines() {
            if line.starts_with("include ") {
                continue;
            }
            match nodes.last_mut() {
                Some(n) if line.starts_with(char::is_whitespace) || line == "}" => {
                    n.push_str(line);
                    n.push('\n');
                }
                _ => nodes.push(format!("{line}\n")),
            }
        }
    }
    nodes.reverse();
    vec![("edge.kdl".to_string(), nodes.concat())]
}

fn build(dir: &Path) -> Result<edgeplan::Build, String> {
    edgeplan::build(&edgeplan::BuildOptions {
        specs: dir.to_path_buf(),
        ..Default::default()
    })
    .map_err(|p| edgeplan::diag::render_text(&p, false, 100))
}

fn tree(b: &edgeplan::Build) -> Vec<(String, Vec<u8>)> {
    b.rendered
        .files
        .iter()
        .map(|(p, f)| (p.clone(), f.content.clone()))
        .collect()
}

/// The rendered tree with the input hash (which differs between spellings) masked.
fn hashed_out(b: &edgeplan::Build) -> Vec<(String, String)> {
    tree(b)
        .into_iter()
        .map(|(p, c)| {
            (
                p,
                String::from_utf8_lossy(&c).replace(&b.input_hash, "<input hash>"),
            )
        })
        .collect()
}

/// The properties for one plan; `Err` says which failed.
fn pipeline(plan: &Plan) -> Result<(), String> {
    let files = plan.files();
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    write(&a, &files);
    write(&b, &merged_reversed(&files));
    let first = build(&a).map_err(|e| format!("check refused a generated spec:\n{e}"))?;
    let again = build(&a).map_err(|e| format!("a rebuild failed:\n{e}"))?;
    if tree(&first) != tree(&again) || first.manifest.tree_hash != again.manifest.tree_hash {
        return Err("a rebuild is not byte-identical".into());
    }
    let moved = build(&b).map_err(|e| format!("the same nodes in one file fail:\n{e}"))?;
    if tree(&first) != tree(&moved) {
        let (x, y) = (tree(&first), tree(&moved));
        let differ: Vec<&String> = x
            .iter()
            .zip(y.iter())
            .filter(|(x, y)| x != y)
            .map(|(x, _)| &x.0)
            .collect();
        return Err(format!(
            "the same nodes in another file order render differently: {differ:?}"
        ));
    }
    let plain = tmp.path().join("plain");
    write(&plain, &plan.plain().files());
    let unspelled = build(&plain).map_err(|e| format!("the plain spelling fails:\n{e}"))?;
    if hashed_out(&first) != hashed_out(&unspelled) {
        return Err("another KDL spelling of the same spec renders differently".into());
    }
    let checked = Stage::new(&Build::of(&a), Mode::PathsOnly).check_offline();
    if !checked.ok {
        return Err(format!(
            "haproxy -c refused the config:\n{}",
            checked.output
        ));
    }
    Ok(())
}

/// The seed of a run: `EDGEPLAN_GEN_SEED`, else a new one (printed, so a run is reproducible).
pub fn seed() -> u64 {
    std::env::var("EDGEPLAN_GEN_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        })
}

/// A proptest runner with `cases` cases from `seed`, failures persisted beside this file.
pub fn runner(cases: u32, seed: u64) -> TestRunner {
    TestRunner::new(Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        source_file: Some(file!()),
        failure_persistence: Some(Box::new(FileFailurePersistence::SourceParallel(
            "proptest-regressions",
        ))),
        ..Config::default()
    })
}

#[test]
fn generated_specs_build_deterministically_and_haproxy_accepts_them() {
    let (cases, seed) = (cases(200), seed());
    let result = runner(cases, seed).run(&specgen::plan(), |plan| {
        pipeline(&plan)
            .map_err(|e| TestCaseError::fail(format!("{e}\nthe spec:\n{}", shown(&plan.files()))))
    });
    println!(
        "pipeline: {cases} generated specs (seed {seed}, EDGEPLAN_GEN_SEED={seed} to repeat): \
         each built twice, re-spread over the files, and checked by haproxy -c"
    );
    if let Err(e) = result {
        panic!("seed {seed}: {e}");
    }
}

/// The bundled specs and the examples' edges are configs haproxy accepts, as the box runs them
/// (paths staged, addresses kept).
#[test]
fn haproxy_accepts_the_bundled_and_example_edges() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in [
        "specs",
        "examples/veza-team/specs",
        "tests/specs/valid/listen_dual_stack",
        "tests/specs/valid/tcp_service",
        "tests/specs/valid/outside_tls",
    ] {
        let checked = Stage::new(&Build::of(&root.join(dir)), Mode::PathsOnly).check_offline();
        assert!(checked.ok, "{dir}: haproxy -c refused:\n{}", checked.output);
        // Offline, container names do not resolve (a colour joins when its container
        // appears); anything else haproxy warns about is a defect.
        let other: Vec<&String> = checked
            .warnings
            .iter()
            .filter(|w| !w.contains("could not resolve address") && !w.contains("nameserver"))
            .collect();
        assert!(other.is_empty(), "{dir}: {other:?}");
    }
}
