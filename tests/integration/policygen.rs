//! The policy part of the spec generator ([`crate::specgen`]): named policies, the edge-wide
//! `policies`, and rules on envs, routes, outside backends and placeholders — every rule kind
//! (`allow`, `deny`, `request-header`/`response-header` with each action, `security-headers`,
//! `hsts` with its flags, `maintenance`, `error-page`, `basic-auth` with the users of
//! [`USERS`]), with the fix-ups that keep a spec valid (no allowed network inside a
//! denied one, `hsts` only with https, `preload` only with a year and subdomains, no empty
//! policy, basic auth only where no request comes over plain HTTP). Networks include the loopback sources the agreement test sends from, so its
//! requests are allowed and denied; header names are ones the stand-ins echo or send.

use proptest::prelude::*;

/// Networks of `allow`/`deny`: the agreement test's sources (127.0.0.1, and 127.0.0.2 which
/// is trusted in the live form), a forged client (6.6.6.6), and others.
const NETWORKS: [&str; 7] = [
    "127.0.0.1",
    "127.0.0.2",
    "127.0.0.0/8",
    "6.6.6.6",
    "10.0.10.0/24",
    "2001:db8:10::/48",
    "::1",
];
/// Request header names (the stand-ins echo `x-` headers).
const REQUEST_NAMES: [&str; 3] = ["X-Env", "X-Debug", "X-Edge-Note"];
/// Response header names (the stand-ins send `Server`; the preset sets `X-Frame-Options`).
const RESPONSE_NAMES: [&str; 4] = ["X-Env", "X-Robots-Tag", "Server", "X-Frame-Options"];
const VALUES: [&str; 4] = ["a", "no-store", "100%", "noindex, nofollow"];
const ACTIONS: [&str; 3] = ["set", "add", "del"];
const REFERRERS: [&str; 2] = ["no-referrer", "strict-origin-when-cross-origin"];
const AGES: [u32; 3] = [300, 31_536_000, 63_072_000];

/// The users of the generated `userlist "team"`: name, password, hash (cheap ones: sha512crypt
/// of 1000 rounds, bcrypt of cost 4 — the agreement test checks hundreds of requests).
pub const USERS: [(&str, &str, &str); 2] = [
    (
        "alice",
        "alice-pw",
        "$6$rounds=1000$CmJSODsd.ZcmxWU4$OYwp/A3X/Mkd6RooO6RIBtc5OQFbu3Df7ezy6WhVjXUN.fup6p1vuWh/ZLFuSACQ5BEhJGXIg1pAZciX0RhVb.",
    ),
    (
        "bob",
        "bob-pw",
        "$2b$04$hZe7w78.khl9YFbIhEu4.OiSTa9p.OR8MwaSgbUOmHbxrJeiifRri",
    ),
];

/// Media types a generated `compression` lists (the stand-ins answer `text/plain`).
const COMPRESSED: [&str; 3] = [
    "\"text/plain\"",
    "\"application/json\" \"text/html\"",
    "\"image/svg+xml\" \"text/plain\" \"text/css\"",
];

/// A header rule: action, name, value (by position).
type Header = (usize, usize, usize);

/// One set of rules.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    allow: Vec<usize>,
    deny: Vec<usize>,
    request: Vec<Header>,
    response: Vec<Header>,
    /// frame-options DENY (else the default), referrer-policy (else the default).
    security: Option<(bool, Option<usize>)>,
    /// max-age, include-subdomains, preload.
    hsts: Option<(usize, bool, bool)>,
    /// A page of its own, bypass networks, Retry-After.
    maintenance: Option<(bool, Vec<usize>, Option<u32>)>,
    /// Error pages: statuses (by position) of one page.
    error_pages: Vec<usize>,
    /// Basic auth: realm given, bypass networks.
    basic_auth: Option<(bool, Vec<usize>)>,
    /// Compression: of the default types, or of a listed set (by position).
    compression: Option<Option<usize>>,
    /// Body limit: size (by position in [`BODY_LIMITS`]), chunked bodies refused.
    max_body: Option<(usize, bool)>,
    /// Rate limit: period (by position in [`RATE_PERIODS`]), of a rate the agreement test
    /// never reaches (429 is live-tested on its own: a count depends on the order of requests).
    rate_limit: Option<usize>,
}

/// Body limits (the agreement test's bodies are 50, 500 and 5000 bytes).
const BODY_LIMITS: [&str; 3] = ["100", "1k", "1m"];
/// Rate-limit periods.
const RATE_PERIODS: [&str; 3] = ["1s", "1m", "1d"];

