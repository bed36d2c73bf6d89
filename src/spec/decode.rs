//! The hand-written decoder over the `kdl` document API (the derive crates are KDL v1 only).
//!
//! Every node kind lists the properties and children it takes; anything else is an error with a
//! did-you-mean. Values are checked against their model types on the spot. Errors are pushed,
//! never returned early, so one run reports every problem of every file.

use kdl::{KdlDocument, KdlEntry, KdlNode, KdlValue};
use miette::SourceSpan;

use super::{
    AcmeSpec, AdminSpec, At, CertSpec, ComponentSpec, EnvSpec, ExpectSpec, HealthSpec,
    InstanceAddress, InstanceSpec, ListenSpec, Note, OutsideSpec, PlaceholderSpec, RouteSpec,
    Spanned, Spec, SpecError, Src, StatsSpec, TargetSpec, TimeoutsSpec, TlsSpec, TransportSpec,
};
use crate::model::{
    AbsPath, Address, Arg, Balance, Bind, Body, CertName, Color, CookieName, Directory, Duration,
    Email, Host, Ident, Invalid, KeyType, LocalPath, MAX_INSTANCES, MAX_WEIGHT, NamePattern,
    Network, PathPrefix, PathSuffix, Port, SocketMode,
};
use crate::model::{CheckString, HealthPath, StatusSet};

const TOP: &[&str] = &[
    "edge",
    "include",
    "listen",
    "tls",
    "acme",
    "stats",
    "admin-socket",
    "timeouts",
    "health",
    "sticky-cookie",
    "trusted",
    "env",
    "outside",
    "placeholder",
    "target",
];

