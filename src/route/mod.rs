//! `edgeplan route`: where one request lands, explained step by step.
//!
//! [`explain`] walks the routing table of [`crate::rules`] — the very list the haproxy template
//! renders — the way HAProxy evaluates it: the frontend of the request's scheme, every ACL (with
//! HAProxy's semantics: the Host header's part before the first `:` compared without case,
//! `path_beg`/`path_end` on the path as received, query string excluded), the `http-request
//! redirect`, the `use_backend` switches in order (their ACLs ANDed), `default_backend`; then
//! the backend: a static answer, or the servers that can take the request (the active colour;
//! `disabled` servers take nothing), the balancing and the sticky cookie (`cookie NAME insert
//! indirect nocache`: a request cookie naming an active server pins it; anything else is
//! ignored and the response sets the cookie).
//!
//! Nothing here re-decides routing: every name, test and order comes from the
//! [`Routing`](crate::rules::Routing).
//!
//! This file holds the [`Explanation`] (the JSON document of `--format json`) and its parts.
//! The rest, one concept per file: `request` reads the request from the command line, `engine`
//! walks the rules (`backend` its backend part, `policy` the policy rules), `verdict` is how the walk ends ([`Verdict`]), `chash` is HAProxy's
//! consistent hash, `text` prints an explanation, `error` the diagnostics.

// Diagnostics carry their source text by design (as `large_enum_variant` in Cargo.toml says);
// they are cold and returned once per run.
#![allow(clippy::result_large_err)]

mod backend;
mod chash;
mod credentials;
mod engine;
mod error;
mod notes;
mod policy;
mod request;
mod tcp;
mod text;
mod verdict;

use serde::Serialize;

pub use chash::{chash_pick, full_hash, sdbm, uri_hash};
pub use credentials::Credentials;
pub use engine::{explain, haproxy_test, redirect_rule};
pub use error::RouteError;
pub use policy::{PolicyResult, client_address};
pub use request::{HOST_VAR, NameValue, Request, apply_colors};
pub use tcp::{TcpExplanation, TcpServiceView, explain_tcp, render_tcp_text};
pub use text::render_text;
pub use verdict::{Chosen, Pick, Reached, Role, ServerChoice, Verdict};

use crate::model::{Balance, Color};
use crate::rules::{BackendKind, Scheme, Test};

/// Version of the JSON document; bumped on any incompatible change.
pub const FORMAT_VERSION: u32 = 1;

/// Everything `edgeplan route` says about one request (the JSON document of `--format json`).
///
/// How the request's way ends is [`verdict`](Self::verdict), a sum type with the data of each
/// ending. The flat fields from `default_backend` to `sets_cookie` (but the servers, balancing,
/// health check and sticky cookie, which record the backend) spell it out for the JSON document
/// and for callers that read one of them; [`explain`] fills them from the verdict and nothing
/// else sets them.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// Always [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The request.
    pub request: Request,
    /// The frontend that receives it.
    pub frontend: FrontendView,
    /// Every ACL of the frontend, in declaration order.
    pub acls: Vec<AclResult>,
    /// The http → https redirect rule, when the frontend has one (and the request names one
    /// host).
    pub redirect: Option<Redirect>,
    /// Every rule that takes requests, in order (none when the request is refused with 400):
    /// the first that matches names the route (its `key`) and its backend.
    pub switches: Vec<SwitchResult>,
    /// The route the request took (`txn.route`): the chosen switch's key; `None`: none matched.
    pub route_key: Option<String>,
    /// The policy rules haproxy reaches, in order: access, maintenance, rewrite, request
    /// headers, response headers.
    pub policies: Vec<PolicyResult>,
    /// The path and query the upstream gets when a route's `rewrite=` changed them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_path: Option<String>,
    /// What happens in the end, with the data of that ending. Not in the JSON document, which
    /// spells it out in the fields below.
    #[serde(skip)]
    pub verdict: Verdict,
    /// True when no switch matched and `default_backend` took the request.
    pub default_backend: bool,
    /// What happens in the end ([`Verdict::outcome`]).
    pub outcome: Outcome,
    /// Status HAProxy answers with itself (redirect, static answer, no server, bad request);
    /// `None` when a server answers.
    pub status: Option<u16>,
    /// `Location` of a redirect.
    pub location: Option<String>,
    /// The backend, unless refused or redirected.
    pub backend: Option<String>,
    /// Its kind.
    pub kind: Option<BackendKind>,
    /// Its env, for pools.
    pub env: Option<String>,
    /// Its component, for pools.
    pub component: Option<String>,
    /// Body file of a static answer.
    pub body_file: Option<String>,
    /// The backend's servers.
    pub servers: Vec<ServerView>,
    /// How the backend picks among the servers that can take the request.
    pub balance: Option<BalanceView>,
    /// How haproxy checks the backend's servers (`GET /health Host …, expects status 200…`);
    /// `None`: no check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check: Option<String>,
    /// The sticky cookie decision, for backends with a cookie.
    pub sticky: Option<Sticky>,
    /// The server that takes the request, when it is determined.
    pub chosen_server: Option<String>,
    /// The server the request's cookie pins, if any.
    pub pinned_server: Option<String>,
    /// The cookie the response sets.
    pub sets_cookie: Option<SetCookie>,
    /// Remarks for humans (cookies of other envs, headers no rule reads…).
    pub notes: Vec<String>,
}

