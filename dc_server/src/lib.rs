//! dc_server's command line as a library, so that the man page and shell
//! completion generator (`dc_docgen`) reads the same clap definitions the
//! binary parses with. The serving itself is in `dc_engine`.
#![forbid(unsafe_code)]

pub mod args;
