//! How a request's way through the edge ends, as one value: refused with 400, redirected,
//! answered by HAProxy itself, left without a server (503), or forwarded to a server — each
//! variant carrying the data of that ending and nothing else, so that, say, a redirect without a
//! `Location` or a forwarded request without a backend cannot be written down.
//!
//! [`explain`](super::explain) decides it and the text printer reads it. The flat fields of the
//! JSON document (`outcome`, `status`, `backend`, `chosen_server`… in format 1) are spelled out
//! from it by the accessors below, in this one place, so they cannot disagree with it.

use super::{Outcome, SetCookie};
use crate::rules::BackendKind;

/// What the edge does with the request in the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The request names no host, or more than one: the frontend's first rule
    /// (`http-request deny deny_status 400`) answers 400 before any other runs.
    BadRequest {
        /// Why, as [`Request::host_problem`](super::Request::host_problem) says it.
        reason: &'static str,
    },
    /// An access rule refuses the client ([`crate::rules::PolicyAction::Deny`]): HAProxy
    /// answers 403 before the redirect and `use_backend`.
    Denied {
        /// HTTP status (403).
        status: u16,
        /// The rule's origin (`policy team-only (env staging)`).
        by: String,
        /// Path of the page on the box, when not haproxy's own (a preview host's).
        body_file: Option<String>,
    },
    /// A body limit refuses the request before its body is forwarded: 413 for a declared
    /// length over the limit, 411 for a chunked body where those are refused
    /// ([`crate::rules::PolicyAction::BodyLimit`]).
    BodyRefused {
        /// HTTP status (413 or 411).
        status: u16,
        /// The rule's origin.
        by: String,
        /// Why, in words.
        reason: String,
    },
    /// A basic-auth rule asks for credentials: HAProxy answers 401 with
    /// `WWW-Authenticate: Basic realm="…"`, before maintenance, the redirect and `use_backend`.
    Unauthorized {
        /// The realm.
        realm: String,
        /// The rule's origin.
        by: String,
    },
    /// A maintenance rule answers 503 with its page and `Retry-After`, before the redirect and
    /// `use_backend`.
    Maintenance {
        /// Path of the page on the box.
        body_file: String,
        /// `Retry-After`, seconds.
        retry_after: u32,
        /// The rule's origin.
        by: String,
    },
    /// The http → https redirect fires: HAProxy answers it before any `use_backend` rule.
    Redirect {
        /// HTTP status (301).
        status: u16,
        /// The `Location` header: `https://`, the routed host, the https port when it is not
        /// 443, the URI.
        location: String,
    },
    /// A static backend (a placeholder site, the default 503): HAProxy answers a fixed status
    /// and body itself.
    Static {
        /// The backend.
        backend: Reached,
        /// HTTP status.
        status: u16,
        /// Path of the body file on the box.
        body_file: String,
    },
    /// A backend with servers, none of which takes traffic: HAProxy answers 503.
    NoServer {
        /// The backend.
        backend: Reached,
        /// What it serves.
        role: Role,
        /// The backend's error page for 503, when it has one (else haproxy's own).
        page: Option<String>,
    },
    /// Forwarded to a server of the backend, which answers.
    Forward {
        /// The backend.
        backend: Reached,
        /// What it serves.
        role: Role,
        /// Which server takes the request, and the cookie the response sets.
        server: ServerChoice,
    },
}

/// The backend a request reached, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reached {
    /// Section name.
    pub name: String,
    /// True when no `use_backend` rule matched and `default_backend` took the request.
    pub by_default: bool,
}

/// What a backend with servers serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// A component pool of an env.
    Pool {
        /// Env name.
        env: String,
        /// Component name.
        component: String,
    },
    /// An outside backend (a service the specs do not deploy).
    Outside,
    /// ACME http-01 challenges to certbot's standalone listener.
    Acme,
}

/// Which server takes a forwarded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerChoice {
    /// The request's sticky cookie names an active server: it takes the request, and the
    /// response sets no cookie.
    Pinned(Chosen),
    /// The backend picks the server without a cookie.
    Balanced {
        /// The server, when the request fixes it.
        pick: Pick,
        /// The sticky cookie the response sets, when the backend has one.
        sets_cookie: Option<SetCookie>,
    },
}

/// The server a backend picks without a cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick {
    /// Fixed by the request: the only active server, or the one HAProxy's consistent hash
    /// gives the URI.
    Server(Chosen),
    /// Not fixed by the request: these active servers (names, in config order) take turns.
    OneOf(Vec<String>),
}

