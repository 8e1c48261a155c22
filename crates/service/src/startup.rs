//! The service chores between binding and serving, in the one order that
//! keeps them safe, shared by dc_server and dc_client.

use std::fmt::Display;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::{
    daemonize, drop_privileges, set_socket_access, PidFile, PidFileError, PrivilegeError,
    SocketAccess, SocketAccessError, DEFAULT_SOCKET_MODE,
};

/// The original tools' service options.
#[derive(Debug, Clone, Default)]
pub struct ServiceOptions {
    /// `-daemon`: detach.
    pub daemon: bool,
    /// `-pidfile`.
    pub pidfile: Option<PathBuf>,
    /// `-user`: drop to this user once everything privileged is done.
    pub user: Option<String>,
    /// `-sockowner`, `-sockgroup`, `-sockperms` (the mode defaults to
    /// [`DEFAULT_SOCKET_MODE`]).
    pub socket: SocketAccess,
}

/// Why the service could not be set up.
#[derive(Debug, Error)]
pub enum ServiceError {
    /// Socket options given for a listener that is not a unix socket.
    #[error("-sockowner, -sockgroup and -sockperms apply to UNIX: addresses only")]
    NotUnix,
    /// The socket's owner or mode could not be set.
    #[error(transparent)]
    Socket(#[from] SocketAccessError),
    /// Detaching failed.
    #[error("cannot detach: {0}")]
    Detach(std::io::Error),
    /// The pidfile could not be written.
    #[error(transparent)]
    PidFile(#[from] PidFileError),
    /// A helper thread (the metrics exporter) could not start.
    #[error("{0}")]
    Threads(String),
    /// The privilege drop failed.
    #[error(transparent)]
    Privileges(#[from] PrivilegeError),
}

/// What stays alive while the service runs.
#[derive(Debug)]
pub struct Running<T> {
    /// Removes the pidfile when dropped.
    pub pidfile: Option<PidFile>,
    /// What `start_threads` returned.
    pub threads: T,
}

/// After the listeners are bound (at `unix_sockets`, those that are unix
/// ones): give each socket its owner and mode, detach, write the pidfile, start
/// helper threads (threads do not survive the detaching fork, and a
/// privileged port or key may need root), and drop privileges last.
pub fn become_service<T, E: Display>(
    unix_sockets: &[&Path],
    options: &ServiceOptions,
    start_threads: impl FnOnce() -> Result<T, E>,
) -> Result<Running<T>, ServiceError> {
    if unix_sockets.is_empty() && options.socket.is_set() {
        return Err(ServiceError::NotUnix);
    }
    for path in unix_sockets {
        // Never left to the umask: whoever can connect can read and plant
        // sessions.
        let access = SocketAccess {
            mode: Some(options.socket.mode.unwrap_or(DEFAULT_SOCKET_MODE)),
            ..options.socket.clone()
        };
        set_socket_access(path, &access)?;
    }
    // Detaching changes directory to `/`.
    let pidfile_path = options
        .pidfile
        .as_deref()
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()));
    if options.daemon {
        daemonize().map_err(ServiceError::Detach)?;
    }
    let pidfile = pidfile_path.as_deref().map(PidFile::create).transpose()?;
    let threads = start_threads().map_err(|e| ServiceError::Threads(e.to_string()))?;
    if let Some(user) = &options.user {
        drop_privileges(user)?;
    }
    Ok(Running { pidfile, threads })
}
