//! Basic credentials a request carries (RFC 7617), read from its `Authorization` header the way
//! haproxy reads them, for the basic-auth rules `route` walks. The password never leaves this
//! value: its `Debug` hides it, and output shows the header through [`Credentials::shown`].

/// A user name and password from an `Authorization: Basic …` header (RFC 7617).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, (sensitive))", self.user)
    }
}

impl Credentials {
    /// Read `VALUE` of `Authorization: VALUE` as haproxy 2.6 does (`get_http_auth` in
    /// src/http_fetch.c): the header's first comma-separated element; its scheme, up to the
    /// first space, any non-empty case-insensitive prefix of `Basic`; the rest, as is,
    /// standard base64 of `USER:PASSWORD`, read as a C string (up to a NUL byte) and split at
    /// the first `:`. `None` for anything else (haproxy then treats the request as
    /// unauthenticated). Bytes that are not UTF-8 are read lossily (such a password then never
    /// matches here).
    pub fn from_header(value: &str) -> Option<Credentials> {
        use base64::Engine as _;
        let first = value.split(',').next()?.trim_matches([' ', '\t']);
        let (scheme, data) = first.split_once(' ')?;
        let basic = !scheme.is_empty()
            && scheme.len() <= 5
            && "basic".starts_with(&scheme.to_ascii_lowercase());
        if !basic {
            return None;
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(data)
            .ok()?;
        let c_string = raw.split(|b| *b == 0).next().unwrap_or_default();
        let text = String::from_utf8_lossy(c_string);
        let (user, password) = text.split_once(':')?;
        Some(Credentials {
            user: user.to_string(),
            password: password.to_string(),
        })
    }

    /// How output shows an `Authorization` header that carries `creds` (read by
    /// [`Self::from_header`]): the user, never the password.
    pub fn shown(creds: Option<&Credentials>) -> String {
        match creds {
            Some(c) => format!("Basic (user {}, password not shown)", c.user),
            None => "(not Basic credentials; not shown)".into(),
        }
    }

    /// The header value that carries them (`Basic BASE64`).
    pub fn header(user: &str, password: &str) -> String {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
    }
}
