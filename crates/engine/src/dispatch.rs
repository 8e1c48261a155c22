//! The request dispatcher: one whole request and the current time in, the
//! response bytes out. Sans-IO, so every cache rule can be tested on a
//! virtual clock without a socket.

use std::sync::Arc;

use dc_ops::{Execute, Protocol};
use dc_protocol::{encode, Command, CommandHeader, Request, RequestError, Status};
use dc_store::{Millis, SessionStore, ShardedStore, StoreStats};

use crate::execute::{Executor, DEFAULT_MAX_TTL_MS};
use crate::stats::OpStats;

/// How a [`Dispatcher`] reaches the store that holds an id: any
/// [`SessionStore`] it owns directly (one thread), or a [`SharedStore`]
/// through the lock of the id's shard (several threads).
pub trait StoreAccess {
    /// The store an id lives in.
    type Store: SessionStore;

    /// Runs `f` on the store that holds `id`, for as long as `f` runs.
    fn with_store<R>(&mut self, id: &[u8], f: impl FnOnce(&mut Self::Store) -> R) -> R;

    /// Drops expired sessions everywhere; returns how many.
    fn expire(&mut self, now: Millis) -> usize;

    /// Sessions stored everywhere.
    fn len(&self) -> usize;

    /// Whether nothing is stored.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Size and counters, everywhere.
    fn stats(&self) -> StoreStats;
}

impl<S: SessionStore> StoreAccess for S {
    type Store = S;

    fn with_store<R>(&mut self, _id: &[u8], f: impl FnOnce(&mut S) -> R) -> R {
        f(self)
    }

    fn expire(&mut self, now: Millis) -> usize {
        SessionStore::expire(self, now)
    }

    fn len(&self) -> usize {
        SessionStore::len(self)
    }

    fn stats(&self) -> StoreStats {
        SessionStore::stats(self)
    }
}

/// One thread's handle on a [`ShardedStore`] that several threads serve.
#[derive(Debug)]
pub struct SharedStore<S>(pub Arc<ShardedStore<S>>);

impl<S> Clone for SharedStore<S> {
    fn clone(&self) -> Self {
        SharedStore(Arc::clone(&self.0))
    }
}

impl<S: SessionStore> StoreAccess for SharedStore<S> {
    type Store = S;

    fn with_store<R>(&mut self, id: &[u8], f: impl FnOnce(&mut S) -> R) -> R {
        f(&mut self.0.lock(id))
    }

    fn expire(&mut self, now: Millis) -> usize {
        self.0.expire(now)
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn stats(&self) -> StoreStats {
        self.0.stats()
    }
}

/// The distcache 1.x front door: turns each request into an [`Op`] for the
/// [`Executor`] and its outcome into the status byte or session data the
/// original answered, byte for byte. It owns the worker's executor, which
/// the other front doors share.
#[derive(Debug)]
pub struct Dispatcher<S> {
    exec: Executor<S>,
    stats: OpStats,
}

impl<S: StoreAccess> Dispatcher<S> {
    /// A dispatcher serving `store`, lifetimes capped at a day.
    pub fn new(store: S) -> Dispatcher<S> {
        Dispatcher::with_executor(Executor::new(store, DEFAULT_MAX_TTL_MS))
    }

    /// A dispatcher running its operations on `exec`.
    pub fn with_executor(exec: Executor<S>) -> Dispatcher<S> {
        Dispatcher {
            exec,
            stats: OpStats::default(),
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        self.exec.store()
    }

    /// The executor, which the other protocols' sessions use.
    pub fn executor(&mut self) -> &mut Executor<S> {
        &mut self.exec
    }

    /// The executor, to read.
    pub fn executor_ref(&self) -> &Executor<S> {
        &self.exec
    }

    /// Counters of the distcache requests handled so far.
    pub fn stats(&self) -> &OpStats {
        &self.stats
    }

    /// Drops expired sessions; the server calls this on its periodic tick so
    /// memory comes back even when no request touches the expired ids.
    pub fn expire(&mut self, now: Millis) -> usize {
        self.exec.set_now(now);
        self.exec.expire()
    }

    /// Handles one request received at `now`, appending its response frames
    /// to `out`.
    ///
    /// An error means the request cannot be answered and the connection
    /// must be closed, as the original server does (an ADD payload shorter
    /// than its 8-byte header).
    pub fn handle(
        &mut self,
        command: &Command<'_>,
        now: Millis,
        out: &mut Vec<u8>,
    ) -> Result<(), RequestError> {
        let request = match Request::parse(command.operation, command.payload) {
            Ok(request) => request,
            Err(err) => {
                let status = err.answer().ok_or(err)?;
                self.stats.count(command.operation, status);
                self.exec.set_protocol(Protocol::Distcache);
                self.exec.count_requests(1);
                respond(out, command, &[status.code()]);
                return Ok(());
            }
        };
        self.exec.set_now(now);
        self.exec.set_protocol(Protocol::Distcache);
        let op = dc_protocol::ops::request_op(&request);
        let mut status = Status::NotOk;
        self.exec.execute(&op, &mut |reply| {
            status = dc_protocol::ops::reply_status(reply);
            // Encoded under the shard's lock: the data of a hit is copied
            // once, straight into the answer.
            dc_protocol::ops::write_answer(reply, |payload| respond(out, command, payload));
        });
        self.stats.count(command.operation, status);
        self.exec.count_requests(1);
        Ok(())
    }
}
fn respond(out: &mut Vec<u8>, command: &Command<'_>, payload: &[u8]) {
    let header = CommandHeader::response(command.request_uid, command.operation);
    // Payloads here are a status byte or stored session data, which the
    // store only holds when it came in a request of at most 32768 bytes.
    if let Err(err) = encode(out, header, payload) {
        log::error!(
            "cannot encode the answer to request {}: {err}",
            command.request_uid
        );
    }
}

#[cfg(test)]
mod tests {
    use dc_protocol::{Kind, Operation};
    use dc_store::{Limits, MemoryStore};

    use super::*;

    fn command(operation: Operation, payload: &[u8]) -> Command<'_> {
        Command {
            kind: Kind::Request,
            request_uid: 7,
            operation,
            payload,
        }
    }

    #[test]
    fn every_answered_request_counts_as_an_operation_refused_or_not() {
        let mut d = Dispatcher::new(MemoryStore::new(Limits::new(64, 1 << 20).unwrap()));
        let mut out = Vec::new();
        // A GET of an id longer than 64 bytes is answered "not ok" by the
        // protocol layer, before any store operation.
        d.handle(&command(Operation::Get, &[b'x'; 65]), 0, &mut out)
            .unwrap();
        d.handle(&command(Operation::Have, b"id"), 0, &mut out)
            .unwrap();
        assert_eq!(d.stats().operations, 2);
        assert_eq!(d.executor_ref().stats().requests_total(), 2);
        assert_eq!(
            d.executor_ref().stats().count(
                Protocol::Distcache,
                dc_ops::OpKind::Exists,
                crate::Outcome::Miss
            ),
            1
        );
    }
}
