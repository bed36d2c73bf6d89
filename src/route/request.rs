//! The request to explain, read from the command line: the URL (scheme, Host header as sent,
//! path, query), `--cookie` and `--header` arguments, and the `--colors` items that say which
//! colour is active. Everything is taken as a client would send it, because that is what HAProxy
//! sees; what cannot be sent is refused here with a diagnostic pointing at it.

use miette::{NamedSource, SourceSpan};
use serde::Serialize;

use super::RouteError;
use crate::model::{Edge, Ident};
use crate::rules::Scheme;
use crate::state::{ActiveColors, Serving};

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
    /// The client's address (`--from`), when given: decides whether its identity headers are
    /// believed (the spec's `trusted` networks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<std::net::IpAddr>,
    /// The Basic credentials of its first `Authorization` header, as haproxy's `http_auth`
    /// reads them; never shown (the header's value in [`Self::headers`] is masked).
    #[serde(skip)]
    pub credentials: Option<super::Credentials>,
}

/// A name and a value (a cookie, a header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameValue {
    /// Name.
    pub name: String,
    /// Value, as sent.
    pub value: String,
    /// What output shows instead of a secret value (`Authorization`'s): never the value.
    pub masked: Option<String>,
}

impl NameValue {
    /// The value as output may show it.
    pub fn shown(&self) -> &str {
        self.masked.as_deref().unwrap_or(&self.value)
    }
}

impl Serialize for NameValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut st = s.serialize_struct("NameValue", 2)?;
        st.serialize_field("name", &self.name)?;
        st.serialize_field("value", self.shown())?;
        st.end()
    }
}

/// A [`RouteError::BadUrl`] at bytes `at..at + len` of `url`.
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

/// How a diagnostic names a character: spaces and controls in words, others quoted.
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
    ///
    /// # Errors
    ///
    /// [`RouteError::BadUrl`], [`RouteError::BadCookie`] or [`RouteError::BadHeader`], pointing
    /// at the first thing a client could not send.
    pub fn parse(url: &str, cookies: &[String], headers: &[String]) -> Result<Request, RouteError> {
        let (scheme, rest_at) = parse_scheme(url)?;
        let rest = &url[rest_at..];
        let rest = rest.split('#').next().unwrap_or("");
        let auth_len = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..auth_len];
        check_authority(url, rest_at, authority)?;
        let (path, query) = parse_target(url, rest_at + auth_len, &rest[auth_len..])?;
        let mut req = Request {
            url: url.to_string(),
            scheme,
            host_header: Some(authority.to_string()),
            extra_host_headers: Vec::new(),
            path,
            query,
            cookies: Vec::new(),
            headers: Vec::new(),
            from: None,
            credentials: None,
        };
        for c in cookies {
            req.cookies.push(parse_cookie(c)?);
        }
        req.add_headers(headers)?;
        Ok(req)
    }

    /// Add the `--header` arguments: a first `Host` replaces the URL's authority, a further one
    /// is kept aside (the request is then ambiguous), a `Cookie` adds its cookies.
    fn add_headers(&mut self, headers: &[String]) -> Result<(), RouteError> {
        let mut host_set = false;
        for h in headers {
            let (name, value) = parse_header(h)?;
            if name.eq_ignore_ascii_case("host") {
                if host_set {
                    // Ambiguous: the edge answers 400 (`explain` says so).
                    self.extra_host_headers.push(value);
                    continue;
                }
                host_set = true;
                self.host_header = Some(value);
            } else if name.eq_ignore_ascii_case("cookie") {
                for pair in value.split(';').map(str::trim).filter(|p| !p.is_empty()) {
                    self.cookies.push(parse_cookie(pair)?);
                }
            } else if name.eq_ignore_ascii_case(crate::rules::AUTHORIZATION) {
                // Only the first counts (haproxy reads the first); no value is ever shown.
                let first = !self
                    .headers
                    .iter()
                    .any(|h| h.name.eq_ignore_ascii_case(crate::rules::AUTHORIZATION));
                let creds = super::Credentials::from_header(&value);
                let masked = Some(super::Credentials::shown(creds.as_ref()));
                if first {
                    self.credentials = creds;
                }
                self.headers.push(NameValue {
                    name,
                    value,
                    masked,
                });
            } else {
                self.headers.push(NameValue {
                    name,
                    value,
                    masked: None,
                });
            }
        }
        Ok(())
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
        if self.host_headers_differ() {
            return Some("it has Host headers that differ");
        }
        if self.host_header.as_deref().is_some_and(|h| h.contains(',')) {
            Some("its Host header has more than one value")
        } else if self.host_field().is_none_or(|h| h.is_empty()) {
            Some("it names no host")
        } else {
            None
        }
    }

    /// Host headers that differ: haproxy's HTTP/1 parser answers 400 itself, before any rule
    /// of the frontend (`http-after-response` included) runs — seen with haproxy 2.6, where the
    /// same Host header twice passes as one.
    pub fn host_headers_differ(&self) -> bool {
        let first = self.host_header.as_deref().unwrap_or("");
        self.extra_host_headers
            .iter()
            .any(|h| !h.eq_ignore_ascii_case(first))
    }
}

