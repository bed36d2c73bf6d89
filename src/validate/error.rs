//! The validation stage's diagnostics: one variant per way the spec's parts can disagree.
//!
//! A [`ValidateError`] is a place (file and span, once: [`Located`]) and a [`Problem`] with a
//! stable diagnostic code (`edgeplan::validate::…`); fixtures under `tests/specs/invalid/` name these codes, and
//! `tests/integration/fixtures.rs` reads this file to know every code there is. The checks that
//! raise them live in the sibling modules; [`super::Checker`] holds the shorthands for the
//! common ones.

use miette::{Diagnostic, SourceSpan};
use thiserror::Error;

use crate::diag::{Label, Located};
use crate::spec::{Note, Src};

/// A problem with how the spec's parts fit together, at its place (the file and span once,
/// [`Located`]; what is wrong apart, [`Problem`]).
#[derive(Debug, Error, Diagnostic)]
#[error(transparent)]
#[diagnostic(transparent)]
pub struct ValidateError(Box<Located<Problem>>);

impl ValidateError {
    /// `kind` at `span` of `src`.
    pub fn at(src: Src, span: SourceSpan, kind: Problem) -> ValidateError {
        ValidateError(Box::new(Located { src, span, kind }))
    }
}

/// What is wrong, one variant per way the spec's parts can disagree.
#[derive(Debug, Error, Diagnostic)]
pub enum Problem {
    /// The same host is served in two places.
    #[error("host `{host}` is served twice: by {first_owner} and by {owner}")]
    #[diagnostic(
        code(edgeplan::validate::duplicate_host),
        help("a host may belong to one env, outside backend or placeholder; remove one of them")
    )]
    DuplicateHost {
        /// Host.
        host: String,
        /// Second owner.
        owner: String,
        /// First owner.
        first_owner: String,
        /// First place.
        #[related]
        first: Vec<Note>,
    },

    /// Two things of one kind share a name.
    #[error("{kind} `{name}` is defined twice")]
    #[diagnostic(
        code(edgeplan::validate::duplicate_name),
        help("{kind} names must be unique; rename one of them")
    )]
    DuplicateName {
        /// Kind.
        kind: &'static str,
        /// Name.
        name: String,
        /// First place.
        #[related]
        first: Vec<Note>,
    },

    /// A public host no certificate covers.
    #[error("host `{host}` has no certificate")]
    #[diagnostic(
        code(edgeplan::validate::uncovered_host),
        help(
            "add `{host}` to the `domains` of a `certificate` in `acme`, or a `certificate` with `hosts-of=\"{owner}\"`"
        )
    )]
    UncoveredHost {
        /// Host.
        host: String,
        /// Owner name.
        owner: String,
    },

    /// A host in two certificate groups.
    #[error("host `{host}` is in two certificates: `{first_cert}` and `{cert}`")]
    #[diagnostic(
        code(edgeplan::validate::host_in_two_certificates),
        help(
            "each host belongs to exactly one certificate group, or HAProxy's choice by SNI is ambiguous"
        )
    )]
    HostInTwoCertificates {
        /// Host.
        host: String,
        /// Certificate.
        cert: String,
        /// Other certificate.
        first_cert: String,
    },

    /// A certificate names a host nobody serves.
    #[error(
        "certificate `{cert}` names `{host}`, which no env, outside backend or placeholder serves"
    )]
    #[diagnostic(
        code(edgeplan::validate::unserved_domain),
        help("remove it, or add it to the `hosts` of what should serve it")
    )]
    UnservedDomain {
        /// Host.
        host: String,
        /// Certificate.
        cert: String,
    },

    /// A reference to something that does not exist.
    #[error("{kind} `{name}` does not exist{context}")]
    #[diagnostic(code(edgeplan::validate::unknown_reference))]
    UnknownReference {
        /// Kind.
        kind: &'static str,
        /// Name.
        name: String,
        /// " in env `staging`".
        context: String,
        /// Suggestion.
        #[help]
        help: String,
    },

    /// Two envs share a cookie name.
    #[error("envs `{first_env}` and `{env}` use the same sticky cookie `{cookie}`")]
    #[diagnostic(
        code(edgeplan::validate::shared_cookie),
        help("a session cookie must never cross environments; give each env its own `cookie`")
    )]
    SharedCookie {
        /// Cookie.
        cookie: String,
        /// Env.
        env: String,
        /// Other env.
        first_env: String,
    },

    /// A route, or one of its prefixes or suffixes, can never match ([`crate::reach`]).
    #[error("{what} can never match: {by} takes every path it would")]
    #[diagnostic(code(edgeplan::validate::unreachable))]
    Unreachable {
        /// What (`route \`v2\` of env \`demo\``, `prefix \`/a/x\` of route …`).
        what: String,
        /// The earlier routes.
        by: String,
        /// How to fix.
        #[help]
        help: String,
        /// Where the earlier routes are.
        #[related]
        first: Vec<Note>,
    },

    /// A component no route and no default sends a request to.
    #[error(
        "component `{component}` of env `{env}` gets no request: no route or `default` sends any to it"
    )]
    #[diagnostic(
        code(edgeplan::validate::unreached_component),
        help("add a `route … to=\"{component}\"` or make it the env's `default`, or remove it")
    )]
    UnreachedComponent {
        /// Component.
        component: String,
        /// Env.
        env: String,
    },

    /// Two components' sticky cookies would share a name.
    #[error("{owner} and {first} would both set the sticky cookie `{cookie}`")]
    #[diagnostic(
        code(edgeplan::validate::cookie_clash),
        help(
            "each cookie pins a client to one component's instance: rename an env, a \
             component, or give an env its own `cookie`"
        )
    )]
    CookieClash {
        /// Cookie.
        cookie: String,
        /// This component.
        owner: String,
        /// The first one.
        first: String,
    },

    /// Two rendered backends would share a name.
    #[error("backend name `{backend}` is produced twice ({first} and {second})")]
    #[diagnostic(
        code(edgeplan::validate::backend_name_clash),
        help(
            "rename a `pool`, env, outside backend or placeholder so every backend name is unique"
        )
    )]
    BackendNameClash {
        /// Backend.
        backend: String,
        /// First producer.
        first: String,
        /// Second producer.
        second: String,
    },

    /// A management endpoint that is reachable from outside.
    #[error("{what} must listen on loopback only, not `{address}`")]
    #[diagnostic(
        code(edgeplan::validate::not_loopback),
        help("use 127.0.0.1 or ::1{extra}; reach it through an ssh tunnel")
    )]
    NotLoopback {
        /// What.
        what: &'static str,
        /// Address.
        address: String,
        /// More help.
        extra: &'static str,
    },

    /// A required setting is missing.
    #[error("{what}")]
    #[diagnostic(code(edgeplan::validate::missing_setting))]
    MissingSetting {
        /// What.
        what: String,
        /// How to fix.
        #[help]
        help: String,
    },

    /// Settings that contradict each other.
    #[error("{what}")]
    #[diagnostic(code(edgeplan::validate::conflict))]
    Conflict {
        /// What.
        what: String,
        /// Label.
        label: String,
        /// How to fix.
        #[help]
        help: String,
    },

    /// A certificate group with more names than Let's Encrypt puts in one certificate.
    #[error("certificate `{cert}` has {count} domains; Let's Encrypt allows at most {max}")]
    #[diagnostic(
        code(edgeplan::validate::too_many_domains),
        help("split it into several `certificate` groups of at most {max} domains each")
    )]
    TooManyDomains {
        /// Certificate.
        cert: String,
        /// Number of domains.
        count: usize,
        /// The limit.
        max: usize,
    },

    /// Redirect sites that send a client round in a circle.
    #[error("redirect `{site}` loops: {chain} comes back to where it started")]
    #[diagnostic(
        code(edgeplan::validate::redirect_loop),
        help("one of these redirects must go to a host that answers (an env or a site), not back")
    )]
    RedirectLoop {
        /// The site.
        site: String,
        /// Its chain of targets.
        chain: String,
        /// Where each further target is.
        #[related]
        notes: Vec<Note>,
    },

    /// Two listeners on one port.
    #[error("port {port} is used by both {first} and {second}")]
    #[diagnostic(
        code(edgeplan::validate::port_clash),
        help("HAProxy cannot bind the same port twice; pick another port")
    )]
    PortClash {
        /// Port.
        port: u16,
        /// First.
        first: String,
        /// Second.
        second: String,
    },
}

