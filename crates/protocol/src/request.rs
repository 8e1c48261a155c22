//! Request payloads.
//!
//! ```text
//! ADD:                 +------------+-----------+---------+------------------+
//!                      | timeout_ms | id_len    | id      | session data     |
//!                      | u32 BE     | u32 BE    | id_len  | rest of payload  |
//!                      +------------+-----------+---------+------------------+
//! GET / REMOVE / HAVE: +-----------------------------------+
//!                      | session id (the whole payload)    |
//!                      +-----------------------------------+
//! ```

use crate::encoder::{encode_parts, CommandHeader};
use crate::error::{EncodeError, RequestError};
use crate::frame::{Operation, MAX_ID_LEN, MAX_TIMEOUT_MS};
use crate::response::Status;

/// Bytes before the id in an ADD payload.
pub const ADD_HEADER_LEN: usize = 8;

/// A typed request, borrowing from the payload it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    /// Store `data` under `id` for `timeout_ms` milliseconds.
    Add {
        /// Lifetime in milliseconds from when the server handles the ADD.
        timeout_ms: u32,
        /// Session id, 1..=64 bytes.
        id: &'a [u8],
        /// Session data, at least 1 byte.
        data: &'a [u8],
    },
    /// Fetch the session `id`.
    Get {
        /// Session id; any length is well-formed (too long simply misses).
        id: &'a [u8],
    },
    /// Delete the session `id`.
    Remove {
        /// Session id.
        id: &'a [u8],
    },
    /// Ask whether the session `id` is stored.
    Have {
        /// Session id.
        id: &'a [u8],
    },
}

impl<'a> Request<'a> {
    /// Parses and validates a request payload, applying the original
    /// server's ADD checks in its order so that every refusal carries the
    /// same status code as the original.
    pub fn parse(operation: Operation, payload: &'a [u8]) -> Result<Request<'a>, RequestError> {
        match operation {
            Operation::Add => parse_add(payload),
            Operation::Get => Ok(Request::Get { id: payload }),
            Operation::Remove => Ok(Request::Remove { id: payload }),
            Operation::Have => Ok(Request::Have { id: payload }),
        }
    }

    /// The request's operation.
    pub fn operation(&self) -> Operation {
        match self {
            Request::Add { .. } => Operation::Add,
            Request::Get { .. } => Operation::Get,
            Request::Remove { .. } => Operation::Remove,
            Request::Have { .. } => Operation::Have,
        }
    }

    /// The session id the request is about.
    pub fn id(&self) -> &'a [u8] {
        match *self {
            Request::Add { id, .. }
            | Request::Get { id }
            | Request::Remove { id }
            | Request::Have { id } => id,
        }
    }

    /// Payload length of the encoded request.
    pub fn payload_len(&self) -> usize {
        match self {
            Request::Add { id, data, .. } => ADD_HEADER_LEN + id.len() + data.len(),
            other => other.id().len(),
        }
    }

    /// Appends the request's frames to `out`.
    ///
    /// This encodes whatever it is given, valid or not (tests need to send
    /// refused requests); it fails only when the payload cannot be framed.
    pub fn encode(&self, out: &mut Vec<u8>, request_uid: u32) -> Result<(), EncodeError> {
        let header = CommandHeader::request(request_uid, self.operation());
        match *self {
            Request::Add {
                timeout_ms,
                id,
                data,
            } => {
                let id_len = u32::try_from(id.len()).unwrap_or(u32::MAX);
                encode_parts(
                    out,
                    header,
                    &[&timeout_ms.to_be_bytes(), &id_len.to_be_bytes(), id, data],
                )
            }
            Request::Get { id } | Request::Remove { id } | Request::Have { id } => {
                encode_parts(out, header, &[id])
            }
        }
    }
}

fn parse_add(payload: &[u8]) -> Result<Request<'_>, RequestError> {
    let Some((head, rest)) = payload.split_first_chunk::<ADD_HEADER_LEN>() else {
        return Err(RequestError::AddTooShort { len: payload.len() });
    };
    let timeout_ms = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    let id_len = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
    if timeout_ms > MAX_TIMEOUT_MS {
        return Err(RequestError::Refused(Status::AddTimeoutRange));
    }
    // `id_len >= rest` also covers "no session data at all".
    let id_len = match usize::try_from(id_len) {
        Ok(n) if n < rest.len() => n,
        _ => return Err(RequestError::Refused(Status::AddCorrupt)),
    };
    if id_len == 0 || id_len > MAX_ID_LEN {
        return Err(RequestError::Refused(Status::AddIdRange));
    }
    // The original also has a data-range check (status 104); it cannot fail
    // once the payload is at most 32768 bytes and the data is non-empty, so
    // it is not repeated here.
    let (id, data) = rest.split_at(id_len);
    Ok(Request::Add {
        timeout_ms,
        id,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add_payload(timeout: u32, id_len: u32, rest: &[u8]) -> Vec<u8> {
        let mut p = timeout.to_be_bytes().to_vec();
        p.extend_from_slice(&id_len.to_be_bytes());
        p.extend_from_slice(rest);
        p
    }

    #[test]
    fn parses_a_valid_add() {
        let p = add_payload(60000, 3, b"abcDATA");
        assert_eq!(
            Request::parse(Operation::Add, &p),
            Ok(Request::Add {
                timeout_ms: 60000,
                id: b"abc",
                data: b"DATA"
            })
        );
    }

    #[test]
    fn add_checks_run_in_the_original_order() {
        use RequestError::*;
        use Status::*;
        let cases: Vec<(Vec<u8>, RequestError)> = vec![
            (vec![], AddTooShort { len: 0 }),
            (vec![0, 0, 0xea, 0x60], AddTooShort { len: 4 }),
            // timeout is checked before anything else in the payload
            (
                add_payload(MAX_TIMEOUT_MS + 1, 0, b""),
                Refused(AddTimeoutRange),
            ),
            (add_payload(u32::MAX, 3, b"abcd"), Refused(AddTimeoutRange)),
            // id_len >= what follows: corrupt (covers "no data")
            (add_payload(1, 0, b""), Refused(AddCorrupt)),
            (add_payload(1, 6, b"nodata"), Refused(AddCorrupt)),
            (add_payload(1, 10, b"abc"), Refused(AddCorrupt)),
            (add_payload(1, u32::MAX, b"abcxyz"), Refused(AddCorrupt)),
            // then the id range
            (add_payload(1, 0, b"hello"), Refused(AddIdRange)),
            (add_payload(1, 65, &[b'I'; 69]), Refused(AddIdRange)),
        ];
        for (payload, want) in cases {
            assert_eq!(
                Request::parse(Operation::Add, &payload),
                Err(want),
                "{payload:02x?}"
            );
        }
        assert!(Request::parse(
            Operation::Add,
            &add_payload(MAX_TIMEOUT_MS, 64, &[b'I'; 65])
        )
        .is_ok());
        assert!(Request::parse(Operation::Add, &add_payload(0, 1, b"ab")).is_ok());
    }

    #[test]
    fn any_id_is_well_formed_for_lookups() {
        for op in [Operation::Get, Operation::Remove, Operation::Have] {
            for id in [&b""[..], &[7u8; 100][..], b"x"] {
                let r = Request::parse(op, id).unwrap();
                assert_eq!(r.operation(), op);
                assert_eq!(r.id(), id);
            }
        }
    }
}
