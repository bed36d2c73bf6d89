//! The checked model of an edge: value types that cannot hold an invalid state, and the
//! whole-edge [`Edge`] that [`crate::validate`] builds from the decoded [`crate::spec`].
//!
//! Every string that reaches a rendered file passes through one of these constructors, so the
//! templates never have to quote or escape anything: a `Host` is a lower-cased DNS name, a
//! `PathPrefix` holds only characters that cannot end an HAProxy token or start a comment, an
//! `Ident` is safe as an HAProxy section, ACL or server name. Maps are `BTreeMap` so that every
//! walk over the model, and so every rendered byte, is in a stable order.
//!
//! Files: [`names`] (checked text: hosts, identifiers, paths, e-mail, arguments), [`net`]
//! (ports, networks, addresses, binds, socket modes), [`values`] (durations, statuses, colours
//! and the other enumerations), [`policy`] (access, header and HSTS rules and the named
//! policies that hold them), [`auth`] (userlists, password hashes, basic auth), [`edge`] (the whole-edge aggregate and its parts).

/// Longest string any spec field may hold; anything longer is refused as hostile or a mistake.
pub const MAX_STRING: usize = 4096;

/// Why a value was refused; the decoder turns this into a spanned diagnostic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// What the value should have been ("a DNS host name").
    pub expected: &'static str,
    /// What is wrong with it.
    pub reason: String,
    /// True when the value carries characters that could change the meaning of a config file.
    pub unsafe_chars: bool,
}

impl Invalid {
    fn new(expected: &'static str, reason: impl Into<String>) -> Self {
        Invalid {
            expected,
            reason: reason.into(),
            unsafe_chars: false,
        }
    }
}

/// Describe the first character that may not appear in a config token, if any.
fn forbidden_char(s: &str, allowed: impl Fn(char) -> bool) -> Option<String> {
    s.chars().find(|c| !allowed(*c)).map(|c| match c {
        '\n' => "a newline".to_string(),
        '\r' => "a carriage return".to_string(),
        '\t' => "a tab".to_string(),
        ' ' => "a space".to_string(),
        '\0' => "a NUL byte".to_string(),
        '#' => "`#` (starts a comment in haproxy.cfg)".to_string(),
        '"' | '\'' => format!("a quote `{c}`"),
        '\\' => "a backslash".to_string(),
        '`' => "a backtick".to_string(),
        c if c.is_control() => format!("control character U+{:04X}", c as u32),
        c if !c.is_ascii() => format!("non-ASCII character `{c}` (U+{:04X})", c as u32),
        c => format!("`{c}`"),
    })
}

pub(crate) fn check_chars(
    s: &str,
    expected: &'static str,
    allowed: impl Fn(char) -> bool,
) -> Result<(), Invalid> {
    if s.len() > MAX_STRING {
        return Err(Invalid::new(
            expected,
            format!("{} bytes is too long", s.len()),
        ));
    }
    if let Some(c) = s.chars().find(|c| !allowed(*c)) {
        let what = forbidden_char(s, allowed).unwrap_or_default();
        // Characters that could end a token, start a comment, quote, expand or add a line.
        let unsafe_chars =
            c.is_whitespace() || c.is_control() || !c.is_ascii() || "#\"'\\$;`".contains(c);
        return Err(Invalid {
            expected,
            reason: format!("contains {what}"),
            unsafe_chars,
        });
    }
    Ok(())
}

