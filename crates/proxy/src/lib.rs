//! The `dc_client` proxy: every TLS server process on a node talks to its
//! local `dc_client`, usually over a unix socket and often with one short
//! connection per cache operation, and `dc_client` carries all of them over
//! one persistent connection to `dc_server`.
//!
//! * [`mux`] — the multiplexer, sans-IO: client bytes, server bytes and the
//!   time go in; bytes for each side and [`Event`]s (connect, disconnect,
//!   close a client) come out. Request ids are rewritten, answers go back to
//!   the right client in its own order, and while the server is away every
//!   request is answered at once with DISCONNECTED (`0x02`). Tested without
//!   sockets, including a property test against a model.
//! * [`driver`] — the thin mio event loop (through `nal`) that moves those
//!   bytes between real sockets, accepts local clients up to a limit,
//!   reconnects (over TLS if configured: [`tls`]), publishes the metrics,
//!   and stops cleanly on a signal.
//! * [`backoff`] — when to dial a server again: at once after a loss, then
//!   pauses doubling from 1 ms (sans-IO, one per server link).
//! * [`ring`] — where a key lives in a pool of servers: a ketama ring,
//!   placed as libmemcached places keys, whose owners of a key are the
//!   distinct live servers that follow it, in order (sans-IO, for the
//!   server pool).
//! * [`resolver`] — the server's host name, looked up on a thread of its
//!   own so that a slow or dead DNS never stalls the loop.
//! * [`error`] — why a connection was given up, by the side at fault.
//! * [`stats`] and [`metrics`] — what the multiplexer counts, and the
//!   Prometheus metrics the driver publishes them to on its tick.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod backoff;
pub mod driver;
pub mod error;
pub mod front;
pub mod link;
pub mod metrics;
pub mod mux;
pub mod resolver;
pub mod ring;
pub mod stats;
pub mod tls;

pub use driver::{Proxy, ProxyConfig, ProxyError, Shutdown, DEFAULT_SPIN};
pub use error::{AtCapacity, ClientClose, LossReason, UpstreamLoss};
pub use front::FrontKind;
pub use link::{Dialect, LinkId, LinkKind, LinkState, LinkStats};
pub use mux::{ClientId, ClientInput, Event, Mux, MuxConfig, PoolError, ServerSpec, UpstreamState};
pub use stats::{Outcome, Stats};
pub use tls::{UpstreamTls, UpstreamTlsError};
