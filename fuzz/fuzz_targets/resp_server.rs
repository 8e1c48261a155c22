//! One RESP connection fed arbitrary bytes, in arbitrary splits: the
//! server must answer or refuse, never panic, and every answer must be a
//! whole, valid RESP2 reply.
#![no_main]

use std::sync::Arc;

use dc_ops::model::Model;
use dc_ops::{ServerCodec, Step};
use dc_resp::{parse_frame, RespConfig, RespServer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, stream)) = data.split_first() else {
        return;
    };
    let piece = usize::from(first & 0x7f).max(1);
    // The top bit asks for a password, so the pre-AUTH paths run too.
    let password = (first & 0x80 != 0).then(|| b"pw".to_vec());
    let mut server = RespServer::new(Arc::new(RespConfig { password }));
    let mut model = Model::new();
    let mut input: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    'feed: for chunk in stream.chunks(piece) {
        input.extend_from_slice(chunk);
        model.now += u64::from(chunk[0]) * 10;
        loop {
            match server.serve(&input, &mut model, &mut out) {
                Ok(Step::Incomplete) => break,
                Ok(Step::Consumed {
                    consumed, close, ..
                }) => {
                    assert!(consumed > 0 && consumed <= input.len());
                    input.drain(..consumed);
                    if close {
                        break 'feed;
                    }
                }
                Err(_) => break 'feed,
            }
        }
    }
    let mut at = 0;
    while at < out.len() {
        let (_, used) = parse_frame(&out[at..])
            .expect("the server's answers parse")
            .expect("answers end in a whole reply");
        at += used;
    }
});
