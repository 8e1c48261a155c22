//! Codec properties: round trips, arbitrary splits, hostile input.

use dc_protocol::{
    encode, encoded_len, CommandHeader, DecodeError, Decoder, Kind, Operation, Request, HEADER_LEN,
    MAX_FRAME_DATA, MAX_PAYLOAD,
};
use proptest::prelude::*;

/// Decodes everything in `input`, fed in pieces of the given sizes (cycled),
/// the way a socket might deliver it. Returns the commands as owned values.
fn decode_in_pieces(
    kind: Kind,
    input: &[u8],
    pieces: &[usize],
) -> Result<Vec<(u32, Operation, Vec<u8>)>, DecodeError> {
    let mut decoder = Decoder::new(kind);
    let mut buffered: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    let mut fed = 0;
    let mut i = 0;
    while fed < input.len() {
        let n = pieces[i % pieces.len()].max(1).min(input.len() - fed);
        i += 1;
        buffered.extend_from_slice(&input[fed..fed + n]);
        fed += n;
        loop {
            let d = decoder.decode(&buffered)?;
            let consumed = d.consumed;
            let got = d
                .command
                .map(|c| (c.request_uid, c.operation, c.payload.to_vec()));
            buffered.drain(..consumed);
            match got {
                Some(c) => out.push(c),
                None => break,
            }
        }
    }
    assert!(buffered.is_empty(), "bytes left over");
    assert!(!decoder.in_command(), "command left half-reassembled");
    Ok(out)
}

fn operation() -> impl Strategy<Value = Operation> {
    prop::sample::select(Operation::ALL.to_vec())
}

#[test]
fn frame_shapes_match_the_original_sender() {
    for (len, frames) in [
        (0, vec![0]),
        (1, vec![1]),
        (2048, vec![2048]),
        (2049, vec![2048, 1]),
        (4096, vec![2048, 2048]),
        (5000, vec![2048, 2048, 904]),
        (MAX_PAYLOAD, vec![2048; 16]),
    ] {
        let payload = vec![0xa5; len];
        let mut out = Vec::new();
        encode(
            &mut out,
            CommandHeader::response(9, Operation::Get),
            &payload,
        )
        .unwrap();
        assert_eq!(out.len(), encoded_len(len));
        let mut at = 0;
        for (i, &data_len) in frames.iter().enumerate() {
            let h = &out[at..at + HEADER_LEN];
            assert_eq!(&h[..4], &[0, 0x11, 0, 0]);
            assert_eq!(h[4], 1, "is_response");
            assert_eq!(&h[5..9], &9u32.to_be_bytes());
            assert_eq!(h[11], u8::from(i + 1 == frames.len()), "complete flag");
            assert_eq!(u16::from_be_bytes([h[12], h[13]]) as usize, data_len);
            at += HEADER_LEN + data_len;
        }
        assert_eq!(at, out.len());
    }
    let mut out = Vec::new();
    assert!(encode(
        &mut out,
        CommandHeader::request(1, Operation::Add),
        &vec![0; MAX_PAYLOAD + 1]
    )
    .is_err());
    assert!(out.is_empty(), "nothing written for a refused payload");
}

