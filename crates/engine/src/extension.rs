//! The server side of the protocol extension (`dc_protocol::extension`):
//! the operations distcache 1.x cannot carry (SET, REPLACE, TOUCH, TTL,
//! counters, flags, keys up to 250 bytes), for a client that offered the
//! extension on its connection and got this server's acceptance.
//!
//! The offer is an ordinary 1.x HAVE to any server that does not know it,
//! so a connection only ever carries extended frames after this module
//! answered its offer ([`accept_offer`]); until then, and for clients that
//! never offer, the connection is plain 1.x, byte for byte. An extended
//! request is one [`Op`] for the executor every front door shares, and its
//! outcome is encoded under the store's lock as the other protocols' are.

use dc_ops::{Execute, Protocol};
use dc_protocol::extension::{
    encode_reply, encode_status, Accept, ExtCommand, ExtRequest, Offer, EXT_VERSION,
};
use dc_protocol::Command;
use dc_store::Millis;

use crate::dispatch::StoreAccess;
use crate::execute::Executor;
use crate::session::SessionError;

/// The extension versions this server speaks.
pub const VERSIONS: (u16, u16) = (EXT_VERSION, EXT_VERSION);

/// If `command` is the extension's offer of a version this server speaks,
/// appends the acceptance and returns the version the connection speaks
/// from now on. `None`, with nothing written: an ordinary 1.x request,
/// which an offer of no common version is too (answered as any HAVE of an
/// id too long to hold, "absent", which tells the client to stay on 1.x).
pub fn accept_offer(command: &Command<'_>, proto_level: u32, out: &mut Vec<u8>) -> Option<u16> {
    let version = Offer::recognise(command, proto_level)?.choose(VERSIONS.0, VERSIONS.1)?;
    Accept::new(version).encode(out, command.request_uid);
    Some(version)
}

