//! Fitting the connection limit to the open-files limit, as Redis fits
//! `maxclients`: raise the soft `RLIMIT_NOFILE` to the hard one at start,
//! keep back the descriptors the process needs besides its connections, and
//! lower the connection limit to what is left if it does not fit, saying so.
//!
//! Then the connection limit, not the kernel, is what a flood runs into:
//! the excess is handled by the event loop's admission (an idle connection
//! closed to make room, or the newcomer accepted and closed) instead of
//! `accept` failing with `EMFILE` and the newcomer waiting in the backlog.

use nix::sys::resource::{getrlimit, setrlimit, Resource};
use thiserror::Error;

/// Descriptors any service keeps back besides its own sockets: the three
/// standard streams, `-logfile`, `-pidfile`, the signal pipe (two ends), the
/// spare descriptor kept for accepting and closing when out of descriptors,
/// and a slack of 8 for libraries (the user and group lookups of `-user`,
/// `-sockowner`, `-sockgroup`; a certificate file being read).
pub const BASE_RESERVE: u64 = 3 + 1 + 1 + 2 + 1 + 8;

/// Descriptors kept back for the metrics exporter (`-metrics`): its
/// listener and, for each of up to 4 scrapes at once, the connection and
/// the duplicate of it that tiny_http makes.
pub const METRICS_RESERVE: u64 = 1 + 4 * 2;

/// Why the connections cannot be fitted.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DescriptorError {
    /// The open-files limit leaves no descriptor for a single connection.
    #[error(
        "{option} {requested}: no room for any connection: the open files limit is {limit} \
         and {reserve} descriptors are kept for listeners, logs, metrics and the like; raise \
         the limit (ulimit -n) to at least {}",
        reserve + 1
    )]
    TooFew {
        /// The option being fitted (`-max-connections`, `-max-clients`).
        option: &'static str,
        /// What it asked for.
        requested: usize,
        /// The soft open-files limit.
        limit: u64,
        /// The descriptors kept back.
        reserve: u64,
    },
}

/// The connection limit that fits, and what to say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fitted {
    /// Connections to accept at most.
    pub connections: usize,
    /// Why that is less than asked, for the start-up line (`None`: as asked).
    pub notice: Option<String>,
}

/// Raises the soft open-files limit to the hard one and returns the soft
/// limit now in force (`None` if it cannot be read: then nothing is fitted).
/// A failure to raise keeps the old soft limit, which the fit then uses.
pub fn raise_open_files_limit() -> Option<u64> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    if soft >= hard {
        return Some(soft);
    }
    match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
        Ok(()) => Some(hard),
        Err(e) => {
            log::debug!("cannot raise the open files limit from {soft} to {hard}: {e}");
            Some(soft)
        }
    }
}

/// Raises the open-files limit ([`raise_open_files_limit`]) and fits
/// `requested` connections (the value of `option`) into it, keeping
/// `reserve` descriptors back.
pub fn fit_connections(
    option: &'static str,
    requested: usize,
    reserve: u64,
) -> Result<Fitted, DescriptorError> {
    match raise_open_files_limit() {
        Some(limit) => fit(option, requested, reserve, limit),
        None => Ok(Fitted {
            connections: requested,
            notice: None,
        }),
    }
}

/// The pure part of [`fit_connections`]: `requested` connections within an
/// open-files limit of `limit`, `reserve` of which are kept back.
pub fn fit(
    option: &'static str,
    requested: usize,
    reserve: u64,
    limit: u64,
) -> Result<Fitted, DescriptorError> {
    let room = limit.saturating_sub(reserve);
    if room == 0 {
        return Err(DescriptorError::TooFew {
            option,
            requested,
            limit,
            reserve,
        });
    }
    let room = usize::try_from(room).unwrap_or(usize::MAX);
    if requested <= room {
        return Ok(Fitted {
            connections: requested,
            notice: None,
        });
    }
    Ok(Fitted {
        connections: room,
        notice: Some(format!(
            "{option} {requested} lowered to {room}: open files limit is {limit}"
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_fits_is_kept_and_what_does_not_is_lowered_with_a_notice() {
        let asked = fit("-max-connections", 100, 26, 256).unwrap();
        assert_eq!(asked.connections, 100);
        assert_eq!(asked.notice, None);
        let exact = fit("-max-connections", 230, 26, 256).unwrap();
        assert_eq!((exact.connections, exact.notice), (230, None));
        let lowered = fit("-max-connections", 4096, 26, 256).unwrap();
        assert_eq!(lowered.connections, 230);
        assert_eq!(
            lowered.notice.as_deref(),
            Some("-max-connections 4096 lowered to 230: open files limit is 256")
        );
        // An unlimited hard limit fits anything.
        let big = fit("-max-clients", 1_000_000, 26, u64::MAX).unwrap();
        assert_eq!(big.connections, 1_000_000);
    }

    #[test]
    fn a_limit_within_the_reserve_is_an_error_naming_both() {
        let e = fit("-max-clients", 1024, 30, 30).unwrap_err();
        assert_eq!(
            e,
            DescriptorError::TooFew {
                option: "-max-clients",
                requested: 1024,
                limit: 30,
                reserve: 30
            }
        );
        let text = e.to_string();
        assert!(
            text.contains("limit is 30") && text.contains("at least 31"),
            "{text}"
        );
        assert!(fit("-max-clients", 1, 30, 31).is_ok());
    }

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let limit = raise_open_files_limit().expect("RLIMIT_NOFILE is readable");
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        assert_eq!(soft, hard);
        assert_eq!(limit, soft);
    }
}
