//! The pipelined driver: one thread, one event loop, several persistent
//! connections, each keeping `--depth` requests in flight.
//!
//! Each connection writes its requests back to back and matches the
//! answers, which a server sends in order, against its FIFO of requests in
//! flight. Readiness is edge-triggered, so a connection is driven until it
//! would block both ways: read every answer that has arrived, check them,
//! top the pipeline up, write. One clock reading per pass stamps both the
//! answers just read and the requests about to be written, so a latency is
//! the time from queueing a request to reading its answer, including any
//! wait in this process's own loop.
//!
//! With `--rate`, each connection sends its requests on a schedule (one
//! every `interval`) instead of as soon as there is room in the pipeline,
//! and a latency counts from when its request was due. A server that falls
//! behind thus shows as growing latency rather than as a generator that
//! politely slows down (coordinated omission). Waits shorter than
//! [`SPIN_BELOW`] are spun, since `epoll_wait` cannot sleep less than a
//! millisecond.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use nal::{Connection, Interest, Selector, Stream, Token};

use super::gate::Gate;
use super::tally::{ConnectionFailure, Live, Tally};
use super::wire::{Read, Wire};
use super::workload::{Pending, Phase, Workload};

/// A connection with requests in flight and no answer for this long is
/// given up.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for events, so the deadline and stalls are noticed.
const TICK: Duration = Duration::from_millis(200);
/// Bytes of answers buffered per connection at least: several frames per
/// read syscall.
const MIN_INPUT_CAP: usize = 64 * 1024;
/// With `--rate`, a request due sooner than this is waited for by polling
/// without sleeping.
pub const SPIN_BELOW: Duration = Duration::from_millis(2);

/// One persistent connection and its workload.
struct Pipeline<W> {
    /// Connection number, for messages.
    no: usize,
    conn: Connection,
    /// The protocol's state for this connection.
    wire: W,
    pending: VecDeque<Pending>,
    work: Workload,
    /// Last answer, or when the pipeline last went from idle to busy.
    progress_at: Instant,
    open: bool,
    /// With `--rate`, when the next request is due.
    due: Option<Instant>,
    /// With `--rate`, the time between two requests.
    pace: Option<Duration>,
}

/// How the thread runs its pipelines.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Requests in flight per connection.
    pub depth: usize,
    /// With `--rate`: time between two requests of one connection.
    pub interval: Option<Duration>,
    /// Stop sending after this long.
    pub duration: Option<Duration>,
    /// Add every id before the timed phase.
    pub prefill: bool,
    /// With `--plot`: count answers per slice of this width too.
    pub slices: Option<Duration>,
}

/// Runs `pipelines` (connection number, connected stream, workload) to the
/// end: the prefill if asked, then, once every thread has reached
/// `gate`, the timed phase until the duration or every budget is spent.
pub fn run<W: Wire>(
    connections: Vec<(usize, Stream, Workload)>,
    settings: Settings,
    gate: &Gate,
    live: &Live,
) -> Tally {
    let mut tally = Tally::new();
    let selector = match Selector::new(1024) {
        Ok(s) => Some(s),
        Err(e) => {
            tally.error(|| format!("cannot create an event loop: {e}"));
            None
        }
    };
    let mut pipelines: Vec<Pipeline<W>> = Vec::with_capacity(connections.len());
    for (no, stream, work) in connections {
        let input_cap = MIN_INPUT_CAP.max(settings.depth * work.max_answer_len::<W>());
        let output_cap = settings.depth * work.max_request_len::<W>();
        let mut pipeline = Pipeline {
            no,
            conn: Connection::new(stream, input_cap, output_cap),
            wire: W::fresh(),
            pending: VecDeque::with_capacity(settings.depth),
            work,
            progress_at: Instant::now(),
            open: false,
            due: None,
            pace: settings.interval,
        };
        if let Some(selector) = &selector {
            // Both interests once: an edge-triggered writable event only
            // comes when the socket's send buffer frees up.
            let token = Token(pipelines.len());
            match selector.register(
                &mut pipeline.conn,
                token,
                Interest::READABLE | Interest::WRITABLE,
            ) {
                Ok(()) => pipeline.open = true,
                Err(e) => tally.failed(no, &e.into(), 0),
            }
        }
        pipelines.push(pipeline);
    }
    let mut event_loop = selector.map(|selector| EventLoop {
        selector,
        pipelines,
        depth: settings.depth,
        interval: settings.interval,
        ready: Vec::new(),
    });
    if settings.prefill {
        if let Some(event_loop) = &mut event_loop {
            event_loop.drive(Phase::Prefill, None, &mut tally, live);
        }
    }
    // Every thread must reach the barrier, whatever happened, or the
    // others would wait for ever.
    gate.wait();
    let started = Instant::now();
    tally.start_timed(started, settings.slices);
    if let Some(event_loop) = &mut event_loop {
        let deadline = settings.duration.map(|d| started + d);
        event_loop.schedule(started);
        event_loop.drive(Phase::Timed, deadline, &mut tally, live);
        event_loop.close_all();
    }
    tally.finished = Some(Instant::now());
    tally.publish(live);
    tally
}