#[test]
fn every_split_of_a_multi_frame_command_and_its_neighbours() {
    // A three-frame ADD between two one-frame requests, split at every
    // possible pair of points (and fed one byte at a time).
    let mut stream = Vec::new();
    Request::Have { id: b"before" }
        .encode(&mut stream, 1)
        .unwrap();
    let data: Vec<u8> = (0..4500u32).map(|i| (i * 7) as u8).collect();
    Request::Add {
        timeout_ms: 1000,
        id: b"multi",
        data: &data,
    }
    .encode(&mut stream, 2)
    .unwrap();
    Request::Get { id: b"after" }
        .encode(&mut stream, 3)
        .unwrap();

    let check = |cmds: Vec<(u32, Operation, Vec<u8>)>| {
        assert_eq!(cmds.len(), 3);
        assert_eq!(cmds[0], (1, Operation::Have, b"before".to_vec()));
        assert_eq!(cmds[1].0, 2);
        match Request::parse(cmds[1].1, &cmds[1].2).unwrap() {
            Request::Add {
                id,
                data: d,
                timeout_ms,
            } => {
                assert_eq!((id, timeout_ms), (&b"multi"[..], 1000));
                assert_eq!(d, &data[..]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(cmds[2], (3, Operation::Get, b"after".to_vec()));
    };
    check(decode_in_pieces(Kind::Request, &stream, &[1]).unwrap());
    for cut in 1..stream.len() {
        check(decode_in_pieces(Kind::Request, &stream, &[cut, stream.len()]).unwrap());
    }
    // Two cuts, on a coarser grid to keep the run short but still cover
    // boundaries inside headers and data of every frame.
    for a in (1..stream.len()).step_by(97) {
        for b in (1..stream.len()).step_by(89) {
            check(decode_in_pieces(Kind::Request, &stream, &[a, b]).unwrap());
        }
    }
}

#[test]
fn seventeen_frames_with_an_empty_last_one_are_accepted() {
    let mut stream = Vec::new();
    for i in 0..17 {
        let last = i == 16;
        stream.extend_from_slice(&[0, 0x11, 0, 0, 0, 0, 0, 0, 5, 0, 1, u8::from(last)]);
        let n: u16 = if last { 0 } else { 2048 };
        stream.extend_from_slice(&n.to_be_bytes());
        stream.resize(stream.len() + usize::from(n), b'z');
    }
    let cmds = decode_in_pieces(Kind::Request, &stream, &[1000]).unwrap();
    assert_eq!(cmds.len(), 1);
    assert_eq!(cmds[0].2.len(), MAX_PAYLOAD);
}

#[test]
fn reassembly_errors_are_typed() {
    let frame = |uid: u32, op: u8, complete: u8, data_len: u16| {
        let mut f = vec![0, 0x11, 0, 0, 0];
        f.extend_from_slice(&uid.to_be_bytes());
        f.extend_from_slice(&[0, op, complete]);
        f.extend_from_slice(&data_len.to_be_bytes());
        f.resize(f.len() + usize::from(data_len), 0);
        f
    };
    let decode_all = |bytes: Vec<u8>| decode_in_pieces(Kind::Request, &bytes, &[bytes.len()]);

    let uid_mismatch = [frame(10, 0, 0, 2048), frame(11, 0, 1, 4)].concat();
    assert_eq!(
        decode_all(uid_mismatch),
        Err(DecodeError::UidMismatch {
            expected: 10,
            found: 11
        })
    );

    let op_mismatch = [frame(10, 0, 0, 2048), frame(10, 1, 1, 4)].concat();
    assert_eq!(
        decode_all(op_mismatch),
        Err(DecodeError::OperationMismatch {
            expected: Operation::Add,
            found: Operation::Get
        })
    );

    let mut too_long: Vec<u8> = (0..16).flat_map(|_| frame(1, 0, 0, 2048)).collect();
    too_long.extend(frame(1, 0, 1, 9));
    assert_eq!(
        decode_all(too_long),
        Err(DecodeError::PayloadTooLong {
            len: MAX_PAYLOAD + 9
        })
    );

    let mut response = frame(1, 1, 1, 1);
    response[4] = 1;
    assert_eq!(
        decode_all(response),
        Err(DecodeError::UnexpectedKind {
            expected: Kind::Request,
            found: Kind::Response
        })
    );
}

#[test]
fn a_frame_missing_its_last_bytes_is_never_acted_on() {
    // The original "decoded" an ADD frame missing its last 1..4 bytes.
    let mut full = Vec::new();
    Request::Add {
        timeout_ms: 60000,
        id: b"ID1",
        data: b"0123456789",
    }
    .encode(&mut full, 17)
    .unwrap();
    let mut decoder = Decoder::new(Kind::Request);
    for missing in 1..=full.len() {
        let d = decoder.decode(&full[..full.len() - missing]).unwrap();
        assert_eq!(
            (d.consumed, d.command.is_none()),
            (0, true),
            "missing {missing}"
        );
    }
    assert!(decoder.decode(&full).unwrap().command.is_some());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn round_trip(
        uid in any::<u32>(),
        op in operation(),
        payload in prop::collection::vec(any::<u8>(), 0..=MAX_PAYLOAD),
        pieces in prop::collection::vec(1usize..3000, 1..5),
    ) {
        let mut bytes = Vec::new();
        encode(&mut bytes, CommandHeader::response(uid, op), &payload).unwrap();
        prop_assert_eq!(bytes.len(), encoded_len(payload.len()));
        let cmds = decode_in_pieces(Kind::Response, &bytes, &pieces).unwrap();
        prop_assert_eq!(cmds, vec![(uid, op, payload)]);
    }

    #[test]
    fn requests_round_trip(
        uid in any::<u32>(),
        timeout_ms in 0u32..=604_800_000,
        id in prop::collection::vec(any::<u8>(), 1..=64),
        data in prop::collection::vec(any::<u8>(), 1..=(MAX_PAYLOAD - 8 - 64)),
        op in operation(),
    ) {
        let req = match op {
            Operation::Add => Request::Add { timeout_ms, id: &id, data: &data },
            Operation::Get => Request::Get { id: &id },
            Operation::Remove => Request::Remove { id: &id },
            Operation::Have => Request::Have { id: &id },
        };
        let mut bytes = Vec::new();
        req.encode(&mut bytes, uid).unwrap();
        let mut decoder = Decoder::new(Kind::Request);
        let d = decoder.decode(&bytes).unwrap();
        prop_assert_eq!(d.consumed, bytes.len());
        let cmd = d.command.unwrap();
        prop_assert_eq!(cmd.request_uid, uid);
        prop_assert_eq!(Request::parse(cmd.operation, cmd.payload).unwrap(), req);
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..5000),
        valid_prefix in any::<bool>(),
        piece in 1usize..200,
    ) {
        let mut input = if valid_prefix { vec![0, 0x11, 0, 0] } else { Vec::new() };
        input.extend(bytes);
        for kind in [Kind::Request, Kind::Response] {
            let mut decoder = Decoder::new(kind);
            let mut buffered = Vec::new();
            for chunk in input.chunks(piece) {
                buffered.extend_from_slice(chunk);
                while let Ok(d) = decoder.decode(&buffered) {
                    prop_assert!(d.consumed <= buffered.len());
                    if let Some(c) = d.command {
                        prop_assert!(c.payload.len() <= MAX_PAYLOAD);
                        let _ = Request::parse(c.operation, c.payload);
                    }
                    let progressed = d.consumed > 0;
                    buffered.drain(..d.consumed);
                    if !progressed {
                        break;
                    }
                }
            }
        }
    }
}

#[test]
fn a_frame_can_carry_exactly_the_maximum() {
    let mut out = Vec::new();
    encode(
        &mut out,
        CommandHeader::request(1, Operation::Get),
        &[1; MAX_FRAME_DATA],
    )
    .unwrap();
    assert_eq!(out.len(), HEADER_LEN + MAX_FRAME_DATA);
    assert_eq!(out[11], 1);
}
