//! Edge-wide nodes of what the edge reports and keeps: `peers bind=…`, `metrics bind=… path=…
//! { allow … }`, `access-log format=… target=… facility=…`.

use super::*;
use crate::model::{LogFormat, LogTarget, log_facility};
use crate::spec::{AccessLogSpec, MetricsSpec, PeersSpec};

impl Cx<'_> {
    /// `peers bind="127.0.0.1:10000"`.
    pub(super) fn peers(&mut self, node: &KdlNode) -> Spanned<PeersSpec> {
        self.props(node, &["bind"]);
        self.max_args(node, 0);
        self.no_children(node);
        Spanned {
            value: PeersSpec {
                bind: self.prop(node, "bind", "\"127.0.0.1:10000\"", Bind::parse),
            },
            at: self.at(node.name().span()),
        }
    }

    /// `metrics bind="…" path="/metrics" { allow NETWORK|"trusted"… }`.
    pub(super) fn metrics(&mut self, node: &KdlNode) -> Spanned<MetricsSpec> {
        self.props(node, &["bind", "path"]);
        self.max_args(node, 0);
        let mut m = MetricsSpec {
            bind: self.prop(node, "bind", "\"127.0.0.1:8405\"", Bind::parse),
            path: self.prop(node, "path", "\"/metrics\"", PathPrefix::parse),
            allow: Vec::new(),
        };
        for k in self.child_nodes(node, &["allow"], "in `metrics`") {
            m.allow.extend(self.list_child(
                k,
                "allow",
                "allow \"10.0.30.0/24\" \"trusted\"",
                super::policy::bypass,
            ));
        }
        Spanned {
            value: m,
            at: self.at(node.name().span()),
        }
    }

    /// `access-log format="httplog"|"json" target="/dev/log" facility="local0"`.
    pub(super) fn access_log(&mut self, node: &KdlNode) -> Spanned<AccessLogSpec> {
        self.props(node, &["format", "target", "facility"]);
        self.max_args(node, 0);
        self.no_children(node);
        Spanned {
            value: AccessLogSpec {
                format: self.prop(node, "format", "\"json\"", LogFormat::parse),
                target: self.prop(node, "target", "\"/dev/log\"", LogTarget::parse),
                facility: self.prop(node, "facility", "\"local0\"", log_facility),
            },
            at: self.at(node.name().span()),
        }
    }
}
