//! How a [`Client`](crate::Client) uses the network: one connection for
//! everything or one per operation, reconnect policy, and timeouts.

use std::time::Duration;

use crate::error::ArgumentError;

/// `DC_CTX_FLAG_PERSISTENT`: keep one connection for all operations.
pub const FLAG_PERSISTENT: u32 = 0x1;
/// `DC_CTX_FLAG_PERSISTENT_PIDCHECK`: reconnect in a forked child before
/// using the parent's connection.
pub const FLAG_PIDCHECK: u32 = 0x2;
/// `DC_CTX_FLAG_PERSISTENT_RETRY`: after a network error on the persistent
/// connection, reconnect once and resend.
pub const FLAG_RETRY: u32 = 0x4;
/// `DC_CTX_FLAG_PERSISTENT_LATE`: do not connect when the client is made;
/// connect at the first operation.
pub const FLAG_LATE: u32 = 0x8;

/// The io timeout of [`Options::default`] and [`Options::from_flags`].
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether operations share one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One connection carries every operation; it is (re)opened when needed.
    Persistent,
    /// Every operation opens a connection, sends one request, reads one
    /// answer and closes.
    PerOperation,
}

/// Connection policy of a [`Client`](crate::Client).
///
/// `retry`, `late_connect` and `pid_check` only matter in
/// [`Mode::Persistent`], as with the original flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Persistent or per-operation connections.
    pub mode: Mode,
    /// After a network error on the persistent connection (an I/O error or
    /// the server closing it), reconnect and resend the request once within
    /// the same call, with the same request_uid. Without it the call fails
    /// and the *next* call reconnects. Timeouts are never retried: a slow
    /// server would only be asked twice.
    ///
    /// A resent ADD may be refused as a duplicate if the first copy was
    /// stored before the connection broke; the original library has the same
    /// property.
    pub retry: bool,
    /// Do not connect in [`Client::new`](crate::Client::new); connect at the
    /// first operation.
    pub late_connect: bool,
    /// Before each operation, reconnect if the process id is no longer the
    /// one that opened the connection (the client was inherited across
    /// `fork`), so parent and child never share a socket. The new
    /// connection records the new process id, so a child reconnects once,
    /// not at every operation as the original did.
    pub pid_check: bool,
    /// Bounds every wait: the connect, and then the sending of a request and
    /// the receiving of its whole answer together. `None` waits for ever,
    /// like the original library; zero is refused.
    pub io_timeout: Option<Duration>,
}

impl Default for Options {
    /// Persistent, connecting at once, with retry and pid check on and a
    /// [`DEFAULT_IO_TIMEOUT`].
    fn default() -> Options {
        Options {
            mode: Mode::Persistent,
            retry: true,
            late_connect: false,
            pid_check: true,
            io_timeout: Some(DEFAULT_IO_TIMEOUT),
        }
    }
}

impl Options {
    /// The options the original `DC_CTX_new` flags ask for (see the
    /// `FLAG_*` constants), with the [`DEFAULT_IO_TIMEOUT`]. Bits the
    /// original did not define are ignored, as it ignored them.
    pub fn from_flags(flags: u32) -> Options {
        let mode = if flags & FLAG_PERSISTENT != 0 {
            Mode::Persistent
        } else {
            Mode::PerOperation
        };
        Options {
            mode,
            retry: flags & FLAG_RETRY != 0,
            late_connect: flags & FLAG_LATE != 0,
            pid_check: flags & FLAG_PIDCHECK != 0,
            io_timeout: Some(DEFAULT_IO_TIMEOUT),
        }
    }

    /// The defaults in [`Mode::Persistent`].
    pub fn persistent() -> Options {
        Options::default()
    }

    /// The defaults in [`Mode::PerOperation`].
    pub fn per_operation() -> Options {
        Options {
            mode: Mode::PerOperation,
            ..Options::default()
        }
    }

    /// Sets [`retry`](Options::retry).
    pub fn with_retry(self, retry: bool) -> Options {
        Options { retry, ..self }
    }

    /// Sets [`late_connect`](Options::late_connect).
    pub fn with_late_connect(self, late_connect: bool) -> Options {
        Options {
            late_connect,
            ..self
        }
    }

    /// Sets [`pid_check`](Options::pid_check).
    pub fn with_pid_check(self, pid_check: bool) -> Options {
        Options { pid_check, ..self }
    }

    /// Sets [`io_timeout`](Options::io_timeout).
    pub fn with_io_timeout(self, io_timeout: Option<Duration>) -> Options {
        Options { io_timeout, ..self }
    }

    /// Checks the options make sense.
    pub fn validate(&self) -> Result<(), ArgumentError> {
        match self.io_timeout {
            Some(t) if t.is_zero() => Err(ArgumentError::ZeroIoTimeout),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_map_like_the_original() {
        let o = Options::from_flags(0);
        assert_eq!(o.mode, Mode::PerOperation);
        assert!(!o.retry && !o.late_connect && !o.pid_check);
        let o = Options::from_flags(FLAG_PERSISTENT | FLAG_RETRY);
        assert_eq!(o.mode, Mode::Persistent);
        assert!(o.retry && !o.late_connect && !o.pid_check);
        let o = Options::from_flags(15 | 0x100);
        assert_eq!(o.mode, Mode::Persistent);
        assert!(o.retry && o.late_connect && o.pid_check);
        assert_eq!(o.io_timeout, Some(DEFAULT_IO_TIMEOUT));
    }

    #[test]
    fn defaults_and_builders() {
        let d = Options::default();
        assert_eq!(d.mode, Mode::Persistent);
        assert!(d.retry && !d.late_connect && d.pid_check);
        assert_eq!(d.io_timeout, Some(Duration::from_secs(10)));
        let o = Options::per_operation()
            .with_retry(false)
            .with_late_connect(true)
            .with_pid_check(false)
            .with_io_timeout(None);
        assert_eq!(o.mode, Mode::PerOperation);
        assert!(!o.retry && o.late_connect && !o.pid_check);
        assert_eq!(o.io_timeout, None);
        assert_eq!(o.validate(), Ok(()));
        assert_eq!(
            d.with_io_timeout(Some(Duration::ZERO)).validate(),
            Err(ArgumentError::ZeroIoTimeout)
        );
    }
}
