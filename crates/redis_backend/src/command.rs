//! Cache operations as Redis commands, and Redis replies as operation
//! replies. Sans-IO: [`Plan::new`] makes the command, [`Plan::reply`]
//! reads its answer.
//!
//! | operation | Redis |
//! |---|---|
//! | get | `GET` |
//! | exists | `EXISTS` |
//! | delete | `DEL` |
//! | store add / set / replace | `SET key value PX ms` with `NX` / nothing / `XX` (`PXAT` for an absolute time) |
//! | store of an already expired entry | `EXISTS` (add), `DEL` (set, replace) |
//! | touch | `PEXPIRE` / `PEXPIREAT` (`DEL` when already expired) |
//! | ttl | `PTTL` |
//! | Redis counter | `INCRBY`, in a script that gives a new key the longest lifetime |
//! | memcache counter | a script: unsigned, a decrement stops at 0, exact up to 2^53 |
//!
//! Every key gets the backend's prefix. Every entry gets a lifetime, at
//! most the longest (`max_ttl`): a session cache keeps nothing forever.
//! memcache flags are not stored (Redis has no place for them): a value
//! comes back with flags 0.

use dc_ops::{CounterChange, Millis, Op, Reply, ReplyBuf, StoreMode, Ttl};
use redis::{Cmd, ErrorKind, RedisError, Value};

/// `INCRBY`, and the longest lifetime for a key it creates (one we stored
/// has a lifetime already).
const INCRBY: &str = r"
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return v
";

/// memcache `incr`/`decr`: {1, value}, {0} (absent, not created), {2}
/// (not a number), {3} (beyond 2^53, where Lua's numbers stop being exact).
const UNSIGNED: &str = r"
local v = redis.call('GET', KEYS[1])
local delta = tonumber(ARGV[1])
if not v then
  if ARGV[3] == '1' then
    redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[4])
    return {1, ARGV[2]}
  end
  return {0}
end
if not string.match(v, '^%d+$') or #v > 15 then return {2} end
if delta >= 9007199254740992 then return {3} end
local n = tonumber(v)
if ARGV[5] == '1' then
  n = n - delta
  if n < 0 then n = 0 end
else
  n = n + delta
end
if n >= 9007199254740992 then return {3} end
local s = string.format('%d', n)
redis.call('SET', KEYS[1], s, 'KEEPTTL')
return {1, s}
";

/// How to read the answer of a planned command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    Get,
    /// `EXISTS`: 1 found, 0 not.
    Exists,
    /// `DEL`: 1 deleted, 0 not found.
    Delete,
    /// `SET`: OK stored, nil not stored.
    Store,
    /// `EXISTS` for an ADD of an expired entry: 1 not stored, 0 stored
    /// (and gone at once).
    AddExpired,
    /// `DEL` for a replace of an expired entry: 1 stored (and gone), 0 not
    /// stored.
    ReplaceExpired,
    /// `DEL` for a set of an expired entry: stored (and gone) either way.
    SetExpired,
    /// `PEXPIRE` / `PEXPIREAT`, or `DEL` for an expired one: 1 touched.
    Touch,
    /// `PTTL`.
    Ttl,
    /// The `INCRBY` script.
    Signed,
    /// The memcache counter script.
    Unsigned,
}

/// How the answer to one operation's command becomes its reply: kept
/// until the answer comes ([`Plan::reply`]). The command itself is a
/// [`Command`], written out at once.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    read: Read,
    max_ttl: Millis,
}

/// One operation's Redis command, borrowing the operation's key and value:
/// written as RESP straight into a connection's output
/// ([`Command::write_resp`]) on dc_client's loop, or made a `redis::Cmd`
/// ([`Command::to_cmd`]) for the crate's connections, from the one list of
/// arguments [`Plan::new`] chose.
#[derive(Debug, Clone, Copy)]
pub struct Command<'a> {
    /// Put before the key.
    prefix: &'a [u8],
    args: [Arg<'a>; MAX_ARGS],
    len: usize,
}

/// The most arguments a command has (the memcache counter script's
/// `EVAL script 1 key delta initial create ms decrement`).
const MAX_ARGS: usize = 9;

