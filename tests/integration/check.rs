//! `edgeplan check` end to end.

use crate::common::Test;

#[test]
fn bundled_specs_pass() {
    let out = Test::bundled().args(["check"]).run();
    assert_eq!(out.code, 0, "{}", out.folded());
    insta::assert_snapshot!(out.folded());
}
