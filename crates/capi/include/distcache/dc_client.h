/*
 * distcache/dc_client.h - the blocking DC_CTX client API of distcache 1.x,
 * as provided by the Rust libdistcache (crates/capi in distcache-rs).
 *
 * ABI-compatible with the original header and libdistcache.so.1: the same
 * names, types, values and calling conventions, so a program compiled
 * against either header runs on either library. What this library does
 * differently (never aborting, clamping short timeouts, bounding every
 * wait) is described in docs/capi.md.
 *
 * Licensed MIT OR Apache-2.0, like the rest of distcache-rs.
 */
#ifndef HEADER_DISTCACHE_DC_CLIENT_H
#define HEADER_DISTCACHE_DC_CLIENT_H

#ifdef __cplusplus
extern "C" {
#endif

/* Source-level API version: unchanged since distcache 1.0. */
#define DISTCACHE_CLIENT_API    0x0001
/* Binary/behavioural compatibility version of the implementation. */
#define DISTCACHE_CLIENT_BINARY 0x0001

/* A connection policy and its connection to one cache server. Opaque. Use
 * one context per thread: a context is not locked, but different contexts
 * may be used by different threads at the same time. */
typedef struct st_DC_CTX DC_CTX;

/* DC_CTX_new() flags. */

/* Keep one connection for every operation. Without it, each operation
 * connects, sends one request, reads its answer and disconnects. */
#define DC_CTX_FLAG_PERSISTENT          (unsigned int)0x0001
/* Before each operation, reconnect if the process id changed since the
 * connection was made (the context was inherited across fork()), so parent
 * and child never share a socket. */
#define DC_CTX_FLAG_PERSISTENT_PIDCHECK (unsigned int)0x0002
/* When the persistent connection fails during an operation, reconnect and
 * resend it once before giving up. */
#define DC_CTX_FLAG_PERSISTENT_RETRY    (unsigned int)0x0004
/* Do not connect in DC_CTX_new(); connect at the first operation. */
#define DC_CTX_FLAG_PERSISTENT_LATE     (unsigned int)0x0008

/* Session lifetimes are in milliseconds and must exceed this. This library
 * raises a timeout of DC_MIN_TIMEOUT or less to DC_MIN_TIMEOUT + 1 instead of
 * aborting, as the original did. */
#define DC_MIN_TIMEOUT                  500

/* Creates a context for the server or dc_client proxy at `target', a libnal
 * address: "UNIX:/path/to/socket" or "IP:host:port". Returns NULL if the
 * target is NULL or not a connectable address, or if a PERSISTENT context
 * without LATE cannot connect. */
DC_CTX *DC_CTX_new(const char *target, unsigned int flags);

/* Closes the context's connection and frees it. NULL is ignored. */
void DC_CTX_free(DC_CTX *ctx);

/* Stores `sess_len' bytes at `sess_data' under the `id_len'-byte id at
 * `id_data' for `timeout_msecs' milliseconds. Returns 1 if the server stored
 * it, 0 otherwise (including an id that is already stored, ids of 0 or more
 * than 64 bytes, sessions that do not fit in 32768 bytes with their id plus
 * 8, and NULL pointers). */
int DC_CTX_add_session(DC_CTX *ctx,
                       const unsigned char *id_data,
                       unsigned int id_len,
                       const unsigned char *sess_data,
                       unsigned int sess_len,
                       unsigned long timeout_msecs);

/* Removes the session with the given id. Returns 1 if one was removed, 0 if
 * there was none or the call failed. */
int DC_CTX_remove_session(DC_CTX *ctx,
                          const unsigned char *id_data,
                          unsigned int id_len);

/* Fetches the session with the given id. Returns 1 on a hit, 0 on a miss or
 * a failure. On a hit, *result_used is set to the session's full length and
 * the first min(length, result_size) bytes are copied to `result_storage'.
 * Pass a NULL `result_storage' to learn the length only; if the length
 * exceeds `result_size', call DC_CTX_reget_session() with a bigger buffer.
 * Sessions of fewer than 5 bytes cannot be fetched (they look like status
 * answers on the wire) and count as misses. */
int DC_CTX_get_session(DC_CTX *ctx,
                       const unsigned char *id_data,
                       unsigned int id_len,
                       unsigned char *result_storage,
                       unsigned int result_size,
                       unsigned int *result_used);

/* Hands out the session of the previous DC_CTX_get_session() on this context
 * again, by the same buffer rules, without network I/O. Returns 1 if that
 * call was a hit for the same id and no other operation came after it, 0
 * otherwise. */
int DC_CTX_reget_session(DC_CTX *ctx,
                         const unsigned char *id_data,
                         unsigned int id_len,
                         unsigned char *result_storage,
                         unsigned int result_size,
                         unsigned int *result_used);

/* Returns 1 if a session with the given id is stored, 0 if not, -1 if the
 * call failed. */
int DC_CTX_has_session(DC_CTX *ctx,
                       const unsigned char *id_data,
                       unsigned int id_len);

#ifdef __cplusplus
}
#endif

#endif /* HEADER_DISTCACHE_DC_CLIENT_H */
