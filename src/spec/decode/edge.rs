//! The top level of a spec file and the edge-wide nodes: `edge`, `include`, `listen`, `tls`,
//! `acme`, `stats`, `admin-socket`, `timeouts`, `health`, `sticky-cookie`, `trusted`.

use super::*;

impl Cx<'_> {
    /// One top-level node of a file, into `spec`; an `include` adds its paths to `includes`.
    pub(super) fn top(
        &mut self,
        node: &KdlNode,
        spec: &mut Spec,
        includes: &mut Vec<Spanned<String>>,
    ) {
        let files = &spec.files;
        match node.name().value() {
            "edge" => {
                if let Some(v) = self.edge_name(node) {
                    self.singleton(&mut spec.edge, v, "edge", files);
                }
            }
            "include" => includes.extend(self.include(node)),
            "listen" => {
                let v = self.listen(node);
                self.singleton(&mut spec.listen, v, "listen", files);
            }
            "tls" => {
                let v = self.tls(node);
                self.singleton(&mut spec.tls, v, "tls", files);
            }
            "acme" => {
                let v = self.acme(node);
                self.singleton(&mut spec.acme, v, "acme", files);
            }
            "stats" => {
                let v = self.stats(node);
                self.singleton(&mut spec.stats, v, "stats", files);
            }
            "admin-socket" => {
                let v = self.admin_socket(node);
                self.singleton(&mut spec.admin, v, "admin-socket", files);
            }
            "timeouts" => {
                let v = self.timeouts(node);
                self.singleton(&mut spec.timeouts, v, "timeouts", files);
            }
            "health" => {
                let v = self.health(node);
                self.singleton(&mut spec.health, v, "health", files);
            }
            "sticky-cookie" => {
                if let Some(v) = self.sticky_cookie(node) {
                    self.singleton(&mut spec.sticky_cookie, v, "sticky-cookie", files);
                }
            }
            "request-id" => {
                self.props(node, &["header"]);
                self.max_args(node, 0);
                self.no_children(node);
                let v = Spanned {
                    value: self.prop(
                        node,
                        "header",
                        "\"X-Request-ID\"",
                        crate::model::HeaderName::parse,
                    ),
                    at: self.at(node.name().span()),
                };
                self.singleton(&mut spec.request_id, v, "request-id", files);
            }
            "trusted" => {
                let v = self.trusted(node);
                self.singleton(&mut spec.trusted, v, "trusted", files);
            }
            "peers" => {
                let v = self.peers(node);
                self.singleton(&mut spec.peers, v, "peers", files);
            }
            "metrics" => {
                let v = self.metrics(node);
                self.singleton(&mut spec.metrics, v, "metrics", files);
            }
            "access-log" => {
                let v = self.access_log(node);
                self.singleton(&mut spec.access_log, v, "access-log", files);
            }
            "env" => spec.envs.extend(self.env(node)),
            "base" => spec.bases.extend(self.base(node)),
            "outside" => spec.outside.extend(self.outside(node)),
            "placeholder" => spec.placeholders.extend(self.placeholder(node)),
            "target" => spec.targets.extend(self.target(node)),
            "policy" => spec.policies.extend(self.policy(node)),
            "redirect" => spec.redirects.extend(self.redirect(node)),
            "tcp" => spec.tcp.extend(self.tcp(node)),
            "policies" => self.rule(node, &mut spec.rules),
            "userlist" => spec.userlists.extend(self.userlist(node)),
            other => self.unknown_node(node, other, "at top level", TOP),
        }
    }

    fn edge_name(&mut self, node: &KdlNode) -> Option<Spanned<Ident>> {
        self.props(node, &[]);
        self.max_args(node, 1);
        self.no_children(node);
        self.required_arg(
            node,
            "edge",
            "a name",
            "edge \"veza-haproxy\"",
            Ident::parse,
        )
    }

    fn include(&mut self, node: &KdlNode) -> Vec<Spanned<String>> {
        self.props(node, &[]);
        self.no_children(node);
        let paths = self.args_of(node, "include", "\"more/file.kdl\"", |s| Ok(s.to_string()));
        if paths.is_empty() {
            self.missing(
                node,
                "include",
                "a file path",
                "include \"extra/outside.kdl\"",
            );
        }
        paths
    }

    fn stats(&mut self, node: &KdlNode) -> Spanned<StatsSpec> {
        self.props(node, &["bind", "uri"]);
        self.max_args(node, 0);
        self.no_children(node);
        let v = StatsSpec {
            bind: self.prop(node, "bind", "\"127.0.0.1:9100\"", Bind::parse),
            uri: self.prop(node, "uri", "\"/stats\"", PathPrefix::parse),
        };
        Spanned {
            value: v,
            at: self.at(node.name().span()),
        }
    }

    fn admin_socket(&mut self, node: &KdlNode) -> Spanned<AdminSpec> {
        self.props(node, &["mode", "address"]);
        self.max_args(node, 1);
        self.no_children(node);
        let v = AdminSpec {
            path: self.arg(
                node,
                0,
                "admin-socket",
                "\"/run/haproxy/admin.sock\"",
                AbsPath::parse,
            ),
            address: self.prop(node, "address", "\"127.0.0.1:9999\"", Address::parse),
            mode: self.prop(node, "mode", "\"600\"", SocketMode::parse),
        };
        Spanned {
            value: v,
            at: self.at(node.name().span()),
        }
    }

    fn sticky_cookie(&mut self, node: &KdlNode) -> Option<Spanned<CookieName>> {
        self.props(node, &[]);
        self.max_args(node, 1);
        self.no_children(node);
        self.required_arg(
            node,
            "sticky-cookie",
            "a cookie name",
            "sticky-cookie \"SERVERID\"",
            CookieName::parse,
        )
    }

    fn trusted(&mut self, node: &KdlNode) -> Spanned<Vec<Spanned<Network>>> {
        let nets = self.list_child(
            node,
            "trusted",
            "trusted \"10.0.0.0/8\" \"2001:db8::/32\"",
            Network::parse,
        );
        Spanned {
            value: nets,
            at: self.at(node.name().span()),
        }
    }

    /// `listen http=ADDR https=ADDR`, or with several addresses per listener
    /// `listen { http ADDR…; https ADDR… }` (`*:443` and `[::]:443`).
    pub(super) fn listen(&mut self, node: &KdlNode) -> Spanned<ListenSpec> {
        self.props(node, &["http", "https", "accept-proxy"]);
        self.max_args(node, 0);
        let mut v = ListenSpec {
            http: self.prop(node, "http", "\"*:80\"", Bind::parse),
            https: self.prop(node, "https", "\"*:443\"", Bind::parse),
            accept_proxy: self.prop_bool(node, "accept-proxy", "#true"),
            ..Default::default()
        };
        for ch in self.child_nodes(node, &["http", "https"], "in `listen`") {
            let name = ch.name().value();
            let example = if name == "http" {
                "http \"*:80\" \"[::]:80\""
            } else {
                "https \"*:443\" \"[::]:443\""
            };
            self.props(ch, &[]);
            self.no_children(ch);
            let mut binds = self.args_of(ch, name, example, Bind::parse).into_iter();
            if Self::positional(ch).next().is_none() {
                self.missing(ch, name, "an address (`*:80`)", example);
            }
            let (first, more) = if name == "http" {
                (&mut v.http, &mut v.http_more)
            } else {
                (&mut v.https, &mut v.https_more)
            };
            if first.is_some() {
                self.errors.push(SpecError::at(
                    self.src.clone(),
                    ch.name().span(),
                    Problem::DuplicateNode {
                        node: format!("listen {name}"),
                        first: Vec::new(),
                    },
                ));
                continue;
            }
            *first = binds.next();
            more.extend(binds);
        }
        Spanned {
            value: v,
            at: self.at(node.name().span()),
        }
    }

    pub(super) fn tls(&mut self, node: &KdlNode) -> Spanned<TlsSpec> {
        self.props(node, &["cert-dir", "min-version"]);
        self.max_args(node, 0);
        self.no_children(node);
        let v = TlsSpec {
            cert_dir: self.prop(node, "cert-dir", "\"/etc/haproxy/certs\"", AbsPath::parse),
            min_version: self.prop(node, "min-version", "\"TLSv1.2\"", |s| match s {
                "TLSv1.2" | "TLSv1.3" => Ok(s.to_string()),
                _ => Err(Invalid {
                    expected: "`TLSv1.2` or `TLSv1.3`",
                    reason: format!("`{}` is not supported", s.escape_debug()),
                    unsafe_chars: false,
                }),
            }),
        };
        Spanned {
            value: v,
            at: self.at(node.name().span()),
        }
    }

    pub(super) fn acme(&mut self, node: &KdlNode) -> Spanned<AcmeSpec> {
        self.props(
            node,
            &[
                "email",
                "directory",
                "challenge-port",
                "challenge-address",
                "key-type",
            ],
        );
        self.max_args(node, 0);
        let mut v = AcmeSpec {
            email: self.prop(node, "email", "\"ops@example.org\"", Email::parse),
            directory: self.prop(node, "directory", "\"production\"", Directory::parse),
            challenge_port: self.prop_port(node, "challenge-port", "8888"),
            challenge_address: self.prop(
                node,
                "challenge-address",
                "\"127.0.0.1:8888\"",
                Address::parse,
            ),
            key_type: self.prop(node, "key-type", "\"ecdsa\"", KeyType::parse),
            certificates: Vec::new(),
        };
        for ch in self.child_nodes(node, &["certificate"], "in `acme`") {
            self.props(ch, &["hosts-of"]);
            self.max_args(ch, 1);
            let Some(name) = self.required_arg(
                ch,
                "certificate",
                "a name",
                "certificate \"example.org\" { domains \"example.org\" }",
                CertName::parse,
            ) else {
                continue;
            };
            let hosts_of = self.prop(ch, "hosts-of", "\"staging\"", Ident::parse);
            let mut domains = Vec::new();
            for d in self.child_nodes(ch, &["domains"], "in `certificate`") {
                domains.extend(self.list_child(
                    d,
                    "domains",
                    "domains \"example.org\" \"www.example.org\"",
                    Host::parse,
                ));
            }
            v.certificates.push(CertSpec {
                name,
                domains,
                hosts_of,
            });
        }
        Spanned {
            value: v,
            at: self.at(node.name().span()),
        }
    }

    pub(super) fn timeouts(&mut self, node: &KdlNode) -> Spanned<TimeoutsSpec> {
        const KEYS: &[&str] = &[
            "connect",
            "client",
            "server",
            "tunnel",
            "http-request",
            "http-keep-alive",
            "queue",
        ];
        self.props(node, KEYS);
        self.max_args(node, 0);
        self.no_children(node);
        let mut d = |k: &str| self.prop(node, k, "\"30s\"", Duration::parse);
        let v = TimeoutsSpec {
            connect: d("connect"),
            client: d("client"),
            server: d("server"),
            tunnel: d("tunnel"),
            http_request: d("http-request"),
            http_keep_alive: d("http-keep-alive"),
            queue: d("queue"),
        };
        Spanned {
            value: v,
            at: self.at(node.name().span()),
        }
    }

    pub(super) fn health(&mut self, node: &KdlNode) -> Spanned<HealthSpec> {
        self.props(
            node,
            &["interval", "fall", "rise", "slowstart", "shutdown-sessions"],
        );
        self.max_args(node, 0);
        self.no_children(node);
        let v = HealthSpec {
            interval: self.prop(node, "interval", "\"5s\"", Duration::parse),
            fall: self.prop_int(node, "fall", "3", 1, 1000).map(|s| Spanned {
                value: s.value as u32,
                at: s.at,
            }),
            rise: self.prop_int(node, "rise", "2", 1, 1000).map(|s| Spanned {
                value: s.value as u32,
                at: s.at,
            }),
            slowstart: self.prop(node, "slowstart", "\"30s\"", Duration::parse),
            shutdown_sessions: self.prop_bool(node, "shutdown-sessions", "#true"),
        };
        Spanned {
            value: v,
            at: self.at(node.name().span()),
        }
    }
}
