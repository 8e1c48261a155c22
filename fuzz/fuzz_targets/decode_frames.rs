//! Frame decoding and command reassembly, fed arbitrary bytes in arbitrary
//! splits, for both directions. Every decoded command must re-encode to
//! frames that decode to the same command, and request payloads must parse
//! (or be refused) without panicking.
#![no_main]

use dc_protocol::{encode, CommandHeader, Decoder, Kind, Request, MAX_PAYLOAD};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte chooses the piece size the stream is fed in.
    let Some((&piece, stream)) = data.split_first() else {
        return;
    };
    let piece = usize::from(piece).max(1);
    for kind in [Kind::Request, Kind::Response] {
        let mut decoder = Decoder::new(kind);
        let mut buffered: Vec<u8> = Vec::new();
        'feed: for chunk in stream.chunks(piece) {
            buffered.extend_from_slice(chunk);
            loop {
                let decoded = match decoder.decode(&buffered) {
                    Ok(d) => d,
                    Err(_) => break 'feed,
                };
                assert!(decoded.consumed <= buffered.len());
                let consumed = decoded.consumed;
                if let Some(cmd) = decoded.command {
                    assert!(cmd.payload.len() <= MAX_PAYLOAD);
                    assert_eq!(cmd.kind, kind);
                    if kind == Kind::Request {
                        let _ = Request::parse(cmd.operation, cmd.payload);
                    }
                    let header = CommandHeader {
                        kind,
                        request_uid: cmd.request_uid,
                        operation: cmd.operation,
                    };
                    let mut again = Vec::new();
                    encode(&mut again, header, cmd.payload).expect("a decoded payload re-encodes");
                    let mut check = Decoder::new(kind);
                    let d = check.decode(&again).expect("re-encoded frames decode");
                    assert_eq!(d.consumed, again.len());
                    let c = d.command.expect("one whole command");
                    assert_eq!((c.request_uid, c.operation, c.payload), (cmd.request_uid, cmd.operation, cmd.payload));
                }
                buffered.drain(..consumed);
                if consumed == 0 {
                    break;
                }
            }
        }
    }
});
