//! Data-driven `edgeplan check` fixtures (tracker issue 2).
//!
//! Every directory under `tests/specs/valid/` is a specs directory that must pass; every one
//! under `tests/specs/invalid/` must fail, and its `expect` file lists (one per line) the
//! diagnostic codes the output must contain. Each case is copied into a temp dir as `specs/` and
//! checked by the real binary (no colour, width 80); the folded output is a named insta snapshot
//! (`snapshots/integration__fixtures__{valid,invalid}__<case>.snap`), and the `--format json`
//! output is checked for shape; a case's optional `secret` file lists strings (passwords,
//! hashes) that neither output may show. Every case runs, and every failing case is reported at
//! the end.
//!
//! New case: create the directory (and `expect`), run
//! `INSTA_UPDATE=always cargo test --test integration fixtures`, then review the new snapshot.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{Output, Test, repo};

/// The cases of one kind, sorted by name.
fn cases(kind: &str) -> Vec<(String, PathBuf)> {
    walkdir::WalkDir::new(repo().join("tests/specs").join(kind))
        .min_depth(1)
        .max_depth(1)
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_dir())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.into_path()))
        .collect()
}

/// The codes listed in a case's `expect` file (blank lines and `#` comments skipped).
fn expected_codes(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("expect"))
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// Every diagnostic code the program defines, from the sources.
fn defined_codes() -> Vec<String> {
    let mut codes = Vec::new();
    for file in ["src/spec/error.rs", "src/validate/error.rs"] {
        let text = std::fs::read_to_string(repo().join(file)).unwrap();
        for piece in text.split("code(").skip(1) {
            if let Some(code) = piece.split(')').next()
                && code.starts_with("edgeplan::")
            {
                codes.push(code.to_string());
            }
        }
    }
    codes.sort();
    codes.dedup();
    codes
}

fn run(dir: &Path, json: bool) -> Output {
    let mut args = vec!["check"];
    if json {
        args.extend(["--format", "json"]);
    }
    Test::specs_from(dir).args(args).run()
}

/// A snapshot assertion that reports a mismatch instead of stopping the test.
fn snapshot(name: &str, output: &str) -> Result<(), String> {
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        insta::assert_snapshot!(name, output);
    }))
    .map_err(|panic| {
        let msg = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("snapshot assertion failed");
        format!(
            "snapshot `{name}` does not match: {}",
            msg.lines().next().unwrap_or("")
        )
    })
}

/// Problems of one JSON diagnostic (and its related ones) that has a label but no place.
fn unplaced(d: &Value, path: &str, problems: &mut Vec<String>) {
    if !d["label"].is_null() {
        for key in ["file", "line", "column"] {
            if d[key].is_null() {
                problems.push(format!("{path} ({}) has a label but no {key}", d["code"]));
            }
        }
    }
    if let Some(related) = d["related"].as_array() {
        for (i, r) in related.iter().enumerate() {
            unplaced(r, &format!("{path}.related[{i}]"), problems);
        }
    }
}

