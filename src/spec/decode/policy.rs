//! Policy nodes: `policy NAME { … }` and the rule nodes ([`RULE_NODES`]) that may stand in a
//! policy, an `env`, a `route`, an `outside` backend or a `placeholder`.

use super::envs::set_once;
use super::*;
use crate::model::{
    ByteSize, Chunked, Duration, ERROR_PAGE_STATUSES, FrameOptions, HeaderName, HeaderValue,
    MAX_PAGE_BYTES, REDIRECT_STATUSES, RedirectTo, ReferrerPolicy,
};
use crate::spec::policy::{
    BypassSpec, ErrorPageSpec, HeaderSpec, HeaderVerb, HstsSpec, MaintenanceSpec, MaxBodySpec,
    PolicySpec, RateLimitSpec, RedirectSpec, RulesSpec, SecuritySpec,
};

/// What a redirect's `status=` must be.
pub(super) const REDIRECT_EXPECTED: &str = "a redirect status: 301, 302, 303, 307 or 308";

/// The rule nodes, wherever rules may stand.
pub(super) const RULE_NODES: &[&str] = &[
    "policies",
    "allow",
    "deny",
    "request-header",
    "response-header",
    "security-headers",
    "hsts",
    "maintenance",
    "error-page",
    "basic-auth",
    "compression",
    "max-body",
    "rate-limit",
];

