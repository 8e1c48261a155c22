//! libdistcache: the C API of the original client library
//! (`distcache/dc_client.h`, `libdistcache.so.1`), so C programs built
//! against distcache 1.x — Apache's mod_socache_dc, stunnel, old mod_ssl
//! builds — run on this workspace's client by swapping one shared object.
//!
//! Each `DC_CTX_*` function is a thin shim over [`dc_ctx::Client`]: it turns
//! the caller's pointers and lengths into slices, checks them first, and
//! maps the client's results onto the original return conventions. The wire
//! format and the acceptance rules are `dc_ctx`'s, hence the original's.
//! What the original did badly is not copied: bad arguments (NULL pointers,
//! zero or oversized lengths, a target that does not parse) return the
//! failure value instead of tripping an `assert`, ADD timeouts of 500 ms or
//! less are raised to 501 ms instead of aborting, every wait is bounded by
//! [`dc_ctx::DEFAULT_IO_TIMEOUT`], a broken connection is reopened at the
//! next call, and no panic crosses into C: every entry point runs under
//! `catch_unwind`. See docs/capi.md.
//!
//! `SIGPIPE` needs no handling here: the standard library sends on TCP and
//! unix sockets with `MSG_NOSIGNAL`, so writing to a dead connection is an
//! `EPIPE` error, never a signal that would kill a C host that has not
//! ignored it (tests/c_api.rs keeps the default action and checks it).
//!
//! Unsafe code is allowed here, and only here in the workspace's client
//! side, because a C ABI is made of raw pointers: it is confined to turning
//! those pointers into references at each entry point, each block saying
//! what the caller promised.
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]
// The exported names are the original's.
#![allow(non_snake_case)]

mod context;

use std::ffi::{c_char, c_int, c_uint, c_ulong};
use std::panic::{self, AssertUnwindSafe};
use std::{ptr, slice};

use dc_protocol::MAX_PAYLOAD;

pub use context::{add_timeout_ms, Context, CLAMPED_ADD_TIMEOUT_MS};

/// `DC_CTX_FLAG_PERSISTENT`.
pub const DC_CTX_FLAG_PERSISTENT: c_uint = dc_ctx::FLAG_PERSISTENT;
/// `DC_CTX_FLAG_PERSISTENT_PIDCHECK`.
pub const DC_CTX_FLAG_PERSISTENT_PIDCHECK: c_uint = dc_ctx::FLAG_PIDCHECK;
/// `DC_CTX_FLAG_PERSISTENT_RETRY`.
pub const DC_CTX_FLAG_PERSISTENT_RETRY: c_uint = dc_ctx::FLAG_RETRY;
/// `DC_CTX_FLAG_PERSISTENT_LATE`.
pub const DC_CTX_FLAG_PERSISTENT_LATE: c_uint = dc_ctx::FLAG_LATE;

/// Longest `target` read, not counting its NUL: libnal addresses are at
/// most 255 characters. A target without a NUL within this many bytes is
/// refused without reading further.
pub const MAX_TARGET_LEN: usize = nal::MAX_ADDRESS_LEN;

/// Runs one entry point, turning a panic into `failure`: unwinding into C
/// is undefined behaviour.
fn entry<R>(failure: R, body: impl FnOnce() -> R) -> R {
    panic::catch_unwind(AssertUnwindSafe(body)).unwrap_or(failure)
}

/// The caller's `len` bytes at `data`, or `None` if `data` is NULL, `len`
/// is zero or over `max` (checked before anything is read).
///
/// # Safety
///
/// If `data` is not NULL, it must point to `len` readable bytes that stay
/// unchanged for `'a`.
unsafe fn input<'a>(data: *const u8, len: c_uint, max: usize) -> Option<&'a [u8]> {
    let len = usize::try_from(len).ok()?;
    if data.is_null() || len == 0 || len > max {
        return None;
    }
    // SAFETY: non-NULL, and the caller promised `len` readable bytes;
    // `len` ≤ MAX_PAYLOAD, far under isize::MAX.
    Some(unsafe { slice::from_raw_parts(data, len) })
}

