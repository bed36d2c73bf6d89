//! `edgeplan route`'s engine: where one request lands, explained step by step.
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
//! Nothing here re-decides routing: every name, test and order comes from the [`Routing`].

// Diagnostics carry their source text by design (as `large_enum_variant` in Cargo.toml says);
// they are cold and returned once per run.
#![allow(clippy::result_large_err)]

use std::fmt::Write as _;

use miette::{Diagnostic, NamedSource, SourceSpan};
use serde::Serialize;
use thiserror::Error;

use crate::model::{Balance, Color, Edge, Ident};
use crate::rules::{Backend, BackendKind, Frontend, Routing, Scheme, Test};
use crate::state::ActiveColors;

/// Version of the JSON document; bumped on any incompatible change.
pub const FORMAT_VERSION: u32 = 1;

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

    /// `--colors` gives something that is not a colour.
    #[error("--colors gives env `{env}` the colour `{color}`")]
    #[diagnostic(
        code(edgeplan::route::unknown_color),
        help("a colour is `blue` or `green`")
    )]
    UnknownColor {
        /// The env.
        env: String,
        /// What was given.
        color: String,
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

/// One request as it reaches the edge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Request {
    /// The URL as given.
    pub url: String,
    /// `http` or `https`: picks the frontend.
    pub scheme: Scheme,
    /// The Host header as sent (the URL's authority, or `--header Host=…`), case and port kept.
    pub host_header: Option<String>,
    /// Further Host headers (`--header Host=…` given again): the request is ambiguous.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_host_headers: Vec<String>,
    /// The path as sent, starting with `/`, without the query string.
    pub path: String,
    /// The query string without `?`, when there is one.
    pub query: Option<String>,
    /// Cookies sent, in order.
    pub cookies: Vec<NameValue>,
    /// Other headers sent, in order (none of the rules tests them).
    pub headers: Vec<NameValue>,
}

/// A name and a value (a cookie, a header).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NameValue {
    /// Name.
    pub name: String,
    /// Value.
    pub value: String,
}

fn url_error(
    url: &str,
    at: usize,
    len: usize,
    reason: &str,
    label: &str,
    help: &str,
) -> RouteError {
    RouteError::BadUrl {
        src: NamedSource::new("URL", url.to_string()),
        span: SourceSpan::from(at..at + len),
        reason: reason.to_string(),
        label: label.to_string(),
        help: help.to_string(),
    }
}

/// The first character outside `allowed` in `s`: its byte offset and length.
fn first_bad(s: &str, allowed: impl Fn(char) -> bool) -> Option<(usize, usize, char)> {
    s.char_indices()
        .find(|(_, c)| !allowed(*c))
        .map(|(i, c)| (i, c.len_utf8(), c))
}

fn describe(c: char) -> String {
    match c {
        ' ' => "a space".into(),
        '\t' => "a tab".into(),
        '\n' | '\r' => "a line break".into(),
        c if c.is_control() => format!("control character U+{:04X}", c as u32),
        c if !c.is_ascii() => format!("non-ASCII `{c}`"),
        c => format!("`{c}`"),
    }
}

impl Request {
    /// Parse a URL (`http://` or `https://`, authority, path, query; a fragment is dropped as
    /// clients do not send it) and the `--cookie`/`--header` arguments.
    pub fn parse(url: &str, cookies: &[String], headers: &[String]) -> Result<Request, RouteError> {
        let Some(sep) = url.find("://") else {
            return Err(url_error(
                url,
                0,
                url.len(),
                "it has no scheme",
                "no `http://` or `https://`",
                &format!("write the whole URL, e.g. https://{url}"),
            ));
        };
        let scheme = match url[..sep].to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            other => {
                return Err(url_error(
                    url,
                    0,
                    sep,
                    &format!("scheme `{other}` is not served by the edge"),
                    "not http or https",
                    "the edge serves http:// and https:// (a WebSocket handshake is one of them)",
                ));
            }
        };
        let rest_at = sep + 3;
        let rest = &url[rest_at..];
        let rest = rest.split('#').next().unwrap_or("");
        let auth_len = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..auth_len];
        if authority.is_empty() {
            return Err(url_error(
                url,
                rest_at,
                0,
                "it has no host",
                "host expected here",
                "write the host the request is for, e.g. https://example.org/",
            ));
        }
        if let Some(at) = authority.find('@') {
            return Err(url_error(
                url,
                rest_at,
                at + 1,
                "it carries credentials",
                "user info",
                "credentials play no part in routing; leave them out",
            ));
        }
        let (host, port) = if authority.starts_with('[') {
            match authority.find(']') {
                Some(end) => (&authority[..=end], &authority[end + 1..]),
                None => {
                    return Err(url_error(
                        url,
                        rest_at,
                        authority.len(),
                        "an IPv6 literal has no closing `]`",
                        "unclosed `[`",
                        "write an IPv6 address as [::1]",
                    ));
                }
            }
        } else {
            match authority.find(':') {
                Some(i) => (&authority[..i], &authority[i..]),
                None => (authority, ""),
            }
        };
        let host_ok = |c: char| c.is_ascii_alphanumeric() || "-._~%".contains(c);
        let inner = host.trim_start_matches('[').trim_end_matches(']');
        let v6 = host.starts_with('[');
        if inner.is_empty() {
            return Err(url_error(
                url,
                rest_at,
                authority.len(),
                "it has no host",
                "empty host",
                "write the host the request is for, e.g. https://example.org/",
            ));
        }
        if let Some((i, n, c)) = first_bad(inner, |c| host_ok(c) || (v6 && (c == ':' || c == '.')))
        {
            let at = rest_at + usize::from(v6) + i;
            return Err(url_error(
                url,
                at,
                n,
                &format!("the host contains {}", describe(c)),
                "not allowed in a host",
                "a host is letters, digits, `-` and `.` (IDNs in punycode)",
            ));
        }
        if !port.is_empty() {
            let digits = &port[1..];
            let at = rest_at + host.len();
            if !port.starts_with(':')
                || digits.is_empty()
                || !digits.bytes().all(|b| b.is_ascii_digit())
                || digits.parse::<u32>().map_or(true, |p| p == 0 || p > 65535)
            {
                return Err(url_error(
                    url,
                    at,
                    port.len(),
                    &format!("`{port}` is not a port"),
                    "bad port",
                    "a port is a number from 1 to 65535, e.g. https://example.org:8443/",
                ));
            }
        }
        let target_at = rest_at + auth_len;
        let target = &rest[auth_len..];
        if let Some((i, n, c)) = first_bad(target, |c| c.is_ascii_graphic()) {
            return Err(url_error(
                url,
                target_at + i,
                n,
                &format!("it contains {}", describe(c)),
                "not allowed in a URL",
                "percent-encode it (a space is %20)",
            ));
        }
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q.to_string())),
            None => (target, None),
        };
        let path = if path.is_empty() { "/" } else { path };
        let mut req = Request {
            url: url.to_string(),
            scheme,
            host_header: Some(authority.to_string()),
            extra_host_headers: Vec::new(),
            path: path.to_string(),
            query,
            cookies: Vec::new(),
            headers: Vec::new(),
        };
        for c in cookies {
            req.cookies.push(parse_cookie(c)?);
        }
        let mut host_set = false;
        for h in headers {
            let (name, value) = parse_header(h)?;
            if name.eq_ignore_ascii_case("host") {
                if host_set {
                    // Ambiguous: the edge answers 400 (`explain` says so).
                    req.extra_host_headers.push(value);
                    continue;
                }
                host_set = true;
                req.host_header = Some(value);
            } else if name.eq_ignore_ascii_case("cookie") {
                for pair in value.split(';').map(str::trim).filter(|p| !p.is_empty()) {
                    req.cookies.push(parse_cookie(pair)?);
                }
            } else {
                req.headers.push(NameValue { name, value });
            }
        }
        Ok(req)
    }

    /// The URI as HAProxy's `redirect` and `balance uri whole` see it: path and query.
    pub fn uri(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        }
    }

    /// The host the edge routes by (`txn.host`, [`HOST_VAR`]): the Host header lower-cased,
    /// without a `:PORT` (digits) at its end and without one trailing dot. `veza.fr.:443` →
    /// `veza.fr`; `[2001:db8::1]:80` → `[2001:db8::1]`.
    pub fn host_field(&self) -> Option<String> {
        self.host_header.as_deref().map(normalised_host)
    }

    /// Why the edge refuses the request's host with 400, when it does: no Host (or an empty
    /// one), Host headers that differ, or one with several values (RFC 9112 §3.2: a request
    /// names one host). Repeated Host headers with one value (ignoring case) are one: HAProxy's
    /// HTTP/1 parser merges them, and answers 400 itself to ones that differ.
    pub fn host_problem(&self) -> Option<&'static str> {
        let first = self.host_header.as_deref().unwrap_or("");
        if self
            .extra_host_headers
            .iter()
            .any(|h| !h.eq_ignore_ascii_case(first))
        {
            Some("it has Host headers that differ")
        } else if self.host_header.as_deref().is_some_and(|h| h.contains(',')) {
            Some("its Host header has more than one value")
        } else if self.host_field().is_none_or(|h| h.is_empty()) {
            Some("it names no host")
        } else {
            None
        }
    }
}

