//! HTTP basic authentication (RFC 7617): the `userlist`s of users and password hashes, and the
//! `basic-auth` rule that asks for them.
//!
//! haproxy checks a password by running `crypt(3)` on it **in its event loop, on every request
//! that carries credentials** (haproxy 2.6 keeps no cache). A slow hash there stalls every other
//! connection of that thread, so the hashes accepted are limited to what costs a few
//! milliseconds on one core ([`PasswordHash::parse`]); `scripts/bench-auth.sh` measures
//! what each costs under haproxy. Plain-text passwords are refused (haproxy's
//! `insecure-password` exists, edgeplan does not write it).
//!
//! A [`PasswordHash`] never shows itself: its `Debug` and JSON forms are `(sensitive)`, and the
//! rendered text is only reachable through [`PasswordHash::haproxy`].

use std::fmt;

use serde::Serialize;

use super::{Ident, Invalid, Network, check_chars};

/// Most rounds accepted for SHA-crypt (`$5$`, `$6$`): twice the default of 5 000 (Drepper,
/// "Unix crypt using SHA-256 and SHA-512", which sets the minimum at 1 000). Under haproxy here
/// (`scripts/bench-auth.sh`), sha512crypt adds 2.0 ms to a request at 5 000 rounds, 3.9 ms at
/// 10 000.
pub const MAX_SHA_CRYPT_ROUNDS: u32 = 10_000;
/// Highest bcrypt cost accepted (`$2b$06$`: 2^6 rounds of its key setup). `htpasswd -B` uses 5
/// by default; every step doubles the time (under haproxy here: cost 4 adds 0.9 ms, 5 1.7 ms,
/// 6 3.3 ms; cost 10 would add about 50 ms, Caddy's default of 14 most of a second).
pub const MAX_BCRYPT_COST: u32 = 6;

/// The `crypt(3)` schemes accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum HashScheme {
    /// `$5$`: SHA-256 crypt.
    #[value(name = "sha256crypt")]
    Sha256Crypt,
    /// `$6$`: SHA-512 crypt (`openssl passwd -6`, `edgeplan hash-password`).
    #[value(name = "sha512crypt")]
    Sha512Crypt,
    /// `$2a$`, `$2b$`, `$2y$`: bcrypt (`htpasswd -B`).
    Bcrypt,
}

impl fmt::Display for HashScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HashScheme::Sha256Crypt => "sha256crypt",
            HashScheme::Sha512Crypt => "sha512crypt",
            HashScheme::Bcrypt => "bcrypt",
        })
    }
}

/// A password hash in `crypt(3)`'s format, of a scheme and cost haproxy can afford per request.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash {
    text: String,
    scheme: HashScheme,
    cost: u32,
}

/// The characters of crypt's base-64 alphabet (`./0-9A-Za-z`).
fn crypt64(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '/')
}

impl PasswordHash {
    const E: &'static str = "a password hash (`$6$…` from `openssl passwd -6` or `edgeplan \
         hash-password`, or bcrypt `$2y$05$…` from `htpasswd -nB`)";

    /// Check `s`: a SHA-crypt hash of at most [`MAX_SHA_CRYPT_ROUNDS`] rounds or a bcrypt hash of
    /// cost at most [`MAX_BCRYPT_COST`]. Nothing of `s` is repeated in the error.
    ///
    /// # Errors
    ///
    /// [`Invalid`] for plain text, another scheme (MD5, DES, yescrypt, scrypt, Argon2, `{SHA}`),
    /// a higher cost, or a malformed hash.
    pub fn parse(s: &str) -> Result<PasswordHash, Invalid> {
        let e = |reason: &str| Invalid::new(Self::E, reason);
        if s.len() > 256 || !s.chars().all(|c| c.is_ascii_graphic()) {
            return Err(e(
                "is not a password hash (a plain-text password? edgeplan never puts one in \
                 haproxy.cfg)",
            ));
        }
        let parts: Vec<&str> = s.split('$').collect();
        let scheme = parts.get(1).copied().filter(|_| s.starts_with('$'));
        match scheme {
            Some("5" | "6") => Self::sha_crypt(s, &parts),
            Some("2a" | "2b" | "2y") => Self::bcrypt(s, &parts),
            Some("1") => Err(e("is an MD5 crypt hash (`$1$`): broken, refused")),
            Some("apr1") => Err(e(
                "is an Apache MD5 hash (`$apr1$`, `htpasswd` without `-B`): crypt(3) cannot \
                 check it, so haproxy would refuse every password — use `htpasswd -nB`",
            )),
            Some("y" | "gy" | "7" | "argon2i" | "argon2id" | "argon2d" | "scrypt") => Err(e(
                "is a memory-hard hash (yescrypt, scrypt, Argon2): each costs tens of \
                 milliseconds and megabytes, which haproxy would spend in its event loop on \
                 every request — use `$6$` or bcrypt of cost 6 or less",
            )),
            _ if s.starts_with("{SHA}") => Err(e(
                "is an unsalted SHA-1 hash (`htpasswd -s`): crypt(3) cannot check it — use \
                 `htpasswd -nB`",
            )),
            _ if s.len() == 13 && crypt64(s) => Err(e(
                "looks like a DES crypt hash: it reads 8 characters of a password, refused",
            )),
            _ => Err(e(
                "is not a password hash (a plain-text password? edgeplan never puts one in \
                 haproxy.cfg)",
            )),
        }
    }

