//! distcache 1.x requests and answers as protocol-neutral operations: the
//! one mapping that dc_server's front door (request to [`Op`], [`Reply`]
//! to answer) and dc_client (both directions, to carry any front door's
//! operations to a 1.x server) share.
//!
//! | 1.x request | operation                                   | answers                          |
//! |-------------|---------------------------------------------|----------------------------------|
//! | ADD         | `Store { mode: Add, ttl: After(timeout_ms) }` | 0 Stored, 101 NotStored, 104 TooLarge |
//! | GET         | `Get`                                       | data Value, 1 NotFound           |
//! | REMOVE      | `Delete`                                    | 0 Deleted, 1 NotFound            |
//! | HAVE        | `Exists`                                    | 0 Found, 1 NotFound              |
//!
//! Any answer may be 2 (DISCONNECTED), which only a proxy sends: it is
//! [`Reply::Unavailable`].

use dc_ops::{Millis, Op, Reply, StoreMode, Ttl};

use crate::frame::{Operation, MAX_ID_LEN, MAX_PAYLOAD};
use crate::request::Request;
use crate::response::Status;

/// The operation a well-formed 1.x request asks for.
pub fn request_op<'a>(request: &Request<'a>) -> Op<'a> {
    match *request {
        Request::Add {
            timeout_ms,
            id,
            data,
        } => Op::Store {
            mode: StoreMode::Add,
            key: id,
            value: data,
            flags: 0,
            ttl: Ttl::After(Millis::from(timeout_ms)),
        },
        Request::Get { id } => Op::Get { key: id },
        Request::Remove { id } => Op::Delete { key: id },
        Request::Have { id } => Op::Exists { key: id },
    }
}

/// The 1.x request for `op`, if 1.x can carry it: ADD (with no flags, a
/// lifetime in milliseconds that fits 32 bits, and an id of 1 to 64 bytes),
/// GET, REMOVE and HAVE of any id a command can carry (an original server
/// answers an empty or longer id as one it does not hold).
pub fn op_request<'a>(op: &Op<'a>) -> Option<Request<'a>> {
    let key = op.key();
    let add = matches!(op, Op::Store { .. });
    if key.len() > MAX_PAYLOAD || add && (key.is_empty() || key.len() > MAX_ID_LEN) {
        return None;
    }
    Some(match *op {
        Op::Get { key } => Request::Get { id: key },
        Op::Delete { key } => Request::Remove { id: key },
        Op::Exists { key } => Request::Have { id: key },
        Op::Store {
            mode: StoreMode::Add,
            key,
            value,
            flags: 0,
            ttl: Ttl::After(ms),
        } if !value.is_empty() => Request::Add {
            timeout_ms: u32::try_from(ms).ok()?,
            id: key,
            data: value,
        },
        _ => return None,
    })
}

/// The status byte that answers `reply` (for anything but a GET hit, whose
/// answer is the data itself).
pub fn reply_status(reply: &Reply<'_>) -> Status {
    match reply {
        Reply::Value { .. } | Reply::Stored | Reply::Deleted | Reply::Found => Status::Ok,
        Reply::NotStored => Status::AddMatchingSession,
        // Unreachable with the store limits a server accepts (room for the
        // largest session); the nearest code the original defines for
        // "this data cannot be stored".
        Reply::TooLarge => Status::AddDataRange,
        Reply::Unavailable => Status::Disconnected,
        _ => Status::NotOk,
    }
}

/// Writes the 1.x answer payload for `reply` through `write`: the data of a
/// GET hit, else one status byte.
pub fn write_answer<R>(reply: &Reply<'_>, write: impl FnOnce(&[u8]) -> R) -> R {
    match reply {
        Reply::Value { data, .. } => write(data),
        other => write(&[reply_status(other).code()]),
    }
}

