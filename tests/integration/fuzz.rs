//! Property tests: whatever the spec text, loading never panics (it is fine to fail), the
//! diagnostics always render as text and as JSON, and every value a model constructor accepts
//! is inert in a config file.

use std::path::Path;

use edgeplan::diag::{Problems, render_json, render_text};
use edgeplan::model::{
    AbsPath, Address, Arg, Bind, CertName, CookieName, Directory, Duration, Email, Host, Ident,
    NamePattern, PathPrefix, PathSuffix,
};
use proptest::prelude::*;

/// The bundled specs as one file.
fn bundled() -> Vec<u8> {
    let root = crate::common::repo().join("specs");
    let mut text = Vec::new();
    for f in ["edge.kdl", "env/prod.kdl", "env/staging.kdl"] {
        text.extend(std::fs::read(root.join(f)).unwrap());
        text.push(b'\n');
    }
    text
}

fn render_all(problems: &Problems) {
    let text = render_text(problems, false, 80);
    assert!(text.ends_with("found\n"), "{text}");
    let _ = render_text(problems, true, 40);
    let json = render_json(problems);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["ok"], serde_json::Value::Bool(false), "{json}");
}

/// Load `bytes` as the only spec file; must not panic.
fn load(bytes: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("edge.kdl"), bytes).unwrap();
    load_dir(dir.path());
}

fn load_dir(dir: &Path) {
    if let Err(problems) = edgeplan::load(dir) {
        assert!(!problems.0.is_empty());
        render_all(&problems);
    }
}

/// One edit of the text.
#[derive(Debug, Clone)]
enum Mutation {
    InsertChar(usize, char),
    InsertByte(usize, u8),
    Delete(usize, usize),
    Replace(usize, char),
    Duplicate(usize, usize),
    Truncate(usize),
}

fn apply(text: &mut Vec<u8>, m: &Mutation) {
    let at = |i: usize, len: usize| if len == 0 { 0 } else { i % (len + 1) };
    let len = text.len();
    match *m {
        Mutation::InsertChar(i, c) => {
            let mut buf = [0; 4];
            let i = at(i, len);
            text.splice(i..i, c.encode_utf8(&mut buf).bytes());
        }
        Mutation::InsertByte(i, b) => text.insert(at(i, len), b),
        Mutation::Delete(i, n) => {
            let i = at(i, len);
            let end = (i + n).min(len);
            text.drain(i..end);
        }
        Mutation::Replace(i, c) if len > 0 => {
            let i = i % len;
            let mut buf = [0; 4];
            text.splice(i..i + 1, c.encode_utf8(&mut buf).bytes());
        }
        Mutation::Replace(..) => {}
        Mutation::Duplicate(i, n) => {
            let i = at(i, len);
            let end = (i + n).min(len);
            let piece = text[i..end].to_vec();
            text.splice(end..end, piece);
        }
        Mutation::Truncate(i) => text.truncate(at(i, len)),
    }
}

/// Characters that matter to KDL, HAProxy or a shell, and some that are just odd.
fn interesting_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => prop::sample::select(
            "{}()[]\"'#/\\=;:*-_.@%$`~!,+ \t\r\n\u{0}\u{7}\u{1b}\u{85}\u{a0}\u{2028}\u{feff}é５0123456789rx"
                .chars()
                .collect::<Vec<_>>()
        ),
        1 => any::<char>(),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let pos = 0usize..4096;
    prop_oneof![
        4 => (pos.clone(), interesting_char()).prop_map(|(i, c)| Mutation::InsertChar(i, c)),
        1 => (pos.clone(), any::<u8>()).prop_map(|(i, b)| Mutation::InsertByte(i, b)),
        3 => (pos.clone(), 1usize..40).prop_map(|(i, n)| Mutation::Delete(i, n)),
        3 => (pos.clone(), interesting_char()).prop_map(|(i, c)| Mutation::Replace(i, c)),
        1 => (pos.clone(), 1usize..200).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
        1 => pos.prop_map(Mutation::Truncate),
    ]
}

