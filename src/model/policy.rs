//! Policies: what the edge does to a request besides routing it — who may reach it (access
//! by client network), which headers it adds, replaces or removes on the way in and out, and
//! HTTP Strict Transport Security. A [`Rules`] value is one set of them; a named [`Policy`]
//! holds one and is used by name wherever rules may stand (edge-wide, env, route, outside
//! backend, placeholder), next to rules written inline there ([`Attached`]).
//!
//! The value types here are checked once, so the routing table can spell them for haproxy
//! without quoting surprises: a [`HeaderName`] is a plain token, a [`HeaderValue`] holds no
//! character that ends, expands or escapes an haproxy double-quoted string.

use std::fmt;

use serde::Serialize;

use super::{Ident, Invalid, Network, check_chars};

/// Headers the edge itself manages, which a policy may not set, add or remove (lower case), and
/// why. Framing and hop-by-hop headers (RFC 9110 section 7.6.1, RFC 9112 section 6) belong to
/// the connection; the identity headers to the trust model ([`crate::rules::IDENTITY_HEADERS`]);
/// `Host` decides routing; `Strict-Transport-Security` is the `hsts` rule's.
const MANAGED: &[(&str, &str)] = &[
    ("host", "it decides routing; a redirect changes hosts"),
    ("content-length", "it frames the message"),
    ("transfer-encoding", "it frames the message"),
    ("connection", "it is a hop-by-hop header"),
    ("keep-alive", "it is a hop-by-hop header"),
    ("proxy-connection", "it is a hop-by-hop header"),
    ("te", "it is a hop-by-hop header"),
    ("trailer", "it is a hop-by-hop header"),
    (
        "upgrade",
        "it is a hop-by-hop header (WebSocket needs it as sent)",
    ),
    (
        "x-forwarded-for",
        "the edge sets it from the trust model (`trusted`)",
    ),
    (
        "x-real-ip",
        "the edge sets it from the trust model (`trusted`)",
    ),
    (
        "forwarded",
        "the edge sets it from the trust model (`trusted`)",
    ),
    (
        "x-forwarded-host",
        "the edge sets it from the trust model (`trusted`)",
    ),
    (
        "x-forwarded-port",
        "the edge sets it from the trust model (`trusted`)",
    ),
    (
        "x-forwarded-proto",
        "the edge sets it from the listener's scheme",
    ),
    (
        "strict-transport-security",
        "the `hsts` rule writes it (`hsts max-age=31536000`)",
    ),
];

string_newtype!(
    /// An HTTP header name a policy may touch: letters, digits, `-`, `_`, `.` (a subset of
    /// RFC 9110's token that is also a plain haproxy word), at most 128 characters, and not one
    /// the edge manages itself (`Host`, framing and hop-by-hop headers, the identity headers,
    /// `Strict-Transport-Security`). Case is kept as written; HTTP compares names without case.
    HeaderName
);

impl HeaderName {
    /// Check `s`.
    ///
    /// # Errors
    ///
    /// [`Invalid`] for an empty or long name, another character, or a managed header.
    pub fn parse(s: &str) -> Result<HeaderName, Invalid> {
        const E: &str = "an HTTP header name (letters, digits, `-`, `_`, `.`)";
        check_chars(s, E, |c| {
            c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'
        })?;
        if s.is_empty() {
            return Err(Invalid::new(E, "is empty"));
        }
        if s.len() > 128 {
            return Err(Invalid::new(
                E,
                format!("is {} characters long; at most 128", s.len()),
            ));
        }
        let lower = s.to_ascii_lowercase();
        if let Some((_, why)) = MANAGED.iter().find(|(m, _)| *m == lower) {
            return Err(Invalid::new(
                E,
                format!("names `{s}`, which the edge manages itself: {why}"),
            ));
        }
        Ok(HeaderName(s.to_string()))
    }

    /// A name the edge writes itself (a preset's, HSTS's), not checked against [`MANAGED`].
    pub(crate) fn preset(s: &str) -> HeaderName {
        HeaderName(s.to_string())
    }

