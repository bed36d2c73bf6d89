//! Nix, offline (Nix 2.8, no nixpkgs): the flake files parse; the input-less test flake
//! (`tests/nix/flake.nix`) renders the bundled specs in the sandbox with a static edgeplan as
//! the builder, giving the tree of a plain `edgeplan build` and the same store path twice; the
//! real `flake.nix` evaluates, checks and builds against a stand-in nixpkgs
//! (`tests/nix/stub-nixpkgs`); `nix/check-haproxy.sh` passes in a sandbox-like environment.
//!
//! Everything these tests create lives in temp dirs; the real `/nix/store` is used and only
//! added to. A missing `nix` fails the tests: `scripts/test.sh` installs nix-bin.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use crate::common::{bin, copy_dir, copy_dir_reversed, repo};

/// The Nix system of this machine (`x86_64-linux`, `aarch64-linux`).
fn system() -> String {
    format!("{}-linux", std::env::consts::ARCH)
}

/// Fail loudly when a tool the tests need is missing.
fn require(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "`{tool}` is not installed; run scripts/test.sh, which installs it (nix-bin, haproxy, ...)"
    );
}

/// Run and return the output, whatever the exit status.
fn output(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Run, assert success, return stdout.
fn ok(cmd: &mut Command) -> String {
    let out = output(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({})\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `nix` with flakes, offline: no substituters (no retries against a cache that cannot be
/// reached).
fn nix(dir: &Path) -> Command {
    require("nix");
    let mut cmd = Command::new("nix");
    cmd.current_dir(dir)
        .args(["--extra-experimental-features", "nix-command flakes"])
        .args(["--option", "substituters", ""]);
    cmd
}

/// A statically linked edgeplan (glibc, `+crt-static`), built once per test run into
/// `target/nix-static`: the only kind of binary that runs as a builder in the Nix sandbox,
/// which has nothing but the store.
pub fn static_edgeplan() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let triple = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
        let target_dir = repo().join("target/nix-static");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        ok(Command::new(cargo)
            .current_dir(repo())
            .args([
                "build", "--locked", "--quiet", "--bin", "edgeplan", "--target",
            ])
            .arg(&triple)
            .env("CARGO_TARGET_DIR", &target_dir)
            .env("RUSTFLAGS", "-C target-feature=+crt-static")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_BUILD_TARGET"));
        let bin = target_dir.join(triple).join("debug/edgeplan");
        // glibc's ldd says so for static-pie ("statically linked") and static binaries.
        let ldd = output(Command::new("ldd").arg(&bin));
        let said = String::from_utf8_lossy(&ldd.stdout) + String::from_utf8_lossy(&ldd.stderr);
        assert!(
            said.contains("statically linked") || said.contains("not a dynamic executable"),
            "{bin:?} is not static: {said}"
        );
        bin
    })
}

/// A git repository at `dir` with everything in it committed (flakes see tracked files only).
fn git_commit_all(dir: &Path) {
    require("git");
    let git = |args: &[&str]| {
        ok(Command::new("git")
            .current_dir(dir)
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", dir));
    };
    git(&["init", "-q"]);
    git(&["config", "user.email", "tests@edgeplan.invalid"]);
    git(&["config", "user.name", "edgeplan tests"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "test flake"]);
}

/// Copy one file, making parents.
fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(from, to).unwrap_or_else(|e| panic!("copy {from:?} -> {to:?}: {e}"));
}

/// `nix build --json` of `installable`: the output path.
fn nix_build(dir: &Path, installable: &str, extra: &[&str]) -> (String, String) {
    let json = ok(nix(dir)
        .args(["build", "--no-link", "--json", "-L"])
        .args(extra)
        .arg(installable));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let drv = v[0]["drvPath"].as_str().unwrap().to_string();
    let out = v[0]["outputs"]["out"].as_str().unwrap().to_string();
    (drv, out)
}

/// `edgeplan build` of `specs` into a new dir with the cargo-built binary: the reference tree.
fn cargo_build(specs: &Path, out: &Path) -> String {
    ok(Command::new(bin())
        .args(["build", "--specs"])
        .arg(specs)
        .arg("--out")
        .arg(out)
        .env("NO_COLOR", "1"));
    std::fs::read_to_string(out.join("manifest.json")).unwrap()
}

/// Every file of `tree` except the manifest, by relative path, with its bytes.
fn files(tree: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = walkdir::WalkDir::new(tree)
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(tree).unwrap().display().to_string();
            (rel, std::fs::read(e.path()).unwrap())
        })
        .collect();
    v.sort();
    v
}

