//! The wire protocols the load mode speaks (`--proto`): how a request the
//! [`Workload`](super::workload::Workload) picked goes out, and how an
//! answer comes back as something the [model](super::model) can judge.
//!
//! * [`Distcache`] is the reference path, unchanged: distcache 1.x frames,
//!   answers matched by their uid and operation, payloads judged as
//!   distcache status bytes or session data.
//! * [`Codec`] drives any [`ClientCodec`] — RESP2 (`redis`), memcache text
//!   (`memcache`) and binary (`memcache-binary`). The workload's operations
//!   become [`Op`]s (ADD → `Store` in `Add` mode with the run's lifetime and
//!   flags 0, GET → `Get`, REMOVE → `Delete`, HAVE → `Exists`) and the
//!   [`Reply`]s come back to the model, which maps them onto the same rules
//!   (see [`Outcome`]). Keys are the hex of the session id (64 characters
//!   for a 32-byte id, as Apache's mod_socache_memcache and
//!   mod_socache_redis make them): memcache text keys may hold neither
//!   spaces nor control bytes. Values are the session data as they are:
//!   every one of these protocols states lengths, so binary data is fine.
//!
//! The drivers are generic over [`Wire`], so each protocol gets its own
//! compiled copy of the event loop and distcache's costs nothing more than
//! before.

use dc_ops::{ClientCodec, Correlation, Op, OpKind, Protocol, StoreMode, Ttl};
use dc_protocol::{encoded_len, Decoder, Kind, Operation, Request, MAX_ID_LEN};

use super::mix::Mix;
use super::model::Outcome;
use super::tally::ConnectionFailure;

/// One request, as the workload picked it.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    /// The operation.
    pub operation: Operation,
    /// The session id (raw bytes).
    pub id: &'a [u8],
    /// For an ADD, the session data (empty otherwise).
    pub data: &'a [u8],
    /// For an ADD, its lifetime.
    pub ttl_ms: u32,
}

/// What reading the front of a connection's input gave.
#[derive(Debug)]
pub enum Read<'a> {
    /// No whole answer yet. `consumed` bytes may be dropped from the input
    /// (distcache's decoder absorbs the frames of an answer of several).
    Partial {
        /// Bytes to drop.
        consumed: usize,
    },
    /// A whole answer.
    Answer {
        /// Bytes it took.
        consumed: usize,
        /// The tag it carries (distcache's uid, memcache binary's opaque) or,
        /// for protocols without tags, the one given to the oldest request.
        tag: u32,
        /// The operation it says it answers, where the protocol says.
        operation: Option<Operation>,
        /// What it says.
        outcome: Outcome<'a>,
    },
}

/// A wire protocol, as one connection speaks it: a value per connection
/// (a codec may keep state, such as the tags of the requests in flight).
pub trait Wire: Send + Sized + 'static {
    /// The protocol.
    const PROTOCOL: Protocol;
    /// Whether answers come back in request order (distcache, RESP,
    /// memcache text). Otherwise (memcache binary) they are matched to
    /// their requests by tag.
    const IN_ORDER: bool;

    /// The state of a fresh connection.
    fn fresh() -> Self;

    /// Largest request, in bytes on the wire, for ids of `id_len` bytes and
    /// data up to `data_max`.
    fn max_request_len(id_len: usize, data_max: usize) -> usize;

    /// Largest answer a right server sends.
    fn max_answer_len(id_len: usize, data_max: usize) -> usize;

    /// Appends the request for `ask`, tagged `uid`, to `out`.
    fn encode(&mut self, uid: u32, ask: &Ask<'_>, out: &mut Vec<u8>) -> Result<(), String>;

    /// Reads the answer at the front of `input`; `oldest` is the operation
    /// of the oldest request in flight (`None`: nothing is).
    fn read<'a>(
        &'a mut self,
        input: &'a [u8],
        oldest: Option<Operation>,
    ) -> Result<Read<'a>, ConnectionFailure>;
}

/// distcache 1.x: the reference path.
pub struct Distcache(Decoder);

impl Wire for Distcache {
    const PROTOCOL: Protocol = Protocol::Distcache;
    const IN_ORDER: bool = true;