#[derive(Debug, Clone, Copy)]
enum Arg<'a> {
    Name(&'static str),
    /// The operation's key, after the prefix.
    Key(&'a [u8]),
    Bytes(&'a [u8]),
    Unsigned(u64),
    Signed(i64),
}

impl<'a> Command<'a> {
    fn new(prefix: &'a [u8], name: &'static str) -> Command<'a> {
        Command {
            prefix,
            args: [Arg::Name(name); MAX_ARGS],
            len: 1,
        }
    }

    fn arg(mut self, arg: Arg<'a>) -> Command<'a> {
        // MAX_ARGS is the longest command Plan::new makes.
        debug_assert!(self.len < MAX_ARGS);
        if let Some(slot) = self.args.get_mut(self.len) {
            *slot = arg;
            self.len += 1;
        }
        self
    }

    fn key(self, key: &'a [u8]) -> Command<'a> {
        self.arg(Arg::Key(key))
    }

    fn args(&self) -> &[Arg<'a>] {
        &self.args[..self.len]
    }

    /// At most how many bytes [`write_resp`](Self::write_resp) appends.
    pub fn max_resp_len(&self) -> usize {
        // `*` or `$`, up to 20 digits, CRLF; and a bulk string's CRLF.
        const FRAMING: usize = 1 + 20 + 2;
        let data: usize = self
            .args()
            .iter()
            .map(|arg| match *arg {
                Arg::Name(name) => name.len(),
                Arg::Key(key) => self.prefix.len() + key.len(),
                Arg::Bytes(bytes) => bytes.len(),
                Arg::Unsigned(_) | Arg::Signed(_) => 20,
            })
            .sum();
        FRAMING + self.len * (FRAMING + 2) + data
    }

    /// Appends the command to `out` as a RESP array of bulk strings, as
    /// `redis::Cmd` packs it.
    pub fn write_resp(&self, out: &mut Vec<u8>) {
        let mut digits = itoa::Buffer::new();
        let mut bulk = |out: &mut Vec<u8>, parts: &[&[u8]]| {
            let len: usize = parts.iter().map(|p| p.len()).sum();
            out.push(b'$');
            out.extend_from_slice(digits.format(len).as_bytes());
            out.extend_from_slice(b"\r\n");
            for part in parts {
                out.extend_from_slice(part);
            }
            out.extend_from_slice(b"\r\n");
        };
        out.push(b'*');
        out.extend_from_slice(itoa::Buffer::new().format(self.len).as_bytes());
        out.extend_from_slice(b"\r\n");
        let mut number = itoa::Buffer::new();
        for arg in self.args() {
            match *arg {
                Arg::Name(name) => bulk(out, &[name.as_bytes()]),
                Arg::Key(key) => bulk(out, &[self.prefix, key]),
                Arg::Bytes(bytes) => bulk(out, &[bytes]),
                Arg::Unsigned(n) => bulk(out, &[number.format(n).as_bytes()]),
                Arg::Signed(n) => bulk(out, &[number.format(n).as_bytes()]),
            }
        }
    }

    /// The command as the `redis` crate sends it.
    pub fn to_cmd(&self) -> Cmd {
        let mut args = self.args().iter();
        let mut cmd = match args.next() {
            Some(Arg::Name(name)) => redis::cmd(name),
            _ => Cmd::new(),
        };
        for arg in args {
            match *arg {
                Arg::Name(name) => cmd.arg(name),
                Arg::Key(key) => cmd.arg([self.prefix, key].concat()),
                Arg::Bytes(bytes) => cmd.arg(bytes),
                Arg::Unsigned(n) => cmd.arg(n),
                Arg::Signed(n) => cmd.arg(n),
            };
        }
        cmd
    }
}

impl Plan {
    /// The command for `op`, with keys under `prefix` and lifetimes capped
    /// at `max_ttl` ms (which an entry with no lifetime gets), and how its
    /// answer is read.
    pub fn new<'a>(op: &Op<'a>, prefix: &'a [u8], max_ttl: Millis) -> (Plan, Command<'a>) {
        // Redis takes no lifetime of 0.
        let max_ttl = max_ttl.max(1);
        let key = op.key();
        let one = |name| Command::new(prefix, name).key(key);
        let ttl = |ttl: Ttl| -> Expiry {
            match ttl {
                Ttl::Unlimited => Expiry::In(max_ttl),
                Ttl::After(ms) => Expiry::In(ms.clamp(1, max_ttl)),
                Ttl::AtUnix(secs) => Expiry::At(secs.saturating_mul(1000)),
                Ttl::Expired => Expiry::Gone,
            }
        };
        let (command, read) = match *op {
            Op::Get { .. } => (one("GET"), Read::Get),
            Op::Exists { .. } => (one("EXISTS"), Read::Exists),
            Op::Delete { .. } => (one("DEL"), Read::Delete),
            Op::Ttl { .. } => (one("PTTL"), Read::Ttl),
            Op::Store {
                mode,
                value,
                ttl: t,
                ..
            } => match (ttl(t), mode) {
                (Expiry::Gone, StoreMode::Add) => (one("EXISTS"), Read::AddExpired),
                (Expiry::Gone, StoreMode::Replace) => (one("DEL"), Read::ReplaceExpired),
                (Expiry::Gone, StoreMode::Set) => (one("DEL"), Read::SetExpired),
                (expiry, mode) => {
                    let cmd = one("SET").arg(Arg::Bytes(value));
                    let cmd = match expiry {
                        Expiry::In(ms) => cmd.arg(Arg::Name("PX")).arg(Arg::Unsigned(ms)),
                        Expiry::At(ms) => cmd.arg(Arg::Name("PXAT")).arg(Arg::Unsigned(ms)),
                        Expiry::Gone => cmd,
                    };
                    let cmd = match mode {
                        StoreMode::Add => cmd.arg(Arg::Name("NX")),
                        StoreMode::Replace => cmd.arg(Arg::Name("XX")),
                        StoreMode::Set => cmd,
                    };
                    (cmd, Read::Store)
                }
            },
            Op::Touch { ttl: t, .. } => match ttl(t) {
                Expiry::In(ms) => (one("PEXPIRE").arg(Arg::Unsigned(ms)), Read::Touch),
                Expiry::At(ms) => (one("PEXPIREAT").arg(Arg::Unsigned(ms)), Read::Touch),
                Expiry::Gone => (one("DEL"), Read::Touch),
            },
            Op::Counter { change, .. } => match change {
                CounterChange::Signed(delta) => {
                    let cmd = eval(prefix, INCRBY, key)
                        .arg(Arg::Signed(delta))
                        .arg(Arg::Unsigned(max_ttl));
                    (cmd, Read::Signed)
                }
                CounterChange::Unsigned {
                    decrement,
                    delta,
                    create,
                } => {
                    let (create, initial, ms) = match create {
                        Some((initial, t)) => {
                            let ms = match ttl(t) {
                                Expiry::In(ms) => ms,
                                // An absolute time or an expired one: the
                                // value is created for as short as Redis
                                // allows; it is not kept.
                                Expiry::At(_) | Expiry::Gone => 1,
                            };
                            ("1", initial, ms)
                        }
                        None => ("0", 0, max_ttl),
                    };
                    let cmd = eval(prefix, UNSIGNED, key)
                        .arg(Arg::Unsigned(delta))
                        .arg(Arg::Unsigned(initial))
                        .arg(Arg::Name(create))
                        .arg(Arg::Unsigned(ms))
                        .arg(Arg::Name(if decrement { "1" } else { "0" }));
                    (cmd, Read::Unsigned)
                }
            },
        };
        (Plan { read, max_ttl }, command)
    }

    /// The operation's reply, from the command's answer (`Err`: what Redis
    /// refused it with). A reply the operation cannot have is a failure.
    pub fn reply(&self, answer: Result<Value, redis::RedisError>) -> ReplyBuf {
        let value = match answer {
            Ok(value) => value,
            Err(e) => {
                let detail = e.detail().unwrap_or_default().to_owned();
                return match self.read {
                    Read::Signed if detail.contains("not an integer") => {
                        ReplyBuf::new(&Reply::NotNumeric)
                    }
                    Read::Signed if detail.contains("overflow") => ReplyBuf::new(&Reply::Overflow),
                    _ => ReplyBuf::unavailable(),
                };
            }
        };
        let reply = |r: Reply<'_>| ReplyBuf::new(&r);
        match (self.read, value) {
            (Read::Get, Value::BulkString(data)) => ReplyBuf::value(data, 0),
            (Read::Get, Value::Nil) => reply(Reply::NotFound),
            (Read::Exists, Value::Int(n)) => {
                reply(if n > 0 { Reply::Found } else { Reply::NotFound })
            }
            (Read::Delete, Value::Int(n)) => reply(if n > 0 {
                Reply::Deleted
            } else {
                Reply::NotFound
            }),
            (Read::Store, Value::Okay) => reply(Reply::Stored),
            (Read::Store, Value::SimpleString(s)) if s == "OK" => reply(Reply::Stored),
            (Read::Store, Value::Nil) => reply(Reply::NotStored),
            (Read::AddExpired, Value::Int(n)) => reply(if n > 0 {
                Reply::NotStored
            } else {
                Reply::Stored
            }),
            (Read::ReplaceExpired, Value::Int(n)) => reply(if n > 0 {
                Reply::Stored
            } else {
                Reply::NotStored
            }),
            (Read::SetExpired, Value::Int(_)) => reply(Reply::Stored),
            (Read::Touch, Value::Int(n)) => reply(if n > 0 {
                Reply::Touched
            } else {
                Reply::NotFound
            }),
            (Read::Ttl, Value::Int(-2)) => reply(Reply::NotFound),
            // No lifetime: not one we stored; it lives as long as the
            // longest for all a client can tell.
            (Read::Ttl, Value::Int(-1)) => reply(Reply::Remaining(self.max_ttl)),
            (Read::Ttl, Value::Int(ms)) if ms >= 0 => reply(Reply::Remaining(ms as Millis)),
            (Read::Signed, Value::Int(n)) => reply(Reply::Signed(n)),
            (Read::Unsigned, Value::Array(items)) => match items.as_slice() {
                [Value::Int(1), Value::BulkString(n)] => std::str::from_utf8(n)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                    .map_or_else(ReplyBuf::unavailable, |n| reply(Reply::Unsigned(n))),
                [Value::Int(0)] => reply(Reply::NotFound),
                [Value::Int(2)] => reply(Reply::NotNumeric),
                [Value::Int(3)] => reply(Reply::Overflow),
                _ => ReplyBuf::unavailable(),
            },
            _ => ReplyBuf::unavailable(),
        }
    }
}

enum Expiry {
    /// In this many ms.
    In(Millis),
    /// At this Unix time in ms.
    At(u64),
    /// Already.
    Gone,
}

/// `EVAL` of `script` on one key (not `EVALSHA`: any node of a cluster,
/// or a new master after a failover, runs it without a `SCRIPT LOAD`
/// first; the scripts are short).
fn eval<'a>(prefix: &'a [u8], script: &'static str, key: &'a [u8]) -> Command<'a> {
    Command::new(prefix, "EVAL")
        .arg(Arg::Name(script))
        .arg(Arg::Unsigned(1))
        .key(key)
}

