//! What an answer payload means for each operation — the original library's
//! acceptance rules, kept exactly because applications depend on them:
//!
//! | operation      | success                | "no"          | anything else |
//! |----------------|------------------------|---------------|---------------|
//! | ADD            | exactly `00`           | a status: refused | error     |
//! | GET            | 5 bytes or more: a hit | `01`: a miss  | error         |
//! | REMOVE / HAVE  | `00`: true             | `01`: false   | error         |
//!
//! An empty answer or `02` (DISCONNECTED) is what a `dc_client` proxy sends
//! when it cannot reach its cache server: [`AnswerError::Unavailable`] for
//! every operation.

use dc_protocol::response::MIN_GET_HIT_LEN;
use dc_protocol::{Operation, Response, Status};

use crate::error::{AnswerProblem, Unavailability};

/// Why an answer is not a success (and not a plain miss or "absent").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AnswerError {
    /// ADD refused with this status.
    Refused(Status),
    /// The proxy could not reach the cache.
    Unavailable(Unavailability),
    /// Not a valid answer to the operation.
    Unexpected(AnswerProblem),
}

/// Classifies a payload, leaving the per-operation meaning to the caller.
fn classify(operation: Operation, payload: &[u8]) -> Result<Response<'_>, AnswerError> {
    match Response::parse(operation, payload) {
        Ok(Response::Empty) => Err(AnswerError::Unavailable(Unavailability::EmptyAnswer)),
        Ok(Response::Status(code)) if code == Status::Disconnected.code() => {
            Err(AnswerError::Unavailable(Unavailability::Disconnected))
        }
        Ok(response) => Ok(response),
        Err(_) => Err(AnswerError::Unexpected(AnswerProblem::Length {
            len: payload.len(),
        })),
    }
}

/// ADD succeeds only on the one byte `00`.
pub(crate) fn add(payload: &[u8]) -> Result<(), AnswerError> {
    match classify(Operation::Add, payload)? {
        Response::Status(0) => Ok(()),
        Response::Status(code) => match Status::from_code(code) {
            Some(status) => Err(AnswerError::Refused(status)),
            None => Err(AnswerError::Unexpected(AnswerProblem::Code(code))),
        },
        Response::Empty | Response::Session(_) => {
            Err(AnswerError::Unexpected(AnswerProblem::Length {
                len: payload.len(),
            }))
        }
    }
}

/// GET: a hit is at least [`MIN_GET_HIT_LEN`] bytes, `01` is a miss.
pub(crate) fn get(payload: &[u8]) -> Result<Option<&[u8]>, AnswerError> {
    match classify(Operation::Get, payload)? {
        Response::Status(code) if code == Status::NotOk.code() => Ok(None),
        Response::Status(code) => Err(AnswerError::Unexpected(AnswerProblem::Code(code))),
        Response::Session(data) if data.len() >= MIN_GET_HIT_LEN => Ok(Some(data)),
        Response::Empty | Response::Session(_) => {
            Err(AnswerError::Unexpected(AnswerProblem::ShortSession {
                len: payload.len(),
            }))
        }
    }
}

/// REMOVE and HAVE: `00` is true, `01` is false.
pub(crate) fn flag(operation: Operation, payload: &[u8]) -> Result<bool, AnswerError> {
    match classify(operation, payload)? {
        Response::Status(0) => Ok(true),
        Response::Status(1) => Ok(false),
        Response::Status(code) => Err(AnswerError::Unexpected(AnswerProblem::Code(code))),
        Response::Empty | Response::Session(_) => {
            Err(AnswerError::Unexpected(AnswerProblem::Length {
                len: payload.len(),
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AnswerError::*;

    const EMPTY: AnswerError = Unavailable(Unavailability::EmptyAnswer);
    const DISCONNECTED: AnswerError = Unavailable(Unavailability::Disconnected);

    #[test]
    fn add_accepts_only_a_single_zero() {
        assert_eq!(add(&[0]), Ok(()));
        assert_eq!(add(&[101]), Err(Refused(Status::AddMatchingSession)));
        assert_eq!(add(&[100]), Err(Refused(Status::AddCorrupt)));
        assert_eq!(add(&[102]), Err(Refused(Status::AddTimeoutRange)));
        assert_eq!(add(&[103]), Err(Refused(Status::AddIdRange)));
        assert_eq!(add(&[1]), Err(Refused(Status::NotOk)));
        assert_eq!(add(&[7]), Err(Unexpected(AnswerProblem::Code(7))));
        assert_eq!(add(&[]), Err(EMPTY));
        assert_eq!(add(&[2]), Err(DISCONNECTED));
        assert_eq!(
            add(&[0, 0]),
            Err(Unexpected(AnswerProblem::Length { len: 2 }))
        );
    }

    #[test]
    fn get_hits_need_five_bytes() {
        assert_eq!(get(b"value"), Ok(Some(&b"value"[..])));
        assert_eq!(get(&[1]), Ok(None));
        assert_eq!(get(&[]), Err(EMPTY));
        assert_eq!(get(&[2]), Err(DISCONNECTED));
        // A stored one-byte session 0x00 looks like this: refused as the
        // original refused it.
        assert_eq!(get(&[0]), Err(Unexpected(AnswerProblem::Code(0))));
        for len in 2..MIN_GET_HIT_LEN {
            assert_eq!(
                get(&vec![9; len]),
                Err(Unexpected(AnswerProblem::ShortSession { len }))
            );
        }
        let big = vec![7u8; 32768];
        assert_eq!(get(&big), Ok(Some(&big[..])));
    }

    #[test]
    fn remove_and_have_are_yes_or_no() {
        for op in [Operation::Remove, Operation::Have] {
            assert_eq!(flag(op, &[0]), Ok(true));
            assert_eq!(flag(op, &[1]), Ok(false));
            assert_eq!(flag(op, &[]), Err(EMPTY));
            assert_eq!(flag(op, &[2]), Err(DISCONNECTED));
            assert_eq!(flag(op, &[101]), Err(Unexpected(AnswerProblem::Code(101))));
            assert_eq!(
                flag(op, &[0, 1, 2]),
                Err(Unexpected(AnswerProblem::Length { len: 3 }))
            );
        }
    }
}
