//! Content hashes, blake3 with domain separation.
//!
//! * The **input hash** names everything a build depends on: each spec file's path relative to
//!   the specs root and its bytes, every template in effect (embedded or override) by name and
//!   text, the edgeplan version, and the active colour of each env. It is computed over a
//!   canonical, length-prefixed encoding in sorted order, so it does not depend on absolute
//!   paths, mtimes, directory walk order, time zone, locale or umask.
//! * The **tree hash** names a rendered tree: every file's path, mode and content hash.

use crate::render::Templates;
use crate::spec::SourceFile;
use crate::state::ActiveColors;

const INPUT_CONTEXT: &str = "edgeplan 2026-11 input hash v1";
const TREE_CONTEXT: &str = "edgeplan 2026-11 tree hash v1";

/// Length-prefixed fields, so that no two different inputs encode the same.
struct Encoder(blake3::Hasher);

impl Encoder {
    fn field(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.update(&(bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
        self
    }
    fn hex(&self) -> String {
        self.0.finalize().to_hex().to_string()
    }
}

/// The input hash of a build.
pub fn input_hash(files: &[SourceFile], templates: &Templates, colors: &ActiveColors) -> String {
    let mut e = Encoder(blake3::Hasher::new_derive_key(INPUT_CONTEXT));
    e.field(b"version")
        .field(env!("CARGO_PKG_VERSION").as_bytes());
    let mut sorted: Vec<&SourceFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.rel.cmp(&b.rel));
    for f in sorted {
        e.field(b"spec").field(f.rel.as_bytes()).field(&f.bytes);
    }
    // BTreeMaps: already in name order.
    for (name, t) in &templates.0 {
        e.field(b"template")
            .field(name.as_bytes())
            .field(t.text.as_bytes());
    }
    for (env, color) in &colors.0 {
        e.field(b"color")
            .field(env.as_str().as_bytes())
            .field(color.to_string().as_bytes());
    }
    e.hex()
}

/// The blake3 of a file's content, hex.
pub fn content_hash(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// The tree hash over `(path, mode, content hash)` triples; order does not matter.
pub fn tree_hash<'a>(files: impl IntoIterator<Item = (&'a str, u32, &'a str)>) -> String {
    let mut files: Vec<_> = files.into_iter().collect();
    files.sort();
    let mut e = Encoder(blake3::Hasher::new_derive_key(TREE_CONTEXT));
    for (path, mode, hash) in files {
        e.field(path.as_bytes())
            .field(&mode.to_le_bytes())
            .field(hash.as_bytes());
    }
    e.hex()
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::model::{Color, Ident};

    fn file(rel: &str, text: &str) -> SourceFile {
        SourceFile::new(
            rel.into(),
            format!("/somewhere/{rel}"),
            text.as_bytes().to_vec(),
        )
    }

    #[test]
    fn input_hash_ignores_order_and_absolute_paths_but_not_content() {
        let t = Templates::embedded();
        let c = ActiveColors(Default::default());
        let a = input_hash(&[file("edge.kdl", "x"), file("env/a.kdl", "y")], &t, &c);
        let mut swapped = vec![file("env/a.kdl", "y"), file("edge.kdl", "x")];
        swapped[0].shown = "/elsewhere/env/a.kdl".into();
        assert_eq!(a, input_hash(&swapped, &t, &c));
        assert_ne!(
            a,
            input_hash(&[file("edge.kdl", "x"), file("env/a.kdl", "z")], &t, &c)
        );
        // Moving bytes between path and content must change the hash (length prefixes).
        assert_ne!(
            input_hash(&[file("ab", "c")], &t, &c),
            input_hash(&[file("a", "bc")], &t, &c)
        );
    }

    #[test]
    fn input_hash_covers_templates_and_colors() {
        let files = [file("edge.kdl", "x")];
        let t = Templates::embedded();
        let mut c = ActiveColors(Default::default());
        c.0.insert(
            Ident::parse("staging").unwrap(),
            crate::state::Serving::Color(Color::Blue),
        );
        let base = input_hash(&files, &t, &c);
        let mut t2 = t.clone();
        t2.0.get_mut("haproxy.cfg.j2")
            .unwrap()
            .text
            .push_str("# extra\n");
        assert_ne!(base, input_hash(&files, &t2, &c));
        let mut c2 = c.clone();
        c2.0.insert(
            Ident::parse("staging").unwrap(),
            crate::state::Serving::Color(Color::Green),
        );
        assert_ne!(base, input_hash(&files, &t, &c2));
    }

    #[test]
    fn tree_hash_is_order_independent() {
        let a = tree_hash([("a", 0o644, "h1"), ("b", 0o755, "h2")]);
        assert_eq!(a, tree_hash([("b", 0o755, "h2"), ("a", 0o644, "h1")]));
        assert_ne!(a, tree_hash([("a", 0o644, "h1"), ("b", 0o644, "h2")]));
    }
}
