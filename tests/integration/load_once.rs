//! Every command reads and checks its specs once (issue 17): `edgeplan::loads()` counts the
//! reads of this process; each command runs in-process through `edgeplan::cmd::run_args` on a
//! local box, and adds exactly one.

use std::process::ExitCode;

use crate::edgebox::{EDGE, Edgebox, env};

fn run(b: &Edgebox, args: &[&str]) -> (ExitCode, usize) {
    let specs = b.path().join("specs").display().to_string();
    let mut all = vec!["edgeplan".to_string()];
    all.extend(args.iter().map(|s| s.to_string()));
    all.extend(["--specs".to_string(), specs]);
    let before = edgeplan::loads();
    let code = edgeplan::cmd::run_args(all);
    (code, edgeplan::loads() - before)
}

#[test]
fn every_box_command_reads_the_specs_once() {
    let staging = env("staging", &["staging.veza.fr"], "blue");
    let b = Edgebox::new(&[("edge.kdl", EDGE), ("env/staging.kdl", &staging)]);
    let mut b = b;
    b.test_template = false;
    for args in [
        &["plan"][..],
        &["apply", "--auto-approve"],
        &["status"],
        // No upstream answers here: no health gate (it is proven live, gate.rs).
        &["switch", "staging", "green", "--force"],
        &["plan"],
        &["status"],
        &["rollback", "--env", "staging", "--auto-approve"],
        &["rollback", "--auto-approve"],
        &["generations"],
        &["check"],
    ] {
        let (code, loads) = run(&b, args);
        assert_eq!(code, ExitCode::SUCCESS, "{args:?}");
        assert_eq!(
            loads,
            1,
            "`edgeplan {}` read the specs {loads} times",
            args.join(" ")
        );
    }
}
