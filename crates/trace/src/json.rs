//! The JSON trace: one object per line, for scripts (`jq`, log shippers).
//!
//! Every object has `time` (RFC 3339, UTC, milliseconds) and `event`; those
//! about a connection have `conn`. Session ids are hex, whole up to
//! [`KEPT_ID_LEN`](crate::KEPT_ID_LEN) bytes (longer ones are cut there), with
//! their real length in `id_len`.
//!
//! ```text
//! {"event":"open","time":"...","conn":0,"client":"127.0.0.1:40512","server":"IP:127.0.0.1:9001"}
//! {"event":"request","time":"...","conn":0,"dir":"c->s","uid":1,"op":"ADD","payload_len":30,"id":"6164642d6f6b","id_len":6,"timeout_ms":60000,"data_len":16}
//! {"event":"response","time":"...","conn":0,"dir":"s->c","uid":1,"op":"ADD","payload_len":1,"result":"OK","id":"6164642d6f6b","id_len":6,"rtt_ms":0.151}
//! {"event":"response",...,"op":"GET","payload_len":5000,"result":"hit","size":5000,...}
//! {"event":"undecodable","time":"...","conn":1,"dir":"c->s","offset":0,"error":"...","first_bytes":"474554..."}
//! {"event":"closed","time":"...","conn":0,"reason":"both sides done","duration_s":0.01,"to_server":{"bytes":..,"requests":..,"partial":0},"to_client":{...},"unanswered":0,"untracked":0,"undecodable":false}
//! {"event":"summary","time":"...","scope":"interval","span_s":5.0,"connections":{...},"requests":{"ADD":5,...},"responses":{"GET":{"hit":6,"miss":4}}}
//! ```
//!
//! With `--hex`, requests and responses also carry `payload_hex`.

use dc_protocol::{Operation, Request};
use serde_json::{json, Map, Value};

use crate::connection::KEPT_ID_LEN;
use crate::event::{Direction, Event, EventKind, IdPrefix};
use crate::summary::{Report, Scope};
use crate::text::push_hex;
use crate::time::Timestamp;

fn hex(bytes: &[u8]) -> String {
    let mut s = String::new();
    push_hex(&mut s, bytes);
    s
}

fn id_fields(object: &mut Map<String, Value>, id: IdPrefix<'_>) {
    let shown = &id.bytes[..id.bytes.len().min(KEPT_ID_LEN)];
    object.insert("id".into(), hex(shown).into());
    object.insert("id_len".into(), id.len.into());
}

/// The object for `event`.
pub fn event_value(event: &Event<'_>, hex_payloads: bool) -> Value {
    let mut o = Map::new();
    o.insert("time".into(), event.time.rfc3339().to_string().into());
    o.insert("conn".into(), event.connection.into());
    match &event.kind {
        EventKind::Opened { client, server } => {
            o.insert("event".into(), "open".into());
            o.insert("client".into(), (*client).into());
            o.insert("server".into(), (*server).into());
        }
        EventKind::Request(r) => {
            o.insert("event".into(), "request".into());
            o.insert("dir".into(), Direction::ClientToServer.label().into());
            o.insert("uid".into(), r.uid.into());
            o.insert("op".into(), r.operation.name().into());
            o.insert("payload_len".into(), r.payload.len().into());
            if let Some(id) = r.id {
                id_fields(
                    &mut o,
                    IdPrefix {
                        bytes: id,
                        len: id.len(),
                    },
                );
            }
            match &r.parsed {
                Ok(Request::Add {
                    timeout_ms, data, ..
                }) => {
                    o.insert("timeout_ms".into(), (*timeout_ms).into());
                    o.insert("data_len".into(), data.len().into());
                }
                Ok(_) => {}
                Err(e) => {
                    o.insert("invalid".into(), e.to_string().into());
                }
            }
            if hex_payloads {
                o.insert("payload_hex".into(), hex(r.payload).into());
            }
        }
        EventKind::Response(r) => {
            o.insert("event".into(), "response".into());
            o.insert("dir".into(), Direction::ServerToClient.label().into());
            o.insert("uid".into(), r.uid.into());
            o.insert("op".into(), r.operation.name().into());
            o.insert("payload_len".into(), r.payload.len().into());
            o.insert("result".into(), r.outcome.to_string().into());
            if let Some(size) = r.outcome.size() {
                o.insert("size".into(), size.into());
            }
            if let Some(answered) = r.answers {
                if let Some(id) = answered.id {
                    id_fields(&mut o, id);
                }
                let ms = answered.round_trip.as_secs_f64() * 1000.0;
                o.insert("rtt_ms".into(), ((ms * 1000.0).round() / 1000.0).into());
            }
            if hex_payloads {
                o.insert("payload_hex".into(), hex(r.payload).into());
            }
        }
        EventKind::Undecodable(u) => {
            o.insert("event".into(), "undecodable".into());
            o.insert("dir".into(), u.direction.label().into());
            o.insert("offset".into(), u.offset.into());
            o.insert("error".into(), u.error.to_string().into());
            o.insert("first_bytes".into(), hex(&u.first_bytes).into());
        }
        EventKind::Closed { reason, totals } => {
            let side = |d: Direction, commands: &str| {
                let t = totals.direction(d);
                json!({"bytes": t.bytes, commands: t.commands, "partial": t.partial})
            };
            o.insert("event".into(), "closed".into());
            o.insert("reason".into(), reason.to_string().into());
            o.insert("duration_s".into(), totals.duration.as_secs_f64().into());
            o.insert(
                "to_server".into(),
                side(Direction::ClientToServer, "requests"),
            );
            o.insert(
                "to_client".into(),
                side(Direction::ServerToClient, "responses"),
            );
            o.insert("unanswered".into(), totals.unanswered.into());
            o.insert("untracked".into(), totals.untracked.into());
            o.insert("undecodable".into(), totals.undecodable.into());
        }
    }
    Value::Object(o)
}

