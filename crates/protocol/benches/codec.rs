//! Criterion-free micro-benchmark of the fan-out hot path: encoding a publication push
//! (100-byte JSON payload) and decoding command frames. Run:
//! `cargo bench -p wowlab-protocol --bench codec` (writes bench/results/protocol-codec.md).

use std::hint::black_box;
use std::time::Instant;
use wowlab_protocol::codec::{self, Protocol};
use wowlab_protocol::proto::*;

fn ns_per_op(iters: u32, mut f: impl FnMut()) -> f64 {
    for _ in 0..iters / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed().as_nanos() as f64 / f64::from(iters)
}

fn main() {
    let payload = format!(r#"{{"text":"{}"}}"#, "x".repeat(89));
    assert_eq!(payload.len(), 100);
    let push = Reply {
        push: Some(Push {
            channel: "job:1234:progress".into(),
            r#pub: Some(Publication {
                data: bytes::Bytes::from(payload),
                offset: 123_456,
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let json_cmds =
        br#"{"connect":{"token":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.sig","name":"js"},"id":1}
{"subscribe":{"channel":"chat:1","flag":1},"id":2}"#;
    let mut pb_cmds = Vec::new();
    for c in codec::decode_commands(Protocol::Json, json_cmds).expect("decode") {
        codec::append_to_frame(
            Protocol::Protobuf,
            &mut pb_cmds,
            &codec::encode_command(Protocol::Protobuf, &c).expect("encode"),
        );
    }
    let n = 1_000_000;
    let payload_bytes = push
        .push
        .as_ref()
        .and_then(|p| p.r#pub.as_ref())
        .map(|p| p.data.clone())
        .unwrap_or_default();
    let rows = [
        (
            "validate 100-byte JSON payload (share of JSON encode)",
            ns_per_op(n, || {
                black_box(
                    serde_json::from_slice::<&serde_json::value::RawValue>(black_box(
                        &payload_bytes,
                    ))
                    .is_ok(),
                );
            }),
        ),
        (
            "encode publication push, JSON (hand-written fast path)",
            ns_per_op(n, || {
                black_box(codec::encode_reply(Protocol::Json, black_box(&push)).expect("encode"));
            }),
        ),
        (
            "encode publication push, JSON via serde derive (reference)",
            ns_per_op(n, || {
                black_box(serde_json::to_vec(black_box(&push)).expect("encode"));
            }),
        ),
        (
            "encode publication push, protobuf",
            ns_per_op(n, || {
                black_box(
                    codec::encode_reply(Protocol::Protobuf, black_box(&push)).expect("encode"),
                );
            }),
        ),
        (
            "decode connect+subscribe frame, JSON",
            ns_per_op(n / 4, || {
                black_box(
                    codec::decode_commands(Protocol::Json, black_box(json_cmds)).expect("decode"),
                );
            }),
        ),
        (
            "decode connect+subscribe frame, protobuf",
            ns_per_op(n / 4, || {
                black_box(
                    codec::decode_commands(Protocol::Protobuf, black_box(&pb_cmds))
                        .expect("decode"),
                );
            }),
        ),
    ];
    // Other processes skew the figures; record how busy the machine was.
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut md = format!(
        "# wowlab-protocol codec micro-benchmark\n\n`cargo bench -p wowlab-protocol --bench codec`, {} cores, load average at run: {}\n\n| operation | ns/op |\n|---|---|\n",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    for (name, ns) in rows {
        println!("{name:45} {ns:8.1} ns/op");
        md.push_str(&format!("| {name} | {ns:.1} |\n"));
    }
    let out = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../bench/results/protocol-codec.md"
    );
    if let Err(e) =
        std::fs::create_dir_all(concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench/results"))
            .and_then(|_| std::fs::write(out, md))
    {
        eprintln!("could not write {out}: {e}");
    }
}
