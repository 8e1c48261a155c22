//! Sans-IO codec for the distcache 1.x wire protocol.
//!
//! This crate turns bytes into typed commands and typed commands into bytes,
//! and nothing else: it owns no socket, reads no clock and never blocks. The
//! server, the `dc_client` proxy, the blocking client library and `dc_snoop`
//! all drive it from their own I/O loops.
//!
//! The layers, bottom up:
//!
//! * [`frame`] — the 14-byte frame header, its field checks and constants.
//! * [`Decoder`] — incremental reassembly: feed it whatever bytes have
//!   arrived, in any split, and it yields whole [`Command`]s, borrowing the
//!   payload from the input when a command fits in one frame.
//! * [`encode`] — fragmenting a payload into frames exactly as the original
//!   tools do, so that old receivers accept what we send.
//! * [`Request`] / [`Response`] — the payload encodings of ADD, GET, REMOVE
//!   and HAVE, and the one-byte [`Status`] codes.
//!
//! * [`extension`] — the distcache-rs extension (SET, REPLACE, counters,
//!   flags, TOUCH, long keys), negotiated per connection by a probe every
//!   1.x server answers harmlessly.
//!
//! A malformed input is a typed error ([`DecodeError`], [`RequestError`]),
//! never a panic: every decoder here is meant to be fed hostile bytes.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod decoder;
pub mod encoder;
pub mod error;
pub mod extension;
pub mod frame;
pub mod ops;
pub mod request;
pub mod response;

pub use decoder::{Command, Decoded, Decoder};
pub use encoder::{encode, encode_parts, encoded_len, CommandHeader};
pub use error::{DecodeError, EncodeError, RequestError, ResponseError};
pub use frame::{
    FrameHeader, Kind, Operation, HEADER_LEN, MAX_FRAMES, MAX_FRAME_DATA, MAX_FRAME_LEN,
    MAX_ID_LEN, MAX_PAYLOAD, MAX_TIMEOUT_MS, PROTO_LEVEL, PROTO_VERSION,
};
pub use request::Request;
pub use response::{Response, Status};