/// The context behind `ctx`, or `None` for NULL.
///
/// # Safety
///
/// `ctx` must be NULL or a pointer from [`DC_CTX_new`] not yet freed, used
/// by one thread at a time.
unsafe fn context<'a>(ctx: *mut Context) -> Option<&'a mut Context> {
    // SAFETY: per the caller's promise, a live, unshared Box<Context>.
    unsafe { ctx.as_mut() }
}

/// Hands a session to the caller by the original's rules: `*result_used`
/// gets the full length even when the buffer is too small or NULL (so the
/// caller can ask for the size, then `reget`), and `min(length,
/// result_size)` bytes are copied into `result_storage` if it is not NULL.
///
/// # Safety
///
/// `result_storage`, if not NULL, must have room for `result_size` bytes;
/// `result_used`, if not NULL, must be writable.
unsafe fn deliver(
    session: &[u8],
    result_storage: *mut u8,
    result_size: c_uint,
    result_used: *mut c_uint,
) {
    // Sessions are at most MAX_PAYLOAD bytes, so the length fits.
    let used = c_uint::try_from(session.len()).unwrap_or(c_uint::MAX);
    if !result_used.is_null() {
        // SAFETY: non-NULL and writable, as the caller promised.
        unsafe { result_used.write(used) };
    }
    let copy = session.len().min(result_size as usize);
    if !result_storage.is_null() && copy > 0 {
        // SAFETY: the caller promised `result_size` writable bytes and
        // `copy` ≤ `result_size`; our buffer cannot overlap theirs.
        unsafe { ptr::copy_nonoverlapping(session.as_ptr(), result_storage, copy) };
    }
}

/// The caller's buffer for a session: storage, its size, where to write
/// the length.
type ResultBuffer = (*mut u8, c_uint, *mut c_uint);

/// [`DC_CTX_get_session`] and [`DC_CTX_reget_session`]: checks the
/// arguments, looks the session up with `lookup`, and hands it out by
/// [`deliver`]'s rules. 1 if found, 0 otherwise.
///
/// # Safety
///
/// As for [`DC_CTX_get_session`].
unsafe fn hand_out(
    ctx: *mut Context,
    id_data: *const u8,
    id_len: c_uint,
    (result_storage, result_size, result_used): ResultBuffer,
    lookup: for<'a> fn(&'a mut Context, &[u8]) -> Option<&'a [u8]>,
) -> c_int {
    entry(0, || {
        // SAFETY: forwarded caller promises, see # Safety.
        let (ctx, id) = unsafe { (context(ctx), input(id_data, id_len, MAX_PAYLOAD)) };
        let (Some(ctx), Some(id)) = (ctx, id) else {
            return 0;
        };
        let Some(session) = lookup(ctx, id) else {
            return 0;
        };
        // SAFETY: forwarded caller promises, see # Safety.
        unsafe { deliver(session, result_storage, result_size, result_used) };
        1
    })
}

/// Creates a context for the server (or `dc_client` proxy) at `target`, a
/// libnal address such as `UNIX:/path` or `IP:host:port` (or any other
/// form `nal::Address` takes, such as `/path` or `host:port`).
///
/// Returns NULL if `target` is NULL, longer than [`MAX_TARGET_LEN`], not a
/// connectable address, or — with `DC_CTX_FLAG_PERSISTENT` and without
/// `DC_CTX_FLAG_PERSISTENT_LATE` — if the connect fails.
///
/// # Safety
///
/// `target` must be NULL or point to a NUL-terminated string, or to at
/// least [`MAX_TARGET_LEN`] + 1 readable bytes.
#[no_mangle]
pub unsafe extern "C" fn DC_CTX_new(target: *const c_char, flags: c_uint) -> *mut Context {
    entry(ptr::null_mut(), || {
        if target.is_null() {
            return ptr::null_mut();
        }
        let mut text = Vec::new();
        loop {
            // SAFETY: the caller promised readable bytes up to the NUL or
            // for MAX_TARGET_LEN + 1 bytes; we stop at whichever comes
            // first.
            let byte = unsafe { target.add(text.len()).cast::<u8>().read() };
            if byte == 0 {
                break;
            }
            if text.len() == MAX_TARGET_LEN {
                return ptr::null_mut();
            }
            text.push(byte);
        }
        match Context::new(&text, flags) {
            Some(context) => Box::into_raw(Box::new(context)),
            None => ptr::null_mut(),
        }
    })
}

