//! Envs and what they hold — components, instances, routes — and the nodes beside them:
//! `outside` backends and `placeholder` sites.

use super::policy::{RULE_NODES, with_rules};
use super::*;
use crate::spec::RulesSpec;

impl Cx<'_> {
    pub(super) fn env(&mut self, node: &KdlNode) -> Option<EnvSpec> {
        self.env_or_base(node, false)
    }

    /// `base NAME { … }`: what envs that name it (`env "prod" base="NAME"`) have in common —
    /// any env child but `hosts`, `active-color` and `preview`, which are each env's own.
    pub(super) fn base(&mut self, node: &KdlNode) -> Option<EnvSpec> {
        self.env_or_base(node, true)
    }

    fn env_or_base(&mut self, node: &KdlNode, is_base: bool) -> Option<EnvSpec> {
        const KIDS: &[&str] = &[
            "hosts",
            "active-color",
            "container-pattern",
            "cookie",
            "component",
            "route",
            "default",
            "probe",
            "preview",
        ];
        const OWN: &[&str] = &["hosts", "active-color", "preview"];
        let kind = if is_base { "base" } else { "env" };
        self.props(node, if is_base { &[] } else { &["base"] });
        let example = if is_base {
            "base \"app\" { component \"web\" port=3000 }"
        } else {
            "env \"staging\" { … }"
        };
        let name = self.named(node, kind, example);
        let base = if is_base {
            None
        } else {
            self.prop(node, "base", "\"app\"", Ident::parse)
        };
        let mut env = EnvSpec {
            base,
            name: name.clone().unwrap_or(Spanned {
                value: Ident::parse("invalid").ok()?,
                at: self.at(node.span()),
            }),
            hosts: Vec::new(),
            active_color: None,
            container_pattern: None,
            cookie: None,
            components: Vec::new(),
            routes: Vec::new(),
            default: None,
            probes: Vec::new(),
            preview: None,
            plain_http: Vec::new(),
            host_rules: Vec::new(),
            rules: Default::default(),
        };
        if node.children().is_none() && !is_base {
            self.missing(
                node,
                "env",
                "a block with hosts and components",
                "env \"staging\" { hosts \"staging.example.org\"; … }",
            );
        }
        let context = if is_base { "in `base`" } else { "in `env`" };
        for ch in self.child_nodes(node, &with_rules(KIDS), context) {
            if is_base && OWN.contains(&ch.name().value()) {
                self.errors.push(SpecError::at(
                    self.src.clone(),
                    ch.name().span(),
                    Problem::UnknownNode {
                        name: ch.name().value().to_string(),
                        context: context.into(),
                        help: format!(
                            "`{}` is each env's own: put it in the envs that use the base \
                             (`hosts`, `active-color` and `preview` never stand in a base)",
                            ch.name().value()
                        ),
                    },
                ));
                continue;
            }
            match ch.name().value() {
                "hosts" => {
                    // `plain-http=#true`: these hosts are served over plain HTTP too.
                    let plain = self.prop_bool(ch, "plain-http", "#true");
                    let hosts = self.hosts_with_rules(ch);
                    if plain.is_some_and(|p| p.value) {
                        env.plain_http.extend(hosts.0.iter().cloned());
                    }
                    if let Some(rules) = hosts.1 {
                        env.host_rules.push((hosts.0.clone(), rules));
                    }
                    env.hosts.extend(hosts.0);
                }
                "active-color" => set_once(self, &mut env.active_color, ch, |cx| {
                    cx.single_child(ch, "active-color", "active-color \"blue\"", Color::parse)
                }),
                "container-pattern" => set_once(self, &mut env.container_pattern, ch, |cx| {
                    cx.single_child(
                        ch,
                        "container-pattern",
                        "container-pattern \"app-{component}-{color}.lxd\"",
                        NamePattern::parse,
                    )
                }),
                "cookie" => set_once(self, &mut env.cookie, ch, |cx| {
                    cx.single_child(
                        ch,
                        "cookie",
                        "cookie \"SERVERID_staging\"",
                        CookieName::parse,
                    )
                }),
                "default" => set_once(self, &mut env.default, ch, |cx| {
                    cx.single_child(ch, "default", "default \"web\"", Ident::parse)
                }),
                "component" => {
                    if let Some(c) = self.component(ch) {
                        env.components.push(c);
                    }
                }
                "route" => {
                    if let Some(r) = self.route(ch) {
                        env.routes.push(r);
                    }
                }
                "probe" => env.probes.extend(self.probe(ch)),
                "preview" => set_once(self, &mut env.preview, ch, |cx| {
                    cx.single_child(
                        ch,
                        "preview",
                        "preview \"preview.staging.example.org\"",
                        Host::parse,
                    )
                }),
                rule if RULE_NODES.contains(&rule) => self.rule(ch, &mut env.rules),
                _ => {}
            }
        }
        name.map(|_| env)
    }

    /// An env's `hosts HOST… plain-http=BOOL { rules… }`: the hosts, and the rules for the
    /// requests to them when the node has a block.
    fn hosts_with_rules(&mut self, ch: &KdlNode) -> (Vec<Spanned<Host>>, Option<RulesSpec>) {
        let hosts = self.host_args(ch);
        let rules = ch.children().map(|_| {
            let mut rules = RulesSpec::default();
            for k in self.child_nodes(ch, RULE_NODES, "in `hosts` (rules for these hosts)") {
                self.rule(k, &mut rules);
            }
            rules
        });
        (hosts, rules)
    }

    /// A site's `hosts HOST… plain-http=BOOL`: the hosts, and whether they are served over
    /// plain HTTP too.
    fn site_hosts(&mut self, ch: &KdlNode) -> (Vec<Spanned<Host>>, bool) {
        let plain = self.prop_bool(ch, "plain-http", "#true");
        (self.list_hosts(ch), plain.is_some_and(|p| p.value))
    }

    /// An env's or a site's `hosts HOST… plain-http=BOOL`.
    fn list_hosts(&mut self, ch: &KdlNode) -> Vec<Spanned<Host>> {
        self.no_children(ch);
        self.host_args(ch)
    }

    /// The hosts of a `hosts` node (its `plain-http=` allowed).
    fn host_args(&mut self, ch: &KdlNode) -> Vec<Spanned<Host>> {
        self.props(ch, &["plain-http"]);
        let example = "hosts \"staging.example.org\"";
        let v = self.args_of(ch, "hosts", example, Host::parse);
        if Self::positional(ch).next().is_none() {
            self.missing(ch, "hosts", "at least one value", example);
        }
        v
    }

    pub(super) fn component(&mut self, node: &KdlNode) -> Option<ComponentSpec> {
        self.props(
            node,
            &[
                "port",
                "health",
                "health-status",
                "health-body",
                "health-timeout",
                "balance",
                "sticky",
                "pool",
                "instances",
                "timeout-server",
                "timeout-tunnel",
            ],
        );
        let name = self.named(node, "component", "component \"web\" port=3000");
        let instances = self
            .prop_int(node, "instances", "2", 1, i128::from(MAX_INSTANCES))
            .map(|s| Spanned {
                value: s.value as u32,
                at: s.at,
            });
        let mut instance_list = Vec::new();
        for ch in self.child_nodes(node, &["instance"], "in `component`") {
            if let Some(i) = self.instance(ch) {
                instance_list.push(i);
            }
        }
        let explicit = node
            .children()
            .is_some_and(|d| d.nodes().iter().any(|n| n.name().value() == "instance"));
        let c = ComponentSpec {
            timeout_server: self.prop(node, "timeout-server", "\"2m\"", Duration::parse),
            timeout_tunnel: self.prop(node, "timeout-tunnel", "\"1h\"", Duration::parse),
            name: name?,
            port: self.prop_port(node, "port", "8080"),
            health: self.prop(node, "health", "\"/health\"", HealthPath::parse),
            expect: self.expect(node),
            balance: self.prop(node, "balance", "\"roundrobin\"", Balance::parse),
            sticky: self.prop_bool(node, "sticky", "#true"),
            pool: self.prop(node, "pool", "\"backend_api\"", Ident::parse),
            instances,
            instance_list,
        };
        // Explicit instances may carry their ports; pattern instances need the component's.
        if c.port.is_none() && Self::last_prop(node, "port").is_none() && !explicit {
            self.missing(node, "component", "`port=`", "component \"web\" port=3000");
        }
        Some(c)
    }

    pub(super) fn instance(&mut self, node: &KdlNode) -> Option<InstanceSpec> {
        const EXAMPLE: &str =
            "instance \"api-1\" color=\"blue\" address=\"backend-api-1.lxd:8080\" weight=10";
        self.props(node, &["color", "address", "weight"]);
        self.no_children(node);
        let name = self.named(node, "instance", EXAMPLE);
        let color = self.prop(node, "color", "\"blue\"", Color::parse);
        if Self::last_prop(node, "color").is_none() {
            self.missing(node, "instance", "`color=`", EXAMPLE);
        }
        let address = self.prop(
            node,
            "address",
            "\"backend-api-1.lxd:8080\"",
            instance_address,
        );
        if Self::last_prop(node, "address").is_none() {
            self.missing(node, "instance", "`address=`", EXAMPLE);
        }
        let weight = self
            .prop_int(node, "weight", "10", 1, i128::from(MAX_WEIGHT))
            .map(|s| Spanned {
                value: s.value as u16,
                at: s.at,
            });
        Some(InstanceSpec {
            name: name?,
            color,
            address,
            weight,
        })
    }

    pub(super) fn route(&mut self, node: &KdlNode) -> Option<RouteSpec> {
        self.props(node, &["to", "outside", "redirect", "status", "rewrite"]);
        let name = self.named(
            node,
            "route",
            "route \"api\" to=\"backend\" { prefix \"/api/\" }",
        );
        let to = self.prop(node, "to", "\"backend\"", Ident::parse);
        let outside = self.prop(node, "outside", "\"wiki\"", Ident::parse);
        let redirect = self.prop(node, "redirect", "\"/blog/\"", PathPrefix::parse);
        let rewrite = self.prop(node, "rewrite", "\"/v1/\"", PathPrefix::parse);
        let status = Self::last_prop(node, "status").and_then(|e| {
            self.code_entry(
                e,
                "status",
                "308",
                (300, 399),
                &crate::model::REDIRECT_STATUSES,
                super::policy::REDIRECT_EXPECTED,
            )
        });
        if ["to", "outside", "redirect"]
            .iter()
            .all(|k| Self::last_prop(node, k).is_none())
        {
            self.missing(
                node,
                "route",
                "`to=` (the component), `outside=` or `redirect=`",
                "route \"api\" to=\"backend\" { prefix \"/api/\" }",
            );
        }
        let mut r = RouteSpec {
            name: name?,
            to,
            outside,
            redirect,
            status,
            rewrite,
            prefixes: Vec::new(),
            suffixes: Vec::new(),
            rules: Default::default(),
        };
        for ch in self.child_nodes(node, &with_rules(&["prefix", "suffix"]), "in `route`") {
            if RULE_NODES.contains(&ch.name().value()) {
                self.rule(ch, &mut r.rules);
            } else if ch.name().value() == "prefix" {
                r.prefixes.extend(self.list_child(
                    ch,
                    "prefix",
                    "prefix \"/api/\"",
                    PathPrefix::parse,
                ));
            } else {
                r.suffixes.extend(self.list_child(
                    ch,
                    "suffix",
                    "suffix \".m3u8\"",
                    PathSuffix::parse,
                ));
            }
        }
        Some(r)
    }

    pub(super) fn outside(&mut self, node: &KdlNode) -> Option<OutsideSpec> {
        self.props(
            node,
            &[
                "address",
                "health",
                "health-status",
                "health-body",
                "health-timeout",
            ],
        );
        let name = self.named(
            node,
            "outside",
            "outside \"forgejo\" address=\"10.0.0.5:3000\" { hosts \"git.example.org\" }",
        );
        let address = self.prop(node, "address", "\"10.0.20.105:3000\"", Address::parse);
        if Self::last_prop(node, "address").is_none() {
            self.missing(
                node,
                "outside",
                "`address=`",
                "outside \"forgejo\" address=\"10.0.0.5:3000\"",
            );
        }
        let mut o = OutsideSpec {
            plain_http: Vec::new(),
            name: name?,
            hosts: Vec::new(),
            address,
            health: self.prop(node, "health", "\"/healthz\"", HealthPath::parse),
            expect: self.expect(node),
            tls: None,
            rules: Default::default(),
        };
        for ch in self.child_nodes(node, &with_rules(&["hosts", "tls"]), "in `outside`") {
            if RULE_NODES.contains(&ch.name().value()) {
                self.rule(ch, &mut o.rules);
                continue;
            }
            if ch.name().value() == "tls" {
                set_once(self, &mut o.tls, ch, |cx| Some(cx.backend_tls(ch)));
                continue;
            }
            let (hosts, plain) = self.site_hosts(ch);
            if plain {
                o.plain_http.extend(hosts.iter().cloned());
            }
            o.hosts.extend(hosts);
        }
        Some(o)
    }

    /// `tls verify="required"|"none" ca-file=PATH sni=HOST client-certificate=PATH`.
    fn backend_tls(&mut self, ch: &KdlNode) -> Spanned<crate::spec::BackendTlsSpec> {
        self.props(ch, &["verify", "ca-file", "sni", "client-certificate"]);
        self.max_args(ch, 0);
        self.no_children(ch);
        Spanned {
            value: crate::spec::BackendTlsSpec {
                verify: self.prop(ch, "verify", "\"required\"", crate::model::parse_verify),
                ca_file: self.prop(
                    ch,
                    "ca-file",
                    "\"/etc/edgeplan/ca/forgejo.pem\"",
                    AbsPath::parse,
                ),
                sni: self.prop(ch, "sni", "\"forgejo.internal\"", Host::parse),
                client_certificate: self.prop(
                    ch,
                    "client-certificate",
                    "\"/etc/haproxy/client/edge.pem\"",
                    AbsPath::parse,
                ),
            },
            at: self.at(ch.name().span()),
        }
    }

    /// `probe "/api/health" host=… status=… body=… timeout=… tries=…`.
    pub(super) fn probe(&mut self, node: &KdlNode) -> Option<ProbeSpec> {
        const EXAMPLE: &str = "probe \"/api/health\" status=\"200\"";
        self.props(node, &["host", "status", "body", "timeout", "tries"]);
        self.max_args(node, 1);
        self.no_children(node);
        let path = self.required_arg(node, "probe", "a URL path", EXAMPLE, HealthPath::parse)?;
        Some(ProbeSpec {
            at: self.at(node.name().span()),
            path,
            host: self.prop(node, "host", "\"veza.fr\"", Host::parse),
            expect: ExpectSpec {
                status: self.prop(node, "status", "\"200-399\"", StatusSet::parse),
                body: self.prop(node, "body", "\"ok\"", CheckString::parse),
                timeout: self.prop(node, "timeout", "\"2s\"", Duration::parse),
            },
            tries: self.prop_int(node, "tries", "3", 1, 10),
        })
    }

    /// `health-status=`, `health-body=`, `health-timeout=` of `node`.
    pub(super) fn expect(&mut self, node: &KdlNode) -> ExpectSpec {
        ExpectSpec {
            status: self.prop(node, "health-status", "\"200-399\"", StatusSet::parse),
            body: self.prop(node, "health-body", "\"ok\"", CheckString::parse),
            timeout: self.prop(node, "health-timeout", "\"2s\"", Duration::parse),
        }
    }

    pub(super) fn placeholder(&mut self, node: &KdlNode) -> Option<PlaceholderSpec> {
        self.props(node, &["status", "html"]);
        let name = self.named(
            node,
            "placeholder",
            "placeholder \"soon\" status=503 { hosts \"example.org\" }",
        );
        let status = self
            .prop_int(node, "status", "503", 200, 599)
            .and_then(|s| {
                if let Some(reason) = placeholder_status_problem(s.value) {
                    let inv = Invalid {
                        expected: "a status a fixed page can answer alone: 200..=599, not 204, \
                                   304, a redirection (3xx), 401, 405, 407 or 426",
                        reason,
                        unsafe_chars: false,
                    };
                    self.invalid(s.at.span, "status", inv);
                    return None;
                }
                Some(Spanned {
                    value: s.value as u16,
                    at: s.at,
                })
            });
        let mut p = PlaceholderSpec {
            plain_http: Vec::new(),
            name: name?,
            hosts: Vec::new(),
            status,
            body: None,
            html: self.prop_bool(node, "html", "#true"),
            rules: Default::default(),
        };
        for ch in self.child_nodes(node, &with_rules(&["hosts", "body"]), "in `placeholder`") {
            if RULE_NODES.contains(&ch.name().value()) {
                self.rule(ch, &mut p.rules);
            } else if ch.name().value() == "hosts" {
                let (hosts, plain) = self.site_hosts(ch);
                if plain {
                    p.plain_http.extend(hosts.iter().cloned());
                }
                p.hosts.extend(hosts);
            } else {
                set_once(self, &mut p.body, ch, |cx| {
                    cx.single_child(ch, "body", "body \"Coming soon\\n\"", Body::parse)
                });
            }
        }
        Some(p)
    }
}

