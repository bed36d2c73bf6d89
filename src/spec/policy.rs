//! The policy nodes as written: `policy NAME { … }` definitions, and the rules that may stand
//! in a policy or inline in the edge's top level (`policies` only), an `env`, a `route`, an
//! `outside` backend or a `placeholder`: `policies`, `allow`, `deny`, `request-header`,
//! `response-header`, `security-headers`, `hsts`, `maintenance`, `error-page`, `basic-auth`,
//! `compression`, `max-body`, `rate-limit`;
//! and the `userlist NAME { user NAME password=HASH }` lists `basic-auth` names.

use super::{At, Spanned};
use crate::model::{
    FrameOptions, HeaderName, HeaderValue, Ident, Network, PasswordHash, Realm, ReferrerPolicy,
    UserName,
};

/// `userlist NAME { user NAME password=HASH … }`.
#[derive(Debug, Clone)]
pub struct UserlistSpec {
    /// Name.
    pub name: Spanned<Ident>,
    /// `user` nodes, in order.
    pub users: Vec<UserSpec>,
}

/// `user NAME password=HASH`.
#[derive(Debug, Clone)]
pub struct UserSpec {
    /// Name.
    pub name: Spanned<UserName>,
    /// `password=` (a hash).
    pub password: Option<Spanned<PasswordHash>>,
}

/// `basic-auth userlist=NAME realm="…" { bypass NETWORK|"trusted"… }`.
#[derive(Debug, Clone, Default)]
pub struct BasicAuthSpec {
    /// `userlist=`.
    pub userlist: Option<Spanned<Ident>>,
    /// `realm=`.
    pub realm: Option<Spanned<Realm>>,
    /// `bypass` entries.
    pub bypass: Vec<Spanned<BypassSpec>>,
}

/// `redirect NAME to=ORIGIN status=… keep-path=… { hosts …; rules… }`.
#[derive(Debug, Clone)]
pub struct RedirectSpec {
    /// Name.
    pub name: Spanned<Ident>,
    /// Hosts.
    pub hosts: Vec<Spanned<crate::model::Host>>,
    /// `to=`.
    pub to: Option<Spanned<crate::model::RedirectTo>>,
    /// `status=`.
    pub status: Option<Spanned<u16>>,
    /// `keep-path=`.
    pub keep_path: Option<Spanned<bool>>,
    /// Its rules.
    pub rules: RulesSpec,
}

/// `policy NAME { rules… }`.
#[derive(Debug, Clone)]
pub struct PolicySpec {
    /// Name and place.
    pub name: Spanned<Ident>,
    /// Its rules.
    pub rules: RulesSpec,
}

/// The rule nodes of one place, in the order written.
#[derive(Debug, Clone, Default)]
pub struct RulesSpec {
    /// `policies NAME…`: named policies used here.
    pub uses: Vec<Spanned<Ident>>,
    /// `allow NETWORK…` (all of them).
    pub allow: Vec<Spanned<Network>>,
    /// `deny NETWORK…` (all of them).
    pub deny: Vec<Spanned<Network>>,
    /// `request-header …`, in order.
    pub request_headers: Vec<HeaderSpec>,
    /// `response-header …`, in order.
    pub response_headers: Vec<HeaderSpec>,
    /// `security-headers …`.
    pub security_headers: Option<Spanned<SecuritySpec>>,
    /// `hsts …`.
    pub hsts: Option<Spanned<HstsSpec>>,
    /// `maintenance …`.
    pub maintenance: Option<Spanned<MaintenanceSpec>>,
    /// `error-page …`, in order.
    pub error_pages: Vec<ErrorPageSpec>,
    /// `basic-auth …`.
    pub basic_auth: Option<Spanned<BasicAuthSpec>>,
    /// `compression TYPE…` (the node's place; its media types, none: the default list).
    pub compression: Option<Spanned<Vec<Spanned<crate::model::MediaType>>>>,
    /// `max-body SIZE chunked=pass|refuse`.
    pub max_body: Option<Spanned<MaxBodySpec>>,
    /// `rate-limit requests=N period=DURATION`.
    pub rate_limit: Option<Spanned<RateLimitSpec>>,
}

