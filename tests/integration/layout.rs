//! The box's state layout version (`var/lib/edgeplan/layout`, [`edgeplan::layout::VERSION`]):
//! every operation checks it; a newer one stops edgeplan before it reads or writes anything, an
//! older one (the layout before versions, its lock a plain JSON file) is read as it is, its lock
//! released by `force-unlock`, and upgraded by the next apply.

use crate::edgebox::{EDGE, Edgebox, env};

fn new_box() -> Edgebox {
    let prod = env("prod", &["veza.fr"], "blue");
    Edgebox::new(&[("edge.kdl", EDGE), ("env/prod.kdl", &prod)])
}

#[test]
fn an_older_layout_is_upgraded_and_a_newer_one_stops_every_operation() {
    let b = new_box();
    let state = b.root().join("var/lib/edgeplan");
    std::fs::create_dir_all(&state).unwrap();
    // Layout 1: a lock held by an edgeplan from before layout versions — a plain file.
    let id = "0123abcd-0000-4000-8000-0123456789ab";
    std::fs::write(
        state.join("lock"),
        format!(
            r#"{{"id":"{id}","who":"old@edge","operation":"apply","created":"2026-11-01T00:00:00Z","pid":7,"version":"0.0.9"}}"#
        ),
    )
    .unwrap();
    let blocked = b.run(&["apply", "--auto-approve"]);
    assert_eq!(blocked.code, 1, "{}", blocked.folded());
    assert!(
        blocked.folded().contains("locked by old@edge"),
        "{}",
        blocked.folded()
    );
    let wrong = b.run(&["force-unlock", "0123abcd-0000-4000-8000-000000000000"]);
    assert_eq!(wrong.code, 1, "{}", wrong.folded());
    let freed = b.run(&["force-unlock", id]);
    assert_eq!(freed.code, 0, "{}", freed.folded());
    assert!(!state.join("lock").exists());
    // The next apply upgrades it; the lock it took and released leaves nothing behind.
    let applied = b.run(&["apply", "--auto-approve"]);
    assert_eq!(applied.code, 0, "{}", applied.folded());
    assert_eq!(
        std::fs::read_to_string(state.join("layout")).unwrap(),
        format!("{}\n", edgeplan::layout::VERSION)
    );
    assert!(std::fs::symlink_metadata(state.join("lock")).is_err());
    assert_eq!(std::fs::read_dir(state.join("lock.d")).unwrap().count(), 0);

    // A newer layout: every command that reaches the box stops, saying so, and changes nothing.
    let newer = edgeplan::layout::VERSION + 1;
    std::fs::write(state.join("layout"), format!("{newer}\n")).unwrap();
    let before = std::fs::read_link(state.join("current")).unwrap();
    for args in [
        &["plan"][..],
        &["apply", "--auto-approve"],
        &["status"],
        &["generations"],
        &["rollback", "--auto-approve"],
        &["switch", "prod", "green"],
        &["force-unlock", id],
        &["server", "list"],
    ] {
        let out = b.run(args);
        // miette wraps lines: compare words.
        let text = out.folded().replace('│', " ");
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(out.code, 1, "{args:?}: {text}");
        assert!(
            text.contains(&format!("has layout version {newer}"))
                && text.contains("edgeplan::transport::layout"),
            "{args:?}: {text}"
        );
    }
    assert_eq!(std::fs::read_link(state.join("current")).unwrap(), before);
    assert!(std::fs::symlink_metadata(state.join("lock")).is_err());
}
