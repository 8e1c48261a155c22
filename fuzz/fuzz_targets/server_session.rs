//! One server connection fed arbitrary bytes: the engine must answer or
//! refuse, never panic, and never produce anything but valid responses
//! (1.x ones, and extended ones once the bytes offered the extension).
#![no_main]

use dc_engine::{ClientSession, Dispatcher};
use dc_protocol::extension::FrameDecoder;
use dc_protocol::Kind;
use dc_store::{Limits, MemoryStore};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&piece, stream)) = data.split_first() else {
        return;
    };
    let piece = usize::from(piece).max(1);
    // A small store so eviction paths run too.
    let limits = Limits::new(64, 1 << 16).expect("valid limits");
    let mut dispatcher = Dispatcher::new(MemoryStore::new(limits));
    let mut session = ClientSession::new();
    let mut input: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    let mut now = 0u64;
    for chunk in stream.chunks(piece) {
        input.extend_from_slice(chunk);
        now += u64::from(chunk[0]);
        match session.serve(&mut dispatcher, &input, now, &mut out, 1 << 20) {
            Ok(served) => {
                input.drain(..served.consumed);
            }
            Err(_) => break,
        }
    }
    // Whatever was answered is a valid stream of whole responses: 1.x
    // ones, and once the server accepted the extension, extended ones too
    // (the acceptance is itself a 1.x answer, so a decoder that takes both
    // from the start reads the whole stream).
    let mut decoder = FrameDecoder::new(Kind::Response);
    if let Some(version) = session.extension() {
        decoder.enable(version);
    }
    let mut at = 0;
    while at < out.len() {
        let d = decoder.decode(&out[at..]).expect("the server's answers decode");
        assert!(d.consumed > 0, "answers end in a partial frame");
        at += d.consumed;
    }
});
