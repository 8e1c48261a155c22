//! `dc_test`: the program is in the library (`dc_test::run`), whose
//! `args` module also gives `dc_docgen` the clap definitions.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    dc_test::run()
}
