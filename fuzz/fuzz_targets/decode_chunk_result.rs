//! Fuzz the chunk-result decoder the sentinel runs on every node's posted result
//! (`ChunkResult::decode`, then merge and report): arbitrary bytes must decode or be refused,
//! and whatever decodes is canonical, merges with itself and reports without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wowlab_sim::ChunkResult;

fuzz_target!(|bytes: &[u8]| {
    let Ok(r) = ChunkResult::decode(bytes) else {
        return;
    };
    assert_eq!(
        r.encode(),
        bytes,
        "decoding accepted a non-canonical encoding"
    );
    let _ = r.report();
    let mut twice = r.clone();
    if twice.merge(&r).is_ok() {
        assert_eq!(twice.iterations, r.iterations * 2);
        twice.check().expect("a merge of valid results is valid");
        let _ = twice.report();
    }
    let back = ChunkResult::from_json(&r.to_json()).expect("JSON round trip");
    assert_eq!(back, r);
});
