//! Where the trace goes: a writer thread fed through a bounded queue, so
//! that a slow terminal or a stalled pipe never holds up the relay.
//!
//! The relay formats events into a batch and hands it to the queue without
//! waiting, once it holds [`BATCH_BYTES`] or its oldest line is
//! [`BATCH_DELAY`] old: handing over every loop pass would wake the writer
//! thread once per request, which on a busy cache costs more than the
//! relaying itself. If the queue is full (the output has fallen
//! [`OUTPUT_QUEUE`] batches behind), the batch is dropped and counted, and the
//! next batch that gets through starts with a line saying how many lines
//! were lost. Relayed bytes are never affected: only the trace is best
//! effort. When the output cannot be written at all (a closed pipe), the
//! relay goes on without it.

use std::io::{self, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::Duration;

use dc_trace::{Event, Observer, Printer, Timestamp};
use log::warn;

/// Batches of trace text (one per loop pass with something to print) that
/// may wait for the writer before further ones are dropped.
pub const OUTPUT_QUEUE: usize = 1024;

/// Text gathered before it is handed to the writer at once.
pub const BATCH_BYTES: usize = 64 * 1024;

/// Longest a line waits in a batch before the batch is handed over anyway.
pub const BATCH_DELAY: Duration = Duration::from_millis(50);

/// When a batch is handed to the writer.
#[derive(Debug, Clone, Copy)]
pub struct Batching {
    /// Once it holds this many bytes...
    pub bytes: usize,
    /// ...or its oldest line is this old.
    pub delay: Duration,
}

impl Batching {
    /// [`BATCH_BYTES`] and [`BATCH_DELAY`].
    pub const DEFAULT: Batching = Batching {
        bytes: BATCH_BYTES,
        delay: BATCH_DELAY,
    };
}

/// The trace's printer, its queue and its writer thread.
pub struct Output {
    printer: Printer,
    queue: Option<SyncSender<String>>,
    writer: Option<JoinHandle<()>>,
    /// Lines dropped since the last batch that got through.
    dropped: u64,
    /// Lines dropped in all.
    dropped_total: u64,
    batching: Batching,
    /// When the batch being gathered got its first line.
    batch_started: Option<Timestamp>,
}

impl Output {
    /// Starts the writer thread for `sink`, with room for `capacity` batches
    /// in the queue.
    pub fn start<W: Write + Send + 'static>(
        printer: Printer,
        sink: W,
        capacity: usize,
        batching: Batching,
    ) -> io::Result<Output> {
        let (queue, batches) = sync_channel(capacity);
        let writer = std::thread::Builder::new()
            .name("trace-writer".into())
            .spawn(move || write_batches(batches, sink))?;
        Ok(Output {
            printer,
            queue: Some(queue),
            writer: Some(writer),
            dropped: 0,
            dropped_total: 0,
            batching,
            batch_started: None,
        })
    }

    /// Hands what the printer gathered to the writer, without waiting, if
    /// the batch is due.
    fn send(&mut self, now: Timestamp) {
        let pending = self.printer.pending().len();
        if pending == 0 {
            return;
        }
        let started = *self.batch_started.get_or_insert(now);
        if pending < self.batching.bytes && now.saturating_since(started) < self.batching.delay {
            return;
        }
        self.batch_started = None;
        let batch = self.take_batch(now);
        let lines = batch.lines.max(1);
        let Some(queue) = &self.queue else {
            return;
        };
        match queue.try_send(batch.text) {
            Ok(()) => self.dropped = 0,
            Err(TrySendError::Full(_)) => {
                self.dropped += lines;
                self.dropped_total += lines;
            }
            // The writer is gone; `finish` reports why.
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    /// The printer's text, preceded by the notice of earlier drops if any.
    fn take_batch(&mut self, now: Timestamp) -> Batch {
        let events = self.printer.take_output();
        let lines = events.matches('\n').count() as u64;
        if self.dropped == 0 {
            return Batch {
                text: events,
                lines,
            };
        }
        self.printer.dropped(self.dropped, now);
        let mut text = self.printer.take_output();
        text.push_str(&events);
        Batch { text, lines }
    }

    /// Ends the trace: prints what is left (and, in quiet mode, the summary
    /// of the whole run), waits for the writer to write it all, and returns
    /// how many lines were dropped over the run.
    pub fn finish(mut self, now: Timestamp) -> u64 {
        self.printer.finish(now);
        if !self.printer.pending().is_empty() {
            let batch = self.take_batch(now);
            if let Some(queue) = &self.queue {
                let _ = queue.send(batch.text);
            }
        }
        self.queue = None;
        if let Some(writer) = self.writer.take() {
            if writer.join().is_err() {
                warn!("the trace writer failed; the end of the trace may be missing");
            }
        }
        self.dropped_total
    }
}

struct Batch {
    text: String,
    lines: u64,
}

impl Observer for Output {
    fn event(&mut self, event: &Event<'_>) {
        self.printer.event(event);
    }

    fn idle(&mut self, now: Timestamp) {
        self.printer.idle(now);
        self.send(now);
    }

    fn wake_at(&self) -> Option<Timestamp> {
        let batch_due = self
            .batch_started
            .map(|t| t.saturating_add(self.batching.delay));
        match (self.printer.wake_at(), batch_due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// The writer thread: writes each batch in one go. After a write error it
/// only drains the queue, so the relay is never held up.
fn write_batches<W: Write>(batches: Receiver<String>, mut sink: W) {
    let mut failed = false;
    for batch in batches {
        if failed {
            continue;
        }
        if let Err(e) = sink.write_all(batch.as_bytes()).and_then(|()| sink.flush()) {
            warn!("cannot write the trace ({e}); relaying goes on without it");
            failed = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dc_trace::{EventKind, PrinterConfig};
    use std::sync::mpsc::{channel, Receiver, Sender};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// A sink that announces each write, then waits for permission.
    struct Gated {
        written: Arc<Mutex<Vec<u8>>>,
        entered: Sender<()>,
        go: Receiver<()>,
    }

    impl Write for Gated {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let _ = self.entered.send(());
            self.go
                .recv_timeout(Duration::from_secs(10))
                .map_err(|_| io::Error::other("test gate timed out"))?;
            self.written.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    const EVERY_PASS: Batching = Batching {
        bytes: 0,
        delay: Duration::ZERO,
    };

    fn at(ms: u64) -> Timestamp {
        Timestamp::from_unix_micros(ms * 1000)
    }

    fn open(output: &mut Output, connection: u64) {
        output.event(&Event {
            time: at(0),
            connection,
            kind: EventKind::Opened {
                client: "c",
                server: "s",
            },
        });
        output.idle(at(0));
    }

    #[test]
    fn a_stalled_output_drops_whole_batches_and_says_so() {
        let written = Arc::new(Mutex::new(Vec::new()));
        let (entered_tx, entered) = channel();
        let (go, go_rx) = channel();
        let sink = Gated {
            written: Arc::clone(&written),
            entered: entered_tx,
            go: go_rx,
        };
        let printer = Printer::new(PrinterConfig::default(), at(0));
        let mut output = Output::start(printer, sink, 1, EVERY_PASS).unwrap();
        open(&mut output, 0);
        // The writer has taken batch 0 and is stuck writing it.
        entered.recv_timeout(Duration::from_secs(10)).unwrap();
        open(&mut output, 1); // waits in the queue
        open(&mut output, 2); // queue full: dropped
        open(&mut output, 3); // dropped
        go.send(()).unwrap(); // batch 0 written
        go.send(()).unwrap(); // batch 1 may be written too
                              // The writer has taken batch 1 off the queue.
        entered.recv_timeout(Duration::from_secs(10)).unwrap();
        open(&mut output, 4); // gets through, after the notice
        go.send(()).unwrap();
        assert_eq!(output.finish(at(1)), 2);
        let text = String::from_utf8(written.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].contains("#0 open"));
        assert!(lines[1].contains("#1 open"));
        assert!(lines[2].ends_with("dropped 2 trace lines: the output was not keeping up"));
        assert!(lines[3].contains("#4 open"));
    }

    #[test]
    fn lines_are_batched_by_size_and_age() {
        let written = Arc::new(Mutex::new(Vec::new()));
        struct Shared(Arc<Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let printer = Printer::new(PrinterConfig::default(), at(0));
        let batching = Batching {
            bytes: 1 << 20,
            delay: Duration::from_millis(50),
        };
        let mut output = Output::start(printer, Shared(Arc::clone(&written)), 4, batching).unwrap();
        let line = |output: &mut Output, n: u64, ms: u64| {
            output.event(&Event {
                time: at(ms),
                connection: n,
                kind: EventKind::Opened {
                    client: "c",
                    server: "s",
                },
            });
            output.idle(at(ms));
        };
        line(&mut output, 0, 10);
        assert_eq!(output.wake_at(), Some(at(60)), "the batch is due 50 ms on");
        line(&mut output, 1, 59);
        assert_eq!(
            output.printer.pending().lines().count(),
            2,
            "still gathering"
        );
        output.idle(at(60));
        assert!(output.printer.pending().is_empty(), "handed over when due");
        assert_eq!(output.wake_at(), None);
        output.finish(at(61));
        let text = String::from_utf8(written.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
    }

    #[test]
    fn a_broken_output_does_not_stop_the_trace() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let printer = Printer::new(PrinterConfig::default(), at(0));
        let mut output = Output::start(printer, Broken, 4, EVERY_PASS).unwrap();
        for n in 0..10 {
            open(&mut output, n);
        }
        output.finish(at(1));
    }
}
