//! Policy rules in the routing table: each rule of the model's policies ([`crate::model::Rules`])
//! as one haproxy line, with the requests it applies to ([`Scope`]) and what it does
//! ([`PolicyAction`]), in the order haproxy evaluates them. The template writes
//! [`PolicyRule::haproxy`]; `edgeplan route` walks the same list.
//!
//! Which requests a rule applies to is decided by the route a request took, not re-tested:
//! the frontend first records the rule that takes the request in `txn.route` ([`ROUTE_VAR`];
//! each `use_backend` reads it), so a rule scoped to a route applies exactly to the requests
//! that route takes, and a later change to the request cannot change where it goes.
//!
//! Evaluation order (documented in docs/spec.md, "Policies"): the route is chosen; access rules
//! (403); rate limits (429); body limits (413, 411); basic auth (401), then the `Authorization` header removed wherever basic auth applies;
//! maintenance (503); the https redirect; request headers; `use_backend`; then, on the response — proxied or
//! answered by haproxy itself (`http-after-response`) — response headers and HSTS. Within a
//! phase: the edge's rules, then the env's or site's, then its hosts', then the route's; at each
//! place, the policies it uses in the order listed, then its inline rules. Which requests a rule
//! applies to is [`super::Scope`]; what backends carry (error pages, compression) is
//! [`super::per_backend`].

use serde::Serialize;

use super::lines::{but_from, deny_line, header_line, header_words, maintenance_line, preset};
use super::{Acl, Scope, Test};
use crate::model::{Attached, Edge, HeaderRule, Policy, Rules};

/// The variable holding the key of the rule that takes the request ([`super::Switch::key`]).
pub const ROUTE_VAR: &str = "txn.route";
/// The variable holding the client's address, as access rules see it ([`client_lines`]).
pub const CLIENT_VAR: &str = "txn.client";
/// The variable naming the prefix a route's rewrite matched ([`PolicyAction::Rewrite`]).
pub const REWRITE_VAR: &str = "txn.rewrite";
/// The header basic auth reads, removed before the request goes upstream.
pub const AUTHORIZATION: &str = "Authorization";
/// The route key of ACME challenges, which no policy touches.
pub const ACME_KEY: &str = "acme";

