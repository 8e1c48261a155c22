//! The distcache tools' man pages and shell completions, made from the clap
//! definitions the binaries parse their command lines with (each binary
//! crate's `args` module, through its lib target), so the pages cannot
//! drift from the options the programs accept.
//!
//! [`generate`] writes, under one directory:
//!
//! * `man/dc_server.1`, `man/dc_client.1`, `man/dc_test.1`, `man/dc_snoop.1`
//!   (clap_mangen's NAME, SYNOPSIS and OPTIONS, with our DESCRIPTION, EXIT
//!   STATUS, SIGNALS, ENVIRONMENT, NOTES and SEE ALSO around them), and
//!   `man/distcache.8`, the hand-written overview (`man/distcache.8` in this
//!   crate, with its date and version filled in);
//! * `completions/bash/<program>`, `completions/zsh/_<program>` and
//!   `completions/fish/<program>.fish` (clap_complete), named as the
//!   shells' completion directories expect.
//!
//! The `dc_docgen OUTDIR` binary runs it; `contrib/deb/build.sh` packages
//! the result.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod completions;
pub mod man;
mod programs;

use std::path::{Path, PathBuf};

pub use programs::{Item, Program, PROGRAMS};

/// What can go wrong while writing the pages.
#[derive(Debug, thiserror::Error)]
pub enum DocgenError {
    /// A file or directory under the output directory could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `SOURCE_DATE_EPOCH` is set but is not a time.
    #[error("SOURCE_DATE_EPOCH=\"{value}\" is not a number of seconds since 1970 ({reason})")]
    SourceDateEpoch {
        /// The variable's value, as set.
        value: String,
        /// Why it was refused.
        reason: String,
    },
}

/// The date the pages carry in their title line, as YYYY-MM-DD (UTC): the
/// day of `source_date_epoch` when given (the reproducible-builds
/// convention, `SOURCE_DATE_EPOCH`, which `contrib/deb/build.sh` sets to the
/// last commit's time), today otherwise.
pub fn page_date(source_date_epoch: Option<&str>) -> Result<String, DocgenError> {
    let timestamp = match source_date_epoch {
        None => jiff::Timestamp::now(),
        Some(value) => {
            let refuse = |reason: String| DocgenError::SourceDateEpoch {
                value: value.to_string(),
                reason,
            };
            let seconds: i64 = value.trim().parse().map_err(|e| refuse(format!("{e}")))?;
            jiff::Timestamp::from_second(seconds).map_err(|e| refuse(format!("{e}")))?
        }
    };
    Ok(timestamp.strftime("%Y-%m-%d").to_string())
}

/// Writes every man page and completion file under `outdir` (see the crate
/// doc for the layout), creating the directories, and returns the files
/// written, in a stable order.
pub fn generate(outdir: &Path, date: &str) -> Result<Vec<PathBuf>, DocgenError> {
    let mut files: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    for program in &PROGRAMS {
        files.push((
            Path::new("man").join(format!("{}.1", program.name)),
            man::program_page(program, date),
        ));
    }
    files.push((
        Path::new("man").join("distcache.8"),
        man::overview_page(date),
    ));
    for program in &PROGRAMS {
        for shell in completions::SHELLS {
            files.push((
                completions::relative_path(shell, program.name),
                completions::script(shell, program),
            ));
        }
    }
    let mut written = Vec::with_capacity(files.len());
    for (relative, contents) in files {
        let path = outdir.join(relative);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| DocgenError::Write {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        std::fs::write(&path, contents).map_err(|source| DocgenError::Write {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_date_epoch_sets_the_date() {
        assert_eq!(page_date(Some("0")).unwrap(), "1970-01-01");
        assert_eq!(page_date(Some("1764700000")).unwrap(), "2025-12-02");
    }

    #[test]
    fn a_bad_source_date_epoch_is_named() {
        let e = page_date(Some("yesterday")).unwrap_err().to_string();
        assert!(e.contains("\"yesterday\""), "{e}");
        let e = page_date(Some("99999999999999999"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"99999999999999999\""), "{e}");
    }

    #[test]
    fn without_source_date_epoch_the_date_is_today() {
        let date = page_date(None).unwrap();
        let today = jiff::Timestamp::now().strftime("%Y-%m-%d").to_string();
        // Around midnight the two calls may fall on either side of it.
        let yesterday = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1))
            .strftime("%Y-%m-%d")
            .to_string();
        assert!(date == today || date == yesterday, "{date}");
    }
}
