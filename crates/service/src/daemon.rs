//! Detaching from the terminal.

use std::io;

/// Detaches like the original's `daemon(0, 0)`: fork, new session, working
/// directory `/`, standard streams to /dev/null. Call it before any thread
/// is started, and resolve relative paths first.
pub fn daemonize() -> io::Result<()> {
    nix::unistd::daemon(false, false).map_err(io::Error::from)
}