    /// `$5$[rounds=N$]SALT$HASH` or `$6$…`.
    fn sha_crypt(s: &str, parts: &[&str]) -> Result<PasswordHash, Invalid> {
        let bad = || Invalid::new(Self::E, "is a malformed SHA-crypt hash");
        let (scheme, len) = if parts[1] == "5" {
            (HashScheme::Sha256Crypt, 43)
        } else {
            (HashScheme::Sha512Crypt, 86)
        };
        let (rounds, rest) = match parts.get(2).and_then(|p| p.strip_prefix("rounds=")) {
            // Plain decimal digits only: `+5000` or `05000` parse here but not in crypt(3).
            Some(n)
                if n.is_empty() || n.starts_with('0') || !n.bytes().all(|c| c.is_ascii_digit()) =>
            {
                return Err(bad());
            }
            Some(n) => (n.parse::<u32>().map_err(|_| bad())?, &parts[3..]),
            None => (5000, &parts[2..]),
        };
        if rounds < 1000 {
            return Err(Invalid::new(
                Self::E,
                format!(
                    "has {rounds} rounds: below the minimum of 1000, which crypt(3) \
                     implementations treat differently (edgeplan could not predict haproxy)"
                ),
            ));
        }
        let [salt, hash] = rest else {
            return Err(bad());
        };
        if salt.len() > 16 || !crypt64(salt) || hash.len() != len || !crypt64(hash) {
            return Err(bad());
        }
        if rounds > MAX_SHA_CRYPT_ROUNDS {
            return Err(Invalid::new(
                Self::E,
                format!(
                    "has {rounds} rounds: haproxy would spend that on every request in its \
                     event loop; at most {MAX_SHA_CRYPT_ROUNDS} (5000 is the default)"
                ),
            ));
        }
        Ok(PasswordHash {
            text: s.to_string(),
            scheme,
            cost: rounds,
        })
    }

    /// `$2b$NN$` and 53 characters (salt and hash).
    fn bcrypt(s: &str, parts: &[&str]) -> Result<PasswordHash, Invalid> {
        let bad = || Invalid::new(Self::E, "is a malformed bcrypt hash");
        let [_, _, cost, rest] = parts else {
            return Err(bad());
        };
        let cost: u32 = (cost.len() == 2 && cost.bytes().all(|c| c.is_ascii_digit()))
            .then(|| cost.parse().ok())
            .flatten()
            .filter(|c| (4..=31).contains(c))
            .ok_or_else(bad)?;
        if rest.len() != 53 || !crypt64(rest) {
            return Err(bad());
        }
        if cost > MAX_BCRYPT_COST {
            return Err(Invalid::new(
                Self::E,
                format!(
                    "is bcrypt of cost {cost}: each step doubles the time haproxy spends on \
                     every request in its event loop; at most {MAX_BCRYPT_COST} \
                     (`htpasswd -nB -C 5`)"
                ),
            ));
        }
        Ok(PasswordHash {
            text: s.to_string(),
            scheme: HashScheme::Bcrypt,
            cost,
        })
    }

    /// The scheme.
    pub fn scheme(&self) -> HashScheme {
        self.scheme
    }

    /// Its cost: SHA-crypt rounds, or bcrypt's cost exponent.
    pub fn cost(&self) -> u32 {
        self.cost
    }

    /// The hash as haproxy.cfg holds it (`user NAME password HASH`). The only way to the text.
    pub fn haproxy(&self) -> &str {
        &self.text
    }

