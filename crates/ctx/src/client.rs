//! The blocking client: argument checks, connection policy, request uids.

use std::fmt;

use dc_protocol::{Operation, Request, MAX_ID_LEN, MAX_PAYLOAD};
use nal::Address;

use crate::answer::{self, AnswerError};
use crate::connection::Connection;
use crate::error::{ArgumentError, ClientError};
use crate::options::{Mode, Options};

/// ADD timeouts must be greater than this many milliseconds.
///
/// The original library asserts `timeout_ms > 500` and applications built
/// against it never pass less, so the floor costs nothing; it is kept
/// because it catches the classic mistake of passing seconds (the
/// original's own header calls the unit seconds), which would otherwise
/// store sessions that expire almost at once. Exactly 500 is refused, as
/// in the original.
pub const MIN_ADD_TIMEOUT_MS: u32 = 500;

/// Longest session id GET, REMOVE and HAVE send. Ids over
/// [`MAX_ID_LEN`] never match (ADD refuses them) but are well-formed; this
/// only keeps the request within one command.
pub const MAX_LOOKUP_ID_LEN: usize = MAX_PAYLOAD;

/// A blocking connection to a distcache server or `dc_client` proxy, the
/// equivalent of the original `DC_CTX`.
///
/// Calls are one request and one answer each, never pipelined. Every call
/// either gets its own answer or fails within the
/// [io timeout](Options::io_timeout); after a failure that leaves the byte
/// stream in doubt the connection is dropped, and a persistent client opens
/// a new one at its next call. A client is `Send` but not shared: use one
/// per thread.
///
/// Request uids count up from 1 per client, modulo 2³².
pub struct Client {
    address: Address,
    /// `address` in canonical form, for error messages.
    address_text: String,
    options: Options,
    connection: Option<Connection>,
    next_uid: u32,
    /// The encoded request, kept so a retry resends the same bytes.
    request: Vec<u8>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("address", &self.address_text)
            .field("options", &self.options)
            .field("connected", &self.connection.is_some())
            .field("next_uid", &self.next_uid)
            .finish()
    }
}

impl Client {
    /// A client for the server at `address`, which must be connectable
    /// (`host:port`, `IP:host:port`, a path or `UNIX:/path`; not `:port` or
    /// `IP:port`).
    ///
    /// In [`Mode::Persistent`] without [`late_connect`](Options::late_connect)
    /// this connects now and fails if it cannot; otherwise no connection is
    /// made until the first call.
    pub fn new(address: &Address, options: Options) -> Result<Client, ClientError> {
        options.validate()?;
        let address_text = address.to_string();
        if !address.can_connect() {
            return Err(ClientError::NotConnectable {
                address: address_text,
            });
        }
        let mut client = Client {
            address: address.clone(),
            address_text,
            options,
            connection: None,
            next_uid: 1,
            request: Vec::new(),
        };
        if options.mode == Mode::Persistent && !options.late_connect {
            client.connection = Some(client.open()?);
        }
        Ok(client)
    }

    /// The server's address.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The options the client was made with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Whether a persistent connection is currently open.
    pub fn is_connected(&self) -> bool {
        self.connection.is_some()
    }

    /// Stores `data` under `id` for `timeout_ms` milliseconds.
    ///
    /// `id` is 1 to 64 bytes, `data` at least 1 byte, `8 + id + data` at
    /// most 32768 bytes, and `timeout_ms` over [`MIN_ADD_TIMEOUT_MS`]. A
    /// server refusal (such as [`Status::AddMatchingSession`] when the id
    /// is already stored) is [`ClientError::Refused`].
    ///
    /// [`Status::AddMatchingSession`]: dc_protocol::Status::AddMatchingSession
    pub fn add(&mut self, id: &[u8], data: &[u8], timeout_ms: u32) -> Result<(), ClientError> {
        check_id(Operation::Add, id, MAX_ID_LEN)?;
        if data.is_empty() {
            return Err(ArgumentError::EmptyData.into());
        }
        if 8 + id.len() + data.len() > MAX_PAYLOAD {
            return Err(ArgumentError::TooLarge {
                id_len: id.len(),
                data_len: data.len(),
            }
            .into());
        }
        if timeout_ms <= MIN_ADD_TIMEOUT_MS {
            return Err(ArgumentError::TimeoutTooShort { timeout_ms }.into());
        }
        self.transact(
            Request::Add {
                timeout_ms,
                id,
                data,
            },
            answer::add,
        )
    }

    /// Fetches the session `id`: `Ok(None)` on a miss.
    ///
    /// Allocates the result; see [`get_into`](Client::get_into) to reuse a
    /// buffer.
    pub fn get(&mut self, id: &[u8]) -> Result<Option<Vec<u8>>, ClientError> {
        let mut data = Vec::new();
        Ok(self.get_into(id, &mut data)?.then_some(data))
    }

