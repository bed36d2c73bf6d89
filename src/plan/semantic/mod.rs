//! The semantic summary of a plan: what changes for the edge, not for its files — hosts added
//! or removed per env, colour and component changes, outside backends, placeholders, edge-wide
//! settings (the `settings` module), and certificate groups whose domain set changes (and will therefore be re-issued).
//!
//! The old side comes from a small [`ModelSummary`] that apply stores on the box next to the
//! manifest (`model.json` of the active generation); the new side from the build.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Build;

mod diff;
mod settings;

pub use diff::{diff, hosts_disappearing};

/// Version of `model.json`.
pub const MODEL_FORMAT_VERSION: u32 = 1;

/// A component, as far as reviewers care.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentSummary {
    /// Port in its container.
    pub port: u16,
    /// Balance mode.
    pub balance: String,
    /// Sticky cookie on.
    pub sticky: bool,
    /// The sticky cookie's name. `None` in the `model.json` of older versions (not compared
    /// then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<String>,
    /// Health-check path.
    pub health: String,
    /// What the check expects beyond `status 200` (`status 200-399, body "ok", timeout 2s`).
    /// `None` in the `model.json` of older versions and when it expects only 200.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_expect: Option<String>,
    /// Pool (backend name suffix).
    pub pool: String,
    /// Its own timeouts (`server 2m, tunnel 2h`), when it has some. `None` also in the
    /// `model.json` of older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<String>,
    /// Its servers: `NAME (COLOR) HOST`, then `:PORT` when it is not the component's port and
    /// ` weight N` when set. `None` in the `model.json` of older versions (not compared then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<Vec<String>>,
}

/// An env, as far as reviewers care.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvSummary {
    /// Public hosts.
    pub hosts: Vec<String>,
    /// Colour taking traffic.
    pub color: String,
    /// Components by name.
    pub components: BTreeMap<String, ComponentSummary>,
    /// Routes, `name: /prefix… → component`.
    pub routes: Vec<String>,
    /// Default component.
    pub default: Option<String>,
    /// The preview host (reaches the idle colour from trusted networks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<String>,
}

/// An outside backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutsideSummary {
    /// Hosts.
    pub hosts: Vec<String>,
    /// `host:port`.
    pub address: String,
}

/// A placeholder site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaceholderSummary {
    /// Hosts.
    pub hosts: Vec<String>,
    /// HTTP status.
    pub status: u16,
}

/// What a plan's semantic summary compares: `model.json` on the box and in saved plans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelSummary {
    /// [`MODEL_FORMAT_VERSION`].
    pub format_version: u32,
    /// Edge name.
    pub edge: String,
    /// Envs.
    pub envs: BTreeMap<String, EnvSummary>,
    /// Outside backends.
    pub outside: BTreeMap<String, OutsideSummary>,
    /// Placeholders.
    pub placeholders: BTreeMap<String, PlaceholderSummary>,
    /// Certificate groups: name → domains.
    pub certificates: BTreeMap<String, Vec<String>>,
    /// Policy rules by the requests they apply to (`every request`, `env staging`, `route api
    /// of env staging`, `site forgejo`): each rule in words, in evaluation order. `None` in the
    /// `model.json` of older versions (not compared then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policies: Option<BTreeMap<String, Vec<String>>>,
    /// Redirect sites: name → `HOST… -> ORIGIN (STATUS)`. `None` in the `model.json` of older
    /// versions (not compared then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirects: Option<BTreeMap<String, String>>,
    /// Userlists: name → user → fingerprint of the password hash (what
    /// [`crate::plan::secrets`] shows; never the hash). `None` in the `model.json` of older
    /// versions (not compared then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userlists: Option<BTreeMap<String, BTreeMap<String, String>>>,
    /// Edge-wide settings: name → value in words (the `settings` module). `None` in the
    /// `model.json` of older versions (not compared then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<BTreeMap<String, String>>,
}