    /// The name in lower case, as HTTP compares names.
    pub fn lower(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

string_newtype!(
    /// An HTTP header value: printable ASCII (space to `~`) but `"`, `\` and `$` (which end,
    /// escape or expand an haproxy double-quoted string), no leading or trailing space, at most
    /// 1024 characters. `%` is allowed and written `%%` in haproxy.cfg ([`Self::haproxy`]).
    HeaderValue
);

impl HeaderValue {
    /// Check `s`.
    ///
    /// # Errors
    ///
    /// [`Invalid`] for another character (`unsafe_chars` for line breaks, quotes, `\`, `$`),
    /// surrounding spaces or a long value.
    pub fn parse(s: &str) -> Result<HeaderValue, Invalid> {
        const E: &str = "an HTTP header value (printable ASCII without `\"`, `\\`, `$`)";
        check_chars(s, E, |c| {
            (' '..='~').contains(&c) && !matches!(c, '"' | '\\' | '$')
        })?;
        if s.len() > 1024 {
            return Err(Invalid::new(
                E,
                format!("is {} characters long; at most 1024", s.len()),
            ));
        }
        if s.starts_with(' ') || s.ends_with(' ') {
            return Err(Invalid::new(
                E,
                "starts or ends with a space (HTTP trims it)",
            ));
        }
        Ok(HeaderValue(s.to_string()))
    }

    /// A value the edge writes itself (a preset's, HSTS's).
    pub(crate) fn preset(s: &str) -> HeaderValue {
        HeaderValue(s.to_string())
    }

    /// The value as an haproxy log-format string in double quotes: `%` doubled (haproxy reads
    /// `%[…]` and `%x` as variables in `set-header` values).
    pub fn haproxy(&self) -> String {
        format!("\"{}\"", self.0.replace('%', "%%"))
    }
}

/// What a header rule does (haproxy's `set-header`, `add-header`, `del-header`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum HeaderAction {
    /// Replace every value of the header with this one (or add it).
    Set {
        /// The value.
        value: HeaderValue,
    },
    /// Add one more value, keeping those already there.
    Add {
        /// The value.
        value: HeaderValue,
    },
    /// Remove the header.
    Del,
}

impl HeaderAction {
    /// haproxy's verb (`set-header`).
    pub fn verb(&self) -> &'static str {
        match self {
            HeaderAction::Set { .. } => "set-header",
            HeaderAction::Add { .. } => "add-header",
            HeaderAction::Del => "del-header",
        }
    }
}

/// One header rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeaderRule {
    /// The header.
    pub name: HeaderName,
    /// What to do.
    #[serde(flatten)]
    pub action: HeaderAction,
}

/// `X-Frame-Options` of the security-headers preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FrameOptions {
    /// `DENY`: never in a frame.
    #[serde(rename = "DENY")]
    Deny,
    /// `SAMEORIGIN`: only in a frame of the same origin (the default).
    #[serde(rename = "SAMEORIGIN")]
    SameOrigin,
}

impl FrameOptions {
    /// Parse `DENY` or `SAMEORIGIN` (any case).
    ///
    /// # Errors
    ///
    /// [`Invalid`] otherwise.
    pub fn parse(s: &str) -> Result<FrameOptions, Invalid> {
        match s.to_ascii_uppercase().as_str() {
            "DENY" => Ok(FrameOptions::Deny),
            "SAMEORIGIN" => Ok(FrameOptions::SameOrigin),
            _ => Err(Invalid::new(
                "`DENY` or `SAMEORIGIN`",
                format!("is `{s}` (`ALLOW-FROM` is obsolete: use a Content-Security-Policy)"),
            )),
        }
    }
}

impl fmt::Display for FrameOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FrameOptions::Deny => "DENY",
            FrameOptions::SameOrigin => "SAMEORIGIN",
        })
    }
}

/// `Referrer-Policy` values (W3C Referrer Policy, section 3).
pub const REFERRER_POLICIES: &[&str] = &[
    "no-referrer",
    "no-referrer-when-downgrade",
    "origin",
    "origin-when-cross-origin",
    "same-origin",
    "strict-origin",
    "strict-origin-when-cross-origin",
    "unsafe-url",
];

string_newtype!(
    /// A `Referrer-Policy` token ([`REFERRER_POLICIES`]).
    ReferrerPolicy
);

impl ReferrerPolicy {
    /// Check `s`.
    ///
    /// # Errors
    ///
    /// [`Invalid`] for anything but a [`REFERRER_POLICIES`] token.
    pub fn parse(s: &str) -> Result<ReferrerPolicy, Invalid> {
        if REFERRER_POLICIES.contains(&s) {
            Ok(ReferrerPolicy(s.to_string()))
        } else {
            Err(Invalid::new(
                "a Referrer-Policy token (`strict-origin-when-cross-origin`, `no-referrer`…)",
                format!("is `{s}`"),
            ))
        }
    }

    /// The browsers' default, and the preset's.
    pub fn default_policy() -> ReferrerPolicy {
        ReferrerPolicy("strict-origin-when-cross-origin".into())
    }
}

/// HTTP Strict Transport Security (RFC 6797): sent on HTTPS responses only (browsers ignore it
/// over plain HTTP, section 8.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hsts {
    /// `max-age`, seconds.
    pub max_age: u32,
    /// `includeSubDomains`.
    pub include_subdomains: bool,
    /// `preload` (asks to be in the browsers' preload list: hstspreload.org requires a
    /// `max-age` of a year or more and `includeSubDomains`).
    pub preload: bool,
}

