//! The fuzz targets' committed corpus (`fuzz/corpus/load/`: the seed inputs from the fixtures,
//! what the fuzzer kept, and every input that once crashed) replayed through the same entry point
//! as the fuzz target, `edgeplan::fuzzing::load_bytes`: a regression, or an entry point that no
//! longer compiles, fails the ordinary suite. The corpus and how it grows: docs/fuzzing.md.

use edgeplan::fuzzing::{FILE_NAMES, FILE_SEPARATOR, load_bytes, split};

#[test]
fn the_fuzz_corpus_replays_without_a_panic() {
    let dir = crate::common::repo().join("fuzz/corpus/load");
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    inputs.sort();
    assert!(
        inputs.len() >= 200,
        "the seed corpus has {} inputs",
        inputs.len()
    );
    for path in &inputs {
        let data = std::fs::read(path).unwrap();
        let outcome = std::panic::catch_unwind(|| load_bytes(&data));
        assert!(outcome.is_ok(), "{} panics", path.display());
    }
    println!("fuzz corpus: {} inputs replayed", inputs.len());
}

#[test]
fn inputs_split_into_the_spec_files() {
    let sep = std::str::from_utf8(FILE_SEPARATOR).unwrap();
    let text = format!("edge \"e\"{sep}env \"a\" {{}}{sep}{sep}x{sep}y{sep}z");
    let parts: Vec<&str> = split(text.as_bytes())
        .into_iter()
        .map(|p| std::str::from_utf8(p).unwrap())
        .collect();
    assert_eq!(parts.len(), FILE_NAMES.len());
    assert_eq!(parts[0], "edge \"e\"");
    assert_eq!(parts[1], "env \"a\" {}");
    assert_eq!(parts[2], "");
    // The last file keeps any further separator.
    assert_eq!(parts[3], format!("x{sep}y{sep}z"));
    assert_eq!(split(b"no separator"), vec![&b"no separator"[..]]);
}

/// Every `.kdl` file under `dir`, by its path relative to `dir`.
fn files_of(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e
                .path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (rel, std::fs::read(e.path()).unwrap())
        })
        .collect()
}

/// The diagnostics of a failed load (code and message, paths relative to `dir`), or the
/// model's debug text.
fn outcome(
    dir: &std::path::Path,
    r: Result<edgeplan::spec::Spec, Vec<edgeplan::spec::SpecError>>,
) -> String {
    use miette::Diagnostic;
    let shown = |e: &dyn Diagnostic| {
        format!(
            "{}: {}",
            e.code().map(|c| c.to_string()).unwrap_or_default(),
            e.to_string().replace(&format!("{}/", dir.display()), "")
        )
    };
    match r {
        Ok(spec) => match edgeplan::validate::validate(&spec) {
            Ok(edge) => format!("{edge:?}"),
            Err(errors) => errors
                .iter()
                .map(|e| shown(e))
                .collect::<Vec<_>>()
                .join("\n"),
        },
        Err(errors) => errors
            .iter()
            .map(|e| shown(e))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// The fuzz targets load in memory: that must read a set of files exactly as a specs
/// directory holding them is read (same model, or same diagnostics), for every fixture.
#[test]
fn loading_in_memory_is_loading_the_directory() {
    let root = crate::common::repo();
    let mut dirs = vec![root.join("specs")];
    for kind in ["valid", "invalid"] {
        for e in std::fs::read_dir(root.join("tests/specs").join(kind)).unwrap() {
            dirs.push(e.unwrap().path());
        }
    }
    let mut compared = 0;
    for dir in dirs {
        let files = files_of(&dir);
        // Fixtures about the file system itself (symlinks, missing or unreadable files) have
        // no in-memory counterpart.
        if !dir.join("edge.kdl").is_file()
            || walkdir::WalkDir::new(&dir)
                .into_iter()
                .any(|e| e.is_ok_and(|e| e.path_is_symlink()))
        {
            continue;
        }
        let disk = outcome(&dir, edgeplan::spec::load(&dir));
        let memory = outcome(&dir, edgeplan::spec::load_files(&files));
        assert_eq!(disk, memory, "{}", dir.display());
        compared += 1;
    }
    assert!(compared >= 200, "{compared} fixtures compared");
}
