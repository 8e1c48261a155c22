//! Response payloads and status codes.
//!
//! | request | response payload                                         |
//! |---------|----------------------------------------------------------|
//! | ADD     | one status byte: 0, 100, 101, 102 or 103                 |
//! | GET     | the session data on a hit; the status byte 1 on a miss   |
//! | REMOVE  | one status byte: 0 removed, 1 absent                     |
//! | HAVE    | one status byte: 0 present, 1 absent                     |
//!
//! A GET answer of one byte is ambiguous (a stored one-byte session looks
//! like a status), which is why the original client library only counts GET
//! answers of 5 bytes or more as hits; see [`MIN_GET_HIT_LEN`].

use std::fmt;

use crate::encoder::{encode, CommandHeader};
use crate::error::{EncodeError, ResponseError};
use crate::frame::Operation;

/// The shortest GET answer the original client library accepts as a hit.
/// Clients must keep this rule to interoperate.
pub const MIN_GET_HIT_LEN: usize = 5;

/// One-byte result codes. 0–99 are common to every operation, 100 and up
/// belong to ADD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Status {
    /// ADD stored, REMOVE removed, HAVE present.
    Ok = 0,
    /// GET miss, REMOVE absent, HAVE absent.
    NotOk = 1,
    /// Sent by `dc_client` only: the cache server is unreachable or was lost
    /// while the request was in flight.
    Disconnected = 2,
    /// ADD: `id_len` leaves no session data.
    AddCorrupt = 100,
    /// ADD: a live session with that id exists; it is not replaced.
    AddMatchingSession = 101,
    /// ADD: timeout over 7 days.
    AddTimeoutRange = 102,
    /// ADD: id empty or over 64 bytes.
    AddIdRange = 103,
    /// ADD: data length out of range. Defined by the original but never
    /// sent by it, nor by us.
    AddDataRange = 104,
}

impl Status {
    /// The status for a wire byte, if it names one.
    pub fn from_code(code: u8) -> Option<Status> {
        Some(match code {
            0 => Status::Ok,
            1 => Status::NotOk,
            2 => Status::Disconnected,
            100 => Status::AddCorrupt,
            101 => Status::AddMatchingSession,
            102 => Status::AddTimeoutRange,
            103 => Status::AddIdRange,
            104 => Status::AddDataRange,
            _ => return None,
        })
    }

    /// The wire byte.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The original's name without its prefix, for logs.
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::NotOk => "NOTOK",
            Status::Disconnected => "DISCONNECTED",
            Status::AddCorrupt => "CORRUPT",
            Status::AddMatchingSession => "MATCHING_SESSION",
            Status::AddTimeoutRange => "TIMEOUT_RANGE",
            Status::AddIdRange => "ID_RANGE",
            Status::AddDataRange => "DATA_RANGE",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

/// A typed response payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Response<'a> {
    /// An empty payload: the original `dc_client`'s answer when it has no
    /// backend. Clients treat it as a failure.
    Empty,
    /// A one-byte status code; unknown codes are kept as they came.
    Status(u8),
    /// GET hit: the session's data (two bytes or more; a one-byte session
    /// cannot be told from a status and is reported as [`Response::Status`]).
    Session(&'a [u8]),
}

impl<'a> Response<'a> {
    /// Classifies the payload of a response to `operation`.
    pub fn parse(operation: Operation, payload: &'a [u8]) -> Result<Response<'a>, ResponseError> {
        match (payload.len(), operation) {
            (0, _) => Ok(Response::Empty),
            (1, _) => Ok(Response::Status(payload[0])),
            (_, Operation::Get) => Ok(Response::Session(payload)),
            (len, operation) => Err(ResponseError::NotAStatus { operation, len }),
        }
    }

    /// The status, when the payload is a known one-byte status.
    pub fn status(&self) -> Option<Status> {
        match *self {
            Response::Status(code) => Status::from_code(code),
            _ => None,
        }
    }

    /// Appends the frames of this response to `out`.
    pub fn encode(
        &self,
        out: &mut Vec<u8>,
        request_uid: u32,
        operation: Operation,
    ) -> Result<(), EncodeError> {
        let header = CommandHeader::response(request_uid, operation);
        match *self {
            Response::Empty => encode(out, header, &[]),
            Response::Status(code) => encode(out, header, &[code]),
            Response::Session(data) => encode(out, header, data),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_round_trip() {
        for code in 0..=255u8 {
            if let Some(s) = Status::from_code(code) {
                assert_eq!(s.code(), code);
            }
        }
        assert_eq!(Status::from_code(3), None);
        assert_eq!(
            Status::AddMatchingSession.to_string(),
            "MATCHING_SESSION (101)"
        );
    }

    #[test]
    fn classifies_payloads() {
        assert_eq!(Response::parse(Operation::Get, b""), Ok(Response::Empty));
        assert_eq!(
            Response::parse(Operation::Get, &[1]),
            Ok(Response::Status(1))
        );
        assert_eq!(
            Response::parse(Operation::Get, b"hello"),
            Ok(Response::Session(&b"hello"[..]))
        );
        assert_eq!(
            Response::parse(Operation::Have, &[0, 0]),
            Err(ResponseError::NotAStatus {
                operation: Operation::Have,
                len: 2
            })
        );
        assert_eq!(
            Response::parse(Operation::Add, &[101]).unwrap().status(),
            Some(Status::AddMatchingSession)
        );
    }
}
