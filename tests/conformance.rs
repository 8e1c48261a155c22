//! Differential conformance of dc_server's RESP2 and memcache (text and
//! binary) front doors against the real servers: redis-server 7.0 and
//! memcached 1.6, as installed from Debian.
//!
//! Each script is a sequence of raw requests. It runs on the real server and
//! on dc_server at the same time (so the waits of the expiry steps overlap),
//! every reply is read by parsing it just enough to know where it ends, and
//! the replies are compared byte for byte. A step whose replies legitimately
//! differ names an entry of [`DELIBERATE_DIFFERENCES`] and checks
//! dc_server's own documented answer instead; a few replies (INFO, stats,
//! version) are compared on their shape only.
//!
//! The scripts also run on two instances of the real server, which checks
//! that they are deterministic (a script that differs real against real
//! says nothing about dc_server).
//!
//! The same scripts then run through dc_client's front doors in front of
//! dc_server (what an application on a node sees from its sidecar), and
//! with no server behind dc_client every request gets its protocol's
//! failure at once.
//!
//! Then real clients (redis-cli, redis-benchmark, the `redis` and
//! `memcache` crates) talk to dc_server, and bad input on each new
//! listener closes or throttles that connection only, with a log line.
//!
//! The tests need redis-server, redis-cli, redis-benchmark and memcached on
//! PATH (Debian's redis-server, redis-tools and memcached packages).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dc_e2e::{free_port, run_command, start_front_doors, tcp_address, Conn, Daemon, FrontDoors};

// ---------------------------------------------------------------------------
// Deliberate differences
// ---------------------------------------------------------------------------

/// Replies where dc_server deliberately answers otherwise than the real
/// server. A step that names one of these checks dc_server's documented
/// answer instead of comparing bytes.
const DELIBERATE_DIFFERENCES: &[(&str, &str)] = &[
    (
        "max-ttl",
        "dc_server caps every lifetime with -max-ttl (1 day by default): TTL of a key stored without expiry, or with more than the cap, is the remaining capped lifetime, not -1 or the huge number asked for",
    ),
    (
        "value-cap",
        "dc_server stores values up to 32 KiB (dc_ops::MAX_VALUE_LEN) and refuses larger ones (-ERR / SERVER_ERROR object too large for cache / status 0x0003), where the real servers take up to 512 MB / 1 MB",
    ),
    (
        "key-cap-resp",
        "dc_server caps RESP keys at 250 bytes like memcache (dc_ops::MAX_KEY_LEN) so that a key is readable over both protocols; Redis takes 512 MB keys",
    ),
    (
        "pre-auth",
        "with a password set, dc_server serves PING and INFO before AUTH (ProFTPD sends both before it authenticates); Redis answers -NOAUTH",
    ),
    (
        "cas",
        "cas values are the server's own counters: compared with the cas number masked (text `gets`) or the 8 cas bytes zeroed (binary)",
    ),
];

fn reason(id: &str) -> &'static str {
    DELIBERATE_DIFFERENCES
        .iter()
        .find(|(k, _)| *k == id)
        .map(|(_, r)| *r)
        .unwrap_or_else(|| panic!("{id} is not listed in DELIBERATE_DIFFERENCES"))
}

// ---------------------------------------------------------------------------
// Real servers
// ---------------------------------------------------------------------------

