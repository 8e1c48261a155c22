//! [`RespServer`]: the server codec. It parses each request, checks it as
//! Redis 7 does (unknown command, then arity, then authentication, then
//! the arguments), runs its operations on an [`Execute`] and composes the
//! answer straight into the output buffer.
//!
//! ```text
//!   input ─RequestParser─> Request ─lookup/arity/auth─> Op(s) ─Execute─> Reply ─> out
//!     │                      (borrowed args)                                  │
//!     └─ an oversized argument: Skip discards it as it arrives, then -ERR ────┘
//! ```

use std::sync::Arc;

use dc_ops::{
    CounterChange, Execute, Op, Protocol, Reply, ServerCodec, Step, StoreMode, Ttl, MAX_KEY_LEN,
    MAX_VALUE_LEN,
};

use crate::command::Command;
use crate::error::RequestError;
use crate::info::write_info;
use crate::reply::{
    write_array_header, write_bulk, write_bulk_header, write_error, write_integer, NIL, OK, PONG,
};
use crate::request::{Parsed, Request, RequestParser, Skip, Skipped, MAX_ARG_LEN, MAX_REQUEST_LEN};
use dc_ops::number::{parse_i64, write_u64};

/// `-ERR value is not an integer or out of range`.
pub const NOT_INTEGER: &[u8] = b"ERR value is not an integer or out of range";
/// `-ERR increment or decrement would overflow`.
pub const OVERFLOW: &[u8] = b"ERR increment or decrement would overflow";
/// `-ERR syntax error`.
pub const SYNTAX: &[u8] = b"ERR syntax error";
/// `-NOAUTH Authentication required.`
pub const NOAUTH: &[u8] = b"NOAUTH Authentication required.";
/// `-WRONGPASS ...`, for a wrong password or a user other than `default`.
pub const WRONGPASS: &[u8] = b"WRONGPASS invalid username-password pair or user is disabled.";
/// Redis's answer to a one-argument `AUTH` when no password is set.
pub const AUTH_NOT_CONFIGURED: &[u8] = b"ERR AUTH <password> called without any password \
configured for the default user. Are you sure your configuration is correct?";
/// `-ERR DB index is out of range` (only database 0 exists).
pub const DB_RANGE: &[u8] = b"ERR DB index is out of range";
/// The store refused a value as too large (not a Redis answer: Redis
/// stores up to 512 MB).
pub const VALUE_TOO_LARGE: &[u8] = b"ERR value is too large";
/// No cache could answer (a proxy whose upstreams are down; not Redis).
pub const UNAVAILABLE: &[u8] = b"ERR cache unavailable";

/// What a RESP listener is configured with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RespConfig {
    /// The `default` user's password (Redis `requirepass`): with one,
    /// commands other than PING, INFO, AUTH and QUIT need `AUTH` first.
    /// `None` serves everyone (apr_redis cannot authenticate).
    pub password: Option<Vec<u8>>,
}

/// The RESP2 server codec of one connection.
#[derive(Debug)]
pub struct RespServer {
    parser: RequestParser,
    session: Session,
    /// The rest of a refused oversized request, while it is being skipped.
    skip: Option<Skip>,
}

#[derive(Debug)]
struct Session {
    config: Arc<RespConfig>,
    authenticated: bool,
    /// Reused for `INFO`'s text, whose length precedes it.
    scratch: Vec<u8>,
}

impl RespServer {
    /// A codec for a new connection.
    pub fn new(config: Arc<RespConfig>) -> RespServer {
        let authenticated = config.password.is_none();
        RespServer {
            parser: RequestParser::new(),
            session: Session {
                config,
                authenticated,
                scratch: Vec::new(),
            },
            skip: None,
        }
    }

    /// Whether the connection may run every command (no password is set,
    /// or `AUTH` succeeded).
    pub fn authenticated(&self) -> bool {
        self.session.authenticated
    }
}

impl ServerCodec for RespServer {
    type Error = RequestError;

