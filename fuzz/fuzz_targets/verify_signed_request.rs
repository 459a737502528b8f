//! Fuzz signed-request verification: arbitrary headers, method, host, path and body must be
//! refused with an error, never panic and never verify (nobody here holds the signing key);
//! a genuine signature over the same fuzzed request must verify, and only for that request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wowlab_api::signing::{verify, NodeKey, ReceivedHeaders};

const NOW: u64 = 1_790_000_000_000;

fuzz_target!(|data: &[u8]| {
    // Fields separated by NUL; a missing field is an absent header.
    let mut parts = data.splitn(8, |&b| b == 0);
    let mut field = || {
        parts
            .next()
            .map(|p| String::from_utf8_lossy(p).into_owned())
    };
    let (key, sig, ts, nonce) = (field(), field(), field(), field());
    let method = field().unwrap_or_default();
    let host = field().unwrap_or_default();
    let path = field().unwrap_or_default();
    let body = field().unwrap_or_default().into_bytes();

    let forged = ReceivedHeaders {
        key: key.as_deref(),
        signature: sig.as_deref(),
        timestamp: ts.as_deref(),
        nonce: nonce.as_deref(),
    };
    assert!(
        verify(forged, &method, &host, &path, &body, NOW).is_err(),
        "a request nobody signed verified"
    );

    let k = NodeKey::from_seed(&[7u8; 32]);
    let h = k.sign_with_nonce(NOW, "0123456789abcdef", &method, &host, &path, &body);
    let genuine = ReceivedHeaders {
        key: Some(&h.key),
        signature: Some(&h.signature),
        timestamp: Some(&h.timestamp),
        nonce: Some(&h.nonce),
    };
    let v = verify(genuine, &method, &host, &path, &body, NOW).expect("genuine request");
    assert_eq!(v.public_key, h.key);
    let other_path = format!("{path}/x");
    assert!(verify(genuine, &method, &host, &other_path, &body, NOW).is_err());
    let mut other_body = body.clone();
    other_body.push(b'!');
    assert!(verify(genuine, &method, &host, &path, &other_body, NOW).is_err());
});
