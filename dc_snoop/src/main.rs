//! dc_snoop: a transparent proxy that prints the distcache traffic it
//! relays. The relaying and decoding are in the `dc_trace` crate; this
//! binary reads the command line, opens the output and runs the relay until
//! SIGINT or SIGTERM, then closes every connection (printing its totals) and
//! flushes the trace.
//!
//! The trace goes to standard output (or `-output FILE`); log lines (the
//! listening address, connect failures) go to standard error.
#![forbid(unsafe_code)]

mod output;

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::process::ExitCode;

use dc_trace::{Printer, Relay, RelayConfig, Stopped};

use crate::output::{Batching, Output, OUTPUT_QUEUE};
use dc_snoop::args::Args;

fn main() -> ExitCode {
    let config = dc_cli::parse::<Args>()
        .validate()
        .unwrap_or_else(|e| dc_cli::fail(e));
    dc_cli::init_logging();
    let mut relay = Relay::bind(RelayConfig {
        listen: config.listen.clone(),
        server: config.server.clone(),
        max_connections: config.max_connections,
    })
    .unwrap_or_else(|e| dc_cli::fail(e));
    let sink = open_sink(&config.output).unwrap_or_else(|e| dc_cli::fail(e));
    let clock = relay.clock();
    let printer = Printer::new(config.printer, clock.now());
    let mut output = Output::start(printer, sink, OUTPUT_QUEUE, Batching::DEFAULT)
        .unwrap_or_else(|e| dc_cli::fail(format_args!("cannot start the trace writer: {e}")));

    let result = relay.run(&mut output);
    let dropped = output.finish(clock.now());
    if dropped > 0 {
        log::warn!("{dropped} trace lines were dropped because the output did not keep up");
    }
    match result {
        Ok(Stopped::Signal(signal)) => {
            log::info!("stopped by signal {signal}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            log::error!("{e}");
            eprintln!("Error, {e}");
            ExitCode::FAILURE
        }
    }
}

/// The trace's destination. Standard output is used through a duplicate of
/// its descriptor, so each batch of lines is one write rather than one per
/// line (Rust's `Stdout` flushes at every newline).
fn open_sink(path: &Option<std::path::PathBuf>) -> Result<Box<dyn Write + Send>, String> {
    match path {
        Some(path) => File::create(path)
            .map(|f| Box::new(f) as Box<dyn Write + Send>)
            .map_err(|e| format!("cannot write the trace to {}: {e}", path.display())),
        None => io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .map(|fd| Box::new(File::from(fd)) as Box<dyn Write + Send>)
            .map_err(|e| format!("cannot use standard output: {e}")),
    }
}
