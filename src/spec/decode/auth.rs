//! Basic-auth nodes: the top-level `userlist NAME { user NAME password=HASH }` and the
//! `basic-auth userlist=NAME realm="…" { bypass … }` rule.

use super::envs::set_once;
use super::*;
use crate::model::{PasswordHash, Realm, UserName};
use crate::spec::policy::{BasicAuthSpec, UserSpec, UserlistSpec};

impl Cx<'_> {
    /// `userlist NAME { user NAME password=HASH … }`.
    pub(super) fn userlist(&mut self, node: &KdlNode) -> Option<UserlistSpec> {
        const EXAMPLE: &str = "userlist \"team\" { user \"alice\" password=\"$6$…\" }";
        self.props(node, &[]);
        let name = self.named(node, "userlist", EXAMPLE);
        let mut users = Vec::new();
        for ch in self.child_nodes(node, &["user"], "in `userlist`") {
            users.extend(self.user(ch));
        }
        if users.is_empty() && node.children().is_none_or(|c| c.nodes().is_empty()) {
            self.missing(node, "userlist", "at least one `user`", EXAMPLE);
        }
        Some(UserlistSpec { name: name?, users })
    }

    /// `user NAME password=HASH`.
    fn user(&mut self, ch: &KdlNode) -> Option<UserSpec> {
        const EXAMPLE: &str = "user \"alice\" password=\"$6$…\" (from `openssl passwd -6`)";
        self.props(ch, &["password"]);
        self.max_args(ch, 1);
        self.no_children(ch);
        let name = self.required_arg(ch, "user", "a user name", EXAMPLE, UserName::parse);
        let password = self.prop(ch, "password", EXAMPLE, PasswordHash::parse);
        if Self::last_prop(ch, "password").is_none() {
            self.missing(ch, "user", "`password=` (a password hash)", EXAMPLE);
        }
        Some(UserSpec {
            name: name?,
            password,
        })
    }

    /// `basic-auth userlist=NAME realm="…" { bypass NETWORK|"trusted"… }`.
    pub(super) fn basic_auth(&mut self, ch: &KdlNode) -> Spanned<BasicAuthSpec> {
        const EXAMPLE: &str = "basic-auth userlist=\"team\" realm=\"Staging\"";
        self.props(ch, &["userlist", "realm"]);
        self.max_args(ch, 0);
        let mut b = BasicAuthSpec {
            userlist: self.prop(ch, "userlist", EXAMPLE, Ident::parse),
            realm: self.prop(ch, "realm", EXAMPLE, Realm::parse),
            bypass: Vec::new(),
        };
        if Self::last_prop(ch, "userlist").is_none() {
            self.missing(ch, "basic-auth", "`userlist=` (whose users)", EXAMPLE);
        }
        for k in self.child_nodes(ch, &["bypass"], "in `basic-auth`") {
            b.bypass.extend(self.list_child(
                k,
                "bypass",
                "bypass \"10.0.10.0/24\" \"trusted\"",
                super::policy::bypass,
            ));
        }
        Spanned {
            value: b,
            at: self.at(ch.name().span()),
        }
    }

    /// `basic-auth` into `slot`, once.
    pub(super) fn basic_auth_once(
        &mut self,
        slot: &mut Option<Spanned<BasicAuthSpec>>,
        ch: &KdlNode,
    ) {
        set_once(self, slot, ch, |cx| Some(cx.basic_auth(ch)));
    }
}