    /// Does `password` match? (what haproxy's `http_auth` answers; `edgeplan route` asks it).
    pub fn verify(&self, password: &str) -> bool {
        match self.scheme {
            HashScheme::Sha256Crypt => sha_crypt::sha256_check(password, &self.text).is_ok(),
            HashScheme::Sha512Crypt => sha_crypt::sha512_check(password, &self.text).is_ok(),
            HashScheme::Bcrypt => bcrypt::verify(password, &self.text).unwrap_or(false),
        }
    }

    /// A new sha512crypt hash of `password` at the default 5 000 rounds, with a random salt.
    ///
    /// # Errors
    ///
    /// As [`Self::make`].
    pub fn sha512(password: &str) -> Result<PasswordHash, String> {
        Self::make(
            password,
            HashScheme::Sha512Crypt,
            sha_crypt::ROUNDS_DEFAULT as u32,
        )
    }

    /// A new hash of `password` in `scheme` at `cost` (SHA-crypt rounds, or bcrypt's cost),
    /// with a random salt, checked as [`Self::parse`] checks a spec's.
    ///
    /// # Errors
    ///
    /// A message when the cost is out of range or the system's random source fails.
    pub fn make(password: &str, scheme: HashScheme, cost: u32) -> Result<PasswordHash, String> {
        let text = match scheme {
            HashScheme::Sha512Crypt => {
                let params = sha_crypt::Sha512Params::new(cost as usize)
                    .map_err(|e| format!("rounds {cost}: {e:?}"))?;
                sha_crypt::sha512_simple(password, &params).map_err(|e| format!("{e:?}"))?
            }
            HashScheme::Sha256Crypt => {
                let params = sha_crypt::Sha256Params::new(cost as usize)
                    .map_err(|e| format!("rounds {cost}: {e:?}"))?;
                sha_crypt::sha256_simple(password, &params).map_err(|e| format!("{e:?}"))?
            }
            HashScheme::Bcrypt => bcrypt::hash(password, cost).map_err(|e| e.to_string())?,
        };
        PasswordHash::parse(&text).map_err(|e| e.reason)
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PasswordHash({}, cost {}, (sensitive))",
            self.scheme, self.cost
        )
    }
}

impl Serialize for PasswordHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("(sensitive)")
    }
}

string_newtype!(
    /// A user name of a userlist: letters, digits, `.`, `_`, `-`, `@`, `+`, at most 64
    /// characters (RFC 7617's user-id may not hold `:`; these are also one haproxy word).
    UserName
);

impl UserName {
    /// Check `s`.
    ///
    /// # Errors
    ///
    /// [`Invalid`] for an empty or long name or another character.
    pub fn parse(s: &str) -> Result<UserName, Invalid> {
        const E: &str = "a user name (letters, digits, `.`, `_`, `-`, `@`, `+`)";
        check_chars(s, E, |c| c.is_ascii_alphanumeric() || "._-@+".contains(c))?;
        if s.is_empty() || s.len() > 64 {
            return Err(Invalid::new(E, "must be 1 to 64 characters"));
        }
        Ok(UserName(s.to_string()))
    }
}

string_newtype!(
    /// The realm a browser shows when it asks for credentials: letters, digits, spaces and
    /// `-_.,:/()`, 1 to 64 characters, no leading or trailing space.
    Realm
);

impl Realm {
    /// Check `s`.
    ///
    /// # Errors
    ///
    /// [`Invalid`] for an empty or long realm, surrounding spaces or another character.
    pub fn parse(s: &str) -> Result<Realm, Invalid> {
        const E: &str = "a realm (letters, digits, spaces, `-_.,:/()`)";
        check_chars(s, E, |c| {
            c.is_ascii_alphanumeric() || c == ' ' || "-_.,:/()".contains(c)
        })?;
        if s.is_empty() || s.len() > 64 || s.starts_with(' ') || s.ends_with(' ') {
            return Err(Invalid::new(
                E,
                "must be 1 to 64 characters, without surrounding spaces",
            ));
        }
        Ok(Realm(s.to_string()))
    }
}

/// One user of a userlist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// Name.
    pub name: UserName,
    /// Password hash (never shown).
    pub password: PasswordHash,
}

/// A list of users (haproxy's `userlist` section), named in `basic-auth userlist=…`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Userlist {
    /// Name.
    pub name: Ident,
    /// Users, in spec order, each name once.
    pub users: Vec<User>,
}

impl Userlist {
    /// The user `name`'s password matches `password`.
    pub fn check(&self, name: &str, password: &str) -> bool {
        self.users
            .iter()
            .any(|u| u.name.as_str() == name && u.password.verify(password))
    }
}

