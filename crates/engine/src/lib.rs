//! The distcache server engine.
//!
//! * [`Dispatcher`] — sans-IO: a whole request and the current time in,
//!   the response bytes out, applied to a pluggable [`dc_store::SessionStore`].
//! * [`ClientSession`] — sans-IO: one connection's protocol state; serves
//!   every whole request buffered, in order, up to a high-water mark.
//! * [`Server`] — the mio event loop (through the `nal` crate) that drives
//!   sessions over real sockets, purges expired sessions, prints the
//!   activity line and stops cleanly on SIGINT/SIGTERM.
//!
//! Everything that decides what to answer lives in the sans-IO parts and is
//! tested on a virtual clock, including a replay of every request/response
//! pair captured from the original server.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod dispatch;
pub mod execute;
pub mod extension;
pub mod metrics;
pub mod server;
pub mod session;
pub mod stats;

pub use dispatch::{Dispatcher, SharedStore, StoreAccess};
pub use execute::{ExecStats, Executor, Outcome, DEFAULT_MAX_TTL_MS};
pub use metrics::ServerMetrics;
pub use server::{ConnectionLimits, Server, ServerConfig, ServerError, Shutdown, SnapshotConfig};
pub use session::{serve_codec, ClientSession, FrontDoor, Served, Session, SessionError};
pub use stats::{OpStats, ProgressLine};
