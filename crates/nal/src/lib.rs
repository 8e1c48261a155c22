//! Non-blocking networking for the distcache tools, in the manner of the
//! original C library libnal.
//!
//! An [`Address`] is parsed from libnal syntax (`IP:host:port`, `IP:port`,
//! `UNIX:/path`) or the forms other daemons take (`host:port`, `:port`,
//! `[::1]:port`, `/path`); a [`Listener`] binds one and accepts [`Stream`]s, and
//! [`Stream::connect`] makes one. A [`Connection`] pairs a stream with capped
//! input and output [`Buffer`]s and drains readiness the way an edge-triggered
//! event loop needs, and a [`Selector`] waits for that readiness (it is
//! `mio::Poll`; the mio types a loop needs are re-exported here). Blocking
//! clients with timeouts use [`BlockingStream`]. An [`IdleList`] tells an
//! event loop which connection has been idle longest, and a
//! [`SpareDescriptor`] lets it accept (and close) when out of descriptors
//! instead of spinning. Failures to bind, connect or resolve are
//! [`NalError`]s that name the address, so a binary can print them as they
//! are.
//!
//! Unix only: Unix-domain sockets are half of what libnal offers.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod address;
mod blocking;
mod buffer;
mod connection;
mod error;
mod idle;
mod listener;
mod selector;
mod spare;
mod stream;
mod tls;

pub use address::{
    Address, AddressError, ADDRESS_FORMS, ADDRESS_HELP, MAX_ADDRESS_LEN, MAX_UNIX_PATH_LEN,
    MIN_ADDRESS_LEN,
};
pub use blocking::BlockingStream;
pub use buffer::{Buffer, BufferFull, MIN_READ, RELEASE_ABOVE};
pub use connection::{Connection, Fill};
pub use error::NalError;
pub use idle::{Candidate, IdleList, Rank};
pub use listener::{Listener, LISTEN_BACKLOG};
/// rustls, as used by [`Stream::into_tls_server`] and [`Stream::into_tls_client`].
pub use rustls;
pub use selector::Selector;
pub use spare::{is_out_of_descriptors, SpareDescriptor};
pub use stream::Stream;
pub use tls::TlsStream;

pub use mio::event::{Event, Source};
pub use mio::{Events, Interest, Registry, Token, Waker};
