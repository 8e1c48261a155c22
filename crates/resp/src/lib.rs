//! Sans-IO RESP2 codec: the Redis protocol as the TLS session caches
//! speak it (Apache `mod_socache_redis` through apr_redis, ProFTPD
//! `mod_tls_redis` and `mod_ban` through hiredis, Lua clients), in both
//! directions, and [`RespServer`], which maps Redis commands onto the
//! protocol-neutral [`dc_ops::Op`]s so that the one store serves Redis
//! clients as a drop-in for `redis-server`.
//!
//! ```text
//!  client                                         server
//!   *4\r\n$5\r\nSETEX\r\n$77\r\nmod_ssl-sess:<hex64>\r\n$3\r\n299\r\n$1234\r\n<DER>\r\n
//!   ───────────────────────────────────────────────────────────────────────────>
//!                                      RequestParser ─> Request (borrowed args)
//!                                      ─> Op::Store{Set, key, DER, After(299 s)}
//!                                      ─> Execute ─> Reply::Stored ─> "+OK\r\n"
//!   <───────────────────────────────────────────────────────────────────────────
//!   +OK\r\n      (apr compares the whole line with strcmp)
//! ```
//!
//! Modules: [`request`] parses requests (multibulk and inline), [`reply`]
//! composes and parses replies, [`command`] names the commands,
//! [`server`] serves them, [`client`] sends operations as commands,
//! [`info`] writes the `INFO` text.
//!
//! # Commands
//!
//! `PING [msg]`, `GET`, `SET k v [NX|XX] [EX s|PX ms|EXAT s|PXAT ms]`,
//! `SETEX k s v` (seconds up to 2^32-1 and beyond: apr sends `%u`, ProFTPD
//! absolute epochs), `DEL k...`, `EXISTS k...`, `INCR`, `DECR`, `INCRBY`,
//! `DECRBY`, `EXPIRE`, `PEXPIRE`, `EXPIREAT`, `PERSIST`, `TTL`, `PTTL`,
//! `INFO [section...]`, `AUTH [user] pass`, `SELECT 0`, `QUIT`,
//! `CONFIG GET`. Names in
//! any case. Every answer Redis also gives is byte-identical to
//! redis-server 7.0's (checked against it): `unknown command '…', with
//! args beginning with: …`, `wrong number of arguments for '…' command`,
//! `invalid expire time in '…' command`, `-NOAUTH`, `-WRONGPASS`, the
//! protocol errors, and the order in which Redis checks (unknown command,
//! arity, authentication, arguments).
//!
//! # Deliberate differences from Redis
//!
//! * Keys longer than [`dc_ops::MAX_KEY_LEN`] (250) are refused with
//!   `-ERR key is too long (N bytes, at most 250)` (the store's cap, the
//!   same as memcache's, so a key is the same key over either protocol).
//! * A value longer than [`dc_ops::MAX_VALUE_LEN`] (32 KiB; every consumer
//!   stores at most about 13.7 KB) is refused: an argument over
//!   [`request::MAX_ARG_LEN`] is discarded as it arrives, never buffered,
//!   and the command answered `-ERR argument is too large (N bytes, at most
//!   32768)`; a request over [`request::MAX_REQUEST_LEN`] (48 KiB) in all
//!   likewise gets `-ERR request is too large (at most 49152 bytes)`.
//!   The connection goes on with the next command. A store that refuses
//!   a value answers `-ERR value is too large`.
//! * At most [`request::MAX_ARGS`] (1024) arguments per command; more is
//!   `-ERR Protocol error: invalid multibulk length` and a close (Redis
//!   allows 1 Mi).
//! * Every entry has a lifetime: one stored without `EX` gets the server's
//!   max-ttl, so `TTL` answers that rather than -1, and `PERSIST` answers
//!   `:1` for any key that exists (it resets the lifetime to the max-ttl).
//! * Everything is a string: there is no `WRONGTYPE`, and no other types.
//! * `CONFIG GET` lists only `save` (empty) and `appendonly` (`no`), which
//!   `redis-benchmark` reads before it starts; `CONFIG SET` and the other
//!   subcommands are refused: nothing is configurable at run time.
//! * One database: `SELECT` of anything but 0 is `-ERR DB index is out of
//!   range` (Redis has 16).
//! * Before `AUTH` (when a password is set), `PING` and `INFO` are served
//!   as well as `AUTH` and `QUIT` (Redis answers them `-NOAUTH`): ProFTPD
//!   sends both before it authenticates and picks its AUTH form from the
//!   version. The only user is `default`.
//! * `SET`'s `GET` and `KEEPTTL` are a syntax error; `EXPIRE`'s
//!   `NX|XX|GT|LT` are `-ERR Unsupported option …` (each needs a read and
//!   a write of one entry at once, which no operation does). `PXAT` is kept
//!   to the second below.
//! * The codec reads no clock: a relative expiry Redis refuses because it
//!   overflows when added to the time now is refused when it would
//!   overflow added to 2^42 ms (the year 2109), a few hours' worth of
//!   values near `i64::MAX` ms apart from Redis.
//! * `INFO` reports `redis_version:7.0.0` and the fields the consumers
//!   read, from [`dc_ops::ServerInfo`]; fields it cannot know are 0.
//!
//! # Why the framing is hand-written
//!
//! A framing crate (`redis-protocol`) buffers a whole frame before
//! handing it over and allocates per argument. This parser must instead
//! discard an oversized bulk as it arrives (so a 100 MB `SET` never needs
//! a 100 MB buffer), must reproduce Redis's exact answers to malformed
//! input, and must not allocate on the `GET`/`SET`/`SETEX` path: its
//! arguments are borrowed slices of the input, located by a reused `Vec`
//! of ranges, and replies are composed straight into the output buffer.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
pub mod command;
pub mod error;
pub mod info;
pub mod reply;
pub mod request;
pub mod server;

pub use client::RespClient;
pub use command::Command;
pub use error::{ClientError, EncodeError, ReplyError, RequestError};
pub use reply::{parse_frame, Frame};
pub use request::{Parsed, Request, RequestParser, Skip, Skipped};
pub use server::{RespConfig, RespServer};