/// Check a whole kind of cases; every problem of every case, or nothing.
fn check_kind(kind: &str, check: impl Fn(&str, &Path) -> Vec<String>) {
    let cases = cases(kind);
    assert!(!cases.is_empty(), "no cases under tests/specs/{kind}");
    let mut failures = Vec::new();
    for (name, dir) in &cases {
        for problem in check(name, dir) {
            failures.push(format!("{kind}/{name}: {problem}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} problem(s) in {} {kind} case(s):\n  {}",
        failures.len(),
        cases.len(),
        failures.join("\n  ")
    );
}

fn no_panic(out: &Output) -> Option<String> {
    (out.stderr.contains("panicked") || out.code == 101)
        .then(|| format!("the binary panicked:\n{}", out.folded()))
}

#[test]
fn valid_specs_pass() {
    check_kind("valid", |name, dir| {
        let mut problems = Vec::new();
        let out = run(dir, false);
        problems.extend(no_panic(&out));
        if out.code != 0 {
            problems.push(format!("exit {} instead of 0:\n{}", out.code, out.folded()));
        }
        if let Err(e) = snapshot(&format!("valid__{name}"), &out.folded()) {
            problems.push(e);
        }
        let out = run(dir, true);
        match serde_json::from_str::<Value>(&out.stdout) {
            Ok(doc) if doc["ok"] == Value::Bool(true) && out.code == 0 => {}
            Ok(_) => problems.push(format!("--format json is not ok:\n{}", out.folded())),
            Err(e) => problems.push(format!(
                "--format json does not parse ({e}):\n{}",
                out.folded()
            )),
        }
        problems
    });
}

#[test]
fn invalid_specs_fail_with_expected_codes() {
    check_kind("invalid", |name, dir| {
        let mut problems = Vec::new();
        let expected = expected_codes(dir);
        if expected.is_empty() {
            problems.push("no codes in `expect`".into());
        }

        let out = run(dir, false);
        problems.extend(no_panic(&out));
        if out.code != 1 {
            problems.push(format!("exit {} instead of 1:\n{}", out.code, out.folded()));
        }
        for code in &expected {
            if !out.stderr.contains(code.as_str()) {
                problems.push(format!("`{code}` not in the output:\n{}", out.folded()));
            }
        }
        if let Err(e) = snapshot(&format!("invalid__{name}"), &out.folded()) {
            problems.push(e);
        }
        let text_out = out;

        let out = run(dir, true);
        problems.extend(no_panic(&out));
        // A case's `secret` file lists what no output may show (passwords, their hashes).
        for secret in std::fs::read_to_string(dir.join("secret"))
            .unwrap_or_default()
            .lines()
        {
            for (how, o) in [("text", &text_out), ("--format json", &out)] {
                if o.stdout.contains(secret) || o.stderr.contains(secret) {
                    problems.push(format!("{how}: the output shows the secret `{secret}`"));
                }
            }
        }
        if out.code != 1 {
            problems.push(format!("--format json: exit {} instead of 1", out.code));
        }
        let doc: Value = match serde_json::from_str(&out.stdout) {
            Ok(doc) => doc,
            Err(e) => {
                problems.push(format!(
                    "--format json does not parse ({e}):\n{}",
                    out.folded()
                ));
                return problems;
            }
        };
        if doc["ok"] != Value::Bool(false) {
            problems.push(format!(
                "--format json: `ok` is {} instead of false",
                doc["ok"]
            ));
        }
        let diagnostics = doc["diagnostics"].as_array().cloned().unwrap_or_default();
        if diagnostics.is_empty() {
            problems.push("--format json: no diagnostics".into());
        }
        for code in &expected {
            if !diagnostics.iter().any(|d| d["code"] == code.as_str()) {
                problems.push(format!("--format json: no diagnostic with code `{code}`"));
            }
        }
        for (i, d) in diagnostics.iter().enumerate() {
            unplaced(d, &format!("diagnostics[{i}]"), &mut problems);
        }
        problems
    });
}

#[test]
fn fixtures_cover_every_diagnostic_code() {
    let invalid = cases("invalid");
    assert!(invalid.len() >= 45, "only {} invalid cases", invalid.len());
    assert!(cases("valid").len() >= 5, "fewer than 5 valid cases");
    let defined = defined_codes();
    assert!(defined.len() > 20, "could not read the codes: {defined:?}");
    let mut used: Vec<String> = invalid
        .iter()
        .flat_map(|(_, dir)| expected_codes(dir))
        .collect();
    used.sort();
    used.dedup();
    let uncovered: Vec<&String> = defined.iter().filter(|c| !used.contains(c)).collect();
    let unknown: Vec<&String> = used.iter().filter(|c| !defined.contains(c)).collect();
    assert!(
        uncovered.is_empty(),
        "codes without an invalid fixture: {uncovered:?}"
    );
    assert!(
        unknown.is_empty(),
        "`expect` files name codes the program does not define: {unknown:?}"
    );
}
