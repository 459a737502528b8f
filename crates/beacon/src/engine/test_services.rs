//! Where the tests find the real NATS and Redis servers that `scripts/test` starts:
//! `WOWLAB_TEST_NATS_URL` and `WOWLAB_TEST_REDIS_URL`. Missing under `CI` → the test fails;
//! otherwise it is skipped with the reason printed.

fn service(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ if std::env::var_os("CI").is_some() => {
            panic!("{var} is not set: {what} is required under CI (scripts/test starts it)")
        }
        _ => {
            eprintln!("skipped: {var} is not set (run scripts/test, or point it at a {what})");
            None
        }
    }
}

/// The NATS server URL, if one is configured.
pub(crate) fn nats_url() -> Option<String> {
    service("WOWLAB_TEST_NATS_URL", "NATS server")
}

/// The Redis server URL, if one is configured.
pub(crate) fn redis_url() -> Option<String> {
    service("WOWLAB_TEST_REDIS_URL", "Redis server")
}
