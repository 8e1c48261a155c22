//! dc_snoop's command line as a library, so that the man page and shell
//! completion generator (`dc_docgen`) reads the same clap definitions the
//! binary parses with. The relaying and decoding are in `dc_trace`.
#![forbid(unsafe_code)]

pub mod args;
