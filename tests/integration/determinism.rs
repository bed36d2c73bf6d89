//! `edgeplan build` is a pure function of the spec bytes: the same manifest.json and tree from
//! another checkout path, another creation order and mtimes of the spec files, another time
//! zone, locale and umask; equal to the committed `out/`; nothing written when the specs are
//! rejected; nothing touched when the out dir is already what would be rendered.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::{bin, copy_dir, copy_dir_reversed, repo};

/// One run of the binary through `sh -c 'umask U; exec edgeplan ...'` with a clean
/// environment plus `env`, in `cwd`.
fn run(cwd: &Path, umask: &str, env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
        .arg(bin())
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Run and assert exit 0; stdout.
fn run_ok(cwd: &Path, umask: &str, env: &[(&str, &str)], args: &[&str]) -> String {
    let (code, stdout, stderr) = run(cwd, umask, env, args);
    assert_eq!(code, 0, "{args:?}\n{stdout}{stderr}");
    stdout
}

/// Every entry under `dir` (dirs too): path, kind, mode, size, mtime (ns), inode and bytes.
type Entry = (String, bool, u32, u64, i64, i64, u64, Vec<u8>);

fn snapshot(dir: &Path) -> Vec<Entry> {
    walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.unwrap())
        .map(|e| {
            let m = e.metadata().unwrap();
            let bytes = if m.is_file() {
                std::fs::read(e.path()).unwrap()
            } else {
                Vec::new()
            };
            (
                e.path().strip_prefix(dir).unwrap().display().to_string(),
                m.is_dir(),
                m.permissions().mode() & 0o7777,
                m.len(),
                m.mtime(),
                m.mtime_nsec(),
                m.ino(),
                bytes,
            )
        })
        .collect()
}

/// Files of a tree (not dirs) with their bytes and modes.
fn files(dir: &Path) -> Vec<(String, u32, Vec<u8>)> {
    snapshot(dir)
        .into_iter()
        .filter(|e| !e.1)
        .map(|e| (e.0, e.2, e.7))
        .collect()
}

fn manifest(out: &Path) -> edgeplan::output::Manifest {
    edgeplan::output::Manifest::parse(&std::fs::read_to_string(out.join("manifest.json")).unwrap())
        .unwrap()
}

#[test]
fn same_bytes_across_paths_order_mtimes_tz_lang_and_umask() {
    let tmp = tempfile::tempdir().unwrap();
    let specs = repo().join("specs");

    // 1: the repo's specs by absolute path, a plain environment.
    let one = tmp.path().join("one");
    std::fs::create_dir(&one).unwrap();
    let env1 = [("TZ", "UTC"), ("LANG", "C.UTF-8")];
    run_ok(
        &one,
        "022",
        &env1,
        &["build", "--specs", specs.to_str().unwrap(), "--out", "out"],
    );
    let hash1 = run_ok(
        &one,
        "022",
        &env1,
        &["hash", "--specs", specs.to_str().unwrap()],
    );

    // 2: a copy elsewhere, files created in reverse order with odd mtimes, relative paths,
    // another zone and locale, umask 077. The locale must exist, or glibc falls back to C and
    // this variation tests nothing (scripts/test.sh generates it).
    let locales = std::process::Command::new("locale")
        .arg("-a")
        .output()
        .unwrap();
    let locales = String::from_utf8_lossy(&locales.stdout);
    assert!(
        locales.lines().any(|l| l == "tr_TR.utf8"),
        "the tr_TR.UTF-8 locale is not generated (scripts/test.sh does it): {locales}"
    );
    let probe = std::process::Command::new("locale")
        .env("LC_ALL", "tr_TR.UTF-8")
        .output()
        .unwrap();
    assert!(
        probe.stderr.is_empty() && String::from_utf8_lossy(&probe.stdout).contains("tr_TR"),
        "LC_ALL=tr_TR.UTF-8 does not take: {}",
        String::from_utf8_lossy(&probe.stderr)
    );
    let two = tmp.path().join("deeper/checkout two");
    copy_dir_reversed(&specs, &two.join("spec copy"));
    let env2 = [
        ("TZ", "Pacific/Chatham"),
        ("LANG", "tr_TR.UTF-8"),
        ("LC_ALL", "tr_TR.UTF-8"),
        ("HOME", "/nonexistent"),
    ];
    run_ok(
        &two,
        "077",
        &env2,
        &["build", "--specs", "spec copy", "--out", "rendered tree"],
    );
    let hash2 = run_ok(&two, "077", &env2, &["hash", "--specs", "spec copy"]);
    assert_eq!(hash1, hash2, "input hash");

    let (out1, out2) = (one.join("out"), two.join("rendered tree"));
    let m1 = std::fs::read(out1.join("manifest.json")).unwrap();
    let m2 = std::fs::read(out2.join("manifest.json")).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&m1),
        String::from_utf8_lossy(&m2),
        "manifest.json"
    );
    assert_eq!(manifest(&out1).tree_hash, manifest(&out2).tree_hash);
    // Same bytes and the manifest's modes, even under umask 077.
    assert_eq!(files(&out1), files(&out2));
    for f in manifest(&out2).files {
        let mode = std::fs::metadata(out2.join(&f.path))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777;
        assert_eq!(Some(mode), f.mode_bits(), "{}", f.path);
    }

    // The committed out/ is that tree (the repo's out/ must be fresh: `edgeplan build`).
    let committed = std::fs::read(repo().join("out/manifest.json")).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&committed),
        String::from_utf8_lossy(&m1),
        "out/manifest.json is stale: run `cargo run -- build` and commit out/"
    );
}