/// Shortest `max-age` the HSTS preload list accepts: one year, in seconds (hstspreload.org,
/// "Submission Requirements").
pub const HSTS_PRELOAD_MIN_AGE: u32 = 31_536_000;

impl Hsts {
    /// The header's value (`max-age=31536000; includeSubDomains; preload`).
    pub fn value(&self) -> String {
        let mut v = format!("max-age={}", self.max_age);
        if self.include_subdomains {
            v += "; includeSubDomains";
        }
        if self.preload {
            v += "; preload";
        }
        v
    }
}

/// The security-headers preset: `X-Content-Type-Options: nosniff`, `X-Frame-Options` and
/// `Referrer-Policy` on every response (OWASP Secure Headers Project's baseline).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecurityHeaders {
    /// `X-Frame-Options`.
    pub frame_options: FrameOptions,
    /// `Referrer-Policy`.
    pub referrer_policy: ReferrerPolicy,
}

impl SecurityHeaders {
    /// The headers it sets, in order: name and value.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        vec![
            ("X-Content-Type-Options", "nosniff".into()),
            ("X-Frame-Options", self.frame_options.to_string()),
            ("Referrer-Policy", self.referrer_policy.to_string()),
        ]
    }
}

/// Who may reach what the rules guard, by the client's address (the connection's source, or
/// the address a `trusted` proxy reports). A client in `deny` is refused; with an `allow` list,
/// so is a client in none of its networks. Answered with 403.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Access {
    /// Networks allowed; empty: every network not denied.
    pub allow: Vec<Network>,
    /// Networks denied.
    pub deny: Vec<Network>,
}

/// Largest maintenance page: any spec string's limit ([`super::MAX_STRING`], 4 KiB), well
/// inside the one buffer haproxy answers `http-request return … file` from (`tune.bufsize`,
/// 16 KiB by default, headers included).
pub const MAX_PAGE_BYTES: usize = super::MAX_STRING;

/// The page a maintenance rule answers when the spec gives none.
pub const DEFAULT_MAINTENANCE_PAGE: &str = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Maintenance</title></head>\n<body><h1>Down for maintenance</h1><p>We will be back shortly.</p></body></html>\n";

/// Maintenance: every request the rules guard is answered 503 with an HTML page and
/// `Retry-After`, but from the `bypass` networks (the team keeps working), without touching
/// the active colour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Maintenance {
    /// The page (HTML, at most [`MAX_PAGE_BYTES`]).
    pub page: super::Body,
    /// `Retry-After`, seconds.
    pub retry_after: u32,
    /// Networks that bypass it (the edge's `trusted` ones when the spec says `trusted`).
    pub bypass: Vec<Network>,
}

/// Statuses an error page may replace: the errors haproxy itself answers for a backend (500
/// internal, 502 bad gateway, 503 no server, 504 gateway timeout).
pub const ERROR_PAGE_STATUSES: [u16; 4] = [500, 502, 503, 504];

/// A page haproxy answers instead of its own for an error status of the backends the rules
/// guard (haproxy's `http-error`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorPage {
    /// Status ([`ERROR_PAGE_STATUSES`]).
    pub status: u16,
    /// The page (HTML, at most [`MAX_PAGE_BYTES`]).
    pub page: super::Body,
}

string_newtype!(
    /// A media type compression applies to (`text/html`, `application/json`): `TYPE/SUBTYPE` of
    /// lower-case letters, digits and `.+-_`, at most 127 characters (RFC 6838 section 4.2,
    /// without the characters that mean something in haproxy.cfg).
    MediaType
);

impl MediaType {
    /// Check `s` (lower-cased: media types compare without case).
    ///
    /// # Errors
    ///
    /// [`Invalid`] for anything but `TYPE/SUBTYPE` of those characters.
    pub fn parse(s: &str) -> Result<MediaType, Invalid> {
        const E: &str = "a media type (`text/html`, `application/json`)";
        check_chars(s, E, |c| c.is_ascii_alphanumeric() || ".+-_/".contains(c))?;
        let lower = s.to_ascii_lowercase();
        let ok = lower.len() <= 127
            && lower
                .split_once('/')
                .is_some_and(|(t, st)| !t.is_empty() && !st.is_empty() && !st.contains('/'));
        if !ok {
            return Err(Invalid::new(E, "is not TYPE/SUBTYPE"));
        }
        Ok(MediaType(lower))
    }
}

/// The media types compressed when the spec lists none: text and the text-like formats
/// browsers fetch (HTML, CSS, JavaScript, JSON, SVG, XML, plain text).
pub const DEFAULT_COMPRESSED_TYPES: &[&str] = &[
    "text/html",
    "text/plain",
    "text/css",
    "text/javascript",
    "application/javascript",
    "application/json",
    "image/svg+xml",
    "application/xml",
];

