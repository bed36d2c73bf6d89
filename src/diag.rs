//! Showing problems: every diagnostic of every stage, graphically (miette, colour by `--color`
//! and `NO_COLOR`) or as JSON for editors and CI annotations, and the exit codes they map to.

use std::fmt::Write as _;

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, SourceSpan};
use serde::Serialize;

use crate::spec::SpecError;
use crate::validate::ValidateError;

/// A diagnostic of any stage.
pub type Boxed = Box<dyn Diagnostic + Send + Sync + 'static>;

/// Every problem a command found; shown all at once.
#[derive(Debug, Default)]
pub struct Problems(pub Vec<Boxed>);

impl Problems {
    /// From the decoding stage.
    pub fn from_spec(errors: Vec<SpecError>) -> Problems {
        Problems(errors.into_iter().map(|e| Box::new(e) as Boxed).collect())
    }
    /// From the validation stage.
    pub fn from_validate(errors: Vec<ValidateError>) -> Problems {
        Problems(errors.into_iter().map(|e| Box::new(e) as Boxed).collect())
    }
    /// One problem.
    pub fn one(e: impl Diagnostic + Send + Sync + 'static) -> Problems {
        Problems(vec![Box::new(e)])
    }
}

/// A diagnostic at one place in a spec file: the file and span once, and the kind apart — the
/// kind gives the message, code, help, severity and related notes, and the label's text
/// ([`Label`]). (The shape of just's `CompileError` and kdl-rs's `KdlDiagnostic`.)
#[derive(Debug)]
pub struct Located<K> {
    /// The file.
    pub src: crate::spec::Src,
    /// The place in it.
    pub span: SourceSpan,
    /// What is wrong there.
    pub kind: K,
}

/// The text under the place a [`Located`] diagnostic points at.
pub trait Label {
    /// The label (`not known here`, `expected a string`).
    fn label(&self) -> String;
}

impl<K: std::fmt::Display> std::fmt::Display for Located<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.kind.fmt(f)
    }
}

impl<K: std::error::Error> std::error::Error for Located<K> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.kind.source()
    }
}

impl<K: Diagnostic + Label> Diagnostic for Located<K> {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.kind.code()
    }
    fn severity(&self) -> Option<miette::Severity> {
        self.kind.severity()
    }
    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.kind.help()
    }
    fn url<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.kind.url()
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.src)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        Some(Box::new(std::iter::once(
            miette::LabeledSpan::new_with_span(Some(self.kind.label()), self.span),
        )))
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        self.kind.related()
    }
    fn diagnostic_source(&self) -> Option<&dyn Diagnostic> {
        self.kind.diagnostic_source()
    }
}

/// Render diagnostics as text, `width` columns, with or without colour.
pub fn render_text(problems: &Problems, color: bool, width: usize) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(width)
        .with_links(false);
    let mut out = String::new();
    for d in &problems.0 {
        if handler.render_report(&mut out, d.as_ref()).is_err() {
            let _ = writeln!(out, "error: {d}");
        }
    }
    let n = problems.0.len();
    let _ = writeln!(
        out,
        "error: {n} problem{} found",
        if n == 1 { "" } else { "s" }
    );
    out
}

/// One diagnostic as JSON.
#[derive(Debug, Serialize)]
pub struct JsonDiagnostic {
    /// Stable code (`edgeplan::spec::unknown_node`).
    pub code: Option<String>,
    /// `error`, `warning` or `advice`.
    pub severity: &'static str,
    /// Message.
    pub message: String,
    /// File as shown.
    pub file: Option<String>,
    /// 1-based line.
    pub line: Option<usize>,
    /// 1-based column.
    pub column: Option<usize>,
    /// Label text at the place.
    pub label: Option<String>,
    /// Help.
    pub help: Option<String>,
    /// Secondary diagnostics (e.g. "first defined here").
    pub related: Vec<JsonDiagnostic>,
}

fn to_json(d: &dyn Diagnostic) -> JsonDiagnostic {
    let label = d.labels().and_then(|mut l| l.next());
    let (mut file, mut line, mut column) = (None, None, None);
    if let (Some(src), Some(l)) = (d.source_code(), &label) {
        let span: SourceSpan = *l.inner();
        if let Ok(c) = src.read_span(&SourceSpan::from(span.offset()..span.offset()), 0, 0) {
            file = c.name().map(str::to_string);
            line = Some(c.line() + 1);
            column = Some(c.column() + 1);
        }
    }
    JsonDiagnostic {
        code: d.code().map(|c| c.to_string()),
        severity: match d.severity() {
            Some(miette::Severity::Advice) => "advice",
            Some(miette::Severity::Warning) => "warning",
            _ => "error",
        },
        message: d.to_string(),
        file,
        line,
        column,
        label: label.and_then(|l| l.label().map(str::to_string)),
        help: d.help().map(|h| h.to_string()),
        related: d
            .related()
            .map(|r| r.map(to_json).collect())
            .unwrap_or_default(),
    }
}

/// Diagnostics as a JSON document: `{"format_version": 1, "diagnostics": [...]}`.
pub fn render_json(problems: &Problems) -> String {
    #[derive(Serialize)]
    struct Doc {
        format_version: u32,
        ok: bool,
        diagnostics: Vec<JsonDiagnostic>,
    }
    let doc = Doc {
        format_version: 1,
        ok: problems.0.is_empty(),
        diagnostics: problems.0.iter().map(|d| to_json(d.as_ref())).collect(),
    };
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

/// The known name closest to `name`, for a "did you mean": the best Jaro–Winkler similarity
/// (strsim) above 0.8, or none. `known` in any order; ties go to the last best.
pub fn closest<'k>(name: &str, known: &[&'k str]) -> Option<&'k str> {
    closest_above(name, known, 0.8)
}

/// [`closest`] with another floor for the similarity (0 to 1).
pub fn closest_above<'k>(name: &str, known: &[&'k str], floor: f64) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (strsim::jaro_winkler(name, k), *k))
        .filter(|(score, _)| *score > floor)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}