fn strings<T: std::fmt::Display>(v: &[T]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

impl ModelSummary {
    /// The summary of a build (colours in effect, not the specs' defaults).
    pub fn of(build: &Build) -> ModelSummary {
        let edge = &build.edge;
        // Built once, read by the policies' and the settings' summaries.
        let routing = crate::rules::routing(edge, &build.colors);
        let envs = edge
            .envs
            .values()
            .map(|e| {
                let components = e
                    .components
                    .values()
                    .map(|c| {
                        let balance = serde_json::to_value(c.balance)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                            .unwrap_or_default();
                        (
                            c.name.to_string(),
                            ComponentSummary {
                                port: c.port.get(),
                                balance,
                                sticky: c.cookie.is_some(),
                                cookie: c.cookie.as_ref().map(|k| k.to_string()),
                                health: c.health.to_string(),
                                health_expect: expect_summary(&c.expect),
                                pool: c.pool.to_string(),
                                timeouts: {
                                    let t: Vec<String> = [
                                        c.timeout_server.map(|d| format!("server {d}")),
                                        c.timeout_tunnel.map(|d| format!("tunnel {d}")),
                                    ]
                                    .into_iter()
                                    .flatten()
                                    .collect();
                                    (!t.is_empty()).then(|| t.join(", "))
                                },
                                instances: Some(
                                    c.instances
                                        .iter()
                                        .map(|i| {
                                            let mut s =
                                                format!("{} ({}) {}", i.name, i.color, i.host);
                                            if i.port != c.port {
                                                s += &format!(":{}", i.port);
                                            }
                                            if let Some(w) = i.weight {
                                                s += &format!(" weight {w}");
                                            }
                                            s
                                        })
                                        .collect(),
                                ),
                            },
                        )
                    })
                    .collect();
                let routes = e
                    .routes
                    .iter()
                    .map(|r| {
                        let mut m = strings(&r.prefixes);
                        m.extend(r.suffixes.iter().map(|s| format!("*{s}")));
                        format!("{}: {} -> {}", r.name, m.join(" "), r.to)
                    })
                    .collect();
                (
                    e.name.to_string(),
                    EnvSummary {
                        hosts: strings(&e.hosts),
                        color: build.colors.of(e).to_string(),
                        components,
                        routes,
                        default: e.default.as_ref().map(|d| d.to_string()),
                        preview: e.preview.as_ref().map(|h| h.to_string()),
                    },
                )
            })
            .collect();
        ModelSummary {
            format_version: MODEL_FORMAT_VERSION,
            edge: edge.name.to_string(),
            envs,
            outside: edge
                .outside
                .values()
                .map(|o| {
                    (
                        o.name.to_string(),
                        OutsideSummary {
                            hosts: strings(&o.hosts),
                            address: o.address.to_string(),
                        },
                    )
                })
                .collect(),
            placeholders: edge
                .placeholders
                .values()
                .map(|p| {
                    (
                        p.name.to_string(),
                        PlaceholderSummary {
                            hosts: strings(&p.hosts),
                            status: p.status,
                        },
                    )
                })
                .collect(),
            certificates: edge
                .acme
                .iter()
                .flat_map(|a| a.certificates.iter())
                .map(|(n, d)| (n.to_string(), strings(d)))
                .collect(),
            policies: Some(policies(&routing)),
            settings: Some(settings::settings(edge, &routing)),
            redirects: Some(
                edge.redirects
                    .values()
                    .map(|r| {
                        let path = if r.keep_path { "" } else { " (to its root)" };
                        let text = format!(
                            "{} -> {}{path} ({})",
                            strings(&r.hosts).join(" "),
                            r.to,
                            r.status
                        );
                        (r.name.to_string(), text)
                    })
                    .collect(),
            ),
            userlists: Some(
                edge.userlists
                    .values()
                    .map(|l| {
                        let users = l
                            .users
                            .iter()
                            .map(|u| {
                                let print = crate::plan::secrets::fingerprint(u.password.haproxy());
                                (u.name.to_string(), print)
                            })
                            .collect();
                        (l.name.to_string(), users)
                    })
                    .collect(),
            ),
        }
    }

    /// Parse `model.json`.
    pub fn parse(text: &str) -> Result<ModelSummary, String> {
        let m: ModelSummary = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if m.format_version != MODEL_FORMAT_VERSION {
            return Err(format!(
                "model.json format_version {} is not supported",
                m.format_version
            ));
        }
        Ok(m)
    }

    /// Every public host and its owner (`env prod`, `outside forgejo`, `placeholder x`).
    pub fn hosts(&self) -> BTreeMap<&str, String> {
        let mut out = BTreeMap::new();
        for (n, e) in &self.envs {
            for h in &e.hosts {
                out.insert(h.as_str(), format!("env {n}"));
            }
        }
        for (n, o) in &self.outside {
            for h in &o.hosts {
                out.insert(h.as_str(), format!("outside {n}"));
            }
        }
        for (n, p) in &self.placeholders {
            for h in &p.hosts {
                out.insert(h.as_str(), format!("placeholder {n}"));
            }
        }
        out
    }

    /// An empty edge (what a fresh box serves).
    pub fn empty() -> ModelSummary {
        ModelSummary {
            format_version: MODEL_FORMAT_VERSION,
            edge: String::new(),
            envs: BTreeMap::new(),
            outside: BTreeMap::new(),
            placeholders: BTreeMap::new(),
            certificates: BTreeMap::new(),
            policies: Some(BTreeMap::new()),
            redirects: Some(BTreeMap::new()),
            userlists: Some(BTreeMap::new()),
            settings: Some(BTreeMap::new()),
        }
    }
}

/// The policy rules of a build by scope, in words ([`crate::rules::PolicyRule::summary`]), as
/// the routing table renders them.
fn policies(routing: &crate::rules::Routing) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for rule in routing.frontends.iter().flat_map(|f| &f.policies) {
        out.entry(rule.scope.describe())
            .or_default()
            .push(rule.summary.clone());
    }
    // Compression and error pages, by the backend that answers them (a page's content by its
    // hash).
    for b in &routing.backends {
        if let Some(types) = &b.compression {
            out.entry(format!("backend {}", b.name))
                .or_default()
                .push(format!("gzip compression of {}", types.join(" ")));
        }
        for p in &b.error_pages {
            let hash = crate::hash::content_hash(p.page.as_str().as_bytes());
            out.entry(format!("backend {}", b.name))
                .or_default()
                .push(format!(
                    "error page {} ({} bytes, {})",
                    p.status,
                    p.page.as_str().len(),
                    &hash[..hash.len().min(12)]
                ));
        }
    }
    out
}

