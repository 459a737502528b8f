use super::*;

#[test]
fn times_format_as_utc() {
    assert_eq!(fmt_time(0), "1970-01-01 00:00:00 UTC");
    assert_eq!(fmt_time(1_795_000_000_123), "2026-11-18 11:06:40 UTC");
}

#[test]
fn next_paths_are_encoded() {
    assert_eq!(urlencode("/jobs/ab-1"), "/jobs/ab-1");
    assert_eq!(urlencode("/a?b=c&d"), "/a%3Fb%3Dc%26d");
}

#[test]
fn every_static_file_and_profile_is_embedded() {
    for f in [
        "studio.css",
        "app.js",
        "realtime.js",
        "job.js",
        "nodes.js",
        "new_job.js",
    ] {
        let r = tokio_test_serve(f);
        assert_eq!(r, axum::http::StatusCode::OK, "{f}");
    }
    assert_eq!(
        tokio_test_serve("../Cargo.toml"),
        axum::http::StatusCode::NOT_FOUND
    );
    assert!(assets::PROFILES.iter().all(|(_, t)| !t.is_empty()));
}

fn tokio_test_serve(name: &str) -> axum::http::StatusCode {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(assets::serve(axum::extract::Path(name.to_owned())))
        .status()
}
