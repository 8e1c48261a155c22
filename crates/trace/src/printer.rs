//! Turns events into output text: text or JSON lines, or quiet summaries.
//!
//! The printer only fills a buffer; whoever drives it decides where and
//! when the text is written ([`Printer::take_output`]), so that a slow
//! terminal or pipe never holds up the relay.

use std::time::Duration;

use crate::event::{Event, EventKind, Observer};
use crate::summary::{Report, Summary};
use crate::time::Timestamp;
use crate::{json, text};

/// How the trace is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Readable lines (see [`crate::text`]).
    #[default]
    Text,
    /// One JSON object per line (see [`crate::json`]).
    Json,
}

/// What the printer prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PrinterConfig {
    /// Text or JSON.
    pub format: Format,
    /// Also dump every command's payload in hex.
    pub hex: bool,
    /// Quiet mode: instead of a line per event, a summary every this often
    /// (undecodable connections are still reported as they happen, and a
    /// summary of the whole run ends the output).
    pub summary: Option<Duration>,
}

/// Formats events into an output buffer; see the module doc.
#[derive(Debug)]
pub struct Printer {
    config: PrinterConfig,
    summary: Option<Summary>,
    out: String,
}

impl Printer {
    /// A printer whose summary periods (if any) count from `now`.
    pub fn new(config: PrinterConfig, now: Timestamp) -> Printer {
        Printer {
            config,
            summary: config.summary.map(|period| Summary::new(period, now)),
            out: String::new(),
        }
    }

    /// Text not yet taken.
    pub fn pending(&self) -> &str {
        &self.out
    }

    /// Takes the text gathered so far.
    pub fn take_output(&mut self) -> String {
        std::mem::take(&mut self.out)
    }

    /// Notes that `lines` lines of earlier output were dropped.
    pub fn dropped(&mut self, lines: u64, now: Timestamp) {
        match self.config.format {
            Format::Text => {
                let _ = text::write_dropped(&mut self.out, now, lines);
            }
            Format::Json => json::push_line(&mut self.out, &json::dropped_value(now, lines)),
        }
    }

    /// Ends the output: in quiet mode, the summary of the whole run.
    pub fn finish(&mut self, now: Timestamp) {
        if let Some(summary) = &mut self.summary {
            if let Some(report) = summary.take_due(now) {
                write_report(&mut self.out, self.config, &report);
            }
            let total = summary.total(now);
            write_report(&mut self.out, self.config, &total);
        }
    }
}

fn write_report(out: &mut String, config: PrinterConfig, report: &Report) {
    match config.format {
        Format::Text => {
            let _ = text::write_report(out, report);
        }
        Format::Json => json::push_line(out, &json::report_value(report)),
    }
}

impl Observer for Printer {
    fn event(&mut self, event: &Event<'_>) {
        if let Some(summary) = &mut self.summary {
            summary.record(event);
            if !matches!(event.kind, EventKind::Undecodable(_)) {
                return;
            }
        }
        match self.config.format {
            Format::Text => {
                let _ = text::write_event(&mut self.out, event, self.config.hex);
            }
            Format::Json => {
                json::push_line(&mut self.out, &json::event_value(event, self.config.hex))
            }
        }
    }

    fn idle(&mut self, now: Timestamp) {
        if let Some(report) = self.summary.as_mut().and_then(|s| s.take_due(now)) {
            write_report(&mut self.out, self.config, &report);
        }
    }

    fn wake_at(&self) -> Option<Timestamp> {
        self.summary.as_ref().map(Summary::due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::ConnectionTrace;
    use crate::event::{CloseReason, Direction};
    use dc_protocol::{encode, CommandHeader, Operation};

    fn at(ms: u64) -> Timestamp {
        Timestamp::from_unix_micros(1_795_460_308_000_000 + ms * 1000)
    }

    /// A connection that does one GET miss, traced by `printer`.
    fn traffic(printer: &mut Printer) {
        let mut trace = ConnectionTrace::open(0, at(0), "c", "s", printer);
        let mut bytes = Vec::new();
        encode(&mut bytes, CommandHeader::request(1, Operation::Get), b"k").unwrap();
        trace.feed(Direction::ClientToServer, &bytes, at(1), printer);
        bytes.clear();
        encode(&mut bytes, CommandHeader::response(1, Operation::Get), &[1]).unwrap();
        trace.feed(Direction::ServerToClient, &bytes, at(2), printer);
        trace.feed(Direction::ClientToServer, b"junk", at(3), printer);
        trace.close(&CloseReason::Finished, at(4), printer);
    }

    #[test]
    fn text_mode_prints_every_event() {
        let mut printer = Printer::new(PrinterConfig::default(), at(0));
        traffic(&mut printer);
        assert_eq!(printer.wake_at(), None);
        let out = printer.take_output();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 5, "{out}");
        assert!(lines[1].ends_with("#0 c->s uid=1 GET id=6b payload=1"));
        assert!(lines[2].contains("#0 s->c uid=1 GET id=6b payload=1 result=miss rtt=1.000ms"));
        assert!(lines[3].contains("UNDECODABLE at byte 15"));
        assert!(printer.pending().is_empty());
    }

    #[test]
    fn json_mode_prints_one_object_per_line() {
        let config = PrinterConfig {
            format: Format::Json,
            ..PrinterConfig::default()
        };
        let mut printer = Printer::new(config, at(0));
        traffic(&mut printer);
        printer.dropped(3, at(5));
        let out = printer.take_output();
        let events: Vec<String> = out
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["event"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(
            events,
            [
                "open",
                "request",
                "response",
                "undecodable",
                "closed",
                "dropped"
            ]
        );
    }

    #[test]
    fn quiet_mode_prints_summaries_and_undecodables_only() {
        let config = PrinterConfig {
            summary: Some(Duration::from_secs(1)),
            ..PrinterConfig::default()
        };
        let mut printer = Printer::new(config, at(0));
        traffic(&mut printer);
        printer.idle(at(500));
        let out = printer.take_output();
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(out.contains("UNDECODABLE"));
        assert_eq!(printer.wake_at(), Some(at(1000)));
        printer.idle(at(1000));
        let out = printer.take_output();
        assert!(
            out.contains("summary (last 1.000s): connections opened=1 closed=1 open=0 undecodable=1; requests ADD=0 GET=1 REMOVE=0 HAVE=0; responses GET:miss=1"),
            "{out}"
        );
        printer.finish(at(1500));
        let out = printer.take_output();
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(out.contains("summary (total 1.500s)"), "{out}");
        assert!(out.contains("GET:miss=1"), "{out}");
    }
}
