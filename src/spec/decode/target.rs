//! `target`: how edgeplan reaches a box (`local`, `ssh`, `incus`) and the commands it runs there
//! to validate and reload.

use super::*;

impl Cx<'_> {
    pub(super) fn target(&mut self, node: &KdlNode) -> Option<TargetSpec> {
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
            match ch.name().value() {
                "local" | "ssh" | "incus" => t.transports.push(self.transport(ch)),
                "reload-timeout" => {
                    let v = self.single_child(ch, "reload-timeout", "\"30s\"", Duration::parse);
                    // A second one is a duplicate even when the first had a bad value.
                    if let Some(first) = reload_timeout_at {
                        self.duplicate(ch, "reload-timeout", first);
                    } else {
                        reload_timeout_at = Some(ch.name().span());
                        t.reload_timeout = v;
                    }
                }
                kind @ ("validate" | "reload") => {
                    let slot = if kind == "validate" {
                        &mut t.validate
                    } else {
                        &mut t.reload
                    };
                    self.command(ch, kind, slot);
                }
                _ => {}
            }
        }
        Some(t)
    }

    /// A `local`, `ssh` or `incus` block of a target.
    fn transport(&mut self, ch: &KdlNode) -> Spanned<TransportSpec> {
        let at = self.at(ch.span());
        let value = match ch.name().value() {
            "local" => {
                self.props(ch, &["root"]);
                self.max_args(ch, 0);
                let root = self.prop(ch, "root", "\"box\"", LocalPath::parse);
                if Self::last_prop(ch, "root").is_none() {
                    self.missing(ch, "local", "`root=`", "local root=\"box\"");
                }
                TransportSpec::Local { root }
            }
            "ssh" => {
                self.props(ch, &["host", "user", "port", "identity"]);
                self.max_args(ch, 0);
                let host = self.prop(ch, "host", "\"edge.example.org\"", ssh_word);
                if Self::last_prop(ch, "host").is_none() {
                    self.missing(ch, "ssh", "`host=`", "ssh host=\"edge.example.org\"");
                }
                TransportSpec::Ssh {
                    host,
                    user: self.prop(ch, "user", "\"root\"", ssh_word),
                    port: self.prop_port(ch, "port", "22"),
                    identity: self.prop(ch, "identity", "\"~/.ssh/id_ed25519\"", LocalPath::parse),
                }
            }
            _ => {
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
                TransportSpec::Incus { container, remote }
            }
        };
        Spanned { value, at }
    }

    /// A `validate` or `reload` command of a target, into `slot` unless it holds one already.
    fn command(&mut self, ch: &KdlNode, kind: &str, slot: &mut Option<Spanned<Vec<Arg>>>) {
        let at = self.at(ch.span());
        self.props(ch, &[]);
        let args = self.list_child(
            ch,
            kind,
            "reload \"systemctl\" \"reload\" \"haproxy\"",
            Arg::parse,
        );
        match slot {
            Some(first) => {
                let first = first.at.span;
                self.duplicate_with(ch, kind, format!("`{kind}` first given here"), first)
            }
            None => {
                *slot = Some(Spanned {
                    value: args.into_iter().map(|a| a.value).collect(),
                    at,
                })
            }
        }
    }

    /// `node` given again: a duplicate of the one at `first`.
    fn duplicate(&mut self, ch: &KdlNode, node: &str, first: SourceSpan) {
        self.duplicate_with(ch, node, format!("`{node}` first given here"), first);
    }

    fn duplicate_with(&mut self, ch: &KdlNode, node: &str, message: String, first: SourceSpan) {
        self.errors.push(SpecError::at(
            self.src.clone(),
            ch.name().span(),
            Problem::DuplicateNode {
                node: node.to_string(),
                first: vec![Note {
                    message,
                    src: self.src.clone(),
                    span: first,
                }],
            },
        ));
    }
}

/// An ssh host or user: a command argument that ssh cannot take for an option.
pub(super) fn ssh_word(s: &str) -> Result<Arg, Invalid> {
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