/// Closes the context's connection, if any, and frees it. NULL is ignored.
///
/// # Safety
///
/// `ctx` must be NULL or a pointer from [`DC_CTX_new`] not yet freed; it
/// is invalid afterwards.
#[no_mangle]
pub unsafe extern "C" fn DC_CTX_free(ctx: *mut Context) {
    entry((), || {
        if !ctx.is_null() {
            // SAFETY: a pointer from Box::into_raw in DC_CTX_new, freed
            // once, as the caller promised.
            drop(unsafe { Box::from_raw(ctx) });
        }
    })
}

/// Stores `sess_len` bytes of session data under the `id_len`-byte id for
/// `timeout_msecs` milliseconds (500 or less is raised to 501). Returns 1 if
/// the server stored it, 0 otherwise: bad arguments, an id already stored,
/// a session too large, a network error.
///
/// # Safety
///
/// `ctx` as for [`DC_CTX_free`], used by one thread at a time; `id_data`
/// and `sess_data`, if not NULL, must point to `id_len` and `sess_len`
/// readable bytes.
#[no_mangle]
pub unsafe extern "C" fn DC_CTX_add_session(
    ctx: *mut Context,
    id_data: *const u8,
    id_len: c_uint,
    sess_data: *const u8,
    sess_len: c_uint,
    timeout_msecs: c_ulong,
) -> c_int {
    entry(0, || {
        // SAFETY: forwarded caller promises, see # Safety.
        let (ctx, id, data) = unsafe {
            (
                context(ctx),
                input(id_data, id_len, MAX_PAYLOAD),
                input(sess_data, sess_len, MAX_PAYLOAD),
            )
        };
        let (Some(ctx), Some(id), Some(data)) = (ctx, id, data) else {
            return 0;
        };
        c_int::from(ctx.add(id, data, timeout_msecs))
    })
}

/// Removes the session with the `id_len`-byte id. Returns 1 if it was
/// stored, 0 if it was not or the call failed.
///
/// # Safety
///
/// As for [`DC_CTX_add_session`].
#[no_mangle]
pub unsafe extern "C" fn DC_CTX_remove_session(
    ctx: *mut Context,
    id_data: *const u8,
    id_len: c_uint,
) -> c_int {
    entry(0, || {
        // SAFETY: forwarded caller promises, see # Safety.
        let (ctx, id) = unsafe { (context(ctx), input(id_data, id_len, MAX_PAYLOAD)) };
        let (Some(ctx), Some(id)) = (ctx, id) else {
            return 0;
        };
        c_int::from(ctx.remove(id))
    })
}

/// Fetches the session with the `id_len`-byte id. Returns 1 on a hit: the
/// session's full length goes to `*result_used` and up to `result_size`
/// bytes of it to `result_storage` (NULL asks only the length; if the
/// length exceeds `result_size`, [`DC_CTX_reget_session`] fetches it again
/// without I/O). Returns 0 on a miss or a failure, leaving both untouched;
/// sessions under 5 bytes count as misses, as in the original.
///
/// # Safety
///
/// As for [`DC_CTX_add_session`]; `result_storage`, if not NULL, must have
/// room for `result_size` bytes; `result_used`, if not NULL, must be
/// writable.
#[no_mangle]
pub unsafe extern "C" fn DC_CTX_get_session(
    ctx: *mut Context,
    id_data: *const u8,
    id_len: c_uint,
    result_storage: *mut u8,
    result_size: c_uint,
    result_used: *mut c_uint,
) -> c_int {
    // SAFETY: forwarded caller promises, see # Safety.
    unsafe {
        hand_out(
            ctx,
            id_data,
            id_len,
            (result_storage, result_size, result_used),
            Context::get,
        )
    }
}