/// `known` and the rule nodes: the children of a node that takes rules.
pub(super) fn with_rules(known: &[&'static str]) -> Vec<&'static str> {
    known.iter().chain(RULE_NODES).copied().collect()
}

impl Cx<'_> {
    /// `redirect NAME to=ORIGIN status=N keep-path=BOOL { hosts …; rules… }`.
    pub(super) fn redirect(&mut self, node: &KdlNode) -> Option<RedirectSpec> {
        const EXAMPLE: &str =
            "redirect \"www\" to=\"https://example.org\" { hosts \"www.example.org\" }";
        self.props(node, &["to", "status", "keep-path"]);
        let name = self.named(node, "redirect", EXAMPLE);
        let to = self.prop(node, "to", "\"https://example.org\"", RedirectTo::parse);
        if Self::last_prop(node, "to").is_none() {
            self.missing(node, "redirect", "`to=` (where to)", EXAMPLE);
        }
        let status = Self::last_prop(node, "status").and_then(|e| {
            self.code_entry(
                e,
                "status",
                "301",
                (300, 399),
                &REDIRECT_STATUSES,
                REDIRECT_EXPECTED,
            )
        });
        let mut r = RedirectSpec {
            name: name?,
            hosts: Vec::new(),
            to,
            status,
            keep_path: self.prop_bool(node, "keep-path", "#false"),
            rules: RulesSpec::default(),
        };
        for ch in self.child_nodes(node, &with_rules(&["hosts"]), "in `redirect`") {
            if ch.name().value() == "hosts" {
                r.hosts.extend(self.list_child(
                    ch,
                    "hosts",
                    "hosts \"www.example.org\"",
                    Host::parse,
                ));
            } else {
                self.rule(ch, &mut r.rules);
            }
        }
        Some(r)
    }

    /// `policy NAME { rules… }`.
    pub(super) fn policy(&mut self, node: &KdlNode) -> Option<PolicySpec> {
        const EXAMPLE: &str = "policy \"team-only\" { allow \"10.0.10.0/24\" }";
        self.props(node, &[]);
        let name = self.named(node, "policy", EXAMPLE);
        let mut rules = RulesSpec::default();
        let kids: Vec<&str> = RULE_NODES
            .iter()
            .filter(|n| **n != "policies")
            .copied()
            .collect();
        for ch in self.child_nodes(node, &kids, "in `policy` (a policy cannot use another)") {
            self.rule(ch, &mut rules);
        }
        if node.children().is_none_or(|c| c.nodes().is_empty()) {
            self.missing(node, "policy", "at least one rule", EXAMPLE);
        }
        Some(PolicySpec { name: name?, rules })
    }

    /// One rule node (a name of [`RULE_NODES`]) into `rules`.
    pub(super) fn rule(&mut self, ch: &KdlNode, rules: &mut RulesSpec) {
        match ch.name().value() {
            "policies" => rules.uses.extend(self.list_child(
                ch,
                "policies",
                "policies \"team-only\" \"hsts\"",
                Ident::parse,
            )),
            "allow" => rules.allow.extend(self.list_child(
                ch,
                "allow",
                "allow \"10.0.10.0/24\" \"2001:db8:10::/48\"",
                Network::parse,
            )),
            "deny" => rules.deny.extend(self.list_child(
                ch,
                "deny",
                "deny \"192.0.2.0/24\"",
                Network::parse,
            )),
            "request-header" => rules.request_headers.extend(self.header(ch)),
            "response-header" => rules.response_headers.extend(self.header(ch)),
            "security-headers" => set_once(self, &mut rules.security_headers, ch, |cx| {
                Some(cx.security_headers(ch))
            }),
            "hsts" => set_once(self, &mut rules.hsts, ch, |cx| Some(cx.hsts(ch))),
            "maintenance" => set_once(self, &mut rules.maintenance, ch, |cx| {
                Some(cx.maintenance(ch))
            }),
            "error-page" => rules.error_pages.extend(self.error_page(ch)),
            "basic-auth" => self.basic_auth_once(&mut rules.basic_auth, ch),
            "compression" => set_once(self, &mut rules.compression, ch, |cx| {
                cx.props(ch, &[]);
                cx.no_children(ch);
                let types = cx.args_of(
                    ch,
                    "compression",
                    "compression \"text/html\" \"application/json\"",
                    crate::model::MediaType::parse,
                );
                Some(Spanned {
                    value: types,
                    at: cx.at(ch.name().span()),
                })
            }),
            "max-body" => set_once(self, &mut rules.max_body, ch, |cx| Some(cx.max_body(ch))),
            "rate-limit" => set_once(self, &mut rules.rate_limit, ch, |cx| {
                Some(cx.rate_limit(ch))
            }),
            _ => {}
        }
    }

    /// `max-body SIZE chunked="pass"|"refuse"`.
    fn max_body(&mut self, ch: &KdlNode) -> Spanned<MaxBodySpec> {
        const EXAMPLE: &str = "max-body \"10m\" chunked=\"refuse\"";
        self.props(ch, &["chunked"]);
        self.max_args(ch, 1);
        self.no_children(ch);
        Spanned {
            value: MaxBodySpec {
                max: self.required_arg(
                    ch,
                    "max-body",
                    "a size (`10m`, `512k`)",
                    EXAMPLE,
                    ByteSize::parse,
                ),
                chunked: self.prop(ch, "chunked", "\"refuse\"", Chunked::parse),
            },
            at: self.at(ch.name().span()),
        }
    }

    /// `rate-limit requests=N period=DURATION`.
    fn rate_limit(&mut self, ch: &KdlNode) -> Spanned<RateLimitSpec> {
        const EXAMPLE: &str = "rate-limit requests=10 period=\"1m\"";
        self.props(ch, &["requests", "period"]);
        self.max_args(ch, 0);
        self.no_children(ch);
        let requests = self
            .prop_int(ch, "requests", "10", 0, i128::from(u32::MAX))
            .map(|s| Spanned {
                value: s.value as u64,
                at: s.at,
            });
        for (key, what) in [
            ("requests", "`requests=` (how many per period)"),
            ("period", "`period=` (`10s`, `1m`)"),
        ] {
            if Self::last_prop(ch, key).is_none() {
                self.missing(ch, "rate-limit", what, EXAMPLE);
            }
        }
        Spanned {
            value: RateLimitSpec {
                requests,
                period: self.prop(ch, "period", "\"1m\"", Duration::parse),
            },
            at: self.at(ch.name().span()),
        }
    }

    /// `request-header|response-header set|add|del NAME [VALUE]`.
    fn header(&mut self, ch: &KdlNode) -> Option<HeaderSpec> {
        const EXAMPLE: &str = "response-header set \"X-Robots-Tag\" \"noindex\"";
        self.props(ch, &[]);
        self.no_children(ch);
        self.max_args(ch, 3);
        let action =
            self.required_arg(ch, "header action", "`set`, `add` or `del`", EXAMPLE, |s| {
                HeaderVerb::parse(s)
            })?;
        let name = self.arg(ch, 1, "header name", EXAMPLE, HeaderName::parse);
        let has = Self::positional(ch).count();
        if has < 2 {
            self.missing(ch, ch.name().value(), "a header name", EXAMPLE);
        }
        let value = self.arg(ch, 2, "header value", EXAMPLE, HeaderValue::parse);
        match action.value {
            HeaderVerb::Del if has > 2 => {
                let e = Self::positional(ch).nth(2).expect("counted");
                self.errors.push(SpecError::at(
                    self.src.clone(),
                    e.span(),
                    Problem::TooManyArguments {
                        node: format!("{} del", ch.name().value()),
                        max: 2,
                    },
                ));
            }
            HeaderVerb::Set | HeaderVerb::Add if has == 2 => {
                self.missing(
                    ch,
                    ch.name().value(),
                    "a value after the header name",
                    EXAMPLE,
                );
            }
            _ => {}
        }
        Some(HeaderSpec {
            at: self.at(ch.span()),
            action,
            name: name?,
            value,
        })
    }

    /// `security-headers frame-options=… referrer-policy=…`.
    fn security_headers(&mut self, ch: &KdlNode) -> Spanned<SecuritySpec> {
        self.props(ch, &["frame-options", "referrer-policy"]);
        self.max_args(ch, 0);
        self.no_children(ch);
        Spanned {
            value: SecuritySpec {
                frame_options: self.prop(ch, "frame-options", "\"DENY\"", FrameOptions::parse),
                referrer_policy: self.prop(
                    ch,
                    "referrer-policy",
                    "\"strict-origin-when-cross-origin\"",
                    ReferrerPolicy::parse,
                ),
            },
            at: self.at(ch.name().span()),
        }
    }

    /// `maintenance retry-after=SECONDS { page "…"; bypass NETWORK|"trusted"… }`.
    fn maintenance(&mut self, ch: &KdlNode) -> Spanned<MaintenanceSpec> {
        self.props(ch, &["retry-after"]);
        self.max_args(ch, 0);
        let mut m = MaintenanceSpec {
            retry_after: self
                .prop_int(ch, "retry-after", "600", 1, 86_400)
                .map(|s| Spanned {
                    value: s.value as u32,
                    at: s.at,
                }),
            ..Default::default()
        };
        for k in self.child_nodes(ch, &["page", "bypass"], "in `maintenance`") {
            if k.name().value() == "page" {
                set_once(self, &mut m.page, k, |cx| {
                    cx.single_child(k, "page", "page \"<h1>Back soon</h1>\"", page)
                });
            } else {
                m.bypass.extend(self.list_child(
                    k,
                    "bypass",
                    "bypass \"10.0.10.0/24\" \"trusted\"",
                    bypass,
                ));
            }
        }
        Spanned {
            value: m,
            at: self.at(ch.name().span()),
        }
    }

    /// `error-page STATUS… { page "…" }`.
    fn error_page(&mut self, ch: &KdlNode) -> Option<ErrorPageSpec> {
        const EXAMPLE: &str = "error-page 502 503 504 { page \"<h1>Back soon</h1>\" }";
        self.props(ch, &[]);
        let mut statuses = Vec::new();
        let entries: Vec<&KdlEntry> = Self::positional(ch).collect();
        for e in entries {
            statuses.extend(self.code_entry(
                e,
                "error-page",
                "503",
                (100, 599),
                &ERROR_PAGE_STATUSES,
                "a status haproxy answers for a backend: 500, 502, 503 or 504",
            ));
        }
        if Self::positional(ch).next().is_none() {
            self.missing(ch, "error-page", "a status (502, 503, 504)", EXAMPLE);
        }
        let mut page_node = None;
        for k in self.child_nodes(ch, &["page"], "in `error-page`") {
            set_once(self, &mut page_node, k, |cx| {
                cx.single_child(k, "page", "page \"<h1>Back soon</h1>\"", page)
            });
        }
        if ch.children().is_none() {
            self.missing(ch, "error-page", "a `page` child", EXAMPLE);
        }
        Some(ErrorPageSpec {
            at: self.at(ch.name().span()),
            statuses,
            page: page_node,
        })
    }

    /// `hsts max-age=SECONDS include-subdomains=#true preload=#true`.
    fn hsts(&mut self, ch: &KdlNode) -> Spanned<HstsSpec> {
        const EXAMPLE: &str = "hsts max-age=31536000 include-subdomains=#true";
        self.props(ch, &["max-age", "include-subdomains", "preload"]);
        self.max_args(ch, 0);
        self.no_children(ch);
        let max_age = self
            .prop_int(ch, "max-age", "31536000", 0, i128::from(u32::MAX))
            .map(|s| Spanned {
                value: s.value as u32,
                at: s.at,
            });
        if Self::last_prop(ch, "max-age").is_none() {
            self.missing(
                ch,
                "hsts",
                "`max-age=` (seconds; a year is 31536000)",
                EXAMPLE,
            );
        }
        Spanned {
            value: HstsSpec {
                max_age,
                include_subdomains: self.prop_bool(ch, "include-subdomains", "#true"),
                preload: self.prop_bool(ch, "preload", "#true"),
            },
            at: self.at(ch.name().span()),
        }
    }
}

/// A maintenance page: a [`Body`] of at most [`MAX_PAGE_BYTES`].
fn page(s: &str) -> Result<Body, Invalid> {
    if s.len() > MAX_PAGE_BYTES {
        return Err(Invalid {
            expected: "an HTML page of at most 4 KiB",
            reason: format!("is {} bytes", s.len()),
            unsafe_chars: false,
        });
    }
    Body::parse(s)
}

/// A `bypass` entry: a network, or `trusted`.
pub(super) fn bypass(s: &str) -> Result<BypassSpec, Invalid> {
    if s == "trusted" {
        return Ok(BypassSpec::Trusted);
    }
    Network::parse(s).map(BypassSpec::Network).map_err(|e| Invalid {
        expected: "an IP network (`10.0.10.0/24`), one address, or `trusted` (the edge's trusted networks)",
        ..e
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_maintenance_page_fits_in_haproxys_buffer() {
        assert!(page(&"x".repeat(MAX_PAGE_BYTES)).is_ok());
        let e = page(&"x".repeat(MAX_PAGE_BYTES + 1)).unwrap_err();
        assert!(e.reason.contains("4097 bytes"), "{e:?}");
        assert!(page("<h1>a\u{7}</h1>").is_err());
    }

    #[test]
    fn bypass_is_a_network_or_trusted() {
        assert!(matches!(bypass("trusted"), Ok(BypassSpec::Trusted)));
        assert!(matches!(bypass("10.0.0.0/8"), Ok(BypassSpec::Network(_))));
        assert!(bypass("office").is_err());
        assert!(bypass("10.0.0.1/8").is_err());
    }
}
