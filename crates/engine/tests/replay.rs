//! Replays every server case captured from the original dc_server through
//! the sans-IO engine on a virtual clock: `sleep_ms` steps advance the clock
//! instead of sleeping, so the timing-sensitive cases are exact.
//!
//! Cases the capture marks `original_defect` are checked against their
//! `recommended` behaviour instead of the recorded bytes; so are the fatal
//! cases, which killed the original but must only close one connection here.

use std::collections::HashMap;

use dc_engine::{ClientSession, Dispatcher, SessionError};
use dc_store::{Limits, MemoryStore, Millis};
use serde_json::Value;

const HIGH_WATER: usize = 1 << 20;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/vectors/vectors.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// One simulated client connection.
#[derive(Default)]
struct Conn {
    session: ClientSession,
    input: Vec<u8>,
    output: Vec<u8>,
    closed_by_server: Option<SessionError>,
}

struct Sim {
    dispatcher: Dispatcher<MemoryStore>,
    conns: HashMap<String, Conn>,
    now: Millis,
}

impl Sim {
    fn new(args: &[Value]) -> Sim {
        let mut sessions = 512;
        let mut it = args.iter().map(|a| a.as_str().unwrap());
        while let Some(a) = it.next() {
            if a == "-sessions" {
                sessions = it.next().unwrap().parse().unwrap();
            }
        }
        Sim {
            dispatcher: Dispatcher::new(MemoryStore::new(Limits::new(sessions, 64 << 20).unwrap())),
            conns: HashMap::new(),
            // Any start: the engine's clock is relative.
            now: 1_000_000,
        }
    }

    fn send(&mut self, conn: &str, bytes: &[u8]) {
        let c = self.conns.entry(conn.to_string()).or_default();
        if c.closed_by_server.is_some() {
            return; // the server no longer reads this connection
        }
        c.input.extend_from_slice(bytes);
        match c.session.serve(
            &mut self.dispatcher,
            &c.input,
            self.now,
            &mut c.output,
            HIGH_WATER,
        ) {
            Ok(served) => {
                assert!(!served.blocked);
                c.input.drain(..served.consumed);
            }
            Err(e) => c.closed_by_server = Some(e),
        }
    }

    fn take_output(&mut self, conn: &str) -> Vec<u8> {
        std::mem::take(&mut self.conns.entry(conn.to_string()).or_default().output)
    }
}

fn hex_of(step: &Value, key: &str) -> Option<Vec<u8>> {
    step[key].as_str().map(|h| hex::decode(h).unwrap())
}

fn replay(case: &Value) {
    let name = case["name"].as_str().unwrap();
    let mut sim = Sim::new(
        case["server_args"]
            .as_array()
            .map(|v| v.as_slice())
            .unwrap_or(&[]),
    );
    let steps = case["steps"].as_array().unwrap();
    for (i, step) in steps.iter().enumerate() {
        let conn = step["conn"].as_str().unwrap_or("a");
        let at = format!("{name}, step {i}");
        if let Some(bytes) = hex_of(step, "send") {
            sim.send(conn, &bytes);
        } else if let Some(want) = hex_of(step, "recv") {
            let got = sim.take_output(conn);
            assert_eq!(
                hex::encode(&got),
                hex::encode(&want),
                "{at}: answer differs"
            );
        } else if step["expect_eof"].as_bool() == Some(true) {
            let c = sim
                .conns
                .get(conn)
                .unwrap_or_else(|| panic!("{at}: no such connection"));
            assert!(
                c.closed_by_server.is_some(),
                "{at}: connection should be closed"
            );
            assert!(
                c.output.is_empty(),
                "{at}: unexpected answer before the close"
            );
        } else if let Some(ms) = step["sleep_ms"].as_u64() {
            sim.now += ms;
        } else if step["close"].as_bool() == Some(true) {
            sim.conns.remove(conn);
        } else {
            panic!("{at}: unknown step {step}");
        }
    }
    for (id, c) in &sim.conns {
        assert!(
            c.output.is_empty(),
            "{name}: unread answers on connection {id}"
        );
    }
}

#[test]
fn every_captured_server_case() {
    let v = vectors();
    let mut replayed = 0;
    for case in v["server_cases"].as_array().unwrap() {
        if case["original_defect"].as_bool() == Some(true) {
            continue; // see the recommended-behaviour tests below
        }
        replay(case);
        replayed += 1;
    }
    assert_eq!(replayed, 52);
}

/// The original closed the connection instead of answering a HAVE pipelined
/// behind a GET answer of 6117 bytes or more.
#[test]
fn pipelined_after_a_large_get_is_answered_in_order() {
    let v = vectors();
    let case = v["server_cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "pipelined_after_get_6117")
        .unwrap();
    let steps = case["steps"].as_array().unwrap();
    let mut sim = Sim::new(&[]);
    sim.send("a", &hex_of(&steps[0], "send").unwrap());
    assert_eq!(sim.take_output("a"), hex_of(&steps[1], "recv").unwrap());
    sim.send("a", &hex_of(&steps[2], "send").unwrap());
    let out = sim.take_output("a");
    let first_frame = hex_of(&steps[3], "recv").unwrap();
    assert!(out.starts_with(&first_frame));
    // 2048 + 2048 + 2021 data bytes in three frames, then the HAVE answer.
    assert_eq!(out.len(), 3 * 14 + 6117 + 15);
    let have = &out[out.len() - 15..];
    assert_eq!(&have[..4], &[0, 0x11, 0, 0]);
    assert_eq!(have[10], 3, "the last answer is the HAVE's");
    assert_eq!(have[14], 0, "and the session is present");
    assert!(sim.conns["a"].closed_by_server.is_none());
}

/// Inputs that killed the original server close only their own connection
/// here; a second connection is still served and earlier sessions survive.
#[test]
fn fatal_inputs_close_one_connection_only() {
    let v = vectors();
    for case in v["fatal_cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let mut sim = Sim::new(&[]);
        let mut add = Vec::new();
        dc_protocol::Request::Add {
            timeout_ms: 60_000,
            id: b"kept",
            data: b"still here",
        }
        .encode(&mut add, 1)
        .unwrap();
        sim.send("before", &add);
        assert_eq!(sim.take_output("before")[14], 0);

        let bad = hex_of(&case["steps"][0], "send").unwrap();
        sim.send("bad", &bad);
        let c = &sim.conns["bad"];
        assert!(c.output.is_empty(), "{name}: answered garbage");
        let expect_eof = case["steps"][1]["expect_eof"].as_bool() == Some(true);
        if expect_eof {
            assert!(c.closed_by_server.is_some(), "{name}: should be closed");
        }

        let mut get = Vec::new();
        dc_protocol::Request::Get { id: b"kept" }
            .encode(&mut get, 2)
            .unwrap();
        sim.send("after", &get);
        let out = sim.take_output("after");
        assert_eq!(&out[14..], b"still here", "{name}");
    }
}
