//! Identity files: first-run creation with mode 0600, reuse, and refusal of bad key files.

use std::os::unix::fs::PermissionsExt as _;

use wowlab_node::identity::{self, IdentityError, NodeState, KEY_FILE};

#[test]
fn first_run_creates_a_0600_key_and_later_runs_reuse_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested/node");
    let (key, created) = identity::load_or_create_key(&data).unwrap();
    assert!(created);
    let meta = std::fs::metadata(data.join(KEY_FILE)).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.len(), 32);
    let dir_mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700);

    let (again, created) = identity::load_or_create_key(&data).unwrap();
    assert!(!created);
    assert_eq!(again.public_base64(), key.public_base64());
}

#[test]
fn a_corrupt_key_is_an_error_and_is_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(KEY_FILE);
    std::fs::write(&path, b"short").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let err = identity::load_or_create_key(dir.path()).unwrap_err();
    assert!(
        matches!(err, IdentityError::Corrupt { len: 5, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("expected 32 bytes"));
    assert_eq!(std::fs::read(&path).unwrap(), b"short");
}

#[test]
fn a_key_readable_by_others_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    identity::load_or_create_key(dir.path()).unwrap();
    let path = dir.path().join(KEY_FILE);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = identity::load_or_create_key(dir.path()).unwrap_err();
    assert!(
        matches!(err, IdentityError::Permissions { mode: 0o644, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("chmod 600"));
}

#[test]
fn node_state_round_trips_and_clears() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(identity::load_state(dir.path()).unwrap(), None);
    let s = NodeState {
        node_id: wowlab_api::NodeId::new(),
        sentinel_url: "http://x".into(),
    };
    identity::save_state(dir.path(), &s).unwrap();
    assert_eq!(identity::load_state(dir.path()).unwrap(), Some(s));
    identity::clear_state(dir.path()).unwrap();
    assert_eq!(identity::load_state(dir.path()).unwrap(), None);
    std::fs::write(dir.path().join("node.json"), "{").unwrap();
    assert!(matches!(
        identity::load_state(dir.path()),
        Err(IdentityError::BadState { .. })
    ));
}
