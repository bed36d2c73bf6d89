//! Hostile and ambiguous requests against real haproxy (issue 15): who the client is, whose
//! cookie pins what.

use super::{Build, Mode, Scheme, Stage};

/// Specs of one env whose two sticky components each run two instances.
fn two_sticky_components() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let specs = tmp.path().join("specs");
    std::fs::create_dir_all(&specs).unwrap();
    std::fs::write(
        specs.join("edge.kdl"),
        r#"edge "cookie-lab"
listen http="*:80"
admin-socket "/run/haproxy/admin.sock" mode="600"
sticky-cookie "SERVERID"
env "app" {
    hosts "app.example.test"
    component "api" port=8080 sticky=#true {
        instance "api-1" color="blue" address="api-1.lxd"
        instance "api-2" color="blue" address="api-2.lxd"
        instance "api-3" color="green" address="api-3.lxd"
    }
    component "chat" port=8081 sticky=#true {
        instance "chat-1" color="blue" address="chat-1.lxd"
        instance "chat-2" color="blue" address="chat-2.lxd"
        instance "chat-3" color="green" address="chat-3.lxd"
    }
    route "api" to="api" {
        prefix "/api/"
    }
    default "chat"
}
"#,
    )
    .unwrap();
    (tmp, specs)
}

/// Two sticky components of one env: each sets a cookie of its own name, so a browser that
/// alternates between them keeps both pins (with one shared name, each answer overwrote the
/// other's pin and every switch re-balanced — a WebSocket upgrade lost its instance).
#[test]
fn two_sticky_components_of_one_env_keep_their_own_pins() {
    let (_tmp, specs) = two_sticky_components();
    let build = Build::of(&specs);
    let h = Stage::new(&build, Mode::Live).start();
    let host = "app.example.test";
    let first_api = h.request(Scheme::Http, host, "/api/me", &[]);
    let first_chat = h.request(Scheme::Http, host, "/chat", &[]);
    let (api_cookie, chat_cookie) = (first_api.set_cookies(), first_chat.set_cookies());
    assert_eq!(api_cookie.len(), 1, "{first_api:?}");
    assert_eq!(chat_cookie.len(), 1, "{first_chat:?}");
    let (api, chat) = (&api_cookie[0], &chat_cookie[0]);
    assert_eq!(api.0, "SERVERID_app_api");
    assert_eq!(chat.0, "SERVERID_app_chat");
    // The browser holds both and alternates: each request lands on its pinned instance and
    // nothing is re-set.
    let jar = [
        (api.0.as_str(), api.1.as_str()),
        (chat.0.as_str(), chat.1.as_str()),
    ];
    for _ in 0..4 {
        for (path, first) in [("/api/me", &first_api), ("/chat", &first_chat)] {
            let r = h.request(Scheme::Http, host, path, &jar);
            assert_eq!(r.served_by(), first.served_by(), "{path}: {r:?}");
            assert!(r.set_cookies().is_empty(), "{path} re-pinned: {r:?}");
        }
    }
}
