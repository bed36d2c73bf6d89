//! The runtime API: take one instance of a component out of rotation gracefully (`drain`), hard
//! (`maint`), or put it back (`ready`), and list every instance's state, health and sessions —
//! through HAProxy's admin socket on the edge box, over the target's transport.
//!
//! The box script's `admin` operation runs each command on the admin socket with `socat` (which
//! the box needs for this) and answers one blob per command; [`Runtime`] wraps it. Names come
//! from the specs: env + component → backend `<env>_<pool>`, instance → server name.
//!
//! HAProxy keeps such changes across reloads when the state is saved to its `server-state-file`
//! just before the reload (the box script's `save-state`, which `apply` runs before every reload)
//! and the config says `load-server-state-from-file global` (the template does).
//! A server the config renders `disabled` (the inactive colour) is left alone by `ready` and
//! `drain`: making it take traffic is `edgeplan switch`'s job.

// Diagnostics carry their help texts by design; they are cold and returned once per run.
#![allow(clippy::result_large_err)]

mod change;
mod instances;
pub mod rotation;
mod runtime;

pub use change::*;
pub use instances::*;
pub use runtime::*;

use miette::Diagnostic;
use serde::Serialize;
use thiserror::Error;

use crate::transport::TransportError;

/// Version of the JSON documents of `edgeplan server`.
pub const FORMAT_VERSION: u32 = 1;

/// A problem with `edgeplan server`.
#[derive(Debug, Error, Diagnostic)]
pub enum ServerError {
    /// The env is not in the specs.
    #[error("unknown env `{name}`")]
    #[diagnostic(code(edgeplan::server::unknown_env), help("{help}"))]
    UnknownEnv {
        /// The name given.
        name: String,
        /// Suggestion or the known names.
        help: String,
    },
    /// The component is not in the env.
    #[error("env `{env}` has no component `{name}`")]
    #[diagnostic(code(edgeplan::server::unknown_component), help("{help}"))]
    UnknownComponent {
        /// The env.
        env: String,
        /// The name given.
        name: String,
        /// Suggestion or the known names.
        help: String,
    },
    /// The instance is not in the component.
    #[error("component `{component}` of env `{env}` has no instance `{name}`")]
    #[diagnostic(code(edgeplan::server::unknown_instance), help("{help}"))]
    UnknownInstance {
        /// The env.
        env: String,
        /// The component.
        component: String,
        /// The name given.
        name: String,
        /// Suggestion or the known names.
        help: String,
    },
    /// The admin socket is not there, or haproxy does not answer on it.
    #[error("target `{target}`: {message}")]
    #[diagnostic(
        code(edgeplan::server::no_admin_socket),
        help(
            "is haproxy running on the box with the config edgeplan applied? It opens the admin socket of the specs' `admin-socket` ({endpoint})"
        )
    )]
    NoAdminSocket {
        /// Target.
        target: String,
        /// What the box said.
        message: String,
        /// The endpoint tried.
        endpoint: String,
    },
    /// socat is missing on the box.
    #[error("target `{target}`: socat is not installed on the box")]
    #[diagnostic(
        code(edgeplan::server::no_socat),
        help(
            "edgeplan talks to haproxy's admin socket with socat on the box: install it (Debian: `apt-get install socat`)"
        )
    )]
    NoSocat {
        /// Target.
        target: String,
    },
    /// The running haproxy has no such server.
    #[error("target `{target}`: the running haproxy has no server `{backend}/{server}`")]
    #[diagnostic(
        code(edgeplan::server::not_running),
        help(
            "the specs name it, but the box runs another config: apply the specs first (`edgeplan plan` shows the difference)"
        )
    )]
    NotRunning {
        /// Target.
        target: String,
        /// Backend.
        backend: String,
        /// Server.
        server: String,
    },
    /// `ready`/`drain` on a server of the inactive colour.
    #[error(
        "instance `{instance}` of {env}/{component} is in the inactive colour {color}: the config has it `disabled`"
    )]
    #[diagnostic(
        code(edgeplan::server::inactive_color),
        help(
            "`{action}` would let it take traffic next to the active colour; `edgeplan switch {env} {color}` moves traffic to it"
        )
    )]
    InactiveColor {
        /// Env.
        env: String,
        /// Component.
        component: String,
        /// Instance.
        instance: String,
        /// Its colour.
        color: String,
        /// The action refused.
        action: String,
    },
    /// haproxy refused a command or answered something unexpected.
    #[error("target `{target}`: haproxy answered `{command}` with: {answer}")]
    #[diagnostic(code(edgeplan::server::refused))]
    Refused {
        /// Target.
        target: String,
        /// The command.
        command: String,
        /// Its answer.
        answer: String,
    },
    /// `--wait` ran out of time.
    #[error("{backend}/{server}: {what} after {waited}")]
    #[diagnostic(
        code(edgeplan::server::timeout),
        help(
            "the state change is in place; wait longer (`--timeout`), or use `maint` to re-dispatch sticky clients"
        )
    )]
    Timeout {
        /// Backend.
        backend: String,
        /// Server.
        server: String,
        /// What was still not done.
        what: String,
        /// How long it waited.
        waited: String,
    },
    /// A transport problem.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Transport(#[from] TransportError),
}