/// Ask for the credentials of a user of `userlist` (401 with `WWW-Authenticate: Basic
/// realm="…"`), but from the `bypass` networks. The `Authorization` header of an authenticated
/// request is removed before the request goes upstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BasicAuth {
    /// The userlist.
    pub userlist: Ident,
    /// The realm.
    pub realm: Realm,
    /// Networks that need no credentials (the edge's `trusted` ones when the spec says
    /// `trusted`).
    pub bypass: Vec<Network>,
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made with `openssl passwd -6 -salt saltsalt secret` and `openssl passwd -5 …`.
    const SHA512: &str = "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1";
    const SHA256: &str = "$5$saltsalt$0IyaXrmV7.sGNS6tirgqHLqX/G.FBvgkYA.lpPdS5sA";

    #[test]
    fn hashes_of_an_affordable_cost_are_accepted_and_checked() {
        let h = PasswordHash::parse(SHA512).unwrap();
        assert_eq!((h.scheme(), h.cost()), (HashScheme::Sha512Crypt, 5000));
        assert!(h.verify("secret"));
        assert!(!h.verify("Secret"));
        let h = PasswordHash::parse(SHA256).unwrap();
        assert_eq!(h.scheme(), HashScheme::Sha256Crypt);
        assert!(h.verify("secret") && !h.verify("secret "));
        let made = PasswordHash::sha512("s3cret:with colon").unwrap();
        assert!(made.verify("s3cret:with colon"));
        assert!(!made.verify("s3cret"));
        let b = bcrypt::hash("secret", 5).unwrap();
        let h = PasswordHash::parse(&b).unwrap();
        assert_eq!((h.scheme(), h.cost()), (HashScheme::Bcrypt, 5));
        assert!(h.verify("secret") && !h.verify("secreT"));
    }

    #[test]
    fn plain_text_costly_and_unsupported_hashes_are_refused_without_echo() {
        let costly_bcrypt = bcrypt::hash("secret", 7).unwrap();
        let cases = [
            ("hunter2", "plain-text"),
            ("correct horse battery staple", "plain-text"),
            ("$1$abc$def", "MD5"),
            ("$apr1$abc$def", "Apache"),
            ("$y$j9T$abc$def", "memory-hard"),
            ("{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "SHA-1"),
            ("abJnggxhB/yWI", "DES"),
            (costly_bcrypt.as_str(), "cost 7"),
            ("$6$rounds=20000$saltsalt$x", "malformed"),
            ("$6$saltsalt$short", "malformed"),
            (
                "$2b$+5$abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyza",
                "malformed",
            ),
        ];
        for (s, why) in cases {
            let e = PasswordHash::parse(s).unwrap_err();
            assert!(e.reason.contains(why), "{s}: {}", e.reason);
            assert!(
                !e.reason.contains(s),
                "the error repeats the value: {}",
                e.reason
            );
        }
        let long = format!("$6$rounds=20000$saltsalt${}", "a".repeat(86));
        let e = PasswordHash::parse(&long).unwrap_err();
        assert!(e.reason.contains("20000 rounds"), "{}", e.reason);
        for rounds in ["+5000", "05000", "", "5x"] {
            let h = format!("$6$rounds={rounds}$saltsalt${}", "a".repeat(86));
            let e = PasswordHash::parse(&h).unwrap_err();
            assert!(e.reason.contains("malformed"), "{rounds}: {}", e.reason);
        }
        let low = format!("$6$rounds=500$saltsalt${}", "a".repeat(86));
        let e = PasswordHash::parse(&low).unwrap_err();
        assert!(e.reason.contains("below the minimum"), "{}", e.reason);
    }

    #[test]
    fn a_hash_never_shows_itself() {
        let h = PasswordHash::parse(SHA512).unwrap();
        assert!(!format!("{h:?}").contains("saltsalt"));
        assert_eq!(serde_json::to_string(&h).unwrap(), "\"(sensitive)\"");
    }

    #[test]
    fn user_names_and_realms() {
        assert!(UserName::parse("alice.b@example.org").is_ok());
        for bad in ["", "a:b", "a b", "a\"b"] {
            assert!(UserName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Realm::parse("Staging (team only)").is_ok());
        for bad in ["", " a", "a\"b", "a\\b", "%[src]"] {
            assert!(Realm::parse(bad).is_err(), "{bad:?}");
        }
    }
}