/// What a policy rule does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PolicyAction {
    /// Answer 403 when the client is (`inside`) or is not (`!inside`) in the ACL's networks.
    Deny {
        /// The client-network ACL.
        acl: String,
        /// True for a `deny` list, false for an `allow` list.
        inside: bool,
        /// The rule's condition (`SCOPE [!]ACL`), as the template writes it.
        when: String,
        /// The page answered (a preview host's), when not haproxy's own 403: its file on the
        /// box.
        file: Option<String>,
        /// That page's text.
        #[serde(skip)]
        body: Option<String>,
    },
    /// Answer 401 with `WWW-Authenticate: Basic realm="…"` unless the request carries the
    /// credentials of a user of the userlist, or the client is in the bypass ACL's networks.
    /// Only in the https frontend: validation refuses basic auth where a request could come
    /// over plain HTTP, so the http frontend of a TLS edge redirects such requests first.
    BasicAuth {
        /// The userlist (its users, to check credentials as haproxy's `http_auth` does).
        #[serde(skip)]
        userlist: crate::model::Userlist,
        /// Realm.
        realm: String,
        /// The client-network ACL of the bypass networks, when there are some.
        bypass: Option<String>,
        /// The variable set when the request's credentials are good (`txn.auth_N`): haproxy
        /// runs `crypt(3)` once per rule and request, not once per line that asks.
        var: String,
        /// The haproxy lines: check the credentials, then ask for them.
        lines: Vec<String>,
    },
    /// Remove the `Authorization` header of every request a basic-auth rule applies to
    /// (after every such rule checked it; bypassed clients included), so no password goes
    /// upstream.
    StripCredentials {
        /// The scopes of the basic-auth rules.
        scopes: Vec<Scope>,
    },
    /// Answer 503 with a maintenance page and `Retry-After`, unless the client is in the
    /// bypass ACL's networks.
    Maintenance {
        /// The page's file on the box (`/etc/haproxy/errors/maintenance.ID.html`).
        file: String,
        /// The page.
        #[serde(skip)]
        page: crate::model::Body,
        /// `Retry-After`, seconds.
        retry_after: u32,
        /// The client-network ACL of the bypass networks, when there are some.
        bypass: Option<String>,
        /// The rule's condition (`SCOPE !BYPASS`), as the template writes it.
        when: String,
    },
    /// A route's `rewrite=`: the first of its prefixes the path begins with becomes `to` before
    /// the request goes upstream (after the route was chosen, so routing is not affected).
    Rewrite {
        /// The route's prefixes, in order.
        prefixes: Vec<String>,
        /// What the matched prefix becomes.
        to: String,
        /// The haproxy lines: which prefix matched (`set-var(txn.rewrite)`, first wins), then
        /// one `set-path` per prefix.
        lines: Vec<String>,
    },
    /// Count the request in its place's stick table (by client address) and answer 429 with
    /// `Retry-After` when the client's rate is over the limit (the `limits` module).
    RateLimit {
        /// The stick table ([`super::table_name`]).
        table: String,
        /// The stick counter tracking it ([`super::counter`]).
        counter: u8,
        /// Requests allowed per period.
        requests: u32,
        /// The period (haproxy duration).
        period: String,
        /// `Retry-After`, seconds.
        retry_after: u64,
        /// Only requests a rule took (`txn.route` set): the edge's limit in the http listener
        /// of a TLS edge, whose other requests are redirected to https and counted there.
        routed_only: bool,
        /// The haproxy lines: track, then deny.
        lines: Vec<String>,
    },
    /// Answer 413 to a request declaring a body over `max` bytes, and 411 to a chunked one
    /// where those are refused.
    BodyLimit {
        /// Largest body, bytes.
        max: u64,
        /// Chunked bodies.
        chunked: crate::model::Chunked,
        /// The haproxy lines.
        lines: Vec<String>,
    },
    /// Change a request header before the request goes on.
    RequestHeader(HeaderRule),
    /// Change a response header (proxied or haproxy's own answer).
    ResponseHeader(HeaderRule),
}

impl PolicyAction {
    fn phase(&self) -> u8 {
        match self {
            PolicyAction::Deny { .. } => 0,
            PolicyAction::RateLimit { .. } => 1,
            PolicyAction::BodyLimit { .. } => 2,
            PolicyAction::BasicAuth { .. } => 3,
            PolicyAction::StripCredentials { .. } => 4,
            PolicyAction::Maintenance { .. } => 5,
            PolicyAction::Rewrite { .. } => 6,
            PolicyAction::RequestHeader(_) => 7,
            PolicyAction::ResponseHeader(_) => 8,
        }
    }

    /// Does the action run on the response?
    pub fn on_response(&self) -> bool {
        matches!(self, PolicyAction::ResponseHeader(_))
    }
}

/// One policy rule: one haproxy line.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyRule {
    /// Where it comes from: `policy team-only (env staging)`, `env staging`.
    pub origin: String,
    /// The requests it applies to.
    pub scope: Scope,
    /// What it does.
    pub action: PolicyAction,
    /// The line in haproxy's spelling.
    pub haproxy: String,
    /// What it does, in words, with its origin (`policy team-only: 403 to clients outside
    /// 10.0.10.0/24`): what the plan's summary compares.
    pub summary: String,
}

/// Status of an access denial.
pub const DENY_STATUS: u16 = 403;