/// `+`, `~` or `-`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Marker {
    /// Something appears.
    Add,
    /// Something changes.
    Change,
    /// Something disappears.
    Remove,
}

impl Marker {
    /// Terraform's symbol.
    pub fn symbol(self) -> &'static str {
        match self {
            Marker::Add => "+",
            Marker::Change => "~",
            Marker::Remove => "-",
        }
    }
}

/// One semantic change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SemanticChange {
    /// Stable kind for machines (`host_added`, `certificate_reissued`, …).
    pub kind: &'static str,
    /// `+ ~ -`.
    pub marker: Marker,
    /// What it is about (`env prod`, `certificate veza.fr`).
    pub subject: String,
    /// One line for people.
    pub message: String,
    /// Items added (hosts, domains…), when the change is about a set.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub added: Vec<String>,
    /// Items removed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<String>,
}

/// `status 200-399, body "ok", timeout 2s`; `None` for a plain `status 200`.
fn expect_summary(e: &crate::model::HealthExpect) -> Option<String> {
    let mut parts = Vec::new();
    if e.status != crate::model::StatusSet::ok() {
        parts.push(format!("status {}", e.status));
    }
    if let Some(b) = &e.body {
        parts.push(format!("body \"{b}\""));
    }
    if let Some(t) = &e.timeout {
        parts.push(format!("timeout {t}"));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Component web of env prod in `m`.
    fn prod_web(m: &mut ModelSummary) -> &mut ComponentSummary {
        m.envs
            .get_mut("prod")
            .and_then(|e| e.components.get_mut("web"))
            .unwrap()
    }

    fn model() -> ModelSummary {
        let mut m = ModelSummary::empty();
        m.edge = "e".into();
        m.envs.insert(
            "prod".into(),
            EnvSummary {
                hosts: vec!["veza.fr".into()],
                color: "blue".into(),
                components: BTreeMap::from([(
                    "web".into(),
                    ComponentSummary {
                        port: 3000,
                        balance: "roundrobin".into(),
                        sticky: false,
                        cookie: None,
                        health_expect: None,
                        health: "/".into(),
                        pool: "web_pool".into(),
                        timeouts: None,
                        instances: None,
                    },
                )]),
                routes: vec![],
                default: Some("web".into()),
                preview: None,
            },
        );
        m.certificates
            .insert("veza.fr".into(), vec!["veza.fr".into()]);
        m.placeholders.insert(
            "talas".into(),
            PlaceholderSummary {
                hosts: vec!["talas.fr".into()],
                status: 503,
            },
        );
        m
    }

    #[test]
    fn host_colour_and_certificate_changes() {
        let old = model();
        let mut new = model();
        let prod = new.envs.get_mut("prod").unwrap();
        prod.hosts.push("www.veza.fr".into());
        prod.color = "green".into();
        prod.components.get_mut("web").unwrap().port = 3001;
        new.certificates
            .get_mut("veza.fr")
            .unwrap()
            .push("www.veza.fr".into());
        new.placeholders.clear();
        let msgs: Vec<String> = diff(&old, &new)
            .iter()
            .map(|c| format!("{} {}", c.marker.symbol(), c.message))
            .collect();
        assert_eq!(
            msgs,
            [
                "+ env prod: host www.veza.fr added",
                "~ env prod: active colour blue -> green",
                "~ env prod: component web: port 3000 -> 3001",
                "- placeholder talas removed: talas.fr no longer served",
                "~ certificate veza.fr will be re-issued: + www.veza.fr",
            ]
        );
        assert_eq!(hosts_disappearing(&old, &new), ["talas.fr"]);
        assert!(diff(&old, &old).is_empty());
    }

    #[test]
    fn a_components_own_timeouts_are_named() {
        let old = model();
        let mut new = model();
        prod_web(&mut new).timeouts = Some("tunnel 2h".into());
        let msgs: Vec<String> = diff(&old, &new).iter().map(|c| c.message.clone()).collect();
        assert_eq!(
            msgs,
            ["env prod: component web: timeouts the edge's -> tunnel 2h"]
        );
    }

    #[test]
    fn credentials_changes_say_whose_never_what() {
        let users = |pairs: &[(&str, &str)]| {
            let list: BTreeMap<String, String> = pairs
                .iter()
                .map(|(u, h)| (u.to_string(), crate::plan::secrets::fingerprint(h)))
                .collect();
            Some(BTreeMap::from([("team".to_string(), list)]))
        };
        let mut old = model();
        old.userlists = users(&[("alice", "$6$a$old"), ("bob", "$6$b$same")]);
        let mut new = model();
        new.userlists = users(&[
            ("alice", "$6$a$new"),
            ("bob", "$6$b$same"),
            ("carol", "$6$c"),
        ]);
        let msgs: Vec<String> = diff(&old, &new)
            .iter()
            .map(|c| format!("{} {} {}", c.kind, c.marker.symbol(), c.message))
            .collect();
        assert_eq!(
            msgs,
            [
                "users_changed ~ userlist team: users + carol",
                "credentials_changed ~ userlist team: credentials changed for alice (not shown)",
            ]
        );
        let json = serde_json::to_string(&new).unwrap();
        assert!(!json.contains("$6$"), "{json}");
        // An older model.json (no userlists) compares nothing.
        old.userlists = None;
        assert!(diff(&old, &new).is_empty());
    }

    #[test]
    fn instance_changes_are_named() {
        let mut old = model();
        let web = |m: &mut ModelSummary| {
            prod_web(m).instances = Some(vec!["blue (blue) web-blue.lxd".into()]);
        };
        web(&mut old);
        let mut new = old.clone();
        // A model.json of an older version knows no instances: nothing to compare.
        let unknown = model();
        assert!(diff(&unknown, &new).is_empty());
        prod_web(&mut new).instances = Some(vec![
            "blue-1 (blue) web-blue-1.lxd".into(),
            "blue-2 (blue) web-blue-2.lxd weight 2".into(),
        ]);
        let msgs: Vec<String> = diff(&old, &new).iter().map(|c| c.message.clone()).collect();
        assert_eq!(
            msgs,
            [
                "env prod: component web: instances + blue-1 (blue) web-blue-1.lxd, + blue-2 (blue) web-blue-2.lxd weight 2, - blue (blue) web-blue.lxd"
            ]
        );
    }

    #[test]
    fn moving_a_host_is_not_a_disappearance() {
        let old = model();
        let mut new = model();
        new.placeholders.clear();
        new.envs
            .get_mut("prod")
            .unwrap()
            .hosts
            .push("talas.fr".into());
        assert!(hosts_disappearing(&old, &new).is_empty());
    }
}
