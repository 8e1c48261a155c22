//! The trace of one relayed pair of connections: both directions' taps, and
//! the requests still waiting for an answer, so that a response line can show
//! the session id it is about and how long the server took.
//!
//! A server answers a connection's requests in order, so requests wait in a
//! queue and each response normally answers the oldest. A response whose uid
//! and operation do not match the oldest is paired with the first waiting
//! request that does match, and shown unpaired if none does.

use std::collections::VecDeque;

use dc_protocol::{Command, Operation, Request, MAX_ID_LEN};

use crate::event::{
    Answered, CloseReason, Direction, DirectionTotals, Event, EventKind, IdPrefix, Observer,
    Outcome, RequestSeen, ResponseSeen, Totals,
};
use crate::tap::Tap;
use crate::time::Timestamp;

/// Requests remembered per connection while they wait for their answers.
/// A client that pipelines more than this gets its further responses shown
/// without id and round-trip time; [`Totals::untracked`] counts them.
pub const MAX_IN_FLIGHT: usize = 1024;

/// Bytes of a request's session id remembered for its response line: the
/// longest id a server will store.
pub const KEPT_ID_LEN: usize = MAX_ID_LEN;

/// A request waiting for its answer.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    uid: u32,
    operation: Operation,
    /// The id's first bytes, `id_kept` of them, and its real length; no id
    /// when `id_len` is `None`.
    id: [u8; KEPT_ID_LEN],
    id_kept: usize,
    id_len: Option<usize>,
    sent: Timestamp,
}

impl InFlight {
    fn id(&self) -> Option<IdPrefix<'_>> {
        self.id_len.map(|len| IdPrefix {
            bytes: &self.id[..self.id_kept],
            len,
        })
    }
}

/// Decodes both directions of one relayed pair and reports what it sees.
#[derive(Debug)]
pub struct ConnectionTrace {
    number: u64,
    opened: Timestamp,
    taps: [Tap; 2],
    in_flight: VecDeque<InFlight>,
    untracked: u64,
}

impl ConnectionTrace {
    /// Starts the trace of connection `number` and reports it opened.
    pub fn open<O: Observer + ?Sized>(
        number: u64,
        now: Timestamp,
        client: &str,
        server: &str,
        observer: &mut O,
    ) -> ConnectionTrace {
        observer.event(&Event {
            time: now,
            connection: number,
            kind: EventKind::Opened { client, server },
        });
        ConnectionTrace {
            number,
            opened: now,
            taps: [
                Tap::new(Direction::ClientToServer),
                Tap::new(Direction::ServerToClient),
            ],
            in_flight: VecDeque::new(),
            untracked: 0,
        }
    }

    /// The connection's number.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// Decodes `bytes`, which were just relayed in `direction`, reporting
    /// every command they complete. Bytes that do not decode are reported
    /// once, and end decoding of both directions: the rest of this
    /// connection is only counted.
    pub fn feed<O: Observer + ?Sized>(
        &mut self,
        direction: Direction,
        bytes: &[u8],
        now: Timestamp,
        observer: &mut O,
    ) {
        let ConnectionTrace {
            number,
            taps,
            in_flight,
            untracked,
            ..
        } = self;
        let tap = &mut taps[direction.index()];
        let result = tap.feed(bytes, |command| {
            let kind = match direction {
                Direction::ClientToServer => {
                    let seen = request_seen(command);
                    remember(in_flight, untracked, &seen, now);
                    EventKind::Request(seen)
                }
                Direction::ServerToClient => {
                    let waiting = take_answered(in_flight, &command);
                    let answers = waiting.as_ref().map(|w| Answered {
                        id: w.id(),
                        round_trip: now.saturating_since(w.sent),
                    });
                    observer.event(&Event {
                        time: now,
                        connection: *number,
                        kind: EventKind::Response(ResponseSeen {
                            uid: command.request_uid,
                            operation: command.operation,
                            payload: command.payload,
                            outcome: Outcome::classify(command.operation, command.payload),
                            answers,
                        }),
                    });
                    return;
                }
            };
            observer.event(&Event {
                time: now,
                connection: *number,
                kind,
            });
        });
        if let Err(undecodable) = result {
            for tap in taps.iter_mut() {
                tap.stop();
            }
            observer.event(&Event {
                time: now,
                connection: *number,
                kind: EventKind::Undecodable(&undecodable),
            });
        }
    }

    /// What has passed through the pair so far.
    pub fn totals(&self, now: Timestamp) -> Totals {
        let direction = |tap: &Tap| DirectionTotals {
            bytes: tap.bytes(),
            commands: tap.commands(),
            partial: tap.partial(),
        };
        Totals {
            duration: now.saturating_since(self.opened),
            directions: [direction(&self.taps[0]), direction(&self.taps[1])],
            unanswered: self.in_flight.len() as u64,
            untracked: self.untracked,
            undecodable: self.taps.iter().any(Tap::is_stopped),
        }
    }