    #[inline]
    fn fresh() -> Self {
        Distcache(Decoder::new(Kind::Response))
    }

    fn max_request_len(id_len: usize, data_max: usize) -> usize {
        encoded_len(8 + id_len + data_max)
    }

    fn max_answer_len(_id_len: usize, data_max: usize) -> usize {
        encoded_len(data_max)
    }

    #[inline]
    fn encode(&mut self, uid: u32, ask: &Ask<'_>, out: &mut Vec<u8>) -> Result<(), String> {
        let request = match ask.operation {
            Operation::Add => Request::Add {
                timeout_ms: ask.ttl_ms,
                id: ask.id,
                data: ask.data,
            },
            Operation::Get => Request::Get { id: ask.id },
            Operation::Remove => Request::Remove { id: ask.id },
            Operation::Have => Request::Have { id: ask.id },
        };
        // Cannot fail: the command line keeps every payload within
        // MAX_PAYLOAD. Were it to, the server would see no request and the
        // missing answer would be reported as a stall.
        let _ = request.encode(out, uid);
        Ok(())
    }

    #[inline]
    fn read<'a>(
        &'a mut self,
        input: &'a [u8],
        _oldest: Option<Operation>,
    ) -> Result<Read<'a>, ConnectionFailure> {
        let decoded = self.0.decode(input)?;
        Ok(match decoded.command {
            None => Read::Partial {
                consumed: decoded.consumed,
            },
            Some(command) => Read::Answer {
                consumed: decoded.consumed,
                tag: command.request_uid,
                operation: Some(command.operation),
                outcome: Outcome::Payload(command.payload),
            },
        })
    }
}

/// A client codec the load mode can make one of per connection. The
/// constructors of the three codec crates, in one place.
pub trait NewCodec: ClientCodec + Send + 'static {
    /// The protocol it speaks.
    const PROTOCOL: Protocol;
    /// A codec for a fresh connection.
    fn fresh() -> Self;
}

impl NewCodec for dc_resp::RespClient {
    const PROTOCOL: Protocol = Protocol::Redis;
    fn fresh() -> Self {
        dc_resp::RespClient::new()
    }
}

impl NewCodec for dc_memcache::TextClient {
    const PROTOCOL: Protocol = Protocol::MemcacheText;
    fn fresh() -> Self {
        dc_memcache::TextClient::new()
    }
}

impl NewCodec for dc_memcache::BinaryClient {
    const PROTOCOL: Protocol = Protocol::MemcacheBinary;
    fn fresh() -> Self {
        dc_memcache::BinaryClient::new()
    }
}

/// RESP2.
pub type Redis = Codec<dc_resp::RespClient>;
/// memcache text.
pub type MemcacheText = Codec<dc_memcache::TextClient>;
/// memcache binary.
pub type MemcacheBinary = Codec<dc_memcache::BinaryClient>;

/// Any [`ClientCodec`], keys in hex.
pub struct Codec<C>(C);

/// Room for the framing around a key and a value in any of the codecs'
/// requests and answers (RESP's `*5\r\n$3\r\nSET\r\n...NX\r\n$2\r\nPX...`,
/// memcache's `add <key> 0 <exptime> <len> noreply\r\n`, `VALUE <key> <flags>
/// <len> <cas>\r\n...END\r\n`, the binary protocol's 24-byte header and
/// extras), with room to spare.
const FRAMING: usize = 160;

/// The key for `id`: its hex, lower case.
#[inline]
pub fn hex_key<'b>(id: &[u8], buf: &'b mut [u8; 2 * MAX_ID_LEN]) -> &'b [u8] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (pair, byte) in buf.chunks_exact_mut(2).zip(id) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
    &buf[..2 * id.len().min(MAX_ID_LEN)]
}

/// The operation the codecs are asked for.
fn op_kind(operation: Operation) -> OpKind {
    match operation {
        Operation::Add => OpKind::Store,
        Operation::Get => OpKind::Get,
        Operation::Remove => OpKind::Delete,
        Operation::Have => OpKind::Exists,
    }
}