/// Every policy of an edge.
#[derive(Debug, Clone, Default)]
pub struct Policies {
    /// Named policies `p0`, `p1`…
    defs: Vec<Rules>,
    /// Top-level `policies` (by position in `defs`, modulo).
    edge: Vec<usize>,
    /// Per env (by position): policies used, inline rules, rules per route (by position).
    /// The last: rules of its first `hosts` node (`hosts … { rules }`).
    envs: Vec<(Vec<usize>, Rules, Vec<Rules>, Rules)>,
    /// Per site (outside backends, placeholders, then redirects, by position).
    sites: Vec<Rules>,
    /// Redirect sites `rK` (serving `rK.redirect.test`): target, status, keep-path.
    redirects: Vec<(usize, usize, bool)>,
}

/// Redirect targets: an env's host, an outside origin with a port, the next redirect site
/// (a chain, never a loop).
const TARGETS: [&str; 3] = ["https://app.alpha.test", "http://example.org:8080", "next"];
const REDIRECT_STATUSES: [u16; 5] = [301, 302, 303, 307, 308];

fn full() -> impl Strategy<Value = Rules> {
    let header = || (0..ACTIONS.len(), 0..4usize, 0..VALUES.len());
    (
        prop::collection::vec(0..NETWORKS.len(), 0..=2),
        prop::collection::vec(0..NETWORKS.len(), 0..=2),
        prop::collection::vec(header(), 0..=2),
        prop::collection::vec(header(), 0..=2),
        prop::option::of((any::<bool>(), prop::option::of(0..REFERRERS.len()))),
        prop::option::of((0..AGES.len(), any::<bool>(), any::<bool>())),
        prop::collection::vec(0..4usize, 0..=2),
        prop::option::weighted(
            0.3,
            (
                any::<bool>(),
                prop::collection::vec(0..NETWORKS.len(), 0..=2),
                prop::option::of(1u32..=86_400),
            ),
        ),
        prop::option::weighted(
            0.3,
            (
                any::<bool>(),
                prop::collection::vec(0..NETWORKS.len(), 0..=1),
            ),
        ),
        (
            prop::option::weighted(0.2, prop::option::of(0..COMPRESSED.len())),
            prop::option::weighted(0.5, (0..BODY_LIMITS.len(), any::<bool>())),
            prop::option::weighted(0.2, 0..RATE_PERIODS.len()),
        ),
    )
        .prop_map(
            |(
                allow,
                deny,
                request,
                response,
                security,
                hsts,
                error_pages,
                maintenance,
                auth,
                (gzip, max_body, rate_limit),
            )| {
                Rules {
                    allow,
                    deny,
                    request,
                    response,
                    security,
                    hsts,
                    maintenance,
                    error_pages,
                    basic_auth: auth,
                    compression: gzip,
                    max_body,
                    rate_limit,
                }
            },
        )
}

/// Mostly none, sometimes some.
fn rules() -> impl Strategy<Value = Rules> {
    prop_oneof![3 => Just(Rules::default()), 1 => full()]
}

/// Policies of an edge.
pub fn policies() -> impl Strategy<Value = Policies> {
    let uses = || prop::collection::vec(0..2usize, 0..=2);
    prop_oneof![
        1 => Just(Policies::default()),
        2 => (
            prop::collection::vec(full(), 0..=2),
            uses(),
            prop::collection::vec(
                (uses(), rules(), prop::collection::vec(rules(), 4), rules()),
                3,
            ),
            prop::collection::vec(rules(), 6),
            prop::collection::vec((0..TARGETS.len(), 0..REDIRECT_STATUSES.len(), any::<bool>()), 0..=2),
        )
            .prop_map(|(defs, edge, envs, sites, redirects)| Policies {
                defs,
                edge,
                envs,
                sites,
                redirects,
            }),
    ]
}

impl Rules {
    /// These rules without error pages and compression (for a place without backends of its
    /// own).
    fn without_pages(&self) -> Rules {
        Rules {
            error_pages: Vec::new(),
            compression: None,
            ..self.clone()
        }
    }

    /// These rules without a rate limit (for a named policy, which could meet a second one
    /// where it is used, and a `hosts` block, where none may stand).
    fn without_rate(&self) -> Rules {
        Rules {
            rate_limit: None,
            ..self.clone()
        }
    }