/// Runs one extended request received at `now` on a connection speaking
/// extension `version`, appending its answer to `out`. An error closes the
/// connection: the payload's fields do not add up.
pub fn serve_extended<S: StoreAccess>(
    exec: &mut Executor<S>,
    command: &ExtCommand<'_>,
    version: u16,
    now: Millis,
    out: &mut Vec<u8>,
) -> Result<(), SessionError> {
    exec.set_now(now);
    exec.set_protocol(Protocol::Distcache);
    exec.count_requests(1);
    let operation = command.operation;
    let uid = command.request_uid;
    match ExtRequest::parse(operation, command.payload)? {
        ExtRequest::Refused(refusal) => {
            encode_status(out, uid, version, operation, refusal.status())?;
        }
        ExtRequest::Run(op) => {
            let mut encoded = Ok(());
            exec.execute(&op, &mut |reply| {
                encoded = encode_reply(out, uid, version, operation, reply);
            });
            encoded?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use dc_ops::{CounterChange, Op, Reply, StoreMode, Ttl};
    use dc_protocol::extension::{ExtClient, Negotiation, ProbeOutcome};
    use dc_protocol::{encode, CommandHeader, Decoder, Kind, Operation};
    use dc_store::{Limits, MemoryStore};

    use super::*;
    use crate::dispatch::Dispatcher;
    use crate::session::ClientSession;

    struct Conn {
        session: ClientSession,
        dispatcher: Dispatcher<MemoryStore>,
        now: Millis,
    }

    impl Conn {
        fn new() -> Conn {
            Conn {
                session: ClientSession::new(),
                dispatcher: Dispatcher::new(MemoryStore::new(Limits::new(1000, 1 << 20).unwrap())),
                now: 1_000,
            }
        }

        /// Everything the server answers to `input`, which must be whole
        /// requests.
        fn send(&mut self, input: &[u8]) -> Result<Vec<u8>, SessionError> {
            let mut out = Vec::new();
            let served =
                self.session
                    .serve(&mut self.dispatcher, input, self.now, &mut out, usize::MAX)?;
            assert_eq!(served.consumed, input.len());
            Ok(out)
        }

        /// Offers the extension; the client once accepted.
        fn negotiate(&mut self) -> ExtClient {
            let mut offer = Vec::new();
            let mut probe = Negotiation::start(1, &mut offer);
            let answer = self.send(&offer).unwrap();
            let (used, outcome) = probe.read(&answer).unwrap();
            assert_eq!(used, answer.len());
            match outcome {
                Some(ProbeOutcome::Accepted(accept)) => {
                    assert_eq!(accept.version, EXT_VERSION);
                    ExtClient::new(accept)
                }
                other => panic!("not accepted: {other:?}"),
            }
        }
    }

    /// `op` sent as an extended request: the reply, owned.
    fn run(conn: &mut Conn, client: &mut ExtClient, tag: u32, op: &Op<'_>) -> String {
        let mut request = Vec::new();
        client.encode(tag, op, &mut request).unwrap();
        let answer = conn.send(&request).unwrap();
        let decoded = client.decode_reply(&answer).unwrap();
        assert_eq!(decoded.consumed, answer.len());
        let (got_tag, _, reply) = decoded.reply.expect("one whole answer");
        assert_eq!(got_tag, tag);
        format!("{reply:?}")
    }

    /// An extended GET of `k`, uid 2.
    fn extended_get() -> Vec<u8> {
        let mut request = Vec::new();
        dc_protocol::extension::encode_request(
            &mut request,
            2,
            EXT_VERSION,
            &Op::Get { key: b"k" },
        )
        .unwrap();
        request
    }

    fn set<'a>(key: &'a [u8], value: &'a [u8], mode: StoreMode, ttl: Ttl) -> Op<'a> {
        Op::Store {
            mode,
            key,
            value,
            flags: 7,
            ttl,
        }
    }

    #[test]
    fn an_offer_is_accepted_and_every_extended_operation_served() {
        let mut conn = Conn::new();
        let mut c = conn.negotiate();
        let key = [b'k'; 250];
        let day = Ttl::After(86_400_000);
        assert_eq!(
            run(&mut conn, &mut c, 2, &set(&key, b"v1", StoreMode::Add, day)),
            "Stored"
        );
        assert_eq!(
            run(&mut conn, &mut c, 3, &set(&key, b"v2", StoreMode::Add, day)),
            "NotStored"
        );
        assert_eq!(
            run(&mut conn, &mut c, 4, &set(&key, b"v3", StoreMode::Set, day)),
            "Stored"
        );
        assert_eq!(
            run(&mut conn, &mut c, 5, &Op::Get { key: &key }),
            format!(
                "{:?}",
                Reply::Value {
                    data: b"v3",
                    flags: 7
                }
            )
        );
        assert_eq!(
            run(
                &mut conn,
                &mut c,
                6,
                &set(b"none", b"x", StoreMode::Replace, day)
            ),
            "NotStored"
        );
        let touch = Op::Touch {
            key: &key,
            ttl: Ttl::After(5_000),
        };
        assert_eq!(run(&mut conn, &mut c, 7, &touch), "Touched");
        assert_eq!(
            run(&mut conn, &mut c, 8, &Op::Ttl { key: &key }),
            "Remaining(5000)"
        );
        let incr = |delta| Op::Counter {
            key: b"n",
            change: CounterChange::Unsigned {
                decrement: false,
                delta,
                create: Some((10, day)),
            },
        };
        assert_eq!(run(&mut conn, &mut c, 9, &incr(5)), "Unsigned(10)");
        assert_eq!(run(&mut conn, &mut c, 10, &incr(5)), "Unsigned(15)");
        let by = Op::Counter {
            key: b"n",
            change: CounterChange::Signed(-20),
        };
        assert_eq!(run(&mut conn, &mut c, 11, &by), "Signed(-5)");
        assert_eq!(
            run(&mut conn, &mut c, 12, &Op::Exists { key: &key }),
            "Found"
        );
        assert_eq!(
            run(&mut conn, &mut c, 13, &Op::Delete { key: &key }),
            "Deleted"
        );
        assert_eq!(
            run(&mut conn, &mut c, 14, &Op::Get { key: &key }),
            "NotFound"
        );
        // A value past the server's limit is refused, and the connection
        // goes on.
        // (Built by hand: the client refuses to encode it.)
        let value = vec![0; dc_protocol::extension::MAX_VALUE_LEN + 1];
        let mut head = vec![1];
        head.extend(86_400_000u64.to_be_bytes());
        head.extend(0u32.to_be_bytes());
        head.extend(3u16.to_be_bytes());
        let mut big = Vec::new();
        dc_protocol::extension::encode_extended(
            &mut big,
            Kind::Request,
            15,
            EXT_VERSION,
            dc_protocol::extension::ExtOperation::Set,
            &[&head, b"big", &value],
        )
        .unwrap();
        let answer = conn.send(&big).unwrap();
        let reply = c.decode_reply(&answer).unwrap().reply.unwrap();
        assert_eq!(reply.2, Reply::TooLarge);
        assert_eq!(
            run(&mut conn, &mut c, 16, &Op::Exists { key: b"n" }),
            "Found"
        );
    }

    #[test]
    fn one_x_requests_go_on_beside_extended_ones_on_one_store() {
        let mut conn = Conn::new();
        let mut c = conn.negotiate();
        let day = Ttl::After(86_400_000);
        assert_eq!(
            run(
                &mut conn,
                &mut c,
                2,
                &set(b"sid", b"secret", StoreMode::Set, day)
            ),
            "Stored"
        );
        let mut get = Vec::new();
        encode(&mut get, CommandHeader::request(3, Operation::Get), b"sid").unwrap();
        let answer = conn.send(&get).unwrap();
        let mut decoder = Decoder::new(Kind::Response);
        let command = decoder.decode(&answer).unwrap().command.unwrap();
        assert_eq!((command.request_uid, command.payload), (3, &b"secret"[..]));
    }

    #[test]
    fn without_an_offer_an_extended_frame_is_the_1x_protocol_error() {
        let mut conn = Conn::new();
        let request = extended_get();
        match conn.send(&request) {
            Err(SessionError::Decode(e)) => assert!(e.to_string().contains("class"), "{e}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_malformed_extended_request_closes_the_connection() {
        let mut conn = Conn::new();
        conn.negotiate();
        // An X-SET of two bytes: shorter than its header.
        let mut frame = Vec::new();
        dc_protocol::extension::encode_extended(
            &mut frame,
            Kind::Request,
            2,
            EXT_VERSION,
            dc_protocol::extension::ExtOperation::Set,
            &[&[0, 1]],
        )
        .unwrap();
        match conn.send(&frame) {
            Err(SessionError::ExtendedRequest(e)) => {
                assert!(e.to_string().contains("X-SET"), "{e}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_offer_of_versions_this_server_lacks_is_answered_as_1x() {
        let mut conn = Conn::new();
        let mut offer = Vec::new();
        dc_protocol::extension::Offer {
            lowest: EXT_VERSION + 1,
            highest: EXT_VERSION + 5,
        }
        .encode(&mut offer, 1);
        let answer = conn.send(&offer).unwrap();
        let mut probe = Negotiation::start(1, &mut Vec::new());
        assert_eq!(probe.read(&answer).unwrap().1, Some(ProbeOutcome::Classic));
        // And the connection stays 1.x only.
        let request = extended_get();
        assert!(matches!(conn.send(&request), Err(SessionError::Decode(_))));
    }

    /// The fuzz seed `fuzz/seeds/server_session/extension-offer-and-ops`,
    /// built by hand from docs/protocol.md's layout rather than with the
    /// codec: the offer is accepted and every extended request answered.
    #[test]
    fn the_documented_bytes_of_an_offer_and_extended_requests_are_served() {
        let seed = include_bytes!("../../../fuzz/seeds/server_session/extension-offer-and-ops");
        let mut conn = Conn::new();
        let mut out = Vec::new();
        let served = conn
            .session
            .serve(
                &mut conn.dispatcher,
                &seed[1..],
                conn.now,
                &mut out,
                usize::MAX,
            )
            .unwrap();
        assert_eq!((served.consumed, served.requests), (seed.len() - 1, 7));
        assert_eq!(conn.session.extension(), Some(EXT_VERSION));
        let mut decoder = dc_protocol::extension::FrameDecoder::new(Kind::Response);
        decoder.enable(EXT_VERSION);
        let mut at = 0;
        let mut answers = Vec::new();
        while at < out.len() {
            let decoded = decoder.decode(&out[at..]).unwrap();
            at += decoded.consumed;
            match decoded.incoming {
                Some(dc_protocol::extension::Incoming::Classic { command, .. }) => {
                    answers.push(format!("{} {}", command.operation, command.payload.len()))
                }
                Some(dc_protocol::extension::Incoming::Extended(command)) => {
                    answers.push(format!("{} {:?}", command.operation, command.payload))
                }
                None => {}
            }
        }
        assert_eq!(
            answers,
            [
                "HAVE 40".to_string(),
                "X-SET [0]".into(),
                format!("X-GET {:?}", [&[0, 0, 0, 0, 7][..], b"value"].concat()),
                "X-TOUCH [0]".into(),
                format!("X-TTL {:?}", [&[0][..], &5000u64.to_be_bytes()].concat()),
                format!("X-INCRBY {:?}", [&[0][..], &(-3i64).to_be_bytes()].concat()),
                "GET 5".into(),
            ]
        );
    }
}
