//! The documentation's examples run, so the docs cannot drift from the binary:
//! - every KDL block of `docs/*.md` marked `<!-- check: ok -->` or `<!-- check: CODE -->` goes
//!   through `edgeplan check` and must pass, or fail with that diagnostic code. The examples are
//!   written in the context of the smallest valid spec (env `demo` serving `example.org`, docs/spec.md
//!   "Files"): a block that defines neither `env "demo"` nor a whole edge is checked with it
//!   ([`DEMO`]);
//! - every `$ edgeplan …` transcript in a text block of `docs/route.md` is run against the
//!   bundled specs and must print exactly what the block shows; every command of its `sh`
//!   examples must succeed.

use crate::common::{Test, repo};

/// The smallest valid spec, the context of the examples.
const DEMO: &str = "env \"demo\" {\n    hosts \"example.org\"\n    \
                    container-pattern \"app-{component}-{color}.lxd\"\n    \
                    component \"web\" port=3000\n}\n";

/// (file, line, expectation, KDL) of every marked block.
fn marked_blocks() -> Vec<(String, usize, String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(repo().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "md") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let mut i = 0;
        while i < lines.len() {
            if let Some(want) = lines[i]
                .trim()
                .strip_prefix("<!-- check: ")
                .and_then(|r| r.strip_suffix(" -->"))
            {
                assert_eq!(
                    lines.get(i + 1).map(|l| l.trim()),
                    Some("```kdl"),
                    "{}:{}: a check marker must be followed by a ```kdl block",
                    path.display(),
                    i + 1
                );
                let start = i + 2;
                let end = start
                    + lines[start..]
                        .iter()
                        .position(|l| l.trim() == "```")
                        .expect("unterminated block");
                out.push((
                    path.file_name().unwrap().to_string_lossy().into_owned(),
                    i + 1,
                    want.to_string(),
                    lines[start..end].join("\n") + "\n",
                ));
                i = end;
            }
            i += 1;
        }
    }
    out
}

#[test]
fn every_checked_example_of_the_docs_checks_as_marked() {
    let blocks = marked_blocks();
    assert!(blocks.len() >= 40, "only {} marked blocks", blocks.len());
    let mut failures = Vec::new();
    for (file, line, want, kdl) in &blocks {
        let mut text = String::new();
        // A whole edge (`edge NAME` …) stands alone.
        if !kdl
            .lines()
            .any(|l| l.starts_with("env \"demo\"") || l.starts_with("edge \""))
        {
            text += DEMO;
        }
        text += kdl;
        let t = Test::new().spec("edge.kdl", &text);
        // Fragments that include other files: the files exist, empty.
        for l in kdl.lines().filter(|l| l.starts_with("include ")) {
            for f in l.split('"').skip(1).step_by(2) {
                let p = t.path().join("specs").join(f);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(p, "").unwrap();
            }
        }
        let out = t.args(["check"]).run();
        let ok = match want.as_str() {
            "ok" => out.code == 0,
            code => out.code == 1 && out.stderr.contains(code),
        };
        if !ok {
            failures.push(format!(
                "docs/{file}:{line}: expected `{want}`, got exit {}:\n{}\n{}",
                out.code,
                text,
                out.folded()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} examples:\n{}",
        failures.len(),
        blocks.len(),
        failures.join("\n")
    );
}

#[test]
fn every_route_transcript_of_the_docs_is_what_the_binary_prints() {
    let text = std::fs::read_to_string(repo().join("docs/route.md")).unwrap();
    let mut transcripts = 0;
    let mut commands = 0;
    let mut failures = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(l) = lines.next() {
        match l.trim() {
            "```" => {
                let block: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
                let Some(cmd) = block.first().and_then(|f| f.strip_prefix("$ edgeplan ")) else {
                    continue;
                };
                transcripts += 1;
                let args = shlex::split(cmd).expect("a shell-quoted command");
                let out = Test::bundled().args(args).run();
                let want = block[1..].join("\n") + "\n";
                if out.code != 0 || out.stdout != want {
                    failures.push(format!(
                        "`{cmd}` (exit {}):\n--- docs\n{want}--- binary\n{}{}",
                        out.code, out.stdout, out.stderr
                    ));
                }
            }
            "```sh" => {
                for c in lines.by_ref().take_while(|l| l.trim() != "```") {
                    let Some(cmd) = c.strip_prefix("edgeplan route ") else {
                        continue;
                    };
                    commands += 1;
                    let mut args = vec!["route".to_string()];
                    args.extend(shlex::split(cmd).expect("a shell-quoted command"));
                    let out = Test::bundled().args(args).run();
                    if out.code != 0 {
                        failures.push(format!("`edgeplan route {cmd}`: {}", out.folded()));
                    }
                }
            }
            _ => {}
        }
    }
    assert!(
        transcripts >= 2 && commands >= 5,
        "{transcripts} transcripts, {commands} commands"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
