//! One direction's decoder: fed a copy of the bytes as they are relayed,
//! it yields whole commands.
//!
//! The relay hands over bytes in whatever pieces the sockets delivered, and
//! [`dc_protocol::Decoder`] consumes whole frames only. Whole frames are
//! decoded straight from the relayed slice; only the trailing piece of a
//! frame that a read cut short is copied, into a small side buffer, and only
//! until that one frame is complete:
//!
//! ```text
//!   read 1:  [frame A][frame B][fra|        A, B decoded in place; "fra" kept
//!   read 2:                    |me C][frame D][f|
//!            kept "fra" + "me C" -> C decoded from the side buffer,
//!            then D decoded in place from read 2; "f" kept
//! ```
//!
//! So the side buffer never holds more than one frame
//! ([`MAX_FRAME_LEN`] bytes), and the decoder's own reassembly buffer holds at
//! most one command ([`MAX_PAYLOAD`](dc_protocol::MAX_PAYLOAD) bytes): a tap's
//! memory is bounded whatever the peers send. The tap never holds back or
//! alters the relayed bytes; it sees them after they are passed on.

use dc_protocol::{Command, Decoder, FrameHeader, Kind, HEADER_LEN, MAX_FRAME_LEN};

use crate::event::{Direction, Undecodable};

/// Bytes of an undecodable stream shown in its [`Undecodable`] report.
pub const DUMP_LEN: usize = 32;

/// Decodes one direction of one relayed connection.
#[derive(Debug)]
pub struct Tap {
    direction: Direction,
    decoder: Decoder,
    /// The start of a frame that the relayed bytes so far cut short.
    pending: Vec<u8>,
    /// Bytes fed in, decoded or not.
    bytes: u64,
    /// Stream offset of the first byte the decoder has not consumed: the
    /// start of `pending`, or of the next slice when `pending` is empty.
    consumed: u64,
    /// Stream offset where the command being reassembled (or the next one)
    /// starts.
    command_start: u64,
    /// Whole commands decoded.
    commands: u64,
    /// Decoding stopped (bytes that are not distcache, or told to stop).
    stopped: bool,
}

impl Tap {
    /// A tap for `direction`: requests from client to server, responses the
    /// other way.
    pub fn new(direction: Direction) -> Tap {
        let kind = match direction {
            Direction::ClientToServer => Kind::Request,
            Direction::ServerToClient => Kind::Response,
        };
        Tap {
            direction,
            decoder: Decoder::new(kind),
            pending: Vec::new(),
            bytes: 0,
            consumed: 0,
            command_start: 0,
            commands: 0,
            stopped: false,
        }
    }

