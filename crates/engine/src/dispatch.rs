//! The request dispatcher: one whole request and the current time in, the
//! response bytes out. Sans-IO, so every cache rule can be tested on a
//! virtual clock without a socket.

use std::sync::Arc;

use dc_protocol::{encode, Command, CommandHeader, Operation, Request, RequestError, Status};
use dc_store::{AddOutcome, Millis, SessionStore, ShardedStore, StoreStats};

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

/// Applies requests to a store (see [`StoreAccess`]) and encodes the
/// answers.
#[derive(Debug)]
pub struct Dispatcher<S> {
    store: S,
    stats: OpStats,
}

impl<S: StoreAccess> Dispatcher<S> {
    /// A dispatcher serving `store`.
    pub fn new(store: S) -> Dispatcher<S> {
        Dispatcher {
            store,
            stats: OpStats::default(),
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Counters of the requests handled so far.
    pub fn stats(&self) -> &OpStats {
        &self.stats
    }

    /// Drops expired sessions; the server calls this on its periodic tick so
    /// memory comes back even when no request touches the expired ids.
    pub fn expire(&mut self, now: Millis) -> usize {
        StoreAccess::expire(&mut self.store, now)
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
                respond(out, command, &[status.code()]);
                return Ok(());
            }
        };
        match request {
            Request::Add {
                timeout_ms,
                id,
                data,
            } => {
                let expires_at = now.saturating_add(Millis::from(timeout_ms));
                let added = self
                    .store
                    .with_store(id, |s| s.add(id, data, expires_at, now));
                let status = match added {
                    AddOutcome::Stored => Status::Ok,
                    AddOutcome::Duplicate => Status::AddMatchingSession,
                    // Unreachable with the store limits the server accepts
                    // (room for the largest session); the nearest code the
                    // original defines for "this data cannot be stored".
                    AddOutcome::TooLarge => Status::AddDataRange,
                };
                self.stats.count(Operation::Add, status);
                respond(out, command, &[status.code()]);
            }
            Request::Get { id } => {
                // Encoded under the shard's lock: the data is copied once,
                // straight into the answer.
                let status = self.store.with_store(id, |s| match s.get(id, now) {
                    Some(data) => {
                        respond(out, command, data);
                        Status::Ok
                    }
                    None => {
                        respond(out, command, &[Status::NotOk.code()]);
                        Status::NotOk
                    }
                });
                self.stats.count(Operation::Get, status);
            }
            Request::Remove { id } => {
                let status = found(self.store.with_store(id, |s| s.remove(id, now)));
                self.stats.count(Operation::Remove, status);
                respond(out, command, &[status.code()]);
            }
            Request::Have { id } => {
                let status = found(self.store.with_store(id, |s| s.have(id, now)));
                self.stats.count(Operation::Have, status);
                respond(out, command, &[status.code()]);
            }
        }
        Ok(())
    }
}

fn found(yes: bool) -> Status {
    if yes {
        Status::Ok
    } else {
        Status::NotOk
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