/// The policy rules of the frontend that routes the hosts (`https` when it is the https one),
/// in evaluation order, and the client-network ACLs they name.
pub fn policy_rules(edge: &Edge, https: bool) -> (Vec<Acl>, Vec<PolicyRule>) {
    let mut out = Out {
        https,
        edge,
        acls: Vec::new(),
        rules: Vec::new(),
        auth_scopes: Vec::new(),
        auth_rules: 0,
    };
    out.place(&edge.policy, Scope::Edge, "the edge", "edge");
    // The preview hosts exist in the frontend that routes them: the https one, or the only one.
    if https || edge.listen.https.is_none() {
        for env in edge.envs.values().filter(|e| e.preview.is_some()) {
            out.preview_deny(env.name.as_str());
        }
    }
    for env in edge.envs.values() {
        let scope = Scope::Env {
            env: env.name.to_string(),
        };
        out.place(
            &env.policy,
            scope,
            &format!("env {}", env.name),
            &format!("env.{}", env.name),
        );
    }
    let sites = edge
        .outside
        .values()
        .map(|o| (&o.name, &o.policy))
        .chain(edge.placeholders.values().map(|p| (&p.name, &p.policy)))
        .chain(edge.redirects.values().map(|r| (&r.name, &r.policy)));
    for (name, policy) in sites {
        let scope = Scope::Site {
            site: name.to_string(),
        };
        out.place(
            policy,
            scope,
            &format!("site {name}"),
            &format!("site.{name}"),
        );
    }
    for env in edge.envs.values() {
        for (i, hp) in env.host_policies.iter().enumerate() {
            let scope = Scope::Hosts {
                env: env.name.to_string(),
                hosts: hp.hosts.iter().map(|h| h.to_string()).collect(),
            };
            let whose = format!("hosts {} of env {}", scope_hosts(&scope), env.name);
            // `:` cannot be in a route's name, so no route's rules share these ids.
            let id = format!("env.{}:hosts{i}", env.name);
            out.place(&hp.policy, scope, &whose, &id);
        }
    }
    for env in edge.envs.values() {
        for r in &env.routes {
            let scope = Scope::Route {
                env: env.name.to_string(),
                route: r.name.to_string(),
            };
            let whose = format!("route {} of env {}", r.name, env.name);
            if let Some(to) = &r.rewrite {
                out.rewrite(r, to, &scope, &whose, &format!("{}/{}", env.name, r.name));
            }
            out.place(
                &r.policy,
                scope,
                &whose,
                &format!("env.{}.{}", env.name, r.name),
            );
        }
    }
    if !out.auth_scopes.is_empty() {
        let scopes = std::mem::take(&mut out.auth_scopes);
        let when: Vec<String> = scopes.iter().map(Scope::haproxy).collect();
        out.rules.push(PolicyRule {
            origin: "basic auth".into(),
            scope: Scope::Edge,
            haproxy: format!(
                "http-request del-header {AUTHORIZATION} if {}",
                when.join(" || ")
            ),
            summary: format!(
                "request header {AUTHORIZATION} removed where basic auth applies ({})",
                scopes
                    .iter()
                    .map(Scope::describe)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            action: PolicyAction::StripCredentials { scopes },
        });
    }
    // Phase first, place order within a phase (a stable sort).
    out.rules.sort_by_key(|r| r.action.phase());
    (out.acls, out.rules)
}

/// The hosts of a [`Scope::Hosts`], space-separated (empty for other scopes).
fn scope_hosts(scope: &Scope) -> String {
    match scope {
        Scope::Hosts { hosts, .. } => hosts.join(" "),
        _ => String::new(),
    }
}

/// The `http-request` lines that set [`CLIENT_VAR`]: the connection's source, or the last
/// `X-Forwarded-For` address when a `trusted` network sent it (`from_trusted`).
pub fn client_lines(trusted: bool) -> Vec<String> {
    let mut lines = vec![format!("http-request set-var({CLIENT_VAR}) src")];
    if trusted {
        lines.push(format!(
            "http-request set-var({CLIENT_VAR}) req.hdr_ip(X-Forwarded-For,-1) if from_trusted \
             {{ req.hdr(X-Forwarded-For) -m found }}"
        ));
    }
    lines
}

/// The builder's state.
struct Out<'a> {
    https: bool,
    edge: &'a Edge,
    acls: Vec<Acl>,
    rules: Vec<PolicyRule>,
    /// The scopes of the basic-auth rules so far (each once).
    auth_scopes: Vec<Scope>,
    /// How many basic-auth rules so far (numbers their variables).
    auth_rules: usize,
}