    /// Serves one request. On `Err`, `out` ends with the protocol error
    /// Redis would send; send it, then close.
    fn serve(
        &mut self,
        input: &[u8],
        exec: &mut dyn Execute,
        out: &mut Vec<u8>,
    ) -> Result<Step, RequestError> {
        if let Some(skip) = &mut self.skip {
            let skipped = skip.advance(input).inspect_err(|e| e.write_reply(out))?;
            return Ok(match skipped {
                Skipped::More(0) => Step::Incomplete,
                Skipped::More(consumed) => consumed_step(consumed, 0, false),
                Skipped::Done(consumed) => {
                    write_too_large(out, skip);
                    self.skip = None;
                    consumed_step(consumed, 1, false)
                }
            });
        }
        let parsed = self
            .parser
            .parse(input)
            .inspect_err(|e| e.write_reply(out))?;
        Ok(match parsed {
            Parsed::Incomplete => Step::Incomplete,
            Parsed::Empty { consumed } => consumed_step(consumed, 0, false),
            Parsed::Oversized { consumed, skip } => {
                self.skip = Some(skip);
                consumed_step(consumed, 0, false)
            }
            Parsed::Request { request, consumed } => {
                let close = self.session.dispatch(&request, exec, out);
                consumed_step(consumed, 1, close)
            }
        })
    }

    fn in_request(&self) -> bool {
        self.skip.is_some()
    }

    fn protocol(&self) -> Protocol {
        Protocol::Redis
    }
}

fn consumed_step(consumed: usize, requests: usize, close: bool) -> Step {
    Step::Consumed {
        consumed,
        requests,
        close,
    }
}

fn write_too_large(out: &mut Vec<u8>, skip: &Skip) {
    if skip.arg_len > 0 {
        out.extend_from_slice(b"-ERR argument is too large (");
        write_u64(out, skip.arg_len);
        out.extend_from_slice(b" bytes, at most ");
        write_u64(out, MAX_ARG_LEN as u64);
        out.extend_from_slice(b")\r\n");
    } else {
        out.extend_from_slice(b"-ERR request is too large (at most ");
        write_u64(out, MAX_REQUEST_LEN as u64);
        out.extend_from_slice(b" bytes)\r\n");
    }
}

/// An argument as C sees it (Redis compares options with `strcasecmp`, so
/// a NUL ends them).
fn cstr(arg: &[u8]) -> &[u8] {
    match arg.iter().position(|&b| b == 0) {
        Some(nul) => &arg[..nul],
        None => arg,
    }
}

/// The codec reads no clock, but Redis refuses a relative expiry that
/// overflows when added to the Unix time in ms; it is taken to be at most
/// this (2^42 ms, the year 2109).
const UNIX_MS_BOUND: i64 = 1 << 42;

/// How a number of time units is read, per command.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expiry {
    /// Relative seconds (EX, SETEX, EXPIRE).
    Seconds,
    /// Relative milliseconds (PX, PEXPIRE).
    Millis,
    /// Absolute Unix seconds (EXAT, EXPIREAT).
    UnixSeconds,
    /// Absolute Unix milliseconds (PXAT), kept to the second below.
    UnixMillis,
}

impl Expiry {
    /// The lifetime `n` means, `None` where Redis says "invalid expire
    /// time" (beyond what Redis can represent). `n <= 0` is [`Ttl::Expired`]:
    /// the callers that refuse it check first.
    fn ttl(self, n: i64) -> Option<Ttl> {
        let seconds = matches!(self, Expiry::Seconds | Expiry::UnixSeconds);
        if seconds && !(i64::MIN / 1000..=i64::MAX / 1000).contains(&n) {
            return None;
        }
        let ms = if seconds { n * 1000 } else { n };
        let relative = matches!(self, Expiry::Seconds | Expiry::Millis);
        if relative && ms > i64::MAX - UNIX_MS_BOUND {
            return None;
        }
        if ms <= 0 {
            return Some(Ttl::Expired);
        }
        Some(match self {
            Expiry::Seconds | Expiry::Millis => Ttl::After(ms as u64),
            Expiry::UnixSeconds => Ttl::AtUnix(n as u64),
            Expiry::UnixMillis => Ttl::AtUnix(n as u64 / 1000),
        })
    }
}

fn write_invalid_expire(out: &mut Vec<u8>, cmd: Command) {
    out.extend_from_slice(b"-ERR invalid expire time in '");
    out.extend_from_slice(cmd.name().as_bytes());
    out.extend_from_slice(b"' command\r\n");
}

/// Redis's answer to an unknown command: the name and the start of the
/// arguments, quoted, each read as a C string, CR and LF made spaces.
fn write_unknown(out: &mut Vec<u8>, request: &Request<'_>) {
    let start = out.len();
    out.extend_from_slice(b"-ERR unknown command '");
    let name = cstr(request.name());
    out.extend_from_slice(&name[..name.len().min(128)]);
    out.extend_from_slice(b"', with args beginning with: ");
    let mut args = 0usize;
    for arg in request.rest() {
        if args >= 128 {
            break;
        }
        let arg = cstr(arg);
        let take = arg.len().min(128 - args);
        out.push(b'\'');
        out.extend_from_slice(&arg[..take]);
        out.extend_from_slice(b"' ");
        args += take + 3;
    }
    for b in &mut out[start..] {
        if *b == b'\r' || *b == b'\n' {
            *b = b' ';
        }
    }
    out.extend_from_slice(b"\r\n");
}