struct EventLoop<W> {
    selector: Selector,
    pipelines: Vec<Pipeline<W>>,
    depth: usize,
    interval: Option<Duration>,
    /// The last poll's events (token, and whether the peer hung up), kept
    /// to reuse the allocation.
    ready: Vec<(usize, bool)>,
}

impl<W: Wire> EventLoop<W> {
    /// With `--rate`, sets each pipeline's first request due from `start`,
    /// staggered so that the connections do not send in step.
    fn schedule(&mut self, start: Instant) {
        let Some(interval) = self.interval else {
            return;
        };
        let count = u32::try_from(self.pipelines.len())
            .unwrap_or(u32::MAX)
            .max(1);
        for (i, p) in self.pipelines.iter_mut().enumerate() {
            let i = u32::try_from(i).unwrap_or(0);
            p.due = Some(start + interval * i / count);
        }
    }

    /// The earliest time a paced pipeline may send its next request.
    fn next_due(&self, phase: Phase, stopping: bool) -> Option<Instant> {
        if stopping {
            return None;
        }
        self.pipelines
            .iter()
            .filter(|p| p.open && p.pending.len() < self.depth && p.work.wants_more(phase))
            .filter_map(|p| p.due)
            .min()
    }

    /// Runs `phase` until every pipeline is done with it: nothing more to
    /// send (or past `deadline`) and nothing in flight.
    fn drive(&mut self, phase: Phase, deadline: Option<Instant>, tally: &mut Tally, live: &Live) {
        let mut stopping = false;
        let now = Instant::now();
        for key in 0..self.pipelines.len() {
            self.pump(key, phase, stopping, now, tally);
        }
        loop {
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                stopping = true;
            }
            if self.pipelines.iter().all(|p| {
                !p.open || (p.pending.is_empty() && (stopping || !p.work.wants_more(phase)))
            }) {
                return;
            }
            let mut wait = match deadline {
                Some(d) if !stopping => d.saturating_duration_since(now).min(TICK),
                _ => TICK,
            };
            let due = self.next_due(phase, stopping);
            if let Some(due) = due {
                let until = due.saturating_duration_since(now);
                wait = if until < SPIN_BELOW {
                    Duration::ZERO
                } else {
                    wait.min(until - SPIN_BELOW / 2)
                };
            }
            if let Err(e) = self.selector.poll(Some(wait)) {
                tally.error(|| format!("waiting for events failed: {e}"));
                self.close_all();
                return;
            }
            let now = Instant::now();
            // Collected first: pumping needs `self` mutably.
            let mut ready = std::mem::take(&mut self.ready);
            ready.clear();
            ready.extend(
                self.selector
                    .events()
                    .iter()
                    .map(|e| (e.token().0, e.is_read_closed() || e.is_error())),
            );
            for &(key, hangup) in &ready {
                if hangup {
                    if let Some(p) = self.pipelines.get_mut(key) {
                        p.conn.note_hangup();
                    }
                }
                self.pump(key, phase, stopping, now, tally);
            }
            self.ready = ready;
            // Paced pipelines whose next request has come due.
            if due.is_some_and(|d| d <= now) {
                for key in 0..self.pipelines.len() {
                    if self.pipelines[key].due.is_some_and(|d| d <= now) {
                        self.pump(key, phase, stopping, now, tally);
                    }
                }
            }
            for key in 0..self.pipelines.len() {
                let p = &self.pipelines[key];
                let waited = now.saturating_duration_since(p.progress_at);
                if p.open && !p.pending.is_empty() && waited > STALL_TIMEOUT {
                    let pending = p.pending.len();
                    self.close(key, &ConnectionFailure::Stalled { waited, pending }, tally);
                }
            }
            tally.publish(live);
        }
    }

    /// Drives pipeline `key` until it would block; closes it on failure.
    fn pump(&mut self, key: usize, phase: Phase, stopping: bool, now: Instant, tally: &mut Tally) {
        let Some(pipeline) = self.pipelines.get_mut(key) else {
            return; // a spurious event
        };
        if !pipeline.open {
            return;
        }
        if let Err(failure) = pipeline.pump(phase, stopping, self.depth, now, tally) {
            self.close(key, &failure, tally);
        }
    }

    fn close(&mut self, key: usize, failure: &ConnectionFailure, tally: &mut Tally) {
        if let Some(p) = self.pipelines.get_mut(key) {
            if p.open {
                p.open = false;
                tally.failed(p.no, failure, p.pending.len());
                p.pending.clear();
                let _ = self.selector.deregister(&mut p.conn);
            }
        }
    }

    fn close_all(&mut self) {
        for p in &mut self.pipelines {
            if p.open {
                p.open = false;
                let _ = self.selector.deregister(&mut p.conn);
            }
        }
    }
}