impl Out<'_> {
    /// Route `r`'s rewrite to `to`; `id` tells its rules apart in [`REWRITE_VAR`].
    fn rewrite(
        &mut self,
        r: &crate::model::Route,
        to: &crate::model::PathPrefix,
        scope: &Scope,
        whose: &str,
        id: &str,
    ) {
        let cond = scope.haproxy();
        let prefixes: Vec<String> = r.prefixes.iter().map(|p| p.to_string()).collect();
        let mut lines: Vec<String> = prefixes
            .iter()
            .enumerate()
            .map(|(i, p)| {
                format!(
                    "http-request set-var({REWRITE_VAR}) str({id}:{i}) if {cond} \
                     !{{ var({REWRITE_VAR}) -m found }} {{ path_beg {p} }}"
                )
            })
            .collect();
        lines.extend(prefixes.iter().enumerate().map(|(i, p)| {
            format!(
                "http-request set-path {to}%[path,bytes({})] if {{ var({REWRITE_VAR}) -m str {id}:{i} }}",
                p.len()
            )
        }));
        self.rules.push(PolicyRule {
            origin: whose.to_string(),
            scope: scope.clone(),
            summary: format!("path {} rewritten to {to}", prefixes.join(" ")),
            haproxy: lines.join("\n"),
            action: PolicyAction::Rewrite {
                prefixes,
                to: to.to_string(),
                lines,
            },
        });
    }

    /// Who may reach env `env`'s preview host: the edge's trusted networks (the connection's
    /// source, [`super::TRUSTED_SRC_ACL`]); anyone else gets 403 and a page saying so.
    fn preview_deny(&mut self, env: &str) {
        let scope = Scope::Preview { env: env.into() };
        let when = format!("{} !{}", scope.haproxy(), super::TRUSTED_SRC_ACL);
        let file = super::preview_denied_file(env);
        self.rules.push(PolicyRule {
            origin: format!("preview of env {env}"),
            summary: format!(
                "{DENY_STATUS} to the preview host of env {env} from outside the trusted networks"
            ),
            haproxy: deny_line(Some(&file), &when),
            action: PolicyAction::Deny {
                acl: super::TRUSTED_SRC_ACL.into(),
                inside: false,
                when,
                file: Some(file),
                body: Some(super::PREVIEW_DENIED_BODY.into()),
            },
            scope,
        });
    }

    /// The rules attached at one place: its policies in order, then its inline rules (`id`
    /// names the inline rules' ACLs).
    fn place(&mut self, attached: &Attached, scope: Scope, whose: &str, id: &str) {
        for name in &attached.uses {
            let Some(Policy { rules, .. }) = self.edge.policies.get(name) else {
                continue;
            };
            let origin = format!("policy {name} ({whose})");
            self.rules_of(rules, &scope, &origin, &format!("policy.{name}"));
        }
        let origin = whose.to_string();
        self.rules_of(&attached.inline, &scope, &origin, id);
    }

    fn rules_of(&mut self, rules: &Rules, scope: &Scope, origin: &str, id: &str) {
        let cond = scope.haproxy();
        // The summary names a named policy; inline rules need no name (the scope says where).
        let from = origin
            .strip_prefix("policy ")
            .and_then(|o| o.split(" (").next())
            .map(|name| format!("policy {name}: "))
            .unwrap_or_default();
        let mut push = |action: PolicyAction, haproxy: String, words: String| {
            self.rules.push(PolicyRule {
                origin: origin.to_string(),
                scope: scope.clone(),
                action,
                haproxy,
                summary: format!("{from}{words}"),
            });
        };
        if let Some(access) = &rules.access {
            for (list, inside, suffix) in [
                (&access.deny, true, "deny"),
                (&access.allow, false, "allow"),
            ] {
                let Some(acl) = client_acl(&mut self.acls, &format!("{id}.{suffix}"), list) else {
                    continue;
                };
                let not = if inside { "" } else { "!" };
                let when = format!("{cond} {not}{acl}");
                let line = deny_line(None, &when);
                let nets: Vec<String> = list.iter().map(|n| n.to_string()).collect();
                let words = format!(
                    "{DENY_STATUS} to clients {} {}",
                    if inside { "in" } else { "outside" },
                    nets.join(" ")
                );
                let action = PolicyAction::Deny {
                    acl,
                    inside,
                    when,
                    file: None,
                    body: None,
                };
                push(action, line, words);
            }
        }
        // The http listener of a TLS edge redirects what no rule took: such a request is
        // counted once, on https.
        let redirecting = !self.https && self.edge.listen.https.is_some();
        for (action, line, words) in super::limits::limit_actions(rules, scope, &cond, redirecting)
        {
            push(action, line, words);
        }
        if let (Some(b), true) = (&rules.basic_auth, self.https)
            && let Some(userlist) = self.edge.userlists.get(&b.userlist)
        {
            let bypass = client_acl(&mut self.acls, &format!("{id}.auth-bypass"), &b.bypass);
            self.auth_rules += 1;
            let var = format!("txn.auth_{}", self.auth_rules);
            if !self.auth_scopes.contains(scope) {
                self.auth_scopes.push(scope.clone());
            }
            let when = match &bypass {
                Some(acl) => format!("{cond} !{acl}"),
                None => cond.clone(),
            };
            let lines = vec![
                format!(
                    "http-request set-var({var}) bool(1) if {when} {{ http_auth({}) }}",
                    b.userlist
                ),
                format!(
                    "http-request auth realm \"{}\" if {when} !{{ var({var}) -m bool }}",
                    b.realm
                ),
            ];
            let words = format!(
                "401 without the credentials of a user of userlist {} (realm \"{}\"){}",
                b.userlist,
                b.realm,
                but_from(&b.bypass)
            );
            let action = PolicyAction::BasicAuth {
                userlist: userlist.clone(),
                realm: b.realm.to_string(),
                bypass,
                var,
                lines: lines.clone(),
            };
            push(action, lines.join("\n"), words);
        }
        if let Some(m) = &rules.maintenance {
            let bypass = client_acl(&mut self.acls, &format!("{id}.bypass"), &m.bypass);
            let file = format!("{}/maintenance.{id}.html", super::ERRORS_DIR);
            let when = match &bypass {
                Some(acl) => format!("{cond} !{acl}"),
                None => cond.clone(),
            };
            let line = maintenance_line(&file, m.retry_after, &when);
            let words = format!(
                "maintenance: 503, Retry-After {}{}",
                m.retry_after,
                but_from(&m.bypass)
            );
            push(
                PolicyAction::Maintenance {
                    file,
                    page: m.page.clone(),
                    retry_after: m.retry_after,
                    bypass,
                    when,
                },
                line,
                words,
            );
        }
        for h in &rules.request_headers {
            push(
                PolicyAction::RequestHeader(h.clone()),
                header_line("http-request", h, &cond),
                header_words("request", h),
            );
        }
        let mut response: Vec<HeaderRule> = Vec::new();
        if let Some(s) = &rules.security_headers {
            for (name, value) in s.headers() {
                response.push(preset(name, &value));
            }
        }
        response.extend(rules.response_headers.iter().cloned());
        if let (Some(h), true) = (&rules.hsts, self.https) {
            response.push(preset("Strict-Transport-Security", &h.value()));
        }
        for h in response {
            let line = header_line("http-after-response", &h, &cond);
            let words = header_words("response", &h);
            push(PolicyAction::ResponseHeader(h), line, words);
        }
    }
}

/// The client-network ACL `name` of `networks`, declared once in `acls`; `None` without
/// networks.
fn client_acl(
    acls: &mut Vec<Acl>,
    name: &str,
    networks: &[crate::model::Network],
) -> Option<String> {
    if networks.is_empty() {
        return None;
    }
    if !acls.iter().any(|a| a.name == name) {
        acls.push(Acl::new(
            name.to_string(),
            Test::Client {
                networks: networks.iter().map(|n| n.to_string()).collect(),
            },
        ));
    }
    Some(name.to_string())
}
