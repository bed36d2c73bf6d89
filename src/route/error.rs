//! What `edgeplan route` refuses: a URL, cookie, header or `--colors` item it cannot read, a
//! scheme the edge has no listener for, and a routing table that contradicts itself (a bug in
//! edgeplan). Each is a diagnostic with a stable `edgeplan::route::*` code; the ones about an
//! argument point at the offending characters.

use miette::{Diagnostic, NamedSource, SourceSpan};
use thiserror::Error;

/// A bad argument of `edgeplan route`.
#[derive(Debug, Error, Diagnostic)]
pub enum RouteError {
    /// The URL cannot be parsed.
    #[error("cannot parse the URL: {reason}")]
    #[diagnostic(code(edgeplan::route::bad_url), help("{help}"))]
    BadUrl {
        /// The URL.
        #[source_code]
        src: NamedSource<String>,
        /// Place.
        #[label("{label}")]
        span: SourceSpan,
        /// What is wrong.
        reason: String,
        /// Label text.
        label: String,
        /// How to fix.
        help: String,
    },

    /// A `--cookie` argument is not `NAME=VALUE` with a valid name and value.
    #[error("bad --cookie `{arg}`: {reason}")]
    #[diagnostic(
        code(edgeplan::route::bad_cookie),
        help(
            "write `--cookie NAME=VALUE`: NAME a token, VALUE without spaces, `;`, `,`, `\"` or `\\`"
        )
    )]
    BadCookie {
        /// The argument.
        #[source_code]
        src: NamedSource<String>,
        /// Place.
        #[label("{reason}")]
        span: SourceSpan,
        /// The argument.
        arg: String,
        /// What is wrong.
        reason: String,
    },

    /// A `--header` argument is not `NAME=VALUE`.
    #[error("bad --header `{arg}`: {reason}")]
    #[diagnostic(code(edgeplan::route::bad_header), help("{help}"))]
    BadHeader {
        /// The argument.
        #[source_code]
        src: NamedSource<String>,
        /// Place.
        #[label("{reason}")]
        span: SourceSpan,
        /// The argument.
        arg: String,
        /// What is wrong.
        reason: String,
        /// How to fix.
        help: String,
    },

    /// A `--colors` item is not `ENV=COLOR`.
    #[error("bad --colors item `{item}`: expected ENV=COLOR")]
    #[diagnostic(
        code(edgeplan::route::bad_colors),
        help("for example: --colors staging=green,prod=blue")
    )]
    BadColors {
        /// The item.
        item: String,
    },

    /// `--colors` names an env the specs do not define.
    #[error("--colors names env `{env}`, which the specs do not define")]
    #[diagnostic(code(edgeplan::route::unknown_env), help("{help}"))]
    UnknownEnv {
        /// The env.
        env: String,
        /// Suggestion or the known envs.
        help: String,
    },

    /// `--colors` gives something that is neither a colour nor a canary.
    #[error("--colors gives env `{env}` `{color}`: {why}")]
    #[diagnostic(
        code(edgeplan::route::unknown_color),
        help(
            "give a colour, `blue` or `green`, or a canary: `green@10` sends 10 % of new \
             sessions to green (1 to 99 %) and keeps the rest on blue"
        )
    )]
    UnknownColor {
        /// The env.
        env: String,
        /// What was given.
        color: String,
        /// What is wrong.
        why: String,
    },

    /// The edge has no listener for the URL's scheme.
    #[error("the edge has no {scheme} listener")]
    #[diagnostic(
        code(edgeplan::route::no_listener),
        help("this edge serves plain http only (no `https=` in `listen`); use an http:// URL")
    )]
    NoListener {
        /// The scheme.
        scheme: String,
    },

    /// A switch names a backend the routing table lacks (a bug in edgeplan).
    #[error("backend `{backend}` is used but not defined")]
    #[diagnostic(
        code(edgeplan::route::internal),
        help("this is a bug in edgeplan: please report it")
    )]
    Internal {
        /// The backend.
        backend: String,
    },
}