impl<W: Wire> Pipeline<W> {
    /// Reads and checks every answer that has arrived, refills the pipeline
    /// and writes, until nothing more can be done without waiting.
    fn pump(
        &mut self,
        phase: Phase,
        stopping: bool,
        depth: usize,
        mut now: Instant,
        tally: &mut Tally,
    ) -> Result<(), ConnectionFailure> {
        loop {
            let fill = self.conn.fill()?;
            if fill.bytes > 0 {
                now = Instant::now();
            }
            let taken = self.take_answers(now, tally)?;
            self.refill(phase, stopping, depth, now)?;
            self.conn.flush()?;
            if fill.eof {
                if self.pending.is_empty() && (stopping || !self.work.wants_more(phase)) {
                    return Ok(());
                }
                return Err(ConnectionFailure::Closed {
                    pending: self.pending.len(),
                });
            }
            // Reading stopped on a full buffer and bytes were taken out:
            // more may wait in the socket, and no new event will say so.
            if !(fill.full && taken > 0) {
                return Ok(());
            }
        }
    }

    /// Decodes and checks the whole answers in the input buffer. Returns
    /// how many bytes that used up (frames of an answer still incomplete
    /// count: the decoder absorbs them).
    fn take_answers(
        &mut self,
        now: Instant,
        tally: &mut Tally,
    ) -> Result<usize, ConnectionFailure> {
        let Pipeline {
            no,
            conn,
            wire,
            pending,
            work,
            progress_at,
            ..
        } = self;
        let mut taken = 0;
        loop {
            let oldest = pending.front().map(|p| p.operation);
            let (consumed, tag, operation, outcome) =
                match wire.read(conn.input().as_slice(), oldest)? {
                    Read::Partial { consumed } => {
                        conn.input_mut().consume(consumed);
                        return Ok(taken + consumed);
                    }
                    Read::Answer {
                        consumed,
                        tag,
                        operation,
                        outcome,
                    } => (consumed, tag, operation, outcome),
                };
            let request = if W::IN_ORDER {
                let Some(request) = pending.pop_front() else {
                    return Err(ConnectionFailure::Unsolicited(tag));
                };
                if tag != request.uid || operation.is_some_and(|op| op != request.operation) {
                    return Err(ConnectionFailure::OutOfOrder {
                        uid: request.uid,
                        op: request.operation,
                        got_uid: tag,
                        got_op: operation.unwrap_or(request.operation),
                    });
                }
                request
            } else {
                take_tagged(pending, tag)?
            };
            tally.answered(&request, now);
            match work.settle(&request, outcome, now) {
                Ok(answer) => tally.right(answer),
                Err(wrong) => tally
                    .error(|| format!("connection {no}: {wrong}; id {}", work.id_hex(wrong.index))),
            }
            conn.input_mut().consume(consumed);
            *progress_at = now;
            taken += consumed;
        }
    }

    /// Queues requests until `depth` are in flight or the phase has no
    /// more to send.
    fn refill(
        &mut self,
        phase: Phase,
        stopping: bool,
        depth: usize,
        now: Instant,
    ) -> Result<(), ConnectionFailure> {
        if self.pending.is_empty() {
            self.progress_at = now;
        }
        while self.pending.len() < depth && !stopping && self.work.wants_more(phase) {
            // Paced: stamped with when it was due, which may have passed.
            let stamp = match (phase, &mut self.due) {
                (Phase::Timed, Some(due)) if *due > now => break,
                (Phase::Timed, Some(due)) => *due,
                _ => now,
            };
            let max = self.work.max_request_len::<W>();
            if self.conn.output().space() < max {
                return Err(ConnectionFailure::OutputFull);
            }
            let mut planned = None;
            let (work, wire) = (&mut self.work, &mut self.wire);
            self.conn
                .output_mut()
                .extend_with(max, |out| {
                    planned = work.next_request(phase, wire, out, stamp)
                })
                .map_err(|_| ConnectionFailure::OutputFull)?;
            match planned {
                Some(request) => self.pending.push_back(request),
                None => break,
            }
            if let (Phase::Timed, Some(due), Some(interval)) = (phase, &mut self.due, self.pace) {
                *due += interval;
            }
        }
        Ok(())
    }
}

/// Takes the request tagged `tag` out of `pending`, for a protocol whose
/// answers may come in any order. Requests on different ids commute, so an
/// answer may overtake older requests unless one of them is on its id.
fn take_tagged(pending: &mut VecDeque<Pending>, tag: u32) -> Result<Pending, ConnectionFailure> {
    let Some(at) = pending.iter().position(|p| p.uid == tag) else {
        return Err(ConnectionFailure::Unsolicited(tag));
    };
    let slot = pending[at].slot;
    if pending.iter().take(at).any(|p| p.slot == slot) {
        return Err(ConnectionFailure::Overtaken { tag });
    }
    pending
        .remove(at)
        .ok_or(ConnectionFailure::Unsolicited(tag))
}