impl<C: NewCodec> Wire for Codec<C> {
    const PROTOCOL: Protocol = C::PROTOCOL;
    const IN_ORDER: bool = matches!(C::CORRELATION, Correlation::Fifo);

    fn fresh() -> Self {
        Codec(C::fresh())
    }

    fn max_request_len(id_len: usize, data_max: usize) -> usize {
        2 * id_len + data_max + FRAMING
    }

    fn max_answer_len(id_len: usize, data_max: usize) -> usize {
        2 * id_len + data_max + FRAMING
    }

    #[inline]
    fn encode(&mut self, uid: u32, ask: &Ask<'_>, out: &mut Vec<u8>) -> Result<(), String> {
        let mut buf = [0u8; 2 * MAX_ID_LEN];
        let key = hex_key(ask.id, &mut buf);
        let op = match ask.operation {
            Operation::Add => Op::Store {
                mode: StoreMode::Add,
                key,
                value: ask.data,
                flags: 0,
                ttl: Ttl::After(u64::from(ask.ttl_ms)),
            },
            Operation::Get => Op::Get { key },
            Operation::Remove => Op::Delete { key },
            Operation::Have => Op::Exists { key },
        };
        self.0.encode(uid, &op, out).map_err(|e| e.to_string())
    }

    #[inline]
    fn read<'a>(
        &'a mut self,
        input: &'a [u8],
        oldest: Option<Operation>,
    ) -> Result<Read<'a>, ConnectionFailure> {
        let Some(oldest) = oldest else {
            return if input.is_empty() {
                Ok(Read::Partial { consumed: 0 })
            } else {
                Err(ConnectionFailure::Stray { len: input.len() })
            };
        };
        match self.0.decode_reply(input, op_kind(oldest)) {
            Ok(None) => Ok(Read::Partial { consumed: 0 }),
            Ok(Some((consumed, tag, reply))) => Ok(Read::Answer {
                consumed,
                tag,
                operation: None,
                outcome: Outcome::Reply(reply),
            }),
            Err(e) => Err(ConnectionFailure::Codec(e.to_string())),
        }
    }
}

/// Checks that `W` can send every operation `mix` asks for (memcache has
/// no HAVE, say), by encoding one of each.
pub fn check_mix<W: Wire>(mix: &Mix) -> Result<(), String> {
    let mut out = Vec::new();
    let id = [0x5a; 32];
    let data = [0xa5; 32];
    for operation in Operation::ALL {
        if mix.weight(operation) == 0 {
            continue;
        }
        let ask = Ask {
            operation,
            id: &id,
            data: &data,
            ttl_ms: 1000,
        };
        out.clear();
        W::fresh().encode(1, &ask, &mut out).map_err(|e| {
            format!(
                "-proto {} cannot send {operation} ({e}): give it no weight in -mix",
                W::PROTOCOL
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_hex_of_the_id() {
        let mut buf = [0u8; 2 * MAX_ID_LEN];
        assert_eq!(hex_key(&[0x00, 0x1f, 0xa0, 0xff], &mut buf), b"001fa0ff");
        let id = [0xab; MAX_ID_LEN];
        assert_eq!(hex_key(&id, &mut buf).len(), 2 * MAX_ID_LEN);
    }

    #[test]
    fn distcache_requests_are_todays_bytes() {
        let id = [7u8; 32];
        let data = [9u8; 100];
        for operation in Operation::ALL {
            let ask = Ask {
                operation,
                id: &id,
                data: &data,
                ttl_ms: 5000,
            };
            let mut ours = Vec::new();
            Distcache::fresh().encode(42, &ask, &mut ours).unwrap();
            let request = match operation {
                Operation::Add => Request::Add {
                    timeout_ms: 5000,
                    id: &id,
                    data: &data,
                },
                Operation::Get => Request::Get { id: &id },
                Operation::Remove => Request::Remove { id: &id },
                Operation::Have => Request::Have { id: &id },
            };
            let mut reference = Vec::new();
            request.encode(&mut reference, 42).unwrap();
            assert_eq!(ours, reference, "{operation}");
            assert!(ours.len() <= Distcache::max_request_len(32, 100));
        }
    }
}