    /// The rule nodes, each line indented by `indent`; `https` when the edge has an https
    /// listener and `auth` when basic auth may stand here (no request of the place comes over
    /// plain HTTP). Empty when there is no rule.
    fn text(&self, indent: &str, https: bool, auth: bool) -> String {
        let net = |i: &usize| edgeplan::model::Network::parse(NETWORKS[*i]).unwrap();
        let deny: Vec<usize> = dedup(&self.deny);
        // An allowed network inside a denied one is refused by `check`.
        let allow: Vec<usize> = dedup(&self.allow)
            .into_iter()
            .filter(|a| !deny.iter().any(|d| net(d).contains(&net(a))))
            .collect();
        let mut s = String::new();
        for (node, list) in [("allow", &allow), ("deny", &deny)] {
            if !list.is_empty() {
                let n: Vec<String> = list
                    .iter()
                    .map(|i| format!("\"{}\"", NETWORKS[*i]))
                    .collect();
                s += &format!("{indent}{node} {}\n", n.join(" "));
            }
        }
        for (node, names, list) in [
            ("request-header", &REQUEST_NAMES[..], &self.request),
            ("response-header", &RESPONSE_NAMES[..], &self.response),
        ] {
            for (action, name, value) in list {
                let name = names[name % names.len()];
                s += &match ACTIONS[*action] {
                    "del" => format!("{indent}{node} del \"{name}\"\n"),
                    a => format!("{indent}{node} {a} \"{name}\" \"{}\"\n", VALUES[*value]),
                };
            }
        }
        if let Some((own_page, bypass, retry)) = &self.maintenance {
            s += &format!("{indent}maintenance");
            if let Some(r) = retry {
                s += &format!(" retry-after={r}");
            }
            s += " {\n";
            if *own_page {
                s += &format!("{indent}    page \"<h1>Back soon</h1>\\n<p>100% sure</p>\\n\"\n");
            }
            let b = dedup(bypass);
            if !b.is_empty() {
                let n: Vec<String> = b.iter().map(|i| format!("\"{}\"", NETWORKS[*i])).collect();
                s += &format!("{indent}    bypass {}\n", n.join(" "));
            }
            s += &format!("{indent}}}\n");
        }
        let statuses: Vec<String> = dedup(&self.error_pages)
            .iter()
            .map(|i| [500, 502, 503, 504][*i].to_string())
            .collect();
        if !statuses.is_empty() {
            s += &format!(
                "{indent}error-page {} {{\n{indent}    page \"<h1>{}</h1>\"\n{indent}}}\n",
                statuses.join(" "),
                statuses.join(",")
            );
        }
        if let (Some((realm, bypass)), true) = (&self.basic_auth, auth && https) {
            s += &format!("{indent}basic-auth userlist=\"team\"");
            if *realm {
                s += " realm=\"Team (private), staging\"";
            }
            let b = dedup(bypass);
            if b.is_empty() {
                s += "\n";
            } else {
                let n: Vec<String> = b.iter().map(|i| format!("\"{}\"", NETWORKS[*i])).collect();
                s += &format!(" {{\n{indent}    bypass {}\n{indent}}}\n", n.join(" "));
            }
        }
        if let Some((size, refuse)) = self.max_body {
            s += &format!("{indent}max-body \"{}\"", BODY_LIMITS[size]);
            s += if refuse {
                " chunked=\"refuse\"\n"
            } else {
                "\n"
            };
        }
        if let Some(period) = self.rate_limit {
            s += &format!(
                "{indent}rate-limit requests=1000000 period=\"{}\"\n",
                RATE_PERIODS[period]
            );
        }
        match self.compression {
            Some(None) => s += &format!("{indent}compression\n"),
            Some(Some(k)) => s += &format!("{indent}compression {}\n", COMPRESSED[k]),
            None => {}
        }
        if let Some((deny_frames, referrer)) = self.security {
            s += &format!("{indent}security-headers");
            if deny_frames {
                s += " frame-options=\"DENY\"";
            }
            if let Some(r) = referrer {
                s += &format!(" referrer-policy=\"{}\"", REFERRERS[r]);
            }
            s += "\n";
        }
        if let (Some((age, include, preload)), true) = (self.hsts, https) {
            let age = AGES[age];
            s += &format!("{indent}hsts max-age={age}");
            if include {
                s += " include-subdomains=#true";
            }
            if preload && include && age >= 31_536_000 {
                s += " preload=#true";
            }
            s += "\n";
        }
        s
    }
}

fn dedup(v: &[usize]) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    for x in v {
        if !out.contains(x) {
            out.push(*x);
        }
    }
    out
}

/// `policies "p0" "p1"` for the used positions that exist, each once; empty when none.
fn uses_text(uses: &[usize], defs: usize, indent: &str) -> String {
    if defs == 0 {
        return String::new();
    }
    let names: Vec<String> = dedup(&uses.iter().map(|u| u % defs).collect::<Vec<_>>())
        .iter()
        .map(|u| format!("\"p{u}\""))
        .collect();
    if names.is_empty() {
        String::new()
    } else {
        format!("{indent}policies {}\n", names.join(" "))
    }
}