fn write_arity(out: &mut Vec<u8>, cmd: Command) {
    out.extend_from_slice(b"-ERR wrong number of arguments for '");
    out.extend_from_slice(cmd.name().as_bytes());
    out.extend_from_slice(b"' command\r\n");
}

/// Refuses a key the store cannot hold; true if it did.
fn refuse_key(out: &mut Vec<u8>, key: &[u8]) -> bool {
    if key.len() <= MAX_KEY_LEN {
        return false;
    }
    out.extend_from_slice(b"-ERR key is too long (");
    write_u64(out, key.len() as u64);
    out.extend_from_slice(b" bytes, at most ");
    write_u64(out, MAX_KEY_LEN as u64);
    out.extend_from_slice(b")\r\n");
    true
}

/// The answer to a reply no command of this kind can get (an executor
/// that breaks its contract); never a Redis answer.
fn write_unexpected(out: &mut Vec<u8>, reply: &Reply<'_>) {
    match reply {
        Reply::Unavailable => write_error(out, UNAVAILABLE),
        Reply::TooLarge => write_error(out, VALUE_TOO_LARGE),
        _ => write_error(out, b"ERR internal error: unexpected reply from the cache"),
    }
}

/// Compares secrets in time independent of where they differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Session {
    /// Answers one request; true if the connection is to close.
    fn dispatch(&mut self, req: &Request<'_>, exec: &mut dyn Execute, out: &mut Vec<u8>) -> bool {
        let Some(cmd) = Command::lookup(req.name()) else {
            write_unknown(out, req);
            return false;
        };
        if !cmd.arity_ok(req.len()) {
            write_arity(out, cmd);
            return false;
        }
        if !self.authenticated && !cmd.before_auth() {
            write_error(out, NOAUTH);
            return false;
        }
        match cmd {
            Command::Ping => match req.len() {
                1 => out.extend_from_slice(PONG),
                2 => write_bulk(out, req.arg(1)),
                _ => write_arity(out, cmd),
            },
            Command::Get => get(req.arg(1), exec, out),
            Command::Set => set(req, exec, out),
            Command::Setex => setex(req, exec, out),
            Command::Del | Command::Exists => count_keys(cmd, req, exec, out),
            Command::Incr => counter(req.arg(1), 1, exec, out),
            Command::Decr => counter(req.arg(1), -1, exec, out),
            Command::Incrby | Command::Decrby => match parse_i64(req.arg(2)) {
                None => write_error(out, NOT_INTEGER),
                Some(i64::MIN) if cmd == Command::Decrby => {
                    write_error(out, b"ERR decrement would overflow")
                }
                Some(n) => counter(
                    req.arg(1),
                    if cmd == Command::Decrby { -n } else { n },
                    exec,
                    out,
                ),
            },
            Command::Expire | Command::Pexpire | Command::Expireat => expire(cmd, req, exec, out),
            Command::Persist => touch(req.arg(1), Ttl::Unlimited, exec, out),
            Command::Ttl | Command::Pttl => ttl(cmd, req.arg(1), exec, out),
            Command::Info => {
                self.scratch.clear();
                write_info(&mut self.scratch, &exec.info(), req.rest());
                write_bulk(out, &self.scratch);
            }
            Command::Auth => self.auth(req, out),
            Command::Select => match parse_i64(req.arg(1)) {
                Some(n) if i32::try_from(n).is_err() => write_error(out, NOT_INTEGER),
                None => write_error(out, NOT_INTEGER),
                Some(0) => out.extend_from_slice(OK),
                Some(_) => write_error(out, DB_RANGE),
            },
            Command::Quit => {
                out.extend_from_slice(OK);
                return true;
            }
            Command::Config => config(req, out),
        }
        false
    }

    fn auth(&mut self, req: &Request<'_>, out: &mut Vec<u8>) {
        if req.len() > 3 {
            return write_error(out, SYNTAX);
        }
        let (user, password) = match req.len() {
            2 => (None, req.arg(1)),
            _ => (Some(req.arg(1)), req.arg(2)),
        };
        let user_ok = user.is_none_or(|u| u == b"default");
        let ok = match &self.config.password {
            // Redis's `default` user is "nopass": any password will do,
            // but the one-argument form is refused as a likely mistake.
            None if user.is_none() => return write_error(out, AUTH_NOT_CONFIGURED),
            None => user_ok,
            Some(secret) => user_ok & same_secret(secret, password),
        };
        if ok {
            self.authenticated = true;
            out.extend_from_slice(OK);
        } else {
            write_error(out, WRONGPASS);
        }
    }
}

