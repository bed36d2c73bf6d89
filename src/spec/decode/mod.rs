//! The hand-written decoder over the `kdl` document API (the derive crates are KDL v1 only).
//!
//! Every node kind lists the properties and children it takes; anything else is an error with a
//! did-you-mean. Values are checked against their model types on the spot. Errors are pushed,
//! never returned early, so one run reports every problem of every file.

use kdl::{KdlDocument, KdlEntry, KdlNode, KdlValue};
use miette::SourceSpan;

use super::{
    AcmeSpec, AdminSpec, At, CertSpec, ComponentSpec, EnvSpec, ExpectSpec, HealthSpec,
    InstanceAddress, InstanceSpec, ListenSpec, Note, OutsideSpec, PlaceholderSpec, ProbeSpec,
    Problem, RouteSpec, Spanned, Spec, SpecError, Src, StatsSpec, TargetSpec, TimeoutsSpec,
    TlsSpec, TransportSpec,
};
use crate::model::{
    AbsPath, Address, Arg, Balance, Bind, Body, CertName, Color, CookieName, Directory, Duration,
    Email, Host, Ident, Invalid, KeyType, LocalPath, MAX_INSTANCES, MAX_WEIGHT, NamePattern,
    Network, PathPrefix, PathSuffix, Port, SocketMode,
};
use crate::model::{CheckString, HealthPath, StatusSet};

mod auth;
mod edge;
mod entries;
mod envs;
mod observe;
mod policy;
mod target;
mod tcp;

const TOP: &[&str] = &[
    "edge",
    "include",
    "listen",
    "tls",
    "acme",
    "stats",
    "admin-socket",
    "timeouts",
    "health",
    "sticky-cookie",
    "request-id",
    "trusted",
    "peers",
    "metrics",
    "access-log",
    "env",
    "base",
    "outside",
    "placeholder",
    "redirect",
    "tcp",
    "target",
    "policy",
    "policies",
    "userlist",
];

/// Decode one file into `spec`; returns the `include` paths it names.
pub(super) fn decode_file(
    spec: &mut Spec,
    file: usize,
    parsed: Result<KdlDocument, kdl::KdlError>,
    errors: &mut Vec<SpecError>,
) -> Vec<Spanned<String>> {
    let text = spec.files[file].text.clone();
    let src = spec.files[file].named();
    let doc = match parsed {
        Ok(doc) => doc,
        Err(e) => {
            // The parser's report of an integer too large for it points at the wrong place.
            let overlong = overlong_integers(&text);
            if !overlong.is_empty() {
                for span in overlong {
                    errors.push(SpecError::at(
                        src.clone(),
                        span,
                        Problem::Syntax {
                            message: "integer literal is too large".into(),
                            label: "does not fit in 128 bits".into(),
                            help: Some("no number in a spec is this large; check the value".into()),
                        },
                    ));
                }
                return Vec::new();
            }
            for d in e.diagnostics {
                let help = slashdash_semicolon_help(&text, d.span)
                    .or(d.help)
                    .or_else(|| v1_keyword_help(&text, d.span));
                errors.push(SpecError::at(
                    src.clone(),
                    d.span,
                    Problem::Syntax {
                        message: d.message.unwrap_or_else(|| "invalid KDL".into()),
                        label: d.label.unwrap_or_else(|| "here".into()),
                        help,
                    },
                ));
            }
            return Vec::new();
        }
    };
    let mut cx = Cx { file, src, errors };
    let mut includes = Vec::new();
    for node in doc.nodes() {
        cx.top(node, spec, &mut includes);
    }
    includes
}

/// Help for a KDL v1 keyword (`true`, `false`, `null`) where KDL v2 wants `#true`…
fn v1_keyword_help(text: &str, span: SourceSpan) -> Option<String> {
    let word = text.get(span.offset()..span.offset() + span.len())?;
    matches!(word, "true" | "false" | "null")
        .then(|| format!("KDL v2 writes `#{word}`; a bare `{word}` is not a value"))
}

/// Help for a slashdashed node ended by `;` with another node after it (`/-a 1; b 2`): valid
/// KDL v2 that the parser refuses (kdl-org/kdl-rs#107, open) with a misleading "invalid node
/// name" at the `;`. Found by the spec generator's spellings.
fn slashdash_semicolon_help(text: &str, span: SourceSpan) -> Option<String> {
    // The parser points at the `;` itself or just after it.
    let at = span.offset();
    let upto = if text.get(at..)?.starts_with(';') {
        at + 1
    } else {
        at
    };
    let statement = text.get(..upto)?.trim_end().strip_suffix(';')?;
    // The node the `;` ends: from the previous line break, `;` or `{`.
    let start = statement.rfind(['\n', ';', '{']).map_or(0, |i| i + 1);
    statement[start..].trim_start().starts_with("/-").then(|| {
        "a slashdashed node followed by `;` is valid KDL, but the parser edgeplan uses refuses it \
         (kdl-org/kdl-rs#107): put the next node on its own line, or drop the `;`"
            .to_string()
    })
}