/// gzip compression of responses of these media types, to clients that accept it (haproxy's
/// built-in compression: `compression algo gzip`, `compression type …`, per backend).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Compression {
    /// Media types compressed.
    pub types: Vec<MediaType>,
}

/// One set of rules, in the order they act: access, the rate limit, the body limit, basic auth,
/// maintenance, then request headers (in spec order), then response headers (the security preset, then the rules in spec order, then HSTS).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Rules {
    /// Access by client network.
    pub access: Option<Access>,
    /// Requests per period per client address.
    pub rate_limit: Option<super::RateLimit>,
    /// The largest request body.
    pub body_limit: Option<super::BodyLimit>,
    /// Maintenance.
    pub maintenance: Option<Maintenance>,
    /// Basic authentication.
    pub basic_auth: Option<super::BasicAuth>,
    /// Error pages, by status.
    pub error_pages: Vec<ErrorPage>,
    /// Compression of the responses of the place's backends.
    pub compression: Option<Compression>,
    /// Request header rules, in spec order.
    pub request_headers: Vec<HeaderRule>,
    /// Response header rules, in spec order.
    pub response_headers: Vec<HeaderRule>,
    /// The security-headers preset.
    pub security_headers: Option<SecurityHeaders>,
    /// HSTS.
    pub hsts: Option<Hsts>,
}

impl Rules {
    /// True when there is no rule.
    pub fn is_empty(&self) -> bool {
        *self == Rules::default()
    }
}

/// A named policy (`policy "NAME" { … }`), used by name (`policies "NAME"`).
#[derive(Debug, Clone, Serialize)]
pub struct Policy {
    /// Name.
    pub name: Ident,
    /// Its rules.
    pub rules: Rules,
}

/// The rules that stand at one place of the spec (the edge, an env, a route, an outside backend,
/// a placeholder): the named policies it uses, in the order listed, then its inline rules.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Attached {
    /// Named policies used (`policies "a" "b"`), in order.
    pub uses: Vec<Ident>,
    /// Rules written inline.
    pub inline: Rules,
}

impl Attached {
    /// True when nothing is attached.
    pub fn is_empty(&self) -> bool {
        self.uses.is_empty() && self.inline.is_empty()
    }
}

/// Where a redirect site sends its requests: an origin, `https://HOST[:PORT]` (or `http://`),
/// with no path, query or user part — the request's path and query are appended
/// ([`Redirect::keep_path`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RedirectTo {
    /// `https` (or `http`).
    pub https: bool,
    /// The host.
    pub host: super::Host,
    /// The port, when not the scheme's default.
    pub port: Option<u16>,
}

impl RedirectTo {
    /// Parse `https://host[:port]` (a trailing `/` allowed).
    ///
    /// # Errors
    ///
    /// [`Invalid`] for another scheme, a path, query, fragment or user part, a bad host or port.
    pub fn parse(s: &str) -> Result<RedirectTo, Invalid> {
        const E: &str = "an origin such as `https://example.org` (no path)";
        check_chars(s, E, |c| {
            c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '$' | '#')
        })?;
        let (https, rest) = if let Some(r) = s.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = s.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(Invalid::new(E, "must start with `https://` or `http://`"));
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '@']) {
            return Err(Invalid::new(
                E,
                "has a path, query or user part: the request's path and query are kept \
                 (`keep-path=#false` sends to the root)",
            ));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => {
                let port = p
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| Invalid::new(E, format!("has port `{p}`, not 1..=65535")))?;
                (h, Some(port))
            }
            None => (rest, None),
        };
        let host = super::Host::parse(host).map_err(|e| Invalid { expected: E, ..e })?;
        let default = if https { 443 } else { 80 };
        Ok(RedirectTo {
            https,
            host,
            port: port.filter(|p| *p != default),
        })
    }
}

impl fmt::Display for RedirectTo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}", self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

/// Statuses a redirect may answer (RFC 9110 section 15.4): 301 and 308 permanent, 302, 303
/// and 307 temporary; 307 and 308 keep the method and body.
pub const REDIRECT_STATUSES: [u16; 5] = [301, 302, 303, 307, 308];

/// A redirect site (`redirect NAME to=… { hosts … }`): every request to its hosts is answered
/// with a redirect to `to`, path and query kept unless `keep_path` is off.
#[derive(Debug, Clone, Serialize)]
pub struct Redirect {
    /// Name.
    pub name: Ident,
    /// Hosts.
    pub hosts: Vec<super::Host>,
    /// Where to.
    pub to: RedirectTo,
    /// Status ([`REDIRECT_STATUSES`]).
    pub status: u16,
    /// Append the request's path and query (else: the target's root).
    pub keep_path: bool,
    /// Rules for the requests to its hosts.
    pub policy: Attached,
}