/// The frontend that receives the request.
#[derive(Debug, Clone, Serialize)]
pub struct FrontendView {
    /// Section name.
    pub name: String,
    /// Scheme it serves.
    pub scheme: Scheme,
    /// Bind address.
    pub bind: String,
}

/// One ACL and its value for the request.
#[derive(Debug, Clone, Serialize)]
pub struct AclResult {
    /// ACL name.
    pub name: String,
    /// Its test, as in the routing table.
    pub test: Test,
    /// HAProxy's spelling of the test.
    pub haproxy: String,
    /// What the test looked at (host part of the Host header, or path); `None` when absent.
    pub sample: Option<String>,
    /// Whether it matched.
    pub matched: bool,
}

/// The redirect rule and whether it fires.
#[derive(Debug, Clone, Serialize)]
pub struct Redirect {
    /// The rule as in the config.
    pub rule: String,
    /// The ACL that prevents it.
    pub unless: String,
    /// Whether it fires for this request.
    pub applies: bool,
    /// Status when it fires.
    pub status: u16,
    /// `Location` when it fires.
    pub location: Option<String>,
}

/// One rule that takes requests and its value for the request.
#[derive(Debug, Clone, Serialize)]
pub struct SwitchResult {
    /// Its route key.
    pub key: String,
    /// Backend.
    pub backend: String,
    /// ACLs, ANDed.
    pub when: Vec<String>,
    /// Why the rule exists.
    pub why: String,
    /// Whether all its ACLs match.
    pub matched: bool,
    /// Whether HAProxy reaches it (false after the first match).
    pub evaluated: bool,
    /// Whether it is the rule applied.
    pub chosen: bool,
}

/// What happens to the request in the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// HAProxy redirects (301 to https).
    Redirect,
    /// HAProxy answers a fixed status and body.
    Static,
    /// Forwarded to a server, which answers.
    Forward,
    /// The backend has no server that can take it: HAProxy answers 503.
    NoServer,
    /// The request names no host, or more than one: HAProxy answers 400 before any rule.
    BadRequest,
    /// An access rule refuses the client: HAProxy answers 403.
    Denied,
    /// A maintenance rule answers 503 with its page.
    Maintenance,
    /// A body limit refuses the request: 413 (too large) or 411 (chunked refused).
    BodyRefused,
    /// A basic-auth rule asks for credentials: HAProxy answers 401.
    Unauthorized,
}

/// A server of the backend.
#[derive(Debug, Clone, Serialize)]
pub struct ServerView {
    /// Server name.
    pub name: String,
    /// `host:port`.
    pub address: String,
    /// Colour, for env pools.
    pub color: Option<Color>,
    /// Sticky cookie value.
    pub cookie: Option<String>,
    /// Takes traffic (false: rendered `disabled`).
    pub active: bool,
    /// `weight`, when the config gives one (HAProxy's default is 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u16>,
    /// `id` (URI-hashed pools): the server's place on the consistent-hash ring.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u32>,
}

/// The balancing of a backend.
#[derive(Debug, Clone, Serialize)]
pub struct BalanceView {
    /// Algorithm.
    pub algorithm: Balance,
    /// HAProxy's spelling.
    pub haproxy: String,
    /// The key hashed, for `uri`.
    pub hash_key: Option<String>,
    /// For `uri` with several active servers: the hash of the key, as HAProxy computes it
    /// (sdbm, then avalanche), that picks the server on the consistent-hash ring.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash: Option<u32>,
}

/// What the sticky cookie does for this request.
#[derive(Debug, Clone, Serialize)]
pub struct Sticky {
    /// The backend's cookie name.
    pub cookie: String,
    /// The value the request carries, if any.
    pub sent: Option<String>,
    /// The decision.
    pub result: StickyResult,
    /// Why.
    pub reason: String,
}

/// The sticky cookie decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StickyResult {
    /// No cookie of that name: the request is balanced.
    Absent,
    /// The cookie names an active server, which takes the request.
    Pinned,
    /// The cookie names a disabled or unknown server: ignored, the request is balanced.
    Ignored,
}

/// A `Set-Cookie` of the response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetCookie {
    /// Name.
    pub name: String,
    /// Value (the chosen server's cookie), when the server is determined.
    pub value: Option<String>,
}

#[cfg(test)]
mod tests;
