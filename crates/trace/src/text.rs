//! The text trace: one line per event, made to be read and grepped.
//!
//! ```text
//! 18:58:28.120 #0 open client=127.0.0.1:40512 server=IP:127.0.0.1:9001
//! 18:58:28.121 #0 c->s uid=1 ADD id=6164642d6f6b payload=30 timeout=60000ms data=16
//! 18:58:28.121 #0 s->c uid=1 ADD id=6164642d6f6b payload=1 result=OK rtt=0.151ms
//! 18:58:28.122 #0 c->s uid=2 GET id=00112233445566778899aabbccddeeff...[40] payload=40
//! 18:58:28.122 #0 s->c uid=2 GET id=00112233445566778899aabbccddeeff...[40] payload=5000 result=hit size=5000 rtt=0.210ms
//! 18:58:28.130 #0 closed (both sides done) after 0.010s: c->s 2 requests 5132 bytes, s->c 2 responses 5057 bytes
//! ```
//!
//! Time stamps are UTC time of day with milliseconds. `#n` numbers the
//! accepted connections from 0. Session ids are hex, cut to their first
//! [`SHORT_ID_LEN`] bytes and followed by `...[<length>]` when longer. A
//! response's id is that of the request it answers, and `rtt` the time from
//! that request to this response, both as relayed; a response whose request
//! was not seen shows neither. With `--hex`, each command's payload follows
//! its line as an indented hex dump.

use std::fmt::{self, Write};

use dc_protocol::Request;

use crate::event::{CloseReason, Direction, Totals};
use crate::event::{Event, EventKind, IdPrefix, RequestSeen, ResponseSeen, Undecodable};
use crate::summary::{Report, Scope};
use crate::time::Timestamp;

/// Bytes of a session id shown in a text line; longer ids are cut.
pub const SHORT_ID_LEN: usize = 16;

/// Appends the line (and with `hex`, the payload dump) for `event`.
pub fn write_event(out: &mut String, event: &Event<'_>, hex: bool) -> fmt::Result {
    write!(out, "{} #{} ", event.time.time_of_day(), event.connection)?;
    match &event.kind {
        EventKind::Opened { client, server } => {
            writeln!(out, "open client={client} server={server}")
        }
        EventKind::Request(request) => {
            write_request(out, request)?;
            if hex {
                write_dump(out, request.payload)?;
            }
            Ok(())
        }
        EventKind::Response(response) => {
            write_response(out, response)?;
            if hex {
                write_dump(out, response.payload)?;
            }
            Ok(())
        }
        EventKind::Undecodable(undecodable) => write_undecodable(out, undecodable),
        EventKind::Closed { reason, totals } => write_closed(out, reason, totals),
    }
}

fn write_request(out: &mut String, r: &RequestSeen<'_>) -> fmt::Result {
    write!(
        out,
        "{} uid={} {} id=",
        Direction::ClientToServer,
        r.uid,
        r.operation
    )?;
    match r.id {
        Some(id) => write_id(
            out,
            IdPrefix {
                bytes: id,
                len: id.len(),
            },
        )?,
        None => out.push('?'),
    }
    write!(out, " payload={}", r.payload.len())?;
    match &r.parsed {
        Ok(Request::Add {
            timeout_ms, data, ..
        }) => writeln!(out, " timeout={timeout_ms}ms data={}", data.len()),
        Ok(_) => writeln!(out),
        Err(e) => writeln!(out, " invalid: {e}"),
    }
}

fn write_response(out: &mut String, r: &ResponseSeen<'_>) -> fmt::Result {
    write!(
        out,
        "{} uid={} {}",
        Direction::ServerToClient,
        r.uid,
        r.operation
    )?;
    if let Some(id) = r.answers.and_then(|a| a.id) {
        out.push_str(" id=");
        write_id(out, id)?;
    }
    write!(out, " payload={} result={}", r.payload.len(), r.outcome)?;
    if let Some(size) = r.outcome.size() {
        write!(out, " size={size}")?;
    }
    if let Some(answered) = r.answers {
        let ms = answered.round_trip.as_secs_f64() * 1000.0;
        write!(out, " rtt={ms:.3}ms")?;
    }
    writeln!(out)
}

