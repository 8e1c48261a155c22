//! Codec benchmarks: encoding requests and answers, decoding one-frame and
//! multi-frame commands, and reassembly from small pieces.
//!
//! Run with `cargo bench -p dc_protocol` (add `-- --quick` for a fast
//! pass). The sizes follow the load generator's defaults: 32-byte session
//! ids, 800-byte sessions (the middle of 100..=1500), and the largest
//! command (32 KiB, 16 frames) for the multi-frame cases.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use dc_protocol::{encode, CommandHeader, Decoder, Kind, Operation, Request, MAX_PAYLOAD};

const ID: [u8; 32] = [0x5a; 32];

fn session(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

/// The frames of one answer to a GET carrying `data`.
fn get_answer(uid: u32, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode(&mut out, CommandHeader::response(uid, Operation::Get), data).expect("fits");
    out
}

fn encoding(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    let data = session(800);
    let mut out = Vec::with_capacity(64 * 1024);

    group.throughput(Throughput::Elements(1));
    group.bench_function("get_request_1_frame", |b| {
        b.iter(|| {
            out.clear();
            Request::Get { id: black_box(&ID) }
                .encode(&mut out, 7)
                .expect("fits");
            black_box(out.len())
        })
    });
    group.throughput(Throughput::Bytes(800));
    group.bench_function("add_request_800B_1_frame", |b| {
        b.iter(|| {
            out.clear();
            Request::Add {
                timeout_ms: 300_000,
                id: black_box(&ID),
                data: black_box(&data),
            }
            .encode(&mut out, 7)
            .expect("fits");
            black_box(out.len())
        })
    });
    // The largest ADD: 8 + 32 + data = 32768 bytes, 16 full frames.
    let big = session(MAX_PAYLOAD - 8 - ID.len());
    group.throughput(Throughput::Bytes(MAX_PAYLOAD as u64));
    group.bench_function("add_request_32KiB_16_frames", |b| {
        b.iter(|| {
            out.clear();
            Request::Add {
                timeout_ms: 300_000,
                id: black_box(&ID),
                data: black_box(&big),
            }
            .encode(&mut out, 7)
            .expect("fits");
            black_box(out.len())
        })
    });
    group.finish();
}

fn decoding(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");

    let one = get_answer(1, &session(800));
    group.throughput(Throughput::Bytes(one.len() as u64));
    group.bench_function("get_answer_800B_1_frame", |b| {
        let mut decoder = Decoder::new(Kind::Response);
        b.iter(|| {
            let decoded = decoder.decode(black_box(&one)).expect("valid");
            black_box((decoded.consumed, decoded.command.map(|c| c.payload.len())))
        })
    });

    let sixteen = get_answer(1, &session(MAX_PAYLOAD));
    group.throughput(Throughput::Bytes(sixteen.len() as u64));
    group.bench_function("get_answer_32KiB_16_frames", |b| {
        let mut decoder = Decoder::new(Kind::Response);
        b.iter(|| {
            let decoded = decoder.decode(black_box(&sixteen)).expect("valid");
            black_box((decoded.consumed, decoded.command.map(|c| c.payload.len())))
        })
    });

    // What a pipelining client reads in one go: 64 answers back to back,
    // status bytes and sessions mixed as a 70% GET workload produces.
    let mut burst = Vec::new();
    for uid in 0..64u32 {
        let payload = if uid % 3 == 0 { vec![1] } else { session(800) };
        burst.extend_from_slice(&get_answer(uid, &payload));
    }
    group.throughput(Throughput::Elements(64));
    group.bench_function("pipelined_burst_64_answers", |b| {
        let mut decoder = Decoder::new(Kind::Response);
        b.iter(|| {
            let mut input = black_box(&burst[..]);
            let mut answers = 0;
            while !input.is_empty() {
                let decoded = decoder.decode(input).expect("valid");
                answers += usize::from(decoded.command.is_some());
                input = &input[decoded.consumed..];
            }
            black_box(answers)
        })
    });
    group.finish();
}

/// Feeds `wire` to a fresh decoder in pieces of `piece` bytes, the way a
/// connection's input buffer grows, dropping what each call consumed.
fn reassemble(wire: &[u8], piece: usize, buffer: &mut Vec<u8>) -> usize {
    let mut decoder = Decoder::new(Kind::Response);
    buffer.clear();
    let mut payload = 0;
    for chunk in wire.chunks(piece) {
        buffer.extend_from_slice(chunk);
        let decoded = decoder.decode(buffer).expect("valid");
        if let Some(command) = decoded.command {
            payload += command.payload.len();
        }
        let consumed = decoded.consumed;
        buffer.drain(..consumed);
    }
    payload
}

fn reassembly(c: &mut Criterion) {
    let mut group = c.benchmark_group("reassembly");
    let one = get_answer(1, &session(800));
    let sixteen = get_answer(1, &session(MAX_PAYLOAD));
    for (name, wire, piece) in [
        ("800B_in_1_byte_pieces", &one, 1),
        ("800B_in_100_byte_pieces", &one, 100),
        ("32KiB_in_100_byte_pieces", &sixteen, 100),
        ("32KiB_in_1460_byte_pieces", &sixteen, 1460),
    ] {
        group.throughput(Throughput::Bytes(wire.len() as u64));
        group.bench_function(name, |b| {
            b.iter_batched_ref(
                || Vec::with_capacity(64 * 1024),
                |buffer| black_box(reassemble(black_box(wire), piece, buffer)),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, encoding, decoding, reassembly);
criterion_main!(benches);