fn get(key: &[u8], exec: &mut dyn Execute, out: &mut Vec<u8>) {
    if refuse_key(out, key) {
        return;
    }
    exec.execute(&Op::Get { key }, &mut |reply| match *reply {
        Reply::Value { data, .. } => {
            write_bulk_header(out, data.len());
            out.extend_from_slice(data);
            out.extend_from_slice(b"\r\n");
        }
        Reply::NotFound => out.extend_from_slice(NIL),
        ref other => write_unexpected(out, other),
    });
}

fn store(
    mode: StoreMode,
    key: &[u8],
    value: &[u8],
    ttl: Ttl,
    exec: &mut dyn Execute,
    out: &mut Vec<u8>,
) {
    if refuse_key(out, key) {
        return;
    }
    if value.len() > MAX_VALUE_LEN {
        return write_error(out, VALUE_TOO_LARGE);
    }
    let op = Op::Store {
        mode,
        key,
        value,
        flags: 0,
        ttl,
    };
    exec.execute(&op, &mut |reply| match reply {
        Reply::Stored => out.extend_from_slice(OK),
        Reply::NotStored => out.extend_from_slice(NIL),
        other => write_unexpected(out, other),
    });
}

fn set(req: &Request<'_>, exec: &mut dyn Execute, out: &mut Vec<u8>) {
    // Redis's parseExtendedStringArgumentsOrReply: options in any order,
    // NX and XX exclusive, one of EX/PX/EXAT/PXAT (repeating the same one
    // is allowed, the last wins). GET and KEEPTTL are not supported.
    let mut mode = StoreMode::Set;
    let mut expiry: Option<(Expiry, &[u8])> = None;
    let mut j = 3;
    while j < req.len() {
        let opt = cstr(req.arg(j));
        let has_next = j + 1 < req.len();
        let unit = match opt {
            _ if opt.eq_ignore_ascii_case(b"nx") && mode != StoreMode::Replace => {
                mode = StoreMode::Add;
                None
            }
            _ if opt.eq_ignore_ascii_case(b"xx") && mode != StoreMode::Add => {
                mode = StoreMode::Replace;
                None
            }
            _ if opt.eq_ignore_ascii_case(b"ex") => Some(Expiry::Seconds),
            _ if opt.eq_ignore_ascii_case(b"px") => Some(Expiry::Millis),
            _ if opt.eq_ignore_ascii_case(b"exat") => Some(Expiry::UnixSeconds),
            _ if opt.eq_ignore_ascii_case(b"pxat") => Some(Expiry::UnixMillis),
            _ => return write_error(out, SYNTAX),
        };
        if let Some(unit) = unit {
            let other = expiry.is_some_and(|(u, _)| u != unit);
            if other || !has_next {
                return write_error(out, SYNTAX);
            }
            expiry = Some((unit, req.arg(j + 1)));
            j += 1;
        }
        j += 1;
    }
    let ttl = match expiry {
        None => Ttl::Unlimited,
        Some((unit, text)) => match parse_i64(text) {
            None => return write_error(out, NOT_INTEGER),
            Some(n) if n <= 0 => return write_invalid_expire(out, Command::Set),
            Some(n) => match unit.ttl(n) {
                Some(ttl) => ttl,
                None => return write_invalid_expire(out, Command::Set),
            },
        },
    };
    store(mode, req.arg(1), req.arg(2), ttl, exec, out);
}

fn setex(req: &Request<'_>, exec: &mut dyn Execute, out: &mut Vec<u8>) {
    let ttl = match parse_i64(req.arg(2)) {
        None => return write_error(out, NOT_INTEGER),
        Some(n) if n <= 0 => return write_invalid_expire(out, Command::Setex),
        Some(n) => match Expiry::Seconds.ttl(n) {
            Some(ttl) => ttl,
            None => return write_invalid_expire(out, Command::Setex),
        },
    };
    store(StoreMode::Set, req.arg(1), req.arg(3), ttl, exec, out);
}