fn program(name: &str) -> PathBuf {
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = PathBuf::from(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    for dir in ["/usr/bin", "/usr/sbin", "/usr/local/bin"] {
        let p = PathBuf::from(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("{name} is not installed (apt-get install redis-server redis-tools memcached)");
}

/// A real server on a free loopback port, killed on drop.
struct Real {
    _daemon: Daemon,
    port: u16,
}

fn start_real(name: &str, args: impl Fn(u16, &str) -> Vec<String>) -> Real {
    let prog = program(name);
    for _ in 0..3 {
        let port = free_port();
        let dir = tempfile::tempdir().expect("tempdir");
        let dir_s = dir.path().display().to_string();
        let a = args(port, &dir_s);
        let attempt =
            std::panic::catch_unwind(|| Daemon::start_program(&prog, dir, &a, &tcp_address(port)));
        if let Ok(daemon) = attempt {
            return Real {
                _daemon: daemon,
                port,
            };
        }
    }
    panic!("could not start {name} on a free port");
}

fn start_redis() -> Real {
    start_redis_with(&[])
}

fn start_redis_with(extra: &[&str]) -> Real {
    start_real("redis-server", |port, dir| {
        let mut args = dc_e2e::throwaway_redis_args(port, dir);
        args.extend(
            ["--daemonize", "no"]
                .iter()
                .chain(extra)
                .map(|s| s.to_string()),
        );
        args
    })
}

fn start_memcached() -> Real {
    start_real("memcached", |port, _| {
        [
            "-l",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "0",
            "-u",
            "root",
            "-t",
            "1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    })
}

// ---------------------------------------------------------------------------
// Scripts
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Proto {
    Resp,
    Text,
    Binary,
}

/// How much to read after a step's request.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// This many replies.
    Replies(usize),
    /// Binary: packets up to and including the NOOP response.
    UntilNoop,
    /// Binary: STAT packets up to the empty terminator.
    UntilStatEnd,
    /// This many replies, then the server closes.
    ThenClose(usize),
}

/// How to judge a step.
#[derive(Clone)]
enum Check {
    /// Byte for byte.
    Same,
    /// Equal after `mask` (named by a DELIBERATE_DIFFERENCES id).
    Masked(&'static str, fn(&[u8]) -> Vec<u8>),
    /// Both replies satisfy `shape` (contents legitimately vary).
    Shape(&'static str, fn(&[u8]) -> bool),
    /// A deliberate difference: dc_server's reply must equal `dc`.
    Deliberate(&'static str, Vec<u8>),
    /// A deliberate difference: dc_server's reply must satisfy the check.
    DeliberateShape(&'static str, fn(&[u8]) -> bool),
}

#[derive(Clone)]
struct Step {
    name: String,
    pause_ms: u64,
    send: Vec<u8>,
    expect: Expect,
    check: Check,
}

struct Script {
    name: &'static str,
    proto: Proto,
    steps: Vec<Step>,
}

impl Script {
    fn new(name: &'static str, proto: Proto) -> Script {
        Script {
            name,
            proto,
            steps: Vec::new(),
        }
    }

    fn step(&mut self, name: &str, send: Vec<u8>, expect: Expect, check: Check) -> &mut Self {
        self.steps.push(Step {
            name: name.to_string(),
            pause_ms: 0,
            send,
            expect,
            check,
        });
        self
    }

    /// One request, one reply, compared byte for byte.
    fn same(&mut self, name: &str, send: Vec<u8>) -> &mut Self {
        self.step(name, send, Expect::Replies(1), Check::Same)
    }

    fn same_n(&mut self, name: &str, send: Vec<u8>, n: usize) -> &mut Self {
        self.step(name, send, Expect::Replies(n), Check::Same)
    }

    /// Waits `ms` before the next step's request (lets lifetimes run out).
    fn pause(&mut self, ms: u64) -> &mut Self {
        self.steps
            .last_mut()
            .expect("a step before the pause")
            .pause_ms = ms;
        self
    }
}

/// A RESP multibulk request.
fn cmd(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A RESP request from space-separated words.
fn c(words: &str) -> Vec<u8> {
    let w: Vec<&[u8]> = words.split(' ').map(str::as_bytes).collect();
    cmd(&w)
}

/// A memcache text `set`-like request.
fn store(verb: &str, key: &[u8], flags: u32, exptime: i64, data: &[u8], extra: &str) -> Vec<u8> {
    let mut out = format!("{verb} ").into_bytes();
    out.extend_from_slice(key);
    out.extend_from_slice(format!(" {flags} {exptime} {}{extra}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

fn t(line: &str) -> Vec<u8> {
    line.as_bytes().to_vec()
}

/// A memcache binary request (magic 0x80, cas 0).
fn bin(opcode: u8, key: &[u8], extras: &[u8], value: &[u8], opaque: u32) -> Vec<u8> {
    let mut out = vec![0x80, opcode];
    out.extend_from_slice(&(key.len() as u16).to_be_bytes());
    out.push(extras.len() as u8);
    out.push(0);
    out.extend_from_slice(&[0, 0]);
    let body = (extras.len() + key.len() + value.len()) as u32;
    out.extend_from_slice(&body.to_be_bytes());
    out.extend_from_slice(&opaque.to_be_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(extras);
    out.extend_from_slice(key);
    out.extend_from_slice(value);
    out
}

fn set_extras(flags: u32, exptime: u32) -> Vec<u8> {
    [flags.to_be_bytes(), exptime.to_be_bytes()].concat()
}

fn counter_extras(delta: u64, initial: u64, exptime: u32) -> Vec<u8> {
    [
        &delta.to_be_bytes()[..],
        &initial.to_be_bytes()[..],
        &exptime.to_be_bytes()[..],
    ]
    .concat()
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

// Shapes and masks.

fn is_info(r: &[u8]) -> bool {
    let s = String::from_utf8_lossy(r);
    s.starts_with('$') && s.contains("redis_version:") && s.ends_with("\r\n")
}

fn is_version_line(r: &[u8]) -> bool {
    let s = String::from_utf8_lossy(r);
    let Some(v) = s
        .strip_prefix("VERSION ")
        .and_then(|v| v.strip_suffix("\r\n"))
    else {
        return false;
    };
    let parts: Vec<&str> = v.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && (1..=255).contains(&parts[0].parse::<u32>().unwrap_or(0))
}

fn is_stats(r: &[u8]) -> bool {
    let s = String::from_utf8_lossy(r);
    let Some(body) = s.strip_suffix("END\r\n") else {
        return false;
    };
    !body.is_empty()
        && body.split_terminator("\r\n").all(|l| {
            let w: Vec<&str> = l.split(' ').collect();
            w.len() >= 3 && w[0] == "STAT"
        })
        && body.contains("STAT pid ")
}

/// The binary packets in `r`.
fn packets(r: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 24 <= r.len() {
        let body = u32::from_be_bytes(r[at + 8..at + 12].try_into().unwrap()) as usize;
        let end = (at + 24 + body).min(r.len());
        out.push(&r[at..end]);
        at = end;
    }
    out
}

fn is_bin_version(r: &[u8]) -> bool {
    let p = packets(r);
    p.len() == 1 && p[0][0] == 0x81 && p[0][1] == 0x0b && p[0][6..8] == [0, 0] && {
        let v = String::from_utf8_lossy(&p[0][24..]).to_string();
        let parts: Vec<&str> = v.split('.').collect();
        parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    }
}

fn is_bin_stats(r: &[u8]) -> bool {
    let p = packets(r);
    p.len() > 2
        && p.iter()
            .all(|p| p[0] == 0x81 && p[1] == 0x10 && p[6..8] == [0, 0])
        && p.last().map(|p| p.len()) == Some(24)
        && p.iter().any(|p| {
            let kl = u16::from_be_bytes([p[2], p[3]]) as usize;
            p.len() >= 24 + kl && &p[24..24 + kl] == b"pid"
        })
}

/// Zeroes the cas field of every binary packet.
fn mask_bin_cas(r: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in packets(r) {
        let mut p = p.to_vec();
        if p.len() >= 24 {
            p[16..24].fill(0);
        }
        out.extend(p);
    }
    out
}

/// Replaces the cas number of each text `VALUE <key> <flags> <bytes> <cas>`.
fn mask_text_cas(r: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = r;
    while !rest.is_empty() {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .map(|p| p + 2)
            .unwrap_or(rest.len());
        let line = &rest[..line_end];
        if line.starts_with(b"VALUE ") {
            let text = String::from_utf8_lossy(line);
            let w: Vec<&str> = text.trim_end().split(' ').collect();
            if w.len() == 5 {
                out.extend_from_slice(
                    format!("VALUE {} {} {} <cas>\r\n", w[1], w[2], w[3]).as_bytes(),
                );
            } else {
                out.extend_from_slice(line);
            }
            let n: usize = w.get(3).and_then(|n| n.parse().ok()).unwrap_or(0);
            let data_end = (line_end + n + 2).min(rest.len());
            out.extend_from_slice(&rest[line_end..data_end]);
            rest = &rest[data_end..];
        } else {
            out.extend_from_slice(line);
            rest = &rest[line_end..];
        }
    }
    out
}

fn is_resp_error(r: &[u8]) -> bool {
    r.starts_with(b"-ERR ") && r.ends_with(b"\r\n") && !r[..r.len() - 2].contains(&b'\n')
}

fn is_positive_ttl_within_a_day(r: &[u8]) -> bool {
    let s = String::from_utf8_lossy(r);
    s.strip_prefix(':')
        .and_then(|v| v.strip_suffix("\r\n"))
        .and_then(|v| v.parse::<i64>().ok())
        .is_some_and(|v| (86_000..=86_400).contains(&v))
}

// ---------------------------------------------------------------------------
// Reading replies
// ---------------------------------------------------------------------------

struct Reader {
    conn: Conn,
    buf: Vec<u8>,
}

impl Reader {
    fn fill(&mut self, got: &[u8]) -> Result<(), String> {
        let mut chunk = [0u8; 65536];
        match self.conn.read(&mut chunk) {
            Ok(0) => Err(format!("<closed after {}>", esc(got))),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Err(format!("<no reply within the timeout after {}>", esc(got)))
            }
            Err(e) => Err(format!("<{e} after {}>", esc(got))),
        }
    }

    /// Takes `n` bytes into `out`.
    fn take(&mut self, out: &mut Vec<u8>, n: usize) -> Result<(), String> {
        while self.buf.len() < n {
            let mut so_far = out.clone();
            so_far.extend_from_slice(&self.buf);
            self.fill(&so_far)?;
        }
        out.extend(self.buf.drain(..n));
        Ok(())
    }

    /// Takes one line, with its CRLF, into `out`; returns the line.
    fn line(&mut self, out: &mut Vec<u8>) -> Result<Vec<u8>, String> {
        loop {
            if let Some(p) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..p + 2).collect();
                out.extend_from_slice(&line);
                return Ok(line);
            }
            if self.buf.len() > 1 << 20 {
                return Err(format!(
                    "<a line longer than 1 MiB: {}>",
                    esc(&self.buf[..200])
                ));
            }
            let mut so_far = out.clone();
            so_far.extend_from_slice(&self.buf);
            self.fill(&so_far)?;
        }
    }

    fn resp(&mut self, out: &mut Vec<u8>) -> Result<(), String> {
        let line = self.line(out)?;
        let num = || -> Result<i64, String> {
            String::from_utf8_lossy(&line[1..line.len() - 2])
                .parse()
                .map_err(|_| format!("<not RESP: {}>", esc(&line)))
        };
        match line[0] {
            b'+' | b'-' | b':' => Ok(()),
            b'$' => {
                let n = num()?;
                if n >= 0 {
                    self.take(out, n as usize + 2)?;
                }
                Ok(())
            }
            b'*' => {
                for _ in 0..num()?.max(0) {
                    self.resp(out)?;
                }
                Ok(())
            }
            _ => Err(format!("<not RESP: {}>", esc(out))),
        }
    }

    fn text(&mut self, out: &mut Vec<u8>) -> Result<(), String> {
        loop {
            let line = self.line(out)?;
            if line.starts_with(b"VALUE ") {
                let s = String::from_utf8_lossy(&line).to_string();
                let n: usize = s
                    .split(' ')
                    .nth(3)
                    .and_then(|n| n.trim_end().parse().ok())
                    .ok_or_else(|| format!("<bad VALUE line: {}>", esc(&line)))?;
                self.take(out, n + 2)?;
            } else if line.starts_with(b"STAT ") {
                continue;
            } else {
                return Ok(());
            }
        }
    }

    /// One binary packet; returns its opcode and key and body lengths.
    fn packet(&mut self, out: &mut Vec<u8>) -> Result<(u8, usize, usize), String> {
        let start = out.len();
        self.take(out, 24)?;
        let h = out[start..start + 24].to_vec();
        if h[0] != 0x81 {
            return Err(format!("<not a binary response: {}>", esc(&h)));
        }
        let body = u32::from_be_bytes(h[8..12].try_into().unwrap()) as usize;
        self.take(out, body)?;
        Ok((h[1], u16::from_be_bytes([h[2], h[3]]) as usize, body))
    }

    fn reply(&mut self, proto: Proto, out: &mut Vec<u8>) -> Result<(), String> {
        match proto {
            Proto::Resp => self.resp(out),
            Proto::Text => self.text(out),
            Proto::Binary => self.packet(out).map(|_| ()),
        }
    }

    fn expect_close(&mut self, out: &mut Vec<u8>) -> Result<(), String> {
        loop {
            if !self.buf.is_empty() {
                return Err(format!("<bytes instead of the close: {}>", esc(&self.buf)));
            }
            let mut chunk = [0u8; 4096];
            match self.conn.read(&mut chunk) {
                Ok(0) => {
                    out.extend_from_slice(b"<closed>");
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    out.extend_from_slice(b"<closed>");
                    return Ok(());
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) => return Err(format!("<not closed ({e}) after {}>", esc(out))),
            }
        }
    }
}

/// What a step came to: the reply bytes, or what went wrong.
type Outcome = Result<Vec<u8>, String>;

/// Runs `script` against the server on `port`; one outcome per step. After
/// the first step that fails to read, the rest are not run.
fn run_script(script: &Script, port: u16) -> Vec<Outcome> {
    let mut r = Reader {
        conn: Conn::connect(&tcp_address(port)),
        buf: Vec::new(),
    };
    r.conn
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let mut outcomes = Vec::new();
    let mut broken = false;
    for step in &script.steps {
        if broken {
            outcomes.push(Err("<not run: an earlier step failed>".to_string()));
            continue;
        }
        let _ = r.conn.write_all(&step.send);
        let mut out = Vec::new();
        let res = (|| -> Result<(), String> {
            match step.expect {
                Expect::Replies(n) => {
                    for _ in 0..n {
                        r.reply(script.proto, &mut out)?;
                    }
                }
                Expect::ThenClose(n) => {
                    for _ in 0..n {
                        r.reply(script.proto, &mut out)?;
                    }
                    r.expect_close(&mut out)?;
                }
                Expect::UntilNoop => loop {
                    let (op, _, _) = r.packet(&mut out)?;
                    if op == 0x0a {
                        break;
                    }
                },
                Expect::UntilStatEnd => loop {
                    let (_, key, body) = r.packet(&mut out)?;
                    if key == 0 && body == 0 {
                        break;
                    }
                },
            }
            Ok(())
        })();
        match res {
            Ok(()) => outcomes.push(Ok(out)),
            Err(e) => {
                broken = true;
                outcomes.push(Err(e));
            }
        }
        if step.pause_ms > 0 {
            std::thread::sleep(Duration::from_millis(step.pause_ms));
        }
    }
    outcomes
}

/// Escapes bytes for a failure message (long runs are shortened).
fn esc(b: &[u8]) -> String {
    let mut s = String::new();
    let shown = if b.len() > 600 { &b[..600] } else { b };
    for &x in shown {
        match x {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(x as char),
            _ => s.push_str(&format!("\\x{x:02x}")),
        }
    }
    if b.len() > 600 {
        s.push_str(&format!("...({} bytes)", b.len()));
    }
    s
}

fn show(o: &Outcome) -> String {
    match o {
        Ok(b) => format!("\"{}\"", esc(b)),
        Err(e) => e.clone(),
    }
}

/// Compares the outcomes of `script` on the real server (`real`) and on
/// the server under test (`dc`). With `real_vs_real`, the second run is on
/// another real server: deliberate differences are then compared as equal.
fn differences(
    script: &Script,
    real: &[Outcome],
    dc: &[Outcome],
    real_vs_real: bool,
) -> Vec<String> {
    let mut diffs = Vec::new();
    let norm = |r: &[u8]| {
        if script.proto == Proto::Binary {
            mask_bin_cas(r)
        } else {
            r.to_vec()
        }
    };
    for (i, step) in script.steps.iter().enumerate() {
        let (a, b) = (&real[i], &dc[i]);
        let ok = match (&step.check, a, b) {
            (_, Err(_), _) => false,
            (Check::Same, Ok(a), Ok(b)) => a == b,
            (Check::Masked(id, mask), Ok(a), Ok(b)) => {
                reason(id);
                mask(a) == mask(b)
            }
            (Check::Shape(_, shape), Ok(a), Ok(b)) => shape(a) && shape(b),
            (Check::Deliberate(id, _), Ok(a), Ok(b)) if real_vs_real => {
                reason(id);
                norm(a) == norm(b)
            }
            (Check::DeliberateShape(id, _), Ok(a), Ok(b)) if real_vs_real => {
                reason(id);
                norm(a) == norm(b)
            }
            (Check::Deliberate(id, want), Ok(_), Ok(b)) => {
                reason(id);
                b == want
            }
            (Check::DeliberateShape(id, shape), Ok(_), Ok(b)) => {
                reason(id);
                shape(b)
            }
            (_, Ok(_), Err(_)) => false,
        };
        if !ok {
            let what = match &step.check {
                Check::Same => "byte for byte".to_string(),
                Check::Masked(id, _) => format!("masked ({id})"),
                Check::Shape(why, _) => format!("shape: {why}"),
                Check::Deliberate(id, want) if !real_vs_real => {
                    format!(
                        "deliberate difference {id}: dc_server must answer \"{}\"",
                        esc(want)
                    )
                }
                Check::DeliberateShape(id, _) if !real_vs_real => {
                    format!("deliberate difference {id}: dc_server's documented answer")
                }
                Check::Deliberate(..) | Check::DeliberateShape(..) => "byte for byte".into(),
            };
            diffs.push(format!(
                "{} step {i} `{}` ({what})\n    request: \"{}\"\n    real:    {}\n    {}: {}",
                script.name,
                step.name,
                esc(&step.send),
                show(a),
                if real_vs_real { "real 2" } else { "dc    " },
                show(b),
            ));
        }
    }
    diffs
}

/// Runs every script on both ports at once and panics with the differences.
fn diff_scripts(scripts: &[Script], real_port: u16, other_port: u16, real_vs_real: bool) {
    let mut all = Vec::new();
    std::thread::scope(|s| {
        let runs: Vec<_> = scripts
            .iter()
            .map(|script| {
                let a = s.spawn(move || run_script(script, real_port));
                let b = s.spawn(move || run_script(script, other_port));
                (script, a, b)
            })
            .collect();
        for (script, a, b) in runs {
            let a = a.join().expect("run on the real server");
            let b = b.join().expect("run on the other server");
            all.extend(differences(script, &a, &b, real_vs_real));
        }
    });
    if !all.is_empty() {
        let steps: usize = scripts.iter().map(|s| s.steps.len()).sum();
        panic!(
            "{} of {steps} steps differ{}; the first:\n{}\n\nall of them:\n{}",
            all.len(),
            if real_vs_real {
                " between two real servers (the scripts are not deterministic)"
            } else {
                ""
            },
            all[0],
            all.join("\n"),
        );
    }
}

// ---------------------------------------------------------------------------
// The RESP scripts
// ---------------------------------------------------------------------------

fn resp_scripts() -> Vec<Script> {
    let mut out = Vec::new();

    let mut s = Script::new("resp basics", Proto::Resp);
    s.same("PING", c("PING"))
        .same("PING with a message", c("PING hello"))
        .same("lowercase ping", c("ping"))
        .same("GET of a missing key", c("GET b:missing"))
        .same("SET", c("SET b:k v1"))
        .same("GET", c("GET b:k"))
        .same("mixed-case set", c("sEt b:k2 v2"))
        .same("lowercase get", c("get b:k2"))
        .same("SET overwrites", c("SET b:k v3"))
        .same("GET after overwrite", c("GET b:k"))
        .same("empty value", cmd(&[b"SET", b"b:empty", b""]))
        .same("GET empty value", c("GET b:empty"))
        .same(
            "binary-safe value",
            cmd(&[b"SET", b"b:bin", b"x\r\n\0y$3\r\n*1\r\n\xff"]),
        )
        .same("GET binary-safe value", c("GET b:bin"))
        .same("key with NUL", cmd(&[b"SET", b"b:a\0b", b"nul-key"]))
        .same("GET key with NUL", cmd(&[b"GET", b"b:a\0b"]))
        .same("GET other NUL key", cmd(&[b"GET", b"b:a\0c"]))
        .same("GET key prefix before NUL", c("GET b:a"))
        .same("DEL key with NUL", cmd(&[b"DEL", b"b:a\0b"]))
        .same("GET after DEL of NUL key", cmd(&[b"GET", b"b:a\0b"]))
        .same("DEL one", c("DEL b:k"))
        .same("DEL again", c("DEL b:k"))
        .same("DEL several", c("DEL b:k2 b:empty b:missing b:bin"))
        .same("DEL without key", c("DEL"))
        .same("SET e1", c("SET b:e1 1"))
        .same("SET e2", c("SET b:e2 2"))
        .same("EXISTS", c("EXISTS b:e1 b:e2 b:nothing"))
        .same("EXISTS same key twice", c("EXISTS b:e1 b:e1"))
        .same("EXISTS missing", c("EXISTS b:nothing"))
        .same("EXISTS without key", c("EXISTS"))
        .same("GET without key", c("GET"))
        .same("GET with two keys", c("GET a b"))
        .same("SET with one argument", c("SET b:k"))
        .same("unknown command", c("FOO a b"))
        .same("unknown command without args", c("NOSUCHCOMMAND"))
        .same("connection kept after unknown command", c("PING"))
        // Redis skips the two bytes after a bulk string without looking at
        // them, and reads what follows as an inline command.
        .same_n(
            "bulk data longer than its length",
            t("*1\r\n$3\r\nabcdef\r\n"),
            2,
        )
        .same("served after the overlong bulk", c("PING"))
        .same("AUTH without a password configured", c("AUTH secret"))
        .same(
            "AUTH user pass without a password configured",
            c("AUTH default secret"),
        )
        .same("SELECT 0", c("SELECT 0"))
        .same("SELECT out of range", c("SELECT 16"))
        .same("SELECT not a number", c("SELECT abc"))
        .same("SELECT without index", c("SELECT"))
        .step(
            "INFO",
            c("INFO"),
            Expect::Replies(1),
            Check::Shape("INFO contents vary; it holds redis_version:", is_info),
        )
        .step(
            "INFO server",
            c("INFO server"),
            Expect::Replies(1),
            Check::Shape("INFO contents vary; it holds redis_version:", is_info),
        )
        .same("still serving after INFO", c("GET b:e1"))
        .step("QUIT", c("QUIT"), Expect::ThenClose(1), Check::Same);
    out.push(s);

    let mut s = Script::new("resp SET options", Proto::Resp);
    s.same("SET NX on a missing key", c("SET o:k v NX"))
        .same("SET NX on an existing key", c("SET o:k other NX"))
        .same("value unchanged by a blocked NX", c("GET o:k"))
        .same("SET XX on a missing key", c("SET o:missing v XX"))
        .same("missing key not created by XX", c("GET o:missing"))
        .same("SET XX on an existing key", c("SET o:k v2 XX"))
        .same("value after XX", c("GET o:k"))
        .same("SET EX", c("SET o:ex v EX 100"))
        .same("TTL after SET EX", c("TTL o:ex"))
        .same("SET PX", c("SET o:px v PX 100000"))
        .same("TTL after SET PX", c("TTL o:px"))
        .same("SET EX NX on an existing key", c("SET o:ex v EX 100 NX"))
        .same("SET NX EX on a missing key", c("SET o:nx v NX EX 100"))
        .same("TTL after SET NX EX", c("TTL o:nx"))
        .same("SET XX PX", c("SET o:nx v2 XX PX 50000"))
        .same("TTL after SET XX PX", c("TTL o:nx"))
        .same("lowercase options", c("SET o:nx v3 ex 200 xx"))
        .same("TTL after lowercase options", c("TTL o:nx"))
        .same("SET NX XX", c("SET o:k v NX XX"))
        .same("SET EX without a number", c("SET o:k v EX"))
        .same("SET EX not a number", c("SET o:k v EX abc"))
        .same("SET EX 0", c("SET o:k v EX 0"))
        .same("SET EX negative", c("SET o:k v EX -5"))
        .same("SET PX 0", c("SET o:k v PX 0"))
        .same("SET PX not a number", c("SET o:k v PX 1.5"))
        .same("SET EX and PX", c("SET o:k v EX 10 PX 100"))
        .same("SET EX twice", c("SET o:k v EX 10 EX 100"))
        .same("SET unknown option", c("SET o:k v FOO"))
        .same("value unchanged by the errors", c("GET o:k"))
        .same("TTL unchanged by the errors", c("TTL o:ex"))
        .same("plain SET clears the TTL", c("SET o:ex plain"))
        .step(
            "TTL of a key stored without expiry",
            c("TTL o:ex"),
            Expect::Replies(1),
            Check::DeliberateShape("max-ttl", is_positive_ttl_within_a_day),
        )
        .same("SET PX short", c("SET o:short v PX 300"))
        .same("GET before the short PX runs out", c("GET o:short"))
        .pause(700)
        .same("GET after the short PX ran out", c("GET o:short"))
        .same("TTL after the short PX ran out", c("TTL o:short"))
        .same(
            "SET NX succeeds on an expired key",
            c("SET o:short again NX"),
        )
        .same("GET after NX on an expired key", c("GET o:short"));
    out.push(s);

    let mut s = Script::new("resp SETEX EXPIRE TTL", Proto::Resp);
    s.same("SETEX", c("SETEX x:k 100 v"))
        .same("GET after SETEX", c("GET x:k"))
        .same("TTL after SETEX", c("TTL x:k"))
        .same("SETEX 4294967295", c("SETEX x:max 4294967295 v"))
        .same("GET after SETEX 4294967295", c("GET x:max"))
        .step(
            "TTL after SETEX 4294967295",
            c("TTL x:max"),
            Expect::Replies(1),
            Check::DeliberateShape("max-ttl", is_positive_ttl_within_a_day),
        )
        .same("SETEX absolute epoch", c("SETEX x:epoch 1767225600 v"))
        .same("GET after SETEX epoch", c("GET x:epoch"))
        .step(
            "TTL after SETEX epoch",
            c("TTL x:epoch"),
            Expect::Replies(1),
            Check::DeliberateShape("max-ttl", is_positive_ttl_within_a_day),
        )
        .same("SETEX 0", c("SETEX x:k 0 v"))
        .same("SETEX negative", c("SETEX x:k -1 v"))
        .same("SETEX not a number", c("SETEX x:k abc v"))
        .same("SETEX fraction", c("SETEX x:k 1.5 v"))
        .same("SETEX 2^64", c("SETEX x:k 18446744073709551616 v"))
        .same("SETEX without a value", c("SETEX x:k 100"))
        .same("SETEX with too many args", c("SETEX x:k 100 v w"))
        .same("lowercase setex", c("setex x:lc 100 v"))
        .same("value unchanged by the errors", c("GET x:k"))
        .same("TTL of a missing key", c("TTL x:missing"))
        .same("TTL without a key", c("TTL"))
        .same("plain SET", c("SET x:plain v"))
        .same("EXPIRE", c("EXPIRE x:plain 50"))
        .same("TTL after EXPIRE", c("TTL x:plain"))
        .same("EXPIRE a missing key", c("EXPIRE x:missing 50"))
        .same("EXPIRE not a number", c("EXPIRE x:plain abc"))
        .same("EXPIRE without seconds", c("EXPIRE x:plain"))
        .same("TTL unchanged by the errors", c("TTL x:plain"))
        .same("SETEX 1 second", c("SETEX x:one 1 v"))
        .same("SET for a 1-second EXPIRE", c("SET x:exp v"))
        .same("EXPIRE 1 second", c("EXPIRE x:exp 1"))
        .same("TTL of a fresh short-TTL key", c("TTL x:one"))
        .same("GET before 1 second", c("GET x:one"))
        .pause(1400)
        .same("GET after SETEX 1 ran out", c("GET x:one"))
        .same("GET after EXPIRE 1 ran out", c("GET x:exp"))
        .same("TTL after it ran out", c("TTL x:one"))
        .same("EXISTS after it ran out", c("EXISTS x:one x:exp"))
        .same("DEL after it ran out", c("DEL x:one"));
    out.push(s);

    let mut s = Script::new("resp counters", Proto::Resp);
    s.same("INCR a missing key", c("INCR n:a"))
        .same("INCR", c("INCR n:a"))
        .same("INCRBY", c("INCRBY n:a 10"))
        .same("INCRBY negative", c("INCRBY n:a -20"))
        .same("DECR", c("DECR n:a"))
        .same("DECRBY", c("DECRBY n:a 1"))
        .same("GET the counter", c("GET n:a"))
        .same("DECR a missing key", c("DECR n:b"))
        .same("DECRBY a missing key", c("DECRBY n:c 5"))
        .same("INCRBY a missing key", c("INCRBY n:d 7"))
        .same("INCRBY 0", c("INCRBY n:d 0"))
        .same("SET a number", c("SET n:num 41"))
        .same("INCR a stored number", c("INCR n:num"))
        .same("SET a negative number", c("SET n:neg -5"))
        .same("INCRBY a negative number", c("INCRBY n:neg 3"))
        .same("SET a non-number", c("SET n:str abc"))
        .same("INCR a non-number", c("INCR n:str"))
        .same("INCRBY a non-number", c("INCRBY n:str 1"))
        .same("DECR a non-number", c("DECR n:str"))
        .same("DECRBY a non-number", c("DECRBY n:str 1"))
        .same("non-number unchanged", c("GET n:str"))
        .same("SET with a leading space", cmd(&[b"SET", b"n:sp", b" 1"]))
        .same("INCR with a leading space", c("INCR n:sp"))
        .same("SET with a leading plus", c("SET n:plus +1"))
        .same("INCR with a leading plus", c("INCR n:plus"))
        .same("SET with a leading zero", c("SET n:zero 01"))
        .same("INCR with a leading zero", c("INCR n:zero"))
        .same("SET a fraction", c("SET n:frac 1.5"))
        .same("INCR a fraction", c("INCR n:frac"))
        .same("SET an empty value", cmd(&[b"SET", b"n:empty", b""]))
        .same("INCR an empty value", c("INCR n:empty"))
        .same("INCRBY not a number", c("INCRBY n:a abc"))
        .same("INCRBY a fraction", c("INCRBY n:a 1.0"))
        .same("INCRBY beyond int64", c("INCRBY n:a 99999999999999999999"))
        .same("DECRBY not a number", c("DECRBY n:a x"))
        .same("SET the largest int64", c("SET n:max 9223372036854775807"))
        .same("INCR overflow", c("INCR n:max"))
        .same("INCRBY overflow", c("INCRBY n:max 1"))
        .same("value unchanged by overflow", c("GET n:max"))
        .same(
            "SET the smallest int64",
            c("SET n:min -9223372036854775808"),
        )
        .same("DECR overflow", c("DECR n:min"))
        .same("DECRBY overflow", c("DECRBY n:min 1"))
        .same("INCRBY negative overflow", c("INCRBY n:min -1"))
        .same(
            "DECRBY the smallest int64",
            c("DECRBY n:x -9223372036854775808"),
        )
        .same(
            "INCRBY the smallest int64",
            c("INCRBY n:y -9223372036854775808"),
        )
        .same("SET beyond int64", c("SET n:huge 9223372036854775808"))
        .same("INCR beyond int64", c("INCR n:huge"))
        .same("INCR without key", c("INCR"))
        .same("INCR with two keys", c("INCR a b"))
        .same("INCRBY without increment", c("INCRBY n:a"))
        .same("DECRBY without decrement", c("DECRBY n:a"))
        .same("DECR with two keys", c("DECR a b"))
        .same("SETEX a counter", c("SETEX n:ttl 100 5"))
        .same("INCR keeps the TTL", c("INCR n:ttl"))
        .same("TTL after INCR", c("TTL n:ttl"));
    out.push(s);

    let mut s = Script::new("resp pipelining and sizes", Proto::Resp);
    let mut batch = Vec::new();
    let mut n = 0;
    for i in 0..60 {
        batch.extend(c(&format!("SET p:{i} value-{i}")));
        batch.extend(c(&format!("GET p:{i}")));
        batch.extend(c("INCR p:count"));
        batch.extend(c(&format!("DEL p:{}", i / 2)));
        batch.extend(c("PING"));
        n += 5;
    }
    batch.extend(c("FOO bar"));
    batch.extend(c("GET"));
    batch.extend(c("GET p:59"));
    n += 3;
    s.same_n("a pipelined batch in one write", batch, n);
    let mut batch = Vec::new();
    for i in 0..300 {
        batch.extend(cmd(&[
            b"SET",
            format!("p:many{i}").as_bytes(),
            &vec![b'v'; 100 + i],
        ]));
    }
    for i in 0..300 {
        batch.extend(c(&format!("GET p:many{i}")));
    }
    s.same_n("600 commands in one write", batch, 600);
    let mut split = c("SET p:split split-value");
    split.extend(c("GET p:split"));
    // Bytes of one request arrive in separate writes.
    s.same("first half of a request", split[..7].to_vec());
    s.steps.last_mut().unwrap().expect = Expect::Replies(0);
    s.same_n("rest of the requests", split[7..].to_vec(), 2);
    let v32 = vec![b'x'; 32 * 1024];
    let v40 = vec![b'y'; 40_000];
    let k250 = vec![b'k'; 250];
    let k251 = vec![b'K'; 251];
    s.same("value of 32 KiB", cmd(&[b"SET", b"p:v32", &v32]))
        .same("GET value of 32 KiB", c("GET p:v32"))
        .step(
            "value over 32 KiB",
            cmd(&[b"SET", b"p:v40", &v40]),
            Expect::Replies(1),
            Check::Deliberate(
                "value-cap",
                b"-ERR argument is too large (40000 bytes, at most 32768)\r\n".to_vec(),
            ),
        )
        .same("served after the refused value", c("PING"))
        .step(
            "GET of the refused value",
            c("GET p:v40"),
            Expect::Replies(1),
            Check::Deliberate("value-cap", b"$-1\r\n".to_vec()),
        )
        .step(
            "SETEX over 32 KiB",
            cmd(&[b"SETEX", b"p:v40", b"100", &v40]),
            Expect::Replies(1),
            Check::Deliberate(
                "value-cap",
                b"-ERR argument is too large (40000 bytes, at most 32768)\r\n".to_vec(),
            ),
        )
        .same("still serving after SETEX over 32 KiB", c("GET p:v32"))
        .same("key of 250 bytes", cmd(&[b"SET", &k250, b"v"]))
        .same("GET key of 250 bytes", cmd(&[b"GET", &k250]))
        .step(
            "key of 251 bytes",
            cmd(&[b"SET", &k251, b"v"]),
            Expect::Replies(1),
            Check::Deliberate(
                "key-cap-resp",
                b"-ERR key is too long (251 bytes, at most 250)\r\n".to_vec(),
            ),
        )
        .step(
            "GET key of 251 bytes",
            cmd(&[b"GET", &k251]),
            Expect::Replies(1),
            Check::DeliberateShape("key-cap-resp", |r| r == b"$-1\r\n" || is_resp_error(r)),
        )
        .same("served after the long key", c("PING"));
    out.push(s);

    out
}

/// Run with a password on both servers (`requirepass secret`).
fn resp_auth_script() -> Script {
    let mut s = Script::new("resp AUTH", Proto::Resp);
    s.step(
        "PING before AUTH",
        c("PING"),
        Expect::Replies(1),
        Check::Deliberate("pre-auth", b"+PONG\r\n".to_vec()),
    )
    .step(
        "INFO server before AUTH",
        c("INFO server"),
        Expect::Replies(1),
        Check::DeliberateShape("pre-auth", is_info),
    )
    .same("GET before AUTH", c("GET a:k"))
    .same("SET before AUTH", c("SET a:k v"))
    .same("AUTH with a wrong password", c("AUTH wrong"))
    .same("AUTH user with a wrong password", c("AUTH default wrong"))
    .same("AUTH with an unknown user", c("AUTH nobody secret"))
    .same("still refused after a wrong AUTH", c("GET a:k"))
    .same("AUTH with too many arguments", c("AUTH a b c"))
    .same("AUTH without arguments", c("AUTH"))
    .same("AUTH", c("AUTH secret"))
    .same("SET after AUTH", c("SET a:k v"))
    .same("GET after AUTH", c("GET a:k"))
    .same("AUTH default password", c("AUTH default secret"))
    .same("served after the 2-argument AUTH", c("GET a:k"))
    .same("a wrong AUTH after a good one", c("AUTH wrong"))
    .same("still authenticated after a wrong AUTH", c("GET a:k"));
    s
}

// ---------------------------------------------------------------------------
// The memcache text scripts
// ---------------------------------------------------------------------------

fn text_scripts() -> Vec<Script> {
    let mut out = Vec::new();
    let now = now_unix() as i64;

    let mut s = Script::new("memcache text basics", Proto::Text);
    s.step(
        "version",
        t("version\r\n"),
        Expect::Replies(1),
        Check::Shape("VERSION <maj>.<min>.<micro>, numbers vary", is_version_line),
    )
    .same("get of a missing key", t("get t:missing\r\n"))
    .same("set", store("set", b"t:a", 5, 0, b"hello", ""))
    .same("get", t("get t:a\r\n"))
    .same(
        "set with the largest flags",
        store("set", b"t:f", 4294967295, 0, b"flags", ""),
    )
    .same("flags echoed", t("get t:f\r\n"))
    .same(
        "set with a trailing space",
        store("set", b"t:b", 0, 0, b"x", " "),
    )
    .same("get after trailing space", t("get t:b\r\n"))
    .same(
        "extra spaces between tokens",
        t("set  t:c  1  0  1\r\ny\r\n"),
    )
    .same("get after extra spaces", t("get  t:c \r\n"))
    .same("empty value", store("set", b"t:empty", 0, 0, b"", ""))
    .same("get empty value", t("get t:empty\r\n"))
    .same(
        "value with CR LF inside",
        store("set", b"t:crlf", 0, 0, b"a\r\nEND\r\nb", ""),
    )
    .same("get value with CR LF inside", t("get t:crlf\r\n"))
    .same("multi-key get", t("get t:a t:missing t:b t:c t:a\r\n"))
    .same("overwrite", store("set", b"t:a", 7, 0, b"bye", ""))
    .same("get after overwrite", t("get t:a\r\n"))
    .same_n(
        "set noreply, then get",
        [
            store("set", b"t:nr", 3, 0, b"quiet", " noreply"),
            t("get t:nr\r\n"),
        ]
        .concat(),
        1,
    )
    .same("delete", t("delete t:a\r\n"))
    .same("delete again", t("delete t:a\r\n"))
    .same("delete with 0 (as apr sends)", t("delete t:b 0\r\n"))
    .same("delete a missing key with 0", t("delete t:b 0\r\n"))
    .same_n(
        "delete 0 noreply, then get",
        t("delete t:c 0 noreply\r\nget t:c\r\n"),
        1,
    )
    .same_n(
        "delete noreply, then get",
        t("delete t:nr noreply\r\nget t:nr\r\n"),
        1,
    )
    .same_n(
        "delete noreply of a missing key, then version",
        t("delete t:nr noreply\r\nget t:nr\r\n"),
        1,
    )
    .same("delete with a nonzero time", t("delete t:f 5\r\n"))
    .same("key survived the bad delete", t("get t:f\r\n"))
    .same(
        "add of a missing key",
        store("add", b"t:add", 0, 0, b"1", ""),
    )
    .same(
        "add of an existing key",
        store("add", b"t:add", 0, 0, b"2", ""),
    )
    .same("get after add", t("get t:add\r\n"))
    .same(
        "replace of a missing key",
        store("replace", b"t:rep", 0, 0, b"1", ""),
    )
    .same(
        "replace of an existing key",
        store("replace", b"t:add", 9, 0, b"3", ""),
    )
    .same("get after replace", t("get t:add\r\n"))
    .same("touch", t("touch t:add 100\r\n"))
    .same("touch a missing key", t("touch t:missing 100\r\n"))
    .step(
        "gets",
        t("gets t:add t:f t:missing\r\n"),
        Expect::Replies(1),
        Check::Masked("cas", mask_text_cas),
    )
    .same("unknown command", t("foo bar\r\n"))
    .same("empty line", t("\r\n"))
    .same("uppercase GET is unknown", t("GET t:f\r\n"))
    .same("get without a key", t("get\r\n"))
    .same("set without enough tokens", t("set t:x 0 0\r\n"))
    .same("delete without a key", t("delete\r\n"))
    .same("incr without a delta", t("incr t:x\r\n"))
    .same("still serving after the errors", t("get t:f\r\n"))
    .same_n(
        "pipelined batch in one write",
        (0..40)
            .flat_map(|i| {
                [
                    store(
                        "set",
                        format!("t:p{i}").as_bytes(),
                        i,
                        0,
                        format!("v{i}").as_bytes(),
                        "",
                    ),
                    t(&format!("get t:p{i} t:p{}\r\n", i / 2)),
                    t(&format!("delete t:p{}\r\n", i / 3)),
                ]
                .concat()
            })
            .collect(),
        120,
    )
    .step(
        "stats",
        t("stats\r\n"),
        Expect::Replies(1),
        Check::Shape("STAT <name> <value> lines then END; values vary", is_stats),
    )
    .step("quit", t("quit\r\n"), Expect::ThenClose(0), Check::Same);
    out.push(s);

    let mut s = Script::new("memcache text exptime", Proto::Text);
    s.same("exptime 0", store("set", b"e:zero", 0, 0, b"v", ""))
        .same("get exptime 0", t("get e:zero\r\n"))
        .same("relative exptime", store("set", b"e:rel", 0, 100, b"v", ""))
        .same("get relative exptime", t("get e:rel\r\n"))
        .same(
            "exptime of 30 days (still relative)",
            store("set", b"e:30d", 0, 2_592_000, b"v", ""),
        )
        .same("get exptime of 30 days", t("get e:30d\r\n"))
        .same(
            "exptime just over 30 days (absolute, 1970)",
            store("set", b"e:30d1", 0, 2_592_001, b"v", ""),
        )
        .same("get exptime just over 30 days", t("get e:30d1\r\n"))
        .same(
            "absolute exptime in the past",
            store("set", b"e:past", 0, 1_000_000_000, b"v", ""),
        )
        .same("get absolute exptime in the past", t("get e:past\r\n"))
        .same(
            "absolute exptime in the future",
            store("set", b"e:fut", 0, now + 3600, b"v", ""),
        )
        .same("get absolute exptime in the future", t("get e:fut\r\n"))
        .same("negative exptime", store("set", b"e:neg", 0, -1, b"v", ""))
        .same("get negative exptime", t("get e:neg\r\n"))
        .same("exptime not a number", t("set e:bad 0 abc 1\r\nv\r\n"))
        .same("get after bad exptime", t("get e:bad\r\n"))
        .same(
            "add over an expired key",
            store("add", b"e:neg", 0, 0, b"w", ""),
        )
        .same("get after add over an expired key", t("get e:neg\r\n"))
        .same("touch with a negative exptime", t("touch e:zero -1\r\n"))
        .same("get after touch -1", t("get e:zero\r\n"))
        .same(
            "short relative exptime",
            store("set", b"e:short", 0, 1, b"v", ""),
        )
        .same("get before it runs out", t("get e:short\r\n"))
        .pause(2600)
        .same("get after it ran out", t("get e:short\r\n"))
        .same("delete after it ran out", t("delete e:short\r\n"));
    out.push(s);

    let mut s = Script::new("memcache text counters and sizes", Proto::Text);
    let k250 = vec![b'k'; 250];
    let k251 = vec![b'K'; 251];
    let v32 = vec![b'x'; 32 * 1024];
    let v40 = vec![b'y'; 40_000];
    s.same("set 10", store("set", b"i:n", 4, 0, b"10", ""))
        .same("decr 10 by 1", t("decr i:n 1\r\n"))
        .same("get after decr leaves a space", t("get i:n\r\n"))
        .same("incr", t("incr i:n 5\r\n"))
        .same("get after incr", t("get i:n\r\n"))
        // (Not followed by a get: whether memcached pads "0" in place or
        // stores a new item depends on its own threads.)
        .same("decr below 0", t("decr i:n 100\r\n"))
        .same("incr a missing key", t("incr i:missing 1\r\n"))
        .same("decr a missing key", t("decr i:missing 1\r\n"))
        .same("set a non-number", store("set", b"i:s", 0, 0, b"abc", ""))
        .same("incr a non-number", t("incr i:s 1\r\n"))
        .same("decr a non-number", t("decr i:s 1\r\n"))
        .same("incr with a bad delta", t("incr i:n abc\r\n"))
        .same("incr with a negative delta", t("incr i:n -1\r\n"))
        .same(
            "set the largest u64",
            store("set", b"i:max", 0, 0, b"18446744073709551615", ""),
        )
        .same("incr wraps at 2^64", t("incr i:max 1\r\n"))
        .same("get after the wrap", t("get i:max\r\n"))
        .same("set 99", store("set", b"i:99", 0, 0, b"99", ""))
        .same("incr 99 to 100 grows the value", t("incr i:99 1\r\n"))
        .same("get after growing", t("get i:99\r\n"))
        .same_n(
            "incr noreply, then get",
            t("incr i:99 1 noreply\r\nget i:99\r\n"),
            1,
        )
        .same(
            "decr of 1000 by 1",
            [
                store("set", b"i:k", 0, 0, b"1000", ""),
                t("decr i:k 1\r\n"),
                t("get i:k\r\n"),
            ]
            .concat(),
        )
        .steps
        .last_mut()
        .unwrap()
        .expect = Expect::Replies(3);
    s.same("key of 250 bytes", store("set", &k250, 0, 0, b"v", ""))
        .same(
            "get key of 250 bytes",
            [b"get ".to_vec(), k250.clone(), b"\r\n".to_vec()].concat(),
        )
        .same_n(
            "set key of 251 bytes",
            store("set", &k251, 0, 0, b"v", ""),
            2,
        )
        .same(
            "get key of 251 bytes",
            [b"get ".to_vec(), k251.clone(), b"\r\n".to_vec()].concat(),
        )
        .same(
            "delete key of 251 bytes",
            [b"delete ".to_vec(), k251.clone(), b"\r\n".to_vec()].concat(),
        )
        .same("still serving after the long key", t("get i:s\r\n"))
        .same("value of 32 KiB", store("set", b"i:v32", 0, 0, &v32, ""))
        .same("get value of 32 KiB", t("get i:v32\r\n"))
        .step(
            "value over 32 KiB",
            store("set", b"i:v40", 0, 0, &v40, ""),
            Expect::Replies(1),
            Check::Deliberate(
                "value-cap",
                b"SERVER_ERROR object too large for cache\r\n".to_vec(),
            ),
        )
        .same("served after the refused value", t("get i:s\r\n"))
        .step(
            "get of the refused value",
            t("get i:v40\r\n"),
            Expect::Replies(1),
            Check::Deliberate("value-cap", b"END\r\n".to_vec()),
        )
        .same("bad data chunk", t("set i:bad 0 0 3\r\nabcde\r\n"))
        .same("get after the bad data chunk", t("get i:bad\r\n"))
        .same("bytes not a number", t("set i:bad 0 0 abc\r\n"))
        .same("negative bytes", t("set i:bad 0 0 -1\r\n"))
        .same("flags not a number", t("set i:bad x 0 1\r\n"))
        .same("still serving after the bad lines", t("get i:s\r\n"));
    out.push(s);

    out
}

// ---------------------------------------------------------------------------
// The memcache binary scripts
// ---------------------------------------------------------------------------

const GET: u8 = 0x00;
const SET: u8 = 0x01;
const ADD: u8 = 0x02;
const DELETE: u8 = 0x04;
const INCREMENT: u8 = 0x05;
const DECREMENT: u8 = 0x06;
const QUIT: u8 = 0x07;
const GETQ: u8 = 0x09;
const NOOP: u8 = 0x0a;
const VERSION: u8 = 0x0b;
const GETK: u8 = 0x0c;
const GETKQ: u8 = 0x0d;
const STAT: u8 = 0x10;
const SETQ: u8 = 0x11;
const DELETEQ: u8 = 0x14;

fn binary_scripts() -> Vec<Script> {
    let mut out = Vec::new();
    let masked = || Check::Masked("cas", mask_bin_cas);
    let noop = |o: u32| bin(NOOP, b"", b"", b"", o);
    let v32 = vec![b'x'; 32 * 1024];
    let v40 = vec![b'y'; 40_000];
    let k250 = vec![b'k'; 250];
    let k251 = vec![b'K'; 251];

    let mut s = Script::new("memcache binary", Proto::Binary);
    let one = |s: &mut Script, name: &str, req: Vec<u8>| {
        s.step(name, req, Expect::Replies(1), masked());
    };
    one(&mut s, "NOOP", noop(1));
    s.step(
        "VERSION",
        bin(VERSION, b"", b"", b"", 2),
        Expect::Replies(1),
        Check::Shape("the version number varies", is_bin_version),
    );
    one(
        &mut s,
        "SET",
        bin(SET, b"b:k", &set_extras(0xdeadbeef, 0), b"value", 3),
    );
    one(&mut s, "GETK hit", bin(GETK, b"b:k", b"", b"", 4));
    one(&mut s, "GET hit", bin(GET, b"b:k", b"", b"", 5));
    one(&mut s, "GETK miss", bin(GETK, b"b:missing", b"", b"", 6));
    one(&mut s, "GET miss", bin(GET, b"b:missing", b"", b"", 7));
    one(
        &mut s,
        "SET a key with NUL",
        bin(SET, b"b:a\0b", &set_extras(1, 0), b"nul", 8),
    );
    one(
        &mut s,
        "GETK a key with NUL",
        bin(GETK, b"b:a\0b", b"", b"", 9),
    );
    one(
        &mut s,
        "GET the prefix before NUL",
        bin(GET, b"b:a", b"", b"", 10),
    );
    one(
        &mut s,
        "SET an empty value",
        bin(SET, b"b:empty", &set_extras(0, 0), b"", 11),
    );
    one(
        &mut s,
        "GET an empty value",
        bin(GET, b"b:empty", b"", b"", 12),
    );
    s.step(
        "GETQ miss then NOOP",
        [bin(GETQ, b"b:missing", b"", b"", 13), noop(14)].concat(),
        Expect::UntilNoop,
        masked(),
    );
    s.step(
        "GETQ hit then NOOP",
        [bin(GETQ, b"b:k", b"", b"", 15), noop(16)].concat(),
        Expect::UntilNoop,
        masked(),
    );
    s.step(
        "GETKQ hit, miss, hit, then NOOP",
        [
            bin(GETKQ, b"b:k", b"", b"", 17),
            bin(GETKQ, b"b:missing", b"", b"", 18),
            bin(GETKQ, b"b:a\0b", b"", b"", 19),
            noop(20),
        ]
        .concat(),
        Expect::UntilNoop,
        masked(),
    );
    s.step(
        "SETQ then NOOP",
        [bin(SETQ, b"b:q", &set_extras(7, 0), b"quiet", 21), noop(22)].concat(),
        Expect::UntilNoop,
        masked(),
    );
    one(&mut s, "GETK after SETQ", bin(GETK, b"b:q", b"", b"", 23));
    s.step(
        "DELETEQ hit then NOOP",
        [bin(DELETEQ, b"b:q", b"", b"", 24), noop(25)].concat(),
        Expect::UntilNoop,
        masked(),
    );
    s.step(
        "DELETEQ miss then NOOP",
        [bin(DELETEQ, b"b:q", b"", b"", 26), noop(27)].concat(),
        Expect::UntilNoop,
        masked(),
    );
    one(&mut s, "DELETE hit", bin(DELETE, b"b:k", b"", b"", 28));
    one(&mut s, "DELETE miss", bin(DELETE, b"b:k", b"", b"", 29));
    one(
        &mut s,
        "ADD a missing key",
        bin(ADD, b"b:add", &set_extras(0, 0), b"1", 30),
    );
    one(
        &mut s,
        "ADD an existing key",
        bin(ADD, b"b:add", &set_extras(0, 0), b"2", 31),
    );
    one(
        &mut s,
        "INCREMENT a missing key with initial",
        bin(INCREMENT, b"b:n", &counter_extras(1, 5, 0), b"", 32),
    );
    one(
        &mut s,
        "INCREMENT",
        bin(INCREMENT, b"b:n", &counter_extras(3, 5, 0), b"", 33),
    );
    one(&mut s, "GET the counter", bin(GET, b"b:n", b"", b"", 34));
    one(
        &mut s,
        "INCREMENT a missing key with exptime 0xffffffff",
        bin(
            INCREMENT,
            b"b:n2",
            &counter_extras(1, 5, 0xffff_ffff),
            b"",
            35,
        ),
    );
    one(
        &mut s,
        "DECREMENT below 0",
        bin(DECREMENT, b"b:n", &counter_extras(100, 0, 0), b"", 36),
    );
    one(
        &mut s,
        "DECREMENT a missing key with initial",
        bin(DECREMENT, b"b:n3", &counter_extras(1, 9, 0), b"", 37),
    );
    one(
        &mut s,
        "GET after DECREMENT",
        bin(GET, b"b:n3", b"", b"", 38),
    );
    one(
        &mut s,
        "SET a non-number",
        bin(SET, b"b:s", &set_extras(0, 0), b"abc", 39),
    );
    one(
        &mut s,
        "INCREMENT a non-number",
        bin(INCREMENT, b"b:s", &counter_extras(1, 0, 0), b"", 40),
    );
    one(
        &mut s,
        "SET the largest u64",
        bin(
            SET,
            b"b:max",
            &set_extras(0, 0),
            b"18446744073709551615",
            41,
        ),
    );
    one(
        &mut s,
        "INCREMENT wraps at 2^64",
        bin(INCREMENT, b"b:max", &counter_extras(2, 0, 0), b"", 42),
    );
    one(
        &mut s,
        "SET 10 for DECREMENT",
        bin(SET, b"b:ten", &set_extras(0, 0), b"10", 43),
    );
    one(
        &mut s,
        "DECREMENT 10 by 1",
        bin(DECREMENT, b"b:ten", &counter_extras(1, 0, 0), b"", 44),
    );
    one(
        &mut s,
        "GET after DECREMENT leaves a space",
        bin(GET, b"b:ten", b"", b"", 45),
    );
    one(&mut s, "unknown opcode 0x50", bin(0x50, b"", b"", b"", 46));
    one(&mut s, "served after the unknown opcode", noop(47));
    one(
        &mut s,
        "SET with an absolute exptime in the past",
        bin(SET, b"b:past", &set_extras(0, 1_000_000_000), b"v", 48),
    );
    one(
        &mut s,
        "GET the key expired at once",
        bin(GET, b"b:past", b"", b"", 49),
    );
    one(
        &mut s,
        "SET with a relative exptime",
        bin(SET, b"b:rel", &set_extras(0, 100), b"v", 50),
    );
    one(
        &mut s,
        "GET the relative key",
        bin(GET, b"b:rel", b"", b"", 51),
    );
    one(
        &mut s,
        "SET a key of 250 bytes",
        bin(SET, &k250, &set_extras(0, 0), b"v", 52),
    );
    one(
        &mut s,
        "GETK a key of 250 bytes",
        bin(GETK, &k250, b"", b"", 53),
    );
    one(
        &mut s,
        "SET a value of 32 KiB",
        bin(SET, b"b:v32", &set_extras(0, 0), &v32, 56),
    );
    one(
        &mut s,
        "GET a value of 32 KiB",
        bin(GET, b"b:v32", b"", b"", 57),
    );
    s.step(
        "SET a value over 32 KiB",
        bin(SET, b"b:v40", &set_extras(0, 0), &v40, 58),
        Expect::Replies(1),
        Check::DeliberateShape("value-cap", |r| {
            let p = packets(r);
            p.len() == 1
                && p[0][1] == SET
                && p[0][6..8] == [0, 3]
                && p[0][12..16] == 58u32.to_be_bytes()
        }),
    );
    one(&mut s, "served after the refused value", noop(59));
    s.step(
        "GET the refused value",
        bin(GET, b"b:v40", b"", b"", 60),
        Expect::Replies(1),
        Check::DeliberateShape("value-cap", |r| {
            let p = packets(r);
            p.len() == 1
                && p[0][1] == GET
                && p[0][6..8] == [0, 1]
                && p[0][12..16] == 60u32.to_be_bytes()
        }),
    );
    let mut batch = Vec::new();
    for i in 0..50u32 {
        batch.extend(bin(
            SET,
            format!("b:p{i}").as_bytes(),
            &set_extras(i, 0),
            format!("v{i}").as_bytes(),
            1000 + i,
        ));
        batch.extend(bin(
            GETK,
            format!("b:p{}", i / 2).as_bytes(),
            b"",
            b"",
            2000 + i,
        ));
        batch.extend(bin(
            DELETE,
            format!("b:p{}", i / 3).as_bytes(),
            b"",
            b"",
            3000 + i,
        ));
    }
    s.step(
        "pipelined batch in one write",
        batch,
        Expect::Replies(150),
        masked(),
    );
    s.step(
        "STAT",
        bin(STAT, b"", b"", b"", 61),
        Expect::UntilStatEnd,
        Check::Shape(
            "a packet per stat then an empty one; values vary",
            is_bin_stats,
        ),
    );
    s.step(
        "QUIT",
        bin(QUIT, b"", b"", b"", 62),
        Expect::ThenClose(1),
        masked(),
    );
    out.push(s);

    // memcached answers EINVAL to a key over 250 bytes, then closes.
    let mut s = Script::new("memcache binary SET of a 251-byte key", Proto::Binary);
    s.step(
        "SET a key of 251 bytes",
        bin(SET, &k251, &set_extras(0, 0), b"v", 54),
        Expect::ThenClose(1),
        masked(),
    );
    out.push(s);
    let mut s = Script::new("memcache binary GETK of a 251-byte key", Proto::Binary);
    s.step(
        "GETK a key of 251 bytes",
        bin(GETK, &k251, b"", b"", 55),
        Expect::ThenClose(1),
        masked(),
    );
    out.push(s);

    out
}

// ---------------------------------------------------------------------------
// The differential tests
// ---------------------------------------------------------------------------

fn dc() -> FrontDoors {
    start_front_doors(&[])
}

#[test]
fn resp_scripts_are_deterministic_on_redis() {
    let (a, b) = (start_redis(), start_redis());
    diff_scripts(&resp_scripts(), a.port, b.port, true);
    let (a, b) = (
        start_redis_with(&["--requirepass", "secret"]),
        start_redis_with(&["--requirepass", "secret"]),
    );
    diff_scripts(&[resp_auth_script()], a.port, b.port, true);
}

#[test]
fn memcache_scripts_are_deterministic_on_memcached() {
    let (a, b) = (start_memcached(), start_memcached());
    let mut scripts = text_scripts();
    scripts.extend(binary_scripts());
    diff_scripts(&scripts, a.port, b.port, true);
}

#[test]
fn resp_answers_like_redis() {
    let real = start_redis();
    let fd = dc();
    diff_scripts(&resp_scripts(), real.port, fd.redis_port, false);
}

#[test]
fn resp_auth_answers_like_redis() {
    let real = start_redis_with(&["--requirepass", "secret"]);
    let fd = start_front_doors(&["-requirepass", "secret"]);
    diff_scripts(&[resp_auth_script()], real.port, fd.redis_port, false);
}

#[test]
fn memcache_text_answers_like_memcached() {
    let real = start_memcached();
    let fd = dc();
    diff_scripts(&text_scripts(), real.port, fd.memcache_port, false);
}

#[test]
fn memcache_binary_answers_like_memcached() {
    let real = start_memcached();
    let fd = dc();
    diff_scripts(&binary_scripts(), real.port, fd.memcache_port, false);
}

/// A node's dc_client in front of dc_server: RESP and memcache on free
/// loopback ports, carried to dc_server over the protocol extension. What
/// an application talking to its local dc_client sees must be what it
/// would see from dc_server, so the same scripts hold it to the real
/// servers.
struct Sidecar {
    _server: Daemon,
    dc: Daemon,
    redis_port: u16,
    memcache_port: u16,
}

fn sidecar(extra: &[&str]) -> Sidecar {
    let server = dc_e2e::start_server(&[]);
    for _ in 0..3 {
        let (redis, memcache) = (free_port(), free_port());
        if redis == memcache {
            continue;
        }
        let mut args = vec![
            "-listen-redis".to_string(),
            tcp_address(redis),
            "-listen-memcache".to_string(),
            tcp_address(memcache),
            "-server".to_string(),
            server.address.clone(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let started = std::panic::catch_unwind(|| {
            let mut dc = Daemon::start("dc_client", &args, &tcp_address(redis));
            Conn::connect(&tcp_address(memcache));
            assert!(dc.is_running(), "dc_client exited: {}", dc.stderr());
            assert!(dc.wait_for_log("connected to", Duration::from_secs(5)));
            dc
        });
        if let Ok(dc) = started {
            return Sidecar {
                _server: server,
                dc,
                redis_port: redis,
                memcache_port: memcache,
            };
        }
    }
    panic!("could not start dc_client on free ports");
}

#[test]
fn resp_through_dc_client_answers_like_redis() {
    let real = start_redis();
    let side = sidecar(&[]);
    diff_scripts(&resp_scripts(), real.port, side.redis_port, false);
    assert!(
        !side.dc.stderr().contains("1.x only"),
        "{}",
        side.dc.stderr()
    );
}

#[test]
fn resp_auth_through_dc_client_answers_like_redis() {
    let real = start_redis_with(&["--requirepass", "secret"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("password");
    std::fs::write(&file, "secret\n").unwrap();
    let side = sidecar(&["-redis-password-file", file.to_str().unwrap()]);
    diff_scripts(&[resp_auth_script()], real.port, side.redis_port, false);
}

#[test]
fn memcache_text_through_dc_client_answers_like_memcached() {
    let real = start_memcached();
    let side = sidecar(&[]);
    diff_scripts(&text_scripts(), real.port, side.memcache_port, false);
}

#[test]
fn memcache_binary_through_dc_client_answers_like_memcached() {
    let real = start_memcached();
    let side = sidecar(&[]);
    diff_scripts(&binary_scripts(), real.port, side.memcache_port, false);
}

/// With no server to ask, every request that needs one is answered at
/// once with its protocol's own failure, and the rest as usual.
#[test]
fn dc_client_front_doors_fail_fast_without_a_server() {
    let dead = tcp_address(free_port());
    let (redis, memcache) = (free_port(), free_port());
    let args = [
        "-listen-redis",
        &tcp_address(redis),
        "-listen-memcache",
        &tcp_address(memcache),
        "-server",
        &dead,
    ]
    .map(String::from);
    let dc = Daemon::start("dc_client", &args, &tcp_address(redis));
    Conn::connect(&tcp_address(memcache));
    assert!(dc.wait_for_log("protocol's failure at once", Duration::from_secs(5)));
    let ask = |port: u16, request: &[u8], want: &[u8]| {
        let mut conn = Conn::connect(&tcp_address(port));
        let started = Instant::now();
        conn.send(request);
        let got = conn.recv(want.len());
        assert_eq!(esc(&got), esc(want), "{}", dc.stderr());
        // Far below -timeout (1 s): nothing waited for the dead server.
        assert!(
            started.elapsed() < Duration::from_millis(200),
            "{:?}",
            started.elapsed()
        );
    };
    ask(redis, &c("GET k"), b"-ERR cache unavailable\r\n");
    ask(redis, &c("SET k v"), b"-ERR cache unavailable\r\n");
    ask(redis, &c("PING"), b"+PONG\r\n");
    ask(
        memcache,
        b"get k\r\n",
        b"SERVER_ERROR temporarily unavailable\r\n",
    );
    ask(
        memcache,
        b"set k 0 0 1\r\nv\r\n",
        b"SERVER_ERROR temporarily unavailable\r\n",
    );
    ask(memcache, b"version\r\n", b"VERSION ");
    // Binary GET: a response, same opcode and opaque, a failure status.
    let mut conn = Conn::connect(&tcp_address(memcache));
    conn.send(&bin(0x00, b"k", b"", b"", 0x1234));
    let header = conn.recv(24);
    assert_eq!(header[0], 0x81);
    assert_eq!(header[1], 0x00);
    assert_ne!(&header[6..8], b"\x00\x00", "a failure status");
    assert_eq!(&header[12..16], &0x1234u32.to_be_bytes());
}

#[test]
fn every_deliberate_difference_has_a_reason() {
    let mut used = Vec::new();
    for s in resp_scripts()
        .iter()
        .chain(&[resp_auth_script()])
        .chain(&text_scripts())
        .chain(&binary_scripts())
    {
        for st in &s.steps {
            match &st.check {
                Check::Masked(id, _) | Check::Deliberate(id, _) | Check::DeliberateShape(id, _) => {
                    assert!(!reason(id).is_empty());
                    used.push(*id);
                }
                _ => {}
            }
        }
    }
    for (id, _) in DELIBERATE_DIFFERENCES {
        assert!(used.contains(id), "{id} is listed but no step uses it");
    }
}

// ---------------------------------------------------------------------------
// Real clients against dc_server
// ---------------------------------------------------------------------------

/// Runs an installed program to completion within `timeout`.
fn run_program(name: &str, args: &[&str], timeout: Duration) -> std::process::Output {
    run_command(Command::new(program(name)).args(args), b"", timeout)
}

fn cli(port: u16, args: &[&str]) -> String {
    let p = port.to_string();
    let mut a = vec!["-h", "127.0.0.1", "-p", &p];
    a.extend_from_slice(args);
    let out = run_program("redis-cli", &a, Duration::from_secs(10));
    assert!(out.status.success(), "redis-cli {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn redis_cli_and_benchmark_work_against_dc_server() {
    let fd = dc();
    let p = fd.redis_port;
    assert_eq!(cli(p, &["PING"]), "PONG\n");
    assert_eq!(cli(p, &["SET", "cli:k", "hello world"]), "OK\n");
    assert_eq!(cli(p, &["GET", "cli:k"]), "hello world\n");
    assert_eq!(cli(p, &["SETEX", "cli:t", "100", "v"]), "OK\n");
    assert_eq!(cli(p, &["TTL", "cli:t"]), "100\n");
    assert_eq!(cli(p, &["INCRBY", "cli:n", "5"]), "5\n");
    assert_eq!(cli(p, &["DEL", "cli:k", "cli:n"]), "2\n");
    assert_eq!(cli(p, &["GET", "cli:k"]), "\n");
    let info = cli(p, &["INFO", "server"]);
    assert!(info.contains("redis_version:"), "INFO server: {info}");

    let out = run_program(
        "redis-benchmark",
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &p.to_string(),
            "-t",
            "set,get",
            "-n",
            "2000",
            "-q",
        ],
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "redis-benchmark failed: {stdout}\n{stderr}"
    );
    // -q prints one "<TEST>: <n> requests per second" line per test, and
    // the errors it got otherwise.
    for test in ["SET", "GET"] {
        assert!(
            stdout
                .split(['\r', '\n'])
                .any(|l| l.trim().starts_with(&format!("{test}: "))
                    && l.contains("requests per second")),
            "no {test} result: {stdout}\n{stderr}"
        );
    }
    let lower = format!("{stdout}{stderr}").to_lowercase();
    assert!(
        !lower.contains("error"),
        "redis-benchmark reported errors: {stdout}\n{stderr}"
    );
    // Still serving afterwards.
    assert_eq!(cli(p, &["PING"]), "PONG\n");
}

#[test]
fn the_redis_crate_works_against_dc_server() {
    use redis::Commands;
    let fd = dc();
    let client = redis::Client::open(format!("redis://127.0.0.1:{}/", fd.redis_port)).expect("url");
    let mut con = client
        .get_connection_with_timeout(Duration::from_secs(5))
        .expect("connect");
    con.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let () = con
        .set_ex("rc:k", b"\0binary\r\nvalue".to_vec(), 100)
        .expect("set_ex");
    let v: Vec<u8> = con.get("rc:k").expect("get");
    assert_eq!(v, b"\0binary\r\nvalue");
    let ttl: i64 = con.ttl("rc:k").expect("ttl");
    assert!((99..=100).contains(&ttl), "ttl {ttl}");
    let n: i64 = con.incr("rc:n", 5).expect("incr");
    assert_eq!(n, 5);
    let n: i64 = con.incr("rc:n", -7).expect("incr");
    assert_eq!(n, -2);
    let n: i64 = con.decr("rc:n", 1).expect("decr");
    assert_eq!(n, -3);
    let removed: i64 = con.del(&["rc:k", "rc:n", "rc:none"]).expect("del");
    assert_eq!(removed, 2);
    let v: Option<Vec<u8>> = con.get("rc:k").expect("get");
    assert_eq!(v, None);
    let e: redis::RedisResult<i64> = con.incr("rc:k2", 1).and_then(|_: i64| {
        let () = con.set("rc:s", "abc")?;
        con.incr("rc:s", 1)
    });
    assert!(e.is_err(), "INCR of a non-number: {e:?}");
    let pong: String = redis::cmd("PING").query(&mut con).expect("ping");
    assert_eq!(pong, "PONG");
}

fn memcache_client(port: u16, ascii: bool) -> memcache::Client {
    let url = format!(
        "memcache://127.0.0.1:{port}?timeout=5&tcp_nodelay=true{}",
        if ascii { "&protocol=ascii" } else { "" }
    );
    memcache::Client::connect(url).expect("memcache client")
}

fn exercise_memcache_client(client: &memcache::Client, prefix: &str) {
    let k = |s: &str| format!("{prefix}:{s}");
    client.set(&k("a"), "hello", 100).expect("set");
    let v: Option<String> = client.get(&k("a")).expect("get");
    assert_eq!(v.as_deref(), Some("hello"));
    let v: Option<String> = client.get(&k("missing")).expect("get missing");
    assert_eq!(v, None);
    client.set(&k("n"), 40u64, 0).expect("set number");
    assert_eq!(client.increment(&k("n"), 2).expect("incr"), 42);
    assert_eq!(client.decrement(&k("n"), 50).expect("decr"), 0);
    let many: std::collections::HashMap<String, String> = client
        .gets(&[k("a").as_str(), k("missing").as_str()])
        .expect("multi-get");
    assert_eq!(many.len(), 1);
    assert_eq!(many.get(&k("a")).map(String::as_str), Some("hello"));
    assert!(client.delete(&k("a")).expect("delete"));
    assert!(!client.delete(&k("a")).expect("delete missing"));
    let v: Option<String> = client.get(&k("a")).expect("get after delete");
    assert_eq!(v, None);
    let version = client.version().expect("version");
    assert_eq!(version.len(), 1);
}

#[test]
fn the_memcache_crate_works_against_dc_server_over_text_and_binary() {
    let fd = dc();
    exercise_memcache_client(&memcache_client(fd.memcache_port, true), "ascii");
    exercise_memcache_client(&memcache_client(fd.memcache_port, false), "binary");
    // Both protocols see the same store.
    let text = memcache_client(fd.memcache_port, true);
    let binary = memcache_client(fd.memcache_port, false);
    text.set("shared", "from text", 0).unwrap();
    let v: Option<String> = binary.get("shared").unwrap();
    assert_eq!(v.as_deref(), Some("from text"));
}

/// The clients themselves, against the real servers: a failure here is the
/// client's or the test's, not dc_server's.
#[test]
fn the_client_checks_pass_against_the_real_servers() {
    let mc = start_memcached();
    exercise_memcache_client(&memcache_client(mc.port, true), "ascii");
    exercise_memcache_client(&memcache_client(mc.port, false), "binary");
    let r = start_redis();
    assert_eq!(cli(r.port, &["SETEX", "cli:t", "100", "v"]), "OK\n");
    assert_eq!(cli(r.port, &["TTL", "cli:t"]), "100\n");
}

// ---------------------------------------------------------------------------
// Bad input on the new listeners
// ---------------------------------------------------------------------------

fn raw(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

fn roundtrip(s: &mut TcpStream, req: &[u8], want: &[u8]) {
    s.write_all(req).expect("send");
    let mut got = vec![0; want.len()];
    s.read_exact(&mut got)
        .unwrap_or_else(|e| panic!("reply to \"{}\": {e}", esc(req)));
    assert_eq!(esc(&got), esc(want), "reply to \"{}\"", esc(req));
}

/// Reads until the peer closes (or the deadline); returns what arrived and
/// whether it closed.
fn drain_until_close(s: &mut TcpStream, deadline: Instant) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    let mut chunk = [0u8; 65536];
    while Instant::now() < deadline {
        match s.read(&mut chunk) {
            Ok(0) => return (got, true),
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return (got, true),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return (got, true),
        }
    }
    (got, false)
}

/// A keeper connection stores a value; after each bad input, the keeper
/// and a fresh connection are served and the value is still there.
struct Keeper {
    port: u16,
    conn: TcpStream,
    proto: Proto,
}

impl Keeper {
    fn new(port: u16, proto: Proto) -> Keeper {
        let mut conn = raw(port);
        match proto {
            Proto::Resp => roundtrip(&mut conn, &c("SET keep:k precious"), b"+OK\r\n"),
            _ => roundtrip(
                &mut conn,
                &store("set", b"keep:k", 3, 0, b"precious", ""),
                b"STORED\r\n",
            ),
        }
        Keeper { port, conn, proto }
    }

    fn check(&mut self, after: &str) {
        let (req, want): (Vec<u8>, &[u8]) = match self.proto {
            Proto::Resp => (c("GET keep:k"), b"$8\r\nprecious\r\n"),
            _ => (
                t("get keep:k\r\n"),
                b"VALUE keep:k 3 8\r\nprecious\r\nEND\r\n",
            ),
        };
        let mut fresh = raw(self.port);
        for conn in [&mut self.conn, &mut fresh] {
            conn.write_all(&req)
                .unwrap_or_else(|e| panic!("after {after}: {e}"));
            let mut got = vec![0; want.len()];
            conn.read_exact(&mut got)
                .unwrap_or_else(|e| panic!("after {after}: no reply: {e}"));
            assert_eq!(esc(&got), esc(want), "after {after}");
        }
    }
}

/// Sends `bytes` and expects the server to close the connection within
/// the deadline (whatever it answered before).
fn expect_closed(port: u16, bytes: &[u8], what: &str) -> Vec<u8> {
    let mut s = raw(port);
    let _ = s.write_all(bytes);
    let (got, closed) = drain_until_close(&mut s, Instant::now() + Duration::from_secs(10));
    assert!(
        closed,
        "{what}: the connection stayed open; got \"{}\"",
        esc(&got)
    );
    got
}

/// Writes about 20 MB of `unit` without reading anything, for at most 20 s.
/// Returns how many bytes went out and whether the writes stopped (closed
/// or throttled) before the end.
fn flood(port: u16, unit: &[u8]) -> (usize, bool) {
    let mut s = raw(port);
    s.set_write_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut chunk = Vec::new();
    while chunk.len() < 256 * 1024 {
        chunk.extend_from_slice(unit);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut sent = 0;
    while sent < 20_000_000 {
        if Instant::now() > deadline {
            return (sent, true);
        }
        match s.write(&chunk) {
            Ok(0) | Err(_) => return (sent, true),
            Ok(n) => sent += n,
        }
    }
    (sent, false)
}

fn bad_input_on(fd: &FrontDoors, proto: Proto) {
    let port = match proto {
        Proto::Resp => fd.redis_port,
        _ => fd.memcache_port,
    };
    let mut keeper = Keeper::new(port, proto);
    let log_before = fd.server.stderr().len();

    // Garbage: RESP answers a protocol error and closes; memcache text
    // answers ERROR per line (as memcached does) and keeps going, so it is
    // only checked to be answered and survived.
    match proto {
        Proto::Resp => {
            expect_closed(port, b"*x\r\n\xff\xfe garbage\r\n", "RESP garbage");
            expect_closed(port, b"*1\r\n$99999999999\r\n", "an absurd bulk length");
            expect_closed(port, b"*99999999999\r\n", "an absurd multibulk count");
            expect_closed(port, b"*1\r\n$-5\r\n", "a negative bulk length");
        }
        Proto::Text => {
            let mut s = raw(port);
            s.write_all(b"\xff\xfe\x00garbage\x01\r\n").unwrap();
            let mut line = Vec::new();
            let mut b = [0u8; 1];
            while !line.ends_with(b"\r\n") {
                s.read_exact(&mut b).expect("an answer to garbage");
                line.push(b[0]);
            }
            assert!(
                line.starts_with(b"ERROR") || line.starts_with(b"CLIENT_ERROR"),
                "{}",
                esc(&line)
            );
            // A line without end grows forever: memcached closes at 2048
            // bytes without a newline ("CLIENT_ERROR line too long").
            let got = expect_closed(
                port,
                &vec![b'g'; 1 << 20],
                "a line of 1 MiB without a newline",
            );
            assert!(
                got.is_empty()
                    || got.starts_with(b"CLIENT_ERROR")
                    || got.starts_with(b"SERVER_ERROR")
                    || got.starts_with(b"ERROR"),
                "{}",
                esc(&got)
            );
        }
        Proto::Binary => {
            // A binary header with an absurd body length.
            let mut h = bin(SET, b"k", &set_extras(0, 0), b"", 1);
            h[8..12].copy_from_slice(&0xffff_fff0u32.to_be_bytes());
            expect_closed(port, &h, "a binary body of 4 GiB");
            // A key length larger than the body.
            let mut h = bin(GET, b"k", b"", b"", 1);
            h[2..4].copy_from_slice(&200u16.to_be_bytes());
            expect_closed(port, &h, "a key longer than the body");
            // A bad magic byte after a good request.
            let mut bytes = bin(NOOP, b"", b"", b"", 1);
            bytes.extend(bin(NOOP, b"", b"", b"", 2));
            bytes[24] = 0x42;
            expect_closed(port, &bytes, "a bad magic byte");
        }
    }
    keeper.check("garbage");

    // A truncated command, then close.
    {
        let mut s = raw(port);
        let bytes: Vec<u8> = match proto {
            Proto::Resp => c("SET keep:k overwritten")[..20].to_vec(),
            Proto::Text => store("set", b"keep:k", 0, 0, b"overwritten", "")[..20].to_vec(),
            Proto::Binary => {
                bin(SET, b"keep:k", &set_extras(0, 0), b"overwritten", 1)[..30].to_vec()
            }
        };
        s.write_all(&bytes).unwrap();
        drop(s);
    }
    keeper.check("a truncated command");

    // A flood of pipelined requests that are never read.
    let unit = match proto {
        Proto::Resp => c("GET keep:k"),
        Proto::Text => t("get keep:k\r\n"),
        Proto::Binary => bin(GETK, b"keep:k", b"", b"", 7),
    };
    let started = Instant::now();
    let server_port = port;
    let flooder = std::thread::spawn(move || flood(server_port, &unit));
    // Meanwhile, others are served.
    while !flooder.is_finished() {
        keeper.check("during the flood");
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "the flood did not end"
        );
    }
    let (sent, stopped) = flooder.join().expect("flooder");
    eprintln!(
        "{proto:?} flood: {sent} bytes written before the server stopped taking them, in {:?}",
        started.elapsed()
    );
    assert!(
        stopped,
        "20 MB of unread pipelined requests were all accepted ({sent} bytes): neither closed nor throttled"
    );
    keeper.check("the flood");

    // The server said why it dropped connections.
    let log = fd.server.stderr();
    let new = &log[log_before.min(log.len())..];
    let why: Vec<&str> = new
        .lines()
        .filter(|l| {
            let l = l.to_lowercase();
            (l.contains("clos")
                || l.contains("drop")
                || l.contains("throttl")
                || l.contains("disconnect"))
                && (l.contains("protocol")
                    || l.contains("invalid")
                    || l.contains("bad")
                    || l.contains("error")
                    || l.contains("too"))
        })
        .collect();
    eprintln!("{proto:?} log lines saying why:\n{}", why.join("\n"));
    assert!(
        new.lines().any(|l| {
            let l = l.to_lowercase();
            (l.contains("clos")
                || l.contains("drop")
                || l.contains("throttl")
                || l.contains("disconnect"))
                && (l.contains("protocol")
                    || l.contains("invalid")
                    || l.contains("bad")
                    || l.contains("error")
                    || l.contains("too"))
        }),
        "no log line says why a {proto:?} connection was closed:\n{new}"
    );
}

#[test]
fn bad_input_on_the_resp_listener_closes_that_connection_only() {
    let fd = dc();
    bad_input_on(&fd, Proto::Resp);
}

#[test]
fn bad_input_on_the_memcache_text_listener_closes_that_connection_only() {
    let fd = dc();
    bad_input_on(&fd, Proto::Text);
}

#[test]
fn bad_input_on_the_memcache_binary_listener_closes_that_connection_only() {
    let fd = dc();
    bad_input_on(&fd, Proto::Binary);
}
