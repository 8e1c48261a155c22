//! The two sides of a protocol: a server codec serves requests by running
//! operations, a client codec sends operations and reads their replies.

use crate::{Op, OpKind, Protocol, Reply};

/// What a server codec calls to run an operation: the engine's executor on
/// a server, something that forwards it on a proxy.
pub trait Execute {
    /// Runs `op` and passes its outcome to `answer`. On a server `answer`
    /// runs while the store is locked, so a value is copied once, straight
    /// into the protocol's answer.
    fn execute(&mut self, op: &Op<'_>, answer: &mut dyn FnMut(&Reply<'_>));

    /// Facts about the server, for `INFO`, `stats` and `version`.
    fn info(&self) -> ServerInfo;
}

/// Facts a server reports about itself (Redis `INFO`, memcache `stats`).
/// Zero where unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerInfo {
    /// The process id.
    pub pid: u32,
    /// Seconds since the server started.
    pub uptime_secs: u64,
    /// The Unix time now, in seconds.
    pub unix_time: u64,
    /// Client connections open.
    pub connections: u64,
    /// Client connections accepted since start.
    pub connections_total: u64,
    /// Connections refused since start.
    pub connections_refused: u64,
    /// Requests served since start.
    pub commands: u64,
    /// Reads that found their key.
    pub hits: u64,
    /// Reads that did not.
    pub misses: u64,
    /// Values stored since start.
    pub stores: u64,
    /// Entries held.
    pub items: u64,
    /// Bytes of keys and values held.
    pub bytes: u64,
    /// Most bytes of keys and values held.
    pub max_bytes: u64,
    /// Entries pushed out to make room.
    pub evictions: u64,
    /// Worker threads.
    pub threads: u32,
    /// CPU time used in user mode, in microseconds.
    pub cpu_user_us: u64,
    /// CPU time used by the system on the process's behalf, in microseconds.
    pub cpu_system_us: u64,
}

/// What one call to [`ServerCodec::serve`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The front of the input is not a whole request yet: call again when
    /// more has arrived. Nothing was consumed.
    Incomplete,
    /// `consumed` bytes were used up (a whole request answered, or bytes of
    /// a refused request skipped).
    Consumed {
        /// Input bytes to discard.
        consumed: usize,
        /// Requests answered (0 while skipping a refused value).
        requests: usize,
        /// The client asked to close (`QUIT`): send what `out` holds, then
        /// close.
        close: bool,
    },
}

/// The server side of a protocol: it reads requests, runs their operations
/// on an [`Execute`], and writes the answers.
pub trait ServerCodec {
    /// Why the stream cannot go on (it cannot be resynchronised: the
    /// connection is closed after the answers already written).
    type Error: std::error::Error + Send + Sync + 'static;

    /// Serves at most one request from the front of `input`, appending its
    /// answer to `out`.
    fn serve(
        &mut self,
        input: &[u8],
        exec: &mut dyn Execute,
        out: &mut Vec<u8>,
    ) -> Result<Step, Self::Error>;

    /// Whether part of a request has been consumed but not answered (a
    /// connection that ends now ends mid-request).
    fn in_request(&self) -> bool {
        false
    }

    /// The protocol being spoken (memcache tells text from binary by the
    /// first byte, so this may change after the first `serve`).
    fn protocol(&self) -> Protocol;
}

/// How a client codec's answers find their requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Correlation {
    /// Each answer carries its request's tag (memcache binary's opaque,
    /// distcache's request id): answers may come in any order.
    Tagged,
    /// Answers come in request order and carry no tag (RESP, memcache
    /// text): the tag returned is the one given to the oldest request.
    Fifo,
}

/// The client side of a protocol: it writes operations as requests and
/// reads the replies.
pub trait ClientCodec {
    /// Why a reply cannot be read.
    type Error: std::error::Error + Send + Sync + 'static;

    /// How replies are matched to requests.
    const CORRELATION: Correlation;

    /// Appends the request for `op`, tagged `tag` where the protocol carries
    /// tags. Fails for an operation the protocol cannot express.
    fn encode(&mut self, tag: u32, op: &Op<'_>, out: &mut Vec<u8>) -> Result<(), Self::Error>;

    /// Reads the reply at the front of `input` to a request of kind `kind`
    /// (for [`Correlation::Fifo`], the oldest one outstanding): the bytes
    /// used, the tag, and the reply; `None` while it is incomplete.
    #[allow(clippy::type_complexity)]
    fn decode_reply<'a>(
        &mut self,
        input: &'a [u8],
        kind: OpKind,
    ) -> Result<Option<(usize, u32, Reply<'a>)>, Self::Error>;
}