fn write_undecodable(out: &mut String, u: &Undecodable) -> fmt::Result {
    write!(
        out,
        "{} UNDECODABLE at byte {}: {}; relayed unchanged, not decoded from here on; first {} bytes: ",
        u.direction,
        u.offset,
        u.error,
        u.first_bytes.len()
    )?;
    for (i, b) in u.first_bytes.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write!(out, "{b:02x}")?;
    }
    out.push_str(" |");
    push_printable(out, &u.first_bytes);
    out.push_str("|\n");
    Ok(())
}

fn write_closed(out: &mut String, reason: &CloseReason, t: &Totals) -> fmt::Result {
    let c2s = t.direction(Direction::ClientToServer);
    let s2c = t.direction(Direction::ServerToClient);
    write!(
        out,
        "closed ({reason}) after {:.3}s: c->s {} requests {} bytes, s->c {} responses {} bytes",
        t.duration.as_secs_f64(),
        c2s.commands,
        c2s.bytes,
        s2c.commands,
        s2c.bytes
    )?;
    if t.unanswered > 0 {
        write!(out, ", {} unanswered", t.unanswered)?;
    }
    if t.untracked > 0 {
        write!(out, ", {} not paired (too many in flight)", t.untracked)?;
    }
    if t.undecodable {
        out.push_str(", undecodable");
    }
    for direction in Direction::BOTH {
        let partial = t.direction(direction).partial;
        if partial > 0 {
            write!(out, ", {direction} cut mid-command after {partial} bytes")?;
        }
    }
    writeln!(out)
}

/// Appends a summary report line.
pub fn write_report(out: &mut String, report: &Report) -> fmt::Result {
    let scope = match report.scope {
        Scope::Interval => "last",
        Scope::Total => "total",
    };
    let c = &report.counts;
    write!(
        out,
        "{} summary ({scope} {:.3}s): connections opened={} closed={} open={} undecodable={}; requests",
        report.time.time_of_day(),
        report.span.as_secs_f64(),
        c.opened,
        c.closed,
        report.open,
        c.undecodable
    )?;
    for op in dc_protocol::Operation::ALL {
        write!(out, " {op}={}", c.requests(op))?;
    }
    out.push_str("; responses");
    let mut any = false;
    for (op, outcome, n) in c.responses() {
        write!(out, " {op}:{outcome}={n}")?;
        any = true;
    }
    if !any {
        out.push_str(" none");
    }
    writeln!(out)
}

/// Appends the notice that `lines` trace lines were dropped.
pub fn write_dropped(out: &mut String, time: Timestamp, lines: u64) -> fmt::Result {
    writeln!(
        out,
        "{} dropped {lines} trace lines: the output was not keeping up",
        time.time_of_day()
    )
}

/// Appends `id` as hex, shortened past [`SHORT_ID_LEN`] bytes.
fn write_id(out: &mut String, id: IdPrefix<'_>) -> fmt::Result {
    if id.len == 0 {
        out.push_str("(empty)");
        return Ok(());
    }
    let shown = &id.bytes[..id.bytes.len().min(SHORT_ID_LEN)];
    push_hex(out, shown);
    if id.len > shown.len() {
        write!(out, "...[{}]", id.len)?;
    }
    Ok(())
}

/// Appends `bytes` as lower-case hex.
pub(crate) fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
}

/// Appends `bytes` with anything but printable ASCII shown as `.`.
fn push_printable(out: &mut String, bytes: &[u8]) {
    out.extend(bytes.iter().map(|&b| {
        if b.is_ascii_graphic() || b == b' ' {
            char::from(b)
        } else {
            '.'
        }
    }));
}