    /// Fetches the session `id` into `buf`, reusing its allocation: `true`
    /// on a hit, with `buf` holding exactly the session; `false` on a miss.
    /// `buf` is left empty on a miss and on any error, so stale data can
    /// never pass for an answer.
    ///
    /// Only answers of at least
    /// [`MIN_GET_HIT_LEN`](dc_protocol::response::MIN_GET_HIT_LEN) bytes
    /// count as hits, as in the original library; a shorter one is
    /// [`AnswerProblem::ShortSession`](crate::AnswerProblem::ShortSession).
    pub fn get_into(&mut self, id: &[u8], buf: &mut Vec<u8>) -> Result<bool, ClientError> {
        buf.clear();
        check_id(Operation::Get, id, MAX_LOOKUP_ID_LEN)?;
        self.transact(Request::Get { id }, |payload| {
            Ok(match answer::get(payload)? {
                Some(data) => {
                    buf.extend_from_slice(data);
                    true
                }
                None => false,
            })
        })
    }

    /// Deletes the session `id`: `true` if it was stored, `false` if not.
    pub fn remove(&mut self, id: &[u8]) -> Result<bool, ClientError> {
        check_id(Operation::Remove, id, MAX_LOOKUP_ID_LEN)?;
        self.transact(Request::Remove { id }, |payload| {
            answer::flag(Operation::Remove, payload)
        })
    }

    /// Whether the session `id` is stored.
    pub fn has(&mut self, id: &[u8]) -> Result<bool, ClientError> {
        check_id(Operation::Have, id, MAX_LOOKUP_ID_LEN)?;
        self.transact(Request::Have { id }, |payload| {
            answer::flag(Operation::Have, payload)
        })
    }

    fn open(&self) -> Result<Connection, ClientError> {
        Connection::open(&self.address, &self.address_text, self.options.io_timeout)
    }

    fn take_uid(&mut self) -> u32 {
        let uid = self.next_uid;
        // The wire field is 32 bits; the original kept a wider counter and
        // mismatched every answer after 2^32 requests.
        self.next_uid = uid.wrapping_add(1);
        uid
    }

    /// The persistent connection if there is a usable one, else a new one.
    fn connection(&mut self) -> Result<Connection, ClientError> {
        if let Some(connection) = self.connection.take() {
            if !(self.options.pid_check && connection.pid != std::process::id()) {
                return Ok(connection);
            }
            // Inherited across fork: the parent still uses this socket.
            // Dropping our descriptor leaves the parent's connection alone.
            log::debug!(
                "{}: process id changed since the connection was made; reconnecting",
                self.address_text
            );
        }
        self.open()
    }

    /// Sends one request and interprets its answer, applying the
    /// connection policy.
    fn transact<R>(
        &mut self,
        request: Request<'_>,
        mut interpret: impl FnMut(&[u8]) -> Result<R, AnswerError>,
    ) -> Result<R, ClientError> {
        let operation = request.operation();
        let uid = self.take_uid();
        self.request.clear();
        if let Err(e) = request.encode(&mut self.request, uid) {
            // Unreachable after the argument checks; refused all the same.
            log::debug!("{}: {operation} not sent: {e}", self.address_text);
            return Err(ArgumentError::TooLarge {
                id_len: request.id().len(),
                data_len: request.payload_len().saturating_sub(request.id().len()),
            }
            .into());
        }
        let persistent = self.options.mode == Mode::Persistent;
        let mut connection = if persistent {
            self.connection()?
        } else {
            self.open()?
        };
        let mut retried = false;
        loop {
            let outcome = connection.exchange(
                &self.request,
                uid,
                operation,
                self.options.io_timeout,
                &self.address_text,
                &mut interpret,
            );
            match outcome {
                Ok(answered) => {
                    // The answer was consumed whatever it said, so the
                    // connection stays usable for the next call.
                    if persistent && connection.is_reusable() {
                        self.connection = Some(connection);
                    }
                    return answered.map_err(|e| self.answer_error(operation, e));
                }
                Err(e)
                    if persistent && self.options.retry && !retried && e.is_connection_lost() =>
                {
                    // Typically the server restarted since the connection
                    // was made. Same bytes, same uid, as the original.
                    log::debug!("{e}; reconnecting and resending once");
                    retried = true;
                    drop(connection);
                    connection = self.open()?;
                }
                Err(e) => {
                    log::debug!("{e}; dropping the connection");
                    return Err(e);
                }
            }
        }
    }

    fn answer_error(&self, operation: Operation, e: AnswerError) -> ClientError {
        let address = self.address_text.clone();
        match e {
            AnswerError::Refused(status) => ClientError::Refused { address, status },
            AnswerError::Unavailable(reason) => ClientError::Unavailable {
                address,
                operation,
                reason,
            },
            AnswerError::Unexpected(problem) => ClientError::UnexpectedAnswer {
                address,
                operation,
                problem,
            },
        }
    }

    /// Makes the next request use `uid`, to test the wrap-around.
    #[cfg(test)]
    fn set_next_uid(&mut self, uid: u32) {
        self.next_uid = uid;
    }

    /// Makes the open connection look inherited from another process.
    #[cfg(test)]
    fn pretend_forked(&mut self) {
        if let Some(c) = self.connection.as_mut() {
            c.pid = c.pid.wrapping_add(1);
        }
    }
}

fn check_id(operation: Operation, id: &[u8], max: usize) -> Result<(), ArgumentError> {
    if id.is_empty() {
        return Err(ArgumentError::EmptyId { operation, max });
    }
    if id.len() > max {
        return Err(ArgumentError::IdTooLong {
            operation,
            len: id.len(),
            max,
        });
    }
    Ok(())
}

#[cfg(test)]
mod fake_server;
#[cfg(test)]
mod tests;
