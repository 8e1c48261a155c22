//! Watching distcache traffic: the core of `dc_snoop`.
//!
//! `dc_snoop` sits between two distcache peers (an application and
//! `dc_client`, or `dc_client` and `dc_server`), relays every byte both ways
//! unchanged, and prints what the bytes say. Transparency comes first: the
//! trace only ever reads copies of relayed bytes, a stream that does not
//! decode is still relayed exactly (it is reported once, with a hex dump of
//! its first bytes, and that connection is no longer decoded), and a slow
//! peer is met with back-pressure, never with dropped or reordered bytes.
//!
//! The layers, bottom up:
//!
//! * [`Tap`] — sans-IO: one direction of one connection, fed the relayed
//!   bytes in whatever pieces they came, yielding whole commands (a command
//!   fragmented over several frames is seen once, when whole).
//! * [`ConnectionTrace`] — sans-IO: both directions of one relayed pair;
//!   pairs each response with its request (for the session id and the round
//!   trip) and reports [`Event`]s to an [`Observer`].
//! * [`Printer`] — sans-IO: an observer that renders events as text lines
//!   ([`text`]), JSON lines ([`json`]), or periodic [`Summary`] counts.
//! * [`Relay`] — the mio loop over `nal` sockets that does the relaying and
//!   drives the traces.
//!
//! The sans-IO parts are handed the time ([`Timestamp`]); only the relay
//! reads a [`Clock`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod connection;
pub mod event;
pub mod json;
pub mod printer;
pub mod relay;
pub mod summary;
pub mod tap;
pub mod text;
pub mod time;

pub use connection::{ConnectionTrace, KEPT_ID_LEN, MAX_IN_FLIGHT};
pub use event::{
    Answered, CloseReason, Direction, DirectionTotals, Event, EventKind, IdPrefix, Observer,
    Outcome, Peer, RequestSeen, ResponseSeen, Totals, Undecodable,
};
pub use printer::{Format, Printer, PrinterConfig};
pub use relay::{Relay, RelayConfig, RelayError, Stopped, RELAY_BUFFER};
pub use summary::{Counts, Report, Scope, Summary};
pub use tap::{Tap, DUMP_LEN, TAP_BUFFER_MAX};
pub use text::SHORT_ID_LEN;
pub use time::{Clock, Timestamp};