impl Label for Problem {
    fn label(&self) -> String {
        match self {
            Problem::DuplicateHost { .. } => "served again here".into(),
            Problem::DuplicateName { .. } => "defined again here".into(),
            Problem::UncoveredHost { .. } => "served over TLS without a certificate".into(),
            Problem::HostInTwoCertificates { .. } => "also here".into(),
            Problem::UnservedDomain { .. } => "not served".into(),
            Problem::UnknownReference { kind, .. } => format!("unknown {kind}"),
            Problem::SharedCookie { first_env, .. } => format!("same cookie as env `{first_env}`"),
            Problem::Unreachable { .. } => "never matches".into(),
            Problem::UnreachedComponent { .. } => "unreached".into(),
            Problem::CookieClash { first, .. } => format!("its cookie is also {first}'s"),
            Problem::BackendNameClash { backend, .. } => format!("produces `{backend}`"),
            Problem::NotLoopback { .. } => "reachable from other hosts".into(),
            Problem::MissingSetting { .. } => "here".into(),
            Problem::Conflict { label, .. } => label.to_string(),
            Problem::TooManyDomains { count, .. } => format!("{count} domains"),
            Problem::PortClash { port, .. } => format!("port {port} again"),
            Problem::RedirectLoop { .. } => "loops back".into(),
        }
    }
}
