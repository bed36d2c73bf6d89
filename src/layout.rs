//! Every path edgeplan knows on the edge box, in one place: where the rendered files go, where
//! edgeplan keeps its state, and the programs and files of Debian's packages it relies on. A
//! [`BoxPath`] is absolute as the box sees it; [`BoxPath::rel`] is the same path relative to the
//! box root, as the rendered tree, the manifest and the box script's `ROOT` prefix use it.
//! (The layout of `/var/lib/edgeplan` itself is described in `transport/box.sh`.)

/// An absolute path on the edge box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoxPath(&'static str);

impl BoxPath {
    /// The path as the box sees it (`/etc/haproxy/haproxy.cfg`).
    pub const fn abs(&self) -> &'static str {
        self.0
    }

    /// Relative to the box root (`etc/haproxy/haproxy.cfg`).
    pub const fn rel(&self) -> &'static str {
        let (_, rest) = self.0.as_bytes().split_at(1);
        match std::str::from_utf8(rest) {
            Ok(s) => s,
            Err(_) => panic!("a box path is ASCII"),
        }
    }
}

// HAProxy.
/// HAProxy's configuration file.
pub const HAPROXY_CFG: BoxPath = BoxPath("/etc/haproxy/haproxy.cfg");
/// Certificate directory when the spec has no `tls` block (certificates issued ahead of TLS).
pub const DEFAULT_CERT_DIR: BoxPath = BoxPath("/etc/haproxy/certs");
/// The identity list of the rendered config's servers ([`crate::server_state`]).
pub const SERVER_IDENTITIES: BoxPath = BoxPath("/etc/haproxy/edgeplan-servers.list");
/// haproxy's `server-state-file`.
pub const SERVER_STATE: BoxPath = BoxPath("/var/lib/haproxy/server-state");
/// The helper that saves the runtime state before a reload.
pub const SAVE_STATE_HELPER: BoxPath = BoxPath("/usr/local/lib/edgeplan/haproxy-save-state");
/// The haproxy binary of Debian's package.
pub const HAPROXY_BIN: BoxPath = BoxPath("/usr/sbin/haproxy");

// systemd.
/// Where systemd units go.
pub const UNIT_DIR: BoxPath = BoxPath("/etc/systemd/system");
/// haproxy.service's drop-in.
pub const HAPROXY_DROPIN: BoxPath = BoxPath("/etc/systemd/system/haproxy.service.d/edgeplan.conf");

// certbot.
/// certbot's configuration directory.
pub const LETSENCRYPT_DIR: BoxPath = BoxPath("/etc/letsencrypt");
/// certbot's shared defaults.
pub const CLI_INI: BoxPath = BoxPath("/etc/letsencrypt/cli.ini");
/// The deploy hook (certbot runs every file of this directory after each renewal).
pub const DEPLOY_HOOK: BoxPath = BoxPath("/etc/letsencrypt/renewal-hooks/deploy/edgeplan-haproxy");
/// The self-signed placeholder maker.
pub const SELFSIGNED_HELPER: BoxPath = BoxPath("/usr/local/lib/edgeplan/selfsigned-pem");
/// The certbot binary of Debian's package.
pub const CERTBOT_BIN: BoxPath = BoxPath("/usr/bin/certbot");

// Validation.
/// Stands for the staged tree's absolute path in the check copies of a generation (the config
/// and units as validation reads them, [`crate::render::Rendered::checks`]); the box script
/// fills it in.
pub const TREE_PLACEHOLDER: &str = "@EDGEPLAN_TREE@";

// edgeplan's state.
/// The version of the state layout under [`STATE_DIR`] that this edgeplan reads and writes
/// (`STATE_DIR/layout`; no file but state there = 1, the layout before versions, whose lock was a
/// plain JSON file). Every box operation checks it: a newer one stops with
/// [`crate::transport::TransportError::Layout`]; an older one is upgraded when the lock is next
/// taken.
pub const VERSION: u32 = 2;
/// edgeplan's state directory (generations, lock, history; `transport/box.sh`).
pub const STATE_DIR: BoxPath = BoxPath("/var/lib/edgeplan");
/// Each env's colour state (`ENV.json`, [`crate::switch`]).
pub const COLORS_DIR: BoxPath = BoxPath("/var/lib/edgeplan/colors");
/// The marker of an apply that activated a generation and has not reloaded yet.
pub const PENDING_RELOAD: BoxPath = BoxPath("/var/lib/edgeplan/pending-reload");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_forms_drop_the_leading_slash() {
        assert_eq!(HAPROXY_CFG.rel(), "etc/haproxy/haproxy.cfg");
        assert!(STATE_DIR.abs().starts_with('/'));
        // The box script keeps its state where the Rust side looks for it.
        let script = include_str!("transport/box.sh");
        assert!(script.contains(&format!("S=\"$ROOT{}\"", STATE_DIR.abs())));
        assert!(script.contains(&format!("\nLAYOUT={VERSION}\n")));
    }
}