    /// Decodes `input`, the next bytes relayed in this direction, calling
    /// `on_command` for every command it completes.
    ///
    /// On bytes that do not decode it returns the [`Undecodable`] report
    /// once; from then on (and after [`stop`](Self::stop)) it only counts the
    /// bytes it is fed.
    pub fn feed<F>(&mut self, mut input: &[u8], mut on_command: F) -> Result<(), Box<Undecodable>>
    where
        F: FnMut(Command<'_>),
    {
        self.bytes += input.len() as u64;
        if self.stopped {
            return Ok(());
        }
        let result = loop {
            if self.pending.is_empty() {
                if input.is_empty() {
                    break Ok(());
                }
                // The common case: decode whole frames in place.
                let start = self.consumed;
                match self.decode(input, start, &mut on_command) {
                    Ok(used) => {
                        self.pending.extend_from_slice(&input[used..]);
                        break Ok(());
                    }
                    Err(e) => break Err(e),
                }
            }
            let want = match FrameHeader::check_prefix(&self.pending) {
                Ok(Some(header)) => header.frame_len(),
                Ok(None) => HEADER_LEN,
                // Not reached (the decoder checked this prefix when it left
                // it), but if it were, decoding it reports the error.
                Err(_) => 0,
            };
            if self.pending.len() < want {
                if input.is_empty() {
                    break Ok(());
                }
                let take = (want - self.pending.len()).min(input.len());
                self.pending.extend_from_slice(&input[..take]);
                input = &input[take..];
                continue;
            }
            // `pending` holds exactly one whole frame: decode it alone, then
            // go back to decoding in place.
            let pending = std::mem::take(&mut self.pending);
            let start = self.consumed;
            let decoded = self.decode(&pending, start, &mut on_command);
            self.pending = pending;
            match decoded {
                Ok(used) if used > 0 => self.pending.drain(..used),
                // A whole frame is always consumed; stop rather than spin
                // should that ever fail to hold.
                Ok(_) => break Ok(()),
                Err(e) => break Err(e),
            };
        };
        if result.is_err() {
            self.stop();
        }
        result
    }

    /// Decodes whole frames from `buf`, which starts at stream offset
    /// `start`; returns how many bytes were consumed.
    fn decode<F>(
        &mut self,
        buf: &[u8],
        start: u64,
        on_command: &mut F,
    ) -> Result<usize, Box<Undecodable>>
    where
        F: FnMut(Command<'_>),
    {
        let mut used = 0;
        loop {
            if !self.decoder.in_command() {
                self.command_start = start + used as u64;
            }
            match self.decoder.decode(&buf[used..]) {
                Ok(decoded) => {
                    used += decoded.consumed;
                    self.consumed = start + used as u64;
                    match decoded.command {
                        Some(command) => {
                            self.commands += 1;
                            on_command(command);
                        }
                        None => return Ok(used),
                    }
                }
                Err(error) => {
                    let rest = &buf[used..];
                    return Err(Box::new(Undecodable {
                        direction: self.direction,
                        error,
                        offset: start + used as u64,
                        first_bytes: rest[..rest.len().min(DUMP_LEN)].to_vec(),
                    }));
                }
            }
        }
    }

    /// Stops decoding: later bytes are only counted.
    pub fn stop(&mut self) {
        self.stopped = true;
        self.pending = Vec::new();
        self.decoder.reset();
    }

    /// Whether decoding has stopped.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// The direction this tap decodes.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// Bytes fed in so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Whole commands decoded so far.
    pub fn commands(&self) -> u64 {
        self.commands
    }

    /// Bytes of a command begun but not finished (0 on a command boundary,
    /// and once decoding has stopped).
    pub fn partial(&self) -> u64 {
        if self.stopped || (self.pending.is_empty() && !self.decoder.in_command()) {
            0
        } else {
            self.bytes - self.command_start
        }
    }

    /// Bytes held in the side buffer (never more than one frame).
    pub fn buffered(&self) -> usize {
        self.pending.len()
    }
}

/// The most bytes a [`Tap`] copies aside: one frame, less the byte whose
/// arrival would complete it.
pub const TAP_BUFFER_MAX: usize = MAX_FRAME_LEN - 1;

#[cfg(test)]
mod tests {
    use super::*;
    use dc_protocol::{encode, CommandHeader, Operation};
    use proptest::prelude::*;

    /// A decoded command: uid, operation, payload.
    type Seen = (u32, Operation, Vec<u8>);

    /// Every command `tap` yields for `chunks`, and its report of
    /// undecodable bytes.
    fn run(tap: &mut Tap, chunks: &[&[u8]]) -> (Vec<Seen>, Option<Undecodable>) {
        let mut seen = Vec::new();
        let mut failure = None;
        for chunk in chunks {
            if let Err(e) = tap.feed(chunk, |c| {
                seen.push((c.request_uid, c.operation, c.payload.to_vec()))
            }) {
                assert!(failure.is_none(), "undecodable reported twice");
                failure = Some(*e);
            }
            assert!(tap.buffered() <= TAP_BUFFER_MAX);
        }
        (seen, failure)
    }

    fn response(uid: u32, op: Operation, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(&mut out, CommandHeader::response(uid, op), payload).unwrap();
        out
    }

    fn request(uid: u32, op: Operation, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(&mut out, CommandHeader::request(uid, op), payload).unwrap();
        out
    }

    #[test]
    fn a_multi_frame_get_answer_is_seen_once_at_every_split() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let mut stream = response(2, Operation::Get, &data);
        stream.extend(response(3, Operation::Get, &[1]));
        assert_eq!(stream.len(), 3 * HEADER_LEN + 5000 + HEADER_LEN + 1);
        let want = vec![
            (2, Operation::Get, data.clone()),
            (3, Operation::Get, vec![1]),
        ];
        for cut in 0..=stream.len() {
            let mut tap = Tap::new(Direction::ServerToClient);
            let (seen, failure) = run(&mut tap, &[&stream[..cut], &stream[cut..]]);
            assert!(failure.is_none(), "cut {cut}");
            assert_eq!(seen, want, "cut {cut}");
            assert_eq!(tap.partial(), 0);
            assert_eq!(tap.bytes(), stream.len() as u64);
        }
        // And one byte at a time.
        let mut tap = Tap::new(Direction::ServerToClient);
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(run(&mut tap, &bytes).0, want);
    }

    #[test]
    fn reports_an_unfinished_command() {
        let data = vec![7u8; 3000];
        let stream = request(9, Operation::Get, &data);
        let mut tap = Tap::new(Direction::ClientToServer);
        let (seen, _) = run(&mut tap, &[&stream[..2062 + 20]]);
        assert!(seen.is_empty());
        assert_eq!(tap.partial(), 2062 + 20);
        let (seen, _) = run(&mut tap, &[&stream[2062 + 20..]]);
        assert_eq!(seen.len(), 1);
        assert_eq!(tap.partial(), 0);
    }

    #[test]
    fn garbage_is_reported_once_with_its_first_bytes_then_only_counted() {
        let mut stream = request(1, Operation::Have, b"abc");
        let garbage_at = stream.len();
        stream.extend_from_slice(b"GET / HTTP/1.1\r\nHost: cache\r\n\r\n and more bytes after it");
        let mut tap = Tap::new(Direction::ClientToServer);
        let (seen, failure) = run(&mut tap, &[&stream, &request(2, Operation::Have, b"x")]);
        assert_eq!(seen.len(), 1, "the good request before the garbage");
        let failure = failure.expect("undecodable");
        assert_eq!(failure.offset, garbage_at as u64);
        assert_eq!(
            failure.first_bytes,
            &stream[garbage_at..garbage_at + DUMP_LEN]
        );
        assert!(matches!(
            failure.error,
            dc_protocol::DecodeError::Version { found: 0x4745_5420 }
        ));
        assert!(tap.is_stopped());
        assert_eq!(tap.bytes(), stream.len() as u64 + 15);
        assert_eq!(tap.partial(), 0);
    }

    #[test]
    fn a_response_on_the_request_side_is_undecodable() {
        let mut tap = Tap::new(Direction::ClientToServer);
        let stream = response(1, Operation::Get, &[1]);
        let (seen, failure) = run(&mut tap, &[&stream[..3], &stream[3..]]);
        assert!(seen.is_empty());
        let failure = failure.unwrap();
        assert_eq!(failure.offset, 0);
        assert_eq!(failure.first_bytes, stream);
    }

    #[test]
    fn short_garbage_is_dumped_as_far_as_it_goes() {
        let mut tap = Tap::new(Direction::ServerToClient);
        let (_, failure) = run(&mut tap, &[&[0x00, 0x12], &[0x00, 0x00, 0x01]]);
        let failure = failure.unwrap();
        assert_eq!(failure.first_bytes, [0x00, 0x12, 0x00, 0x00, 0x01]);
        assert_eq!(failure.offset, 0);
    }

    fn arb_command() -> impl Strategy<Value = (u32, u8, Vec<u8>)> {
        (
            any::<u32>(),
            0u8..4,
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..40),
                proptest::collection::vec(any::<u8>(), 2040..4200),
            ],
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// However the stream is cut, the same commands come out, and the
        /// side buffer stays under one frame.
        #[test]
        fn any_chunking_yields_the_same_commands(
            commands in proptest::collection::vec(arb_command(), 1..6),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
        ) {
            let mut stream = Vec::new();
            let mut want = Vec::new();
            for (uid, op, payload) in &commands {
                let op = Operation::from_byte(*op).unwrap();
                stream.extend(request(*uid, op, payload));
                want.push((*uid, op, payload.clone()));
            }
            let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut at = 0;
            for cut in cuts {
                chunks.push(&stream[at..cut]);
                at = cut;
            }
            chunks.push(&stream[at..]);
            let mut tap = Tap::new(Direction::ClientToServer);
            let (seen, failure) = run(&mut tap, &chunks);
            prop_assert!(failure.is_none());
            prop_assert_eq!(seen, want);
            prop_assert_eq!(tap.partial(), 0);
        }

        /// Arbitrary bytes never panic, and at most one report comes out.
        #[test]
        fn arbitrary_bytes_are_safe(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..8),
        ) {
            let mut tap = Tap::new(Direction::ServerToClient);
            let slices: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
            let _ = run(&mut tap, &slices);
            let total: usize = chunks.iter().map(Vec::len).sum();
            prop_assert_eq!(tap.bytes(), total as u64);
        }
    }
}
