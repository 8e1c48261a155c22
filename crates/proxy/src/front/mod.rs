//! dc_client's front doors: the protocols local clients speak to it, each
//! turned into protocol-neutral operations for the pool and back into
//! that protocol's answers.
//!
//! * [`door`] — one client's protocol, whichever door it came through
//!   ([`FrontKind`]): what the multiplexer reads from it and how it answers.
//! * [`distcache`] — the 1.x door: one request, one operation, answered
//!   under the client's own request id.
//! * [`deferred`] — the RESP and memcache doors: their server codecs (the
//!   ones dc_server serves with) run with their operations' replies
//!   arriving later, from the pool.

pub(crate) mod deferred;
pub(crate) mod distcache;
pub(crate) mod door;

pub(crate) use deferred::DeferredRequest;
pub use door::FrontKind;
pub(crate) use door::{Front, FrontStep};