/// Decode one file into `spec`; returns the `include` paths it names.
pub(super) fn decode_file(
    spec: &mut Spec,
    file: usize,
    parsed: Result<KdlDocument, kdl::KdlError>,
    errors: &mut Vec<SpecError>,
) -> Vec<Spanned<String>> {
    let text = spec.files[file].text.clone();
    let src = spec.files[file].named();
    let doc = match parsed {
        Ok(doc) => doc,
        Err(e) => {
            // The parser's report of an integer too large for it points at the wrong place.
            let overlong = overlong_integers(&text);
            if !overlong.is_empty() {
                for span in overlong {
                    errors.push(SpecError::Syntax {
                        src: src.clone(),
                        span,
                        message: "integer literal is too large".into(),
                        label: "does not fit in 128 bits".into(),
                        help: Some("no number in a spec is this large; check the value".into()),
                    });
                }
                return Vec::new();
            }
            for d in e.diagnostics {
                let help = d.help.or_else(|| v1_keyword_help(&text, d.span));
                errors.push(SpecError::Syntax {
                    src: src.clone(),
                    span: d.span,
                    message: d.message.unwrap_or_else(|| "invalid KDL".into()),
                    label: d.label.unwrap_or_else(|| "here".into()),
                    help,
                });
            }
            return Vec::new();
        }
    };
    let mut cx = Cx { file, src, errors };
    let mut includes = Vec::new();
    for node in doc.nodes() {
        let name = node.name().value();
        match name {
            "edge" => {
                cx.props(node, &[]);
                cx.max_args(node, 1);
                cx.no_children(node);
                if let Some(v) = cx.required_arg(
                    node,
                    "edge",
                    "a name",
                    "edge \"veza-haproxy\"",
                    Ident::parse,
                ) {
                    cx.singleton(&mut spec.edge, v, "edge", &spec.files);
                }
            }
            "include" => {
                cx.props(node, &[]);
                cx.no_children(node);
                let paths = cx.args_of(node, "include", "\"more/file.kdl\"", |s| Ok(s.to_string()));
                if paths.is_empty() {
                    cx.missing(
                        node,
                        "include",
                        "a file path",
                        "include \"extra/outside.kdl\"",
                    );
                }
                includes.extend(paths);
            }
            "listen" => {
                let v = cx.listen(node);
                cx.singleton(&mut spec.listen, v, "listen", &spec.files);
            }
            "tls" => {
                let v = cx.tls(node);
                cx.singleton(&mut spec.tls, v, "tls", &spec.files);
            }
            "acme" => {
                let v = cx.acme(node);
                cx.singleton(&mut spec.acme, v, "acme", &spec.files);
            }
            "stats" => {
                cx.props(node, &["bind", "uri"]);
                cx.max_args(node, 0);
                cx.no_children(node);
                let v = StatsSpec {
                    bind: cx.prop(node, "bind", "\"127.0.0.1:9100\"", Bind::parse),
                    uri: cx.prop(node, "uri", "\"/stats\"", PathPrefix::parse),
                };
                let v = Spanned {
                    value: v,
                    at: cx.at(node.name().span()),
                };
                cx.singleton(&mut spec.stats, v, "stats", &spec.files);
            }
            "admin-socket" => {
                cx.props(node, &["mode", "address"]);
                cx.max_args(node, 1);
                cx.no_children(node);
                let v = AdminSpec {
                    path: cx.arg(
                        node,
                        0,
                        "admin-socket",
                        "\"/run/haproxy/admin.sock\"",
                        AbsPath::parse,
                    ),
                    address: cx.prop(node, "address", "\"127.0.0.1:9999\"", Address::parse),
                    mode: cx.prop(node, "mode", "\"600\"", SocketMode::parse),
                };
                let v = Spanned {
                    value: v,
                    at: cx.at(node.name().span()),
                };
                cx.singleton(&mut spec.admin, v, "admin-socket", &spec.files);
            }
            "timeouts" => {
                let v = cx.timeouts(node);
                cx.singleton(&mut spec.timeouts, v, "timeouts", &spec.files);
            }
            "health" => {
                let v = cx.health(node);
                cx.singleton(&mut spec.health, v, "health", &spec.files);
            }
            "sticky-cookie" => {
                cx.props(node, &[]);
                cx.max_args(node, 1);
                cx.no_children(node);
                if let Some(v) = cx.required_arg(
                    node,
                    "sticky-cookie",
                    "a cookie name",
                    "sticky-cookie \"SERVERID\"",
                    CookieName::parse,
                ) {
                    cx.singleton(&mut spec.sticky_cookie, v, "sticky-cookie", &spec.files);
                }
            }
            "trusted" => {
                let nets = cx.list_child(
                    node,
                    "trusted",
                    "trusted \"10.0.0.0/8\" \"2001:db8::/32\"",
                    Network::parse,
                );
                let v = Spanned {
                    value: nets,
                    at: cx.at(node.name().span()),
                };
                cx.singleton(&mut spec.trusted, v, "trusted", &spec.files);
            }
            "env" => {
                if let Some(e) = cx.env(node) {
                    spec.envs.push(e);
                }
            }
            "outside" => {
                if let Some(o) = cx.outside(node) {
                    spec.outside.push(o);
                }
            }
            "placeholder" => {
                if let Some(p) = cx.placeholder(node) {
                    spec.placeholders.push(p);
                }
            }
            "target" => {
                if let Some(t) = cx.target(node) {
                    spec.targets.push(t);
                }
            }
            other => cx.unknown_node(node, other, "at top level", TOP),
        }
    }
    includes
}

/// Help for a KDL v1 keyword (`true`, `false`, `null`) where KDL v2 wants `#true`…
fn v1_keyword_help(text: &str, span: SourceSpan) -> Option<String> {
    let word = text.get(span.offset()..span.offset() + span.len())?;
    matches!(word, "true" | "false" | "null")
        .then(|| format!("KDL v2 writes `#{word}`; a bare `{word}` is not a value"))
}