/// What a connection to one Redis server carries the operations with, on
/// dc_client's own event loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSetup {
    /// The password (`AUTH`).
    pub password: Option<String>,
    /// The database (`SELECT`).
    pub db: i64,
    /// Put before every key.
    pub prefix: Vec<u8>,
    /// The longest lifetime of an entry, in ms.
    pub max_ttl: Millis,
}

impl LinkSetup {
    /// What a new connection sends first (`AUTH`, `SELECT`), and how many
    /// answers to it come back before those of the operations.
    pub fn hello(&self) -> (Vec<u8>, usize) {
        let mut out = Vec::new();
        let mut answers = 0;
        if let Some(password) = &self.password {
            let mut cmd = redis::cmd("AUTH");
            cmd.arg(password);
            out.extend(cmd.get_packed_command());
            answers += 1;
        }
        if self.db != 0 {
            let mut cmd = redis::cmd("SELECT");
            cmd.arg(self.db);
            out.extend(cmd.get_packed_command());
            answers += 1;
        }
        (out, answers)
    }
}

/// Why bytes from Redis cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    /// Not RESP.
    #[error(transparent)]
    Frame(#[from] dc_resp::ReplyError),
    /// Arrays inside arrays past any answer we ask for.
    #[error("an answer nested deeper than {0} arrays")]
    TooDeep(usize),
}