/// The variable the frontends keep the normalised host in ([`Request::host_field`]).
pub const HOST_VAR: &str = "txn.host";

/// `req.hdr(host),lower,regsub(:[0-9]*$,),regsub([.]$,)` in Rust.
fn normalised_host(h: &str) -> String {
    let h = h.to_ascii_lowercase();
    let h = match h.rfind(':') {
        Some(i) if h[i + 1..].bytes().all(|b| b.is_ascii_digit()) => h[..i].to_string(),
        _ => h,
    };
    h.strip_suffix('.').map_or(h.clone(), str::to_string)
}

fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

fn parse_cookie(arg: &str) -> Result<NameValue, RouteError> {
    let bad = |at: usize, len: usize, reason: &str| RouteError::BadCookie {
        src: NamedSource::new("--cookie", arg.to_string()),
        span: SourceSpan::from(at..at + len),
        arg: arg.to_string(),
        reason: reason.to_string(),
    };
    let Some((name, value)) = arg.split_once('=') else {
        return Err(bad(0, arg.len(), "no `=` between name and value"));
    };
    if name.is_empty() {
        return Err(bad(0, 0, "the name is empty"));
    }
    if let Some((i, n, c)) = first_bad(name, token_char) {
        return Err(bad(
            i,
            n,
            &format!("{} is not allowed in a cookie name", describe(c)),
        ));
    }
    let at = name.len() + 1;
    let bare = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    let off = at + usize::from(bare.len() != value.len());
    if let Some((i, n, c)) = first_bad(bare, |c| c.is_ascii_graphic() && !"\",;\\".contains(c)) {
        return Err(bad(
            off + i,
            n,
            &format!("{} is not allowed in a cookie value", describe(c)),
        ));
    }
    Ok(NameValue {
        name: name.to_string(),
        value: bare.to_string(),
    })
}

fn header_error(arg: &str, at: usize, len: usize, reason: &str, help: &str) -> RouteError {
    RouteError::BadHeader {
        src: NamedSource::new("--header", arg.to_string()),
        span: SourceSpan::from(at..at + len),
        arg: arg.to_string(),
        reason: reason.to_string(),
        help: help.to_string(),
    }
}

/// `NAME=VALUE` (or `NAME: VALUE`).
fn parse_header(arg: &str) -> Result<(String, String), RouteError> {
    const HELP: &str = "write `--header NAME=VALUE`, e.g. `--header Host=staging.veza.fr`";
    let Some(split) = arg.find(['=', ':']) else {
        return Err(header_error(
            arg,
            0,
            arg.len(),
            "no `=` between name and value",
            HELP,
        ));
    };
    let (name, value) = (&arg[..split], &arg[split + 1..]);
    if name.is_empty() {
        return Err(header_error(arg, 0, 0, "the name is empty", HELP));
    }
    if let Some((i, n, c)) = first_bad(name, token_char) {
        let reason = format!("{} is not allowed in a header name", describe(c));
        return Err(header_error(arg, i, n, &reason, HELP));
    }
    let value = value.trim_matches([' ', '\t']);
    let off = split + 1 + (arg[split + 1..].len() - arg[split + 1..].trim_start().len());
    if let Some((i, n, c)) = first_bad(value, |c| c == ' ' || c == '\t' || !c.is_control()) {
        let reason = format!("{} is not allowed in a header value", describe(c));
        return Err(header_error(arg, off + i, n, &reason, HELP));
    }
    // A Host with several values (a comma) or none (empty) is a request the edge refuses with
    // 400: taken as given, so `route` can say so.
    if name.eq_ignore_ascii_case("host")
        && let Some((i, n, c)) = first_bad(value, |c| c.is_ascii_graphic() || c == ' ')
    {
        let reason = format!("{} in a Host header", describe(c));
        return Err(header_error(arg, off + i, n, &reason, HELP));
    }
    Ok((name.to_string(), value.to_string()))
}

/// Apply `--colors` items (`ENV=COLOR`, several per argument separated by `,`) to `colors`.
pub fn apply_colors(
    edge: &Edge,
    colors: &mut ActiveColors,
    items: &[String],
) -> Result<(), RouteError> {
    for item in items.iter().flat_map(|s| s.split(',')).map(str::trim) {
        if item.is_empty() {
            continue;
        }
        let Some((env, color)) = item.split_once('=') else {
            return Err(RouteError::BadColors { item: item.into() });
        };
        let (env, color) = (env.trim(), color.trim());
        let known: Vec<&str> = edge.envs.keys().map(Ident::as_str).collect();
        let unknown = || RouteError::UnknownEnv {
            env: env.to_string(),
            help: suggest(env, &known),
        };
        let id = Ident::parse(env).map_err(|_| unknown())?;
        if !edge.envs.contains_key(&id) {
            return Err(unknown());
        }
        let c = Color::parse(color).map_err(|_| RouteError::UnknownColor {
            env: env.to_string(),
            color: color.to_string(),
        })?;
        colors.set(&id, c);
    }
    Ok(())
}

fn suggest(name: &str, known: &[&str]) -> String {
    let best = known
        .iter()
        .map(|k| (strsim::jaro_winkler(name, k), *k))
        .filter(|(s, _)| *s > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((_, k)) => format!("did you mean `{k}`?"),
        None if known.is_empty() => "the specs define no env".to_string(),
        None => format!("known envs: {}", known.join(", ")),
    }
}

// ---------------------------------------------------------------------------------------------
// The explanation.

/// Everything `edgeplan route` says about one request (the JSON document of `--format json`).
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
    /// The http → https redirect rule, when the frontend has one.
    pub redirect: Option<Redirect>,
    /// Every `use_backend` rule, in order.
    pub switches: Vec<SwitchResult>,
    /// True when no switch matched and `default_backend` took the request.
    pub default_backend: bool,
    /// What happens in the end.
    pub outcome: Outcome,
    /// Status HAProxy answers with itself (redirect, static answer, no server); `None` when a
    /// server answers.
    pub status: Option<u16>,
    /// `Location` of a redirect.
    pub location: Option<String>,
    /// The backend, unless redirected.
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