    /// Reports the pair closed, with its totals.
    pub fn close<O: Observer + ?Sized>(
        &mut self,
        reason: &CloseReason,
        now: Timestamp,
        observer: &mut O,
    ) {
        let totals = self.totals(now);
        observer.event(&Event {
            time: now,
            connection: self.number,
            kind: EventKind::Closed {
                reason,
                totals: &totals,
            },
        });
    }
}

fn request_seen(command: Command<'_>) -> RequestSeen<'_> {
    let payload = command.payload;
    let id = match command.operation {
        Operation::Add => add_id(payload),
        _ => Some(payload),
    };
    RequestSeen {
        uid: command.request_uid,
        operation: command.operation,
        payload,
        id,
        parsed: Request::parse(command.operation, payload),
    }
}

/// The id of an ADD payload whenever its `id_len` fits, so that refused
/// ADDs (timeout or id length out of range) still show what they were about.
fn add_id(payload: &[u8]) -> Option<&[u8]> {
    let id_len = payload.get(4..8)?;
    let id_len = u32::from_be_bytes([id_len[0], id_len[1], id_len[2], id_len[3]]);
    let end = usize::try_from(id_len).ok()?.checked_add(8)?;
    payload.get(8..end)
}

fn remember(
    in_flight: &mut VecDeque<InFlight>,
    untracked: &mut u64,
    seen: &RequestSeen<'_>,
    now: Timestamp,
) {
    if in_flight.len() >= MAX_IN_FLIGHT {
        *untracked += 1;
        return;
    }
    let mut entry = InFlight {
        uid: seen.uid,
        operation: seen.operation,
        id: [0; KEPT_ID_LEN],
        id_kept: 0,
        id_len: seen.id.map(<[u8]>::len),
        sent: now,
    };
    if let Some(id) = seen.id {
        entry.id_kept = id.len().min(KEPT_ID_LEN);
        entry.id[..entry.id_kept].copy_from_slice(&id[..entry.id_kept]);
    }
    in_flight.push_back(entry);
}

fn take_answered(in_flight: &mut VecDeque<InFlight>, response: &Command<'_>) -> Option<InFlight> {
    let matches = |w: &InFlight| w.uid == response.request_uid && w.operation == response.operation;
    let at = in_flight.iter().position(matches)?;
    in_flight.remove(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dc_protocol::{encode, CommandHeader};
    use std::time::Duration;

    /// Keeps a one-line description of every event.
    #[derive(Default)]
    struct Lines(Vec<String>);

    impl Observer for Lines {
        fn event(&mut self, event: &Event<'_>) {
            let line = match &event.kind {
                EventKind::Opened { client, server } => format!("open {client} {server}"),
                EventKind::Request(r) => {
                    format!(
                        "req {} {} id={:?} ok={}",
                        r.uid,
                        r.operation,
                        r.id,
                        r.parsed.is_ok()
                    )
                }
                EventKind::Response(r) => format!(
                    "rsp {} {} {} id={:?} rtt={:?}",
                    r.uid,
                    r.operation,
                    r.outcome,
                    r.answers
                        .and_then(|a| a.id)
                        .map(|i| (i.bytes.to_vec(), i.len)),
                    r.answers.map(|a| a.round_trip)
                ),
                EventKind::Undecodable(u) => format!("undecodable {} at {}", u.direction, u.offset),
                EventKind::Closed { reason, totals } => format!("closed {reason} {totals:?}"),
            };
            self.0.push(line);
        }
    }

    fn frames(header: CommandHeader, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(&mut out, header, payload).unwrap();
        out
    }

    fn add_payload(timeout: u32, id: &[u8], data: &[u8]) -> Vec<u8> {
        let mut p = timeout.to_be_bytes().to_vec();
        p.extend_from_slice(&(id.len() as u32).to_be_bytes());
        p.extend_from_slice(id);
        p.extend_from_slice(data);
        p
    }

    fn at(ms: u64) -> Timestamp {
        Timestamp::from_unix_micros(ms * 1000)
    }

    #[test]
    fn responses_show_the_id_and_round_trip_of_their_request() {
        let mut lines = Lines::default();
        let mut trace =
            ConnectionTrace::open(4, at(0), "127.0.0.1:1", "IP:127.0.0.1:2", &mut lines);
        let c2s = Direction::ClientToServer;
        let s2c = Direction::ServerToClient;
        let add = frames(
            CommandHeader::request(1, Operation::Add),
            &add_payload(60000, b"id-1", b"data"),
        );
        let get = frames(CommandHeader::request(2, Operation::Get), b"id-1");
        // Pipelined: both requests before either answer.
        trace.feed(c2s, &[add, get].concat(), at(10), &mut lines);
        trace.feed(
            s2c,
            &frames(CommandHeader::response(1, Operation::Add), &[0]),
            at(12),
            &mut lines,
        );
        trace.feed(
            s2c,
            &frames(CommandHeader::response(2, Operation::Get), b"data"),
            at(15),
            &mut lines,
        );
        // A response nobody asked for.
        trace.feed(
            s2c,
            &frames(CommandHeader::response(9, Operation::Have), &[1]),
            at(16),
            &mut lines,
        );
        assert_eq!(
            lines.0[1..],
            [
                "req 1 ADD id=Some([105, 100, 45, 49]) ok=true",
                "req 2 GET id=Some([105, 100, 45, 49]) ok=true",
                "rsp 1 ADD OK id=Some(([105, 100, 45, 49], 4)) rtt=Some(2ms)",
                "rsp 2 GET hit id=Some(([105, 100, 45, 49], 4)) rtt=Some(5ms)",
                "rsp 9 HAVE NOTOK id=None rtt=None",
            ]
        );
        let totals = trace.totals(at(20));
        assert_eq!(totals.duration, Duration::from_millis(20));
        assert_eq!(totals.direction(c2s).commands, 2);
        assert_eq!(totals.direction(s2c).commands, 3);
        assert_eq!(totals.unanswered, 0);
        assert!(!totals.undecodable);
    }

    #[test]
    fn refused_adds_still_show_their_id() {
        let mut lines = Lines::default();
        let mut trace = ConnectionTrace::open(0, at(0), "c", "s", &mut lines);
        let too_long = [b'x'; 70];
        for (uid, payload) in [
            (1, add_payload(700_000_000, b"abc", b"d")),
            (2, add_payload(1000, &too_long, b"d")),
            (3, add_payload(1000, b"abc", b"")),
            (4, vec![0, 0, 1]),
        ] {
            let bytes = frames(CommandHeader::request(uid, Operation::Add), &payload);
            trace.feed(Direction::ClientToServer, &bytes, at(1), &mut lines);
        }
        assert_eq!(lines.0[1], "req 1 ADD id=Some([97, 98, 99]) ok=false");
        assert!(
            lines.0[2].starts_with("req 2 ADD id=Some([120, 120"),
            "{}",
            lines.0[2]
        );
        // No session data: refused as CORRUPT, but the id is there.
        assert_eq!(lines.0[3], "req 3 ADD id=Some([97, 98, 99]) ok=false");
        assert_eq!(lines.0[4], "req 4 ADD id=None ok=false");
        // Long ids are remembered in part, with their length.
        trace.feed(
            Direction::ServerToClient,
            &frames(CommandHeader::response(2, Operation::Add), &[103]),
            at(2),
            &mut lines,
        );
        assert!(
            lines.0[5].contains(&format!("], {})) rtt=Some(1ms)", too_long.len())),
            "{}",
            lines.0[5]
        );
        assert!(lines.0[5].contains("ID_RANGE"));
        assert_eq!(trace.totals(at(3)).unanswered, 3);
    }

    #[test]
    fn in_flight_requests_are_bounded_and_counted() {
        let mut lines = Lines::default();
        let mut trace = ConnectionTrace::open(0, at(0), "c", "s", &mut lines);
        let mut burst = Vec::new();
        for uid in 0..(MAX_IN_FLIGHT as u32 + 5) {
            burst.extend(frames(CommandHeader::request(uid, Operation::Have), b"id"));
        }
        trace.feed(Direction::ClientToServer, &burst, at(1), &mut lines);
        let totals = trace.totals(at(1));
        assert_eq!(
            totals.direction(Direction::ClientToServer).commands,
            MAX_IN_FLIGHT as u64 + 5
        );
        assert_eq!(totals.unanswered, MAX_IN_FLIGHT as u64);
        assert_eq!(totals.untracked, 5);
        // The untracked request's answer is shown, unpaired.
        let uid = MAX_IN_FLIGHT as u32 + 1;
        trace.feed(
            Direction::ServerToClient,
            &frames(CommandHeader::response(uid, Operation::Have), &[0]),
            at(2),
            &mut lines,
        );
        assert_eq!(
            lines.0.last().unwrap(),
            &format!("rsp {uid} HAVE OK id=None rtt=None")
        );
    }

    #[test]
    fn garbage_stops_decoding_of_both_directions() {
        let mut lines = Lines::default();
        let mut trace = ConnectionTrace::open(7, at(0), "c", "s", &mut lines);
        trace.feed(Direction::ClientToServer, b"HELO there", at(1), &mut lines);
        let answer = frames(CommandHeader::response(1, Operation::Get), &[1]);
        trace.feed(Direction::ServerToClient, &answer, at(2), &mut lines);
        trace.close(&CloseReason::Finished, at(3), &mut lines);
        assert_eq!(lines.0.len(), 3, "{:?}", lines.0);
        assert_eq!(lines.0[1], "undecodable c->s at 0");
        let totals = trace.totals(at(3));
        assert!(totals.undecodable);
        assert_eq!(totals.direction(Direction::ClientToServer).bytes, 10);
        assert_eq!(
            totals.direction(Direction::ServerToClient).bytes,
            answer.len() as u64
        );
        assert_eq!(totals.direction(Direction::ServerToClient).commands, 0);
        assert!(lines.0[2].starts_with("closed both sides done"));
    }
}
