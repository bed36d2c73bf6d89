//! A change touches only the files whose content it changes (issue 16): no rendered file names
//! the input hash, so a one-line edit of a placeholder body is one file on the box, a new
//! target block is none, and the manifest still records the new input hash.

use crate::common::Output;
use crate::edgebox::{Edgebox, env};

/// The bundled-like edge with the real templates: one env, a placeholder with `body`, a local
/// target, and `extra` (another target block…).
fn edge(body: &str, extra: &str) -> String {
    format!(
        r#"edge "scope-edge"
listen http="127.0.0.1:8080"
admin-socket "/run/admin.sock" mode="600"
placeholder "talas" status=503 {{
    hosts "talas.fr"
    body "{body}\n"
}}
target "box" {{
    local root="../box"
    validate "true"
    reload "true"
}}
{extra}"#
    )
}

fn ok(out: &Output) {
    assert_eq!(out.code, 0, "{}", out.folded());
}

/// `path → sha256` of generation `n` on the box (its `files.sha256`).
fn sums(b: &Edgebox, n: u32) -> std::collections::BTreeMap<String, String> {
    let text = std::fs::read_to_string(
        b.root()
            .join(format!("var/lib/edgeplan/generations/{n}/files.sha256")),
    )
    .unwrap();
    text.lines()
        .filter_map(|l| l.split_once("  "))
        .map(|(s, p)| (p.to_string(), s.to_string()))
        .collect()
}

#[test]
fn a_one_line_body_change_is_one_file_and_a_new_target_is_none() {
    let mut b = Edgebox::new(&[
        ("edge.kdl", &edge("Soon.", "")),
        ("env/prod.kdl", &env("prod", &["veza.fr"], "blue")),
    ]);
    b.test_template = false;
    ok(&b.run(&["apply", "--auto-approve"]));

    // One line of a placeholder body: the plan and the box change exactly that file.
    b.set_specs(&[
        ("edge.kdl", &edge("Back soon.", "")),
        ("env/prod.kdl", &env("prod", &["veza.fr"], "blue")),
    ]);
    let plan = b.run(&["plan", "--format", "json"]);
    ok(&plan);
    let v: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let paths: Vec<&str> = v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        ["etc/haproxy/errors/talas_backend.txt"],
        "{}",
        plan.stdout
    );
    let out = b.run(&["apply", "--auto-approve"]);
    ok(&out);
    assert!(
        out.stdout
            .contains("Plan: 0 to add, 1 to change, 0 to destroy."),
        "{}",
        out.stdout
    );
    let (one, two) = (sums(&b, 1), sums(&b, 2));
    let differ: Vec<&String> = two.keys().filter(|p| one.get(*p) != two.get(*p)).collect();
    assert_eq!(differ, ["etc/haproxy/errors/talas_backend.txt"]);
    assert_eq!(one.len(), two.len());
    // The manifest still records the new input.
    let manifest = std::fs::read_to_string(
        b.root()
            .join("var/lib/edgeplan/generations/2/manifest.json"),
    )
    .unwrap();
    let hash = b.run(&["hash"]);
    ok(&hash);
    assert!(manifest.contains(hash.stdout.trim()), "{manifest}");

    // A new target block changes nothing on this box.
    b.set_specs(&[
        (
            "edge.kdl",
            &edge(
                "Back soon.",
                "target \"other\" {\n    ssh host=\"edge2.veza.fr\"\n}\n",
            ),
        ),
        ("env/prod.kdl", &env("prod", &["veza.fr"], "blue")),
    ]);
    let plan = b.run(&["plan", "--target", "box", "--format", "json"]);
    ok(&plan);
    let v: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    assert_eq!(v["summary"]["has_changes"], false, "{}", plan.stdout);
}