/// One `use_backend` rule and its value for the request.
#[derive(Debug, Clone, Serialize)]
pub struct SwitchResult {
    /// Backend.
    pub backend: String,
    /// ACLs, ANDed.
    pub when: Vec<String>,
    /// Why the rule exists.
    pub why: String,
    /// Whether all its ACLs match.
    pub matched: bool,
    /// Whether HAProxy reaches it (false after the first match, or when redirected).
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
#[derive(Debug, Clone, Serialize)]
pub struct SetCookie {
    /// Name.
    pub name: String,
    /// Value (the chosen server's cookie), when the server is determined.
    pub value: Option<String>,
}

/// HAProxy's spelling of an ACL test, as `templates/haproxy.cfg.j2` writes it.
pub fn haproxy_test(test: &Test) -> String {
    match test {
        Test::Host { hosts } => {
            let h: Vec<&str> = hosts.iter().map(|h| h.as_str()).collect();
            format!("var({HOST_VAR}) -m str {}", h.join(" "))
        }
        Test::PathBeg { prefixes } => format!("path_beg {}", prefixes.join(" ")),
        Test::PathEnd { suffixes } => format!("path_end {}", suffixes.join(" ")),
    }
}

/// HAProxy's redirect rule, as the template writes it.
pub fn redirect_rule(unless: &str, port: Option<u16>) -> String {
    let port = port.map(|p| format!(":{p}")).unwrap_or_default();
    format!(
        "http-request redirect location https://%[var({HOST_VAR})]{port}%[pathq] code 301 unless {unless}"
    )
}

/// Evaluate one ACL test: the sample it looked at and whether it matched.
fn eval(test: &Test, req: &Request) -> (Option<String>, bool) {
    match test {
        Test::Host { hosts } => {
            // `-m str` on the lower-cased host: exact.
            let field = req.host_field();
            let matched = field
                .as_deref()
                .is_some_and(|f| hosts.iter().any(|h| h.as_str() == f));
            (field, matched)
        }
        Test::PathBeg { prefixes } => (
            Some(req.path.clone()),
            prefixes.iter().any(|p| req.path.starts_with(p.as_str())),
        ),
        Test::PathEnd { suffixes } => (
            Some(req.path.clone()),
            suffixes.iter().any(|s| req.path.ends_with(s.as_str())),
        ),
    }
}

/// Explain what the edge described by `routing` does with `req`.
pub fn explain(routing: &Routing, req: &Request) -> Result<Explanation, RouteError> {
    let fe: &Frontend = routing
        .frontends
        .iter()
        .find(|f| f.scheme == req.scheme)
        .ok_or_else(|| RouteError::NoListener {
            scheme: match req.scheme {
                Scheme::Http => "http".into(),
                Scheme::Https => "https".into(),
            },
        })?;
    let acls: Vec<AclResult> = fe
        .acls
        .iter()
        .map(|a| {
            let (sample, matched) = eval(&a.test, req);
            AclResult {
                name: a.name.clone(),
                test: a.test.clone(),
                haproxy: haproxy_test(&a.test),
                sample,
                matched,
            }
        })
        .collect();
    // An ACL that is used but never declared is false in this model; HAProxy would refuse the
    // config, and the template declares every ACL a rule names.
    let is = |name: &str| acls.iter().any(|a| a.name == name && a.matched);
    let refused = req.host_problem().is_some();

    let mut ex = Explanation {
        format_version: FORMAT_VERSION,
        request: req.clone(),
        frontend: FrontendView {
            name: fe.name.clone(),
            scheme: fe.scheme,
            bind: fe.bind.clone(),
        },
        acls: Vec::new(),
        redirect: None,
        switches: Vec::new(),
        default_backend: false,
        outcome: Outcome::Forward,
        status: None,
        location: None,
        backend: None,
        kind: None,
        env: None,
        component: None,
        body_file: None,
        servers: Vec::new(),
        balance: None,
        health_check: None,
        sticky: None,
        chosen_server: None,
        pinned_server: None,
        sets_cookie: None,
        notes: Vec::new(),
    };
    // The frontend's first rule: `http-request deny deny_status 400` when the request names no
    // host or more than one. Nothing after it runs.
    if refused {
        ex.outcome = Outcome::BadRequest;
        ex.status = Some(400);
        ex.acls = acls;
        note_headers(routing, &mut ex);
        return Ok(ex);
    }

    let redirected = match &fe.redirect_unless {
        Some(unless) => {
            let applies = !is(unless);
            // The rendered rule: "https://" + the Host header up to its first `:` + the https
            // port when it is not 443 + the URI (path and query).
            let location = applies.then(|| {
                let host = req.host_field().unwrap_or_default();
                let port = fe
                    .redirect_port
                    .map(|p| format!(":{p}"))
                    .unwrap_or_default();
                format!("https://{host}{port}{}", req.uri())
            });
            ex.redirect = Some(Redirect {
                rule: redirect_rule(unless, fe.redirect_port),
                unless: unless.clone(),
                applies,
                status: 301,
                location: location.clone(),
            });
            if applies {
                ex.outcome = Outcome::Redirect;
                ex.status = Some(301);
                ex.location = location;
            }
            applies
        }
        None => false,
    };

    let mut chosen: Option<&str> = None;
    for sw in &fe.switches {
        let matched = sw.when.iter().all(|w| is(w));
        let evaluated = !redirected && chosen.is_none();
        let this = evaluated && matched;
        if this {
            chosen = Some(&sw.backend);
        }
        ex.switches.push(SwitchResult {
            backend: sw.backend.clone(),
            when: sw.when.clone(),
            why: sw.why.clone(),
            matched,
            evaluated,
            chosen: this,
        });
    }
    ex.acls = acls;
    if redirected {
        note_headers(routing, &mut ex);
        return Ok(ex);
    }
    let name = match chosen {
        Some(b) => b.to_string(),
        None => {
            ex.default_backend = true;
            fe.default_backend.clone()
        }
    };
    let be = routing
        .backends
        .iter()
        .find(|b| b.name == name)
        .ok_or(RouteError::Internal {
            backend: name.clone(),
        })?;
    backend_decision(routing, be, req, &mut ex);
    note_headers(routing, &mut ex);
    Ok(ex)
}

fn note_headers(routing: &Routing, ex: &mut Explanation) {
    let id = &routing.identity;
    for h in &ex.request.headers {
        let identity = id.headers.iter().any(|i| i.eq_ignore_ascii_case(&h.name));
        ex.notes.push(if !identity {
            format!(
                "header `{}` is forwarded; no rule of the edge reads it",
                h.name
            )
        } else if id.trusted.is_empty() {
            format!(
                "header `{}` is removed: the edge sets the client's identity from the connection \
                 (no network is trusted)",
                h.name
            )
        } else {
            format!(
                "header `{}` is removed unless the client connects from a trusted network ({}); \
                 the edge sets the client's identity from the connection",
                h.name,
                id.trusted.join(" ")
            )
        });
    }
}

fn backend_decision(routing: &Routing, be: &Backend, req: &Request, ex: &mut Explanation) {
    ex.backend = Some(be.name.clone());
    ex.health_check = be.check.as_ref().map(|c| {
        let mut s = format!("GET {}", c.path);
        if let Some(h) = &c.host {
            s += &format!(" Host {h}");
        }
        s += &format!(", expects status {}", c.expect.status);
        if let Some(b) = &c.expect.body {
            s += &format!(" and a body containing \"{b}\"");
        }
        if let Some(t) = &c.expect.timeout {
            s += &format!(", within {t}");
        }
        s
    });
    ex.kind = Some(be.kind);
    ex.env = be.env.clone();
    ex.component = be.component.clone();
    if be.kind == BackendKind::Static {
        ex.outcome = Outcome::Static;
        ex.status = be.status;
        ex.body_file = be.body_file.clone();
        return;
    }
    ex.servers = be
        .servers
        .iter()
        .map(|s| ServerView {
            name: s.name.clone(),
            address: format!("{}:{}", s.host, s.port),
            color: s.color,
            cookie: s.cookie.clone(),
            active: s.active,
            weight: s.weight,
            id: s.id,
        })
        .collect();
    // No `balance` line means HAProxy's default, roundrobin.
    let algorithm = be.balance.unwrap_or(Balance::Roundrobin);
    ex.balance = Some(BalanceView {
        algorithm,
        haproxy: match (be.balance, algorithm) {
            (None, _) => "roundrobin (HAProxy's default)".into(),
            (_, Balance::Uri) => "balance uri whole path-only + hash-type consistent".into(),
            (_, Balance::Roundrobin) => "balance roundrobin".into(),
            (_, Balance::Leastconn) => "balance leastconn".into(),
        },
        hash_key: (algorithm == Balance::Uri).then(|| req.uri()),
        hash: None,
    });
    let active: Vec<_> = be.servers.iter().filter(|s| s.active).collect();

    // Cookies of other backends (another env's session cookie) play no part here.
    for c in &req.cookies {
        if be.cookie.as_deref() == Some(c.name.as_str()) {
            continue;
        }
        if let Some(other) = routing
            .backends
            .iter()
            .find(|b| b.cookie.as_deref() == Some(c.name.as_str()))
        {
            let owner = other.env.as_deref().unwrap_or(&other.name);
            ex.notes.push(format!(
                "cookie {} belongs to env {owner}; backend {} {}, so it is ignored",
                c.name,
                be.name,
                match &be.cookie {
                    Some(n) => format!("reads {n} only"),
                    None => "has no sticky cookie".into(),
                }
            ));
        }
    }

    let mut pinned = None;
    if let Some(cookie) = &be.cookie {
        let sent = req
            .cookies
            .iter()
            .find(|c| &c.name == cookie)
            .map(|c| c.value.clone());
        let (result, reason) = match &sent {
            None => (
                StickyResult::Absent,
                format!("the request has no {cookie} cookie"),
            ),
            Some(v) => match be.servers.iter().find(|s| s.cookie.as_deref() == Some(v)) {
                Some(s) if s.active => {
                    pinned = Some(s);
                    (
                        StickyResult::Pinned,
                        format!("{cookie}={v} names server {}, which is active", s.name),
                    )
                }
                Some(s) => (
                    StickyResult::Ignored,
                    format!(
                        "{cookie}={v} names server {}, which is disabled: the cookie is ignored",
                        s.name
                    ),
                ),
                None => (
                    StickyResult::Ignored,
                    format!(
                        "{cookie}={v} names no server of {}: the cookie is ignored",
                        be.name
                    ),
                ),
            },
        };
        ex.sticky = Some(Sticky {
            cookie: cookie.clone(),
            sent,
            result,
            reason,
        });
    }

    let chosen = match (pinned, active.as_slice()) {
        (Some(p), _) => Some(p),
        (None, [one]) => Some(*one),
        (None, []) => None,
        (None, several) if algorithm == Balance::Uri => {
            // HAProxy's own consistent hash, on the servers' rendered ids and weights.
            let key = req.uri();
            let hash = uri_hash(&key);
            if let Some(b) = ex.balance.as_mut() {
                b.hash = Some(hash);
            }
            let ring: Vec<(u32, u16)> = several
                .iter()
                .map(|s| (s.id.unwrap_or(0), s.weight.unwrap_or(1)))
                .collect();
            let pick = chash_pick(&ring, hash).map(|i| several[i]);
            if let Some(p) = pick {
                ex.notes.push(format!(
                    "server {} is where HAProxy's consistent hash puts this URI while every active server is up at its configured weight; a server that is down, drained or in maintenance hands its URIs to its neighbours on the ring",
                    p.name
                ));
            }
            pick
        }
        (None, several) => {
            let names: Vec<&str> = several.iter().map(|s| s.name.as_str()).collect();
            ex.notes.push(format!(
                "{} takes turns among {} ({}); which one is not fixed by the request",
                match algorithm {
                    Balance::Leastconn => "leastconn picks the server with the fewest connections",
                    _ => "roundrobin",
                },
                names.join(", "),
                if several.iter().any(|s| s.weight.is_some()) {
                    "in proportion to their weights"
                } else {
                    "equal weights"
                }
            ));
            None
        }
    };
    ex.pinned_server = pinned.map(|s| s.name.clone());
    ex.chosen_server = chosen.map(|s| s.name.clone());
    if active.is_empty() {
        ex.outcome = Outcome::NoServer;
        ex.status = Some(503);
        return;
    }
    ex.outcome = Outcome::Forward;
    if let (Some(cookie), None) = (&be.cookie, pinned) {
        ex.sets_cookie = Some(SetCookie {
            name: cookie.clone(),
            value: chosen.and_then(|s| s.cookie.clone()),
        });
    }
}

// ---------------------------------------------------------------------------------------------
// HAProxy's consistent hashing (`balance uri whole path-only` + `hash-type consistent`), as in
// its `get_server_uh`, `hash_sdbm`, `full_hash` and `chash_get_server_hash`.

/// HAProxy's `full_hash`: Bob Jenkins' 32-bit avalanche, then a multiplication by a large
/// prime (HAProxy's "better spread all around the tree").
pub fn full_hash(a: u32) -> u32 {
    let a = a.wrapping_add(0x7ed5_5d16).wrapping_add(a << 12);
    let a = (a ^ 0xc761_c23c) ^ (a >> 19);
    let a = a.wrapping_add(0x1656_67b1).wrapping_add(a << 5);
    let a = a.wrapping_add(0xd3a2_646c) ^ (a << 9);
    let a = a.wrapping_add(0xfd70_46c5).wrapping_add(a << 3);
    let a = (a ^ 0xb55a_4f09) ^ (a >> 16);
    a.wrapping_mul(3_221_225_473)
}

/// HAProxy's `hash_sdbm` (its default hash function).
pub fn sdbm(key: &[u8]) -> u32 {
    key.iter().fold(0u32, |h, &c| {
        // C's `char` is signed on the platforms HAProxy runs on.
        let c = c as i8 as i32 as u32;
        c.wrapping_add(h << 6).wrapping_add(h << 16).wrapping_sub(h)
    })
}

/// The hash HAProxy computes for a URI in a `balance uri whole path-only` +
/// `hash-type consistent` backend: sdbm of the path and query, then the avalanche that
/// `hash-type consistent` without a function name adds.
pub fn uri_hash(uri: &str) -> u32 {
    full_hash(sdbm(uri.as_bytes()))
}

/// Points each server weight unit puts on the ring (HAProxy's `BE_WEIGHT_SCALE`).
const WEIGHT_SCALE: u32 = 16;
/// Ring points reserved per server id (`SRV_EWGHT_RANGE` = 256 × `BE_WEIGHT_SCALE`).
const ID_RANGE: u32 = 256 * WEIGHT_SCALE;

/// The server HAProxy's consistent-hash ring gives `hash`: `servers` are `(id, weight)` of the
/// servers that take traffic, in config order; each has `weight × 16` points at
/// `full_hash(id × 4096 + n)`, and the point nearest to the hash wins (the lower one on a
/// tie). `None` when no server has weight.
pub fn chash_pick(servers: &[(u32, u16)], hash: u32) -> Option<usize> {
    let mut ring: Vec<(u32, usize)> = Vec::new();
    for (i, &(id, weight)) in servers.iter().enumerate() {
        for n in 0..u32::from(weight) * WEIGHT_SCALE {
            ring.push((full_hash(id.wrapping_mul(ID_RANGE).wrapping_add(n)), i));
        }
    }
    if ring.is_empty() {
        return None;
    }
    // Stable: equal keys stay in insertion order, as in HAProxy's tree.
    ring.sort_by_key(|p| p.0);
    let at = ring.partition_point(|p| p.0 < hash);
    let next = ring[at % ring.len()];
    let prev = ring[(at + ring.len() - 1) % ring.len()];
    let (dp, dn) = (hash.wrapping_sub(prev.0), next.0.wrapping_sub(hash));
    Some(if dp <= dn { prev.1 } else { next.1 })
}

// ---------------------------------------------------------------------------------------------
// Text.

struct Paint(bool);

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn bold(&self, s: &str) -> String {
        self.wrap("1", s)
    }
    fn dim(&self, s: &str) -> String {
        self.wrap("2", s)
    }
    fn yes(&self) -> String {
        self.wrap("32", "✓")
    }
    fn no(&self) -> String {
        self.wrap("31", "✗")
    }
    fn mark(&self, b: bool) -> String {
        if b { self.yes() } else { self.no() }
    }
}

