//! What a `DC_CTX` is on our side: a [`dc_ctx::Client`] plus the one piece
//! of state the C API has and the Rust one does not, the remembered GET for
//! `DC_CTX_reget_session`. Everything here is safe code over slices; the
//! pointers are turned into slices in `lib.rs`.

use std::ffi::c_ulong;

use dc_ctx::{AnswerProblem, Client, ClientError, Options, MIN_ADD_TIMEOUT_MS};
use nal::Address;

/// The shortest ADD timeout sent: the original asserted `timeout > 500`
/// and aborted its caller otherwise; shorter timeouts are raised to this.
pub const CLAMPED_ADD_TIMEOUT_MS: u32 = MIN_ADD_TIMEOUT_MS + 1;

/// A `DC_CTX`.
pub struct Context {
    client: Client,
    /// The id and data of the last GET, if it was a hit and nothing that
    /// did I/O came after it.
    last_get: Option<LastGet>,
}

struct LastGet {
    id: Vec<u8>,
    data: Vec<u8>,
}

/// The ADD timeout to send for the one asked: raised to
/// [`CLAMPED_ADD_TIMEOUT_MS`] when at or under 500 ms, and saturated at
/// `u32::MAX` (which the server refuses as out of range) rather than
/// truncated to 32 bits, which could turn a long lifetime into a short one.
pub fn add_timeout_ms(requested: c_ulong) -> u32 {
    if requested <= c_ulong::from(MIN_ADD_TIMEOUT_MS) {
        CLAMPED_ADD_TIMEOUT_MS
    } else {
        u32::try_from(requested).unwrap_or(u32::MAX)
    }
}

impl Context {
    /// `DC_CTX_new`: `None` if `target` is not a connectable libnal address
    /// or, for a persistent context without LATE, the connect fails.
    pub fn new(target: &[u8], flags: u32) -> Option<Context> {
        let target = std::str::from_utf8(target).ok()?;
        let address = Address::parse(target).ok()?;
        let client = Client::new(&address, Options::from_flags(flags)).ok()?;
        Some(Context {
            client,
            last_get: None,
        })
    }

    /// `DC_CTX_add_session`: whether the server stored it.
    pub fn add(&mut self, id: &[u8], data: &[u8], timeout_ms: c_ulong) -> bool {
        self.last_get = None;
        self.client
            .add(id, data, add_timeout_ms(timeout_ms))
            .is_ok()
    }

    /// `DC_CTX_remove_session`: whether a session was removed.
    pub fn remove(&mut self, id: &[u8]) -> bool {
        self.last_get = None;
        matches!(self.client.remove(id), Ok(true))
    }

    /// `DC_CTX_get_session`: the session on a hit. A miss or a failure
    /// forgets any earlier GET, so a `reget` cannot return stale data (the
    /// original kept it and returned the failed GET's status byte).
    pub fn get(&mut self, id: &[u8]) -> Option<&[u8]> {
        let mut last = self.last_get.take().unwrap_or(LastGet {
            id: Vec::new(),
            data: Vec::new(),
        });
        if !matches!(self.client.get_into(id, &mut last.data), Ok(true)) {
            return None;
        }
        last.id.clear();
        last.id.extend_from_slice(id);
        Some(&self.last_get.insert(last).data)
    }

    /// `DC_CTX_reget_session`: the session of the last GET again, without
    /// I/O, if that GET was for `id`, was a hit, and nothing that did I/O
    /// came after it.
    pub fn reget(&self, id: &[u8]) -> Option<&[u8]> {
        self.last_get
            .as_ref()
            .filter(|last| last.id == id)
            .map(|last| &last.data[..])
    }

    /// `DC_CTX_has_session`: 1 present, 0 absent, -1 failure.
    pub fn has(&mut self, id: &[u8]) -> i32 {
        self.last_get = None;
        match self.client.has(id) {
            Ok(true) => 1,
            Ok(false) => 0,
            // The original answered 0, not -1, to an answer longer than a
            // status byte; kept, since callers may tell the two apart.
            Err(ClientError::UnexpectedAnswer {
                problem: AnswerProblem::Length { len },
                ..
            }) if len >= 2 => 0,
            Err(_) => -1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_clamped_not_refused() {
        assert_eq!(add_timeout_ms(0), 501);
        assert_eq!(add_timeout_ms(500), 501);
        assert_eq!(add_timeout_ms(501), 501);
        assert_eq!(add_timeout_ms(300_000), 300_000);
        assert_eq!(add_timeout_ms(c_ulong::from(u32::MAX)), u32::MAX);
        assert_eq!(add_timeout_ms(c_ulong::MAX), u32::MAX);
    }

    #[test]
    fn bad_targets_make_no_context() {
        for target in [
            &b""[..],
            b"IP:9001",
            b"IP::9001",
            b"nonsense",
            b"TCP:127.0.0.1:1",
            b"IP:a:b:c",
            b"\xff\xfe",
            b"FD:3",
            b":9001",
            b"localhost",
            b"::1:9001",
        ] {
            assert!(Context::new(target, 0).is_none(), "{target:?}");
        }
        // The forms without a prefix, as every tool takes them.
        assert!(Context::new(b"127.0.0.1:1", 0).is_some());
        assert!(Context::new(b"[::1]:1", 0).is_some());
        assert!(Context::new(b"/nonexistent/dc.sock", 0x1 | 0x8).is_some());
        // Per-operation and LATE contexts connect at the first operation.
        assert!(Context::new(b"IP:127.0.0.1:1", 0).is_some());
        assert!(Context::new(b"UNIX:/nonexistent/dc.sock", 0x1 | 0x8).is_some());
        assert!(Context::new(b"UNIX:/nonexistent/dc.sock", 0x1).is_none());
    }

    #[test]
    fn operations_on_an_unreachable_server_fail() {
        let mut ctx = Context::new(b"UNIX:/nonexistent/dc.sock", 0).unwrap();
        assert!(!ctx.add(b"id", b"data!", 1000));
        assert!(ctx.get(b"id").is_none());
        assert!(ctx.reget(b"id").is_none());
        assert!(!ctx.remove(b"id"));
        assert_eq!(ctx.has(b"id"), -1);
    }
}
