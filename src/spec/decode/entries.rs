//! The decoder's vocabulary: what every node kind is made of — properties (each once, only
//! the allowed ones, typed), positional arguments, children, singletons and lists — each check
//! pushing a spanned error with help and going on, so a file reports every problem.

use super::*;

impl Cx<'_> {
    pub(super) fn at(&self, span: SourceSpan) -> At {
        At {
            file: self.file,
            span,
        }
    }

    pub(super) fn unknown_node(
        &mut self,
        node: &KdlNode,
        name: &str,
        context: &str,
        known: &[&str],
    ) {
        self.errors.push(SpecError::at(
            self.src.clone(),
            node.name().span(),
            Problem::UnknownNode {
                name: name.to_string(),
                context: context.to_string(),
                help: suggest(name, known),
            },
        ));
    }

    pub(super) fn missing(&mut self, node: &KdlNode, node_name: &str, what: &str, example: &str) {
        self.errors.push(SpecError::at(
            self.src.clone(),
            node.name().span(),
            Problem::Missing {
                node: node_name.to_string(),
                what: what.to_string(),
                help: format!("for example: {example}"),
            },
        ));
    }

    /// Record a node that may appear once across all files.
    pub(super) fn singleton<T>(
        &mut self,
        slot: &mut Option<Spanned<T>>,
        v: Spanned<T>,
        name: &str,
        files: &[crate::spec::SourceFile],
    ) {
        if let Some(first) = slot {
            let first_src = if first.at.file == self.file {
                self.src.clone()
            } else {
                files[first.at.file].named()
            };
            self.errors.push(SpecError::at(
                self.src.clone(),
                v.at.span,
                Problem::DuplicateNode {
                    node: name.to_string(),
                    first: vec![Note {
                        message: format!("`{name}` first defined here"),
                        src: first_src,
                        span: first.at.span,
                    }],
                },
            ));
        } else {
            *slot = Some(v);
        }
    }

    /// Check properties against the allowed list; report unknown and repeated ones.
    pub(super) fn props(&mut self, node: &KdlNode, allowed: &[&str]) {
        let mut seen: Vec<&str> = Vec::new();
        for e in node.entries() {
            let Some(key) = e.name() else { continue };
            let key = key.value();
            if !allowed.contains(&key) {
                self.errors.push(SpecError::at(
                    self.src.clone(),
                    e.span(),
                    Problem::UnknownProperty {
                        name: key.to_string(),
                        node: node.name().value().to_string(),
                        help: suggest(key, allowed),
                    },
                ));
            } else if seen.contains(&key) {
                self.errors.push(SpecError::at(
                    self.src.clone(),
                    e.span(),
                    Problem::DuplicateProperty {
                        name: key.to_string(),
                    },
                ));
            }
            seen.push(key);
        }
    }

    pub(super) fn max_args(&mut self, node: &KdlNode, max: usize) {
        if let Some(extra) = node
            .entries()
            .iter()
            .filter(|e| e.name().is_none())
            .nth(max)
        {
            self.errors.push(SpecError::at(
                self.src.clone(),
                extra.span(),
                Problem::TooManyArguments {
                    node: node.name().value().to_string(),
                    max,
                },
            ));
        }
    }

    pub(super) fn no_children(&mut self, node: &KdlNode) {
        if let Some(ch) = node.children() {
            self.errors.push(SpecError::at(
                self.src.clone(),
                ch.span(),
                Problem::UnexpectedChildren {
                    node: node.name().value().to_string(),
                },
            ));
        }
    }

    /// Decode a string entry through a model constructor.
    pub(super) fn string_entry<T>(
        &mut self,
        e: &KdlEntry,
        field: &str,
        example: &'static str,
        parse: impl Fn(&str) -> Result<T, Invalid>,
    ) -> Option<Spanned<T>> {
        let KdlValue::String(s) = e.value() else {
            self.errors.push(SpecError::at(
                self.src.clone(),
                e.span(),
                Problem::WrongType {
                    field: field.to_string(),
                    expected: "a string",
                    found: kdl_type(e.value()),
                    example,
                },
            ));
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

    pub(super) fn invalid(&mut self, span: SourceSpan, field: &str, inv: Invalid) {
        let (src, field, expected, reason) = (
            self.src.clone(),
            field.to_string(),
            inv.expected.to_string(),
            inv.reason,
        );
        let kind = if inv.unsafe_chars {
            Problem::UnsafeValue {
                field,
                expected,
                reason,
            }
        } else {
            Problem::InvalidValue {
                field,
                expected,
                reason,
            }
        };
        self.errors.push(SpecError::at(src, span, kind));
    }

    /// An integer entry that must be one of `codes` (HTTP statuses): outside `lo..=hi` it is
    /// `out_of_range`, inside but not one of them `invalid_value` saying `expected`.
    pub(super) fn code_entry(
        &mut self,
        e: &KdlEntry,
        field: &str,
        example: &'static str,
        (lo, hi): (i128, i128),
        codes: &[u16],
        expected: &'static str,
    ) -> Option<Spanned<u16>> {
        let n = self.int_entry(e, field, example, lo, hi)?;
        let code = n.value as u16;
        if codes.contains(&code) {
            return Some(Spanned {
                value: code,
                at: n.at,
            });
        }
        let inv = Invalid {
            expected,
            reason: format!("is {code}"),
            unsafe_chars: false,
        };
        self.invalid(e.span(), field, inv);
        None
    }

    pub(super) fn int_entry(
        &mut self,
        e: &KdlEntry,
        field: &str,
        example: &'static str,
        lo: i128,
        hi: i128,
    ) -> Option<Spanned<i128>> {
        let KdlValue::Integer(n) = e.value() else {
            self.errors.push(SpecError::at(
                self.src.clone(),
                e.span(),
                Problem::WrongType {
                    field: field.to_string(),
                    expected: "an integer",
                    found: kdl_type(e.value()),
                    example,
                },
            ));
            return None;
        };
        if *n < lo || *n > hi {
            self.errors.push(SpecError::at(
                self.src.clone(),
                e.span(),
                Problem::OutOfRange {
                    field: field.to_string(),
                    value: *n,
                    range: format!("{lo}..={hi}"),
                },
            ));
            return None;
        }
        Some(Spanned {
            value: *n,
            at: self.at(e.span()),
        })
    }

    pub(super) fn bool_entry(
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
                self.errors.push(SpecError::at(
                    self.src.clone(),
                    e.span(),
                    Problem::WrongType {
                        field: field.to_string(),
                        expected: "a boolean (`#true` or `#false`)",
                        found: kdl_type(other),
                        example,
                    },
                ));
                None
            }
        }
    }

    pub(super) fn last_prop<'n>(node: &'n KdlNode, key: &str) -> Option<&'n KdlEntry> {
        node.entries()
            .iter()
            .rev()
            .find(|e| e.name().is_some_and(|n| n.value() == key))
    }

    pub(super) fn prop<T>(
        &mut self,
        node: &KdlNode,
        key: &str,
        example: &'static str,
        parse: impl Fn(&str) -> Result<T, Invalid>,
    ) -> Option<Spanned<T>> {
        let e = Self::last_prop(node, key)?;
        self.string_entry(e, key, example, parse)
    }

    pub(super) fn prop_int(
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

    pub(super) fn prop_port(
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

    pub(super) fn prop_bool(
        &mut self,
        node: &KdlNode,
        key: &str,
        example: &'static str,
    ) -> Option<Spanned<bool>> {
        let e = Self::last_prop(node, key)?;
        self.bool_entry(e, key, example)
    }

    pub(super) fn positional(node: &KdlNode) -> impl Iterator<Item = &KdlEntry> {
        node.entries().iter().filter(|e| e.name().is_none())
    }

    pub(super) fn arg<T>(
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

    pub(super) fn required_arg<T>(
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
    pub(super) fn args_of<T>(
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
    pub(super) fn named(
        &mut self,
        node: &KdlNode,
        kind: &str,
        example: &'static str,
    ) -> Option<Spanned<Ident>> {
        self.max_args(node, 1);
        self.required_arg(node, kind, "a name", example, Ident::parse)
    }

    pub(super) fn child_nodes<'n>(
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
    pub(super) fn list_child<T>(
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
    pub(super) fn single_child<T>(
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
}
