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
use redis::{Cmd, Value};

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

/// One operation as a Redis command.
#[derive(Clone)]
pub struct Plan {
    cmd: Cmd,
    read: Read,
    max_ttl: Millis,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field(
                "cmd",
                &String::from_utf8_lossy(&self.cmd.get_packed_command()),
            )
            .field("read", &self.read)
            .finish()
    }
}

impl Plan {
    /// The command for `op`, with keys under `prefix` and lifetimes capped
    /// at `max_ttl` ms (which an entry with no lifetime gets).
    pub fn new(op: &Op<'_>, prefix: &[u8], max_ttl: Millis) -> Plan {
        // Redis takes no lifetime of 0.
        let max_ttl = max_ttl.max(1);
        let key = [prefix, op.key()].concat();
        let ttl = |ttl: Ttl| -> Expiry {
            match ttl {
                Ttl::Unlimited => Expiry::In(max_ttl),
                Ttl::After(ms) => Expiry::In(ms.clamp(1, max_ttl)),
                Ttl::AtUnix(secs) => Expiry::At(secs.saturating_mul(1000)),
                Ttl::Expired => Expiry::Gone,
            }
        };
        let (cmd, read) = match *op {
            Op::Get { .. } => (one("GET", &key), Read::Get),
            Op::Exists { .. } => (one("EXISTS", &key), Read::Exists),
            Op::Delete { .. } => (one("DEL", &key), Read::Delete),
            Op::Ttl { .. } => (one("PTTL", &key), Read::Ttl),
            Op::Store {
                mode,
                value,
                ttl: t,
                ..
            } => match (ttl(t), mode) {
                (Expiry::Gone, StoreMode::Add) => (one("EXISTS", &key), Read::AddExpired),
                (Expiry::Gone, StoreMode::Replace) => (one("DEL", &key), Read::ReplaceExpired),
                (Expiry::Gone, StoreMode::Set) => (one("DEL", &key), Read::SetExpired),
                (expiry, mode) => {
                    let mut cmd = redis::cmd("SET");
                    cmd.arg(&key).arg(value);
                    match expiry {
                        Expiry::In(ms) => cmd.arg("PX").arg(ms),
                        Expiry::At(ms) => cmd.arg("PXAT").arg(ms),
                        Expiry::Gone => &mut cmd,
                    };
                    match mode {
                        StoreMode::Add => {
                            cmd.arg("NX");
                        }
                        StoreMode::Replace => {
                            cmd.arg("XX");
                        }
                        StoreMode::Set => {}
                    }
                    (cmd, Read::Store)
                }
            },
            Op::Touch { ttl: t, .. } => match ttl(t) {
                Expiry::In(ms) => {
                    let mut cmd = redis::cmd("PEXPIRE");
                    cmd.arg(&key).arg(ms);
                    (cmd, Read::Touch)
                }
                Expiry::At(ms) => {
                    let mut cmd = redis::cmd("PEXPIREAT");
                    cmd.arg(&key).arg(ms);
                    (cmd, Read::Touch)
                }
                Expiry::Gone => (one("DEL", &key), Read::Touch),
            },
            Op::Counter { change, .. } => match change {
                CounterChange::Signed(delta) => {
                    let mut cmd = eval(INCRBY, &key);
                    cmd.arg(delta).arg(max_ttl);
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
                    let mut cmd = eval(UNSIGNED, &key);
                    cmd.arg(delta.to_string())
                        .arg(initial.to_string())
                        .arg(create)
                        .arg(ms)
                        .arg(if decrement { "1" } else { "0" });
                    (cmd, Read::Unsigned)
                }
            },
        };
        Plan { cmd, read, max_ttl }
    }

    /// The command to send.
    pub fn cmd(&self) -> &Cmd {
        &self.cmd
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

fn one(name: &str, key: &[u8]) -> Cmd {
    let mut cmd = redis::cmd(name);
    cmd.arg(key);
    cmd
}

/// `EVAL` of `script` on one key (not `EVALSHA`: any node of a cluster,
/// or a new master after a failover, runs it without a `SCRIPT LOAD`
/// first; the scripts are short).
fn eval(script: &str, key: &[u8]) -> Cmd {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(script).arg(1).arg(key);
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packed(plan: &Plan) -> String {
        String::from_utf8_lossy(&plan.cmd().get_packed_command()).into_owned()
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
        let plan = Plan::new(&add, b"dc:", 86_400_000);
        assert_eq!(
            packed(&plan),
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
        assert!(packed(&Plan::new(&forever, b"", 5000)).ends_with("$2\r\nPX\r\n$4\r\n5000\r\n"));
    }

    #[test]
    fn replies_map_to_the_operations_answers() {
        let get = Plan::new(&Op::Get { key: b"k" }, b"p", 1);
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
        let ttl = Plan::new(&Op::Ttl { key: b"k" }, b"p", 9);
        assert_eq!(ttl.reply(Ok(Value::Int(-2))).reply(), Reply::NotFound);
        assert_eq!(ttl.reply(Ok(Value::Int(-1))).reply(), Reply::Remaining(9));
        assert_eq!(
            ttl.reply(Ok(Value::Int(1500))).reply(),
            Reply::Remaining(1500)
        );
        let del = Plan::new(&Op::Delete { key: b"k" }, b"p", 1);
        assert_eq!(del.reply(Ok(Value::Int(1))).reply(), Reply::Deleted);
        assert_eq!(del.reply(Ok(Value::Int(0))).reply(), Reply::NotFound);
        let io = redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert_eq!(del.reply(Err(io)).reply(), Reply::Unavailable);
    }
}