/// The URL's scheme and the offset just past its `://`.
fn parse_scheme(url: &str) -> Result<(Scheme, usize), RouteError> {
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
    Ok((scheme, sep + 3))
}

/// Check the URL's authority (at byte `at` of `url`): a host (a name or a bracketed IPv6
/// literal) and an optional `:PORT`, no credentials.
fn check_authority(url: &str, at: usize, authority: &str) -> Result<(), RouteError> {
    if authority.is_empty() {
        return Err(url_error(
            url,
            at,
            0,
            "it has no host",
            "host expected here",
            "write the host the request is for, e.g. https://example.org/",
        ));
    }
    if let Some(i) = authority.find('@') {
        return Err(url_error(
            url,
            at,
            i + 1,
            "it carries credentials",
            "user info",
            "credentials play no part in routing; leave them out",
        ));
    }
    let (host, port) = split_host_port(url, at, authority)?;
    check_host(url, at, authority, host)?;
    check_port(url, at + host.len(), port)
}

/// The authority split before its port: `[v6]` and `:PORT`, or `name` and `:PORT` (the port
/// part empty when there is none).
fn split_host_port<'a>(
    url: &str,
    at: usize,
    authority: &'a str,
) -> Result<(&'a str, &'a str), RouteError> {
    if !authority.starts_with('[') {
        return Ok(match authority.find(':') {
            Some(i) => (&authority[..i], &authority[i..]),
            None => (authority, ""),
        });
    }
    match authority.find(']') {
        Some(end) => Ok((&authority[..=end], &authority[end + 1..])),
        None => Err(url_error(
            url,
            at,
            authority.len(),
            "an IPv6 literal has no closing `]`",
            "unclosed `[`",
            "write an IPv6 address as [::1]",
        )),
    }
}

/// Check the host of an authority starting at byte `at` of `url`.
fn check_host(url: &str, at: usize, authority: &str, host: &str) -> Result<(), RouteError> {
    let host_ok = |c: char| c.is_ascii_alphanumeric() || "-._~%".contains(c);
    let inner = host.trim_start_matches('[').trim_end_matches(']');
    let v6 = host.starts_with('[');
    if inner.is_empty() {
        return Err(url_error(
            url,
            at,
            authority.len(),
            "it has no host",
            "empty host",
            "write the host the request is for, e.g. https://example.org/",
        ));
    }
    if let Some((i, n, c)) = first_bad(inner, |c| host_ok(c) || (v6 && (c == ':' || c == '.'))) {
        return Err(url_error(
            url,
            at + usize::from(v6) + i,
            n,
            &format!("the host contains {}", describe(c)),
            "not allowed in a host",
            "a host is letters, digits, `-` and `.` (IDNs in punycode)",
        ));
    }
    Ok(())
}

/// Check the port part (`:PORT` or empty) at byte `at` of `url`: a number from 1 to 65535.
fn check_port(url: &str, at: usize, port: &str) -> Result<(), RouteError> {
    if port.is_empty() {
        return Ok(());
    }
    let digits = &port[1..];
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
    Ok(())
}

/// The request target (at byte `at` of `url`, up to any fragment) as path (`/` when empty)
/// and query.
fn parse_target(
    url: &str,
    at: usize,
    target: &str,
) -> Result<(String, Option<String>), RouteError> {
    if let Some((i, n, c)) = first_bad(target, |c| c.is_ascii_graphic()) {
        return Err(url_error(
            url,
            at + i,
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
    Ok((path.to_string(), query))
}

pub use crate::rules::HOST_VAR;

/// `req.hdr(host),lower,regsub(:[0-9]*$,),regsub([.]$,)` in Rust.
fn normalised_host(h: &str) -> String {
    let h = h.to_ascii_lowercase();
    let h = match h.rfind(':') {
        Some(i) if h[i + 1..].bytes().all(|b| b.is_ascii_digit()) => h[..i].to_string(),
        _ => h,
    };
    h.strip_suffix('.').map_or(h.clone(), str::to_string)
}

/// A character of an HTTP token (RFC 9110 §5.6.2): what a header or cookie name is made of.
fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// `NAME=VALUE`, the value optionally in double quotes (RFC 6265 §4.1.1).
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
        masked: None,
    })
}

/// A [`RouteError::BadHeader`] at bytes `at..at + len` of `arg`.
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

/// Apply `--colors` items (`ENV=COLOR` or a canary `ENV=COLOR@PERCENT`, several per argument
/// separated by `,`) to `colors`.
///
/// # Errors
///
/// [`RouteError::BadColors`] for an item without `=`, [`RouteError::UnknownEnv`] for an env the
/// specs do not define (with a suggestion), [`RouteError::UnknownColor`] for anything but a
/// colour.
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
        let c = Serving::parse(color).map_err(|why| RouteError::UnknownColor {
            env: env.to_string(),
            color: color.to_string(),
            why,
        })?;
        colors.set(&id, c);
    }
    Ok(())
}

/// Help for an unknown env: the closest known one, or the list.
fn suggest(name: &str, known: &[&str]) -> String {
    match crate::diag::closest(name, known) {
        Some(k) => format!("did you mean `{k}`?"),
        None if known.is_empty() => "the specs define no env".to_string(),
        None => format!("known envs: {}", known.join(", ")),
    }
}
