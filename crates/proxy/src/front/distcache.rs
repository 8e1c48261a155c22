//! The distcache 1.x front door of dc_client: whole requests become
//! operations, replies become the answers the original server gives.
//!
//! Requests are validated here first, as the server would: a refused ADD
//! is answered with the server's status and never forwarded, and an ADD
//! too short for its header (which would make a 1.x server drop the shared
//! connection) is answered DISCONNECTED (`0x02`).

use dc_ops::{OpBuf, Reply};
use dc_protocol::ops::{request_op, write_answer};
use dc_protocol::{
    encode, CommandHeader, DecodeError, Decoder, Kind, Operation, Request, RequestError, Status,
};

/// What one [`DistcacheFront::read`] found.
#[derive(Debug)]
pub(crate) enum DistcacheStep {
    /// Nothing whole yet; `consumed` bytes (whole frames of a longer
    /// request) were absorbed.
    Incomplete { consumed: usize },
    /// A request to forward.
    Forward {
        consumed: usize,
        client_uid: u32,
        operation: Operation,
        op: OpBuf,
    },
    /// A request answered here (its answer is in `out`); `refused` says
    /// why when it was one the server would drop the connection for.
    Answered {
        consumed: usize,
        refused: Option<RequestError>,
        operation: Operation,
    },
}

/// One local client's 1.x stream.
#[derive(Debug)]
pub(crate) struct DistcacheFront {
    decoder: Decoder,
}

impl DistcacheFront {
    pub(crate) fn new() -> DistcacheFront {
        DistcacheFront {
            decoder: Decoder::new(Kind::Request),
        }
    }

    /// Whether some frames of a request have come but not its last.
    pub(crate) fn in_request(&self) -> bool {
        self.decoder.in_command()
    }

    /// Reads the next whole request from `input`.
    pub(crate) fn read(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<DistcacheStep, DecodeError> {
        let decoded = self.decoder.decode(input)?;
        let consumed = decoded.consumed;
        let Some(command) = decoded.command else {
            return Ok(DistcacheStep::Incomplete { consumed });
        };
        let (uid, operation) = (command.request_uid, command.operation);
        let (status, refused) = match Request::parse(operation, command.payload) {
            Ok(request) => {
                return Ok(DistcacheStep::Forward {
                    consumed,
                    client_uid: uid,
                    operation,
                    op: OpBuf::new(&request_op(&request)),
                })
            }
            Err(RequestError::Refused(status)) => (status, None),
            Err(error @ RequestError::AddTooShort { .. }) => (Status::Disconnected, Some(error)),
        };
        answer(out, uid, operation, &[status.code()]);
        Ok(DistcacheStep::Answered {
            consumed,
            refused,
            operation,
        })
    }
}

/// Appends the 1.x answer to request `client_uid` of `operation` that says
/// `reply`.
pub(crate) fn compose(out: &mut Vec<u8>, client_uid: u32, operation: Operation, reply: &Reply<'_>) {
    write_answer(reply, |payload| answer(out, client_uid, operation, payload));
}

fn answer(out: &mut Vec<u8>, client_uid: u32, operation: Operation, payload: &[u8]) {
    let header = CommandHeader::response(client_uid, operation);
    if encode(out, header, payload).is_err() {
        // A value stored through another front door, longer than a 1.x
        // command can carry: a miss is all a 1.x client can be told.
        let _ = encode(out, header, &[Status::NotOk.code()]);
    }
}