/// What a server's 1.x answer to `operation` says. `None` for an answer no
/// server sends (an empty payload, a status that does not belong to the
/// operation), which the caller treats as a broken server.
pub fn answer_reply(operation: Operation, payload: &[u8]) -> Option<Reply<'_>> {
    let status = match payload {
        [code] => Status::from_code(*code),
        [] => return None,
        data if operation == Operation::Get => {
            return Some(Reply::Value { data, flags: 0 });
        }
        _ => return None,
    };
    Some(match (operation, status) {
        (_, Some(Status::Disconnected)) => Reply::Unavailable,
        (Operation::Get, Some(Status::NotOk)) => Reply::NotFound,
        // A one-byte session: the original never sends another status to
        // a GET.
        (Operation::Get, _) => Reply::Value {
            data: payload,
            flags: 0,
        },
        (Operation::Add, Some(Status::Ok)) => Reply::Stored,
        (Operation::Add, Some(Status::AddDataRange)) => Reply::TooLarge,
        // A live session holds the id (101), or the server could not
        // store it (1): either way nothing was stored.
        (Operation::Add, Some(Status::AddMatchingSession | Status::NotOk)) => Reply::NotStored,
        (Operation::Remove, Some(Status::Ok)) => Reply::Deleted,
        (Operation::Have, Some(Status::Ok)) => Reply::Found,
        (Operation::Remove | Operation::Have, Some(Status::NotOk)) => Reply::NotFound,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_operations_map_both_ways() {
        let requests = [
            Request::Add {
                timeout_ms: 300_000,
                id: b"id",
                data: b"session",
            },
            Request::Get { id: b"id" },
            Request::Remove { id: b"id" },
            Request::Have { id: b"id" },
        ];
        for request in requests {
            assert_eq!(op_request(&request_op(&request)), Some(request));
        }
    }

    #[test]
    fn operations_1x_cannot_carry_are_refused() {
        let long = [b'k'; 65];
        let huge = vec![b'k'; MAX_PAYLOAD + 1];
        let refused = [
            Op::Get { key: &huge },
            Op::Ttl { key: b"k" },
            Op::Store {
                mode: StoreMode::Add,
                key: &long,
                value: b"v",
                flags: 0,
                ttl: Ttl::After(1),
            },
            Op::Store {
                mode: StoreMode::Add,
                key: b"",
                value: b"v",
                flags: 0,
                ttl: Ttl::After(1),
            },
            Op::Store {
                mode: StoreMode::Set,
                key: b"k",
                value: b"v",
                flags: 0,
                ttl: Ttl::After(1),
            },
            Op::Store {
                mode: StoreMode::Add,
                key: b"k",
                value: b"v",
                flags: 1,
                ttl: Ttl::After(1),
            },
            Op::Store {
                mode: StoreMode::Add,
                key: b"k",
                value: b"v",
                flags: 0,
                ttl: Ttl::Unlimited,
            },
            Op::Store {
                mode: StoreMode::Add,
                key: b"k",
                value: b"v",
                flags: 0,
                ttl: Ttl::After(1 << 32),
            },
        ];
        for op in refused {
            assert_eq!(op_request(&op), None, "{op:?}");
        }
        // Lookups of any id go to a 1.x server, which decides (an empty or
        // long one is never held).
        for key in [&long[..], b""] {
            assert_eq!(op_request(&Op::Get { key }), Some(Request::Get { id: key }));
        }
    }

    #[test]
    fn answers_read_back_as_the_replies_they_encode() {
        let cases: [(Operation, Reply<'_>); 9] = [
            (Operation::Add, Reply::Stored),
            (Operation::Add, Reply::NotStored),
            (Operation::Add, Reply::TooLarge),
            (
                Operation::Get,
                Reply::Value {
                    data: b"session",
                    flags: 0,
                },
            ),
            (Operation::Get, Reply::NotFound),
            (Operation::Remove, Reply::Deleted),
            (Operation::Remove, Reply::NotFound),
            (Operation::Have, Reply::Found),
            (Operation::Have, Reply::Unavailable),
        ];
        for (operation, reply) in cases {
            let payload = write_answer(&reply, |p| p.to_vec());
            assert_eq!(answer_reply(operation, &payload), Some(reply));
        }
        assert_eq!(answer_reply(Operation::Have, &[]), None);
        assert_eq!(answer_reply(Operation::Have, &[101]), None);
        assert_eq!(answer_reply(Operation::Remove, &[0, 0]), None);
        assert_eq!(
            answer_reply(Operation::Get, &[7]),
            Some(Reply::Value {
                data: &[7],
                flags: 0
            })
        );
    }
}