/// Why a placeholder cannot answer `status` (`None`: it can). A placeholder sends a fixed body
/// and no other header, so a status that has no body, or that RFC 9110 requires a header with,
/// would be a malformed answer: 204 and 304 have no body (§15.3.5, §15.4.5); a redirection
/// needs `Location` (§15.4; 300 and 305/306 are obsolete or unused with a fixed page); 401 needs
/// `WWW-Authenticate` (§15.5.2), 405 `Allow` (§15.5.6), 407 `Proxy-Authenticate` (§15.5.8) and
/// 426 `Upgrade` (§15.5.22).
fn placeholder_status_problem(status: i128) -> Option<String> {
    let header = match status {
        204 | 304 => return Some(format!("a {status} response has no body")),
        300..=399 => "Location",
        401 => "WWW-Authenticate",
        405 => "Allow",
        407 => "Proxy-Authenticate",
        426 => "Upgrade",
        _ => return None,
    };
    Some(format!(
        "a {status} response needs a `{header}` header, which a placeholder cannot send"
    ))
}

/// An instance's address: `host:port`, or a bare host (or `[v6]`) that takes the component's
/// port.
fn instance_address(s: &str) -> Result<InstanceAddress, Invalid> {
    let bare = !s.contains(':') || (s.starts_with('[') && s.ends_with(']'));
    if !bare {
        let a = Address::parse(s)?;
        return Ok(InstanceAddress {
            host: a.host,
            port: Some(a.port),
        });
    }
    // Checked as an address with a stand-in port, so a host is held to the same rules.
    let a = Address::parse(&format!("{s}:1")).map_err(|mut inv| {
        inv.expected = "an address `host:port`, or a host that takes the component's `port`";
        inv
    })?;
    Ok(InstanceAddress {
        host: a.host,
        port: None,
    })
}

/// Set an optional child once; a second occurrence is a duplicate.
pub(super) fn set_once<T>(
    cx: &mut Cx<'_>,
    slot: &mut Option<Spanned<T>>,
    ch: &KdlNode,
    decode: impl FnOnce(&mut Cx<'_>) -> Option<Spanned<T>>,
) {
    if let Some(first) = slot {
        cx.errors.push(SpecError::at(
            cx.src.clone(),
            ch.span(),
            Problem::DuplicateNode {
                node: ch.name().value().to_string(),
                first: vec![Note {
                    message: "first given here".into(),
                    src: cx.src.clone(),
                    span: first.at.span,
                }],
            },
        ));
        return;
    }
    if let Some(v) = decode(cx) {
        *slot = Some(v);
    }
}