/// Decimal integer literals that are too large for the KDL parser (beyond `i128`), when they
/// are the only reason `text` does not parse. Each is checked by re-parsing, so digits inside
/// strings or comments are never blamed.
fn overlong_integers(text: &str) -> Vec<SourceSpan> {
    let bytes = text.as_bytes();
    let mut runs = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let starts = bytes[i].is_ascii_digit()
            && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || b"_.".contains(&bytes[i - 1])));
        if !starts {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'_') {
            i += 1;
        }
        let digits: String = text[start..i].chars().filter(|c| *c != '_').collect();
        if digits.len() >= 39 && digits.parse::<i128>().is_err() {
            runs.push(start..i);
        }
    }
    if runs.is_empty() {
        return Vec::new();
    }
    // Same length, still a valid KDL decimal: spans elsewhere do not move.
    let neutral = |text: &mut String, r: &std::ops::Range<usize>| {
        text.replace_range(r.clone(), &format!("0{}", "_".repeat(r.len() - 1)));
    };
    let mut all = text.to_string();
    for r in &runs {
        neutral(&mut all, r);
    }
    if KdlDocument::parse_v2(&all).is_err() {
        return Vec::new();
    }
    runs.into_iter()
        .filter(|r| {
            let mut one = all.clone();
            one.replace_range(r.clone(), &text[r.clone()]);
            KdlDocument::parse_v2(&one).is_err()
        })
        .map(|r| SourceSpan::from(r.start..r.end))
        .collect()
}

/// The decoding context of one file.
struct Cx<'a> {
    file: usize,
    src: Src,
    errors: &'a mut Vec<SpecError>,
}

fn kdl_type(v: &KdlValue) -> &'static str {
    match v {
        KdlValue::String(_) => "a string",
        KdlValue::Integer(_) => "an integer",
        KdlValue::Float(_) => "a number with a fraction",
        KdlValue::Bool(_) => "a boolean",
        KdlValue::Null => "#null",
    }
}