fn acl_reason(a: &AclResult) -> String {
    let join = |v: &[String]| v.join(" ");
    match (&a.test, &a.sample) {
        (Test::Host { .. }, None) => "no Host header".to_string(),
        (Test::Host { hosts }, Some(s)) => {
            match hosts.iter().find(|h| h.as_str().eq_ignore_ascii_case(s)) {
                Some(h) if a.matched => format!("host `{s}` matches {h}"),
                _ => {
                    let list: Vec<&str> = hosts.iter().map(|h| h.as_str()).collect();
                    format!("host `{s}` is not {}", list.join(" or "))
                }
            }
        }
        (Test::PathBeg { prefixes }, s) => {
            let s = s.as_deref().unwrap_or("");
            if a.matched {
                let p = prefixes.iter().find(|p| s.starts_with(p.as_str()));
                format!("path `{s}` begins with {}", p.map_or("", |p| p))
            } else {
                format!("path `{s}` begins with none of {}", join(prefixes))
            }
        }
        (Test::PathEnd { suffixes }, s) => {
            let s = s.as_deref().unwrap_or("");
            if a.matched {
                let p = suffixes.iter().find(|p| s.ends_with(p.as_str()));
                format!("path `{s}` ends with {}", p.map_or("", |p| p))
            } else {
                format!("path `{s}` ends with none of {}", join(suffixes))
            }
        }
    }
}