/// The object for a summary report.
pub fn report_value(report: &Report) -> Value {
    let c = &report.counts;
    let requests: Map<String, Value> = Operation::ALL
        .iter()
        .map(|op| (op.name().to_owned(), c.requests(*op).into()))
        .collect();
    let mut responses = Map::new();
    for (op, outcome, n) in c.responses() {
        let per_op = responses
            .entry(op.name())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(per_op) = per_op {
            per_op.insert(outcome.to_string(), n.into());
        }
    }
    json!({
        "time": report.time.rfc3339().to_string(),
        "event": "summary",
        "scope": match report.scope { Scope::Interval => "interval", Scope::Total => "total" },
        "span_s": report.span.as_secs_f64(),
        "connections": {
            "opened": c.opened,
            "closed": c.closed,
            "open": report.open,
            "undecodable": c.undecodable,
        },
        "requests": requests,
        "responses": responses,
    })
}

/// The object noting that `lines` trace lines were dropped.
pub fn dropped_value(time: Timestamp, lines: u64) -> Value {
    json!({
        "time": time.rfc3339().to_string(),
        "event": "dropped",
        "lines": lines,
    })
}

/// Appends `value` and a newline.
pub fn push_line(out: &mut String, value: &Value) {
    out.push_str(&value.to_string());
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Answered, CloseReason, Outcome, RequestSeen, ResponseSeen, Totals};
    use crate::summary::Counts;
    use std::time::Duration;

    const T: Timestamp = Timestamp::from_unix_micros(1_795_460_308_123_456);

    fn value(kind: EventKind<'_>, hex: bool) -> Value {
        let v = event_value(
            &Event {
                time: T,
                connection: 2,
                kind,
            },
            hex,
        );
        // What is printed parses back to the same value.
        let mut line = String::new();
        push_line(&mut line, &v);
        assert!(line.ends_with('\n') && !line[..line.len() - 1].contains('\n'));
        assert_eq!(serde_json::from_str::<Value>(&line).unwrap(), v);
        v
    }

    #[test]
    fn requests_and_responses() {
        let mut payload = 60000u32.to_be_bytes().to_vec();
        payload.extend_from_slice(&2u32.to_be_bytes());
        payload.extend_from_slice(b"idDATA");
        let v = value(
            EventKind::Request(RequestSeen {
                uid: 7,
                operation: Operation::Add,
                payload: &payload,
                id: Some(b"id"),
                parsed: Request::parse(Operation::Add, &payload),
            }),
            true,
        );
        assert_eq!(
            v,
            json!({"time": "2026-11-23T18:58:28.123Z", "conn": 2, "event": "request", "dir": "c->s",
                   "uid": 7, "op": "ADD", "payload_len": 14, "id": "6964", "id_len": 2,
                   "timeout_ms": 60000, "data_len": 4, "payload_hex": "0000ea60000000026964444154 41".replace(' ', "")})
        );
        let long = [0xabu8; 100];
        let v = value(
            EventKind::Response(ResponseSeen {
                uid: 7,
                operation: Operation::Get,
                payload: b"session",
                outcome: Outcome::Hit(7),
                answers: Some(Answered {
                    id: Some(IdPrefix {
                        bytes: &long[..KEPT_ID_LEN],
                        len: 100,
                    }),
                    round_trip: Duration::from_micros(1234),
                }),
            }),
            false,
        );
        assert_eq!(v["result"], "hit");
        assert_eq!(v["size"], 7);
        assert_eq!(v["id_len"], 100);
        assert_eq!(v["id"].as_str().unwrap().len(), 2 * KEPT_ID_LEN);
        assert_eq!(v["rtt_ms"], 1.234);
        assert!(v.get("payload_hex").is_none());
    }

    #[test]
    fn closed_and_summary() {
        let v = value(
            EventKind::Closed {
                reason: &CloseReason::Shutdown,
                totals: &Totals::default(),
            },
            false,
        );
        assert_eq!(v["event"], "closed");
        assert_eq!(v["reason"], "dc_snoop stopped");
        assert_eq!(v["to_server"]["requests"], 0);
        assert_eq!(v["to_client"]["responses"], 0);
        let mut counts = Counts::default();
        counts.requests[1] = 3;
        counts
            .responses
            .insert((Operation::Get.to_byte(), Outcome::Miss), 3);
        let v = report_value(&Report {
            time: T,
            scope: Scope::Total,
            span: Duration::from_millis(1500),
            counts,
            open: 0,
        });
        assert_eq!(v["scope"], "total");
        assert_eq!(v["span_s"], 1.5);
        assert_eq!(v["requests"]["GET"], 3);
        assert_eq!(v["responses"]["GET"]["miss"], 3);
        assert_eq!(dropped_value(T, 5)["lines"], 5);
    }
}
