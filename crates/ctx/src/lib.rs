//! Blocking client for a distcache session cache: the equivalent of the
//! original libdistcache `DC_CTX`, without its defects.
//!
//! A [`Client`] talks to a `dc_server` or a `dc_client` proxy at a libnal
//! [`Address`](nal::Address) and offers the four cache operations — `add`,
//! `get` (and the allocation-free `get_into`), `remove` and `has` — one
//! request and one answer per call. The bytes on the wire and the rules for
//! accepting an answer are exactly the original library's, so it
//! interoperates with every 1.x peer. What differs is what happens when
//! things go wrong: every wait is bounded by an io timeout, every answer is
//! consumed, a connection that can no longer be trusted is dropped and the
//! next call reconnects, bad arguments are errors instead of aborts, and
//! request uids wrap at 2³² like the wire field. [`Options`] mirrors the
//! original `DC_CTX_FLAG_*` flags ([`Options::from_flags`]).
//!
//! ```no_run
//! use dc_ctx::{Client, Options};
//!
//! let address = "IP:127.0.0.1:9001".parse()?;
//! let mut cache = Client::new(&address, Options::default())?;
//! cache.add(b"session-id", b"session data", 300_000)?;
//! assert_eq!(cache.get(b"session-id")?.as_deref(), Some(&b"session data"[..]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Writing to a connection the server has closed raises `SIGPIPE` on Unix;
//! Rust programs ignore it by default, other hosts must do the same (the
//! original tools did).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod answer;
mod client;
mod connection;
mod error;
mod options;

pub use client::{Client, MAX_LOOKUP_ID_LEN, MIN_ADD_TIMEOUT_MS};
pub use error::{AnswerProblem, ArgumentError, ClientError, Step, Unavailability};
pub use options::{
    Mode, Options, DEFAULT_IO_TIMEOUT, FLAG_LATE, FLAG_PERSISTENT, FLAG_PIDCHECK, FLAG_RETRY,
};