/// The explanation as text; ANSI colours when `color`.
pub fn render_text(ex: &Explanation, color: bool) -> String {
    let p = Paint(color);
    let mut o = String::new();
    let r = &ex.request;
    let _ = writeln!(o, "{} {}", p.bold("request"), r.url);
    match (&r.host_header, r.host_field()) {
        (Some(h), Some(f)) if *h == f => {
            let _ = writeln!(o, "  Host header  {h}");
        }
        (Some(h), Some(f)) => {
            let _ = writeln!(o, "  Host header  {h}  (routing compares `{f}`)");
        }
        _ => {
            let _ = writeln!(o, "  Host header  none");
        }
    }
    for h in &r.extra_host_headers {
        let _ = writeln!(o, "  Host header  {h}  (again)");
    }
    let _ = writeln!(o, "  path         {}", r.path);
    if let Some(q) = &r.query {
        let _ = writeln!(o, "  query        {q}  (not part of the path ACLs test)");
    }
    for c in &r.cookies {
        let _ = writeln!(o, "  cookie       {}={}", c.name, c.value);
    }
    for h in &r.headers {
        let _ = writeln!(o, "  header       {}: {}", h.name, h.value);
    }

    let _ = writeln!(
        o,
        "\n{} {} (bind {})",
        p.bold("frontend"),
        ex.frontend.name,
        ex.frontend.bind
    );
    let _ = writeln!(o, "  ACLs:");
    let w = ex.acls.iter().map(|a| a.name.len()).max().unwrap_or(0);
    for a in &ex.acls {
        let _ = writeln!(
            o,
            "    {} {:w$}  {}",
            p.mark(a.matched),
            a.name,
            acl_reason(a),
        );
    }
    if let Some(rd) = &ex.redirect {
        let verdict = if rd.applies {
            format!("{} fires: {} did not match", p.yes(), rd.unless)
        } else {
            format!("{} does not fire: {} matched", p.no(), rd.unless)
        };
        let _ = writeln!(o, "  {}\n    {verdict}", rd.rule);
    }
    if ex.outcome == Outcome::Redirect {
        if !ex.switches.is_empty() {
            let _ = writeln!(
                o,
                "  {}",
                p.dim("use_backend rules: not evaluated, the redirect answers first")
            );
        }
    } else if !ex.switches.is_empty() {
        let _ = writeln!(o, "  use_backend rules, first match wins:");
    }
    let rules: Vec<String> = ex
        .switches
        .iter()
        .map(|s| format!("use_backend {} if {}", s.backend, s.when.join(" ")))
        .collect();
    let rw = rules
        .iter()
        .zip(&ex.switches)
        .filter(|(_, s)| s.evaluated)
        .map(|(r, _)| r.len())
        .max()
        .unwrap_or(0);
    let mut skipped = 0;
    for (rule, s) in rules.iter().zip(&ex.switches) {
        if !s.evaluated {
            skipped += 1;
            continue;
        }
        let _ = writeln!(
            o,
            "    {} {rule:rw$}  {}",
            p.mark(s.matched),
            p.dim(&format!("# {}", s.why))
        );
    }
    if skipped > 0 && ex.outcome != Outcome::Redirect {
        let _ = writeln!(
            o,
            "    {}",
            p.dim(&format!(
                "{skipped} more rule{} not evaluated: a rule above matched",
                if skipped == 1 { "" } else { "s" }
            ))
        );
    }
    if ex.default_backend {
        let _ = writeln!(
            o,
            "  {} default_backend {}  {}",
            p.yes(),
            ex.backend.as_deref().unwrap_or(""),
            p.dim("# no use_backend rule matched")
        );
    }

    if let Some(b) = &ex.backend {
        let what = match (ex.kind, &ex.env, &ex.component) {
            (Some(BackendKind::Pool), Some(e), Some(c)) => {
                format!("pool of env {e}, component {c}")
            }
            (Some(BackendKind::Outside), _, _) => "outside backend".into(),
            (Some(BackendKind::Acme), _, _) => "ACME challenges to certbot".into(),
            (Some(BackendKind::Static), _, _) => "HAProxy answers itself".into(),
            _ => String::new(),
        };
        let _ = writeln!(o, "\n{} {b}: {what}", p.bold("backend"));
        if let (Some(st), Some(f)) = (ex.status, &ex.body_file) {
            let _ = writeln!(o, "  http-request return status {st} file {f}");
        }
        if !ex.servers.is_empty() {
            let _ = writeln!(o, "  servers:");
        }
        let nw = ex.servers.iter().map(|s| s.name.len()).max().unwrap_or(0);
        let aw = ex
            .servers
            .iter()
            .map(|s| s.address.len())
            .max()
            .unwrap_or(0);
        for s in &ex.servers {
            let mut state = if s.active {
                "active".to_string()
            } else {
                "disabled (takes nothing)".to_string()
            };
            if let Some(c) = &s.cookie {
                state += &format!(", cookie {c}");
            }
            if let Some(w) = s.weight {
                state += &format!(", weight {w}");
            }
            if let Some(id) = s.id {
                state += &format!(", id {id}");
            }
            let _ = writeln!(
                o,
                "    {} {:nw$}  {:aw$}  {state}",
                p.mark(s.active),
                s.name,
                s.address
            );
        }
        if let Some(hc) = &ex.health_check {
            let _ = writeln!(o, "  health check {hc}");
        }
        if let Some(bal) = &ex.balance {
            let mut line = format!("  balance {}", bal.haproxy.trim_start_matches("balance "));
            if let Some(k) = &bal.hash_key {
                line += &format!(": the same URI always goes to the same server (key `{k}`");
                if let Some(h) = bal.hash {
                    line += &format!(", hash {h:#010x}");
                }
                line += ")";
            }
            let _ = writeln!(o, "{line}");
        }
        if let Some(st) = &ex.sticky {
            let _ = writeln!(
                o,
                "  sticky cookie {} (insert indirect nocache)\n    {} {}",
                st.cookie,
                match st.result {
                    StickyResult::Pinned => p.yes(),
                    _ => p.no(),
                },
                st.reason
            );
        }
    }

    let _ = writeln!(o);
    let result = match ex.outcome {
        Outcome::Redirect => format!(
            "HAProxy answers {} Location: {}",
            ex.status.unwrap_or(301),
            ex.location.as_deref().unwrap_or("")
        ),
        Outcome::Static => format!(
            "HAProxy answers {} with the body of {}",
            ex.status.unwrap_or(0),
            ex.body_file.as_deref().unwrap_or("")
        ),
        Outcome::NoServer => "HAProxy answers 503: no server can take the request".into(),
        Outcome::BadRequest => format!(
            "HAProxy answers 400: {}",
            ex.request
                .host_problem()
                .unwrap_or("the request's host is ambiguous")
        ),
        Outcome::Forward => {
            let mut s = match (&ex.chosen_server, &ex.pinned_server) {
                (Some(c), pinned) => {
                    let addr = ex
                        .servers
                        .iter()
                        .find(|s| &s.name == c)
                        .map_or(String::new(), |s| format!(" ({})", s.address));
                    let how = if pinned.is_some() {
                        ", pinned by its cookie"
                    } else {
                        ""
                    };
                    format!("forwarded to {c}{addr}{how}")
                }
                (None, _) => {
                    let names: Vec<&str> = ex
                        .servers
                        .iter()
                        .filter(|s| s.active)
                        .map(|s| s.name.as_str())
                        .collect();
                    format!("forwarded to one of {}", names.join(", "))
                }
            };
            if let Some(sc) = &ex.sets_cookie {
                s += &format!(
                    "; the response sets {}={}",
                    sc.name,
                    sc.value.as_deref().unwrap_or("<its server's cookie>")
                );
            }
            s
        }
    };
    let _ = writeln!(o, "{} {result}", p.bold("result:"));
    for n in &ex.notes {
        let _ = writeln!(o, "  note: {n}");
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::routing;

    fn bundled() -> Edge {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs");
        crate::load(&dir).map_err(|p| format!("{p:?}")).unwrap().1
    }

    fn route_with(url: &str, cookies: &[&str], colors: &[&str]) -> Explanation {
        let edge = bundled();
        let mut c = ActiveColors::from_specs(&edge);
        let colors: Vec<String> = colors.iter().map(|s| s.to_string()).collect();
        apply_colors(&edge, &mut c, &colors).unwrap();
        let cookies: Vec<String> = cookies.iter().map(|s| s.to_string()).collect();
        let req = Request::parse(url, &cookies, &[]).unwrap();
        explain(&routing(&edge, &c), &req).unwrap()
    }

    fn route(url: &str) -> Explanation {
        route_with(url, &[], &[])
    }

    fn chosen_rule(ex: &Explanation) -> Option<&SwitchResult> {
        ex.switches.iter().find(|s| s.chosen)
    }

    #[test]
    fn every_env_route_lands_on_its_pool() {
        for env in ["staging", "prod"] {
            let host = if env == "prod" {
                "veza.fr"
            } else {
                "staging.veza.fr"
            };
            for (path, pool, why) in [
                ("/api/v1/health", "backend_api", "route api -> backend"),
                ("/ws/chat", "backend_api", "route ws -> backend"),
                ("/wsx", "backend_api", "route ws -> backend"),
                ("/stream/a.ts", "stream_pool", "route stream_seg -> stream"),
                (
                    "/hls/x/index.m3u8",
                    "stream_pool",
                    "route stream_seg -> stream",
                ),
            ] {
                let ex = route(&format!("https://{host}{path}"));
                assert_eq!(ex.outcome, Outcome::Forward, "{path}");
                assert_eq!(
                    ex.backend.as_deref(),
                    Some(format!("{env}_{pool}").as_str())
                );
                let rule = chosen_rule(&ex).unwrap();
                assert_eq!(rule.why, format!("env {env} {why}"));
                assert_eq!(ex.chosen_server.as_deref(), Some("blue"));
                assert!(!ex.default_backend);
            }
        }
        let ex = route("https://www.veza.fr/api/x");
        assert_eq!(ex.backend.as_deref(), Some("prod_backend_api"));
    }

    #[test]
    fn staging_api_is_explained_in_full() {
        let ex = route("https://staging.veza.fr/api/v1/health");
        assert_eq!(ex.frontend.name, "https");
        let rule = chosen_rule(&ex).unwrap();
        assert_eq!(rule.when, ["host_staging", "staging_is_api"]);
        assert_eq!(ex.kind, Some(BackendKind::Pool));
        assert_eq!(ex.env.as_deref(), Some("staging"));
        assert_eq!(ex.component.as_deref(), Some("backend"));
        assert_eq!(ex.servers.len(), 2);
        assert_eq!(ex.servers[0].address, "veza-staging-backend-blue.lxd:8080");
        assert!(ex.servers[0].active && !ex.servers[1].active);
        assert_eq!(ex.balance.as_ref().unwrap().algorithm, Balance::Roundrobin);
        let st = ex.sticky.as_ref().unwrap();
        assert_eq!(st.cookie, "VEZA_SERVERID_staging");
        assert_eq!(st.result, StickyResult::Absent);
        let sc = ex.sets_cookie.as_ref().unwrap();
        assert_eq!(sc.name, "VEZA_SERVERID_staging");
        assert_eq!(sc.value.as_deref(), Some("staging-backend-blue"));
        assert!(ex.status.is_none());
        let text = render_text(&ex, false);
        assert!(text.contains("✓ use_backend staging_backend_api if host_staging staging_is_api"));
        assert!(text.contains("the response sets VEZA_SERVERID_staging=staging-backend-blue"));
    }

    #[test]
    fn env_default_component() {
        for url in [
            "https://staging.veza.fr/",
            "https://veza.fr/about",
            "https://veza.fr",
        ] {
            let ex = route(url);
            let rule = chosen_rule(&ex).unwrap();
            assert!(rule.why.ends_with("default -> web"), "{url}: {}", rule.why);
            assert_eq!(rule.when.len(), 1);
            assert!(ex.backend.as_deref().unwrap().ends_with("_web_pool"));
            assert!(ex.sticky.is_none() && ex.sets_cookie.is_none());
        }
        // Paths are case-sensitive: `/API/` is not an API call.
        let ex = route("https://veza.fr/API/x");
        assert_eq!(ex.backend.as_deref(), Some("prod_web_pool"));
        // The query string is not part of the path.
        let ex = route("https://veza.fr/x?next=/api/");
        assert_eq!(ex.backend.as_deref(), Some("prod_web_pool"));
    }

    #[test]
    fn stream_is_uri_hashed() {
        let ex = route("https://veza.fr/hls/a/seg1.ts?t=3");
        let b = ex.balance.unwrap();
        assert_eq!(b.algorithm, Balance::Uri);
        assert_eq!(b.hash_key.as_deref(), Some("/hls/a/seg1.ts?t=3"));
        assert!(b.haproxy.contains("consistent"));
    }

    #[test]
    fn forgejo_outside_backend() {
        let ex = route("https://forgejo.talas.group/user/login");
        assert_eq!(ex.backend.as_deref(), Some("forgejo_backend"));
        assert_eq!(ex.kind, Some(BackendKind::Outside));
        assert_eq!(ex.chosen_server.as_deref(), Some("forgejo"));
        assert_eq!(ex.servers[0].address, "10.0.20.105:3000");
        assert!(ex.sets_cookie.is_none());
    }

    #[test]
    fn placeholder_answers_itself() {
        for url in ["https://talas.fr/", "https://www.talas.fr/api/x"] {
            let ex = route(url);
            assert_eq!(ex.outcome, Outcome::Static);
            assert_eq!(ex.backend.as_deref(), Some("talas_vitrine_backend"));
            assert_eq!(ex.status, Some(503));
            let file = ex.body_file.as_deref().unwrap();
            assert!(file.starts_with(crate::rules::ERRORS_DIR), "{file}");
            assert!(file.contains("talas_vitrine"), "{file}");
        }
    }

    #[test]
    fn unknown_host_gets_the_default_503() {
        for url in [
            "https://example.org/",
            "https://veza.fr.evil.org/api/",
            "https://[::1]/",
        ] {
            let ex = route(url);
            assert!(ex.default_backend, "{url}");
            assert!(ex.switches.iter().all(|s| !s.chosen));
            assert_eq!(ex.backend.as_deref(), Some("default_503"));
            assert_eq!(ex.outcome, Outcome::Static);
            assert_eq!(ex.status, Some(503));
        }
    }

    #[test]
    fn http_redirects_to_https() {
        let ex = route("http://Staging.veza.fr:80/api/x?a=1&b=2");
        assert_eq!(ex.frontend.name, "http");
        assert_eq!(ex.outcome, Outcome::Redirect);
        assert_eq!(ex.status, Some(301));
        assert_eq!(
            ex.location.as_deref(),
            Some("https://staging.veza.fr/api/x?a=1&b=2")
        );
        assert!(ex.backend.is_none());
        assert!(ex.switches.iter().all(|s| !s.evaluated));
        // Unknown hosts are redirected too: the http frontend has no host ACL.
        let ex = route("http://example.org");
        assert_eq!(ex.location.as_deref(), Some("https://example.org/"));
    }

    #[test]
    fn acme_path_on_http_goes_to_certbot() {
        let ex = route("http://veza.fr/.well-known/acme-challenge/tok3n");
        assert_eq!(ex.outcome, Outcome::Forward);
        assert!(!ex.redirect.as_ref().unwrap().applies);
        assert_eq!(ex.backend.as_deref(), Some("acme_challenge"));
        assert_eq!(ex.kind, Some(BackendKind::Acme));
        assert_eq!(ex.servers[0].address, "127.0.0.1:8888");
        // Any host: certbot answers for every name it is validating.
        let ex = route("http://whatever.example/.well-known/acme-challenge/x");
        assert_eq!(ex.backend.as_deref(), Some("acme_challenge"));
        // Over https the ACME prefix is an ordinary path.
        let ex = route("https://veza.fr/.well-known/acme-challenge/x");
        assert_eq!(ex.backend.as_deref(), Some("prod_web_pool"));
    }

    #[test]
    fn host_case_and_port_are_ignored_by_host_acls() {
        for url in [
            "https://STAGING.VEZA.FR/api/x",
            "https://staging.veza.fr:443/api/x",
            "https://Staging.Veza.Fr:8443/api/x",
        ] {
            let ex = route(url);
            assert_eq!(ex.backend.as_deref(), Some("staging_backend_api"), "{url}");
            let acl = ex.acls.iter().find(|a| a.name == "host_staging").unwrap();
            assert!(acl.matched);
        }
        // A trailing dot names the same host (the edge drops it); an IPv6 literal keeps its
        // colons and matches no host name.
        let ex = route("https://staging.veza.fr./api/x");
        assert_eq!(ex.backend.as_deref(), Some("staging_backend_api"));
        let ex = route("https://[2001:db8::1]:443/api/x");
        assert_eq!(ex.request.host_field().as_deref(), Some("[2001:db8::1]"));
        assert_eq!(ex.backend.as_deref(), Some("default_503"));
    }

    /// A request that names no host, or more than one, is answered 400 before any rule.
    #[test]
    fn ambiguous_hosts_are_bad_requests() {
        let edge = bundled();
        let routing = routing(&edge, &ActiveColors::from_specs(&edge));
        for (headers, why) in [
            (
                vec!["Host=veza.fr, evil.test"],
                "its Host header has more than one value",
            ),
            (
                vec!["Host=veza.fr", "Host=evil.test"],
                "it has Host headers that differ",
            ),
            (vec!["Host="], "it names no host"),
        ] {
            let headers: Vec<String> = headers.into_iter().map(str::to_string).collect();
            let req = Request::parse("https://veza.fr/", &[], &headers).unwrap();
            let ex = explain(&routing, &req).unwrap();
            assert_eq!(ex.outcome, Outcome::BadRequest, "{headers:?}");
            assert_eq!(ex.status, Some(400));
            assert!(render_text(&ex, false).contains(&format!("HAProxy answers 400: {why}")));
        }
        // The same Host twice (any case) is one: HAProxy merges them.
        let headers = vec!["Host=veza.fr".to_string(), "Host=VEZA.fr".to_string()];
        let req = Request::parse("https://veza.fr/", &[], &headers).unwrap();
        assert_eq!(explain(&routing, &req).unwrap().outcome, Outcome::Forward);
    }

    #[test]
    fn host_header_overrides_the_url() {
        let edge = bundled();
        let req = Request::parse(
            "https://127.0.0.1/api/x",
            &[],
            &["Host=Veza.fr:443".into(), "X-Test: 1".into()],
        )
        .unwrap();
        let ex = explain(&routing(&edge, &ActiveColors::from_specs(&edge)), &req).unwrap();
        assert_eq!(ex.backend.as_deref(), Some("prod_backend_api"));
        assert_eq!(ex.request.headers.len(), 1);
        assert_eq!(ex.notes.len(), 1);
    }

    #[test]
    fn cookie_pins_an_active_server() {
        let ex = route_with(
            "https://staging.veza.fr/ws",
            &["VEZA_SERVERID_staging=staging-backend-blue"],
            &[],
        );
        assert_eq!(ex.sticky.as_ref().unwrap().result, StickyResult::Pinned);
        assert_eq!(ex.pinned_server.as_deref(), Some("blue"));
        assert_eq!(ex.chosen_server.as_deref(), Some("blue"));
        assert!(ex.sets_cookie.is_none());
    }

    #[test]
    fn cookie_for_a_disabled_or_unknown_server_is_ignored() {
        for value in [
            "staging-backend-green",
            "staging-backend-purple",
            "prod-backend-blue",
        ] {
            let ex = route_with(
                "https://staging.veza.fr/api/",
                &[&format!("VEZA_SERVERID_staging={value}")],
                &[],
            );
            assert_eq!(ex.sticky.as_ref().unwrap().result, StickyResult::Ignored);
            assert!(ex.pinned_server.is_none());
            assert_eq!(ex.chosen_server.as_deref(), Some("blue"));
            let sc = ex.sets_cookie.unwrap();
            assert_eq!(sc.value.as_deref(), Some("staging-backend-blue"));
        }
    }

    #[test]
    fn foreign_env_cookie_is_ignored() {
        let ex = route_with(
            "https://staging.veza.fr/api/",
            &["VEZA_SERVERID_prod=prod-backend-blue"],
            &[],
        );
        assert_eq!(ex.sticky.as_ref().unwrap().result, StickyResult::Absent);
        assert!(ex.pinned_server.is_none());
        assert_eq!(
            ex.sets_cookie.unwrap().name,
            "VEZA_SERVERID_staging".to_string()
        );
        assert!(ex.notes[0].contains("belongs to env prod"));
    }

    #[test]
    fn colour_override_moves_traffic() {
        let ex = route_with("https://veza.fr/api/", &[], &["prod=green"]);
        assert_eq!(ex.chosen_server.as_deref(), Some("green"));
        assert!(ex.servers.iter().any(|s| s.name == "green" && s.active));
        assert!(ex.servers.iter().any(|s| s.name == "blue" && !s.active));
        assert_eq!(
            ex.sets_cookie.unwrap().value.as_deref(),
            Some("prod-backend-green")
        );
        // The old colour's cookie no longer pins.
        let ex = route_with(
            "https://veza.fr/api/",
            &["VEZA_SERVERID_prod=prod-backend-blue"],
            &["staging=blue, prod=green"],
        );
        assert_eq!(ex.sticky.unwrap().result, StickyResult::Ignored);
        assert_eq!(ex.chosen_server.as_deref(), Some("green"));
        // Other envs keep theirs.
        let ex = route_with("https://staging.veza.fr/api/", &[], &["prod=green"]);
        assert_eq!(ex.chosen_server.as_deref(), Some("blue"));
    }

    #[test]
    fn bad_input_is_a_diagnostic() {
        let edge = bundled();
        let mut c = ActiveColors::from_specs(&edge);
        let code = |e: RouteError| e.code().unwrap().to_string();
        for (url, cookie, header) in [
            ("staging.veza.fr/api", None, None),
            ("ftp://veza.fr/", None, None),
            ("https://", None, None),
            ("https:///x", None, None),
            ("https://a b/", None, None),
            ("https://veza.fr:99999/", None, None),
            ("https://veza.fr:x/", None, None),
            ("https://u@veza.fr/", None, None),
            ("https://veza.fr/a b", None, None),
            ("https://veza.fr/é", None, None),
            ("https://[::1/", None, None),
            ("https://veza.fr/", Some("novalue"), None),
            ("https://veza.fr/", Some("=v"), None),
            ("https://veza.fr/", Some("a b=v"), None),
            ("https://veza.fr/", Some("a=v;w"), None),
            ("https://veza.fr/", None, Some("Host")),
            ("https://veza.fr/", None, Some("X=\u{7}")),
        ] {
            let cookies: Vec<String> = cookie.into_iter().map(str::to_string).collect();
            let headers: Vec<String> = header.into_iter().map(str::to_string).collect();
            let e = Request::parse(url, &cookies, &headers).unwrap_err();
            assert!(code(e).starts_with("edgeplan::route::"), "{url}");
        }
        for (items, want) in [
            ("staging", "edgeplan::route::bad_colors"),
            ("stagin=blue", "edgeplan::route::unknown_env"),
            ("staging=red", "edgeplan::route::unknown_color"),
        ] {
            let e = apply_colors(&edge, &mut c, &[items.to_string()]).unwrap_err();
            assert_eq!(code(e), want);
        }
        let e = apply_colors(&edge, &mut c, &["stagin=blue".into()]).unwrap_err();
        assert!(e.help().unwrap().to_string().contains("staging"));
    }

    #[test]
    fn http_only_edge_has_no_https_listener() {
        let mut edge = bundled();
        edge.listen.https = None;
        edge.tls = None;
        let r = routing(&edge, &ActiveColors::from_specs(&edge));
        let req = Request::parse("https://veza.fr/", &[], &[]).unwrap();
        let e = explain(&r, &req).unwrap_err();
        assert_eq!(
            e.code().unwrap().to_string(),
            "edgeplan::route::no_listener"
        );
        // Over plain http, everything is routed on the one frontend.
        let req = Request::parse("http://veza.fr/api/x", &[], &[]).unwrap();
        let ex = explain(&r, &req).unwrap();
        assert!(ex.redirect.is_none());
        assert_eq!(ex.backend.as_deref(), Some("prod_backend_api"));
        let req = Request::parse("http://veza.fr/.well-known/acme-challenge/t", &[], &[]).unwrap();
        assert_eq!(
            explain(&r, &req).unwrap().backend.as_deref(),
            Some("acme_challenge")
        );
    }

    /// The spelling shown for every ACL and rule is the line the template renders.
    #[test]
    fn spelling_matches_the_rendered_config() {
        let edge = bundled();
        let colors = ActiveColors::from_specs(&edge);
        let out = crate::render::render(
            &edge,
            &colors,
            &crate::render::Templates::embedded(),
            "test",
        )
        .unwrap();
        let cfg = String::from_utf8(out.files["etc/haproxy/haproxy.cfg"].content.clone()).unwrap();
        let lines: Vec<&str> = cfg.lines().map(str::trim).collect();
        let r = routing(&edge, &colors);
        for fe in &r.frontends {
            for a in &fe.acls {
                let want = format!("acl {} {}", a.name, haproxy_test(&a.test));
                assert!(lines.contains(&want.as_str()), "{want}");
            }
            if let Some(u) = &fe.redirect_unless {
                assert!(lines.contains(&redirect_rule(u, fe.redirect_port).as_str()));
            }
        }
        for b in &r.backends {
            if let Some(c) = &b.cookie {
                let want = format!("cookie {c} insert indirect nocache httponly secure");
                assert!(lines.contains(&want.as_str()), "{want}");
            }
        }
        assert!(lines.contains(&"balance uri whole path-only"));
        assert!(lines.contains(&"hash-type consistent"));
    }

    /// The lab topology fixture (several instances per colour) at `colors`.
    fn lab_with(url: &str, cookies: &[&str], colors: &[&str]) -> Explanation {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/specs/valid/lab_topology");
        let edge = crate::load(&dir).map_err(|p| format!("{p:?}")).unwrap().1;
        let mut c = ActiveColors::from_specs(&edge);
        let colors: Vec<String> = colors.iter().map(|s| s.to_string()).collect();
        apply_colors(&edge, &mut c, &colors).unwrap();
        let cookies: Vec<String> = cookies.iter().map(|s| s.to_string()).collect();
        let req = Request::parse(url, &cookies, &[]).unwrap();
        explain(&routing(&edge, &c), &req).unwrap()
    }

    #[test]
    fn several_instances_round_robin_and_cookies_pin_one() {
        let ex = lab_with("http://lab.veza.fr/api/v1/me", &[], &[]);
        assert_eq!(ex.backend.as_deref(), Some("lab_api_pool"));
        let active: Vec<&str> = ex
            .servers
            .iter()
            .filter(|s| s.active)
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(active, ["backend-api-1", "backend-api-2"]);
        assert_eq!(
            ex.chosen_server, None,
            "round-robin: not fixed by the request"
        );
        assert_eq!(ex.outcome, Outcome::Forward);
        let sc = ex.sets_cookie.as_ref().unwrap();
        assert_eq!(
            (sc.name.as_str(), sc.value.as_deref()),
            ("VEZA_SERVERID_lab", None)
        );
        assert!(
            ex.notes
                .iter()
                .any(|n| n.contains("roundrobin takes turns among backend-api-1, backend-api-2"))
        );

        let ex = lab_with(
            "http://lab.veza.fr/api/v1/me",
            &["VEZA_SERVERID_lab=lab-backend-backend-api-2"],
            &[],
        );
        assert_eq!(ex.chosen_server.as_deref(), Some("backend-api-2"));
        assert_eq!(ex.pinned_server.as_deref(), Some("backend-api-2"));
        assert!(ex.sets_cookie.is_none());

        // After a switch to green, a blue instance's cookie is ignored.
        let ex = lab_with(
            "http://lab.veza.fr/api/v1/me",
            &["VEZA_SERVERID_lab=lab-backend-backend-api-2"],
            &["lab=green"],
        );
        assert_eq!(ex.sticky.as_ref().unwrap().result, StickyResult::Ignored);
        assert_eq!(ex.chosen_server, None);
        let text = render_text(&ex, false);
        assert!(
            text.contains("forwarded to one of backend-api-3, backend-api-4"),
            "{text}"
        );
    }

    #[test]
    fn several_instances_uri_hash_names_the_server() {
        let ex = lab_with("http://lab.veza.fr/hls/t1/seg-3.ts", &[], &[]);
        let bal = ex.balance.as_ref().unwrap();
        assert_eq!(
            bal.haproxy,
            "balance uri whole path-only + hash-type consistent"
        );
        assert_eq!(bal.hash, Some(uri_hash("/hls/t1/seg-3.ts")));
        let chosen = ex.chosen_server.clone().unwrap();
        assert!(chosen.starts_with("stream-srv-"), "{chosen}");
        assert!(ex.servers.iter().all(|s| s.id.is_some()));
        // The same URI, the same server; the query is part of the key.
        let again = lab_with("http://lab.veza.fr/hls/t1/seg-3.ts", &[], &[]);
        assert_eq!(again.chosen_server, ex.chosen_server);
        let spread: std::collections::BTreeSet<String> = (0..40)
            .map(|i| {
                lab_with(&format!("http://lab.veza.fr/hls/t{i}/seg-3.ts"), &[], &[])
                    .chosen_server
                    .unwrap()
            })
            .collect();
        assert_eq!(spread.len(), 3, "{spread:?}");
    }

    #[test]
    fn haproxy_hash_functions() {
        // HAProxy's `hash_sdbm` and `full_hash` (compiled from its C), and what haproxy 2.6
        // itself answers for `%[url,sdbm(1)]` on `GET /stream/a?b=1`.
        assert_eq!(sdbm(b""), 0);
        assert_eq!(sdbm(b"a"), 97);
        assert_eq!(sdbm(b"/stream/a?b=1"), 2_613_440_952);
        assert_eq!(full_hash(0), 2_874_071_335);
        assert_eq!(full_hash(12345), 4_132_584_531);
        assert_eq!(uri_hash("/stream/a?b=1"), 754_903_683);
        // One server takes everything; no server, nothing.
        assert_eq!(chash_pick(&[(7, 1)], 12345), Some(0));
        assert_eq!(chash_pick(&[], 12345), None);
        // Removing a server moves only the keys it held.
        let three = [(11, 1), (22, 1), (33, 1)];
        let two = [(11, 1), (33, 1)];
        let mut moved = 0;
        for k in 0..2000 {
            let h = uri_hash(&format!("/stream/track-{k}.m3u8"));
            let a = chash_pick(&three, h).unwrap();
            let b = chash_pick(&two, h).unwrap();
            let (a_id, b_id) = (three[a].0, two[b].0);
            if a_id != 22 {
                assert_eq!(a_id, b_id, "key {k} moved from {a_id} to {b_id}");
            } else {
                moved += 1;
            }
        }
        assert!(
            (400..=1000).contains(&moved),
            "{moved} keys on the removed server"
        );
    }

    #[test]
    fn json_has_stable_fields() {
        let ex = route("https://staging.veza.fr/api/v1/health");
        let v = serde_json::to_value(&ex).unwrap();
        for k in [
            "format_version",
            "request",
            "frontend",
            "acls",
            "redirect",
            "switches",
            "default_backend",
            "outcome",
            "status",
            "location",
            "backend",
            "kind",
            "env",
            "component",
            "body_file",
            "servers",
            "balance",
            "sticky",
            "chosen_server",
            "pinned_server",
            "sets_cookie",
            "notes",
        ] {
            assert!(v.get(k).is_some(), "{k}");
        }
        assert_eq!(v["format_version"], 1);
        assert_eq!(v["acls"][0]["test"]["kind"], "host");
        assert_eq!(v["outcome"], "forward");
    }
}
