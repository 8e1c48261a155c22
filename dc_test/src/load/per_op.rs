//! The `--new-conn-per-op` driver: every operation opens a connection,
//! sends one request, reads its answer and closes — the way Apache's
//! mod_ssl used the original distcache through `dc_client`. One blocking
//! client per thread; the latency of an operation runs from the start of
//! its connect to its answer.

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use dc_protocol::Operation;
use nal::{Address, BlockingStream};

use super::gate::Gate;
use super::tally::{ConnectionFailure, Live, Tally};
use super::wire::{self, Wire};
use super::workload::{Pending, Phase, Workload};

/// Longest wait for a connect, a write or an answer.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Publish to the progress counters every this many operations.
const PUBLISH_EVERY: u64 = 64;

/// How each client runs.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Add every id (over one connection) before the timed phase.
    pub prefill: bool,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// With `--plot`: count answers per slice of this width too.
    pub slices: Option<Duration>,
}

/// Runs client `no` to the end: the prefill (over one connection) if asked,
/// then, once every thread has reached `gate`, one connection per
/// operation until the duration or the budget is spent. The first failure
/// ends the client.
pub fn run<W: Wire>(
    no: usize,
    address: &Address,
    mut work: Workload,
    settings: Settings,
    gate: &Gate,
    live: &Live,
) -> Tally {
    let mut tally = Tally::new();
    let mut exchange = Exchange::<W>::new();
    let mut broken = false;
    if settings.prefill {
        let result = connect(address).and_then(|mut stream| {
            while let Some(request) = exchange.prepare(&mut work, Phase::Prefill) {
                exchange.round_trip(&mut stream, &request, &mut work, &mut tally, no)?;
            }
            Ok(())
        });
        if let Err(failure) = result {
            tally.failed(no, &failure, 1);
            broken = true;
        }
    }
    // Every thread must reach the barrier, whatever happened.
    gate.wait();
    let started = Instant::now();
    tally.start_timed(started, settings.slices);
    let deadline = settings.duration.map(|d| started + d);
    let mut unpublished = 0;
    while !broken && deadline.is_none_or(|d| Instant::now() < d) {
        let Some(request) = exchange.prepare(&mut work, Phase::Timed) else {
            break;
        };
        let result = connect(address).and_then(|mut stream| {
            exchange.round_trip(&mut stream, &request, &mut work, &mut tally, no)
        });
        if let Err(failure) = result {
            tally.failed(no, &failure, 1);
            broken = true;
        }
        unpublished += 1;
        if unpublished == PUBLISH_EVERY {
            unpublished = 0;
            tally.publish(live);
        }
    }
    tally.finished = Some(Instant::now());
    tally.publish(live);
    tally
}

fn connect(address: &Address) -> Result<BlockingStream, ConnectionFailure> {
    let stream = BlockingStream::connect(address, Some(IO_TIMEOUT))?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(stream)
}

/// Buffers for one request and its answer, reused across operations, and
/// the protocol's state for the one request.
struct Exchange<W> {
    request: Vec<u8>,
    input: Vec<u8>,
    chunk: Vec<u8>,
    wire: W,
}

impl<W: Wire> Exchange<W> {
    fn new() -> Self {
        Exchange {
            request: Vec::new(),
            input: Vec::new(),
            chunk: Vec::new(),
            wire: W::fresh(),
        }
    }

    /// Encodes the next request of `phase` into the request buffer. The
    /// send time is stamped now, before connecting.
    fn prepare(&mut self, work: &mut Workload, phase: Phase) -> Option<Pending> {
        self.request.clear();
        // Fresh protocol state per request: each answer is read from a
        // clean start, like a fresh connection.
        self.wire = W::fresh();
        work.next_request(phase, &mut self.wire, &mut self.request, Instant::now())
    }

    /// Sends the prepared request on `stream`, reads and checks its answer.
    fn round_trip(
        &mut self,
        stream: &mut BlockingStream,
        request: &Pending,
        work: &mut Workload,
        tally: &mut Tally,
        no: usize,
    ) -> Result<(), ConnectionFailure> {
        stream.write_all(&self.request)?;
        self.input.clear();
        self.chunk.resize(16 * 1024, 0);
        loop {
            let consumed = match self.wire.read(&self.input, Some(request.operation))? {
                wire::Read::Answer {
                    tag,
                    operation,
                    outcome,
                    ..
                } => {
                    let got_op = operation.unwrap_or(request.operation);
                    if tag != request.uid || got_op != request.operation {
                        return Err(out_of_order(request, tag, got_op));
                    }
                    let now = Instant::now();
                    tally.answered(request, now);
                    match work.settle(request, outcome, now) {
                        Ok(answer) => tally.right(answer),
                        Err(wrong) => tally.error(|| {
                            format!("client {no}: {wrong}; id {}", work.id_hex(wrong.index))
                        }),
                    }
                    return Ok(());
                }
                wire::Read::Partial { consumed } => consumed,
            };
            // Frames of a multi-frame answer are absorbed by the decoder.
            self.input.drain(..consumed);
            match stream.read(&mut self.chunk) {
                Ok(0) => return Err(ConnectionFailure::Closed { pending: 1 }),
                Ok(n) => self.input.extend_from_slice(&self.chunk[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Err(ConnectionFailure::Stalled {
                        waited: IO_TIMEOUT,
                        pending: 1,
                    })
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

fn out_of_order(request: &Pending, got_uid: u32, got_op: Operation) -> ConnectionFailure {
    ConnectionFailure::OutOfOrder {
        uid: request.uid,
        op: request.operation,
        got_uid,
        got_op,
    }
}
