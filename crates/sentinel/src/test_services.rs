//! Where the unit tests find the real servers `scripts/test` starts: `WOWLAB_TEST_REDIS_URL`,
//! `WOWLAB_TEST_POSTGRES_URL` and `WOWLAB_TEST_NATS_URL`. Missing under `CI` → the test fails;
//! otherwise it is skipped with the reason printed.

fn service(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but {var} is not: the {what} tests must run"
            );
            eprintln!("{var} not set: skipping the {what} test");
            None
        }
    }
}

/// The Redis server of the coordinator tests.
pub(crate) fn redis_url() -> Option<String> {
    service("WOWLAB_TEST_REDIS_URL", "Redis")
}

/// The PostgreSQL server of the store tests.
pub(crate) fn postgres_url() -> Option<String> {
    service("WOWLAB_TEST_POSTGRES_URL", "PostgreSQL")
}

/// The NATS server (with JetStream) of the result log tests.
pub(crate) fn nats_url() -> Option<String> {
    service("WOWLAB_TEST_NATS_URL", "JetStream")
}