/// Appends an indented hex dump of `payload`, 16 bytes a line.
fn write_dump(out: &mut String, payload: &[u8]) -> fmt::Result {
    for (i, row) in payload.chunks(16).enumerate() {
        write!(out, "    {:04x} ", i * 16)?;
        for (j, b) in row.iter().enumerate() {
            if j == 8 {
                out.push(' ');
            }
            write!(out, " {b:02x}")?;
        }
        let missing = 16 - row.len();
        let pad = missing * 3 + usize::from(row.len() <= 8);
        out.extend(std::iter::repeat_n(' ', pad));
        out.push_str("  |");
        push_printable(out, row);
        out.push_str("|\n");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Answered, DirectionTotals, Outcome};
    use crate::summary::Counts;
    use dc_protocol::{DecodeError, Operation, RequestError, Status};
    use std::time::Duration;

    // 2026-11-23T18:58:28.123Z
    const T: Timestamp = Timestamp::from_unix_micros(1_795_460_308_123_456);

    fn line(kind: EventKind<'_>, hex: bool) -> String {
        let mut out = String::new();
        write_event(
            &mut out,
            &Event {
                time: T,
                connection: 3,
                kind,
            },
            hex,
        )
        .unwrap();
        out
    }

    fn add_payload(id: &[u8], data: &[u8]) -> Vec<u8> {
        let mut p = 60000u32.to_be_bytes().to_vec();
        p.extend_from_slice(&(id.len() as u32).to_be_bytes());
        p.extend_from_slice(id);
        p.extend_from_slice(data);
        p
    }

    #[test]
    fn request_lines() {
        let payload = add_payload(b"add-ok", b"0123456789abcdef");
        let add = RequestSeen {
            uid: 1,
            operation: Operation::Add,
            payload: &payload,
            id: Some(b"add-ok"),
            parsed: Request::parse(Operation::Add, &payload),
        };
        assert_eq!(
            line(EventKind::Request(add), false),
            "18:58:28.123 #3 c->s uid=1 ADD id=6164642d6f6b payload=30 timeout=60000ms data=16\n"
        );
        let long_id: Vec<u8> = (0..40).collect();
        let get = RequestSeen {
            uid: 0xffff_ffff,
            operation: Operation::Get,
            payload: &long_id,
            id: Some(&long_id),
            parsed: Request::parse(Operation::Get, &long_id),
        };
        assert_eq!(
            line(EventKind::Request(get), false),
            "18:58:28.123 #3 c->s uid=4294967295 GET id=000102030405060708090a0b0c0d0e0f...[40] payload=40\n"
        );
        let empty = RequestSeen {
            uid: 2,
            operation: Operation::Have,
            payload: b"",
            id: Some(b""),
            parsed: Request::parse(Operation::Have, b""),
        };
        assert_eq!(
            line(EventKind::Request(empty), false),
            "18:58:28.123 #3 c->s uid=2 HAVE id=(empty) payload=0\n"
        );
        let short = RequestSeen {
            uid: 5,
            operation: Operation::Add,
            payload: &[0, 0],
            id: None,
            parsed: Err(RequestError::AddTooShort { len: 2 }),
        };
        assert_eq!(
            line(EventKind::Request(short), false),
            "18:58:28.123 #3 c->s uid=5 ADD id=? payload=2 invalid: ADD payload of 2 bytes is shorter than its 8-byte header\n"
        );
        let refused = add_payload(b"x", b"");
        let refused = RequestSeen {
            uid: 6,
            operation: Operation::Add,
            payload: &refused,
            id: Some(b"x"),
            parsed: Err(RequestError::Refused(Status::AddCorrupt)),
        };
        assert!(line(EventKind::Request(refused), false)
            .ends_with("ADD id=78 payload=9 invalid: ADD refused: CORRUPT (100)\n"));
    }

    #[test]
    fn response_lines() {
        let data = vec![0x41u8; 5000];
        let hit = ResponseSeen {
            uid: 2,
            operation: Operation::Get,
            payload: &data,
            outcome: Outcome::Hit(5000),
            answers: Some(Answered {
                id: Some(IdPrefix {
                    bytes: b"abc",
                    len: 3,
                }),
                round_trip: Duration::from_micros(210),
            }),
        };
        assert_eq!(
            line(EventKind::Response(hit), false),
            "18:58:28.123 #3 s->c uid=2 GET id=616263 payload=5000 result=hit size=5000 rtt=0.210ms\n"
        );
        for (op, payload, result) in [
            (Operation::Get, &[1u8][..], "result=miss"),
            (Operation::Add, &[0], "result=OK"),
            (Operation::Add, &[101], "result=MATCHING_SESSION"),
            (Operation::Remove, &[1], "result=NOTOK"),
            (Operation::Have, &[], "result=empty"),
            (Operation::Have, &[0, 1], "result=malformed size=2"),
        ] {
            let r = ResponseSeen {
                uid: 9,
                operation: op,
                payload,
                outcome: Outcome::classify(op, payload),
                answers: None,
            };
            assert_eq!(
                line(EventKind::Response(r), false),
                format!(
                    "18:58:28.123 #3 s->c uid=9 {op} payload={} {result}\n",
                    payload.len()
                )
            );
        }
    }

    #[test]
    fn hex_dumps_follow_the_line() {
        let payload: Vec<u8> = b"0123456789abcdefXYZ\x00\xff".to_vec();
        let r = ResponseSeen {
            uid: 1,
            operation: Operation::Get,
            payload: &payload,
            outcome: Outcome::Hit(payload.len()),
            answers: None,
        };
        let text = line(EventKind::Response(r), true);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(
            lines[1],
            "    0000  30 31 32 33 34 35 36 37  38 39 61 62 63 64 65 66  |0123456789abcdef|"
        );
        assert_eq!(
            lines[2],
            "    0010  58 59 5a 00 ff                                    |XYZ..|"
        );
        // Every dump line is as wide, whatever the row length.
        let short = ResponseSeen {
            payload: &payload[..9],
            ..r
        };
        let text = line(EventKind::Response(short), true);
        let dump = text.lines().nth(1).unwrap();
        assert_eq!(dump.find('|'), lines[1].find('|'), "{dump}");
    }

    #[test]
    fn undecodable_and_closed_lines() {
        let u = Undecodable {
            direction: Direction::ClientToServer,
            error: DecodeError::Version { found: 0x4745_5420 },
            offset: 0,
            first_bytes: b"GET / HTTP/1.1\r\n".to_vec(),
        };
        assert_eq!(
            line(EventKind::Undecodable(&u), false),
            "18:58:28.123 #3 c->s UNDECODABLE at byte 0: protocol version mismatch: peer sent level 47455420, expected 0011xxxx; \
             relayed unchanged, not decoded from here on; first 16 bytes: \
             47 45 54 20 2f 20 48 54 54 50 2f 31 2e 31 0d 0a |GET / HTTP/1.1..|\n"
        );
        let totals = Totals {
            duration: Duration::from_millis(80),
            directions: [
                DirectionTotals {
                    bytes: 1234,
                    commands: 6,
                    partial: 12,
                },
                DirectionTotals {
                    bytes: 90,
                    commands: 6,
                    partial: 0,
                },
            ],
            unanswered: 1,
            untracked: 0,
            undecodable: false,
        };
        assert_eq!(
            line(
                EventKind::Closed {
                    reason: &CloseReason::Finished,
                    totals: &totals
                },
                false
            ),
            "18:58:28.123 #3 closed (both sides done) after 0.080s: c->s 6 requests 1234 bytes, \
             s->c 6 responses 90 bytes, 1 unanswered, c->s cut mid-command after 12 bytes\n"
        );
        assert_eq!(
            line(
                EventKind::Opened {
                    client: "127.0.0.1:5",
                    server: "IP:127.0.0.1:9"
                },
                false
            ),
            "18:58:28.123 #3 open client=127.0.0.1:5 server=IP:127.0.0.1:9\n"
        );
    }

    #[test]
    fn summary_lines() {
        let mut counts = Counts {
            opened: 3,
            closed: 2,
            requests: [5, 10, 1, 0],
            ..Counts::default()
        };
        counts
            .responses
            .insert((Operation::Add.to_byte(), Outcome::Status(0)), 4);
        counts
            .responses
            .insert((Operation::Add.to_byte(), Outcome::Status(101)), 1);
        counts
            .responses
            .insert((Operation::Get.to_byte(), Outcome::Hit(0)), 6);
        let report = Report {
            time: T,
            scope: Scope::Interval,
            span: Duration::from_secs(5),
            counts,
            open: 1,
        };
        let mut out = String::new();
        write_report(&mut out, &report).unwrap();
        assert_eq!(
            out,
            "18:58:28.123 summary (last 5.000s): connections opened=3 closed=2 open=1 undecodable=0; \
             requests ADD=5 GET=10 REMOVE=1 HAVE=0; responses ADD:OK=4 ADD:MATCHING_SESSION=1 GET:hit=6\n"
        );
        let mut out = String::new();
        write_report(
            &mut out,
            &Report {
                scope: Scope::Total,
                counts: Counts::default(),
                ..report
            },
        )
        .unwrap();
        assert!(out.contains("summary (total 5.000s)"), "{out}");
        assert!(out.ends_with("; responses none\n"), "{out}");
    }
}
