//! The request dispatcher: one whole request and the current time in, the
//! response bytes out. Sans-IO, so every cache rule can be tested on a
//! virtual clock without a socket.

use dc_protocol::{encode, Command, CommandHeader, Operation, Request, RequestError, Status};
use dc_store::{AddOutcome, Millis, SessionStore};

use crate::stats::OpStats;

/// Applies requests to a [`SessionStore`] and encodes the answers.
#[derive(Debug)]
pub struct Dispatcher<S> {
    store: S,
    stats: OpStats,
}

impl<S: SessionStore> Dispatcher<S> {
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
        self.store.expire(now)
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
                let status = match self.store.add(id, data, expires_at, now) {
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
            Request::Get { id } => match self.store.get(id, now) {
                Some(data) => {
                    self.stats.count(Operation::Get, Status::Ok);
                    respond(out, command, data);
                }
                None => {
                    self.stats.count(Operation::Get, Status::NotOk);
                    respond(out, command, &[Status::NotOk.code()]);
                }
            },
            Request::Remove { id } => {
                let status = found(self.store.remove(id, now));
                self.stats.count(Operation::Remove, status);
                respond(out, command, &[status.code()]);
            }
            Request::Have { id } => {
                let status = found(self.store.have(id, now));
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
