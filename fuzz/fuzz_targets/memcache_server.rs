//! One memcache server connection fed arbitrary bytes in arbitrary pieces,
//! over the reference Model: it must answer or refuse, never panic, and
//! answer only whole responses of the wire the first byte chose.
#![no_main]

use dc_memcache::MemcacheServer;
use dc_ops::model::Model;
use dc_ops::{ServerCodec, Step};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&piece, stream)) = data.split_first() else {
        return;
    };
    let piece = usize::from(piece).max(1);
    let binary = stream.first() == Some(&0x80);
    let mut model = Model::new();
    let mut server = MemcacheServer::new();
    let mut input: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    'feed: for chunk in stream.chunks(piece) {
        input.extend_from_slice(chunk);
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
    if binary {
        check_binary(&out);
    } else {
        check_text(&out);
    }
});

fn check_binary(mut out: &[u8]) {
    while !out.is_empty() {
        assert!(out.len() >= 24, "partial header");
        assert_eq!(out[0], 0x81, "response magic");
        let key = usize::from(u16::from_be_bytes([out[2], out[3]]));
        let extras = usize::from(out[4]);
        let body = u32::from_be_bytes([out[8], out[9], out[10], out[11]]) as usize;
        assert!(extras + key <= body && out.len() >= 24 + body, "lengths");
        out = &out[24 + body..];
    }
}

fn check_text(mut out: &[u8]) {
    while !out.is_empty() {
        let at = out.iter().position(|&b| b == b'\n').expect("whole lines");
        assert!(at > 0 && out[at - 1] == b'\r', "CRLF");
        let line = &out[..at - 1];
        out = &out[at + 1..];
        if let Some(rest) = line.strip_prefix(b"VALUE ") {
            let tokens: Vec<&[u8]> = rest.split(|&b| b == b' ').collect();
            assert!(tokens.len() == 3 || tokens.len() == 4, "VALUE line");
            let n: usize = std::str::from_utf8(tokens[2]).unwrap().parse().unwrap();
            assert_eq!(&out[n..n + 2], b"\r\n", "data block");
            out = &out[n + 2..];
            continue;
        }
        let known = [
            &b"END"[..],
            b"STORED",
            b"NOT_STORED",
            b"EXISTS",
            b"NOT_FOUND",
            b"DELETED",
            b"TOUCHED",
            b"ERROR",
        ];
        let ok = known.contains(&line)
            || line.starts_with(b"CLIENT_ERROR ")
            || line.starts_with(b"SERVER_ERROR ")
            || line.starts_with(b"VERSION ")
            || line.starts_with(b"STAT ")
            || (!line.is_empty() && line.iter().all(u8::is_ascii_digit));
        assert!(ok, "unknown answer line {:?}", String::from_utf8_lossy(line));
    }
}