/// The tree in `store_path` is `reference` (bytes of every file, manifest included), and the
/// manifest's hashes describe it.
fn assert_same_tree(store_path: &Path, reference: &Path) {
    assert_eq!(
        files(store_path),
        files(reference),
        "{store_path:?} differs from {reference:?}"
    );
    let text = std::fs::read_to_string(store_path.join("manifest.json")).unwrap();
    let m = edgeplan::output::Manifest::parse(&text).unwrap();
    for f in &m.files {
        let bytes = std::fs::read(store_path.join(&f.path)).unwrap();
        assert_eq!(
            blake3::hash(&bytes).to_hex().to_string(),
            f.blake3,
            "{}",
            f.path
        );
    }
}

#[test]
fn flake_files_parse_and_build_args_evaluate() {
    require("nix-instantiate");
    let mut files = vec![
        repo().join("flake.nix"),
        repo().join("tests/nix/flake.nix"),
        repo().join("tests/nix/stub-nixpkgs/flake.nix"),
    ];
    for e in std::fs::read_dir(repo().join("nix")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "nix") {
            files.push(p);
        }
    }
    for f in &files {
        ok(Command::new("nix-instantiate").arg("--parse").arg(f));
    }
    let expr = format!(
        "import {} {{ specs = \"/s\"; templates = \"/t\"; out = \"/o\"; }}",
        repo().join("nix/build-args.nix").display()
    );
    let args =
        ok(Command::new("nix-instantiate").args(["--eval", "--strict", "--json", "-E", &expr]));
    assert_eq!(
        args.trim(),
        r#"["build","--specs","/s","--templates","/t","--out","/o"]"#
    );
}

#[test]
fn offline_derivation_reproduces_cargo_build_in_the_sandbox() {
    let tmp = tempfile::tempdir().unwrap();
    let builder = static_edgeplan();
    let specs = repo().join("specs");

    // The reference: the cargo-built binary on the same specs.
    let reference = tmp.path().join("cargo-out");
    let manifest = cargo_build(&specs, &reference);

    // Specs outside the store for the sandbox probe, valid on the host.
    let host_specs = tmp.path().join("host-specs");
    copy_dir(&specs, &host_specs);
    cargo_build(&host_specs, &tmp.path().join("host-out"));

    let layout = |dir: &Path, reversed: bool| {
        copy(&repo().join("tests/nix/flake.nix"), &dir.join("flake.nix"));
        copy(
            &repo().join("nix/build-args.nix"),
            &dir.join("nix/build-args.nix"),
        );
        copy(builder, &dir.join("edgeplan"));
        if reversed {
            copy_dir_reversed(&specs, &dir.join("specs"));
        } else {
            copy_dir(&specs, &dir.join("specs"));
        }
        std::fs::write(
            dir.join("probe-specs"),
            format!("{}\n", host_specs.display()),
        )
        .unwrap();
        git_commit_all(dir);
    };
    let sandbox = ["--option", "sandbox", "true"];
    let edge = format!(".#packages.{}.edge", system());

    let a = tmp.path().join("a");
    layout(&a, false);
    let (drv_a, out_a) = nix_build(&a, &edge, &sandbox);
    assert_eq!(
        std::fs::read_to_string(Path::new(&out_a).join("manifest.json")).unwrap(),
        manifest,
        "the Nix render's manifest.json differs from `edgeplan build`'s"
    );
    assert_same_tree(Path::new(&out_a), &reference);

    // Another checkout path, files created in reverse order with other mtimes: the same
    // derivation, and rebuilding it for real (`--rebuild` compares with the stored output)
    // gives the same bytes.
    let b = tmp.path().join("elsewhere/b");
    layout(&b, true);
    let (drv_b, out_b) = nix_build(&b, &edge, &[&sandbox[..], &["--rebuild"]].concat());
    assert_eq!((drv_a, out_a), (drv_b, out_b));

    // The sandbox is really on: specs outside the store are invisible to the builder.
    let probe = output(
        nix(&a)
            .args(["build", "--no-link", "-L"])
            .args(sandbox)
            .arg(format!(".#packages.{}.probe", system())),
    );
    let stderr = String::from_utf8_lossy(&probe.stderr);
    assert!(
        !probe.status.success(),
        "the probe built: no sandbox?\n{stderr}"
    );
    assert!(stderr.contains("cannot read"), "{stderr}");
}