/// KDL-ish token soup: real node and property names with hostile and odd values.
fn token() -> impl Strategy<Value = String> {
    let words = [
        "edge",
        "include",
        "listen",
        "tls",
        "acme",
        "certificate",
        "domains",
        "stats",
        "admin-socket",
        "timeouts",
        "health",
        "sticky-cookie",
        "env",
        "hosts",
        "active-color",
        "container-pattern",
        "cookie",
        "component",
        "route",
        "prefix",
        "suffix",
        "default",
        "outside",
        "placeholder",
        "body",
        "target",
        "local",
        "ssh",
        "incus",
        "validate",
        "reload",
        "port=",
        "http=",
        "https=",
        "bind=",
        "uri=",
        "to=",
        "pool=",
        "sticky=",
        "balance=",
        "address=",
        "hosts-of=",
        "email=",
        "status=",
        "mode=",
        "fall=",
        "root=",
        "host=",
        "cert-dir=",
        "interval=",
        "{",
        "}",
        ";",
        "\n",
        " ",
        "/-",
        "//",
        "#true",
        "#null",
        "true",
        "8080",
        "0",
        "-1",
        "70000",
        "99999999999999999999999",
        "999999999999999999999999999999999999999999",
        "1.5",
        "0x10",
        "\"x\"",
        "\"veza.fr\"",
        "\"*:80\"",
        "\"[::]:443\"",
        "\"127.0.0.1:9100\"",
        "\"/api/\"",
        "\"5s\"",
        "\"a-{component}-{color}.lxd\"",
        "\"a b\"",
        "\"a\\nb\"",
        "\"a\\u{0}b\"",
        "\"#\"",
        "\"\"",
        "\"ops@veza.fr\"",
        "\"../x.kdl\"",
        "\"x.kdl\"",
        "\"\"\"\nmulti\nline\n\"\"\"",
        "#\"raw\"#",
    ];
    prop::sample::select(words.to_vec()).prop_map(str::to_string)
}

proptest! {
    // 256 cases keep the run short; `PROPTEST_CASES=10000` digs deeper.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        load(text.as_bytes());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        load(&bytes);
    }

    #[test]
    fn mutated_bundled_specs_never_panic(edits in prop::collection::vec(mutation(), 1..8)) {
        let mut text = bundled();
        for m in &edits {
            apply(&mut text, m);
        }
        load(&text);
    }

    #[test]
    fn token_soup_never_panics(tokens in prop::collection::vec(token(), 0..80)) {
        load(tokens.join(" ").as_bytes());
    }

    /// The same soup split into `edge.kdl` and an env file, so cross-file notes render too.
    #[test]
    fn token_soup_in_two_files_never_panics(
        a in prop::collection::vec(token(), 0..40),
        b in prop::collection::vec(token(), 0..40),
    ) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("env")).unwrap();
        std::fs::write(dir.path().join("edge.kdl"), a.join(" ")).unwrap();
        std::fs::write(dir.path().join("env/x.kdl"), b.join(" ")).unwrap();
        load_dir(dir.path());
    }

    /// Whatever a constructor accepts can go into haproxy.cfg or a command line unquoted.
    #[test]
    fn accepted_values_are_inert(
        s in prop_oneof![
            any::<String>(),
            "[a-zA-Z0-9._:/@%+,=~!*{}$;#'\" \t\n\r\u{0}\\[\\]-]{0,24}",
            "[a-z0-9.-]{1,20}(:[0-9]{1,6})?",
        ]
    ) {
        let accepted: Vec<String> = [
            Host::parse(&s).map(|v| v.to_string()),
            Ident::parse(&s).map(|v| v.to_string()),
            CertName::parse(&s).map(|v| v.to_string()),
            CookieName::parse(&s).map(|v| v.to_string()),
            PathPrefix::parse(&s).map(|v| v.to_string()),
            PathSuffix::parse(&s).map(|v| v.to_string()),
            AbsPath::parse(&s).map(|v| v.to_string()),
            Email::parse(&s).map(|v| v.to_string()),
            Arg::parse(&s).map(|v| v.to_string()),
            Duration::parse(&s).map(|v| v.to_string()),
            Address::parse(&s).map(|v| v.to_string()),
            Bind::parse(&s).map(|v| v.to_string()),
            NamePattern::parse(&s).map(|_| s.clone()),
            Directory::parse(&s).map(|v| v.url().to_string()),
        ]
        .into_iter()
        .flatten()
        .collect();
        for v in accepted {
            prop_assert!(!v.is_empty(), "{s:?} accepted as an empty value");
            prop_assert!(
                v.chars().all(|c| c.is_ascii_graphic() && !"#\"'\\$;`".contains(c)),
                "{s:?} accepted as {v:?}"
            );
        }
    }
}
