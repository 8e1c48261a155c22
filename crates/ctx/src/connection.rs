//! One blocking connection to the server: write a request, read its answer,
//! every wait bounded by a deadline.
//!
//! ```text
//!  exchange(request, uid, op)
//!    |-- write request ........ until the deadline
//!    |-- read + decode ........ until one whole command, or the deadline
//!    |-- check uid, operation . the answer must be to *this* request
//!    '-- hand the payload to the caller, drop the answer's bytes
//! ```
//!
//! The answer is always consumed, whatever the caller thinks of it: the
//! original library left a rejected answer in its buffer, so the next call
//! on the connection read it, rejected it again, and then waited for ever.
//! Any error returned by [`Connection::exchange`] means the stream is
//! unusable and the connection must be dropped.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use dc_protocol::{Decoded, Decoder, Kind, Operation, MAX_FRAME_LEN};
use nal::{Address, BlockingStream};

use crate::error::{AnswerProblem, ClientError, Step};

/// Receive buffer size. The decoder consumes every whole frame it is given,
/// so after a decode at most one partial frame is left: the buffer must hold
/// at least one frame plus room to read into. Larger only saves reads on
/// multi-frame answers.
const RECEIVE_BUFFER: usize = 8 * MAX_FRAME_LEN;

/// An open connection and the state of its incoming byte stream.
pub(crate) struct Connection {
    stream: BlockingStream,
    decoder: Decoder,
    received: Box<[u8]>,
    filled: usize,
    /// The process that opened the connection (see `Options::pid_check`).
    pub(crate) pid: u32,
    /// Bytes arrived that answer nothing; whatever follows cannot be
    /// trusted, so the connection must not carry another request.
    tainted: bool,
}

/// When the current transaction must be over.
#[derive(Debug, Clone, Copy)]
struct Deadline {
    at: Option<Instant>,
    limit: Option<Duration>,
}

impl Deadline {
    fn after(limit: Option<Duration>) -> Deadline {
        Deadline {
            at: limit.map(|l| Instant::now() + l),
            limit,
        }
    }

    /// Time left for the next wait (`Ok(None)`: no limit), or `Err` with the
    /// original limit once it has run out.
    fn remaining(&self) -> Result<Option<Duration>, Duration> {
        match (self.at, self.limit) {
            (Some(at), Some(limit)) => {
                let left = at.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    Err(limit)
                } else {
                    Ok(Some(left))
                }
            }
            _ => Ok(None),
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

impl Connection {
    /// Connects to `address`, waiting at most `timeout`.
    pub(crate) fn open(
        address: &Address,
        address_text: &str,
        timeout: Option<Duration>,
    ) -> Result<Connection, ClientError> {
        let stream = BlockingStream::connect(address, timeout).map_err(|source| {
            match (source.io_error().map(is_timeout), timeout) {
                (Some(true), Some(after)) => ClientError::TimedOut {
                    address: address_text.to_owned(),
                    step: Step::Connect,
                    after,
                },
                _ => ClientError::Connect {
                    address: address_text.to_owned(),
                    source,
                },
            }
        })?;
        Ok(Connection {
            stream,
            decoder: Decoder::new(Kind::Response),
            received: vec![0; RECEIVE_BUFFER].into_boxed_slice(),
            filled: 0,
            pid: std::process::id(),
            tainted: false,
        })
    }

    /// Whether the connection can carry another request.
    pub(crate) fn is_reusable(&self) -> bool {
        !self.tainted
    }

    /// Sends `request` (the encoded frames of one request with
    /// `request_uid` and `operation`) and reads its answer, handing the
    /// answer's payload to `on_answer`. Sending and receiving together take
    /// at most `timeout`.
    pub(crate) fn exchange<R>(
        &mut self,
        request: &[u8],
        request_uid: u32,
        operation: Operation,
        timeout: Option<Duration>,
        address: &str,
        on_answer: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, ClientError> {
        let deadline = Deadline::after(timeout);
        let timed_out = |step, after| ClientError::TimedOut {
            address: address.to_owned(),
            step,
            after,
        };
        let io_error = |step, source| ClientError::Io {
            address: address.to_owned(),
            step,
            source,
        };

        let mut written = 0;
        while written < request.len() {
            let left = deadline
                .remaining()
                .map_err(|after| timed_out(Step::Send, after))?;
            self.stream
                .set_write_timeout(left)
                .map_err(|e| io_error(Step::Send, e))?;
            match self.stream.write(&request[written..]) {
                Ok(0) => return Err(io_error(Step::Send, io::ErrorKind::WriteZero.into())),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => {
                    return Err(timed_out(Step::Send, deadline.limit.unwrap_or_default()))
                }
                Err(e) => return Err(io_error(Step::Send, e)),
            }
        }

        loop {
            let decoded = self
                .decoder
                .decode(&self.received[..self.filled])
                .map_err(|source| ClientError::Protocol {
                    address: address.to_owned(),
                    source,
                })?;
            let Decoded { consumed, command } = decoded;
            if let Some(answer) = command {
                let problem = if answer.request_uid != request_uid {
                    Some(AnswerProblem::Uid {
                        expected: request_uid,
                        found: answer.request_uid,
                    })
                } else if answer.operation != operation {
                    Some(AnswerProblem::Operation {
                        found: answer.operation,
                    })
                } else {
                    None
                };
                if let Some(problem) = problem {
                    return Err(ClientError::UnexpectedAnswer {
                        address: address.to_owned(),
                        operation,
                        problem,
                    });
                }
                let result = on_answer(answer.payload);
                self.discard(consumed);
                if self.filled > 0 {
                    // The server sent more than one answer to one request.
                    log::debug!(
                        "{address}: {} unsolicited bytes after the {operation} answer; \
                         the connection will not be reused",
                        self.filled
                    );
                    self.tainted = true;
                }
                return Ok(result);
            }
            self.discard(consumed);

            let left = deadline
                .remaining()
                .map_err(|after| timed_out(Step::Receive, after))?;
            self.stream
                .set_read_timeout(left)
                .map_err(|e| io_error(Step::Receive, e))?;
            match self.stream.read(&mut self.received[self.filled..]) {
                Ok(0) => {
                    return Err(ClientError::Closed {
                        address: address.to_owned(),
                        operation,
                    })
                }
                Ok(n) => self.filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => {
                    return Err(timed_out(Step::Receive, deadline.limit.unwrap_or_default()))
                }
                Err(e) => return Err(io_error(Step::Receive, e)),
            }
        }
    }

    /// Drops the first `n` received bytes.
    fn discard(&mut self, n: usize) {
        self.received.copy_within(n..self.filled, 0);
        self.filled -= n;
    }
}