#[test]
fn real_flake_checks_and_builds_against_a_stand_in_nixpkgs() {
    require("haproxy");
    require("openssl");
    let tmp = tempfile::tempdir().unwrap();
    let stub = tmp.path().join("stub-nixpkgs");
    copy(
        &repo().join("tests/nix/stub-nixpkgs/flake.nix"),
        &stub.join("flake.nix"),
    );
    copy(static_edgeplan(), &stub.join("edgeplan"));

    let src = tmp.path().join("src");
    for f in ["flake.nix", "Cargo.toml", "Cargo.lock"] {
        copy(&repo().join(f), &src.join(f));
    }
    for d in ["nix", "specs", "out"] {
        copy_dir(&repo().join(d), &src.join(d));
    }
    git_commit_all(&src);

    let stub_url = format!("path:{}", stub.display());
    let with_stub = |cmd: &mut Command| {
        cmd.args(["--override-input", "nixpkgs", &stub_url]).args([
            "--no-write-lock-file",
            "--option",
            "sandbox",
            "false",
        ]);
    };
    // Evaluates every output for both systems; builds this system's checks: edgeplan, edge
    // (render + haproxy -c), out-fresh (`build --check` of out/, Nix manifest == out/'s).
    let mut check = nix(&src);
    check.args(["flake", "check", "-L"]);
    with_stub(&mut check);
    ok(&mut check);

    let mut build = nix(&src);
    build.args(["build", "--no-link", "--json", ".#edge"]);
    with_stub(&mut build);
    let json: serde_json::Value = serde_json::from_str(&ok(&mut build)).unwrap();
    let out = PathBuf::from(json[0]["outputs"]["out"].as_str().unwrap());
    let reference = tmp.path().join("cargo-out");
    cargo_build(&repo().join("specs"), &reference);
    assert_same_tree(&out, &reference);

    let mut eval = nix(&src);
    eval.args(["eval", "--json"])
        .arg(format!(".#packages.{}.edgeplan.cargoTestFlags", system()));
    with_stub(&mut eval);
    assert_eq!(ok(&mut eval).trim(), r#"["--lib"]"#);

    let mut run = nix(&src);
    run.arg("run");
    with_stub(&mut run);
    run.args([".", "--", "--version"]);
    assert!(ok(&mut run).starts_with("edgeplan "));
}

#[test]
fn haproxy_check_script_passes_where_a_build_sandbox_would_run_it() {
    for tool in ["haproxy", "openssl", "unshare", "setpriv", "shellcheck"] {
        require(tool);
    }
    let script = repo().join("nix/check-haproxy.sh");
    ok(Command::new("shellcheck").arg(&script));

    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good");
    cargo_build(&repo().join("specs"), &good);
    let bad = tmp.path().join("bad");
    copy_dir(&good, &bad);
    let cfg = bad.join("etc/haproxy/haproxy.cfg");
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.contains("default_backend default_503"));
    std::fs::write(
        &cfg,
        text.replace("default_backend default_503", "default_backend nope"),
    )
    .unwrap();
    let scratch = tmp.path().join("build-tmp");
    std::fs::create_dir(&scratch).unwrap();
    copy(&script, &tmp.path().join("check-haproxy.sh"));
    // Readable by an unprivileged builder uid.
    ok(Command::new("chmod").args(["-R", "a+rX"]).arg(tmp.path()));
    ok(Command::new("chmod").arg("1777").arg(&scratch));

    // Like a Nix sandbox: an /etc without resolv.conf or a `haproxy` account (only what
    // awk's Debian alternatives symlink needs), an unprivileged uid, TMPDIR the build dir.
    let fake_etc = tmp.path().join("etc");
    std::fs::create_dir(&fake_etc).unwrap();
    std::fs::write(
        fake_etc.join("passwd"),
        "nixbld:x:30001:30000::/homeless-shelter:/noshell\n",
    )
    .unwrap();
    std::fs::write(fake_etc.join("group"), "nixbld:!:30000:\n").unwrap();
    ok(Command::new("cp")
        .args(["-a", "/etc/alternatives"])
        .arg(&fake_etc));
    let run = |tree: &Path| {
        output(
            Command::new("unshare")
                .args(["-m", "sh", "-c"])
                .arg(
                    "mount --bind \"$1\" /etc && exec env -i PATH=/usr/bin:/bin:/usr/sbin \
                     TMPDIR=\"$2\" HOME=/homeless-shelter \
                     setpriv --reuid=30001 --regid=30000 --clear-groups bash \"$3\" \"$4\"",
                )
                .arg("sh")
                .arg(&fake_etc)
                .arg(&scratch)
                .arg(tmp.path().join("check-haproxy.sh"))
                .arg(tree),
        )
    };
    let before = files(&good);
    let out = run(&good);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("haproxy.cfg is valid"), "{stdout}");
    assert_eq!(files(&good), before, "the check changed the tree");
    assert_eq!(
        std::fs::read_dir(&scratch).unwrap().count(),
        0,
        "scratch left behind"
    );

    let out = run(&bad);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("unable to find required default_backend: 'nope'"),
        "{stderr}"
    );
}
