//! Diagnostics of the decoding stage: one variant per kind of mistake, each pointing at the
//! exact place in its file (a [`NamedSource`] so the file name shows) with help.

use std::sync::Arc;

use miette::{Diagnostic, NamedSource, SourceSpan};

use crate::diag::{Label, Located};
use thiserror::Error;

/// The source type every spec diagnostic carries.
pub type Src = NamedSource<Arc<String>>;

/// A secondary location ("first defined here"), shown under the main diagnostic.
#[derive(Debug, Error, Diagnostic)]
#[error("{message}")]
#[diagnostic(severity(Advice))]
pub struct Note {
    /// What this place is.
    pub message: String,
    /// File.
    #[source_code]
    pub src: Src,
    /// Place.
    #[label("here")]
    pub span: SourceSpan,
}

/// A problem found while reading or decoding spec files.
#[derive(Debug, Error, Diagnostic)]
pub enum SpecError {
    /// A file or directory could not be read.
    #[error("cannot read {path}: {message}")]
    #[diagnostic(
        code(edgeplan::spec::io),
        help("check that the specs directory exists and is readable")
    )]
    Io {
        /// Path as given.
        path: String,
        /// OS message.
        message: String,
    },

    /// The specs directory has no edge spec.
    #[error("no edge spec: {path} does not exist")]
    #[diagnostic(
        code(edgeplan::spec::no_edge),
        help("a specs directory holds `edge.kdl` and one file per environment under `env/`")
    )]
    NoEdge {
        /// Expected path.
        path: String,
    },

    /// A problem at a place in a spec file.
    #[error(transparent)]
    #[diagnostic(transparent)]
    At(Box<Located<Problem>>),
}

impl SpecError {
    /// `kind` at `span` of `src`.
    pub fn at(src: Src, span: SourceSpan, kind: Problem) -> SpecError {
        SpecError::At(Box::new(Located { src, span, kind }))
    }
}

/// What is wrong at a place in a spec file (the place is the [`Located`]'s).
#[derive(Debug, Error, Diagnostic)]
pub enum Problem {
    /// The KDL parser refused the text.
    #[error("KDL syntax: {message}")]
    #[diagnostic(code(edgeplan::spec::syntax))]
    Syntax {
        /// Parser message.
        message: String,
        /// Parser label.
        label: String,
        /// Parser help.
        #[help]
        help: Option<String>,
    },

    /// A node name that is not part of the language at this place.
    #[error("unknown node `{name}` {context}")]
    #[diagnostic(code(edgeplan::spec::unknown_node))]
    UnknownNode {
        /// The name.
        name: String,
        /// "at top level", "in `env`".
        context: String,
        /// Did-you-mean or the list of known nodes.
        #[help]
        help: String,
    },

    /// A property that the node does not take.
    #[error("unknown property `{name}` on `{node}`")]
    #[diagnostic(code(edgeplan::spec::unknown_property))]
    UnknownProperty {
        /// Property.
        name: String,
        /// Node.
        node: String,
        /// Did-you-mean or the list of known properties.
        #[help]
        help: String,
    },

    /// The same property twice on one node (KDL would silently keep the last).
    #[error("property `{name}` is given twice")]
    #[diagnostic(code(edgeplan::spec::duplicate_property), help("keep one of them"))]
    DuplicateProperty {
        /// Property.
        name: String,
    },

    /// A value of the wrong KDL type.
    #[error("`{field}` must be {expected}, found {found}")]
    #[diagnostic(code(edgeplan::spec::wrong_type), help("write it as {example}"))]
    WrongType {
        /// Field.
        field: String,
        /// Expected KDL type.
        expected: &'static str,
        /// Found KDL type.
        found: &'static str,
        /// Example.
        example: &'static str,
    },

    /// A required argument, property or child is missing.
    #[error("`{node}` is missing {what}")]
    #[diagnostic(code(edgeplan::spec::missing))]
    Missing {
        /// Node.
        node: String,
        /// What.
        what: String,
        /// Example.
        #[help]
        help: String,
    },

    /// More positional arguments than the node takes.
    #[error("`{node}` takes {max} argument(s)")]
    #[diagnostic(
        code(edgeplan::spec::too_many_arguments),
        help("remove the extra value or make it a property `name=value`")
    )]
    TooManyArguments {
        /// Node.
        node: String,
        /// Maximum.
        max: usize,
    },

    /// A node that takes no children has some.
    #[error("`{node}` takes no children block")]
    #[diagnostic(
        code(edgeplan::spec::unexpected_children),
        help("remove the `{{ … }}` block")
    )]
    UnexpectedChildren {
        /// Node.
        node: String,
    },

    /// A value that is not a valid instance of its type.
    #[error("invalid `{field}`: {reason}")]
    #[diagnostic(
        code(edgeplan::spec::invalid_value),
        help("`{field}` must be {expected}")
    )]
    InvalidValue {
        /// Field.
        field: String,
        /// What it should be.
        expected: String,
        /// Why not.
        reason: String,
    },

    /// A value with characters that could inject directives into a rendered file.
    #[error("unsafe `{field}`: {reason}")]
    #[diagnostic(
        code(edgeplan::spec::unsafe_value),
        help(
            "`{field}` must be {expected}; characters that could end a token, start a comment, quote, expand or add a line in a rendered file are refused"
        )
    )]
    UnsafeValue {
        /// Field.
        field: String,
        /// What it should be.
        expected: String,
        /// Why not.
        reason: String,
    },

    /// An integer outside its range.
    #[error("`{field}` is out of range: {value} is not in {range}")]
    #[diagnostic(code(edgeplan::spec::out_of_range), help("use a value in {range}"))]
    OutOfRange {
        /// Field.
        field: String,
        /// Value.
        value: i128,
        /// Range.
        range: String,
    },

    /// A node that may appear once across all files appears again.
    #[error("`{node}` is defined more than once")]
    #[diagnostic(
        code(edgeplan::spec::duplicate_node),
        help("all spec files merge into one edge; keep a single `{node}`")
    )]
    DuplicateNode {
        /// Node.
        node: String,
        /// First definition.
        #[related]
        first: Vec<Note>,
    },

    /// An `include` that cannot be followed.
    #[error("bad include `{path}`: {reason}")]
    #[diagnostic(
        code(edgeplan::spec::bad_include),
        help(
            "include paths are relative to the specs directory, stay inside it, and name each file once"
        )
    )]
    BadInclude {
        /// Path.
        path: String,
        /// Why.
        reason: String,
    },
}

impl Label for Problem {
    fn label(&self) -> String {
        match self {
            Problem::Syntax { label, .. } => label.clone(),
            Problem::UnknownNode { .. } => "not known here".into(),
            Problem::UnknownProperty { .. } => "not known here".into(),
            Problem::DuplicateProperty { .. } => "again here".into(),
            Problem::WrongType { expected, .. } => format!("expected {expected}"),
            Problem::Missing { what, .. } => format!("needs {what}"),
            Problem::TooManyArguments { .. } => "unexpected".into(),
            Problem::UnexpectedChildren { .. } => "unexpected block".into(),
            Problem::InvalidValue { reason, .. } => reason.clone(),
            Problem::UnsafeValue { reason, .. } => reason.clone(),
            Problem::OutOfRange { .. } => "out of range".into(),
            Problem::DuplicateNode { .. } => "defined again here".into(),
            Problem::BadInclude { reason, .. } => reason.clone(),
        }
    }
}