/// Decimal integer literals that are too large for the KDL parser (beyond `i128`), when they
/// are the only reason `text` does not parse. Each is checked by re-parsing, so digits inside
/// strings or comments are never blamed.
fn overlong_integers(text: &str) -> Vec<SourceSpan> {
    let bytes = text.as_bytes();
    let mut runs = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let starts = bytes[i].is_ascii_digit()
            && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || b"_.".contains(&bytes[i - 1])));
        if !starts {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'_') {
            i += 1;
        }
        let digits: String = text[start..i].chars().filter(|c| *c != '_').collect();
        if digits.len() >= 39 && digits.parse::<i128>().is_err() {
            runs.push(start..i);
        }
    }
    if runs.is_empty() {
        return Vec::new();
    }
    // Same length, still a valid KDL decimal: spans elsewhere do not move.
    let neutral = |text: &mut String, r: &std::ops::Range<usize>| {
        text.replace_range(r.clone(), &format!("0{}", "_".repeat(r.len() - 1)));
    };
    let mut all = text.to_string();
    for r in &runs {
        neutral(&mut all, r);
    }
    if KdlDocument::parse_v2(&all).is_err() {
        return Vec::new();
    }
    runs.into_iter()
        .filter(|r| {
            let mut one = all.clone();
            one.replace_range(r.clone(), &text[r.clone()]);
            KdlDocument::parse_v2(&one).is_err()
        })
        .map(|r| SourceSpan::from(r.start..r.end))
        .collect()
}

/// The decoding context of one file.
struct Cx<'a> {
    file: usize,
    src: Src,
    errors: &'a mut Vec<SpecError>,
}

fn kdl_type(v: &KdlValue) -> &'static str {
    match v {
        KdlValue::String(_) => "a string",
        KdlValue::Integer(_) => "an integer",
        KdlValue::Float(_) => "a number with a fraction",
        KdlValue::Bool(_) => "a boolean",
        KdlValue::Null => "#null",
    }
}

/// "did you mean `x`?" or the list of what is known.
fn suggest(name: &str, known: &[&str]) -> String {
    match crate::diag::closest(name, known) {
        Some(k) => format!("did you mean `{k}`?"),
        None if known.is_empty() => "this node takes none".to_string(),
        None => format!(
            "known here: {}",
            known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::target::ssh_word;
    use super::*;

    #[test]
    fn overlong_integers_are_found_only_where_they_break_the_parse() {
        let big = "9".repeat(60);
        for (text, found) in [
            (format!("a x={big}\n"), vec![(4, 64)]),
            (format!("a {big}\nb -{big}\n"), vec![(2, 62), (66, 126)]),
            (format!("a x=1_{}\n", "0".repeat(50)), vec![(4, 56)]),
            // Fits in an i128: the parser takes it, the range check reports it.
            ("a x=99999999999999999999999\n".to_string(), vec![]),
            // Inside a string or a comment it is text.
            (
                format!("a \"{big}\" // {big}\nb x={big}\n"),
                vec![(133, 193)],
            ),
            // Another syntax error: leave the report to the parser.
            (format!("a x={big} {{\n"), vec![]),
            (format!("a \"{big}\"\n"), vec![]),
        ] {
            let got: Vec<(usize, usize)> = overlong_integers(&text)
                .into_iter()
                .map(|s| (s.offset(), s.offset() + s.len()))
                .collect();
            assert_eq!(got, found, "{text:?}");
        }
    }

    #[test]
    fn a_slashdashed_node_before_a_semicolon_gets_help() {
        for (text, at, help) in [
            ("/-a 1; b 2", 5, true),
            ("x {\n  /-a \"1\";b 2\n}", 13, true),
            ("a 1; b 2", 3, false),
            ("a /-1; b 2", 5, false),
            ("/-a 1\nb; c", 8, false),
        ] {
            let span = SourceSpan::from(at..at + 1);
            assert_eq!(
                slashdash_semicolon_help(text, span).is_some(),
                help,
                "{text:?} at {at}"
            );
        }
    }

    #[test]
    fn kdl_v1_keywords_get_help() {
        let text = "a x=true y=null z=yes";
        for (start, word, help) in [(4, "true", true), (11, "null", true), (18, "yes", false)] {
            let span = SourceSpan::from(start..start + word.len());
            assert_eq!(v1_keyword_help(text, span).is_some(), help, "{word}");
        }
        assert_eq!(v1_keyword_help(text, SourceSpan::from(100..104)), None);
    }

    #[test]
    fn ssh_words_are_not_options() {
        for (s, ok) in [
            ("r720.veza.fr", true),
            ("deploy", true),
            ("user@host", true),
            ("-oProxyCommand=reboot", false),
            ("-p", false),
            ("r720 -p 2", false),
            ("", false),
        ] {
            assert_eq!(ssh_word(s).is_ok(), ok, "{s:?}");
        }
        assert!(ssh_word("-x").unwrap_err().unsafe_chars);
    }
}