/// Hands out the session of the last [`DC_CTX_get_session`] again, by the
/// same buffer rules, without I/O. Returns 1 if the last call on `ctx` that
/// did I/O was a GET hit for the same id, 0 otherwise (a miss, a failed GET
/// and any ADD, REMOVE or HAVE since all cancel it).
///
/// # Safety
///
/// As for [`DC_CTX_get_session`].
#[no_mangle]
pub unsafe extern "C" fn DC_CTX_reget_session(
    ctx: *mut Context,
    id_data: *const u8,
    id_len: c_uint,
    result_storage: *mut u8,
    result_size: c_uint,
    result_used: *mut c_uint,
) -> c_int {
    // SAFETY: forwarded caller promises, see # Safety.
    unsafe {
        hand_out(
            ctx,
            id_data,
            id_len,
            (result_storage, result_size, result_used),
            |ctx, id| ctx.reget(id),
        )
    }
}

/// Whether a session with the `id_len`-byte id is stored: 1 yes, 0 no, -1
/// the call failed (bad arguments, a network error, a proxy that cannot
/// reach its server).
///
/// # Safety
///
/// As for [`DC_CTX_add_session`].
#[no_mangle]
pub unsafe extern "C" fn DC_CTX_has_session(
    ctx: *mut Context,
    id_data: *const u8,
    id_len: c_uint,
) -> c_int {
    entry(-1, || {
        // SAFETY: forwarded caller promises, see # Safety.
        let (ctx, id) = unsafe { (context(ctx), input(id_data, id_len, MAX_PAYLOAD)) };
        let (Some(ctx), Some(id)) = (ctx, id) else {
            return -1;
        };
        ctx.has(id)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_and_bad_arguments_return_the_failure_values() {
        // SAFETY: every pointer is NULL or valid for the length given.
        unsafe {
            assert!(DC_CTX_new(ptr::null(), 0).is_null());
            assert!(DC_CTX_new(c"IP:9001".as_ptr(), 0).is_null());
            let long = vec![b'U'; MAX_TARGET_LEN + 1];
            // Not NUL-terminated: must stop after MAX_TARGET_LEN + 1 bytes.
            assert!(DC_CTX_new(long.as_ptr().cast(), 0).is_null());
            DC_CTX_free(ptr::null_mut());
            let null = ptr::null_mut();
            let id = b"id".as_ptr();
            let mut used = 0;
            assert_eq!(DC_CTX_add_session(null, id, 2, id, 2, 1000), 0);
            assert_eq!(DC_CTX_remove_session(null, id, 2), 0);
            assert_eq!(
                DC_CTX_get_session(null, id, 2, ptr::null_mut(), 0, &mut used),
                0
            );
            assert_eq!(DC_CTX_has_session(null, id, 2), -1);

            let ctx = DC_CTX_new(c"UNIX:/nonexistent/dc.sock".as_ptr(), 0);
            assert!(!ctx.is_null());
            assert_eq!(DC_CTX_add_session(ctx, ptr::null(), 2, id, 2, 1000), 0);
            assert_eq!(DC_CTX_add_session(ctx, id, 0, id, 2, 1000), 0);
            assert_eq!(DC_CTX_add_session(ctx, id, 2, ptr::null(), 2, 1000), 0);
            // Over the limit: refused before the (short) buffer is read.
            assert_eq!(DC_CTX_add_session(ctx, id, u32::MAX, id, 2, 1000), 0);
            assert_eq!(DC_CTX_has_session(ctx, id, 40_000), -1);
            assert_eq!(DC_CTX_has_session(ctx, ptr::null(), 0), -1);
            assert_eq!(
                DC_CTX_reget_session(ctx, id, 2, ptr::null_mut(), 0, &mut used),
                0
            );
            DC_CTX_free(ctx);
        }
    }

    #[test]
    fn delivery_follows_the_buffer_rules() {
        let session = b"0123456789";
        let mut buf = [0u8; 4];
        let mut used = 0;
        // SAFETY: `buf` has room for 4 bytes, `used` is writable.
        unsafe {
            deliver(session, buf.as_mut_ptr(), 4, &mut used);
            assert_eq!((&buf, used), (b"0123", 10));
            deliver(session, ptr::null_mut(), 4, &mut used);
            deliver(session, buf.as_mut_ptr(), 0, ptr::null_mut());
        }
        assert_eq!(&buf, b"0123");
    }
}