/// What to do with an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Back in rotation.
    Ready,
    /// No new non-sticky requests; sticky clients and open sessions stay.
    Drain,
    /// No requests at all; sticky clients are re-dispatched (`option redispatch`).
    Maint,
}

impl Action {
    /// The runtime API's word.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Ready => "ready",
            Action::Drain => "drain",
            Action::Maint => "maint",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Color;

    const STATE: &str = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n\
2 b 5 blue-1 127.0.0.1 0 1 1 1 0 1 0 0 0 0 0 1 - 1 - 0 0 - - 0\n\
2 b 2 blue-2 127.0.0.1 2 8 20 20 0 1 0 2 0 0 0 0 - 2 - 0 0 - - 0\n\
2 b 3 green-1 127.0.0.1 0 5 1 1 1 1 0 0 8 0 0 0 - 3 - 0 0 - - 0\n\
2 b 4 green-2 127.0.0.1 2 4 1 1 1 1 0 0 8 0 0 0 - 3 - 0 0 - - 0\n\n";

    #[test]
    fn servers_state_parses_and_names_admin_states() {
        let rows = parse_servers_state(STATE).unwrap();
        let got: Vec<(&str, AdminState, u32)> = rows
            .iter()
            .map(|r| (r.server.as_str(), AdminState::of(r.admin_state), r.weight))
            .collect();
        assert_eq!(
            got,
            [
                ("blue-1", AdminState::Maint, 1),
                ("blue-2", AdminState::Drain, 20),
                ("green-1", AdminState::Disabled, 1),
                // `ready` on a disabled server: it takes traffic despite the config.
                ("green-2", AdminState::Ready, 1),
            ]
        );
        assert!(parse_servers_state("").is_err());
        assert!(parse_servers_state("2\n# x\n").is_err());
        assert!(parse_servers_state("Can't find backend.\n").is_err());
    }

    #[test]
    fn stat_csv_parses() {
        let rows = parse_stat("# pxname,svname,scur,status\nb,blue-1,3,UP\nb,blue-2,0,DRAIN\n");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1]["status"], "DRAIN");
        assert!(parse_stat("nothing").is_empty());
    }

    #[test]
    fn names_are_found_with_suggestions() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/specs/valid/lab_topology");
        let edge = crate::load(&dir).map_err(|p| format!("{p:?}")).unwrap().1;
        let n = find(&edge, "lab", "backend", "backend-api-2").unwrap();
        assert_eq!(n.backend, "lab_api_pool");
        assert_eq!(n.instance.color, Color::Blue);
        let e = find(&edge, "lba", "backend", "x").unwrap_err();
        assert!(matches!(&e, ServerError::UnknownEnv { help, .. } if help.contains("lab")));
        let e = find(&edge, "lab", "api", "x").unwrap_err();
        assert!(
            matches!(&e, ServerError::UnknownComponent { help, .. } if help.contains("backend, stream"))
        );
        let e = find(&edge, "lab", "stream", "stream-srv-9").unwrap_err();
        assert!(
            matches!(&e, ServerError::UnknownInstance { help, .. } if help.contains("did you mean"))
        );
    }
}