fn count_keys(cmd: Command, req: &Request<'_>, exec: &mut dyn Execute, out: &mut Vec<u8>) {
    for key in req.rest() {
        if refuse_key(out, key) {
            return;
        }
    }
    let mut count = 0i64;
    let mut failed: Option<Reply<'static>> = None;
    for key in req.rest() {
        let op = if cmd == Command::Del {
            Op::Delete { key }
        } else {
            Op::Exists { key }
        };
        exec.execute(&op, &mut |reply| match reply {
            Reply::Deleted | Reply::Found => count += 1,
            Reply::NotFound => {}
            Reply::Unavailable => failed = Some(Reply::Unavailable),
            _ => failed = Some(Reply::Overflow),
        });
    }
    match failed {
        Some(reply) => write_unexpected(out, &reply),
        None => write_integer(out, count),
    }
}

fn counter(key: &[u8], delta: i64, exec: &mut dyn Execute, out: &mut Vec<u8>) {
    if refuse_key(out, key) {
        return;
    }
    let op = Op::Counter {
        key,
        change: CounterChange::Signed(delta),
    };
    exec.execute(&op, &mut |reply| match *reply {
        Reply::Signed(n) => write_integer(out, n),
        Reply::NotNumeric => write_error(out, NOT_INTEGER),
        Reply::Overflow => write_error(out, OVERFLOW),
        ref other => write_unexpected(out, other),
    });
}

fn expire(cmd: Command, req: &Request<'_>, exec: &mut dyn Execute, out: &mut Vec<u8>) {
    if req.len() > 3 {
        // Redis 7 knows NX/XX/GT/LT here; they need the current lifetime
        // read and changed at once, which no operation does.
        let start = out.len();
        out.extend_from_slice(b"-ERR Unsupported option ");
        out.extend_from_slice(cstr(req.arg(3)));
        for b in &mut out[start..] {
            if *b == b'\r' || *b == b'\n' {
                *b = b' ';
            }
        }
        out.extend_from_slice(b"\r\n");
        return;
    }
    let unit = match cmd {
        Command::Expire => Expiry::Seconds,
        Command::Pexpire => Expiry::Millis,
        _ => Expiry::UnixSeconds,
    };
    let ttl = match parse_i64(req.arg(2)) {
        None => return write_error(out, NOT_INTEGER),
        Some(n) => match unit.ttl(n) {
            Some(ttl) => ttl,
            None => return write_invalid_expire(out, cmd),
        },
    };
    touch(req.arg(1), ttl, exec, out);
}

fn touch(key: &[u8], ttl: Ttl, exec: &mut dyn Execute, out: &mut Vec<u8>) {
    if refuse_key(out, key) {
        return;
    }
    exec.execute(&Op::Touch { key, ttl }, &mut |reply| match reply {
        Reply::Touched => write_integer(out, 1),
        Reply::NotFound => write_integer(out, 0),
        other => write_unexpected(out, other),
    });
}

fn ttl(cmd: Command, key: &[u8], exec: &mut dyn Execute, out: &mut Vec<u8>) {
    if refuse_key(out, key) {
        return;
    }
    exec.execute(&Op::Ttl { key }, &mut |reply| match *reply {
        Reply::Remaining(ms) => {
            // Redis rounds TTL to the nearest second.
            let n = if cmd == Command::Ttl {
                ms.saturating_add(500) / 1000
            } else {
                ms
            };
            write_integer(out, i64::try_from(n).unwrap_or(i64::MAX));
        }
        Reply::NotFound => write_integer(out, -2),
        ref other => write_unexpected(out, other),
    });
}

/// `CONFIG GET parameter ...`: the two parameters `redis-benchmark` reads
/// before it starts (it warns "Could not fetch server CONFIG" otherwise),
/// with the values that are true here: nothing is saved to disk. Other
/// parameters are not listed, as Redis does for unknown ones; other
/// subcommands are refused (nothing here is configurable at run time).
fn config(req: &Request<'_>, out: &mut Vec<u8>) {
    if !req.arg(1).eq_ignore_ascii_case(b"GET") {
        out.extend_from_slice(b"-ERR unknown subcommand '");
        out.extend_from_slice(req.arg(1));
        out.extend_from_slice(b"'. Try CONFIG HELP.\r\n");
        return;
    }
    if req.len() < 3 {
        return write_arity(out, Command::Config);
    }
    const KNOWN: [(&[u8], &[u8]); 2] = [(b"save", b""), (b"appendonly", b"no")];
    let wanted: Vec<(&[u8], &[u8])> = KNOWN
        .into_iter()
        .filter(|(name, _)| (2..req.len()).any(|i| req.arg(i).eq_ignore_ascii_case(name)))
        .collect();
    write_array_header(out, wanted.len() * 2);
    for (name, value) in wanted {
        write_bulk(out, name);
        write_bulk(out, value);
    }
}
