//! `dc_test`: checks a distcache server or `dc_client` proxy by running
//! random operations on random sessions and comparing every answer with a
//! model of what the cache should hold. See [`verify`] for the model and
//! [`report`] for the output, which follows the original tool's.
//!
//! Its load mode ([`load`], selected by any load option) does the same
//! checking with many connections and pipelined requests, and measures
//! throughput and latency.
//!
//! The program lives here, behind [`run`], and `main.rs` only calls it:
//! that way [`args`] is public for `dc_docgen` (the man page and the
//! completions are made from its clap definitions) while the rest stays
//! private to the program, as it was in the binary.
#![forbid(unsafe_code)]

pub mod args;
mod load;
mod report;
mod verify;

use std::process::ExitCode;

use dc_ctx::{Client, Options, FLAG_PERSISTENT};

use crate::args::{Args, Config, Mode};

/// The whole program: parses the command line and runs the mode it asks
/// for (what `main` does).
pub fn run() -> ExitCode {
    dc_cli::init_logging();
    let mode = dc_cli::parse::<Args>()
        .mode()
        .unwrap_or_else(|e| dc_cli::fail(e));
    match mode {
        Mode::Verify(config) => verify_mode(&config),
        Mode::Load(config) => load::run(&config),
    }
}

/// The original tool: one client, one request at a time.
fn verify_mode(config: &Config) -> ExitCode {
    let mut client = connect(config)
        .unwrap_or_else(|reason| dc_cli::fail(format!("'DC_CTX' creation failed ({reason})")));
    let seed = config.seed.unwrap_or_else(rand::random);
    match report::verify(&mut client, config, seed, &mut std::io::stderr().lock()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) | Err(_) => ExitCode::FAILURE,
    }
}

/// The client the original made: one persistent connection or one per
/// operation. Retry stays off as in the original: a resent ADD that the
/// server had already stored would be refused and reported as a mismatch.
fn connect(config: &Config) -> Result<Client, String> {
    let address: nal::Address = config.connect.parse().map_err(|e| format!("{e}"))?;
    let flags = if config.persistent {
        FLAG_PERSISTENT
    } else {
        0
    };
    Client::new(&address, Options::from_flags(flags)).map_err(|e| e.to_string())
}
