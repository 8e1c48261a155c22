//! A descriptor held in reserve for when the process runs out of them.
//!
//! When `accept` fails with `EMFILE` (this process's limit) or `ENFILE`
//! (the system's), the connection stays in the listen backlog, the
//! listener stays readable, and a loop that retries at once spins while the
//! client waits for nothing. The classic way out (libev's and nginx's
//! documentation describe it): keep one descriptor open on `/dev/null`;
//! when out of descriptors, close it, accept the pending connection into
//! the freed slot, then either keep it (if another connection was closed
//! to make room) or close it at once, so the client learns at once instead
//! of timing out, and reopen the spare.

use std::fs::File;
use std::io;

use nix::errno::Errno;

/// Whether `e` says the process or the system is out of descriptors.
pub fn is_out_of_descriptors(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error().map(Errno::from_raw),
        Some(Errno::EMFILE | Errno::ENFILE)
    )
}

/// One descriptor kept open so that it can be given up when accept runs
/// out; see the module documentation.
#[derive(Debug)]
pub struct SpareDescriptor {
    file: Option<File>,
}

impl SpareDescriptor {
    /// Opens the spare (holding none if even that fails: then
    /// [`release`](Self::release) has nothing to give).
    pub fn new() -> SpareDescriptor {
        let mut spare = SpareDescriptor { file: None };
        spare.restore();
        spare
    }

    /// Whether the spare is held.
    pub fn is_held(&self) -> bool {
        self.file.is_some()
    }

    /// Closes the spare so that the next descriptor can be allocated.
    /// Returns whether one was held.
    pub fn release(&mut self) -> bool {
        self.file.take().is_some()
    }

    /// Reopens the spare if it is not held. Returns whether it is held now
    /// (not if the process is still out of descriptors).
    pub fn restore(&mut self) -> bool {
        if self.file.is_none() {
            self.file = File::open("/dev/null").ok();
        }
        self.file.is_some()
    }
}

impl Default for SpareDescriptor {
    fn default() -> Self {
        SpareDescriptor::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emfile_and_enfile_are_out_of_descriptors_and_nothing_else_is() {
        for errno in [Errno::EMFILE, Errno::ENFILE] {
            assert!(is_out_of_descriptors(&io::Error::from_raw_os_error(
                errno as i32
            )));
        }
        assert!(!is_out_of_descriptors(&io::Error::from_raw_os_error(
            Errno::ECONNABORTED as i32
        )));
        assert!(!is_out_of_descriptors(&io::ErrorKind::WouldBlock.into()));
    }

    #[test]
    fn the_spare_is_given_up_and_taken_back() {
        let mut spare = SpareDescriptor::new();
        assert!(spare.is_held());
        assert!(spare.release());
        assert!(!spare.release(), "nothing left to give");
        assert!(spare.restore());
        assert!(spare.is_held());
    }
}