impl Policies {
    /// The definitions and the edge-wide `policies`, for edge.kdl (with the userlist of
    /// [`USERS`] on an https edge); `plain` when some env serves hosts over plain HTTP (no
    /// policy may then ask for basic auth: the edge-wide ones apply there).
    pub fn edge_text(&self, https: bool, plain: bool) -> String {
        let mut s = String::new();
        if https {
            s += "userlist \"team\" {\n";
            for (name, _, hash) in USERS {
                s += &format!("    user \"{name}\" password=\"{hash}\"\n");
            }
            s += "}\n";
        }
        for (i, d) in self.defs.iter().enumerate() {
            let mut body = d.without_rate().text("    ", https, !plain);
            if body.is_empty() {
                // A policy needs a rule.
                body = format!("    response-header set \"X-Policy\" \"p{i}\"\n");
            }
            s += &format!("policy \"p{i}\" {{\n{body}}}\n");
        }
        s + &uses_text(&self.edge, self.defs.len(), "")
    }

    /// `text` of env number `env` with its rules: the env's before its closing `}`, its first
    /// `hosts` node's in a block, each route's (`route "rK"`) at the top of its block.
    pub fn env_text(&self, env: usize, text: &str, https: bool) -> String {
        let Some((uses, inline, routes, on_hosts)) = self.envs.get(env) else {
            return text.to_string();
        };
        let mut out = String::new();
        let auth = !text.contains("plain-http=#true");
        let mut first_hosts = true;
        for line in text.lines() {
            if line == "}" {
                out += &uses_text(uses, self.defs.len(), "    ");
                out += &inline.text("    ", https, auth);
            }
            // The first `hosts` node gets a block of rules for those hosts.
            if line.starts_with("    hosts ") && std::mem::take(&mut first_hosts) {
                let rules = on_hosts
                    .without_pages()
                    .without_rate()
                    .text("        ", https, auth);
                if !rules.is_empty() {
                    out += &format!("{line} {{\n{rules}    }}\n");
                    continue;
                }
            }
            out += line;
            out += "\n";
            if let Some(k) = line
                .strip_prefix("    route \"r")
                .and_then(|r| r.split('"').next())
                .and_then(|k| k.parse::<usize>().ok())
                && let Some(r) = routes.get(k)
            {
                out += &r.without_pages().text("        ", https, auth);
            }
        }
        out
    }

    /// The redirect sites, and their names and hosts (for certificates). Targets this edge
    /// serves are `https://` only when it has an https listener (else no certificate covers
    /// them).
    pub fn redirects_text(&self, https: bool) -> (String, Vec<(String, Vec<String>)>) {
        let mut s = String::new();
        let mut owners = Vec::new();
        let own = if https { "https" } else { "http" };
        for (k, (target, status, keep)) in self.redirects.iter().enumerate() {
            let to = match TARGETS[*target] {
                "next" if k + 1 < self.redirects.len() => {
                    format!("{own}://r{}.redirect.test", k + 1)
                }
                "next" => "https://example.org".to_string(),
                t => t.replace("https://app.alpha.test", &format!("{own}://app.alpha.test")),
            };
            let host = format!("r{k}.redirect.test");
            s += &format!(
                "redirect \"r{k}\" to=\"{to}\" status={}{} {{\n    hosts \"{host}\"\n}}\n",
                REDIRECT_STATUSES[*status],
                if *keep { "" } else { " keep-path=#false" }
            );
            owners.push((format!("r{k}"), vec![host]));
        }
        (s, owners)
    }

    /// `text` (outside backends, placeholders, redirects) with each site's rules after its
    /// `hosts`.
    pub fn sites_text(&self, text: &str, https: bool) -> String {
        let mut out = String::new();
        // The site, and whether it has a backend of its own (error pages need one).
        // The site, whether it has a backend of its own (error pages need one), and whether
        // basic auth may stand there (not on a redirect site, nor over plain HTTP).
        let mut site: Option<(usize, bool, bool)> = None;
        let mut count = 0;
        for line in text.lines() {
            out += line;
            out += "\n";
            if ["outside \"", "placeholder \"", "redirect \""]
                .iter()
                .any(|k| line.starts_with(k))
            {
                let redirect = line.starts_with("redirect ");
                site = Some((count, line.starts_with("outside "), !redirect));
                count += 1;
            } else if line.starts_with("    hosts ")
                && let Some((k, own, auth)) = site.take()
                && let Some(r) = self.sites.get(k)
            {
                let r = if own { r.clone() } else { r.without_pages() };
                let auth = auth && !line.contains("plain-http=#true");
                out += &r.text("    ", https, auth);
            }
        }
        out
    }
}
