//! dc_client's Redis/Valkey backend: the pool's operations carried to one
//! Redis server, to the master Sentinel names, or to a Redis Cluster,
//! through the `redis` crate (its async client, its cluster and sentinel
//! support).
//!
//! ```text
//!   dc_client's mio loop                 backend thread (tokio, one thread)
//!   --------------------                 ---------------------------------
//!   submit(tag, op) ----- channel ---->  Plan::new(op) -> command -> Redis
//!                                        ... answer (or error, timeout)
//!   take_replies() <---- shared vec ---  reply + wake() (a mio Waker)
//! ```
//!
//! The event loop never waits on Redis: it hands operations over a channel
//! and is woken (the `wake` callback, a `mio::Waker` in dc_client) when
//! replies are ready. The thread answers every operation within the
//! timeout, with a failure when Redis is down, failing over or slow, so
//! the loop's clients are answered at once; it reconnects by itself (to
//! the new master after a Sentinel failover; the cluster client follows
//! slot moves and promotions).
//!
//! * [`target`] — the `-server redis://...` URLs.
//! * [`command`] — operations as Redis commands (sans-IO).
//! * [`worker`] — the thread.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod command;
pub mod target;
mod worker;

pub use command::{read_answer, AnswerError, Command, LinkSetup, Plan};
pub use target::{Node, Target, TargetError, Topology};
pub use worker::{BackendConfig, RedisBackend};
