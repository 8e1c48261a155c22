//! Why a connection was given up, by side: [`UpstreamLoss`] blames the cache
//! server (or the network to it), [`ClientClose`] blames one local client.
//! The driver logs them; which side is at fault decides who pays — every
//! request in flight for an upstream loss, one connection for a client's.

use std::time::Duration;

use dc_protocol::{DecodeError, Operation};
use thiserror::Error;

/// Why the connection to the cache server was dropped (or never made).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UpstreamLoss {
    /// The server closed the connection.
    #[error("the server closed the connection")]
    Closed,
    /// Reading from or writing to the server failed.
    #[error("{0}")]
    Io(String),
    /// The connect failed (the text names the address and the reason).
    #[error("{0}")]
    ConnectFailed(String),
    /// The TLS handshake failed or TLS broke later: the server's
    /// certificate is not trusted or does not name the server, the server
    /// refused our certificate, or it does not speak TLS. The text gives
    /// rustls' reason.
    #[error("{0}")]
    Tls(String),
    /// The connect did not complete within the upstream timeout.
    #[error("the connect did not complete within {0:?} (-timeout)")]
    ConnectTimeout(Duration),
    /// The server sent bytes that are not valid distcache 1.x responses
    /// (a wrong version, a request frame, a corrupt header...).
    #[error("protocol error from the server: {0}")]
    Protocol(DecodeError),
    /// An answer whose request_uid no request is waiting for.
    #[error("the server answered request_uid {0}, which no request is waiting for")]
    UnknownUid(u32),
    /// An answer to a request of another operation.
    #[error("the server answered request_uid {uid} as a {found}, but it was a {expected}")]
    WrongOperation {
        /// The upstream request_uid.
        uid: u32,
        /// The operation forwarded under that uid.
        expected: Operation,
        /// The operation of the answer.
        found: Operation,
    },
    /// A 1.x answer that does not fit its request (an empty payload, a
    /// status the operation cannot have).
    #[error(
        "the server answered request_uid {uid} ({operation}) with {len} bytes that fit no answer"
    )]
    BadAnswer {
        /// The upstream request_uid.
        uid: u32,
        /// The operation forwarded under that uid.
        operation: &'static str,
        /// The answer's payload length.
        len: usize,
    },
    /// The extension went wrong: a broken answer to the probe, or an
    /// extended answer that does not fit its request.
    #[error("protocol extension: {0}")]
    Extension(String),
    /// A Redis server answered what cannot be read, refused the
    /// connection's AUTH or SELECT, or answered more than was asked.
    #[error("redis: {0}")]
    Redis(String),
    /// The oldest request in flight went unanswered for the upstream timeout.
    #[error("no answer from the server for {0:?} (-timeout)")]
    Stalled(Duration),
}

impl UpstreamLoss {
    /// The kind of loss, for counting.
    pub fn reason(&self) -> LossReason {
        match self {
            UpstreamLoss::Closed => LossReason::Closed,
            UpstreamLoss::Io(_) => LossReason::Io,
            UpstreamLoss::ConnectFailed(_) => LossReason::ConnectFailed,
            UpstreamLoss::Tls(_) => LossReason::Tls,
            UpstreamLoss::ConnectTimeout(_) => LossReason::ConnectTimeout,
            UpstreamLoss::Protocol(_) => LossReason::Protocol,
            UpstreamLoss::UnknownUid(_) => LossReason::UnknownUid,
            UpstreamLoss::WrongOperation { .. } => LossReason::WrongOperation,
            UpstreamLoss::BadAnswer { .. }
            | UpstreamLoss::Extension(_)
            | UpstreamLoss::Redis(_) => LossReason::Protocol,
            UpstreamLoss::Stalled(_) => LossReason::Stalled,
        }
    }
}

/// The kinds of [`UpstreamLoss`], as counted in the metrics
/// (`distcache_client_upstream_losses_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LossReason {
    /// [`UpstreamLoss::Closed`].
    Closed,
    /// [`UpstreamLoss::Io`].
    Io,
    /// [`UpstreamLoss::ConnectFailed`].
    ConnectFailed,
    /// [`UpstreamLoss::Tls`].
    Tls,
    /// [`UpstreamLoss::ConnectTimeout`].
    ConnectTimeout,
    /// [`UpstreamLoss::Protocol`].
    Protocol,
    /// [`UpstreamLoss::UnknownUid`].
    UnknownUid,
    /// [`UpstreamLoss::WrongOperation`].
    WrongOperation,
    /// [`UpstreamLoss::Stalled`].
    Stalled,
}

impl LossReason {
    /// Every reason, in index order (`reason as usize`).
    pub const ALL: [LossReason; 9] = [
        LossReason::Closed,
        LossReason::Io,
        LossReason::ConnectFailed,
        LossReason::Tls,
        LossReason::ConnectTimeout,
        LossReason::Protocol,
        LossReason::UnknownUid,
        LossReason::WrongOperation,
        LossReason::Stalled,
    ];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            LossReason::Closed => "closed",
            LossReason::Io => "io",
            LossReason::ConnectFailed => "connect_failed",
            LossReason::Tls => "tls",
            LossReason::ConnectTimeout => "connect_timeout",
            LossReason::Protocol => "protocol",
            LossReason::UnknownUid => "unknown_uid",
            LossReason::WrongOperation => "wrong_operation",
            LossReason::Stalled => "stalled",
        }
    }
}

/// Why the multiplexer closed a local client's connection.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClientClose {
    /// The client sent bytes that are not valid distcache 1.x requests. The
    /// stream cannot be resynchronised, so the connection goes.
    #[error("protocol error: {0}")]
    Protocol(DecodeError),
    /// A RESP or memcache client sent what its protocol cannot go on from
    /// (the codec's own error answer was sent first).
    #[error("{protocol} protocol error: {message}")]
    Codec {
        /// The protocol spoken.
        protocol: dc_ops::Protocol,
        /// What was wrong.
        message: String,
    },
    /// The client let its unread answers pile up past the output cap.
    #[error("it does not read its answers ({pending} bytes waiting, cap {cap})")]
    NotReading {
        /// Bytes of answers already waiting for it.
        pending: usize,
        /// The cap ([`CLIENT_OUTPUT_CAP`](crate::mux::CLIENT_OUTPUT_CAP)).
        cap: usize,
    },
    /// No request in progress and no traffic for the `-idle` period.
    #[error("idle for {0:?} (-idle)")]
    Idle(Duration),
}

/// A new local client was refused: the `-max-clients` limit is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("{max} local clients connected already (-max-clients), every one busy")]
pub struct AtCapacity {
    /// The limit.
    pub max: usize,
}

impl From<DecodeError> for ClientClose {
    fn from(e: DecodeError) -> ClientClose {
        ClientClose::Protocol(e)
    }
}
