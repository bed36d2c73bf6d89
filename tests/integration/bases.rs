//! Shared definitions (`base`, issue 20): an edge written with a base builds the same model as
//! the same edge written out in full, override by override (docs/spec.md, "`base`").

use crate::common::repo;

/// `tests/specs/valid/shared_base` written out without its base, as the documented rules say.
const EXPANDED: &str = r#"edge "shared-base"
listen http="*:80"
policy "noindex" {
    response-header set "X-Robots-Tag" "noindex"
}
env "staging" {
    hosts "staging.example.org"
    container-pattern "app-{env}-{component}-{color}.lxd"
    component "api" port=8080 health="/health" sticky=#true
    component "web" port=3000
    route "api" to="api" {
        prefix "/api/"
    }
    route "debug" to="api" {
        prefix "/debug/"
    }
    default "web"
    policies "noindex"
    allow "10.0.0.0/8"
}
env "prod" {
    hosts "example.org"
    container-pattern "prod-{component}-{color}.lxd"
    component "api" port=8080 health="/health" sticky=#true
    component "web" port=3001
    route "api" to="api" {
        prefix "/api/"
    }
    default "web"
    policies "noindex"
    allow "10.0.0.0/8" "192.0.2.0/24"
}
"#;

#[test]
fn a_base_builds_what_the_envs_written_out_build() {
    let (_, with_base) = edgeplan::load(&repo().join("tests/specs/valid/shared_base"))
        .unwrap_or_else(|p| panic!("{}", edgeplan::diag::render_text(&p, false, 100)));
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("edge.kdl"), EXPANDED).unwrap();
    let (_, expanded) = edgeplan::load(tmp.path())
        .unwrap_or_else(|p| panic!("{}", edgeplan::diag::render_text(&p, false, 100)));
    let (a, b) = (
        serde_json::to_value(&with_base).unwrap(),
        serde_json::to_value(&expanded).unwrap(),
    );
    assert_eq!(a, b, "the base's merge differs from the written-out edge");
    // Not vacuous: the two envs differ where the overrides say.
    let envs = &a["envs"];
    assert_eq!(envs["prod"]["components"]["web"]["port"], 3001);
    assert_eq!(envs["staging"]["components"]["web"]["port"], 3000);
    assert_eq!(envs["staging"]["routes"].as_array().unwrap().len(), 2);
    assert_eq!(envs["prod"]["routes"].as_array().unwrap().len(), 1);
}
