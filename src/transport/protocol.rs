//! The box script's reply protocol (`box.sh`): the line every reply starts with, and what its
//! exit codes mean — one place, so the Rust side and the script cannot drift apart silently
//! (the script's own header comment lists the same codes).

/// The first line of every reply (protocol version 1), newline included.
pub const HEADER: &[u8] = b"edgeplan-box 1\n";

/// How the box script ended (`box.sh`'s `exit N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: done.
    Ok,
    /// 1: an error; stderr says why.
    Error,
    /// 3: the lock is held by someone else (the holder is in the reply).
    Locked,
    /// 5: the validate command refused the staged config.
    Refused,
    /// 6: no admin socket there, or haproxy does not answer on it.
    NoAdminSocket,
    /// 7: socat, which talks to the admin socket, is not installed.
    NoSocat,
    /// 8: the box's state has a newer layout than this edgeplan knows
    /// ([`crate::layout::VERSION`]).
    Layout,
    /// Another exit code.
    Other(i32),
    /// Killed by a signal.
    Killed,
}

impl Exit {
    /// The meaning of a process exit code (`None`: killed).
    pub fn of(code: Option<i32>) -> Exit {
        match code {
            Some(0) => Exit::Ok,
            Some(1) => Exit::Error,
            Some(3) => Exit::Locked,
            Some(5) => Exit::Refused,
            Some(6) => Exit::NoAdminSocket,
            Some(7) => Exit::NoSocat,
            Some(8) => Exit::Layout,
            Some(c) => Exit::Other(c),
            None => Exit::Killed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The codes box.sh documents in its header comment and uses.
    #[test]
    fn codes_match_the_script() {
        let script = include_str!("box.sh");
        assert!(script.contains(
            "# Exit codes (crate::transport::protocol::Exit): 0 ok, 1 error (stderr says why), 3 \
             locked (the\n# lock is in the reply), 5 the validate command refused the staged \
             config, 6 no admin socket\n# (or haproxy does not answer on it), 7 socat is not \
             installed, 8 the box's layout is newer\n# than this script's."
        ));
        assert!(script.contains("header() { echo \"edgeplan-box 1\"; }"));
        assert_eq!(Exit::of(Some(3)), Exit::Locked);
        assert_eq!(Exit::of(Some(8)), Exit::Layout);
        assert_eq!(Exit::of(Some(9)), Exit::Other(9));
        assert_eq!(Exit::of(None), Exit::Killed);
        assert_eq!(HEADER, b"edgeplan-box 1\n");
    }
}
