//! The requests of the agreement test ([`super::agreement`]) and the deterministic randomness
//! behind them: every host of every env (as written, upper-case, with a port), each path class,
//! random paths, cookies (own, stale, foreign), unknown hosts; http and https, HTTP/1.1 and
//! HTTP/2. A failure is reproducible from its seed.

use std::collections::BTreeSet;

use edgeplan::model::Edge;
use edgeplan::rules::Routing;

// ---------------------------------------------------------------------------------------------
// Randomness: a small deterministic generator, so a failure is reproducible from its seed.

pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub(super) fn next(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub(super) fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
    fn subset<T: Clone>(&mut self, v: &[T], min: usize, max: usize) -> Vec<T> {
        let n = min + self.below(max - min + 1);
        let mut pool: Vec<T> = v.to_vec();
        let mut out = Vec::new();
        while out.len() < n && !pool.is_empty() {
            out.push(pool.remove(self.below(pool.len())));
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Requests: every host of every env (as written, upper-case, with a port), each path class,
// random paths, cookies, unknown hosts; http and https.

/// One request to send: what `edgeplan route` is given, and the HTTP version to use.
#[derive(Debug, Clone)]
pub(super) struct Probe {
    pub(super) url: String,
    pub(super) cookies: Vec<String>,
    pub(super) headers: Vec<String>,
    pub(super) http2: bool,
    /// The source address to send from (`curl --interface`, `route --from`); none: 127.0.0.1.
    pub(super) from: Option<std::net::IpAddr>,
}

fn random_path(rng: &mut Rng) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~/%!$&'()*+,;=:@\"<>\\^`{|}[]";
    let n = rng.below(24);
    let mut s = String::from("/");
    for _ in 0..n {
        let c = CHARS[rng.below(CHARS.len())] as char;
        // A `%` starts an escape in HAProxy's eyes too: keep it well formed.
        if c == '%' {
            s += "%2F";
        } else {
            s.push(c);
        }
    }
    s
}

fn host_variants(rng: &mut Rng, host: &str) -> Vec<String> {
    let mixed: String = host
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i % 2 == 0 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect();
    let port = *rng.pick(&["80", "443", "8443", "1"]);
    vec![
        host.to_string(),
        host.to_ascii_uppercase(),
        format!("{mixed}:{port}"),
        format!("{host}:{}", rng.pick(&["80", "443"])),
    ]
}

fn path_classes(rng: &mut Rng, edge: &Edge) -> Vec<String> {
    let mut paths: BTreeSet<String> = BTreeSet::new();
    for p in [
        "/",
        "/.well-known/acme-challenge/t0ken",
        "/.well-known/acme-challenge",
    ] {
        paths.insert(p.to_string());
    }
    for env in edge.envs.values() {
        for r in &env.routes {
            for p in &r.prefixes {
                let p = p.as_str();
                paths.insert(p.to_string());
                paths.insert(format!("{p}x/y"));
                paths.insert(format!("{}{}", p, rng.pick(&["v1/health", "chat", "a.ts"])));
                paths.insert(p.to_uppercase());
                if let Some(bare) = p.strip_suffix('/').filter(|b| !b.is_empty()) {
                    paths.insert(bare.to_string());
                }
                paths.insert(format!("/x{p}"));
                paths.insert(format!("/x?next={p}"));
                for s in &r.suffixes {
                    paths.insert(format!("{p}seg{}", s.as_str()));
                }
            }
            for s in &r.suffixes {
                let s = s.as_str();
                paths.insert(format!("/any/thing{s}"));
                paths.insert(format!("/any/thing{s}?q=1"));
                paths.insert(format!("/any/thing{s}x"));
            }
        }
    }
    for _ in 0..6 {
        let mut p = random_path(rng);
        if rng.chance(40) {
            p += &format!("?{}", &random_path(rng)[1..]);
        }
        paths.insert(p);
    }
    paths.into_iter().collect()
}

/// The cookie arguments worth trying against `edge`: none, and for each env with a sticky
/// cookie its active server's value, another server's, an unknown one, and another env's.
fn cookie_sets(edge: &Edge, routing: &Routing) -> Vec<Vec<String>> {
    let mut sets = vec![Vec::new()];
    for env in edge.envs.values() {
        let cookie = env.cookie.as_str();
        for b in routing
            .backends
            .iter()
            .filter(|b| b.env() == Some(env.name.as_str()))
        {
            for s in &b.servers {
                if let Some(v) = &s.cookie {
                    sets.push(vec![format!("{cookie}={v}")]);
                }
            }
        }
        sets.push(vec![format!("{cookie}=nobody")]);
        sets.push(vec![
            format!("{}=x", cookie.to_lowercase()),
            "other=1".into(),
        ]);
    }
    sets
}

/// Requests worth sending to `edge` (at least `count`). `trusted_source`: an address of the
/// edge's `trusted` networks the test can send from — then preview hosts and a share of the
/// others are also asked from it.
pub(super) fn probes(
    rng: &mut Rng,
    edge: &Edge,
    routing: &Routing,
    count: usize,
    trusted_source: Option<std::net::IpAddr>,
) -> Vec<Probe> {
    let mut hosts: Vec<String> = edge.public_hosts().keys().map(|h| h.to_string()).collect();
    hosts.extend(["unknown.test", "example.org", "127.0.0.1"].map(String::from));
    let schemes: Vec<&str> = if edge.listen.https.is_some() {
        vec!["http", "https"]
    } else {
        vec!["http"]
    };
    let paths = path_classes(rng, edge);
    let cookies = cookie_sets(edge, routing);
    let mut out = Vec::new();
    // Every host, in every variant, over every scheme, on a sample of paths and cookies.
    for h in &hosts {
        for v in host_variants(rng, h) {
            for scheme in &schemes {
                out.push(Probe {
                    url: format!("{scheme}://{v}{}", rng.pick(&paths)),
                    cookies: rng.pick(&cookies).clone(),
                    headers: Vec::new(),
                    http2: rng.chance(50),
                    from: None,
                });
            }
        }
    }
    // Every path class on a random known host, over https when there is one.
    for p in &paths {
        out.push(Probe {
            url: format!("{}://{}{p}", schemes[schemes.len() - 1], rng.pick(&hosts)),
            cookies: rng.pick(&cookies).clone(),
            headers: Vec::new(),
            http2: rng.chance(50),
            from: None,
        });
    }
    // Every cookie set on every env host.
    for env in edge.envs.values() {
        for c in &cookies {
            let path = rng.pick(&paths).clone();
            out.push(Probe {
                url: format!(
                    "{}://{}{path}",
                    schemes[schemes.len() - 1],
                    rng.pick(&env.hosts)
                ),
                cookies: c.clone(),
                headers: Vec::new(),
                http2: rng.chance(50),
                from: None,
            });
        }
    }
    // A Host header that differs from the URL's authority.
    out.push(Probe {
        url: format!("{}://127.0.0.1/", schemes[0]),
        cookies: Vec::new(),
        headers: vec![format!("Host={}", rng.pick(&hosts))],
        http2: false,
        from: None,
    });
    // Every way a request can name its host ambiguously (issue 15, item 4), over every scheme:
    // a list of hosts in one Host (the known one first and last), two Host headers (the same
    // and different), an empty Host, an IPv6 literal with and without a port, a trailing dot.
    let known = rng.pick(&hosts).clone();
    for scheme in &schemes {
        let mut ambiguous: Vec<Vec<String>> = vec![
            vec![format!("Host={known}, evil.test")],
            vec![format!("Host=evil.test, {known}")],
            vec!["Host=".into()],
            vec!["Host=[2001:db8::1]".into()],
            vec!["Host=[2001:db8::1]:80".into()],
            vec![format!("Host={known}.")],
            vec![format!("Host={}.:443", known.to_ascii_uppercase())],
        ];
        if *scheme == "http" {
            ambiguous.push(vec![format!("Host={known}"), format!("Host={known}")]);
            ambiguous.push(vec![
                format!("Host={known}"),
                format!("Host={}", known.to_ascii_uppercase()),
            ]);
            ambiguous.push(vec![format!("Host={known}"), "Host=evil.test".into()]);
        }
        for headers in ambiguous {
            out.push(Probe {
                url: format!("{scheme}://127.0.0.1{}", rng.pick(&paths)),
                cookies: Vec::new(),
                headers,
                http2: false,
                from: None,
            });
        }
    }
    // From a trusted source: every preview host (the idle colour, not a 403) and every env
    // host, over every scheme.
    if let Some(src) = trusted_source {
        for env in edge.envs.values() {
            let hosts: Vec<String> = env
                .preview
                .iter()
                .chain(env.hosts.iter().take(1))
                .map(|h| h.to_string())
                .collect();
            for h in hosts {
                for scheme in &schemes {
                    out.push(Probe {
                        url: format!("{scheme}://{h}{}", rng.pick(&paths)),
                        cookies: rng.pick(&cookies).clone(),
                        headers: Vec::new(),
                        http2: rng.chance(50),
                        from: Some(src),
                    });
                }
            }
        }
    }
    // Random mixes up to `count`.
    while out.len() < count {
        if let (Some(src), true) = (trusted_source, rng.chance(15)) {
            let h = rng.pick(&hosts).clone();
            out.push(Probe {
                url: format!("{}://{h}{}", rng.pick(&schemes), rng.pick(&paths)),
                cookies: rng.pick(&cookies).clone(),
                headers: Vec::new(),
                http2: rng.chance(50),
                from: Some(src),
            });
            continue;
        }
        let h = rng.pick(&hosts).clone();
        let variants = host_variants(rng, &h);
        let v = rng.pick(&variants).clone();
        out.push(Probe {
            url: format!(
                "{}://{v}{}",
                rng.pick(&schemes),
                if rng.chance(50) {
                    random_path(rng)
                } else {
                    rng.pick(&paths).clone()
                }
            ),
            cookies: rng.pick(&cookies).clone(),
            // A third claim to be someone else (issue 15, item 1); some carry the credentials
            // of a generated user, right or wrong.
            headers: {
                let mut h = if rng.chance(30) {
                    vec![
                        "X-Forwarded-For=6.6.6.6".to_string(),
                        "X-Real-IP=6.6.6.6".to_string(),
                    ]
                } else {
                    Vec::new()
                };
                // Some carry a body: of a declared length, or chunked.
                if rng.chance(30) {
                    h.push(if rng.chance(25) {
                        "Transfer-Encoding=chunked".to_string()
                    } else {
                        format!("Content-Length={}", rng.pick(&[50, 500, 5000]))
                    });
                }
                if rng.chance(40) {
                    let (user, password, _) = *rng.pick(&crate::policygen::USERS);
                    let password = if rng.chance(25) { "wrong" } else { password };
                    h.push(format!(
                        "Authorization={}",
                        edgeplan::route::Credentials::header(user, password)
                    ));
                }
                h
            },
            http2: rng.chance(50),
            from: None,
        });
    }
    // A body goes over HTTP/1.1: HTTP/2 has no chunked encoding, and when haproxy answers a
    // request before reading its body (a refusal, a placeholder) it resets the HTTP/2 stream
    // (RST_STREAM CANCEL) with the body unread — curl then fails the transfer although the
    // answer came, a property of the client, not of the routing under test.
    for p in &mut out {
        if p.headers
            .iter()
            .any(|h| h.starts_with("Transfer-Encoding=") || h.starts_with("Content-Length="))
        {
            p.http2 = false;
        }
    }
    out
}