/// A server that takes the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    /// Server name.
    pub name: String,
    /// `host:port`.
    pub address: String,
}

impl Verdict {
    /// The kind of ending, without its data (the JSON's `outcome`).
    pub fn outcome(&self) -> Outcome {
        match self {
            Verdict::BadRequest { .. } => Outcome::BadRequest,
            Verdict::Denied { .. } => Outcome::Denied,
            Verdict::BodyRefused { .. } => Outcome::BodyRefused,
            Verdict::Maintenance { .. } => Outcome::Maintenance,
            Verdict::Unauthorized { .. } => Outcome::Unauthorized,
            Verdict::Redirect { .. } => Outcome::Redirect,
            Verdict::Static { .. } => Outcome::Static,
            Verdict::NoServer { .. } => Outcome::NoServer,
            Verdict::Forward { .. } => Outcome::Forward,
        }
    }

    /// The status HAProxy answers with itself; `None` when a server answers.
    pub fn status(&self) -> Option<u16> {
        match self {
            Verdict::BadRequest { .. } => Some(400),
            Verdict::Redirect { status, .. }
            | Verdict::Static { status, .. }
            | Verdict::Denied { status, .. }
            | Verdict::BodyRefused { status, .. } => Some(*status),
            Verdict::NoServer { .. } | Verdict::Maintenance { .. } => Some(503),
            Verdict::Unauthorized { .. } => Some(401),
            Verdict::Forward { .. } => None,
        }
    }

    /// The `Location` of a redirect.
    pub fn location(&self) -> Option<&str> {
        match self {
            Verdict::Redirect { location, .. } => Some(location),
            _ => None,
        }
    }

    /// The backend, unless the request was refused or redirected before reaching one.
    pub fn backend(&self) -> Option<&Reached> {
        match self {
            Verdict::BadRequest { .. }
            | Verdict::Redirect { .. }
            | Verdict::Denied { .. }
            | Verdict::BodyRefused { .. }
            | Verdict::Unauthorized { .. }
            | Verdict::Maintenance { .. } => None,
            Verdict::Static { backend, .. }
            | Verdict::NoServer { backend, .. }
            | Verdict::Forward { backend, .. } => Some(backend),
        }
    }

    /// What the backend serves, for backends with servers.
    pub fn role(&self) -> Option<&Role> {
        match self {
            Verdict::NoServer { role, .. } | Verdict::Forward { role, .. } => Some(role),
            _ => None,
        }
    }

    /// The backend's kind, when a backend was reached.
    pub fn kind(&self) -> Option<BackendKind> {
        match (self, self.role()) {
            (Verdict::Static { .. }, _) => Some(BackendKind::Static),
            (_, Some(Role::Pool { .. })) => Some(BackendKind::Pool),
            (_, Some(Role::Outside)) => Some(BackendKind::Outside),
            (_, Some(Role::Acme)) => Some(BackendKind::Acme),
            (_, None) => None,
        }
    }

    /// Env and component of a pool.
    pub fn pool(&self) -> Option<(&str, &str)> {
        match self.role() {
            Some(Role::Pool { env, component }) => Some((env, component)),
            _ => None,
        }
    }

    /// The body file of a static answer.
    pub fn body_file(&self) -> Option<&str> {
        match self {
            Verdict::Static { body_file, .. } | Verdict::Maintenance { body_file, .. } => {
                Some(body_file)
            }
            Verdict::NoServer { page, .. } => page.as_deref(),
            Verdict::Denied { body_file, .. } => body_file.as_deref(),
            _ => None,
        }
    }

    /// The server that takes the request, when it is determined.
    pub fn chosen_server(&self) -> Option<&Chosen> {
        match self {
            Verdict::Forward {
                server:
                    ServerChoice::Pinned(c)
                    | ServerChoice::Balanced {
                        pick: Pick::Server(c),
                        ..
                    },
                ..
            } => Some(c),
            _ => None,
        }
    }

    /// The server the request's sticky cookie pins.
    pub fn pinned_server(&self) -> Option<&Chosen> {
        match self {
            Verdict::Forward {
                server: ServerChoice::Pinned(c),
                ..
            } => Some(c),
            _ => None,
        }
    }

    /// The cookie the response sets.
    pub fn sets_cookie(&self) -> Option<&SetCookie> {
        match self {
            Verdict::Forward {
                server: ServerChoice::Balanced { sets_cookie, .. },
                ..
            } => sets_cookie.as_ref(),
            _ => None,
        }
    }
}