/// "did you mean `x`?" or the list of what is known.
fn suggest(name: &str, known: &[&str]) -> String {
    match crate::diag::closest(name, known) {
        Some(k) => format!("did you mean `{k}`?"),
        None if known.is_empty() => "this node takes none".to_string(),
        None => format!(
            "known here: {}",
            known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

impl Cx<'_> {
    fn at(&self, span: SourceSpan) -> At {
        At {
            file: self.file,
            span,
        }
    }

    fn unknown_node(&mut self, node: &KdlNode, name: &str, context: &str, known: &[&str]) {
        self.errors.push(SpecError::UnknownNode {
            src: self.src.clone(),
            span: node.name().span(),
            name: name.to_string(),
            context: context.to_string(),
            help: suggest(name, known),
        });
    }

    fn missing(&mut self, node: &KdlNode, node_name: &str, what: &str, example: &str) {
        self.errors.push(SpecError::Missing {
            src: self.src.clone(),
            span: node.name().span(),
            node: node_name.to_string(),
            what: what.to_string(),
            help: format!("for example: {example}"),
        });
    }

    /// Record a node that may appear once across all files.
    fn singleton<T>(
        &mut self,
        slot: &mut Option<Spanned<T>>,
        v: Spanned<T>,
        name: &str,
        files: &[super::SourceFile],
    ) {
        if let Some(first) = slot {
            let first_src = if first.at.file == self.file {
                self.src.clone()
            } else {
                files[first.at.file].named()
            };
            self.errors.push(SpecError::DuplicateNode {
                src: self.src.clone(),
                span: v.at.span,
                node: name.to_string(),
                first: vec![Note {
                    message: format!("`{name}` first defined here"),
                    src: first_src,
                    span: first.at.span,
                }],
            });
        } else {
            *slot = Some(v);
        }
    }

    /// Check properties against the allowed list; report unknown and repeated ones.
    fn props(&mut self, node: &KdlNode, allowed: &[&str]) {
        let mut seen: Vec<&str> = Vec::new();
        for e in node.entries() {
            let Some(key) = e.name() else { continue };
            let key = key.value();
            if !allowed.contains(&key) {
                self.errors.push(SpecError::UnknownProperty {
                    src: self.src.clone(),
                    span: e.span(),
                    name: key.to_string(),
                    node: node.name().value().to_string(),
                    help: suggest(key, allowed),
                });
            } else if seen.contains(&key) {
                self.errors.push(SpecError::DuplicateProperty {
                    src: self.src.clone(),
                    span: e.span(),
                    name: key.to_string(),
                });
            }
            seen.push(key);
        }
    }

    fn max_args(&mut self, node: &KdlNode, max: usize) {
        if let Some(extra) = node
            .entries()
            .iter()
            .filter(|e| e.name().is_none())
            .nth(max)
        {
            self.errors.push(SpecError::TooManyArguments {
                src: self.src.clone(),
                span: extra.span(),
                node: node.name().value().to_string(),
                max,
            });
        }
    }

    fn no_children(&mut self, node: &KdlNode) {
        if let Some(ch) = node.children() {
            self.errors.push(SpecError::UnexpectedChildren {
                src: self.src.clone(),
                span: ch.span(),
                node: node.name().value().to_string(),
            });
        }
    }

    /// Decode a string entry through a model constructor.
    fn string_entry<T>(
        &mut self,
        e: &KdlEntry,
        field: &str,
        example: &'static str,
        parse: impl Fn(&str) -> Result<T, Invalid>,
    ) -> Option<Spanned<T>> {
        let KdlValue::String(s) = e.value() else {
            self.errors.push(SpecError::WrongType {
                src: self.src.clone(),
                span: e.span(),
                field: field.to_string(),
                expected: "a string",
                found: kdl_type(e.value()),
                example,
            });
            return None;
        };
        match parse(s) {
            Ok(value) => Some(Spanned {
                value,
                at: self.at(e.span()),
            }),
            Err(inv) => {
                self.invalid(e.span(), field, inv);
                None
            }
        }
    }

    fn invalid(&mut self, span: SourceSpan, field: &str, inv: Invalid) {
        let (src, field, expected, reason) = (
            self.src.clone(),
            field.to_string(),
            inv.expected.to_string(),
            inv.reason,
        );
        self.errors.push(if inv.unsafe_chars {
            SpecError::UnsafeValue {
                src,
                span,
                field,
                expected,
                reason,
            }
        } else {
            SpecError::InvalidValue {
                src,
                span,
                field,
                expected,
                reason,
            }
        });
    }

    fn int_entry(
        &mut self,
        e: &KdlEntry,
        field: &str,
        example: &'static str,
        lo: i128,
        hi: i128,
    ) -> Option<Spanned<i128>> {
        let KdlValue::Integer(n) = e.value() else {
            self.errors.push(SpecError::WrongType {
                src: self.src.clone(),
                span: e.span(),
                field: field.to_string(),
                expected: "an integer",
                found: kdl_type(e.value()),
                example,
            });
            return None;
        };
        if *n < lo || *n > hi {
            self.errors.push(SpecError::OutOfRange {
                src: self.src.clone(),
                span: e.span(),
                field: field.to_string(),
                value: *n,
                range: format!("{lo}..={hi}"),
            });
            return None;
        }
        Some(Spanned {
            value: *n,
            at: self.at(e.span()),
        })
    }

    fn bool_entry(
        &mut self,
        e: &KdlEntry,
        field: &str,
        example: &'static str,
    ) -> Option<Spanned<bool>> {
        match e.value() {
            KdlValue::Bool(b) => Some(Spanned {
                value: *b,
                at: self.at(e.span()),
            }),
            other => {
                self.errors.push(SpecError::WrongType {
                    src: self.src.clone(),
                    span: e.span(),
                    field: field.to_string(),
                    expected: "a boolean (`#true` or `#false`)",
                    found: kdl_type(other),
                    example,
                });
                None
            }
        }
    }

    fn last_prop<'n>(node: &'n KdlNode, key: &str) -> Option<&'n KdlEntry> {
        node.entries()
            .iter()
            .rev()
            .find(|e| e.name().is_some_and(|n| n.value() == key))
    }

    fn prop<T>(
        &mut self,
        node: &KdlNode,
        key: &str,
        example: &'static str,
        parse: impl Fn(&str) -> Result<T, Invalid>,
    ) -> Option<Spanned<T>> {
        let e = Self::last_prop(node, key)?;
        self.string_entry(e, key, example, parse)
    }

    fn prop_int(
        &mut self,
        node: &KdlNode,
        key: &str,
        example: &'static str,
        lo: i128,
        hi: i128,
    ) -> Option<Spanned<i128>> {
        let e = Self::last_prop(node, key)?;
        self.int_entry(e, key, example, lo, hi)
    }

    fn prop_port(
        &mut self,
        node: &KdlNode,
        key: &str,
        example: &'static str,
    ) -> Option<Spanned<Port>> {
        let n = self.prop_int(node, key, example, 1, 65535)?;
        Some(Spanned {
            value: Port::new(n.value).ok()?,
            at: n.at,
        })
    }

    fn prop_bool(
        &mut self,
        node: &KdlNode,
        key: &str,
        example: &'static str,
    ) -> Option<Spanned<bool>> {
        let e = Self::last_prop(node, key)?;
        self.bool_entry(e, key, example)
    }

    fn positional(node: &KdlNode) -> impl Iterator<Item = &KdlEntry> {
        node.entries().iter().filter(|e| e.name().is_none())
    }

    fn arg<T>(
        &mut self,
        node: &KdlNode,
        i: usize,
        field: &str,
        example: &'static str,
        parse: impl Fn(&str) -> Result<T, Invalid>,
    ) -> Option<Spanned<T>> {
        let e = Self::positional(node).nth(i)?;
        self.string_entry(e, field, example, parse)
    }

    fn required_arg<T>(
        &mut self,
        node: &KdlNode,
        field: &str,
        what: &str,
        example: &'static str,
        parse: impl Fn(&str) -> Result<T, Invalid>,
    ) -> Option<Spanned<T>> {
        if Self::positional(node).next().is_none() {
            self.missing(node, field, what, example);
            return None;
        }
        self.arg(node, 0, field, example, parse)
    }

    /// Every positional argument through one constructor.
    fn args_of<T>(
        &mut self,
        node: &KdlNode,
        field: &str,
        example: &'static str,
        parse: impl Fn(&str) -> Result<T, Invalid>,
    ) -> Vec<Spanned<T>> {
        let entries: Vec<&KdlEntry> = Self::positional(node).collect();
        entries
            .into_iter()
            .filter_map(|e| self.string_entry(e, field, example, &parse))
            .collect()
    }

    /// The named node: `kind NAME …`, with its name checked as an [`Ident`].
    fn named(
        &mut self,
        node: &KdlNode,
        kind: &str,
        example: &'static str,
    ) -> Option<Spanned<Ident>> {
        self.max_args(node, 1);
        self.required_arg(node, kind, "a name", example, Ident::parse)
    }

    fn child_nodes<'n>(
        &mut self,
        node: &'n KdlNode,
        known: &[&str],
        context: &str,
    ) -> Vec<&'n KdlNode> {
        let mut out = Vec::new();
        for ch in node.children().map(|d| d.nodes()).unwrap_or(&[]) {
            let n = ch.name().value();
            if known.contains(&n) {
                out.push(ch);
            } else {
                self.unknown_node(ch, n, context, known);
            }
        }
        out
    }

    /// A leaf child that only holds positional strings (`hosts "a" "b"`, `prefix "/x"`).
    fn list_child<T>(
        &mut self,
        ch: &KdlNode,
        field: &str,
        example: &'static str,
        parse: impl Fn(&str) -> Result<T, Invalid>,
    ) -> Vec<Spanned<T>> {
        self.props(ch, &[]);
        self.no_children(ch);
        let v = self.args_of(ch, field, example, parse);
        if Self::positional(ch).next().is_none() {
            self.missing(ch, field, "at least one value", example);
        }
        v
    }

    /// A leaf child holding exactly one positional string.
    fn single_child<T>(
        &mut self,
        ch: &KdlNode,
        field: &str,
        example: &'static str,
        parse: impl Fn(&str) -> Result<T, Invalid>,
    ) -> Option<Spanned<T>> {
        self.props(ch, &[]);
        self.no_children(ch);
        self.max_args(ch, 1);
        self.required_arg(ch, field, "a value", example, parse)
    }

    fn listen(&mut self, node: &KdlNode) -> Spanned<ListenSpec> {
        self.props(node, &["http", "https"]);
        self.max_args(node, 0);
        self.no_children(node);
        let v = ListenSpec {
            http: self.prop(node, "http", "\"*:80\"", Bind::parse),
            https: self.prop(node, "https", "\"*:443\"", Bind::parse),
        };
        Spanned {
            value: v,
            at: self.at(node.name().span()),
        }
    }

    fn tls(&mut self, node: &KdlNode) -> Spanned<TlsSpec> {
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

    fn acme(&mut self, node: &KdlNode) -> Spanned<AcmeSpec> {
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

    fn timeouts(&mut self, node: &KdlNode) -> Spanned<TimeoutsSpec> {
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

    fn health(&mut self, node: &KdlNode) -> Spanned<HealthSpec> {
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

    fn env(&mut self, node: &KdlNode) -> Option<EnvSpec> {
        const KIDS: &[&str] = &[
            "hosts",
            "active-color",
            "container-pattern",
            "cookie",
            "component",
            "route",
            "default",
        ];
        self.props(node, &[]);
        let name = self.named(node, "env", "env \"staging\" { … }");
        let mut env = EnvSpec {
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
        };
        if node.children().is_none() {
            self.missing(
                node,
                "env",
                "a block with hosts and components",
                "env \"staging\" { hosts \"staging.example.org\"; … }",
            );
        }
        for ch in self.child_nodes(node, KIDS, "in `env`") {
            match ch.name().value() {
                "hosts" => env.hosts.extend(self.list_child(
                    ch,
                    "hosts",
                    "hosts \"staging.example.org\"",
                    Host::parse,
                )),
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
                _ => {}
            }
        }
        name.map(|_| env)
    }

    fn component(&mut self, node: &KdlNode) -> Option<ComponentSpec> {
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

    fn instance(&mut self, node: &KdlNode) -> Option<InstanceSpec> {
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

    fn route(&mut self, node: &KdlNode) -> Option<RouteSpec> {
        self.props(node, &["to"]);
        let name = self.named(
            node,
            "route",
            "route \"api\" to=\"backend\" { prefix \"/api/\" }",
        );
        let to = self.prop(node, "to", "\"backend\"", Ident::parse);
        if Self::last_prop(node, "to").is_none() {
            self.missing(
                node,
                "route",
                "`to=` (the component)",
                "route \"api\" to=\"backend\" { prefix \"/api/\" }",
            );
        }
        let mut r = RouteSpec {
            name: name?,
            to,
            prefixes: Vec::new(),
            suffixes: Vec::new(),
        };
        for ch in self.child_nodes(node, &["prefix", "suffix"], "in `route`") {
            if ch.name().value() == "prefix" {
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

    fn outside(&mut self, node: &KdlNode) -> Option<OutsideSpec> {
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
            name: name?,
            hosts: Vec::new(),
            address,
            health: self.prop(node, "health", "\"/healthz\"", HealthPath::parse),
            expect: self.expect(node),
        };
        for ch in self.child_nodes(node, &["hosts"], "in `outside`") {
            o.hosts
                .extend(self.list_child(ch, "hosts", "hosts \"git.example.org\"", Host::parse));
        }
        Some(o)
    }

    /// `health-status=`, `health-body=`, `health-timeout=` of `node`.
    fn expect(&mut self, node: &KdlNode) -> ExpectSpec {
        ExpectSpec {
            status: self.prop(node, "health-status", "\"200-399\"", StatusSet::parse),
            body: self.prop(node, "health-body", "\"ok\"", CheckString::parse),
            timeout: self.prop(node, "health-timeout", "\"2s\"", Duration::parse),
        }
    }

    fn placeholder(&mut self, node: &KdlNode) -> Option<PlaceholderSpec> {
        self.props(node, &["status"]);
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
            name: name?,
            hosts: Vec::new(),
            status,
            body: None,
        };
        for ch in self.child_nodes(node, &["hosts", "body"], "in `placeholder`") {
            if ch.name().value() == "hosts" {
                p.hosts
                    .extend(self.list_child(ch, "hosts", "hosts \"example.org\"", Host::parse));
            } else {
                set_once(self, &mut p.body, ch, |cx| {
                    cx.single_child(ch, "body", "body \"Coming soon\\n\"", Body::parse)
                });
            }
        }
        Some(p)
    }

    fn target(&mut self, node: &KdlNode) -> Option<TargetSpec> {
        self.props(node, &[]);
        let name = self.named(
            node,
            "target",
            "target \"edge\" { ssh host=\"edge.example.org\" }",
        );
        let mut t = TargetSpec {
            name: name?,
            transports: Vec::new(),
            validate: None,
            reload: None,
            reload_timeout: None,
        };
        if node.children().is_none() {
            self.missing(
                node,
                "target",
                "a transport block",
                "target \"edge\" { ssh host=\"edge.example.org\" }",
            );
        }
        let mut reload_timeout_at: Option<SourceSpan> = None;
        for ch in self.child_nodes(
            node,
            &[
                "local",
                "ssh",
                "incus",
                "validate",
                "reload",
                "reload-timeout",
            ],
            "in `target`",
        ) {
            self.no_children(ch);
            let at = self.at(ch.span());
            match ch.name().value() {
                "local" => {
                    self.props(ch, &["root"]);
                    self.max_args(ch, 0);
                    let root = self.prop(ch, "root", "\"box\"", LocalPath::parse);
                    if Self::last_prop(ch, "root").is_none() {
                        self.missing(ch, "local", "`root=`", "local root=\"box\"");
                    }
                    t.transports.push(Spanned {
                        value: TransportSpec::Local { root },
                        at,
                    });
                }
                "ssh" => {
                    self.props(ch, &["host", "user", "port", "identity"]);
                    self.max_args(ch, 0);
                    let host = self.prop(ch, "host", "\"edge.example.org\"", ssh_word);
                    if Self::last_prop(ch, "host").is_none() {
                        self.missing(ch, "ssh", "`host=`", "ssh host=\"edge.example.org\"");
                    }
                    let v = TransportSpec::Ssh {
                        host,
                        user: self.prop(ch, "user", "\"root\"", ssh_word),
                        port: self.prop_port(ch, "port", "22"),
                        identity: self.prop(
                            ch,
                            "identity",
                            "\"~/.ssh/id_ed25519\"",
                            LocalPath::parse,
                        ),
                    };
                    t.transports.push(Spanned { value: v, at });
                }
                "incus" => {
                    self.props(ch, &["container", "remote"]);
                    self.max_args(ch, 0);
                    let container = self.prop(ch, "container", "\"edge\"", Ident::parse);
                    if Self::last_prop(ch, "container").is_none() {
                        self.missing(
                            ch,
                            "incus",
                            "`container=`",
                            "incus container=\"veza-haproxy\"",
                        );
                    }
                    let remote = self.prop(ch, "remote", "\"r720\"", Ident::parse);
                    t.transports.push(Spanned {
                        value: TransportSpec::Incus { container, remote },
                        at,
                    });
                }
                "reload-timeout" => {
                    let v = self.single_child(ch, "reload-timeout", "\"30s\"", Duration::parse);
                    // A second one is a duplicate even when the first had a bad value.
                    if let Some(first) = reload_timeout_at {
                        self.errors.push(SpecError::DuplicateNode {
                            src: self.src.clone(),
                            span: ch.name().span(),
                            node: "reload-timeout".into(),
                            first: vec![Note {
                                message: "`reload-timeout` first given here".into(),
                                src: self.src.clone(),
                                span: first,
                            }],
                        });
                    } else {
                        reload_timeout_at = Some(ch.name().span());
                        t.reload_timeout = v;
                    }
                }
                kind @ ("validate" | "reload") => {
                    self.props(ch, &[]);
                    let args = self.list_child(
                        ch,
                        kind,
                        "reload \"systemctl\" \"reload\" \"haproxy\"",
                        Arg::parse,
                    );
                    let v = Some(Spanned {
                        value: args.into_iter().map(|a| a.value).collect(),
                        at,
                    });
                    let slot = if kind == "validate" {
                        &mut t.validate
                    } else {
                        &mut t.reload
                    };
                    if let Some(first) = slot {
                        self.errors.push(SpecError::DuplicateNode {
                            src: self.src.clone(),
                            span: ch.name().span(),
                            node: kind.to_string(),
                            first: vec![Note {
                                message: format!("`{kind}` first given here"),
                                src: self.src.clone(),
                                span: first.at.span,
                            }],
                        });
                    } else {
                        *slot = v;
                    }
                }
                _ => {}
            }
        }
        Some(t)
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

/// An ssh host or user: a command argument that ssh cannot take for an option.
fn ssh_word(s: &str) -> Result<Arg, Invalid> {
    let arg = Arg::parse(s)?;
    if s.starts_with('-') {
        return Err(Invalid {
            expected: "a host name or ssh config alias",
            reason: "starts with `-`: ssh would read it as an option".into(),
            unsafe_chars: true,
        });
    }
    Ok(arg)
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
fn set_once<T>(
    cx: &mut Cx<'_>,
    slot: &mut Option<Spanned<T>>,
    ch: &KdlNode,
    decode: impl FnOnce(&mut Cx<'_>) -> Option<Spanned<T>>,
) {
    if let Some(first) = slot {
        cx.errors.push(SpecError::DuplicateNode {
            src: cx.src.clone(),
            span: ch.span(),
            node: ch.name().value().to_string(),
            first: vec![Note {
                message: "first given here".into(),
                src: cx.src.clone(),
                span: first.at.span,
            }],
        });
        return;
    }
    if let Some(v) = decode(cx) {
        *slot = Some(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlong_integers_are_found_only_where_they_break_the_parse() {
        let big = "9".repeat(60);
        for (text, found) in [
            (format!("a x={big}\n"), vec![(4, 64)]),
            (format!("a {big}\nb -{big}\n"), vec![(2, 62), (66, 126)]),
            (format!("a x=1_{}\n", "0".repeat(50)), vec![(4, 56)]),
            // Fits in an i128: the parser takes it, the range check reports it.
            ("a x=99999999999999999999999\n".to_string(), vec![]),
            // Inside a string or a comment it is text.
            (
                format!("a \"{big}\" // {big}\nb x={big}\n"),
                vec![(133, 193)],
            ),
            // Another syntax error: leave the report to the parser.
            (format!("a x={big} {{\n"), vec![]),
            (format!("a \"{big}\"\n"), vec![]),
        ] {
            let got: Vec<(usize, usize)> = overlong_integers(&text)
                .into_iter()
                .map(|s| (s.offset(), s.offset() + s.len()))
                .collect();
            assert_eq!(got, found, "{text:?}");
        }
    }

    #[test]
    fn kdl_v1_keywords_get_help() {
        let text = "a x=true y=null z=yes";
        for (start, word, help) in [(4, "true", true), (11, "null", true), (18, "yes", false)] {
            let span = SourceSpan::from(start..start + word.len());
            assert_eq!(v1_keyword_help(text, span).is_some(), help, "{word}");
        }
        assert_eq!(v1_keyword_help(text, SourceSpan::from(100..104)), None);
    }

    #[test]
    fn ssh_words_are_not_options() {
        for (s, ok) in [
            ("r720.veza.fr", true),
            ("deploy", true),
            ("user@host", true),
            ("-oProxyCommand=reboot", false),
            ("-p", false),
            ("r720 -p 2", false),
            ("", false),
        ] {
            assert_eq!(ssh_word(s).is_ok(), ok, "{s:?}");
        }
        assert!(ssh_word("-x").unwrap_err().unsafe_chars);
    }
}