#[test]
fn hostile_value_fails_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let specs = tmp.path().join("specs");
    copy_dir(&repo().join("specs"), &specs);
    let staging = specs.join("env/staging.kdl");
    let text = std::fs::read_to_string(&staging).unwrap();
    let needle = r#"hosts "staging.veza.fr""#;
    assert!(text.contains(needle));
    // A KDL escape puts a newline (and a config line) into a host name.
    let hostile = text.replace(
        needle,
        r#"hosts "staging.veza.fr\n    use_backend prod_web_pool if TRUE""#,
    );
    let hostile_specs = tmp.path().join("hostile");
    copy_dir(&specs, &hostile_specs);
    std::fs::write(hostile_specs.join("env/staging.kdl"), hostile).unwrap();

    // Into a new out dir: exit 1, no out dir.
    let (code, stdout, stderr) = run(
        tmp.path(),
        "022",
        &[],
        &["build", "--specs", "hostile", "--out", "new-out"],
    );
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stderr.contains("staging.kdl"), "{stderr}");
    assert!(
        !tmp.path().join("new-out").exists(),
        "an out dir was created"
    );

    // Over a good tree: exit 1, nothing touched.
    run_ok(
        tmp.path(),
        "022",
        &[],
        &["build", "--specs", "specs", "--out", "out"],
    );
    let before = snapshot(&tmp.path().join("out"));
    let (code, stdout, stderr) = run(
        tmp.path(),
        "022",
        &[],
        &["build", "--specs", "hostile", "--out", "out"],
    );
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert_eq!(
        snapshot(&tmp.path().join("out")),
        before,
        "out/ was touched"
    );
}

#[test]
fn second_build_touches_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("specs"), &tmp.path().join("specs"));
    let first = run_ok(tmp.path(), "022", &[], &["build"]);
    assert!(first.contains("built out"), "{first}");
    let before = snapshot(&tmp.path().join("out"));
    std::thread::sleep(std::time::Duration::from_millis(50));
    let second = run_ok(tmp.path(), "022", &[], &["build"]);
    assert!(second.contains("out is up to date"), "{second}");
    // Same mtimes and inodes: no file rewritten, not even renamed over.
    assert_eq!(snapshot(&tmp.path().join("out")), before);
    run_ok(tmp.path(), "022", &[], &["build", "--check"]);
}
