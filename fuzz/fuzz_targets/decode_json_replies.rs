//! Fuzz the json replies decoder: arbitrary frames must decode or fail cleanly, and whatever
//! decodes must re-encode and decode to the same messages.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wowlab_protocol::codec::{self, Protocol};

fuzz_target!(|frame: &[u8]| {
    let Ok(msgs) = codec::decode_replies(Protocol::Json, frame) else {
        return;
    };
    let mut out = Vec::new();
    for m in &msgs {
        // JSON encode may refuse (e.g. unknown-field quirks never yield non-JSON data, but a
        // protobuf frame can carry non-JSON bytes); only successful encodes must round-trip.
        match codec::encode_reply(Protocol::Json, m) {
            Ok(enc) => codec::append_to_frame(Protocol::Json, &mut out, &enc),
            Err(_) => return,
        }
    }
    let again = codec::decode_replies(Protocol::Json, &out).expect("re-encoded frame decodes");
    assert_eq!(again, msgs, "round trip changed the messages");
});