/// A newtype over `String` whose constructor checks it; `as_str` and `Display` give the text.
macro_rules! string_newtype {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The checked text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// `Serialize` through `Display` (the spec spelling).
macro_rules! serialize_as_display {
    ($($t:ty),*) => {$(
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    )*};
}

pub mod auth;
pub mod edge;
pub mod limits;
pub mod names;
pub mod net;
pub mod observe;
pub mod policy;
pub mod tcp;
pub mod upstream_tls;
pub mod values;

pub use auth::*;
pub use edge::*;
pub use limits::*;
pub use names::*;
pub use net::*;
pub use observe::*;
pub use policy::*;
pub use tcp::*;
pub use upstream_tls::*;
pub use values::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_lowercased_and_checked() {
        assert_eq!(Host::parse("Veza.FR").unwrap().as_str(), "veza.fr");
        for bad in [
            "",
            "a..b",
            "-a.b",
            "a b",
            "a\nb",
            "a#b",
            "é.fr",
            &"x".repeat(64),
        ] {
            assert!(Host::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Host::parse("a\nb").unwrap_err().unsafe_chars);
    }

    #[test]
    fn durations_round_trip() {
        for (s, ms, shown) in [
            ("5s", 5000, "5s"),
            ("90s", 90_000, "90s"),
            ("1h", 3_600_000, "1h"),
            ("500ms", 500, "500ms"),
            ("60s", 60_000, "1m"),
            ("0s", 0, "0ms"),
        ] {
            let d = Duration::parse(s).unwrap();
            assert_eq!(d.millis(), ms);
            assert_eq!(d.to_string(), shown);
        }
        for bad in ["5", "s", "5y", "25d", "99999999999999999999s", "5 s"] {
            assert!(Duration::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn addresses() {
        let a = Address::parse("10.0.20.105:3000").unwrap();
        assert_eq!(a.to_string(), "10.0.20.105:3000");
        assert!(Address::parse("[::1]:80").unwrap().is_loopback());
        for bad in ["x", "a:0", "a:70000", "a b:1", "[zz]:1"] {
            assert!(Address::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn patterns_fill() {
        let p = NamePattern::parse("veza-staging-{component}-{color}.lxd").unwrap();
        let (staging, web) = (
            Ident::parse("staging").unwrap(),
            Ident::parse("web").unwrap(),
        );
        let h = p.fill(&staging, &web, Color::Green, 2);
        assert_eq!(h.unwrap().as_str(), "veza-staging-web-green.lxd");
        assert!(!p.has_index());
        assert!(NamePattern::parse("veza-{component}.lxd").is_err());
        assert!(NamePattern::parse("veza-{component}-{colour}.lxd").is_err());
        let p = NamePattern::parse("{env}-{component}-{color}-{index}.lxd").unwrap();
        assert!(p.has_index());
        let h = p.fill(&staging, &web, Color::Blue, 3).unwrap();
        assert_eq!(h.as_str(), "staging-web-blue-3.lxd");
    }

    #[test]
    fn paths_refuse_config_syntax() {
        assert!(PathPrefix::parse("/api/").is_ok());
        for bad in ["api", "/a b", "/a#b", "/a\"", "/a\n"] {
            assert!(PathPrefix::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
    /// `(input, accepted)`; a refusal of a hostile value must be flagged unsafe.
    fn table<T: std::fmt::Debug>(
        parse: impl Fn(&str) -> Result<T, Invalid>,
        cases: &[(&str, bool)],
    ) {
        for (input, ok) in cases {
            let got = parse(input);
            assert_eq!(got.is_ok(), *ok, "{input:?} -> {got:?}");
            if let Err(inv) = got {
                let hostile = input.chars().any(|c| {
                    c.is_whitespace() || c.is_control() || !c.is_ascii() || "#\"'\\$;`".contains(c)
                });
                assert_eq!(inv.unsafe_chars, hostile, "{input:?} -> {inv:?}");
                assert!(!inv.reason.contains('\n'), "raw newline in {inv:?}");
            }
        }
    }

    #[test]
    fn emails() {
        table(
            Email::parse,
            &[
                ("ops@veza.fr", true),
                ("first.last+edge@mail.example.org", true),
                ("ops@localhost", false),
                ("ops.veza.fr", false),
                ("@veza.fr", false),
                ("ops@", false),
                ("a@b@veza.fr", false),
                ("ops@veza..fr", false),
                ("ops@veza.fr\n--agree-tos", false),
                ("ops @veza.fr", false),
                ("opé@veza.fr", false),
                ("ops@veza.fr;reboot", false),
            ],
        );
        assert_eq!(Email::parse("ops@Veza.FR").unwrap().as_str(), "ops@veza.fr");
        assert!(Email::parse(&format!("{}@veza.fr", "a".repeat(65))).is_err());
    }

    #[test]
    fn certificate_names() {
        table(
            CertName::parse,
            &[
                ("veza.fr", true),
                ("forgejo.talas.group", true),
                ("wild_card-2", true),
                ("0day", true),
                ("", false),
                ("Veza.fr", false),
                (".hidden", false),
                ("-x", false),
                ("a..b", false),
                ("../etc", false),
                ("a/b", false),
                ("veza fr", false),
                ("veza\u{0}fr", false),
                ("tâlas.fr", false),
            ],
        );
        assert!(CertName::parse(&"a".repeat(63)).is_ok());
        assert!(CertName::parse(&"a".repeat(64)).is_err());
    }

    #[test]
    fn cookie_names_and_idents() {
        table(
            CookieName::parse,
            &[
                ("SERVERID", true),
                ("VEZA_SERVERID_prod", true),
                ("", false),
                ("SID;Domain=x", false),
                ("S ID", false),
                ("SID=", false),
            ],
        );
        table(
            Ident::parse,
            &[
                ("prod", true),
                ("talas_vitrine", true),
                ("r720-ssh", true),
                ("", false),
                ("1prod", false),
                ("_x", false),
                ("a.b", false),
                ("web\n", false),
                ("wéb", false),
            ],
        );
        assert!(Ident::parse(&"p".repeat(63)).is_ok());
        assert!(Ident::parse(&"p".repeat(64)).is_err());
    }

    #[test]
    fn binds() {
        for (input, shown, loopback) in [
            ("*:80", ":80", false),
            ("0.0.0.0:443", "0.0.0.0:443", false),
            ("127.0.0.1:9100", "127.0.0.1:9100", true),
            ("127.3.2.1:9100", "127.3.2.1:9100", true),
            ("[::]:443", "[::]:443", false),
            ("[::1]:9100", "[::1]:9100", true),
            ("*:65535", ":65535", false),
        ] {
            let b = Bind::parse(input).unwrap();
            assert_eq!(b.to_string(), shown, "{input}");
            assert_eq!(b.is_loopback(), loopback, "{input}");
        }
        table(
            Bind::parse,
            &[
                ("*:0", false),
                ("*:70000", false),
                ("*:99999999999999999999999", false),
                ("*", false),
                ("localhost:80", false),
                ("[::1:80", false),
                ("::1]:80", false),
                ("[[::1]]:80", false),
                ("[127.0.0.1]:80", false),
                ("[]:80", false),
                ("*:80#", false),
                ("*:80 ssl", false),
                ("*:80\n", false),
            ],
        );
    }

    #[test]
    fn directories() {
        assert_eq!(
            Directory::parse("production").unwrap(),
            Directory::Production
        );
        assert_eq!(
            Directory::parse("staging").unwrap().url(),
            Directory::STAGING
        );
        table(
            Directory::parse,
            &[
                ("https://acme.example.org/directory", true),
                ("https://127.0.0.1:14000/dir", true),
                ("https://pebble:14000/dir?x=1&y=2", true),
                ("Production", false),
                ("http://acme.example.org/directory", false),
                ("https://", false),
                ("https://acme.example.org:99999/dir", false),
                ("https://acme.example.org:x/dir", false),
                ("https://acme..org/dir", false),
                ("https://acme.example.org/dir\"", false),
                ("https://acme.example.org/ dir", false),
                ("https://acme.example.org/$(x)", false),
            ],
        );
    }

    #[test]
    fn socket_modes() {
        assert_eq!(SocketMode::parse("600").unwrap().to_string(), "600");
        assert_eq!(SocketMode::parse("660").unwrap().to_string(), "660");
        assert_eq!(SocketMode::DEFAULT.to_string(), "660");
        table(
            SocketMode::parse,
            &[
                ("666", false),
                ("777", false),
                ("0600", false),
                ("", false),
                ("rw", false),
            ],
        );
        // A closed set: anything else is refused as invalid, newline or not.
        assert!(SocketMode::parse("660\n").is_err());
        assert!(
            SocketMode::parse("666")
                .unwrap_err()
                .reason
                .contains("other users")
        );
        assert!(
            !SocketMode::parse("rw")
                .unwrap_err()
                .reason
                .contains("other users")
        );
    }

    #[test]
    fn bodies() {
        for ok in [
            "",
            "Coming soon.\n",
            "Bientôt : Talas ✨\n\tÀ très vite.\n",
            "quotes \" and # and ' are just text",
        ] {
            assert_eq!(Body::parse(ok).unwrap().as_str(), ok);
        }
        for bad in [
            "a\u{0}b",
            "a\rb",
            "\u{7}",
            "\u{1b}[2J",
            "\u{7f}",
            "a\u{85}b",
        ] {
            let inv = Body::parse(bad).unwrap_err();
            assert!(inv.unsafe_chars, "{bad:?}");
        }
        assert!(Body::parse(&"x".repeat(MAX_STRING + 1)).is_err());
    }

    #[test]
    fn commands_and_paths() {
        table(
            Arg::parse,
            &[
                ("haproxy", true),
                ("-c", true),
                ("--config=/etc/haproxy/haproxy.cfg", true),
                ("", false),
                ("-c;reboot", false),
                ("$(reboot)", false),
                ("`reboot`", false),
                ("a b", false),
                ("a\nb", false),
                ("a|b", false),
                ("a>b", false),
                ("a&b", false),
            ],
        );
        assert_eq!(Arg::parse("`x`").unwrap_err().reason, "contains a backtick");
        table(
            AbsPath::parse,
            &[
                ("/etc/haproxy/certs", true),
                ("/", true),
                ("certs", false),
                ("/etc/../shadow", false),
                ("/etc/my certs", false),
                ("/etc/certs\n", false),
            ],
        );
        assert_eq!(
            AbsPath::parse("/etc/haproxy/").unwrap().as_str(),
            "/etc/haproxy"
        );
        assert_eq!(AbsPath::parse("/").unwrap().as_str(), "/");
        table(
            PathSuffix::parse,
            &[
                (".m3u8", true),
                ("/index.html", true),
                ("", false),
                ("-f", false),
                ("-thumb.jpg", false),
                (".m3u8 .ts", false),
                (".ts#", false),
            ],
        );
        table(
            LocalPath::parse,
            &[
                ("box", true),
                ("~/.ssh/keys/edge deploy", true),
                ("", false),
                ("box\n", false),
                ("box\u{0}", false),
            ],
        );
        // A hostile value is reported as such even when it is also malformed otherwise.
        assert!(PathPrefix::parse("\n/api/").unwrap_err().unsafe_chars);
        assert!(!PathPrefix::parse("api/").unwrap_err().unsafe_chars);
    }

    #[test]
    fn enums_and_ports() {
        assert_eq!(Color::parse("green").unwrap(), Color::Green);
        assert_eq!(Color::Blue.other(), Color::Green);
        assert_eq!(KeyType::parse("rsa").unwrap().as_str(), "rsa");
        assert_eq!(Balance::parse("leastconn").unwrap(), Balance::Leastconn);
        for bad in ["Blue", "", "blue\n"] {
            let inv = Color::parse(bad).unwrap_err();
            assert!(!inv.reason.contains('\n'), "{inv:?}");
        }
        assert!(KeyType::parse("dsa").is_err());
        assert!(Balance::parse("random").is_err());
        for (n, ok) in [
            (0, false),
            (1, true),
            (65535, true),
            (65536, false),
            (-1, false),
            (i128::MAX, false),
        ] {
            assert_eq!(Port::new(n).is_ok(), ok, "{n}");
        }
    }
}