/// `max-body SIZE chunked="pass"|"refuse"`.
#[derive(Debug, Clone, Default)]
pub struct MaxBodySpec {
    /// The size.
    pub max: Option<Spanned<crate::model::ByteSize>>,
    /// `chunked=`.
    pub chunked: Option<Spanned<crate::model::Chunked>>,
}

/// `rate-limit requests=N period=DURATION`.
#[derive(Debug, Clone, Default)]
pub struct RateLimitSpec {
    /// `requests=` (zero is kept, for validation to refuse with its reason).
    pub requests: Option<Spanned<u64>>,
    /// `period=`.
    pub period: Option<Spanned<crate::model::Duration>>,
}

/// `error-page STATUS… { page "…" }`.
#[derive(Debug, Clone)]
pub struct ErrorPageSpec {
    /// The node's place.
    pub at: At,
    /// Statuses.
    pub statuses: Vec<Spanned<u16>>,
    /// The page.
    pub page: Option<Spanned<crate::model::Body>>,
}

/// A `bypass` entry of `maintenance` or `basic-auth`: a network, or `trusted` (the edge's trusted networks).
#[derive(Debug, Clone)]
pub enum BypassSpec {
    /// A network.
    Network(Network),
    /// `trusted`.
    Trusted,
}

/// `maintenance retry-after=SECONDS { page "…"; bypass NETWORK|"trusted"… }`.
#[derive(Debug, Clone, Default)]
pub struct MaintenanceSpec {
    /// `page`.
    pub page: Option<Spanned<crate::model::Body>>,
    /// `retry-after=`, seconds.
    pub retry_after: Option<Spanned<u32>>,
    /// `bypass` entries.
    pub bypass: Vec<Spanned<BypassSpec>>,
}

/// `request-header|response-header set|add|del NAME [VALUE]`.
#[derive(Debug, Clone)]
pub struct HeaderSpec {
    /// The node's place.
    pub at: At,
    /// `set`, `add` or `del`.
    pub action: Spanned<HeaderVerb>,
    /// The header.
    pub name: Spanned<HeaderName>,
    /// The value (`set`, `add`).
    pub value: Option<Spanned<HeaderValue>>,
}

/// The verb of a header rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderVerb {
    /// `set`.
    Set,
    /// `add`.
    Add,
    /// `del`.
    Del,
}

impl HeaderVerb {
    /// Parse `set`, `add` or `del`.
    ///
    /// # Errors
    ///
    /// [`crate::model::Invalid`] otherwise.
    pub fn parse(s: &str) -> Result<HeaderVerb, crate::model::Invalid> {
        match s {
            "set" => Ok(HeaderVerb::Set),
            "add" => Ok(HeaderVerb::Add),
            "del" => Ok(HeaderVerb::Del),
            _ => Err(crate::model::Invalid {
                expected: "`set`, `add` or `del`",
                reason: format!("is `{s}`"),
                unsafe_chars: false,
            }),
        }
    }
}

/// `security-headers frame-options=… referrer-policy=…`.
#[derive(Debug, Clone, Default)]
pub struct SecuritySpec {
    /// `frame-options=`.
    pub frame_options: Option<Spanned<FrameOptions>>,
    /// `referrer-policy=`.
    pub referrer_policy: Option<Spanned<ReferrerPolicy>>,
}

/// `hsts max-age=SECONDS include-subdomains=#true preload=#true`.
#[derive(Debug, Clone, Default)]
pub struct HstsSpec {
    /// `max-age=`, seconds.
    pub max_age: Option<Spanned<u32>>,
    /// `include-subdomains=`.
    pub include_subdomains: Option<Spanned<bool>>,
    /// `preload=`.
    pub preload: Option<Spanned<bool>>,
}
