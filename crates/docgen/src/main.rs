//! `dc_docgen OUTDIR`: writes the tools' man pages to OUTDIR/man and their
//! bash, zsh and fish completions to OUTDIR/completions (see the library
//! doc), and lists the files written. The pages are dated by
//! `SOURCE_DATE_EPOCH` when it is set, today otherwise.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Writes the distcache tools' man pages and shell completions.
#[derive(Debug, Parser)]
#[command(name = "dc_docgen", version)]
struct Args {
    /// Directory to write man/ and completions/ under (created if missing)
    #[arg(value_name = "OUTDIR")]
    outdir: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let epoch = std::env::var("SOURCE_DATE_EPOCH").ok();
    let written = dc_docgen::page_date(epoch.as_deref())
        .and_then(|date| dc_docgen::generate(&args.outdir, &date));
    match written {
        Ok(files) => {
            for file in files {
                println!("{}", file.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("Error, {e}");
            ExitCode::FAILURE
        }
    }
}