/// How deep the answers we read nest (a script's array of two).
const MAX_DEPTH: usize = 4;

/// Reads one whole answer from the front of `input`, as [`Plan::reply`]
/// takes it (an error answer as `Err`): `None` while it is incomplete.
#[allow(clippy::type_complexity)]
pub fn read_answer(
    input: &[u8],
) -> Result<Option<(Result<Value, RedisError>, usize)>, AnswerError> {
    match read_value(input, 0)? {
        None => Ok(None),
        Some((Err(message), used)) => {
            let e = RedisError::from((ErrorKind::ResponseError, "server error", message));
            Ok(Some((Err(e), used)))
        }
        Some((Ok(value), used)) => Ok(Some((Ok(value), used))),
    }
}

#[allow(clippy::type_complexity)]
fn read_value(
    input: &[u8],
    depth: usize,
) -> Result<Option<(Result<Value, String>, usize)>, AnswerError> {
    use dc_resp::Frame;
    let Some((frame, mut used)) = dc_resp::parse_frame(input)? else {
        return Ok(None);
    };
    let value = match frame {
        Frame::Simple(s) if s == b"OK" => Value::Okay,
        Frame::Simple(s) => Value::SimpleString(String::from_utf8_lossy(s).into_owned()),
        Frame::Error(e) => return Ok(Some((Err(String::from_utf8_lossy(e).into_owned()), used))),
        Frame::Integer(n) => Value::Int(n),
        Frame::Bulk(b) => Value::BulkString(b.to_vec()),
        Frame::Nil | Frame::NilArray => Value::Nil,
        Frame::Array(n) => {
            if depth >= MAX_DEPTH {
                return Err(AnswerError::TooDeep(MAX_DEPTH));
            }
            let mut items = Vec::with_capacity(n.min(16));
            for _ in 0..n {
                let Some((item, len)) = read_value(&input[used..], depth + 1)? else {
                    return Ok(None);
                };
                used += len;
                // An error inside an array is a value of it.
                items.push(item.unwrap_or(Value::Nil));
            }
            Value::Array(items)
        }
    };
    Ok(Some((Ok(value), used)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The command for `op` as written on dc_client's loop, checked to be
    /// what the `redis` crate packs for the same command.
    fn packed(op: &Op<'_>, prefix: &[u8], max_ttl: Millis) -> String {
        let (_, command) = Plan::new(op, prefix, max_ttl);
        let mut out = Vec::new();
        command.write_resp(&mut out);
        assert_eq!(out, command.to_cmd().get_packed_command(), "{op:?}");
        assert!(out.len() <= command.max_resp_len(), "{op:?}");
        String::from_utf8_lossy(&out).into_owned()
    }

    fn plan(op: &Op<'_>, prefix: &[u8], max_ttl: Millis) -> Plan {
        Plan::new(op, prefix, max_ttl).0
    }

    #[test]
    fn stores_become_set_with_a_lifetime() {
        let add = Op::Store {
            mode: StoreMode::Add,
            key: b"k",
            value: b"v",
            flags: 0,
            ttl: Ttl::After(300_000),
        };
        let plan = plan(&add, b"dc:", 86_400_000);
        assert_eq!(
            packed(&add, b"dc:", 86_400_000),
            "*6\r\n$3\r\nSET\r\n$4\r\ndc:k\r\n$1\r\nv\r\n$2\r\nPX\r\n$6\r\n300000\r\n$2\r\nNX\r\n"
        );
        assert_eq!(plan.reply(Ok(Value::Okay)).reply(), Reply::Stored);
        assert_eq!(plan.reply(Ok(Value::Nil)).reply(), Reply::NotStored);
        let forever = Op::Store {
            mode: StoreMode::Set,
            key: b"k",
            value: b"v",
            flags: 7,
            ttl: Ttl::Unlimited,
        };
        assert!(packed(&forever, b"", 5000).ends_with("$2\r\nPX\r\n$4\r\n5000\r\n"));
    }

    #[test]
    fn every_command_is_written_as_the_crate_packs_it() {
        let ttls = [
            Ttl::Unlimited,
            Ttl::After(1500),
            Ttl::After(0),
            Ttl::AtUnix(1_800_000_000),
            Ttl::Expired,
        ];
        let value = vec![0xffu8; 300];
        let mut ops = vec![
            Op::Get { key: b"k" },
            Op::Exists { key: b"" },
            Op::Delete { key: b"\r\n" },
            Op::Ttl { key: b"k" },
            Op::Counter {
                key: b"c",
                change: CounterChange::Signed(i64::MIN),
            },
        ];
        for ttl in ttls {
            for mode in [StoreMode::Add, StoreMode::Set, StoreMode::Replace] {
                ops.push(Op::Store {
                    mode,
                    key: b"session",
                    value: &value,
                    flags: 3,
                    ttl,
                });
            }
            ops.push(Op::Touch { key: b"t", ttl });
            for decrement in [false, true] {
                for create in [None, Some((u64::MAX, ttl))] {
                    ops.push(Op::Counter {
                        key: b"c",
                        change: CounterChange::Unsigned {
                            decrement,
                            delta: 12,
                            create,
                        },
                    });
                }
            }
        }
        for op in &ops {
            // packed() compares the two ways of writing it.
            assert!(packed(op, b"prefix:", 86_400_000).starts_with('*'));
        }
    }

    #[test]
    fn replies_map_to_the_operations_answers() {
        let get = plan(&Op::Get { key: b"k" }, b"p", 1);
        assert_eq!(
            get.reply(Ok(Value::BulkString(b"data".to_vec()))).reply(),
            Reply::Value {
                data: b"data",
                flags: 0
            }
        );
        assert_eq!(get.reply(Ok(Value::Nil)).reply(), Reply::NotFound);
        assert_eq!(
            get.reply(Ok(Value::Int(3))).reply(),
            Reply::Unavailable,
            "wrong type"
        );
        let ttl = plan(&Op::Ttl { key: b"k" }, b"p", 9);
        assert_eq!(ttl.reply(Ok(Value::Int(-2))).reply(), Reply::NotFound);
        assert_eq!(ttl.reply(Ok(Value::Int(-1))).reply(), Reply::Remaining(9));
        assert_eq!(
            ttl.reply(Ok(Value::Int(1500))).reply(),
            Reply::Remaining(1500)
        );
        let del = plan(&Op::Delete { key: b"k" }, b"p", 1);
        assert_eq!(del.reply(Ok(Value::Int(1))).reply(), Reply::Deleted);
        assert_eq!(del.reply(Ok(Value::Int(0))).reply(), Reply::NotFound);
        let io = redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert_eq!(del.reply(Err(io)).reply(), Reply::Unavailable);
    }

    #[test]
    fn answers_are_read_whole_or_not_at_all() {
        let whole = b"*2\r\n:1\r\n$1\r\n5\r\n+OK\r\n";
        for cut in 0..15 {
            assert!(read_answer(&whole[..cut]).unwrap().is_none(), "{cut}");
        }
        let (value, used) = read_answer(whole).unwrap().unwrap();
        assert_eq!(used, 15);
        assert_eq!(
            value.unwrap(),
            Value::Array(vec![Value::Int(1), Value::BulkString(b"5".to_vec())])
        );
        let (value, used) = read_answer(&whole[15..]).unwrap().unwrap();
        assert_eq!((value.unwrap(), used), (Value::Okay, 5));
        let (value, _) = read_answer(b"-ERR value is not an integer or out of range\r\n")
            .unwrap()
            .unwrap();
        let incr = plan(
            &Op::Counter {
                key: b"k",
                change: CounterChange::Signed(1),
            },
            b"",
            1000,
        );
        assert_eq!(incr.reply(value).reply(), Reply::NotNumeric);
        assert!(read_answer(b"?what\r\n").is_err());
        let setup = LinkSetup {
            password: Some("pw".into()),
            db: 3,
            prefix: Vec::new(),
            max_ttl: 1,
        };
        let (hello, answers) = setup.hello();
        assert_eq!(answers, 2);
        assert_eq!(
            hello,
            b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n"
        );
    }
}
