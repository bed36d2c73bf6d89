//! `tcp NAME bind=ADDR balance=… maxconn=N timeout=D send-proxy=v1|v2 { server ADDR…; check
//! send="…" expect="…" }`: a TCP service.

use super::*;
use crate::model::{ProxyVersion, TcpBalance};
use crate::spec::{TcpCheckSpec, TcpSpec};

impl Cx<'_> {
    /// A `tcp` node.
    pub(super) fn tcp(&mut self, node: &KdlNode) -> Option<TcpSpec> {
        const EXAMPLE: &str =
            "tcp \"git-ssh\" bind=\"*:22\" { server \"10.0.20.105:22\"; check expect=\"SSH-\" }";
        self.props(
            node,
            &["bind", "balance", "maxconn", "timeout", "send-proxy"],
        );
        let name = self.named(node, "tcp", EXAMPLE);
        let bind = self.prop(node, "bind", "\"*:22\"", Bind::parse);
        if Self::last_prop(node, "bind").is_none() {
            self.missing(node, "tcp", "`bind=` (where it listens)", EXAMPLE);
        }
        let mut t = TcpSpec {
            name: name?,
            bind,
            servers: Vec::new(),
            check: None,
            balance: self.prop(node, "balance", "\"leastconn\"", TcpBalance::parse),
            maxconn: self
                .prop_int(node, "maxconn", "200", 1, 1_000_000)
                .map(|s| Spanned {
                    value: s.value as u32,
                    at: s.at,
                }),
            timeout: self.prop(node, "timeout", "\"1h\"", Duration::parse),
            send_proxy: self.prop(node, "send-proxy", "\"v2\"", ProxyVersion::parse),
        };
        for ch in self.child_nodes(node, &["server", "check"], "in `tcp`") {
            if ch.name().value() == "server" {
                t.servers.extend(self.list_child(
                    ch,
                    "server",
                    "server \"10.0.20.105:22\"",
                    Address::parse,
                ));
            } else {
                super::envs::set_once(self, &mut t.check, ch, |cx| {
                    cx.props(ch, &["send", "expect"]);
                    cx.max_args(ch, 0);
                    cx.no_children(ch);
                    Some(Spanned {
                        value: TcpCheckSpec {
                            send: cx.prop(ch, "send", "\"PING\"", CheckString::parse),
                            expect: cx.prop(ch, "expect", "\"SSH-\"", CheckString::parse),
                        },
                        at: cx.at(ch.name().span()),
                    })
                });
            }
        }
        if t.servers.is_empty() {
            self.missing(
                node,
                "tcp",
                "a `server` (`server \"10.0.20.105:22\"`)",
                EXAMPLE,
            );
        }
        Some(t)
    }
}
